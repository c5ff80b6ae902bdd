//! SQLite as the engine's embedded durable target (feature `sqlite`), in two parts:
//!
//! * [`SqliteSchema`] (built by [`SqliteSchemaBuilder`]): the table, its columns and the
//!   checkpoint table, with every identifier validated before any SQL is built.
//! * [`SqliteSink`]: one transaction per batch, version checked in SQL, and the source's resume
//!   position in the same transaction (the checkpoint protocol is described at the top of
//!   `sink.rs`); [`SqliteError`] for what opening or reading it can fail with.
//!
//! See `docs/sqlite.md`.

mod schema;
mod sink;

pub use schema::{SqliteSchema, SqliteSchemaBuilder};
pub use sink::{Durability, SqliteError, SqliteSink};
