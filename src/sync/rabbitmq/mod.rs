//! RabbitMQ: a [`Sink`](crate::sync::Sink) that publishes changes to an exchange with publisher
//! confirms and a [`Source`](crate::sync::Source) that consumes a durable queue with manual
//! acknowledgements after every sink confirmed (feature `rabbitmq`, on lapin behind a blocking
//! API). See `docs/rabbitmq.md`.
//!
//! * [`RabbitMqConfig`] (built by [`RabbitMqConfigBuilder`]): URL (`amqp://`, the password never
//!   printed), queue, queue type, exchange, routing key, batch size, prefetch, block time,
//!   delivery limit, dead-letter queue — checked before anything connects.
//! * [`RabbitMqSink`]: persistent messages, one batch published whole then every confirm
//!   awaited; confirms only what the broker acknowledged.
//! * [`RabbitMqSource`]: `basic.consume` with `basic.qos`, `basic.ack(multiple)` at commit
//!   (after every sink confirmed), dead-letter queue (published with confirms) for malformed and
//!   over-delivered messages, reconnect with backoff.
//!
//! The acknowledgement protocol is AMQP 0-9-1's (<https://www.rabbitmq.com/docs/confirms>); what
//! this module adds is the mapping of the engine's commit-after-confirm onto delivery tags.

mod codec;
mod config;
mod error;
mod link;
mod sink;
mod source;
// A test fixture, public only under the `testing` feature (not covered by semver).
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{RabbitMqConfig, RabbitMqConfigBuilder};
pub use error::RabbitMqError;
pub use sink::RabbitMqSink;
pub use source::{RabbitMqSource, RabbitMqSourceCounts, RabbitMqSourceStats};
