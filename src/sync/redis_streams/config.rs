//! [`RedisConfig`] and its [`RedisConfigBuilder`]: everything the Redis Streams source and sink
//! need, in one place, checked by [`RedisConfigBuilder::build`] before anything connects.
//
// Credentials: the URL may hold a password (`redis://user:secret@host`). It is kept as given in
// `RedisConfigBuilder::url` (the client needs it) and printed nowhere: `Debug`, `Display`,
// `Serialize` and every `ConfigError` go through `redact::redact_url`, and a client error's
// text is scrubbed of the password before it is stored (`redact::scrub`).

use crate::sync::redact::{redact_url, scrub};
use crate::ConfigError;
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// Where and how the Redis Streams [`RedisSource`](super::RedisSource) and
/// [`RedisSink`](super::RedisSink) work, checked: made by [`RedisConfig::builder`] and
/// [`RedisConfigBuilder::build`], or loaded from a configuration file (loading runs the same
/// checks).
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `url` | (given) | `redis://[user:password@]host:port/db`, or `rediss://` for TLS |
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
/// | `tls_root_certificate` | none | `rediss://`: a PEM CA certificate to trust instead of the system's roots |
///
/// **The password never prints**: `Debug`, `Display`, serialization and every error of this
/// crate show the URL as `redis://user:***@host:port/db` (a TOML or JSON parser refusing a file
/// may quote the offending line itself, which is one more reason to keep the password out of
/// the file). Serializing a config therefore writes the redacted URL;
/// loading it back needs the password again (keep it out of the file: fill `url` in from a
/// secret store or the environment before loading).
///
/// ```
/// use mqsync::sync::RedisConfig;
/// use std::time::Duration;
///
/// let config = RedisConfig::builder("redis://app:s3cret@127.0.0.1:6379/0", "orders")
///     .group("billing")
///     .consumer("billing-1")
///     .claim_idle(Duration::from_secs(5))
///     .max_len(1_000_000)
///     .build()?;
/// assert_eq!(config.dead_letter_stream_name(), "orders:dead");
/// assert_eq!(config.url_redacted(), "redis://app:***@127.0.0.1:6379/0");
/// assert!(!format!("{config:?} {config}").contains("s3cret"));
///
/// let loaded: RedisConfig = toml::from_str(r#"
///     url = "redis://127.0.0.1:6379"
///     stream = "orders"
///     block = "20ms"
/// "#).unwrap();
/// assert_eq!(loaded.block(), Duration::from_millis(20));
/// # Ok::<(), mqsync::ConfigError>(())
/// ```
#[derive(Clone, Deserialize)]
#[serde(try_from = "RedisConfigBuilder")]
pub struct RedisConfig {
    settings: RedisConfigBuilder,
    /// The client for `settings.url` (TLS roots included); parsing only, nothing connects.
    client: redis::Client,
}

/// Builds a [`RedisConfig`]: infallible chained setters, then [`build`](Self::build), which
/// checks every setting and names the one it refuses. The defaults are in [`RedisConfig`]'s
/// table. Deserializable (missing fields keep their defaults; durations as `"50ms"`, `"30s"`
/// or milliseconds).
///
/// ```
/// use mqsync::sync::RedisConfig;
/// use mqsync::ConfigError;
///
/// let err = RedisConfig::builder("redis://127.0.0.1", "s").delivery_limit(0).build().unwrap_err();
/// assert_eq!(err, ConfigError::TooSmall { field: "delivery_limit", value: 0, min: 1 });
/// assert_eq!(err.to_string(), "delivery_limit must be at least 1, got 0");
///
/// let err = RedisConfig::builder("http://user:hunter2@example", "s").build().unwrap_err();
/// assert_eq!(err.field(), "url");
/// assert!(!err.to_string().contains("hunter2"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfigBuilder {
    #[serde(serialize_with = "serialize_redacted")]
    url: String,
    stream: String,
    #[serde(default = "default_group")]
    group: String,
    #[serde(default = "default_consumer")]
    consumer: String,
    #[serde(default = "default_batch_size")]
    batch_size: usize,
    #[serde(default = "default_block", with = "crate::sync::duration_serde")]
    block: Duration,
    #[serde(default = "default_claim_idle", with = "crate::sync::duration_serde")]
    claim_idle: Duration,
    #[serde(default = "default_delivery_limit")]
    delivery_limit: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dead_letter_stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_len: Option<usize>,
    #[serde(default = "default_retry_for", with = "crate::sync::duration_serde")]
    retry_for: Duration,
    #[serde(
        default = "default_connect_timeout",
        with = "crate::sync::duration_serde"
    )]
    connect_timeout: Duration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls_root_certificate: Option<String>,
}

fn default_group() -> String {
    "mqsync".into()
}
fn default_consumer() -> String {
    format!("consumer-{}", std::process::id())
}
fn default_batch_size() -> usize {
    256
}
fn default_block() -> Duration {
    Duration::from_millis(50)
}
fn default_claim_idle() -> Duration {
    Duration::from_secs(30)
}
fn default_delivery_limit() -> u64 {
    5
}
fn default_retry_for() -> Duration {
    Duration::from_secs(10)
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(1)
}

fn serialize_redacted<S: Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redact_url(url))
}

impl RedisConfig {
    /// A builder for the stream `stream` on the server at `url`, with the defaults in the table
    /// above.
    ///
    /// ```
    /// let config = mqsync::sync::RedisConfig::builder("redis://127.0.0.1:6379", "orders").build()?;
    /// assert_eq!(config.stream_name(), "orders");
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn builder(url: impl Into<String>, stream: impl Into<String>) -> RedisConfigBuilder {
        RedisConfigBuilder {
            url: url.into(),
            stream: stream.into(),
            group: default_group(),
            consumer: default_consumer(),
            batch_size: default_batch_size(),
            block: default_block(),
            claim_idle: default_claim_idle(),
            delivery_limit: default_delivery_limit(),
            dead_letter_stream: None,
            max_len: None,
            retry_for: default_retry_for(),
            connect_timeout: default_connect_timeout(),
            tls_root_certificate: None,
        }
    }

    /// A builder holding this configuration's settings, to change some and build again.
    ///
    /// ```
    /// use mqsync::sync::RedisConfig;
    /// let a = RedisConfig::builder("redis://127.0.0.1", "s").build()?;
    /// let b = a.to_builder().consumer("c2").build()?;
    /// assert_eq!((a.stream_name(), b.consumer_name()), ("s", "c2"));
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn to_builder(&self) -> RedisConfigBuilder {
        self.settings.clone()
    }

    /// The URL with any password replaced by `***`: safe to log.
    ///
    /// ```
    /// let config = mqsync::sync::RedisConfig::builder("redis://:pw@localhost", "s").build()?;
    /// assert_eq!(config.url_redacted(), "redis://:***@localhost");
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn url_redacted(&self) -> String {
        redact_url(&self.settings.url)
    }

    /// The stream key.
    ///
    /// ```
    /// let config = mqsync::sync::RedisConfig::builder("redis://localhost", "s").build()?;
    /// assert_eq!(config.stream_name(), "s");
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn stream_name(&self) -> &str {
        &self.settings.stream
    }

    /// The consumer group.
    ///
    /// ```
    /// let config = mqsync::sync::RedisConfig::builder("redis://localhost", "s").build()?;
    /// assert_eq!(config.group_name(), "mqsync");
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn group_name(&self) -> &str {
        &self.settings.group
    }

    /// This consumer's name.
    ///
    /// ```
    /// let config = mqsync::sync::RedisConfig::builder("redis://localhost", "s").consumer("c").build()?;
    /// assert_eq!(config.consumer_name(), "c");
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn consumer_name(&self) -> &str {
        &self.settings.consumer
    }

    /// The dead-letter stream key.
    ///
    /// ```
    /// let config = mqsync::sync::RedisConfig::builder("redis://localhost", "s").build()?;
    /// assert_eq!(config.dead_letter_stream_name(), "s:dead");
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn dead_letter_stream_name(&self) -> String {
        self.settings.dead_letter_stream_name()
    }

    /// How long one read waits for new entries.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = mqsync::sync::RedisConfig::builder("redis://localhost", "s").build()?;
    /// assert_eq!(config.block(), Duration::from_millis(50));
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn block(&self) -> Duration {
        self.settings.block
    }

    pub(super) fn settings(&self) -> &RedisConfigBuilder {
        &self.settings
    }

    pub(super) fn client(&self) -> redis::Client {
        self.client.clone()
    }
}

impl TryFrom<RedisConfigBuilder> for RedisConfig {
    type Error = ConfigError;

    fn try_from(builder: RedisConfigBuilder) -> Result<Self, ConfigError> {
        builder.build()
    }
}

impl PartialEq for RedisConfig {
    fn eq(&self, other: &Self) -> bool {
        self.settings == other.settings
    }
}

impl Eq for RedisConfig {}

impl Serialize for RedisConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.settings.serialize(serializer)
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.settings.fmt(f)
    }
}

/// `redis://user:***@host:port/db stream "orders" group "mqsync" consumer "c1"`.
impl fmt::Display for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        write!(
            f,
            "{} stream {:?} group {:?} consumer {:?}",
            redact_url(&s.url),
            s.stream,
            s.group,
            s.consumer
        )
    }
}

impl fmt::Debug for RedisConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.url))
            .field("stream", &self.stream)
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .field("batch_size", &self.batch_size)
            .field("block", &self.block)
            .field("claim_idle", &self.claim_idle)
            .field("delivery_limit", &self.delivery_limit)
            .field("dead_letter_stream", &self.dead_letter_stream)
            .field("max_len", &self.max_len)
            .field("retry_for", &self.retry_for)
            .field("connect_timeout", &self.connect_timeout)
            .field("tls_root_certificate", &self.tls_root_certificate.is_some())
            .finish()
    }
}

impl RedisConfigBuilder {
    /// The consumer group (default `"mqsync"`).
    ///
    /// ```
    /// let b = mqsync::sync::RedisConfig::builder("redis://localhost", "s").group("billing");
    /// ```
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// This consumer's name in the group (default `"consumer-<pid>"`). Two live consumers must
    /// not share a name; a restarted consumer that keeps its name first re-reads its own
    /// pending entries.
    ///
    /// ```
    /// let b = mqsync::sync::RedisConfig::builder("redis://localhost", "s").consumer("billing-1");
    /// ```
    pub fn consumer(mut self, consumer: impl Into<String>) -> Self {
        self.consumer = consumer.into();
        self
    }

    /// Entries per read (`COUNT`) and per reclaim (default 256). The engine's batch size caps
    /// it further.
    ///
    /// ```
    /// let b = mqsync::sync::RedisConfig::builder("redis://localhost", "s").batch_size(64);
    /// ```
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// How long one read waits for new entries (`BLOCK`, default 50 ms). The engine's reader
    /// thread waits with it, so keep it short.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = mqsync::sync::RedisConfig::builder("redis://localhost", "s").block(Duration::from_millis(10));
    /// ```
    pub fn block(mut self, block: Duration) -> Self {
        self.block = block;
        self
    }

    /// How long an entry stays pending on a consumer before another reclaims it with
    /// `XAUTOCLAIM` (default 30 s). Make it much longer than a batch takes to apply.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = mqsync::sync::RedisConfig::builder("redis://localhost", "s").claim_idle(Duration::from_secs(5));
    /// ```
    pub fn claim_idle(mut self, claim_idle: Duration) -> Self {
        self.claim_idle = claim_idle;
        self
    }

    /// The most times an entry is delivered (default 5); one delivered more often goes to the
    /// dead-letter stream with the reason and is acknowledged on the main stream.
    ///
    /// ```
    /// let b = mqsync::sync::RedisConfig::builder("redis://localhost", "s").delivery_limit(3);
    /// ```
    pub fn delivery_limit(mut self, delivery_limit: u64) -> Self {
        self.delivery_limit = delivery_limit;
        self
    }

    /// The dead-letter stream (default `"<stream>:dead"`).
    ///
    /// ```
    /// let b = mqsync::sync::RedisConfig::builder("redis://localhost", "s").dead_letter_stream("dlq");
    /// ```
    pub fn dead_letter_stream(mut self, stream: impl Into<String>) -> Self {
        self.dead_letter_stream = Some(stream.into());
        self
    }

    /// Sink: trim the stream to about `max_len` entries on every append (`MAXLEN ~`).
    /// Trimming removes entries whether or not a group has read them: size it well above the
    /// consumers' lag.
    ///
    /// ```
    /// let b = mqsync::sync::RedisConfig::builder("redis://localhost", "s").max_len(1_000_000);
    /// ```
    pub fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = Some(max_len);
        self
    }

    /// Sink: how long a batch retries a lost connection (reconnecting with backoff) before it
    /// fails with [`SinkError::Redis`](crate::sync::SinkError::Redis) (default 10 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = mqsync::sync::RedisConfig::builder("redis://localhost", "s").retry_for(Duration::from_secs(1));
    /// ```
    pub fn retry_for(mut self, retry_for: Duration) -> Self {
        self.retry_for = retry_for;
        self
    }

    /// How long one connection attempt may take (default 1 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = mqsync::sync::RedisConfig::builder("redis://localhost", "s").connect_timeout(Duration::from_millis(200));
    /// ```
    pub fn connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    /// For a `rediss://` URL: trust this CA certificate (PEM) instead of the system's roots, as
    /// for a server whose certificate a private CA signed. The server's certificate is still
    /// verified, host name included. [`build`](Self::build) refuses it on a `redis://` URL.
    ///
    /// ```
    /// let pem = "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n";
    /// let b = mqsync::sync::RedisConfig::builder("rediss://localhost:6380", "s").tls_root_certificate(pem);
    /// ```
    pub fn tls_root_certificate(mut self, pem: impl Into<String>) -> Self {
        self.tls_root_certificate = Some(pem.into());
        self
    }

    pub(super) fn dead_letter_stream_name(&self) -> String {
        self.dead_letter_stream
            .clone()
            .unwrap_or_else(|| format!("{}:dead", self.stream))
    }

    pub(super) fn stream(&self) -> &str {
        &self.stream
    }
    pub(super) fn group_name(&self) -> &str {
        &self.group
    }
    pub(super) fn consumer_name(&self) -> &str {
        &self.consumer
    }
    pub(super) fn batch_size_value(&self) -> usize {
        self.batch_size
    }
    pub(super) fn block_value(&self) -> Duration {
        self.block
    }
    pub(super) fn claim_idle_value(&self) -> Duration {
        self.claim_idle
    }
    pub(super) fn delivery_limit_value(&self) -> u64 {
        self.delivery_limit
    }
    pub(super) fn max_len_value(&self) -> Option<usize> {
        self.max_len
    }
    pub(super) fn retry_for_value(&self) -> Duration {
        self.retry_for
    }
    pub(super) fn connect_timeout_value(&self) -> Duration {
        self.connect_timeout
    }

    /// Checks every setting — names not empty, the URL a Redis URL, counts and durations
    /// positive, the dead-letter stream not the stream, a TLS root only with `rediss://` — and
    /// makes the client (parsing only; nothing connects, so a server that is down is not an
    /// error here).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Missing`] for an empty name, [`ConfigError::TooSmall`] for a zero count,
    /// [`ConfigError::Duration`] for a zero duration or one longer than a day, [`ConfigError::Invalid`] for a URL the
    /// client refuses (redacted) or a TLS root certificate that is not PEM,
    /// [`ConfigError::Conflict`] for a dead-letter stream equal to the stream or a TLS root on a
    /// plain `redis://` URL.
    ///
    /// ```
    /// use mqsync::sync::RedisConfig;
    /// use mqsync::ConfigError;
    ///
    /// let err = RedisConfig::builder("redis://127.0.0.1", "").build().unwrap_err();
    /// assert_eq!(err, ConfigError::Missing("stream"));
    /// let err = RedisConfig::builder("redis://127.0.0.1", "s").dead_letter_stream("s").build();
    /// assert_eq!(err.unwrap_err().field(), "dead_letter_stream");
    /// ```
    pub fn build(self) -> Result<RedisConfig, ConfigError> {
        for (name, value) in [
            ("url", &self.url),
            ("stream", &self.stream),
            ("group", &self.group),
            ("consumer", &self.consumer),
        ] {
            if value.is_empty() {
                return Err(ConfigError::Missing(name));
            }
        }
        if self
            .dead_letter_stream
            .as_ref()
            .is_some_and(|s| s.is_empty())
        {
            return Err(ConfigError::Missing("dead_letter_stream"));
        }
        for (field, value) in [
            ("batch_size", self.batch_size as u64),
            ("delivery_limit", self.delivery_limit),
            ("max_len", self.max_len.map_or(1, |n| n as u64)),
        ] {
            if value == 0 {
                return Err(ConfigError::TooSmall {
                    field,
                    value: 0,
                    min: 1,
                });
            }
        }
        for (field, value) in [
            ("block", self.block),
            ("claim_idle", self.claim_idle),
            ("retry_for", self.retry_for),
            ("connect_timeout", self.connect_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Duration {
                    field,
                    value,
                    reason: "must be positive",
                });
            }
            // The source and sink add these to `Instant::now()` (a block plus a margin, a
            // retry deadline, half a claim interval): a day is far beyond any sensible value
            // and far from the clock's overflow.
            if value > Duration::from_secs(86_400) {
                return Err(ConfigError::Duration {
                    field,
                    value,
                    reason: "longer than a day",
                });
            }
        }
        if self.dead_letter_stream_name() == self.stream {
            return Err(ConfigError::Conflict {
                field: "dead_letter_stream",
                other: "stream",
                reason: format!(
                    "both are {:?}: dead letters would be read again",
                    self.stream
                ),
            });
        }
        let client = self.client()?;
        Ok(RedisConfig {
            settings: self,
            client,
        })
    }

    /// A client for the URL, with the TLS root if one is set.
    fn client(&self) -> Result<redis::Client, ConfigError> {
        let invalid = |field: &'static str, reason: String| ConfigError::Invalid {
            field,
            value: redact_url(&self.url),
            reason: scrub(&reason, &self.url),
        };
        let Some(info) = redis::parse_redis_url(&self.url) else {
            return Err(invalid("url", "not a redis:// or rediss:// URL".into()));
        };
        let tls = info.scheme() == "rediss";
        if tls {
            install_crypto_provider();
        }
        match &self.tls_root_certificate {
            None => {
                redis::Client::open(self.url.as_str()).map_err(|e| invalid("url", e.to_string()))
            }
            Some(_) if !tls => Err(ConfigError::Conflict {
                field: "tls_root_certificate",
                other: "url",
                reason: format!("{} is not a rediss:// (TLS) URL", redact_url(&self.url)),
            }),
            Some(pem) => {
                if !pem.contains("-----BEGIN CERTIFICATE-----") {
                    return Err(ConfigError::Invalid {
                        field: "tls_root_certificate",
                        value: format!("{} bytes", pem.len()),
                        reason: "not a PEM certificate".into(),
                    });
                }
                let certificates = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone().into_bytes()),
                };
                redis::Client::build_with_tls(self.url.as_str(), certificates)
                    .map_err(|e| invalid("url", e.to_string()))
            }
        }
    }
}

/// Makes rustls's `ring` provider the process default, unless the application installed one.
///
/// The redis crate builds its TLS configuration with `rustls::ClientConfig::builder()`, which
/// picks the process-wide provider, and panics when it cannot tell which one: that is the case
/// when another crate in the application turns on rustls's `aws-lc-rs` next to our `ring`
/// (reqwest and tokio-rustls do by default), and the panic would come at the first connect,
/// inside a sink or the reader thread. Installing is first-come: an application that chose a
/// provider keeps it (the error saying one is installed is the expected outcome then).
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
