//! [`RabbitMqSink`]: a [`Sink`] that publishes each change to a RabbitMQ exchange, persistent,
//! and confirms a batch only once the broker confirmed every message of it.

use super::codec::{encode, properties, queue_arguments};
use super::config::RabbitMqConfig;
use super::error::RabbitMqError;
use super::link::{wait, Link};
use crate::sync::change::Change;
use crate::sync::error::SinkError;
use crate::sync::sink::Sink;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::uri::AMQPUri;
use lapin::Channel;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A [`Sink`] that publishes each change as a persistent message (delivery mode 2) to an
/// exchange, with publisher confirms (feature `rabbitmq`).
///
/// A batch is published whole — every `basic.publish` sent, then every confirm awaited — and
/// [`apply`](Sink::apply) returns `Ok` only after the broker confirmed (`basic.ack`) every
/// message, so the engine confirms (and its source commits) only what the broker took. Messages
/// are published `mandatory`: one that no queue takes comes back, and the batch fails. The body
/// is the change as JSON, the message ID the change's id (`docs/rabbitmq.md`).
///
/// A broker's `basic.nack` fails the batch at once with a retriable [`SinkError::RabbitMq`]
/// ([`RabbitMqError::Nacked`]); a lost or refused connection is retried with backoff,
/// reconnecting, for [`retry_for`](super::RabbitMqConfigBuilder::retry_for), then fails the
/// batch the same way. A batch whose confirms were lost with the connection may have been
/// enqueued before the retry publishes it again: delivery is at least once, and consumers apply
/// idempotently (version wins).
///
/// With the default exchange (`""`), the sink declares the routing key's queue (durable, the
/// configured type) on each new connection, so that nothing is published into the void; a named
/// exchange and its bindings are the application's to declare.
///
/// The engine's workers call `apply` concurrently; each call takes a connection of its own from
/// a small pool (one per concurrent caller, each with lapin's I/O thread). Blocking.
///
/// ```no_run
/// use mqsync::sync::{Change, RabbitMqConfig, RabbitMqSink, Sink};
/// use serde_json::json;
///
/// let config = RabbitMqConfig::builder("amqp://app:secret@127.0.0.1:5672/%2f", "orders").build()?;
/// let sink = RabbitMqSink::new(&config);
/// sink.apply(&[Change::upsert("o-1", 1, json!({"total": 5})), Change::delete("o-2", 4)])?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RabbitMqSink {
    name: String,
    exchange: String,
    routing_key: String,
    /// With the default exchange: the queue to declare on each new connection (and its type).
    declare: Option<(String, bool)>,
    retry_for: Duration,
    /// The URL, password included: never printed.
    uri: AMQPUri,
    /// A CA certificate (PEM) trusted besides the system's roots (`amqps://`).
    tls_root: Option<Arc<str>>,
    /// Connections not in use; a caller takes one (or opens one) and puts it back.
    idle: Mutex<Vec<Link>>,
}

impl RabbitMqSink {
    /// A sink into `config`'s exchange and routing key, named `"rabbitmq:<exchange>/<key>"`.
    /// The configuration was checked when it was built; this connects on the first batch.
    ///
    /// ```
    /// use mqsync::sync::{RabbitMqConfig, RabbitMqSink, Sink};
    ///
    /// let sink = RabbitMqSink::new(&RabbitMqConfig::builder("amqp://127.0.0.1", "orders").build()?);
    /// assert_eq!(sink.name(), "rabbitmq:/orders");
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn new(config: &RabbitMqConfig) -> Self {
        let settings = config.settings();
        let exchange = settings.exchange_name().to_owned();
        let routing_key = settings.routing_key_name().to_owned();
        RabbitMqSink {
            name: format!("rabbitmq:{exchange}/{routing_key}"),
            declare: exchange
                .is_empty()
                .then(|| (routing_key.clone(), settings.is_quorum())),
            exchange,
            routing_key,
            retry_for: settings.retry_for_value(),
            uri: settings
                .uri()
                .expect("checked by RabbitMqConfigBuilder::build"),
            tls_root: settings.tls_root().map(Arc::from),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The same sink with another name (for reports and dead letters).
    ///
    /// ```
    /// use mqsync::sync::{RabbitMqConfig, RabbitMqSink, Sink};
    ///
    /// let sink = RabbitMqSink::new(&RabbitMqConfig::builder("amqp://127.0.0.1", "q").build()?).named("archive");
    /// assert_eq!(sink.name(), "archive");
    /// # Ok::<(), mqsync::ConfigError>(())
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
        pooled.unwrap_or_else(|| Link::new(self.uri.clone(), self.tls_root.clone(), &self.name))
    }

    fn put_link(&self, link: Link) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(link);
    }

    /// The link's channel, set up (confirm mode, the queue declared) if it is new.
    fn channel(&self, link: &mut Link) -> Result<Channel, RabbitMqError> {
        let (channel, fresh) = link.channel()?;
        let channel = channel.clone();
        if fresh {
            let setup = (|| -> Result<(), RabbitMqError> {
                wait(
                    "confirm.select",
                    channel.confirm_select(ConfirmSelectOptions::default()),
                )?;
                if let Some((queue, quorum)) = &self.declare {
                    let durable = QueueDeclareOptions {
                        durable: true,
                        ..QueueDeclareOptions::default()
                    };
                    wait(
                        "queue.declare",
                        channel.queue_declare(queue, durable, queue_arguments(*quorum)),
                    )?;
                }
                Ok(())
            })();
            if let Err(e) = setup {
                link.reset(&e);
                return Err(e);
            }
        }
        Ok(channel)
    }

    /// Publishes `bodies` on `link` and waits for every confirm. `Err((error, retry))`: whether
    /// the connection broke (retry on a new one) or the broker refused (fail the batch).
    fn publish(
        &self,
        link: &mut Link,
        bodies: &[(&str, Vec<u8>)],
    ) -> Result<(), (RabbitMqError, bool)> {
        let channel = self.channel(link).map_err(|e| (e, true))?;
        let broke = |link: &mut Link, e: RabbitMqError| {
            link.reset(&e);
            (e, true)
        };
        let mut confirms = Vec::with_capacity(bodies.len());
        for (id, body) in bodies {
            let publish = wait(
                "basic.publish",
                channel.basic_publish(
                    &self.exchange,
                    &self.routing_key,
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    body,
                    properties(id),
                ),
            );
            match publish {
                Ok(confirm) => confirms.push(confirm),
                Err(e) => return Err(broke(link, e)),
            }
        }
        let (mut nacked, mut returned) = (0, 0);
        for confirm in confirms {
            match wait("basic.publish confirm", confirm) {
                Ok(Confirmation::Ack(None)) => {}
                Ok(Confirmation::Ack(Some(_))) => returned += 1,
                Ok(Confirmation::Nack(_) | Confirmation::NotRequested) => nacked += 1,
                Err(e) => return Err(broke(link, e)),
            }
        }
        link.succeeded();
        if nacked > 0 {
            return Err((RabbitMqError::Nacked { count: nacked }, false));
        }
        if returned > 0 {
            return Err((
                RabbitMqError::Unroutable {
                    count: returned,
                    exchange: self.exchange.clone(),
                    routing_key: self.routing_key.clone(),
                },
                false,
            ));
        }
        Ok(())
    }

    fn error(&self, source: RabbitMqError) -> SinkError {
        SinkError::RabbitMq {
            exchange: self.exchange.clone(),
            routing_key: self.routing_key.clone(),
            source,
        }
    }
}

impl Sink for RabbitMqSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
        let mut failed = Vec::new();
        let mut bodies = Vec::with_capacity(batch.len());
        for (index, change) in batch.iter().enumerate() {
            match encode(change) {
                Ok(body) => bodies.push((change.id.as_str(), body)),
                Err(error) => failed.push((
                    index,
                    format!(
                        "cannot encode change {:?}: {}",
                        change.id,
                        crate::sync::error_chain(&error)
                    ),
                )),
            }
        }
        if !bodies.is_empty() {
            let deadline = Instant::now() + self.retry_for;
            let mut link = self.take_link();
            let outcome = loop {
                match self.publish(&mut link, &bodies) {
                    Ok(()) => break Ok(()),
                    Err((_, true)) if Instant::now() < deadline => continue,
                    Err((error, _)) => break Err(error),
                }
            };
            self.put_link(link);
            outcome.map_err(|e| self.error(e))?;
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(SinkError::Rejected(failed))
        }
    }
}

impl fmt::Debug for RabbitMqSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitMqSink")
            .field("name", &self.name)
            .field("exchange", &self.exchange)
            .field("routing_key", &self.routing_key)
            .field("retry_for", &self.retry_for)
            .finish_non_exhaustive()
    }
}
