//! # mqsync
//!
//! In-process message queuing, message integration and data synchronization for
//! latency-critical Rust services.
//!
//! The crate is layered; each module uses only the ones above it in this list:
//!
//! | layer | module | what it gives you |
//! |---|---|---|
//! | 1 | [`queue`] | [`MsQueue`] (unbounded, lock-free MPMC) and [`RingBuffer`] (bounded MPMC), with peek, snapshot and batches |
//! | 2 | [`handoff`] | a wait-free SPSC ring, and blocking / async waiting with close on any queue |
//! | 3 | [`delivery`] | priorities, acknowledgements, redelivery, delivery limits, dead letters, TTL |
//! | 4 | [`integrate`] | one serde [`Message`](integrate::Message) from heterogeneous inputs |
//! | 5 | [`sync`] | the source → sinks engine: commit-after-confirm, idempotency, observers, reconciliation |
//!
//! Beside the layers, [`journal`] (feature `journal`) is the storage: a crash-safe, append-only
//! log on disk that uses nothing else of the crate; the sync layer reads it as a source.
//!
//! `docs/architecture.md` draws the layers and the path a message takes through them.
//!
//! ## Features
//!
//! The default build is the lock-free core, [`queue`] and [`handoff`], on crossbeam-utils,
//! crossbeam-epoch, event-listener and futures-core. Everything else is opt-in:
//!
//! | feature | turns on | adds |
//! |---|---|---|
//! | `delivery` | the [`delivery`] module | nothing |
//! | `serde` | `Serialize`/`Deserialize` on data and configuration types | serde |
//! | `integrate` | the [`integrate`] module (and `serde`) | serde_json, rayon, thiserror, rmp-serde, csv, toml, chrono, regex, serde_path_to_error, uuid |
//! | `sync` | the [`sync`] engine (and `integrate`, `delivery`) | — |
//! | `sqlite` | `sync::SqliteSink` on the system's libsqlite3 | rusqlite |
//! | `sqlite-bundled` | `sqlite`, SQLite compiled from source | rusqlite's `bundled` |
//! | `redis` | `sync::RedisSource`, `sync::RedisSink` | redis |
//! | `rabbitmq` | `sync::RabbitMqSource`, `sync::RabbitMqSink` | lapin, futures-executor |
//! | `postgres` | `sync::PostgresSink` | postgres (tokio-postgres, tokio) |
//! | `journal` | the [`journal`] module: a crash-safe on-disk log (and `sync::JournalSource` with `sync`) | crc32fast, thiserror |
//! | `schema` | the JSON Schema rule of `integrate` | jsonschema |
//! | `simd` | nothing since the crate's own JSON reader became the only path (kept so that builds naming it still work; implies `integrate`) | — |
//! | `tracing` | spans and events | tracing |
//! | `metrics` | counters, gauges, histograms | metrics |
//! | `testing` | test fixtures (`sync::redis_testing`, with `redis`; `sync::postgres_testing`, with `postgres`; `sync::rabbitmq_testing`, with `rabbitmq`); not covered by semver | — |
//! | `full` | all of the above, SQLite bundled | |
//!
//! `docs/architecture.md` says why `sqlite` links the system's SQLite and `sqlite-bundled` exists.
//!
//! ```
//! use mqsync::MsQueue;
//! use std::sync::Arc;
//!
//! let q = Arc::new(MsQueue::new());
//! let producer = {
//!     let q = Arc::clone(&q);
//!     std::thread::spawn(move || (0..100).for_each(|i| q.push(i)))
//! };
//! producer.join().unwrap();
//! assert_eq!(q.peek(), Some(0));
//! assert_eq!(q.len(), 100);
//! assert_eq!((0..100).map(|_| q.pop().unwrap()).sum::<i32>(), 4950);
//! ```

// docs.rs (`--cfg docsrs`, nightly): every gated item shows the feature it needs, derived
// from its `#[cfg(feature = ...)]` (doc_cfg's automatic form).
#![cfg_attr(docsrs, feature(doc_cfg))]
// The docs link across features (the crate docs to every module, `sync` to `SqliteSink`); with a
// feature off, those links cannot resolve. CI's rustdoc runs with `full` (.ci/features), where
// every link is checked, and docs.rs builds with all features.
#![cfg_attr(not(feature = "full"), allow(rustdoc::broken_intra_doc_links))]
#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, rust_2018_idioms)]

mod config;
#[cfg(any(feature = "delivery", feature = "sync"))]
mod observe;
mod primitive;
/// The tests' shared scaffolding (drop counting, stress sizes, seeded randomness), also used by
/// the integration tests as `mod stress`.
#[cfg(test)]
#[path = "../tests/stress/mod.rs"]
mod test_support;

#[cfg(feature = "delivery")]
pub mod delivery;
pub mod handoff;
#[cfg(feature = "integrate")]
pub mod integrate;
#[cfg(feature = "journal")]
pub mod journal;
pub mod queue;
#[cfg(feature = "sync")]
pub mod sync;

pub use config::ConfigError;
pub use handoff::mpmc as channel;
pub use queue::{Fifo, Full, MsQueue, RingBuffer};

/// The README's examples, compiled and run as doc tests (they use `delivery`).
#[cfg(all(doctest, feature = "delivery"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// `docs/sqlite.md`'s example, compiled and run as a doc test.
#[cfg(all(doctest, feature = "sqlite"))]
#[doc = include_str!("../docs/sqlite.md")]
struct SqliteDocDoctests;

/// `docs/postgres.md`'s example, compiled as a doc test (`no_run`: it needs a server).
#[cfg(all(doctest, feature = "postgres"))]
#[doc = include_str!("../docs/postgres.md")]
struct PostgresDocDoctests;
