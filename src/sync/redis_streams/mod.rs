//! Redis Streams: a [`Sink`](crate::sync::Sink) that appends changes to a stream and a
//! [`Source`](crate::sync::Source) that reads one through a consumer group, so that several
//! engines in several processes share the work with nothing lost (feature `redis`, on the
//! `redis` crate's blocking API). See `docs/distributed.md`.
//!
//! * [`RedisConfig`] (built by [`RedisConfigBuilder`]): URL (`redis://` or `rediss://`, the
//!   password never printed), stream, group, consumer, batch size, block time, claim idle time,
//!   delivery limit, dead-letter stream, MAXLEN, TLS root — checked before anything connects.
//! * [`RedisSink`]: pipelined `XADD` batches (one round trip each), optional `MAXLEN ~`,
//!   reconnects with backoff, confirms only what Redis accepted.
//! * [`RedisSource`]: `XREADGROUP` with `BLOCK` and `COUNT`, `XACK` at commit (after every sink
//!   confirmed), `XAUTOCLAIM` of entries idle on dead consumers, delivery limit from the
//!   delivery counts (`XPENDING`), dead-letter stream for malformed and over-delivered entries.
//!
//! The consumer-group protocol is Redis's own (<https://redis.io/docs/latest/develop/data-types/streams/>);
//! what this module adds is the mapping of the engine's commit-after-confirm onto `XACK`.

mod config;
mod entry;
mod link;
mod sink;
mod source;
// A test fixture, public only under the `testing` feature (not covered by semver).
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{RedisConfig, RedisConfigBuilder};
pub use entry::RedisCodecError;
pub use sink::RedisSink;
pub use source::{RedisSource, RedisSourceCounts, RedisSourceStats};
