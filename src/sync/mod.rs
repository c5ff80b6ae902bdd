//! Layer 5: data synchronization — the sync engine and its building blocks.
//!
//! * [`DataSync`]: the engine — a reader thread pulls from [`Source`]s and hands changes to
//!   worker threads over wait-free SPSC rings partitioned by key; workers apply batches to every
//!   [`Sink`]; a source is committed only up to what every sink confirmed. Observers,
//!   reconciliation, pause/resume, graceful shutdown and metrics (`docs/sync.md`).
//! * [`Change`] / [`Op`]: an upsert or delete of an entity key at a version, with a
//!   deterministic "which one wins" rule ([`Change::supersedes`]) that makes applying changes
//!   idempotent and order-insensitive per key.
//! * [`Replica`]: a concurrent in-memory target that applies changes idempotently and can be
//!   read while syncing; [`DedupWindow`] deduplicates versionless changes by id.
//! * [`Sink`]: a target trait, which may take ownership of a batch ([`Sink::apply_owned`]);
//!   [`SinkError`]: why it failed, typed. [`deliver`]: delivery of a batch to a sink with retries
//!   and exponential backoff ([`RetryPolicy`]), poison isolation by splitting, and panics caught
//!   as failures.
//! * [`Watermark`]: commit-after-confirm — the source position that may be committed when
//!   parallel workers confirm out of order.
//! * [`SqliteSink`] (feature `sqlite`): an SQLite table written one transaction
//!   per batch, version-checked in SQL, with the source's resume position in the same
//!   transaction; [`ReplaySource`] restarts a durable log from that checkpoint after a crash.
//! * [`PostgresSink`] (feature `postgres`): a PostgreSQL table written one statement per batch
//!   (`UNNEST` into a version-checked `INSERT … ON CONFLICT`), with the resume position in the
//!   same statement; reconnects after a lost connection (`docs/postgres.md`).
//! * `RedisSink` / `RedisSource` (feature `redis`): Redis Streams as a target and as a source
//!   read through a consumer group — scale-out across processes, `XACK` after every sink
//!   confirmed, reclaiming from dead consumers, dead-letter stream (`docs/distributed.md`).
//! * `RabbitMqSink` / `RabbitMqSource` (feature `rabbitmq`): a RabbitMQ exchange as a target
//!   (publisher confirms) and a durable queue as a source (manual acks after every sink
//!   confirmed, dead-letter queue, delivery limit; `docs/rabbitmq.md`).

mod change;
mod dedup;
mod duration_serde;
mod engine;
mod error;
mod event;
#[cfg(feature = "journal")]
mod journal_source;
mod metrics;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "rabbitmq")]
mod rabbitmq;
mod reconcile;
#[cfg(any(feature = "redis", feature = "rabbitmq"))]
mod redact;
#[cfg(feature = "redis")]
mod redis_streams;
mod replay;
mod replica;
mod retry;
mod sink;
mod source;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_identifier;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(all(
    feature = "testing",
    any(feature = "redis", feature = "postgres", feature = "rabbitmq")
))]
mod test_certificates;
mod watermark;

pub use change::{Change, Op};
pub use dedup::DedupWindow;
pub use engine::{DataSync, DataSyncBuilder, FullPolicy, SyncReport, SyncSettings};
pub use error::{error_chain, BoxError, SinkError, SinkErrorKind};
pub use event::{DeadChange, Observer, ObserverMode, SyncEvent};
#[cfg(feature = "journal")]
pub use journal_source::JournalSource;
pub use metrics::{LatencySnapshot, Metrics};
#[cfg(all(feature = "postgres", feature = "testing"))]
pub use postgres::testing as postgres_testing;
#[cfg(feature = "postgres")]
pub use postgres::{
    PostgresError, PostgresSchema, PostgresSchemaBuilder, PostgresSink, PostgresTls,
};
#[cfg(all(feature = "rabbitmq", feature = "testing"))]
pub use rabbitmq::testing as rabbitmq_testing;
#[cfg(feature = "rabbitmq")]
pub use rabbitmq::{
    RabbitMqConfig, RabbitMqConfigBuilder, RabbitMqError, RabbitMqSink, RabbitMqSource,
    RabbitMqSourceCounts, RabbitMqSourceStats,
};
pub use reconcile::{plan_repairs, ReconcileReport};
#[cfg(all(feature = "redis", feature = "testing"))]
pub use redis_streams::testing as redis_testing;
#[cfg(feature = "redis")]
pub use redis_streams::{
    RedisCodecError, RedisConfig, RedisConfigBuilder, RedisSink, RedisSource, RedisSourceCounts,
    RedisSourceStats,
};
pub use replay::ReplaySource;
pub use replica::{Applied, Replica};
pub use retry::{deliver, DeliveryReport, RetryPolicy};
pub use sink::{IntoSink, Sink};
pub use source::{DeliverySource, IterSource, PollSource, QueueSource, Source, SourceError};
#[cfg(feature = "sqlite")]
pub use sqlite::{Durability, SqliteError, SqliteSchema, SqliteSchemaBuilder, SqliteSink};
pub use watermark::Watermark;
