//! The PostgreSQL sink against a real server (a private cluster per test, started by the tests
//! on a free loopback port in a temporary directory): the SQL version rule agrees with
//! `Change::supersedes` in any order and with duplicate keys in a batch, the checkpoint is
//! written with the rows and resumes a reopened sink, the server restarted or SIGKILLed
//! mid-burst under the engine loses nothing, refused logins, an unreachable server and bad
//! identifiers give clear errors without the password, and a TLS-only server takes the sink over
//! TLS (through a restart) and refuses plain logins, untrusted certificates and wrong names.
//!
//! Needs PostgreSQL's `initdb` and `postgres` (on PATH or in `/usr/lib/postgresql/*/bin`:
//! `apt-get install -y postgresql-15`); with `MQSYNC_SKIP_POSTGRES=1` the tests that need them
//! are skipped, loudly.
#![cfg(all(feature = "postgres", feature = "testing"))]

use mqsync::sync::postgres_testing::{PostgresServer, INSTALL_HINT, USER};
use mqsync::sync::{
    error_chain, Change, DataSync, PostgresError, PostgresSchema, PostgresSink, PostgresTls,
    ReplaySource, Replica, RetryPolicy, Sink, SinkError, SinkErrorKind,
};
use mqsync::ConfigError;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

mod stress;
use stress::Rng;

/// A server for one test, or `None` (skipped, loudly) when `MQSYNC_SKIP_POSTGRES=1` and there
/// is no PostgreSQL.
fn server() -> Option<PostgresServer> {
    started(PostgresServer::start)
}

/// As [`server`], TLS-only ([`PostgresServer::start_tls`]).
fn tls_server() -> Option<PostgresServer> {
    started(PostgresServer::start_tls)
}

fn started(start: fn() -> std::io::Result<PostgresServer>) -> Option<PostgresServer> {
    if !PostgresServer::available() {
        if std::env::var("MQSYNC_SKIP_POSTGRES").as_deref() == Ok("1") {
            // Straight to the process's stderr: the test harness does not capture this, so the
            // skip shows even when the test passes.
            let _ = std::io::stderr().write_all(
                b"\n!!!!!!!! SKIPPED: PostgreSQL's initdb was not found and MQSYNC_SKIP_POSTGRES=1 \
                  -- this PostgreSQL test did NOT run !!!!!!!!\n",
            );
            return None;
        }
        panic!(
            "PostgreSQL's initdb is neither on PATH nor in /usr/lib/postgresql/*/bin: install it \
             with `{INSTALL_HINT}` (or set MQSYNC_SKIP_POSTGRES=1 to skip the PostgreSQL tests)"
        );
    }
    Some(start().expect("start postgres"))
}

fn schema(table: &str) -> PostgresSchema {
    PostgresSchema::builder(table).build().unwrap()
}

fn sink(server: &PostgresServer, table: &str) -> PostgresSink {
    PostgresSink::connect(&server.url(), schema(table), "log").unwrap()
}

/// A deterministic log: upserts and deletes over `keys` keys with rising versions, some
/// same-version ties, and some stale versions.
fn log(len: u64, keys: u64) -> Vec<Change> {
    let mut rng = Rng::with_seed(0x9E37_79B9_7F4A_7C15);
    let mut next = || rng.u64(..);
    (0..len)
        .map(|i| {
            let key = format!("k{}", next() % keys);
            let version = i / 2 + next() % 3; // ties and stale versions on purpose
            if next() % 7 == 0 {
                Change::delete(key, version)
            } else {
                Change::upsert(key, version, json!({"i": i, "v": version}))
            }
        })
        .collect()
}

/// What every idempotent target ends with: the replica's rule, applied in log order.
fn expected(log: &[Change]) -> BTreeMap<String, serde_json::Value> {
    let replica = Replica::new();
    for c in log {
        replica.apply(c);
    }
    replica.snapshot()
}

/// Per key of `log`, deletes included: the version and whether it is a tombstone, as in-order
/// application leaves them (the replica's rule).
fn expected_versions(log: &[Change]) -> BTreeMap<String, (Option<u64>, bool)> {
    let replica = Replica::new();
    for c in log {
        replica.apply(c);
    }
    log.iter()
        .map(|c| {
            let key = &c.key;
            (
                key.clone(),
                (replica.version(key), replica.get(key).is_none()),
            )
        })
        .collect()
}

/// Every row of `table` (default columns), tombstones included: key → (version, deleted).
fn stored_versions(url: &str, table: &str) -> BTreeMap<String, (Option<u64>, bool)> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .query(
            &format!("SELECT key, version, deleted FROM \"{table}\""),
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| {
            let version: Option<i64> = row.get(1);
            (
                row.get(0),
                (version.map(|v| u64::try_from(v).unwrap()), row.get(2)),
            )
        })
        .collect()
}

// ---- the version rule -----------------------------------------------------------------------

#[test]
fn sql_version_check_matches_supersedes_in_any_order() {
    let Some(server) = server() else { return };
    let changes = log(2_000, 60);
    let want = expected(&changes);
    // Reversed in batches of 7, then in order in batches of 50 (many duplicate keys per
    // batch), then everything again: order, duplicates and replays must not matter.
    let sink = sink(&server, "entities");
    let mut reversed = changes.clone();
    reversed.reverse();
    for batch in reversed.chunks(7).chain(changes.chunks(50)) {
        sink.apply(batch).unwrap();
    }
    assert_eq!(sink.snapshot().unwrap(), want);
    let versions = expected_versions(&changes);
    assert_eq!(stored_versions(&server.url(), "entities"), versions);
    // One change at a time, in log order, into a second table: the same state.
    let one_by_one = PostgresSink::connect(&server.url(), schema("one_by_one"), "log2").unwrap();
    for c in &changes {
        one_by_one.apply(std::slice::from_ref(c)).unwrap();
    }
    assert_eq!(one_by_one.snapshot().unwrap(), want);
    assert_eq!(stored_versions(&server.url(), "one_by_one"), versions);
    // The whole log as one batch (every key many times over): still the same state.
    let whole = PostgresSink::connect(&server.url(), schema("whole"), "log3").unwrap();
    whole.apply(&changes).unwrap();
    assert_eq!(whole.snapshot().unwrap(), want);
    assert_eq!(stored_versions(&server.url(), "whole"), versions);
}

#[test]
fn older_and_equal_versions_are_ignored_and_deletes_leave_tombstones() {
    let Some(server) = server() else { return };
    let sink = sink(&server, "entities");
    sink.apply(&[Change::upsert("a", 5, json!({"n": 5}))])
        .unwrap();
    sink.apply(&[Change::upsert("a", 4, json!({"n": 4}))])
        .unwrap(); // older
    sink.apply(&[Change::upsert("a", 5, json!({"n": 0}))])
        .unwrap(); // equal, smaller text
    assert_eq!(sink.snapshot().unwrap()["a"], json!({"n": 5}));
    sink.apply(&[Change::upsert("a", 5, json!({"n": 9}))])
        .unwrap(); // equal, greater text
    assert_eq!(sink.snapshot().unwrap()["a"], json!({"n": 9}));
    sink.apply(&[Change::delete("a", 6)]).unwrap();
    sink.apply(&[Change::upsert("a", 6, json!({"n": 6}))])
        .unwrap(); // equal: delete wins
    sink.apply(&[Change::upsert("a", 3, json!({"n": 3}))])
        .unwrap(); // no resurrection
    assert!(sink.snapshot().unwrap().is_empty());
    let mut client = server.client().unwrap();
    let row = client
        .query_one(
            "SELECT version, body, deleted FROM entities WHERE key = 'a'",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, Option<i64>>(0), Some(6));
    assert_eq!(row.get::<_, Option<String>>(1), None);
    assert!(row.get::<_, bool>(2), "a tombstone row");
    sink.apply(&[Change::upsert("a", 7, json!({"n": 7}))])
        .unwrap(); // newer: back
    assert_eq!(sink.snapshot().unwrap()["a"], json!({"n": 7}));
}

#[test]
fn duplicate_keys_in_one_batch_end_as_in_order_application() {
    let Some(server) = server() else { return };
    let sink = sink(&server, "entities");
    let mut versionless = Change::upsert("v", 0, json!("versionless"));
    versionless.version = None;
    versionless.id = "v-none".into();
    let batch = [
        Change::upsert("a", 2, json!(2)),
        Change::upsert("a", 3, json!(3)),
        Change::upsert("a", 1, json!(1)),
        Change::delete("b", 4),
        Change::upsert("b", 4, json!("b")),
        Change::upsert("c", 1, json!("c")),
        Change::delete("c", 1),
        // v: a high version first, then a versionless change (always applies), then a lower
        // version (applies over the versionless row): in order, the row ends at version 2.
        Change::upsert("v", 9, json!(9)),
        versionless,
        Change::upsert("v", 2, json!(2)),
    ];
    let first = Change::upsert("v", 5, json!(5));
    sink.apply(std::slice::from_ref(&first)).unwrap();
    sink.apply(&batch).unwrap();
    let all: Vec<Change> = std::iter::once(first).chain(batch).collect();
    let want = expected(&all);
    assert_eq!(sink.snapshot().unwrap(), want);
    assert_eq!(
        stored_versions(&server.url(), "entities"),
        expected_versions(&all)
    );
    assert_eq!(
        want["v"],
        json!(2),
        "the model itself: in-order application"
    );
    assert_eq!(want["a"], json!(3));
    assert!(!want.contains_key("b") && !want.contains_key("c"));
}

#[test]
fn too_large_numbers_and_nul_keys_fail_alone() {
    let Some(server) = server() else { return };
    let sink = sink(&server, "entities");
    let err = sink
        .apply(&[
            Change::upsert("ok", 1, json!(1)),
            Change::upsert("big", u64::MAX, json!(1)),
            Change::upsert("nul\0key", 1, json!(1)),
            Change::upsert("far", 1, json!(1)).at_position(u64::MAX),
            // The checkpoint past it would be i64::MAX + 1.
            Change::upsert("edge", 1, json!(1)).at_position(i64::MAX as u64),
        ])
        .unwrap_err();
    match &err {
        SinkError::Rejected(items) => {
            let indices: Vec<usize> = items.iter().map(|(i, _)| *i).collect();
            assert_eq!(indices, [1, 2, 3, 4], "{items:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.kind(), SinkErrorKind::Fatal);
    assert_eq!(sink.snapshot().unwrap().keys().collect::<Vec<_>>(), ["ok"]);
}

// ---- the checkpoint -------------------------------------------------------------------------

#[test]
fn the_checkpoint_is_written_with_the_rows_and_resumes_a_reopened_sink() {
    let Some(server) = server() else { return };
    let changes: Vec<Change> = log(500, 40)
        .into_iter()
        .zip(0u64..)
        .map(|(c, p)| c.at_position(p))
        .collect();
    {
        let sink = sink(&server, "entities");
        assert_eq!(sink.checkpoint(), 0);
        sink.apply(&changes[100..200]).unwrap();
        assert_eq!(sink.checkpoint(), 0, "positions 0..100 are missing");
        sink.apply(&changes[..100]).unwrap();
        assert_eq!(sink.checkpoint(), 200);
        sink.apply(&changes[250..300]).unwrap();
        sink.settle(&[]).unwrap();
        assert_eq!(sink.checkpoint(), 200, "a gap at 200..250");
    }
    // The row on the server says the same as the sink did.
    let mut client = server.client().unwrap();
    let stored: i64 = client
        .query_one(
            "SELECT position FROM mqsync_checkpoint WHERE source = 'log' AND table_name = 'entities'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(stored, 200);
    // Reopened, the sink resumes there; replaying from there reaches the full state.
    let sink = sink(&server, "entities");
    let from = sink.checkpoint() as usize;
    assert_eq!(from, 200);
    for batch in changes[from..].chunks(33) {
        sink.apply(batch).unwrap();
    }
    assert_eq!(sink.checkpoint(), 500);
    assert_eq!(sink.snapshot().unwrap(), expected(&changes));
    assert_eq!(
        stored_versions(&server.url(), "entities"),
        expected_versions(&changes)
    );
    // A dead-lettered position is settled so that the checkpoint can pass it.
    let other = PostgresSink::connect(&server.url(), schema("entities"), "other-log").unwrap();
    other
        .apply(&[Change::delete("z", 1).at_position(1)])
        .unwrap();
    assert_eq!(other.checkpoint(), 0);
    other.settle(&[0]).unwrap();
    assert_eq!(other.checkpoint(), 2);
    let reopened = PostgresSink::connect(&server.url(), schema("entities"), "other-log").unwrap();
    assert_eq!(reopened.checkpoint(), 2);
}

#[test]
fn two_tables_fed_by_one_source_keep_their_own_checkpoints() {
    let Some(server) = server() else { return };
    let changes: Vec<Change> = log(300, 30)
        .into_iter()
        .zip(0u64..)
        .map(|(c, p)| c.at_position(p))
        .collect();
    {
        // One source ("log"), two sinks on two tables sharing the checkpoint table: one ahead
        // (300), one behind (120). Each writes after the other, so a shared row would end at
        // whichever wrote last.
        let ahead = sink(&server, "ahead");
        let behind = sink(&server, "behind");
        for (a, b) in changes.chunks(50).zip(changes[..120].chunks(20)) {
            ahead.apply(a).unwrap();
            behind.apply(b).unwrap();
        }
        assert_eq!((ahead.checkpoint(), behind.checkpoint()), (300, 120));
    }
    let (ahead, behind) = (sink(&server, "ahead"), sink(&server, "behind"));
    assert_eq!(ahead.checkpoint(), 300);
    assert_eq!(
        behind.checkpoint(),
        120,
        "the table behind resumes where it is"
    );
    let mut client = server.client().unwrap();
    let rows: Vec<(String, String, i64)> = client
        .query(
            "SELECT source, table_name, position FROM mqsync_checkpoint ORDER BY table_name",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        rows,
        [
            ("log".into(), "ahead".into(), 300),
            ("log".into(), "behind".into(), 120)
        ]
    );
    // The one behind catches up from its own checkpoint and reaches the full state.
    for batch in changes[behind.checkpoint() as usize..].chunks(40) {
        behind.apply(batch).unwrap();
    }
    assert_eq!(behind.checkpoint(), 300);
    assert_eq!(behind.snapshot().unwrap(), expected(&changes));
    assert_eq!(
        stored_versions(&server.url(), "behind"),
        expected_versions(&changes)
    );
}

// ---- the server goes away ---------------------------------------------------------------------

/// Applies through the inner sink, and after the `after`-th batch has committed, SIGKILLs (or
/// restarts) the server from inside the burst; a thread brings it back.
struct BreakAfter {
    inner: Arc<PostgresSink>,
    server: Arc<Mutex<PostgresServer>>,
    batches: AtomicUsize,
    after: usize,
    kill: bool,
    restarter: Mutex<Option<thread::JoinHandle<()>>>,
}

impl Sink for BreakAfter {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
        self.inner.apply(batch)?;
        if self.batches.fetch_add(1, Ordering::SeqCst) + 1 == self.after {
            let server = Arc::clone(&self.server);
            if self.kill {
                server.lock().unwrap().kill();
                *self.restarter.lock().unwrap() = Some(thread::spawn(move || {
                    thread::sleep(Duration::from_millis(300));
                    server.lock().unwrap().restart().unwrap();
                }));
            } else {
                *self.restarter.lock().unwrap() = Some(thread::spawn(move || {
                    server.lock().unwrap().restart().unwrap();
                }));
            }
        }
        Ok(())
    }
}

fn burst_through_a_broken_server(kill: bool) {
    let Some(server) = server() else { return };
    let url = server.url();
    let server = Arc::new(Mutex::new(server));
    const LEN: u64 = 20_000;
    let changes: Arc<[Change]> = log(LEN, 500).into();
    let inner = Arc::new(PostgresSink::connect(&url, schema("entities"), "log").unwrap());
    let sink = Arc::new(BreakAfter {
        inner: Arc::clone(&inner),
        server: Arc::clone(&server),
        batches: AtomicUsize::new(0),
        after: 40,
        kill,
        restarter: Mutex::new(None),
    });
    let engine = DataSync::builder()
        .source(ReplaySource::new("log", Arc::clone(&changes), 0))
        .sink(Arc::clone(&sink))
        .workers(3)
        .batch_size(64)
        .retry(RetryPolicy::new(
            200,
            Duration::from_millis(5),
            Duration::from_millis(100),
        ))
        .start()
        .unwrap();
    assert!(engine.wait_idle(Duration::from_secs(300)));
    let report = engine.shutdown();
    if let Some(restarter) = sink.restarter.lock().unwrap().take() {
        restarter.join().unwrap();
    }
    assert!(
        sink.batches.load(Ordering::SeqCst) > sink.after,
        "the server went away mid-burst"
    );
    assert!(
        report.metrics.retries > 0,
        "the lost server was seen and retried"
    );
    assert_eq!(
        report.metrics.dead_lettered,
        0,
        "{:?}",
        report.dead_letters.first()
    );
    assert_eq!(inner.checkpoint(), LEN);
    assert_eq!(inner.snapshot().unwrap(), expected(&changes));
    assert_eq!(
        stored_versions(&url, "entities"),
        expected_versions(&changes)
    );
    // And what the server holds, read by a fresh sink, is the same.
    let reopened = PostgresSink::connect(&url, schema("entities"), "log").unwrap();
    assert_eq!(reopened.checkpoint(), LEN);
    assert_eq!(reopened.snapshot().unwrap(), expected(&changes));
}

#[test]
fn a_server_restarted_mid_burst_loses_nothing() {
    burst_through_a_broken_server(false);
}

#[test]
fn a_server_killed_mid_burst_loses_nothing() {
    burst_through_a_broken_server(true);
}

#[test]
fn a_server_that_stays_down_fails_batches_retriably_and_the_engine_dead_letters() {
    let Some(mut server) = server() else { return };
    let password = server.password().to_owned();
    let sink = Arc::new(sink(&server, "entities"));
    server.kill();
    let err = sink.apply(&log(3, 3)).unwrap_err();
    assert!(err.is_retriable(), "{err:?}");
    assert!(
        !error_chain(&err).contains(password.as_str()),
        "{}",
        error_chain(&err)
    );
    // The next call reconnects, fails again, retriably, naming the server.
    let err = sink.apply(&log(3, 3)).unwrap_err();
    assert!(err.is_retriable(), "{err:?}");
    let chain = error_chain(&err);
    assert!(
        chain.contains("cannot connect to PostgreSQL at mqsync@127.0.0.1"),
        "{chain}"
    );
    assert!(!chain.contains(password.as_str()), "{chain}");
    // Through an engine: retried, then dead-lettered with the reason; never dropped.
    let changes = log(4, 4);
    let engine = DataSync::builder()
        .source(mqsync::sync::IterSource::new("seed", changes.clone()))
        .sink(Arc::clone(&sink))
        .retry(RetryPolicy::new(2, Duration::ZERO, Duration::ZERO))
        .start()
        .unwrap();
    assert!(engine.wait_idle(Duration::from_secs(120)));
    let report = engine.shutdown();
    assert_eq!(report.metrics.dead_lettered, 4);
    assert!(report.metrics.retries > 0);
    for letter in &report.dead_letters {
        assert_eq!(letter.sink, "postgres:entities");
        assert!(letter.reason.contains("PostgreSQL"), "{}", letter.reason);
        assert!(
            !letter.reason.contains(password.as_str()),
            "{}",
            letter.reason
        );
    }
    // The server comes back: the same sink reconnects on its next batch.
    server.restart().unwrap();
    sink.apply(&[Change::upsert("back", 1, json!(1))]).unwrap();
    assert_eq!(sink.snapshot().unwrap()["back"], json!(1));
}

// ---- refused connections and configuration -----------------------------------------------------

#[test]
fn a_wrong_password_and_an_unreachable_server_give_clear_errors_without_the_password() {
    let Some(mut server) = server() else { return };
    let password = server.password().to_owned();
    let wrong = "Wr0ng-Pa55word";
    let err = PostgresSink::connect(&server.url_for(USER, wrong), schema("t"), "log").unwrap_err();
    let text = format!("{err} | {err:?} | {}", error_chain(&err));
    assert!(matches!(err, PostgresError::Connect { .. }), "{text}");
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(
        text.contains(&format!("{USER}@127.0.0.1:{}", server.port())),
        "{text}"
    );
    assert!(!text.contains(wrong), "{text}");

    let url = server.url();
    server.kill();
    let err = PostgresSink::connect(&url, schema("t"), "log").unwrap_err();
    let text = format!("{err} | {err:?} | {}", error_chain(&err));
    assert!(matches!(err, PostgresError::Connect { .. }), "{text}");
    assert!(text.contains("cannot connect to PostgreSQL"), "{text}");
    assert!(!text.contains(password.as_str()), "{text}");

    // A connection string that does not parse is shown redacted, in both forms.
    for bad in [
        format!("postgres://{USER}:{password}@127.0.0.1:notaport/db"),
        format!("host=127.0.0.1 password={password} port=notaport"),
    ] {
        let err = PostgresSink::connect(&bad, schema("t"), "log").unwrap_err();
        let text = format!("{err} | {err:?} | {}", error_chain(&err));
        assert!(matches!(err, PostgresError::Url { .. }), "{text}");
        assert!(text.contains("***"), "{text}");
        assert!(!text.contains(password.as_str()), "{text}");
    }
}

#[test]
fn debug_and_display_never_print_the_password() {
    let Some(server) = server() else { return };
    let password = server.password();
    let sink = sink(&server, "entities");
    let text = format!("{sink} | {sink:?}");
    assert!(text.contains("postgres:entities"), "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{}", server.port())),
        "{text}"
    );
    assert!(!text.contains(password), "{text}");
}

#[test]
fn custom_columns_work_and_bad_identifiers_are_refused_before_connecting() {
    let Some(server) = server() else { return };
    let custom = PostgresSchema::builder("Orders")
        .key_column("order_id")
        .version_column("rev")
        .body_column("doc")
        .deleted_column("gone")
        .updated_at_column("ts")
        .checkpoint_table("cp")
        .build()
        .unwrap();
    let sink = PostgresSink::connect(&server.url(), custom, "orders").unwrap();
    sink.apply(&[
        Change::upsert("o1", 1, json!({"t": 1})).at_position(0),
        Change::delete("o2", 1).at_position(1),
    ])
    .unwrap();
    let mut client = server.client().unwrap();
    let rows = client
        .query(
            "SELECT order_id, rev, gone FROM \"Orders\" ORDER BY order_id",
            &[],
        )
        .unwrap();
    let rows: Vec<(String, i64, bool)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(rows, [("o1".into(), 1, false), ("o2".into(), 1, true)]);
    let cp: i64 = client
        .query_one(
            "SELECT position FROM cp WHERE source = 'orders' AND table_name = 'Orders'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(cp, 2);
    for bad in ["id; DROP TABLE x", "1id", "a\"b", ""] {
        let err = PostgresSchema::builder("t")
            .key_column(bad)
            .build()
            .unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { field: "key_column", value, .. } if value == bad),
            "{err}"
        );
    }
    let err = PostgresSchema::builder("t")
        .version_column("key")
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "version_column");
}

// ---- TLS ------------------------------------------------------------------------------------

#[test]
fn a_tls_only_server_takes_the_sink_over_tls_through_a_restart_and_refuses_plain_logins() {
    let Some(mut server) = tls_server() else {
        return;
    };
    let password = server.password().to_owned();
    let tls = PostgresTls::from_ca_pem(server.ca_pem().unwrap()).unwrap();
    // The server's pg_hba.conf has `hostssl` lines only: any TCP login is a TLS one.
    let sink = PostgresSink::connect_tls(&server.url(), tls.clone(), schema("entities"), "log")
        .unwrap_or_else(|e| panic!("{}", error_chain(&e)));
    let changes: Vec<Change> = log(300, 40)
        .into_iter()
        .enumerate()
        .map(|(i, c)| c.at_position(i as u64))
        .collect();
    let (first, second) = changes.split_at(150);
    sink.apply(first).unwrap();
    // And the server says so for the sink's own connection (the only other backend).
    let mut client = server.client().unwrap();
    let plain: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity a LEFT JOIN pg_stat_ssl s USING (pid) \
             WHERE a.backend_type = 'client backend' AND s.ssl IS NOT TRUE",
            &[],
        )
        .unwrap()
        .get(0);
    let encrypted: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.backend_type = 'client backend' AND s.ssl",
            &[],
        )
        .unwrap()
        .get(0);
    // The sink's and this client's (a probe's backend from the start may still be leaving).
    assert!(
        plain == 0 && encrypted >= 2,
        "plain {plain}, encrypted {encrypted}"
    );
    drop(client);

    // A restart cuts the connection: the sink reconnects, over TLS again.
    server.restart().unwrap();
    let mut applied = false;
    for _ in 0..50 {
        match sink.apply(second) {
            Ok(()) => {
                applied = true;
                break;
            }
            Err(e) => {
                assert!(e.is_retriable(), "{}", error_chain(&e));
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
    assert!(applied, "the sink reconnected over TLS");
    assert_eq!(sink.checkpoint(), 300);
    assert_eq!(sink.snapshot().unwrap(), expected(&changes));
    assert!(format!("{sink:?}").contains("1 from PEM"), "{sink:?}");

    // Plain TCP (no TLS configured, `sslmode=prefer`): refused by the server.
    let err = PostgresSink::connect(&server.url(), schema("entities"), "log").unwrap_err();
    let text = format!("{err} | {err:?} | {}", error_chain(&err));
    assert!(matches!(err, PostgresError::Connect { .. }), "{text}");
    assert!(text.contains("no encryption"), "{text}");
    assert!(!text.contains(password.as_str()), "{text}");
}

#[test]
fn an_untrusted_certificate_or_a_wrong_host_name_fails_the_handshake_without_the_password() {
    let Some(server) = tls_server() else { return };
    let password = server.password().to_owned();
    let refused = |err: PostgresError, expect: &str| {
        let text = format!("{err} | {err:?} | {}", error_chain(&err));
        assert!(matches!(err, PostgresError::Connect { .. }), "{text}");
        assert!(text.contains(expect), "{expect:?} in {text}");
        assert!(!text.contains(password.as_str()), "{text}");
    };
    // `sslmode=require` trusts the system's authorities, and none signed this server.
    match PostgresSink::connect(
        &format!("{}&sslmode=require", server.url()),
        schema("t"),
        "log",
    ) {
        Err(err @ PostgresError::Connect { .. }) => refused(err, "UnknownIssuer"),
        // A machine without a trust store: a clear error of its own.
        Err(PostgresError::Tls { reason }) => assert!(reason.contains("trust store"), "{reason}"),
        other => panic!("connected to a server no system CA vouches for: {other:?}"),
    }
    // Another cluster's CA.
    let Some(other) = tls_server() else { return };
    let foreign = PostgresTls::from_ca_pem(other.ca_pem().unwrap()).unwrap();
    let err = PostgresSink::connect_tls(&server.url(), foreign, schema("t"), "log").unwrap_err();
    refused(err, "UnknownIssuer");
    // The right CA, the right address, the wrong name: the certificate names 127.0.0.1 and
    // localhost only.
    let tls = PostgresTls::from_ca_pem(server.ca_pem().unwrap()).unwrap();
    let url = format!(
        "host=db.example.com hostaddr=127.0.0.1 port={} user={USER} password={password} \
         dbname=postgres connect_timeout=5",
        server.port()
    );
    let err = PostgresSink::connect_tls(&url, tls.clone(), schema("t"), "log").unwrap_err();
    refused(err, "NotValidForName");
    // And `localhost`, which it names, works.
    let url = url.replace("host=db.example.com", "host=localhost");
    PostgresSink::connect_tls(&url, tls.clone(), schema("t"), "log")
        .unwrap_or_else(|e| panic!("{}", error_chain(&e)));
    // TLS given, TLS refused by the configuration: a contradiction, said before connecting.
    let err = PostgresSink::connect_tls(
        &format!("{}&sslmode=disable", server.url()),
        tls,
        schema("t"),
        "log",
    )
    .unwrap_err();
    assert!(
        matches!(&err, PostgresError::Tls { reason } if reason.contains("sslmode=disable")),
        "{err:?}"
    );
    // A Unix socket: PostgreSQL offers no TLS there, said before connecting.
    let err = PostgresSink::connect_tls(
        &format!(
            "host={} user={USER} dbname=postgres",
            server.dir().display()
        ),
        PostgresTls::from_ca_pem(server.ca_pem().unwrap()).unwrap(),
        schema("t"),
        "log",
    )
    .unwrap_err();
    assert!(
        matches!(&err, PostgresError::Tls { reason } if reason.contains("Unix socket")),
        "{err:?}"
    );
}

// ---- the fixture ----------------------------------------------------------------------------

/// Set in the child process of [`a_cluster_does_not_outlive_a_killed_owner`].
const OWNER: &str = "MQSYNC_TEST_POSTGRES_OWNER";

#[test]
fn a_cluster_does_not_outlive_a_killed_owner() {
    if std::env::var_os(OWNER).is_some() {
        // The owner: start a cluster, say where it is, and wait to be killed.
        let Some(server) = server() else { return };
        println!("cluster at {}", server.dir().display());
        std::io::stdout().flush().unwrap();
        thread::sleep(Duration::from_secs(120));
        return;
    }
    if !PostgresServer::available() {
        let _ = server(); // fails, or says loudly that it skips
        return;
    }
    let (owner, dir) = stress::spawn_self(
        "a_cluster_does_not_outlive_a_killed_owner",
        OWNER,
        "cluster at ",
    );
    let dir = std::path::PathBuf::from(dir);
    let pid_file = std::fs::read_to_string(dir.join("data").join("postmaster.pid")).unwrap();
    let postmaster = pid_file.lines().next().unwrap();
    assert!(stress::running(postmaster), "the cluster runs");
    stress::kill_owner_and_expect_cleanup(owner, postmaster, &dir, Duration::from_secs(20));
}

#[test]
fn equal_versions_break_ties_bytewise_in_a_database_with_a_linguistic_collation() {
    let Some(server) = server() else { return };
    // A database whose default collation is ICU's English, where "a" sorts before "B"; in
    // byte order (Rust's, `Change::supersedes`'s) "B" comes first.
    server
        .client()
        .unwrap()
        .batch_execute(
            "CREATE DATABASE icu_en TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' \
             LOCALE 'C'",
        )
        .unwrap();
    let mut client = postgres::Client::connect(
        &server.url().replace("/postgres?", "/icu_en?"),
        postgres::NoTls,
    )
    .unwrap();
    let linguistic: bool = client.query_one("SELECT 'a' < 'B'", &[]).unwrap().get(0);
    assert!(linguistic, "the database compares text linguistically");
    let url = server.url().replace("/postgres?", "/icu_en?");
    let lower = Change::upsert("k", 7, json!({"s": "a"}));
    let upper = Change::upsert("k", 7, json!({"s": "B"}));
    // Rust's rule: the byte-wise greater body wins a tie.
    let replica = Replica::new();
    replica.apply(&upper);
    replica.apply(&lower);
    assert_eq!(replica.get("k"), Some(json!({"s": "a"})));
    for (table, order) in [
        ("up_first", [&upper, &lower]),
        ("low_first", [&lower, &upper]),
    ] {
        let sink = PostgresSink::connect(&url, schema(table), table).unwrap();
        for change in order {
            sink.apply(std::slice::from_ref(change)).unwrap();
        }
        assert_eq!(sink.snapshot().unwrap()["k"], json!({"s": "a"}), "{table}");
        // And both in one batch (the in-batch fold).
        let folded = PostgresSink::connect(&url, schema(&format!("{table}_batch")), table).unwrap();
        folded.apply(&[order[0].clone(), order[1].clone()]).unwrap();
        assert_eq!(
            folded.snapshot().unwrap()["k"],
            json!({"s": "a"}),
            "{table}, one batch"
        );
    }
}

#[test]
fn a_statement_cut_mid_batch_leaves_nothing_half_applied_and_the_retry_lands_whole() {
    let Some(server) = server() else { return };
    let sink = Arc::new(sink(&server, "entities"));
    sink.apply(&[Change::upsert("k1", 1, json!("first")).at_position(0)])
        .unwrap();
    // Another transaction holds k1's row: the sink's next statement inserts k0, then waits.
    let mut locker = server.client().unwrap();
    let mut held = locker.transaction().unwrap();
    held.batch_execute("SELECT * FROM entities WHERE key = 'k1' FOR UPDATE")
        .unwrap();
    let batch = vec![
        Change::upsert("k0", 1, json!("zero")).at_position(1),
        Change::upsert("k1", 2, json!("second")).at_position(2),
        Change::upsert("k2", 1, json!("two")).at_position(3),
    ];
    let applying = {
        let (sink, batch) = (Arc::clone(&sink), batch.clone());
        thread::spawn(move || sink.apply(&batch))
    };
    // Find the sink's backend waiting on the lock, and cut it mid-statement.
    let mut admin = server.client().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let pid: i32 = loop {
        let waiting = admin
            .query(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                 AND query LIKE '%INSERT%'",
                &[],
            )
            .unwrap();
        if let Some(row) = waiting.first() {
            break row.get(0);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sink's statement never blocked"
        );
        thread::sleep(Duration::from_millis(20));
    };
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap();
    let err = applying.join().unwrap().unwrap_err();
    assert!(err.is_retriable(), "{}", error_chain(&err));
    held.rollback().unwrap();
    // Nothing of the cut statement stayed: not k0's insert, not the checkpoint.
    assert_eq!(sink.checkpoint(), 1);
    let rows = sink.snapshot().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows["k1"], json!("first"));
    // The retry reconnects and lands the whole batch, once.
    sink.apply(&batch).unwrap();
    assert_eq!(sink.checkpoint(), 4);
    let reopened = PostgresSink::connect(&server.url(), schema("entities"), "log").unwrap();
    assert_eq!(reopened.checkpoint(), 4);
    assert_eq!(
        reopened.snapshot().unwrap(),
        BTreeMap::from([
            ("k0".to_owned(), json!("zero")),
            ("k1".to_owned(), json!("second")),
            ("k2".to_owned(), json!("two")),
        ])
    );
}
