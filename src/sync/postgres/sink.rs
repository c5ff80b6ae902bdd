//! [`PostgresSink`]: a PostgreSQL table as a [`Sink`], one statement (so one transaction) per
//! batch, with the source's resume position written in the same statement.

// The checkpoint protocol
// =======================
//
// The sink keeps the position of its source's durable log (`Change::position`) next to the
// data, so that a source restarted after a crash of this process, or of the server, resumes
// where the table really is: no change lost, none applied twice with effect. It is the
// SqliteSink's protocol (sqlite/sink.rs), on a server:
//
// State. `next`: every position below it is in the table; it mirrors the checkpoint row
// (`position` for this sink's `source` and data table) as last committed by this process.
// The row is keyed by both: two sinks fed by one source, on two tables, are at two
// positions, and one must never overwrite the other's (the one ahead would hide a gap of the
// one behind). `above`: positions
// at or above `next` that are in the table too (the engine's workers finish batches out of
// order, so a batch can land above a gap). Both live under the mutex that also guards the
// connection, and change only after a commit succeeded.
//
// Transition (`apply`). Under the mutex: compute `fresh` (the batch's positions at or above
// `next`) and the new `next` (advance while `next` is in `above` or `fresh`). Then ONE
// statement writes the batch's rows and, if `next` moved, the checkpoint row. PostgreSQL runs a
// statement atomically, so rows and checkpoint commit together or not at all. After the commit,
// `above` gains `fresh` and drops everything below the new `next`.
//
// Why the checkpoint never lies. The row is written only in the statement that writes the
// last position it covers, after every lower position committed (they are in `above`, or
// below the old `next`). So at any instant the committed checkpoint P means: positions < P
// are in the table. A crash (process or server) between statements loses `above` (memory),
// which only makes the restarted source replay from P: changes at or above P that did commit
// are applied again, and the version rule makes that harmless for *versioned* changes (an
// equal version is not applied twice; see `Change::supersedes`). A versionless change always
// applies, so a replay or a retry applies it again, as with the other sinks: "no double
// effect" holds for versioned changes only.
//
// The one new race on a server: the connection breaks during the statement. The statement
// may have committed or not, and the client cannot tell. We report a retriable failure and
// leave `next`/`above` as they were: if it committed, the engine's retry writes the same rows
// again (harmless, by the version rule) and the same checkpoint. Our `next` may then lag the
// committed row for a while, and a later batch may write a *lower* checkpoint than the one on
// the server: a step back, which only lengthens a replay.
//
// Reconnect. The new connection reads the row first, and only once that succeeded does the
// sink keep the connection (a failed read leaves no link, so the next call reconnects and
// reads again). The server's value is the truth: `next = stored`, and `above` keeps only
// what lies at or above it; then `next` advances over `above` as a batch would (writing the
// row if it moved). Taking the server's word can only lengthen a replay: if the row is ahead
// of memory (the lost statement committed), memory was behind; if it is behind (a step back
// as above, or a server that lost commits it had acknowledged, after a failover), positions
// between it and the old `next` are no longer known to be in the table, and the checkpoint
// stays below them until a restart replays from there. The reconnect happens before a batch
// computes its `next`, so nothing moves `next` between the computation and the statement.
//
// Dead-lettered positions: `settle` marks them done without data, so the checkpoint can pass
// them; until then the checkpoint stops below them and a restart replays from there.

use super::redact::{redact, scrub};
use super::schema::PostgresSchema;
use super::tls::PostgresTls;
use crate::sync::{Change, Op, Sink, SinkError};
use postgres::config::SslMode;
use postgres::{Client, NoTls, Statement};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The connect timeout when the configuration sets none (libpq's default is to wait forever).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The TCP keepalive idle time and the TCP user timeout when the configuration sets none: a
/// server or a network that vanished without a reset is noticed in about a minute, not after
/// the OS's defaults (two hours of idle, then minutes of probes; or a write that waits for an
/// acknowledgement for about fifteen minutes).
const DEFAULT_SOCKET_TIMEOUT: Duration = Duration::from_secs(30);
/// The first wait before a reconnect that follows a failed one; doubled up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// The longest wait between reconnects.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Why a [`PostgresSink`] could not be opened or read. Never prints a password: connection
/// strings are shown redacted, and the server's and client's messages name no password.
///
/// ```
/// use mqsync::sync::{PostgresError, PostgresSchema, PostgresSink};
///
/// let schema = PostgresSchema::builder("t").build()?;
/// let err = PostgresSink::connect("postgres://app:s3cret@127.0.0.1:1/db?connect_timeout=x", schema, "log")
///     .unwrap_err();
/// assert!(matches!(err, PostgresError::Url { .. }));
/// assert!(!format!("{err} {err:?}").contains("s3cret"));
/// # Ok::<(), mqsync::ConfigError>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The connection string does not parse.
    #[error("invalid PostgreSQL connection string {url}: {reason}")]
    Url {
        /// The string, its passwords replaced by `***`.
        url: String,
        /// What the parser said, with any password replaced by `***`.
        reason: String,
    },
    /// The server could not be reached, or refused the login (a wrong password, an unknown
    /// database).
    #[error("cannot connect to PostgreSQL at {server}")]
    Connect {
        /// `user@host:port/dbname`, without the password.
        server: String,
        /// What the client said.
        #[source]
        source: postgres::Error,
    },
    /// The server refused a statement (creating the tables, reading the checkpoint or rows).
    #[error("PostgreSQL refused")]
    Postgres(#[from] postgres::Error),
    /// A stored body is not JSON (the table was written by something else).
    #[error("row {key:?}: body is not JSON")]
    Body {
        /// The row's key.
        key: String,
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },
    /// A version or position does not fit PostgreSQL's `bigint` (a position must leave room
    /// for the checkpoint past it, `position + 1`: at most `i64::MAX - 1`).
    #[error("{0} does not fit a PostgreSQL bigint")]
    TooLarge(u64),
    /// The TLS configuration is not usable: no trusted certificate, a CA that does not parse,
    /// or `sslmode=disable` beside a [`PostgresTls`]. (A failed handshake, such as a server
    /// certificate no trusted CA signed, is a [`Connect`](Self::Connect) error.)
    #[error("PostgreSQL TLS: {reason}")]
    Tls {
        /// What is wrong.
        reason: String,
    },
}

/// A live connection and what is prepared on it.
struct Link {
    client: Client,
    apply: Statement,
}

/// What the mutex guards.
struct State {
    /// `None` after the connection was lost: the next `apply` reconnects.
    link: Option<Link>,
    /// Every position below `next` is in the table; mirrors the checkpoint row.
    next: u64,
    /// Positions at or above `next` already in the table (memory only; see the file's essay).
    above: BTreeSet<u64>,
    /// The wait before the next reconnect; zero after a success.
    backoff: Duration,
    /// When the last reconnect failed.
    failed_at: Option<Instant>,
}

/// A [`Sink`] into a PostgreSQL table (feature `postgres`), on the blocking
/// [`postgres`](https://docs.rs/postgres) client.
///
/// Each batch is **one statement**, so one transaction and one round trip: the batch's
/// upserts and deletes as arrays bound to `UNNEST`, an `INSERT … ON CONFLICT (key) DO UPDATE …
/// WHERE <the incoming version wins>` with the rule of [`Change::supersedes`] (deletes keep a
/// tombstone row), and the source's resume position ([`checkpoint`](Self::checkpoint)), so
/// that a source restarted at the checkpoint after a crash leaves no gap and has no double
/// effect for versioned changes (a versionless change always applies, so a replay applies it
/// again; see `docs/postgres.md`). Values are always bound, never spliced into SQL.
///
/// A key may appear several times in a batch: the sink keeps, per key, what applying them in
/// order would leave (the winner under [`Change::supersedes`]), since one `ON CONFLICT`
/// statement cannot touch a row twice.
///
/// A lost connection fails the batch as a retriable [`SinkError::Postgres`]; the next `apply`
/// reconnects (waiting 50 ms, doubling to 2 s, after a failed reconnect), so the engine's
/// retries ride out a server restart, and dead-letter the batch with the reason if it stays
/// down.
///
/// The `postgres` crate runs a single-threaded tokio runtime inside each client, on the
/// calling thread: a blocking call costs a runtime poll on top of the socket I/O, and the
/// crate pulls tokio into the build (a few seconds of compile time, no extra threads).
/// The engine's workers take turns on the one connection. Blocking.
///
/// ```no_run
/// use mqsync::sync::{Change, PostgresSchema, PostgresSink, Sink};
/// use serde_json::json;
///
/// let schema = PostgresSchema::builder("orders").build()?;
/// let sink = PostgresSink::connect("postgres://app:secret@127.0.0.1/shop", schema, "orders-log")?;
/// sink.apply(&[
///     Change::upsert("o-1", 2, json!({"total": 5})).at_position(0),
///     Change::upsert("o-1", 1, json!({"total": 1})).at_position(1), // older: no effect
///     Change::delete("o-2", 2).at_position(2),
/// ])?;
/// assert_eq!(sink.snapshot()?["o-1"], json!({"total": 5}));
/// assert_eq!(sink.checkpoint(), 3); // a restarted source resumes at position 3
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PostgresSink {
    name: String,
    source: String,
    schema: PostgresSchema,
    config: postgres::Config,
    /// `None`: plain TCP (or the Unix socket).
    tls: Option<PostgresTls>,
    /// `user@host:port/dbname`, for errors.
    server: String,
    apply_sql: String,
    state: Mutex<State>,
}

impl PostgresSink {
    /// Connects with a libpq connection string (`postgres://user:password@host:port/dbname`
    /// or `host=… user=… password=…`), creates the tables of `schema` if they are missing, and
    /// reads the checkpoint recorded for `source` (the name under which this sink records
    /// positions; use the source's name).
    ///
    /// TLS: `sslmode=require` in the string connects with TLS, verifying the server's
    /// certificate against the system's trust store ([`PostgresTls::native_roots`]); otherwise
    /// (`disable`, or `prefer`, the default) the connection is plain. For a private CA, use
    /// [`connect_tls`](Self::connect_tls).
    ///
    /// # Errors
    ///
    /// [`PostgresError::Url`] (shown without its password), [`PostgresError::Connect`] (an
    /// unreachable server, a refused login, a failed TLS handshake), [`PostgresError::Postgres`]
    /// (creating the tables), [`PostgresError::Tls`] (`sslmode=require` and no usable system
    /// trust store).
    ///
    /// ```no_run
    /// use mqsync::sync::{PostgresSchema, PostgresSink};
    ///
    /// let sink = PostgresSink::connect(
    ///     "host=127.0.0.1 user=app password=secret dbname=shop",
    ///     PostgresSchema::builder("orders").build()?,
    ///     "orders-log",
    /// )?;
    /// println!("resume at {}", sink.checkpoint());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect(url: &str, schema: PostgresSchema, source: &str) -> Result<Self, PostgresError> {
        Self::with_config(parse(url)?, schema, source)
    }

    /// [`connect`](Self::connect) over TLS, trusting what `tls` trusts. TLS is required:
    /// `sslmode=prefer` (the default) is taken as `require`, so a server that declines TLS
    /// gets no login; `sslmode=disable`, or a Unix socket among the hosts (PostgreSQL offers
    /// no TLS there), is a [`PostgresError::Tls`].
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect); a server certificate that `tls` does not trust, or
    /// whose name is not the host connected to, fails the handshake with
    /// [`PostgresError::Connect`].
    ///
    /// ```no_run
    /// use mqsync::sync::{PostgresSchema, PostgresSink, PostgresTls};
    ///
    /// let tls = PostgresTls::from_ca_pem(&std::fs::read("/etc/mqsync/db-ca.pem")?)?;
    /// let sink = PostgresSink::connect_tls(
    ///     "postgres://app:secret@db.internal:5432/shop",
    ///     tls,
    ///     PostgresSchema::builder("orders").build()?,
    ///     "orders-log",
    /// )?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect_tls(
        url: &str,
        tls: PostgresTls,
        schema: PostgresSchema,
        source: &str,
    ) -> Result<Self, PostgresError> {
        Self::with_config_tls(parse(url)?, tls, schema, source)
    }

    /// [`connect`](Self::connect) with a [`postgres::Config`] built in code. Without a
    /// connect timeout in `config`, 10 s is used (libpq's default waits forever); without a
    /// keepalive idle time (the client's default is two hours) or a TCP user timeout, 30 s each,
    /// so that a connection to a server that vanished without a word fails within about a
    /// minute instead of hanging a worker.
    ///
    /// ```no_run
    /// use mqsync::sync::{PostgresSchema, PostgresSink};
    ///
    /// let mut config = postgres::Config::new();
    /// config.host("127.0.0.1").user("app").password("secret").dbname("shop");
    /// let sink = PostgresSink::with_config(config, PostgresSchema::builder("orders").build()?, "log")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_config(
        config: postgres::Config,
        schema: PostgresSchema,
        source: &str,
    ) -> Result<Self, PostgresError> {
        let tls = match config.get_ssl_mode() {
            SslMode::Disable | SslMode::Prefer => None,
            // `require`, and any mode a later client adds (`SslMode` is non-exhaustive): TLS.
            _ => Some(PostgresTls::native_roots()?),
        };
        Self::open(config, tls, schema, source)
    }

    /// [`with_config`](Self::with_config) over TLS, as [`connect_tls`](Self::connect_tls).
    ///
    /// ```no_run
    /// use mqsync::sync::{PostgresSchema, PostgresSink, PostgresTls};
    ///
    /// let mut config = postgres::Config::new();
    /// config.host("db.internal").user("app").password("secret").dbname("shop");
    /// let tls = PostgresTls::native_roots()?;
    /// let sink =
    ///     PostgresSink::with_config_tls(config, tls, PostgresSchema::builder("orders").build()?, "log")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_config_tls(
        mut config: postgres::Config,
        tls: PostgresTls,
        schema: PostgresSchema,
        source: &str,
    ) -> Result<Self, PostgresError> {
        if config
            .get_hosts()
            .iter()
            .any(|host| matches!(host, postgres::config::Host::Unix(_)))
        {
            return Err(PostgresError::Tls {
                reason: "PostgreSQL offers no TLS on a Unix socket: connect over TCP, or \
                         without TLS"
                    .to_owned(),
            });
        }
        match config.get_ssl_mode() {
            SslMode::Disable => {
                return Err(PostgresError::Tls {
                    reason: "sslmode=disable contradicts the TLS configuration given".to_owned(),
                })
            }
            // `prefer` would fall back to plain TCP if the server (or whoever answers) declines.
            _ => {
                config.ssl_mode(SslMode::Require);
            }
        }
        Self::open(config, Some(tls), schema, source)
    }

    fn open(
        mut config: postgres::Config,
        tls: Option<PostgresTls>,
        schema: PostgresSchema,
        source: &str,
    ) -> Result<Self, PostgresError> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        // `keepalives_idle` has no "unset": the client's default is taken as unset.
        if config.get_keepalives_idle() == postgres::Config::new().get_keepalives_idle() {
            config.keepalives_idle(DEFAULT_SOCKET_TIMEOUT);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(DEFAULT_SOCKET_TIMEOUT);
        }
        let sink = PostgresSink {
            name: format!("postgres:{}", schema.table()),
            source: source.to_owned(),
            server: describe(&config),
            apply_sql: schema.apply_sql(),
            schema,
            config,
            tls,
            state: Mutex::new(State {
                link: None,
                next: 0,
                above: BTreeSet::new(),
                backoff: Duration::ZERO,
                failed_at: None,
            }),
        };
        let mut client = sink.open_client()?;
        client.batch_execute(&sink.schema.create_sql())?;
        let mut link = sink.prepare(client)?;
        let stored = sink.read_checkpoint(&mut link.client)?;
        {
            let mut state = sink.lock();
            state.next = stored;
            state.link = Some(link);
        }
        Ok(sink)
    }

    /// The resume position: every change of the source at a position below it is in the table
    /// (as committed). A source restarted after a crash starts here.
    ///
    /// ```no_run
    /// # fn demo(sink: &mqsync::sync::PostgresSink) {
    /// let resume_at = sink.checkpoint();
    /// # }
    /// ```
    pub fn checkpoint(&self) -> u64 {
        self.lock().next
    }

    /// The name this sink records its checkpoint under.
    ///
    /// ```no_run
    /// # fn demo(sink: &mqsync::sync::PostgresSink) {
    /// assert_eq!(sink.source(), "orders-log");
    /// # }
    /// ```
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Marks `positions` as done without writing data: for changes that were dead-lettered
    /// for this sink, so that the checkpoint can pass them. Until they are settled, the
    /// checkpoint stops below them and a restart replays from there (harmless, just longer).
    ///
    /// ```no_run
    /// # fn demo(sink: &mqsync::sync::PostgresSink) -> Result<(), mqsync::sync::PostgresError> {
    /// sink.settle(&[0])?; // position 0 was dead-lettered
    /// # Ok(())
    /// # }
    /// ```
    pub fn settle(&self, positions: &[u64]) -> Result<(), PostgresError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        // Reconnect (which may move `next`) before computing from `next`.
        self.ensure_link(state)?;
        let mut fresh: Vec<u64> = positions
            .iter()
            .copied()
            .filter(|&p| p >= state.next)
            .collect();
        let next = advance(state.next, &state.above, &mut fresh);
        if next != state.next {
            let position = to_bigint(next)?;
            self.with_link(state, |link| {
                link.client.execute(
                    &self.schema.checkpoint_write_sql(),
                    &[&self.source, &self.schema.table(), &position],
                )
            })?;
        }
        remember(state, fresh, next);
        Ok(())
    }

    /// Every live row (tombstones left out): key → body.
    ///
    /// ```no_run
    /// # fn demo(sink: &mqsync::sync::PostgresSink) -> Result<(), mqsync::sync::PostgresError> {
    /// for (key, body) in sink.snapshot()? {
    ///     println!("{key}: {body}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn snapshot(&self) -> Result<BTreeMap<String, serde_json::Value>, PostgresError> {
        let mut guard = self.lock();
        let rows = self.with_link(&mut guard, |link| {
            link.client.query(&self.schema.snapshot_sql(), &[])
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            let key: String = row.try_get(0)?;
            let body: Option<String> = row.try_get(1)?;
            let value = match body {
                None => serde_json::Value::Null,
                Some(text) => {
                    serde_json::from_str(&text).map_err(|source| PostgresError::Body {
                        key: key.clone(),
                        source,
                    })?
                }
            };
            out.insert(key, value);
        }
        Ok(out)
    }

    /// The connection's state, also after a panic elsewhere while it was held (memory is
    /// updated only after a commit).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open_client(&self) -> Result<Client, PostgresError> {
        match &self.tls {
            Some(tls) => self.config.connect(tls.connector()),
            None => self.config.connect(NoTls),
        }
        .map_err(|source| PostgresError::Connect {
            server: self.server.clone(),
            source,
        })
    }

    fn prepare(&self, mut client: Client) -> Result<Link, PostgresError> {
        let apply = client.prepare(&self.apply_sql)?;
        Ok(Link { client, apply })
    }

    /// The committed checkpoint of this source in this table (0 if none).
    fn read_checkpoint(&self, client: &mut Client) -> Result<u64, PostgresError> {
        let row = client.query_opt(
            &self.schema.checkpoint_read_sql(),
            &[&self.source, &self.schema.table()],
        )?;
        let stored: Option<i64> = row.map(|r| r.try_get(0)).transpose()?;
        Ok(stored.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }

    /// The live link, reconnecting first if it was lost (after the backoff of a failed
    /// reconnect). A reconnect reads the checkpoint on the new connection *before* keeping
    /// it, and takes the server's value as the truth (see the essay).
    fn ensure_link(&self, state: &mut State) -> Result<(), PostgresError> {
        if state.link.as_ref().is_some_and(|l| !l.client.is_closed()) {
            return Ok(());
        }
        state.link = None;
        if let Some(failed_at) = state.failed_at {
            let wait = state.backoff.saturating_sub(failed_at.elapsed());
            std::thread::sleep(wait);
        }
        let reconnected = self
            .open_client()
            .and_then(|c| self.prepare(c))
            .and_then(|mut link| {
                let stored = self.read_checkpoint(&mut link.client)?;
                let above: BTreeSet<u64> = state.above.range(stored..).copied().collect();
                let next = advance(stored, &above, &mut []);
                if next != stored {
                    link.client.execute(
                        &self.schema.checkpoint_write_sql(),
                        &[&self.source, &self.schema.table(), &to_bigint(next)?],
                    )?;
                }
                Ok((link, above, next))
            });
        match reconnected {
            Ok((link, above, next)) => {
                state.above = above;
                remember(state, Vec::new(), next);
                state.link = Some(link);
                state.backoff = Duration::ZERO;
                state.failed_at = None;
                #[cfg(feature = "tracing")]
                tracing::info!(server = %self.server, "postgres sink reconnected");
                Ok(())
            }
            Err(e) => {
                state.backoff = (state.backoff * 2).clamp(MIN_BACKOFF, MAX_BACKOFF);
                state.failed_at = Some(Instant::now());
                Err(e)
            }
        }
    }

    /// Runs `f` on the live link (reconnecting first if needed); drops the link when the
    /// connection broke under `f`.
    ///
    /// A reconnect reads the checkpoint back and may move `next`: a caller that computes
    /// from `next` calls [`ensure_link`](Self::ensure_link) first, so that nothing moves it
    /// between its computation and its statement.
    fn with_link<T>(
        &self,
        state: &mut State,
        f: impl FnOnce(&mut Link) -> Result<T, postgres::Error>,
    ) -> Result<T, PostgresError> {
        self.ensure_link(state)?;
        let link = state.link.as_mut().expect("ensure_link leaves a link");
        let result = f(link);
        if let Err(error) = &result {
            // The server may end the session before the client has seen the socket close
            // (`pg_terminate_backend`, a shutdown: SQLSTATE 57P01–57P05, or class 08): the link
            // is dead either way, and the next call reconnects instead of failing once more.
            let ended = error.code().is_some_and(|code| {
                let code = code.code();
                code.starts_with("08") || code.starts_with("57P")
            });
            if ended || error.is_closed() || link.client.is_closed() {
                state.link = None;
            }
        }
        Ok(result?)
    }
}

/// One key's outcome in a batch: the change that applying the key's changes in order would
/// leave in the table, and whether it must be written whatever the table holds.
struct Winner<'a> {
    change: &'a Change,
    version: Option<i64>,
    /// A versionless change of this key came in this batch: applied in order it would have
    /// replaced the row unconditionally, and `change` was then folded against it, so `change`
    /// is what the row becomes.
    forced: bool,
}

/// Arrays bound to one `UNNEST` upsert.
#[derive(Default)]
struct Rows<'a> {
    keys: Vec<&'a str>,
    versions: Vec<Option<i64>>,
    bodies: Vec<Option<String>>,
    deleted: Vec<bool>,
}

impl<'a> Rows<'a> {
    fn push(&mut self, winner: &Winner<'a>) {
        self.keys.push(&winner.change.key);
        self.versions.push(winner.version);
        match &winner.change.op {
            Op::Upsert(value) => {
                self.bodies.push(Some(value.to_string()));
                self.deleted.push(false);
            }
            Op::Delete => {
                self.bodies.push(None);
                self.deleted.push(true);
            }
        }
    }
}

/// Folds `batch` into one winner per key, in key order (a fixed lock order, so two sinks on one
/// table do not deadlock each other). Applying changes in order is a fold with
/// [`Change::supersedes`]: without versionless changes the rule is a total order, so the fold
/// is the maximum, and `max(table, max(batch))` is what in-order application leaves. A
/// versionless change always applies, so from there on the row is whatever the fold says
/// (`forced`).
fn winners<'a>(valid: &[(&'a Change, Option<i64>)]) -> BTreeMap<&'a str, Winner<'a>> {
    let mut out: BTreeMap<&str, Winner<'_>> = BTreeMap::new();
    for &(change, version) in valid {
        match out.get_mut(change.key.as_str()) {
            None => {
                out.insert(
                    &change.key,
                    Winner {
                        change,
                        version,
                        forced: change.version.is_none(),
                    },
                );
            }
            Some(held) => {
                let current = held.change.version.as_ref().map(|v| (v, &held.change.op));
                if change.supersedes(current) {
                    held.forced |= change.version.is_none();
                    held.change = change;
                    held.version = version;
                }
            }
        }
    }
    out
}

impl Sink for PostgresSink {
    fn name(&self) -> &str {
        &self.name
    }

    /// One statement: every valid change (one winner per key) and the checkpoint, or nothing
    /// ([`SinkError::Postgres`]; a lost connection is retriable and reconnects on the next
    /// call). Changes whose version or position does not fit a `bigint` (a position must be
    /// below `i64::MAX`, so that the checkpoint past it fits), or whose key holds a NUL
    /// character (PostgreSQL text cannot), fail alone, fatally ([`SinkError::Rejected`]); the
    /// others are applied. A checkpoint that would not fit (positions settled up to
    /// `i64::MAX`) fails the batch fatally, with nothing written.
    fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
        let mut failed = Vec::new();
        let mut valid = Vec::with_capacity(batch.len());
        for (i, change) in batch.iter().enumerate() {
            let checked = change
                .version
                .map(to_bigint)
                .transpose()
                .and_then(|v| change.position.map(to_position).transpose().map(|_| v));
            match checked {
                Ok(_) if change.key.contains('\0') => {
                    failed.push((i, "the key holds a NUL character".to_owned()))
                }
                Ok(version) => valid.push((change, version)),
                Err(e) => failed.push((i, e.to_string())),
            }
        }
        let (mut versioned, mut forced) = (Rows::default(), Rows::default());
        for winner in winners(&valid).values() {
            if winner.forced {
                forced.push(winner);
            } else {
                versioned.push(winner);
            }
        }
        let mut guard = self.lock();
        let state = &mut *guard;
        // Reconnect (which may move `next`) before computing from `next`.
        if let Err(e) = self.ensure_link(state) {
            return Err(SinkError::batch(e));
        }
        let mut fresh: Vec<u64> = valid
            .iter()
            .filter_map(|(c, _)| c.position)
            .filter(|&p| p >= state.next)
            .collect();
        let next = advance(state.next, &state.above, &mut fresh);
        let write_checkpoint = next != state.next;
        // Positions were checked to be below `i64::MAX`, but settled ones were not: checked.
        let position = match to_bigint(next) {
            Ok(position) => position,
            Err(e) => return Err(SinkError::fatal(e)),
        };
        let written = self.with_link(state, |link| {
            link.client.execute(
                &link.apply,
                &[
                    &versioned.keys,
                    &versioned.versions,
                    &versioned.bodies,
                    &versioned.deleted,
                    &forced.keys,
                    &forced.versions,
                    &forced.bodies,
                    &forced.deleted,
                    &self.source,
                    &self.schema.table(),
                    &position,
                    &write_checkpoint,
                ],
            )
        });
        match written {
            Ok(_) => remember(state, fresh, next),
            Err(PostgresError::Postgres(e)) => return Err(SinkError::Postgres(e)),
            Err(e) => return Err(SinkError::batch(e)),
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(SinkError::Rejected(failed))
        }
    }
}

impl fmt::Debug for PostgresSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresSink")
            .field("server", &self.server)
            .field("table", &self.schema.table())
            .field("source", &self.source)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for PostgresSink {
    /// `postgres:<table> at user@host:port/dbname`, without the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.name, self.server)
    }
}

/// `url` parsed; an error shows it without its password.
fn parse(url: &str) -> Result<postgres::Config, PostgresError> {
    url.parse()
        .map_err(|e: postgres::Error| PostgresError::Url {
            url: redact(url),
            reason: scrub(&crate::sync::error_chain(&e), url),
        })
}

/// `user@host:port/dbname` (every host and port, comma-separated), without the password.
fn describe(config: &postgres::Config) -> String {
    use postgres::config::Host;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "{}@{}:{}/{}",
        config.get_user().unwrap_or(""),
        if hosts.is_empty() {
            "localhost".to_owned()
        } else {
            hosts.join(",")
        },
        if ports.is_empty() {
            "5432".to_owned()
        } else {
            ports.join(",")
        },
        config.get_dbname().unwrap_or("")
    )
}

/// The resume position once `fresh` (positions at or above `next`) are in the table too, from
/// `next` and `above` (positions at or above `next` already there). Sorts `fresh`.
fn advance(mut next: u64, above: &BTreeSet<u64>, fresh: &mut [u64]) -> u64 {
    fresh.sort_unstable();
    while above.contains(&next) || fresh.binary_search(&next).is_ok() {
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

fn to_bigint(n: u64) -> Result<i64, PostgresError> {
    i64::try_from(n).map_err(|_| PostgresError::TooLarge(n))
}

/// A change's position, refused unless the checkpoint past it (`position + 1`) fits a
/// `bigint` too.
fn to_position(position: u64) -> Result<i64, PostgresError> {
    let bound = position
        .checked_add(1)
        .ok_or(PostgresError::TooLarge(position))?;
    to_bigint(bound).map_err(|_| PostgresError::TooLarge(position))?;
    to_bigint(position)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::Replica;
    use serde_json::json;

    /// In-order application through a replica vs the fold, from every starting row.
    #[test]
    fn the_fold_is_what_in_order_application_leaves() {
        let mut changes = Vec::new();
        for v in 0..3u64 {
            changes.push(Change::upsert("k", v, json!(v)));
            changes.push(Change::upsert("k", v, json!(v + 10)));
            changes.push(Change::delete("k", v));
        }
        let mut versionless = Change::upsert("k", 0, json!("none"));
        versionless.version = None;
        versionless.id = "none".into();
        changes.push(versionless);
        let n = changes.len();
        for start in 0..n {
            for a in 0..n {
                for b in 0..n {
                    // Unique ids: the replica deduplicates versionless changes by id, the
                    // sink (like the SQLite sink) leaves that to the engine.
                    let with_id = |i: usize, tag: &str| {
                        let mut c = changes[i].clone();
                        c.id = format!("{tag}-{start}-{a}-{b}");
                        c
                    };
                    let batch = [with_id(a, "a"), with_id(b, "b")];
                    let first = with_id(start, "start");
                    let replica = Replica::new();
                    replica.apply(&first);
                    for c in &batch {
                        replica.apply(c);
                    }
                    let valid: Vec<_> = batch
                        .iter()
                        .map(|c| (c, c.version.map(|v| v as i64)))
                        .collect();
                    let fold = winners(&valid);
                    let winner = &fold["k"];
                    let model = Replica::new();
                    model.apply(&first);
                    if winner.forced {
                        let fresh = Replica::new();
                        fresh.apply(winner.change);
                        assert_eq!(replica.snapshot(), fresh.snapshot(), "{start} {a} {b}");
                    } else {
                        model.apply(winner.change);
                        assert_eq!(replica.snapshot(), model.snapshot(), "{start} {a} {b}");
                    }
                }
            }
        }
    }
}
