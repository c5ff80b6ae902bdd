//! [`RabbitMqConfig`] and its [`RabbitMqConfigBuilder`]: everything the RabbitMQ source and sink
//! need, in one place, checked by [`RabbitMqConfigBuilder::build`] before anything connects.
//
// Credentials: the URL may hold a password (`amqp://user:secret@host/vhost`). It is kept as given
// (the client needs it) and printed nowhere: `Debug`, `Display` and every `ConfigError` go
// through `redact::redact_url`, and the URI parser's error text is scrubbed of the password
// (`redact::scrub`). lapin's own errors never quote the URL.

use crate::sync::redact::{redact_url, scrub};
use crate::ConfigError;
use lapin::uri::AMQPUri;
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Where and how the [`RabbitMqSource`](super::RabbitMqSource) and
/// [`RabbitMqSink`](super::RabbitMqSink) work, checked: made by [`RabbitMqConfig::builder`] and
/// [`RabbitMqConfigBuilder::build`], or loaded from a configuration file (loading runs the same
/// checks).
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `url` | (given) | `amqp://user:password@host:port/vhost` (`%2f` is the vhost `/`) |
/// | `queue` | (given) | source: the queue consumed; sink: the default routing key |
/// | `quorum` | `true` | declare the queues as quorum queues (`x-queue-type`), else classic |
/// | `exchange` | `""` | sink: the exchange published to (`""`: the default exchange) |
/// | `routing_key` | the queue | sink: the routing key |
/// | `batch_size` | 256 | source: most deliveries one pull returns |
/// | `prefetch` | 4 × the first pull's size | source: `basic.qos` prefetch count |
/// | `block` | 50 ms | source: how long a pull waits when nothing is ready |
/// | `delivery_limit` | 5 | source: deliveries beyond this go to the dead-letter queue |
/// | `dead_letter_queue` | `"<queue>.dead"` | source: where dead letters go, with the reason |
/// | `retry_for` | 10 s | sink: how long a lost connection is retried before the batch fails |
/// | `connect_timeout` | 1 s | one connection attempt |
/// | `tls_root_certificate` | none | `amqps://`: a PEM CA certificate to trust besides the system's roots |
///
/// **The password never prints**: `Debug`, `Display`, serialization and every error of this
/// crate show the URL as `amqp://user:***@host:port/vhost`. Serializing a config therefore writes
/// the redacted URL; loading it back needs the password again (fill `url` in from a secret store
/// or the environment before loading).
///
/// ```
/// use mqsync::sync::RabbitMqConfig;
///
/// let config = RabbitMqConfig::builder("amqp://app:s3cret@127.0.0.1:5672/%2f", "orders")
///     .delivery_limit(3)
///     .build()?;
/// assert_eq!(config.dead_letter_queue_name(), "orders.dead");
/// assert_eq!(config.url_redacted(), "amqp://app:***@127.0.0.1:5672/%2f");
/// assert!(!format!("{config:?} {config}").contains("s3cret"));
///
/// let loaded: RabbitMqConfig = toml::from_str(r#"
///     url = "amqp://127.0.0.1:5672/%2f"
///     queue = "orders"
///     quorum = false
///     block = "20ms"
/// "#).unwrap();
/// assert_eq!(loaded.queue_name(), "orders");
/// assert!(serde_json::to_string(&config).unwrap().contains("amqp://app:***@"));
/// # Ok::<(), mqsync::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RabbitMqConfigBuilder")]
pub struct RabbitMqConfig {
    settings: RabbitMqConfigBuilder,
}

/// Builds a [`RabbitMqConfig`]: infallible chained setters, then [`build`](Self::build), which
/// checks every setting and names the one it refuses. The defaults are in [`RabbitMqConfig`]'s
/// table. Deserializable (missing fields keep their defaults; durations as `"50ms"`, `"10s"` or
/// milliseconds).
///
/// ```
/// use mqsync::sync::RabbitMqConfig;
/// use mqsync::ConfigError;
///
/// let err = RabbitMqConfig::builder("amqp://127.0.0.1", "q").delivery_limit(0).build().unwrap_err();
/// assert_eq!(err, ConfigError::TooSmall { field: "delivery_limit", value: 0, min: 1 });
///
/// let err = RabbitMqConfig::builder("http://user:hunter2@example", "q").build().unwrap_err();
/// assert_eq!(err.field(), "url");
/// assert!(!err.to_string().contains("hunter2"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RabbitMqConfigBuilder {
    #[serde(serialize_with = "serialize_redacted")]
    url: String,
    queue: String,
    #[serde(default = "default_quorum")]
    quorum: bool,
    #[serde(default)]
    exchange: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    routing_key: Option<String>,
    #[serde(default = "default_batch_size")]
    batch_size: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prefetch: Option<u16>,
    #[serde(default = "default_block", with = "crate::sync::duration_serde")]
    block: Duration,
    #[serde(default = "default_delivery_limit")]
    delivery_limit: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dead_letter_queue: Option<String>,
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

fn default_quorum() -> bool {
    true
}
fn default_batch_size() -> usize {
    256
}
fn default_block() -> Duration {
    Duration::from_millis(50)
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

impl RabbitMqConfig {
    /// A builder for the queue `queue` on the broker at `url`, with the defaults in the table
    /// above.
    ///
    /// ```
    /// let config = mqsync::sync::RabbitMqConfig::builder("amqp://127.0.0.1:5672", "orders").build()?;
    /// assert_eq!(config.queue_name(), "orders");
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn builder(url: impl Into<String>, queue: impl Into<String>) -> RabbitMqConfigBuilder {
        RabbitMqConfigBuilder {
            url: url.into(),
            queue: queue.into(),
            quorum: default_quorum(),
            exchange: String::new(),
            routing_key: None,
            batch_size: default_batch_size(),
            prefetch: None,
            block: default_block(),
            delivery_limit: default_delivery_limit(),
            dead_letter_queue: None,
            retry_for: default_retry_for(),
            connect_timeout: default_connect_timeout(),
            tls_root_certificate: None,
        }
    }

    /// A builder holding this configuration's settings, to change some and build again.
    ///
    /// ```
    /// use mqsync::sync::RabbitMqConfig;
    /// let a = RabbitMqConfig::builder("amqp://127.0.0.1", "q").build()?;
    /// let b = a.to_builder().exchange("events").build()?;
    /// assert_eq!(b.queue_name(), "q");
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn to_builder(&self) -> RabbitMqConfigBuilder {
        self.settings.clone()
    }

    /// The URL with any password replaced by `***`: safe to log.
    ///
    /// ```
    /// let config = mqsync::sync::RabbitMqConfig::builder("amqp://u:pw@localhost/v", "q").build()?;
    /// assert_eq!(config.url_redacted(), "amqp://u:***@localhost/v");
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn url_redacted(&self) -> String {
        redact_url(&self.settings.url)
    }

    /// The queue the source consumes.
    ///
    /// ```
    /// let config = mqsync::sync::RabbitMqConfig::builder("amqp://localhost", "q").build()?;
    /// assert_eq!(config.queue_name(), "q");
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn queue_name(&self) -> &str {
        &self.settings.queue
    }

    /// The dead-letter queue.
    ///
    /// ```
    /// let config = mqsync::sync::RabbitMqConfig::builder("amqp://localhost", "q").build()?;
    /// assert_eq!(config.dead_letter_queue_name(), "q.dead");
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn dead_letter_queue_name(&self) -> String {
        self.settings.dead_letter_queue_name()
    }

    pub(super) fn settings(&self) -> &RabbitMqConfigBuilder {
        &self.settings
    }
}

impl TryFrom<RabbitMqConfigBuilder> for RabbitMqConfig {
    type Error = ConfigError;

    fn try_from(builder: RabbitMqConfigBuilder) -> Result<Self, ConfigError> {
        builder.build()
    }
}

impl Serialize for RabbitMqConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.settings.serialize(serializer)
    }
}

impl fmt::Debug for RabbitMqConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.settings.fmt(f)
    }
}

/// `amqp://user:***@host:5672/vhost queue "orders"`.
impl fmt::Display for RabbitMqConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} queue {:?}",
            redact_url(&self.settings.url),
            self.settings.queue
        )
    }
}

impl fmt::Debug for RabbitMqConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitMqConfig")
            .field("url", &redact_url(&self.url))
            .field("queue", &self.queue)
            .field("quorum", &self.quorum)
            .field("exchange", &self.exchange)
            .field("routing_key", &self.routing_key)
            .field("batch_size", &self.batch_size)
            .field("prefetch", &self.prefetch)
            .field("block", &self.block)
            .field("delivery_limit", &self.delivery_limit)
            .field("dead_letter_queue", &self.dead_letter_queue)
            .field("retry_for", &self.retry_for)
            .field("connect_timeout", &self.connect_timeout)
            .field("tls_root_certificate", &self.tls_root_certificate.is_some())
            .finish()
    }
}

impl RabbitMqConfigBuilder {
    /// Declare the queue and the dead-letter queue as quorum queues (`true`, the default:
    /// replicated, and the broker counts deliveries in the `x-delivery-count` header) or as
    /// classic durable queues (`false`: the source counts redeliveries itself, see
    /// `docs/rabbitmq.md`). A queue that already exists with another type makes the declare,
    /// and so the first pull or batch, fail with the broker's `PRECONDITION_FAILED`.
    ///
    /// ```
    /// let b = mqsync::sync::RabbitMqConfig::builder("amqp://localhost", "q").quorum(false);
    /// ```
    pub fn quorum(mut self, quorum: bool) -> Self {
        self.quorum = quorum;
        self
    }

    /// Sink: the exchange to publish to (default `""`, the default exchange, which routes by
    /// queue name). A named exchange must exist; the sink does not declare it.
    ///
    /// ```
    /// let b = mqsync::sync::RabbitMqConfig::builder("amqp://localhost", "q").exchange("events");
    /// ```
    pub fn exchange(mut self, exchange: impl Into<String>) -> Self {
        self.exchange = exchange.into();
        self
    }

    /// Sink: the routing key (default: the queue's name).
    ///
    /// ```
    /// let b = mqsync::sync::RabbitMqConfig::builder("amqp://localhost", "q").routing_key("orders.eu");
    /// ```
    pub fn routing_key(mut self, routing_key: impl Into<String>) -> Self {
        self.routing_key = Some(routing_key.into());
        self
    }

    /// Source: the most deliveries one pull returns (default 256). The engine's batch size caps
    /// it further.
    ///
    /// ```
    /// let b = mqsync::sync::RabbitMqConfig::builder("amqp://localhost", "q").batch_size(64);
    /// ```
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Source: the prefetch count (`basic.qos`): how many deliveries the broker sends before
    /// the source acknowledges some. Default: four times the size of the first pull (the
    /// engine's batch), at most 65,535, so that the broker keeps sending while the engine
    /// applies and commits earlier batches.
    ///
    /// ```
    /// let b = mqsync::sync::RabbitMqConfig::builder("amqp://localhost", "q").prefetch(500);
    /// ```
    pub fn prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = Some(prefetch);
        self
    }

    /// Source: how long a pull waits when no delivery is ready (default 50 ms). The engine's
    /// reader thread waits with it, so keep it short.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = mqsync::sync::RabbitMqConfig::builder("amqp://localhost", "q").block(Duration::from_millis(10));
    /// ```
    pub fn block(mut self, block: Duration) -> Self {
        self.block = block;
        self
    }

    /// Source: the most times a message is delivered (default 5); one delivered more often goes
    /// to the dead-letter queue with the reason and is acknowledged.
    ///
    /// ```
    /// let b = mqsync::sync::RabbitMqConfig::builder("amqp://localhost", "q").delivery_limit(3);
    /// ```
    pub fn delivery_limit(mut self, delivery_limit: u64) -> Self {
        self.delivery_limit = delivery_limit;
        self
    }

    /// Source: the dead-letter queue (default `"<queue>.dead"`), declared durable.
    ///
    /// ```
    /// let b = mqsync::sync::RabbitMqConfig::builder("amqp://localhost", "q").dead_letter_queue("dlq");
    /// ```
    pub fn dead_letter_queue(mut self, queue: impl Into<String>) -> Self {
        self.dead_letter_queue = Some(queue.into());
        self
    }

    /// Sink: how long a batch retries a lost connection (reconnecting with backoff) before it
    /// fails with [`SinkError::RabbitMq`](crate::sync::SinkError::RabbitMq) (default 10 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = mqsync::sync::RabbitMqConfig::builder("amqp://localhost", "q").retry_for(Duration::from_secs(1));
    /// ```
    pub fn retry_for(mut self, retry_for: Duration) -> Self {
        self.retry_for = retry_for;
        self
    }

    /// How long one connection attempt may take (default 1 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = mqsync::sync::RabbitMqConfig::builder("amqp://localhost", "q").connect_timeout(Duration::from_millis(200));
    /// ```
    pub fn connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }

    /// For an `amqps://` URL: also trust this CA certificate (PEM), as for a broker whose
    /// certificate a private CA signed. The system's roots stay trusted (the TLS layer under
    /// lapin adds this one to them), and the broker's certificate is still verified, host name
    /// included. [`build`](Self::build) refuses it on an `amqp://` URL.
    ///
    /// ```
    /// let pem = "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n";
    /// let b = mqsync::sync::RabbitMqConfig::builder("amqps://localhost:5671", "q").tls_root_certificate(pem);
    /// ```
    pub fn tls_root_certificate(mut self, pem: impl Into<String>) -> Self {
        self.tls_root_certificate = Some(pem.into());
        self
    }

    pub(super) fn dead_letter_queue_name(&self) -> String {
        self.dead_letter_queue
            .clone()
            .unwrap_or_else(|| format!("{}.dead", self.queue))
    }
    pub(super) fn queue(&self) -> &str {
        &self.queue
    }
    pub(super) fn is_quorum(&self) -> bool {
        self.quorum
    }
    pub(super) fn exchange_name(&self) -> &str {
        &self.exchange
    }
    pub(super) fn routing_key_name(&self) -> &str {
        self.routing_key.as_deref().unwrap_or(&self.queue)
    }
    pub(super) fn batch_size_value(&self) -> usize {
        self.batch_size
    }
    pub(super) fn prefetch_value(&self) -> Option<u16> {
        self.prefetch
    }
    pub(super) fn block_value(&self) -> Duration {
        self.block
    }
    pub(super) fn delivery_limit_value(&self) -> u64 {
        self.delivery_limit
    }
    pub(super) fn retry_for_value(&self) -> Duration {
        self.retry_for
    }
    pub(super) fn tls_root(&self) -> Option<&str> {
        self.tls_root_certificate.as_deref()
    }

    /// Checks every setting — the URL an `amqp://` or `amqps://` URL, names not empty, counts
    /// and durations positive, the dead-letter queue not the queue. Nothing connects, so a
    /// broker that is down is not an error here.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Missing`] for an empty URL, queue or dead-letter queue,
    /// [`ConfigError::TooSmall`] for a zero count, [`ConfigError::Duration`] for a zero duration
    /// or one longer than a day, [`ConfigError::Invalid`] for a URL the client refuses (shown
    /// redacted) or a `tls_root_certificate` that is not PEM, [`ConfigError::Conflict`] for a
    /// dead-letter queue equal to the queue or a `tls_root_certificate` on an `amqp://` URL.
    ///
    /// ```
    /// use mqsync::sync::RabbitMqConfig;
    /// use mqsync::ConfigError;
    ///
    /// let err = RabbitMqConfig::builder("amqp://127.0.0.1", "").build().unwrap_err();
    /// assert_eq!(err, ConfigError::Missing("queue"));
    /// let err = RabbitMqConfig::builder("amqp://127.0.0.1", "q").dead_letter_queue("q").build();
    /// assert_eq!(err.unwrap_err().field(), "dead_letter_queue");
    /// ```
    pub fn build(self) -> Result<RabbitMqConfig, ConfigError> {
        for (name, value) in [("url", &self.url), ("queue", &self.queue)] {
            if value.is_empty() {
                return Err(ConfigError::Missing(name));
            }
        }
        if self
            .dead_letter_queue
            .as_ref()
            .is_some_and(|s| s.is_empty())
        {
            return Err(ConfigError::Missing("dead_letter_queue"));
        }
        for (field, value) in [
            ("batch_size", self.batch_size as u64),
            ("prefetch", self.prefetch.map_or(1, u64::from)),
            ("delivery_limit", self.delivery_limit),
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
            // Added to `Instant::now()` (a retry deadline, a wait): a day is far beyond any
            // sensible value and far from the clock's overflow.
            if value > Duration::from_secs(86_400) {
                return Err(ConfigError::Duration {
                    field,
                    value,
                    reason: "longer than a day",
                });
            }
        }
        if self.dead_letter_queue_name() == self.queue {
            return Err(ConfigError::Conflict {
                field: "dead_letter_queue",
                other: "queue",
                reason: format!(
                    "both are {:?}: dead letters would be read again",
                    self.queue
                ),
            });
        }
        match &self.tls_root_certificate {
            Some(_) if !self.url.starts_with("amqps://") => {
                return Err(ConfigError::Conflict {
                    field: "tls_root_certificate",
                    other: "url",
                    reason: format!("{} is not an amqps:// (TLS) URL", redact_url(&self.url)),
                });
            }
            Some(pem) if !pem.contains("-----BEGIN CERTIFICATE-----") => {
                return Err(ConfigError::Invalid {
                    field: "tls_root_certificate",
                    value: format!("{} bytes", pem.len()),
                    reason: "not a PEM certificate".into(),
                });
            }
            _ => {}
        }
        self.uri()?;
        Ok(RabbitMqConfig { settings: self })
    }

    /// The parsed URL, with the connect timeout in its query (lapin reads it there).
    pub(super) fn uri(&self) -> Result<AMQPUri, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            field: "url",
            value: redact_url(&self.url),
            reason: scrub(&reason, &self.url),
        };
        if !(self.url.starts_with("amqp://") || self.url.starts_with("amqps://")) {
            return Err(invalid("not an amqp:// or amqps:// URL".into()));
        }
        let mut uri = AMQPUri::from_str(&self.url).map_err(invalid)?;
        uri.query.connection_timeout = Some(self.connect_timeout.as_millis().max(1) as u64);
        Ok(uri)
    }
}
