//! PostgreSQL as the engine's durable target (feature `postgres`, on the blocking `postgres`
//! crate), in two parts:
//!
//! * [`PostgresSchema`] (built by [`PostgresSchemaBuilder`]): the table, its columns and the
//!   checkpoint table, with every identifier validated before any SQL is built (the rule the
//!   SQLite sink uses).
//! * [`PostgresSink`]: one statement per batch (`UNNEST` of bound arrays into `INSERT … ON
//!   CONFLICT … WHERE <the incoming version wins>`), and the source's resume position in the
//!   same statement (the checkpoint protocol is described at the top of `sink.rs`);
//!   [`PostgresError`] for what connecting or reading it can fail with, never with a password.
//! * [`PostgresTls`]: TLS on rustls, the server's certificate always verified.
//!
//! See `docs/postgres.md`.

mod redact;
mod schema;
mod sink;
mod tls;
// A test fixture, public only under the `testing` feature (not covered by semver).
#[cfg(feature = "testing")]
pub mod testing;

pub use schema::{PostgresSchema, PostgresSchemaBuilder};
pub use sink::{PostgresError, PostgresSink};
pub use tls::PostgresTls;
