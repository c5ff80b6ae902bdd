//! [`RedisSink`]: a [`Sink`] that appends changes to a Redis stream, one pipelined round trip
//! per batch.

use super::config::RedisConfig;
use super::entry::{encode, CHANGE_FIELD};
use super::link::{is_transient, Link};
use crate::sync::change::Change;
use crate::sync::error::SinkError;
use crate::sync::sink::Sink;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A [`Sink`] that appends each change to a Redis stream (feature `redis`).
///
/// A batch is one pipeline — `XADD stream [MAXLEN ~ n] * change <json>` per change, sent and
/// answered in one round trip — and [`apply`](Sink::apply) returns `Ok` only after Redis
/// accepted every entry, so the engine confirms (and its source commits) only what is in the
/// stream. Each entry holds one field, `change`: the change as JSON (`docs/distributed.md`).
///
/// A lost connection, a refused one, or a server still loading its data is retried with
/// backoff, reconnecting, for [`retry_for`](super::RedisConfigBuilder::retry_for); after that the batch
/// fails with [`SinkError::Redis`] and the engine retries or dead-letters it. A batch whose
/// reply was lost may have been appended before the retry appends it again: delivery into the
/// stream is at least once, and consumers apply idempotently (version wins).
///
/// The engine's workers call `apply` concurrently; each call takes a connection of its own
/// from a small pool (one per concurrent caller), so batches do not wait for each other's round
/// trips. Blocking.
///
/// ```no_run
/// use mqsync::sync::{Change, RedisConfig, RedisSink, Sink};
/// use serde_json::json;
///
/// let config = RedisConfig::builder("redis://127.0.0.1:6379", "orders").max_len(1_000_000).build()?;
/// let sink = RedisSink::new(&config);
/// sink.apply(&[Change::upsert("o-1", 1, json!({"total": 5})), Change::delete("o-2", 4)])?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RedisSink {
    name: String,
    stream: String,
    max_len: Option<usize>,
    retry_for: Duration,
    client: redis::Client,
    connect_timeout: Duration,
    /// Connections not in use; a caller takes one (or opens one) and puts it back.
    idle: Mutex<Vec<Link>>,
}

impl RedisSink {
    /// A sink into `config`'s stream, named `"redis:<stream>"`. The configuration was checked
    /// when it was built; this connects on the first batch (a server that is down then is
    /// retried, not an error here).
    ///
    /// ```
    /// use mqsync::sync::{RedisConfig, RedisSink, Sink};
    ///
    /// let sink = RedisSink::new(&RedisConfig::builder("redis://127.0.0.1", "orders").build()?);
    /// assert_eq!(sink.name(), "redis:orders");
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn new(config: &RedisConfig) -> Self {
        let settings = config.settings();
        RedisSink {
            name: format!("redis:{}", settings.stream()),
            stream: settings.stream().to_owned(),
            max_len: settings.max_len_value(),
            retry_for: settings.retry_for_value(),
            client: config.client(),
            connect_timeout: settings.connect_timeout_value(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The same sink with another name (for reports and dead letters).
    ///
    /// ```
    /// use mqsync::sync::{RedisConfig, RedisSink, Sink};
    ///
    /// let sink = RedisSink::new(&RedisConfig::builder("redis://127.0.0.1", "s").build()?).named("archive");
    /// assert_eq!(sink.name(), "archive");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    fn take_link(&self) -> Link {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        pooled.unwrap_or_else(|| {
            Link::new(
                self.client.clone(),
                &self.stream,
                self.connect_timeout,
                self.connect_timeout.max(Duration::from_secs(5)),
            )
        })
    }

    fn put_link(&self, link: Link) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(link);
    }
}

impl Sink for RedisSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
        let mut pipe = redis::pipe();
        let mut failed = Vec::new();
        let max_len = self.max_len.map(|n| n.to_string());
        for (index, change) in batch.iter().enumerate() {
            match encode(change) {
                Ok(json) => {
                    let cmd = pipe.cmd("XADD").arg(&self.stream);
                    if let Some(n) = &max_len {
                        cmd.arg("MAXLEN").arg("~").arg(n);
                    }
                    cmd.arg("*").arg(CHANGE_FIELD).arg(json).ignore();
                }
                Err(error) => failed.push((index, crate::sync::error_chain(&error))),
            }
        }
        if failed.len() < batch.len() {
            let deadline = Instant::now() + self.retry_for;
            let mut link = self.take_link();
            let outcome = loop {
                match link.call(|conn| pipe.exec(conn)) {
                    Ok(()) => break Ok(()),
                    Err(error) if is_transient(&error) && Instant::now() < deadline => continue,
                    Err(error) => break Err(error),
                }
            };
            self.put_link(link);
            if let Err(error) = outcome {
                return Err(SinkError::Redis {
                    command: "XADD",
                    stream: self.stream.clone(),
                    source: error,
                });
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(SinkError::Items(failed))
        }
    }
}

impl fmt::Debug for RedisSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSink")
            .field("name", &self.name)
            .field("stream", &self.stream)
            .field("max_len", &self.max_len)
            .field("retry_for", &self.retry_for)
            .finish_non_exhaustive()
    }
}
