//! [`SqliteSink`]: a [`Sink`] that writes changes into an SQLite table, one transaction per
//! batch, version-checked in SQL, with the source's resume position in the same transaction.
//
// The checkpoint protocol
// =======================
//
// Changes carry `position`: their index in the source's durable log (0, 1, 2, ... no gaps).
// The sink keeps, under the one connection's lock,
//
//   next  = every position < next is in the table (written, or settled as a dead letter);
//           this is the `position` row of the checkpoint table, for `source`
//   above = positions >= next already written (workers deliver batches out of order)
//
// `apply` writes the batch's rows and, if the batch closes the gap at `next`, the new `next`,
// in ONE transaction. After it commits, `next`/`above` are updated in memory; if it fails,
// nothing changed on disk and memory is left as it was. So at any instant, and after any crash,
// the checkpoint row is a position below which every change is in the table:
//
// * no gap: a restarted source that resumes at the checkpoint misses nothing, because nothing
//   below it is missing from the table;
// * no double effect: whatever at or above the checkpoint was already written is replayed, and
//   the version check in SQL (`Change::supersedes`, in SQL) makes a replay write nothing.
//
// `above` is memory only: lost in a crash, which costs only replays, never a gap.

use super::super::change::{Change, Op};
use super::super::error::SinkError;
use super::super::sink::Sink;
use super::schema::SqliteSchema;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Why an [`SqliteSink`] could not be opened or read. (Bad table or column names are refused
/// earlier, by [`SqliteSchemaBuilder::build`](super::SqliteSchemaBuilder::build).)
///
/// ```
/// use mqsync::sync::{SqliteError, SqliteSchema, SqliteSink};
///
/// let schema = SqliteSchema::builder("t").build()?;
/// let err = SqliteSink::open("/nonexistent-dir/x.db", schema, "log").unwrap_err();
/// assert!(matches!(err, SqliteError::Sqlite(_)));
/// assert!(std::error::Error::source(&err).is_some());
/// # Ok::<(), mqsync::ConfigError>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// SQLite refused (cannot open the file, disk full, corrupt database, ...).
    #[error("SQLite refused")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored body is not JSON (the table was written by something else).
    #[error("row {key:?}: body is not JSON")]
    Body {
        /// The row's key.
        key: String,
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },
    /// A version or position does not fit SQLite's signed 64-bit integer.
    #[error("{0} does not fit a signed 64-bit SQLite integer")]
    TooLarge(u64),
}

/// How much a committed batch survives: SQLite's `synchronous` setting under WAL.
///
/// In a configuration file: `"process_crash"` or `"power_loss"`.
///
/// ```
/// use mqsync::sync::{Durability, SqliteSchema, SqliteSink};
///
/// let sink = SqliteSink::open_in_memory(SqliteSchema::builder("t").build().unwrap(), "log").unwrap();
/// sink.set_durability(Durability::PowerLoss).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Durability {
    /// `synchronous = NORMAL`, the default: a commit survives a crash of the process; a power
    /// loss or OS crash may undo the last commits (data and checkpoint together, so the
    /// checkpoint stays true). No fsync per commit.
    #[default]
    ProcessCrash,
    /// `synchronous = FULL`: every commit is fsynced and survives a power loss too; each batch
    /// then costs a disk flush.
    PowerLoss,
}

/// What the connection's lock guards.
struct State {
    conn: Connection,
    /// Every position below `next` is in the table; mirrors the checkpoint row.
    next: u64,
    /// Positions at or above `next` already in the table (memory only; see the file's essay).
    above: BTreeSet<u64>,
}

/// A [`Sink`] into an SQLite table (feature `sqlite`, on by default; SQLite is bundled).
///
/// Each batch is one transaction: upserts and deletes, version-checked in SQL with the same
/// rule as [`Change::supersedes`] (deletes keep a tombstone row), and the source's resume
/// position ([`checkpoint`](Self::checkpoint)) written in the same transaction, so that after a
/// crash a source restarted at the checkpoint leaves no gap and has no double effect (see
/// `docs/sqlite.md`). The database runs in WAL mode; by default with `synchronous = NORMAL`
/// (see [`Durability`]). Statements are prepared once and cached.
///
/// The engine's workers call [`apply`](Sink::apply) concurrently; they take turns on the one
/// connection (SQLite has one writer at a time anyway). Blocking.
///
/// ```
/// use mqsync::sync::{Change, Sink, SqliteSchema, SqliteSink};
/// use serde_json::json;
///
/// let sink = SqliteSink::open_in_memory(SqliteSchema::builder("orders").build()?, "orders-log")?;
/// sink.apply(&[
///     Change::upsert("o-1", 2, json!({"total": 5})).at_position(0),
///     Change::upsert("o-1", 1, json!({"total": 1})).at_position(1), // older: no effect
///     Change::upsert("o-2", 1, json!({"total": 7})).at_position(2),
///     Change::delete("o-2", 2).at_position(3),
/// ])?;
/// assert_eq!(sink.snapshot()?.into_iter().collect::<Vec<_>>(), [("o-1".into(), json!({"total": 5}))]);
/// assert_eq!(sink.checkpoint(), 4); // a restarted source resumes at position 4
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SqliteSink {
    name: String,
    source: String,
    schema: SqliteSchema,
    upsert_sql: String,
    delete_sql: String,
    checkpoint_sql: String,
    state: Mutex<State>,
}

impl SqliteSink {
    /// Opens (or creates) the database file at `path`, creates the tables of `schema` if they
    /// are missing, and reads the checkpoint recorded for `source` (the name under which this
    /// sink records positions; use the source's name).
    ///
    /// ```
    /// use mqsync::sync::{Change, Sink, SqliteSchema, SqliteSink};
    ///
    /// let dir = std::env::temp_dir().join(format!("mqsync-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("open.db");
    /// {
    ///     let sink = SqliteSink::open(&path, SqliteSchema::builder("t").build()?, "log")?;
    ///     sink.apply(&[Change::delete("k", 1).at_position(0)])?;
    /// }
    /// let reopened = SqliteSink::open(&path, SqliteSchema::builder("t").build()?, "log")?;
    /// assert_eq!(reopened.checkpoint(), 1);
    /// # drop(reopened); std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(
        path: impl AsRef<Path>,
        schema: SqliteSchema,
        source: &str,
    ) -> Result<Self, SqliteError> {
        Self::with_connection(Connection::open(path)?, schema, source)
    }

    /// Like [`open`](Self::open), on a private in-memory database (tests, examples).
    ///
    /// ```
    /// let sink = mqsync::sync::SqliteSink::open_in_memory(
    ///     mqsync::sync::SqliteSchema::builder("t").build().unwrap(), "log").unwrap();
    /// assert_eq!(sink.checkpoint(), 0);
    /// ```
    pub fn open_in_memory(schema: SqliteSchema, source: &str) -> Result<Self, SqliteError> {
        Self::with_connection(Connection::open_in_memory()?, schema, source)
    }

    fn with_connection(
        conn: Connection,
        schema: SqliteSchema,
        source: &str,
    ) -> Result<Self, SqliteError> {
        // `journal_mode` answers with a row, so it is queried rather than executed.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;")?;
        conn.execute_batch(&schema.create_sql())?;
        conn.set_prepared_statement_cache_capacity(16);
        let next: Option<i64> = conn
            .query_row(&schema.checkpoint_read_sql(), [source], |row| row.get(0))
            .optional()?;
        Ok(SqliteSink {
            name: format!("sqlite:{}", schema.table()),
            source: source.to_owned(),
            upsert_sql: schema.upsert_sql(),
            delete_sql: schema.delete_sql(),
            checkpoint_sql: schema.checkpoint_write_sql(),
            schema,
            state: Mutex::new(State {
                conn,
                next: next.map_or(0, |n| n.max(0) as u64),
                above: BTreeSet::new(),
            }),
        })
    }

    /// The resume position: every change of the source at a position below it is in the table
    /// (as committed on disk). A source restarted after a crash starts here.
    ///
    /// ```
    /// use mqsync::sync::{Change, Sink, SqliteSchema, SqliteSink};
    ///
    /// let sink = SqliteSink::open_in_memory(SqliteSchema::builder("t").build().unwrap(), "log").unwrap();
    /// sink.apply(&[Change::delete("b", 1).at_position(1)]).unwrap();
    /// assert_eq!(sink.checkpoint(), 0); // position 0 is still missing
    /// sink.apply(&[Change::delete("a", 1).at_position(0)]).unwrap();
    /// assert_eq!(sink.checkpoint(), 2);
    /// ```
    pub fn checkpoint(&self) -> u64 {
        self.lock().next
    }

    /// Sets how durable each committed batch is (default [`Durability::ProcessCrash`]).
    pub fn set_durability(&self, durability: Durability) -> Result<(), SqliteError> {
        let pragma = match durability {
            Durability::ProcessCrash => "PRAGMA synchronous = NORMAL",
            Durability::PowerLoss => "PRAGMA synchronous = FULL",
        };
        self.lock().conn.execute_batch(pragma)?;
        Ok(())
    }

    /// The name this sink records its checkpoint under.
    ///
    /// ```
    /// let sink = mqsync::sync::SqliteSink::open_in_memory(
    ///     mqsync::sync::SqliteSchema::builder("t").build().unwrap(), "log").unwrap();
    /// assert_eq!(sink.source(), "log");
    /// ```
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Marks `positions` as done without writing data: for changes that were dead-lettered
    /// for this sink, so that the checkpoint can pass them. Until they are settled, the
    /// checkpoint stops below them and a restart replays from there (harmless, just longer).
    ///
    /// ```
    /// use mqsync::sync::{Change, Sink, SqliteSchema, SqliteSink};
    ///
    /// let sink = SqliteSink::open_in_memory(SqliteSchema::builder("t").build().unwrap(), "log").unwrap();
    /// sink.apply(&[Change::delete("b", 1).at_position(1)]).unwrap();
    /// sink.settle(&[0]).unwrap(); // position 0 was dead-lettered
    /// assert_eq!(sink.checkpoint(), 2);
    /// ```
    pub fn settle(&self, positions: &[u64]) -> Result<(), SqliteError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let mut fresh: Vec<u64> = positions
            .iter()
            .copied()
            .filter(|&p| p >= state.next)
            .collect();
        let next = advance(state, &mut fresh);
        if next != state.next {
            let tx = state.conn.transaction()?;
            tx.prepare_cached(&self.checkpoint_sql)?
                .execute(params![self.source, to_sql_int(next)?])?;
            tx.commit()?;
        }
        remember(state, fresh, next);
        Ok(())
    }

    /// Every live row (tombstones left out): key → body.
    ///
    /// ```
    /// use mqsync::sync::{Change, Sink, SqliteSchema, SqliteSink};
    /// use serde_json::json;
    ///
    /// let sink = SqliteSink::open_in_memory(SqliteSchema::builder("t").build().unwrap(), "log").unwrap();
    /// sink.apply(&[Change::upsert("k", 1, json!([1, 2]))]).unwrap();
    /// assert_eq!(sink.snapshot().unwrap()["k"], json!([1, 2]));
    /// ```
    pub fn snapshot(&self) -> Result<BTreeMap<String, serde_json::Value>, SqliteError> {
        let state = self.lock();
        let mut statement = state.conn.prepare_cached(&self.schema.snapshot_sql())?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (key, body) = row?;
            let value = match body {
                None => serde_json::Value::Null,
                Some(text) => serde_json::from_str(&text).map_err(|source| SqliteError::Body {
                    key: key.clone(),
                    source,
                })?,
            };
            out.insert(key, value);
        }
        Ok(out)
    }

    /// The connection, also after a panic elsewhere while it was held (a rolled-back
    /// transaction leaves nothing half-done, and memory is updated only after a commit).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the rows and the checkpoint in one transaction; returns the new resume position
    /// and the positions written, or the error that rolled the transaction back.
    fn write(
        &self,
        state: &mut State,
        batch: &[(usize, &Change, Option<i64>)],
    ) -> Result<(u64, Vec<u64>), rusqlite::Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut fresh: Vec<u64> = batch
            .iter()
            .filter_map(|(_, c, _)| c.position)
            .filter(|&p| p >= state.next)
            .collect();
        let next = advance(state, &mut fresh);
        let tx = state.conn.transaction()?;
        {
            let mut upsert = tx.prepare_cached(&self.upsert_sql)?;
            let mut delete = tx.prepare_cached(&self.delete_sql)?;
            for (_, change, version) in batch {
                match &change.op {
                    Op::Upsert(value) => {
                        upsert.execute(params![change.key, version, value.to_string(), now])?
                    }
                    Op::Delete => delete.execute(params![change.key, version, now])?,
                };
            }
            if next != state.next {
                // `next` was checked to fit when its positions were.
                tx.prepare_cached(&self.checkpoint_sql)?
                    .execute(params![self.source, next as i64])?;
            }
        }
        tx.commit()?;
        Ok((next, fresh))
    }
}

impl Sink for SqliteSink {
    fn name(&self) -> &str {
        &self.name
    }

    /// One transaction: every valid change and the checkpoint, or nothing
    /// ([`SinkError::Sqlite`]). Changes whose version or position does not fit an SQLite
    /// integer fail alone, fatally ([`SinkError::Rejected`]: no retry makes them fit); the
    /// others are applied.
    fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
        let mut failed = Vec::new();
        let mut valid = Vec::with_capacity(batch.len());
        for (i, change) in batch.iter().enumerate() {
            let checked = change
                .version
                .map(to_sql_int)
                .transpose()
                .and_then(|v| change.position.map(to_sql_int).transpose().map(|_| v));
            match checked {
                Ok(version) => valid.push((i, change, version)),
                Err(e) => failed.push((i, e.to_string())),
            }
        }
        let mut guard = self.lock();
        let state = &mut *guard;
        let (next, fresh) = self.write(state, &valid).map_err(SinkError::Sqlite)?;
        remember(state, fresh, next);
        if failed.is_empty() {
            Ok(())
        } else {
            Err(SinkError::Rejected(failed))
        }
    }
}

impl fmt::Debug for SqliteSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteSink")
            .field("table", &self.schema.table())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The resume position once `fresh` (positions at or above `state.next`) are in the table too.
/// Sorts `fresh`.
fn advance(state: &State, fresh: &mut [u64]) -> u64 {
    fresh.sort_unstable();
    let mut next = state.next;
    while state.above.contains(&next) || fresh.binary_search(&next).is_ok() {
        next += 1;
    }
    next
}

/// After a commit: records `fresh` and moves the resume position to `next`.
fn remember(state: &mut State, fresh: Vec<u64>, next: u64) {
    state.above.extend(fresh.into_iter().filter(|&p| p >= next));
    state.above = state.above.split_off(&next);
    state.next = next;
}

fn to_sql_int(n: u64) -> Result<i64, SqliteError> {
    i64::try_from(n).map_err(|_| SqliteError::TooLarge(n))
}
