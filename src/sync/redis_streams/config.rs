//! [`RedisConfig`]: everything the Redis Streams source and sink need, in one place, checked
//! before anything connects.

use std::time::Duration;

/// A Redis Streams configuration that cannot work, found before anything connects.
///
/// ```
/// use mqsync::sync::{RedisConfig, RedisConfigError, RedisSource};
///
/// let err = RedisSource::new(&RedisConfig::new("redis://127.0.0.1", "s").delivery_limit(0)).unwrap_err();
/// assert_eq!(err, RedisConfigError::Zero("delivery_limit"));
/// assert_eq!(err.to_string(), "delivery_limit must be at least 1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedisConfigError {
    /// A name that must not be empty is empty.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// A count or duration that must be positive is 0.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// The URL is not a Redis URL the client understands.
    #[error("invalid Redis URL {url:?}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What the client said.
        reason: String,
    },
    /// The dead-letter stream is the stream itself: dead letters would be read again.
    #[error("the dead-letter stream must differ from the stream {0:?}")]
    DeadLetterIsStream(String),
}

/// Where and how the Redis Streams [`RedisSource`](super::RedisSource) and
/// [`RedisSink`](super::RedisSink) work: one struct, built with chained setters, checked by
/// [`validate`](Self::validate) (which the source and sink constructors call).
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `url` | (given) | `redis://host:port/db` |
/// | `stream` | (given) | the stream key |
/// | `group` | `"mqsync"` | the consumer group (created with `MKSTREAM` if missing) |
/// | `consumer` | `"consumer-<pid>"` | this consumer's name in the group |
/// | `batch_size` | 256 | `COUNT` of one read, entries per reclaim |
/// | `block` | 50 ms | `BLOCK` of one read when the stream has nothing new |
/// | `claim_idle` | 30 s | pending this long, an entry is reclaimed (`XAUTOCLAIM`) |
/// | `delivery_limit` | 5 | deliveries beyond this go to the dead-letter stream |
/// | `dead_letter_stream` | `"<stream>:dead"` | where dead letters go, with the reason |
/// | `max_len` | none | sink: `XADD MAXLEN ~ n` trimming |
/// | `retry_for` | 10 s | sink: how long a lost connection is retried before the batch fails |
/// | `connect_timeout` | 1 s | one connection attempt |
///
/// ```
/// use mqsync::sync::{RedisConfig, RedisConfigError};
/// use std::time::Duration;
///
/// let config = RedisConfig::new("redis://127.0.0.1:6379", "orders")
///     .group("billing")
///     .consumer("billing-1")
///     .claim_idle(Duration::from_secs(5))
///     .max_len(1_000_000);
/// assert!(config.validate().is_ok());
/// assert_eq!(config.dead_letter_stream_name(), "orders:dead");
///
/// let bad = RedisConfig::new("http://example", "orders");
/// assert!(matches!(bad.validate(), Err(RedisConfigError::Url { .. })));
/// assert_eq!(
///     RedisConfig::new("redis://127.0.0.1", "").validate(),
///     Err(RedisConfigError::Empty("stream"))
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    pub(super) url: String,
    pub(super) stream: String,
    pub(super) group: String,
    pub(super) consumer: String,
    pub(super) batch_size: usize,
    pub(super) block: Duration,
    pub(super) claim_idle: Duration,
    pub(super) delivery_limit: u64,
    pub(super) dead_letter_stream: Option<String>,
    pub(super) max_len: Option<usize>,
    pub(super) retry_for: Duration,
    pub(super) connect_timeout: Duration,
}

impl RedisConfig {
    /// The stream `stream` on the server at `url`, with the defaults in the table above.
    pub fn new(url: impl Into<String>, stream: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            stream: stream.into(),
            group: "mqsync".into(),
            consumer: format!("consumer-{}", std::process::id()),
            batch_size: 256,
            block: Duration::from_millis(50),
            claim_idle: Duration::from_secs(30),
            delivery_limit: 5,
            dead_letter_stream: None,
            max_len: None,
            retry_for: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(1),
        }
    }

    /// The consumer group (default `"mqsync"`).
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// This consumer's name in the group (default `"consumer-<pid>"`). Two live consumers must
    /// not share a name; a restarted consumer that keeps its name first re-reads its own
    /// pending entries.
    pub fn consumer(mut self, consumer: impl Into<String>) -> Self {
        self.consumer = consumer.into();
        self
    }

    /// Entries per read (`COUNT`) and per reclaim (default 256). The engine's batch size caps
    /// it further.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// How long one read waits for new entries (`BLOCK`, default 50 ms). The engine's reader
    /// thread waits with it, so keep it short.
    pub fn block(mut self, block: Duration) -> Self {
        self.block = block;
        self
    }

    /// How long an entry stays pending on a consumer before another reclaims it with
    /// `XAUTOCLAIM` (default 30 s). Make it much longer than a batch takes to apply.
    pub fn claim_idle(mut self, claim_idle: Duration) -> Self {
        self.claim_idle = claim_idle;
        self
    }

    /// The most times an entry is delivered (default 5); one delivered more often goes to the
    /// dead-letter stream with the reason and is acknowledged on the main stream.
    pub fn delivery_limit(mut self, delivery_limit: u64) -> Self {
        self.delivery_limit = delivery_limit;
        self
    }

    /// The dead-letter stream (default `"<stream>:dead"`).
    pub fn dead_letter_stream(mut self, stream: impl Into<String>) -> Self {
        self.dead_letter_stream = Some(stream.into());
        self
    }

    /// Sink: trim the stream to about `max_len` entries on every append (`MAXLEN ~`).
    /// Trimming removes entries whether or not a group has read them: size it well above the
    /// consumers' lag.
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = Some(max_len);
        self
    }

    /// Sink: how long a batch retries a lost connection (reconnecting with backoff) before it
    /// fails with [`SinkError::Batch`](crate::sync::SinkError::Batch) (default 10 s).
    pub fn retry_for(mut self, retry_for: Duration) -> Self {
        self.retry_for = retry_for;
        self
    }

    /// How long one connection attempt may take (default 1 s).
    pub fn connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    /// The stream key.
    pub fn stream_name(&self) -> &str {
        &self.stream
    }

    /// The consumer group.
    pub fn group_name(&self) -> &str {
        &self.group
    }

    /// This consumer's name.
    pub fn consumer_name(&self) -> &str {
        &self.consumer
    }

    /// The dead-letter stream key.
    pub fn dead_letter_stream_name(&self) -> String {
        self.dead_letter_stream
            .clone()
            .unwrap_or_else(|| format!("{}:dead", self.stream))
    }

    /// Checks every setting: names not empty, the URL a Redis URL, counts and durations
    /// positive, the dead-letter stream not the stream.
    pub fn validate(&self) -> Result<(), RedisConfigError> {
        for (name, value) in [
            ("url", &self.url),
            ("stream", &self.stream),
            ("group", &self.group),
            ("consumer", &self.consumer),
        ] {
            if value.is_empty() {
                return Err(RedisConfigError::Empty(name));
            }
        }
        if self
            .dead_letter_stream
            .as_ref()
            .is_some_and(|s| s.is_empty())
        {
            return Err(RedisConfigError::Empty("dead_letter_stream"));
        }
        for (name, zero) in [
            ("batch_size", self.batch_size == 0),
            ("block", self.block.is_zero()),
            ("claim_idle", self.claim_idle.is_zero()),
            ("delivery_limit", self.delivery_limit == 0),
            ("max_len", self.max_len == Some(0)),
            ("retry_for", self.retry_for.is_zero()),
            ("connect_timeout", self.connect_timeout.is_zero()),
        ] {
            if zero {
                return Err(RedisConfigError::Zero(name));
            }
        }
        if self.dead_letter_stream_name() == self.stream {
            return Err(RedisConfigError::DeadLetterIsStream(self.stream.clone()));
        }
        self.client().map(drop)
    }

    /// A client for the URL (parsing only; nothing connects).
    pub(super) fn client(&self) -> Result<redis::Client, RedisConfigError> {
        let url_error = |reason: String| RedisConfigError::Url {
            url: self.url.clone(),
            reason,
        };
        if redis::parse_redis_url(&self.url).is_none() {
            return Err(url_error("not a redis:// URL".into()));
        }
        redis::Client::open(self.url.as_str()).map_err(|e| url_error(e.to_string()))
    }
}
