//! Layer 3: reliable delivery — priorities, acknowledgements, redelivery, delivery limits,
//! dead letters and TTL, with the semantics RabbitMQ users know, in process.
//!
//! A [`DeliveryQueue`] is built with [`DeliveryQueue::builder`]. Publishers call
//! [`publish`](DeliveryQueue::publish) or [`publish_with`](DeliveryQueue::publish_with);
//! consumers take a [`Consumer`] handle (which carries the prefetch limit) and
//! [`receive`](Consumer::try_receive) [`Delivery`]s. Every delivery ends in exactly one of
//! [`ack`](Delivery::ack), [`nack`](Delivery::nack), [`nack_after`](Delivery::nack_after) (a
//! redelivery after a delay; [`RedeliveryBackoff`] makes every requeue wait) or
//! [`reject`](Delivery::reject); a delivery
//! dropped unsettled (a consumer that forgot, or panicked) counts as `nack(requeue = true)`, so
//! nothing is lost.
//!
//! A message that is rejected, reaches the delivery limit, or outlives its TTL is dead-lettered
//! with its [`DeadReason`]: into the queue's own dead-letter queue by default
//! ([`DeliveryQueue::dead_letters`]), or into any [`Fifo`](crate::queue::Fifo) set with
//! [`DeliveryBuilder::dead_letter_to`] (falling back to the queue's own when that one is full).
//! An observer callback can watch them go by. A dead letter never silently vanishes.
//!
//! The hot path is lock-free: each priority level is a lane of two [`MsQueue`]s (or a
//! [`RingBuffer`] for bounded lanes) — one for redeliveries, read first, and one for fresh
//! messages — and the bookkeeping is a handful of atomic counters. Blocking and async receives
//! park on an [`event_listener::Event`] that publishers notify.
//!
//! ```
//! use mqsync::delivery::{DeadReason, DeliveryQueue};
//!
//! let queue = DeliveryQueue::builder().priorities(4).delivery_limit(2).build().unwrap();
//! queue.publish_with("low", 0, None).unwrap();
//! queue.publish_with("high", 3, None).unwrap();
//!
//! let consumer = queue.consumer();
//! let first = consumer.try_receive().unwrap();
//! assert_eq!(*first.message(), "high"); // strict priority
//! first.ack();
//!
//! let second = consumer.try_receive().unwrap();
//! second.nack(true); // back to the front of its lane
//! let again = consumer.try_receive().unwrap();
//! assert_eq!(again.delivery_count(), 2);
//! again.nack(true); // the delivery limit is reached: dead-lettered
//!
//! let dead = queue.dead_letters().pop().unwrap();
//! assert_eq!(dead.message, "low");
//! assert_eq!(dead.reason, DeadReason::DeliveryLimit(2));
//! ```
//!
//!
//! The settings are checked once, by [`DeliveryBuilder::build`], which names the refused
//! setting and its value in a [`ConfigError`](crate::ConfigError); the plain-data ones form a
//! [`DeliveryConfig`] that a service can load from its configuration file.
//!
//! [`MsQueue`]: crate::queue::MsQueue
//! [`RingBuffer`]: crate::queue::RingBuffer

// Layout. The shared state has one home, `shared.rs`; every other file uses it and the files
// below it, never the files above, so nothing imports in a circle. The edges (`use super::`),
// top to bottom, each file using only files on later lines:
//
//     builder     → queue, shared, config, dead_letter, visibility,  DeliveryBuilder
//                   durable
//     queue       → consumer, shared, lane, stats, dead_letter, error DeliveryQueue, Receipt
//     consumer    → settle, shared, stats, dead_letter, error         Consumer
//     settle      → shared, lane, stats, dead_letter                  Delivery
//     shared      → visibility, delay, durable, closing, config, lane, Shared, ConsumerState
//                   stats, dead_letter
//     delay       → lane                                              delayed redelivery
//     durable     → lane, retention                                   the journal (feature)
//     visibility  → lane                                              the visibility timeout
//     closing, config, dead_letter, error, lane, retention, stats: leaves
//
// Check: `grep -n "^use super::" src/delivery/*.rs`. Below the module: `crate::queue` (the
// lanes' MsQueue / RingBuffer), `crate::primitive` (every atomic, Arc and Mutex, so that loom
// sees them) and `crate::ConfigError`.

mod builder;
mod closing;
mod config;
mod consumer;
mod dead_letter;
mod delay;
#[cfg(feature = "journal")]
mod durable;
mod error;
mod lane;
mod queue;
#[cfg(feature = "journal")]
mod retention;
mod settle;
mod shared;
mod stats;
mod visibility;

pub use builder::DeliveryBuilder;
pub use config::{DeliveryConfig, PriorityMode, RedeliveryBackoff, MAX_DELAY};
pub use consumer::Consumer;
pub use dead_letter::{DeadLetter, DeadReason};
#[cfg(feature = "journal")]
pub use durable::{DurableError, Persist};
pub use error::{PublishError, ReceiveError, TryReceiveError};
pub use queue::{DeliveryQueue, Receipt};
pub use settle::Delivery;
pub use stats::Stats;
