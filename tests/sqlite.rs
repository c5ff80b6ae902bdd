//! The SQLite sink: version checks in SQL agree with `Change::supersedes`, replays are
//! harmless, the checkpoint never passes a gap, and a sync killed mid-burst (a real process
//! abort, no shutdown) restarts from the database's checkpoint to the exact final state.
#![cfg(feature = "sqlite")]

use mqsync::sync::{
    Change, DataSync, ReplaySource, Replica, RetryPolicy, Sink, SinkError, SqliteSchema, SqliteSink,
};
use proptest::prelude::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod stress;
use stress::Rng;

fn memory_sink() -> SqliteSink {
    SqliteSink::open_in_memory(SqliteSchema::builder("entities").build().unwrap(), "log").unwrap()
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

#[test]
fn sql_version_check_matches_supersedes_in_any_order() {
    let changes = log(400, 20);
    let want = expected(&changes);
    let sink = memory_sink();
    // Reversed, in batches of 7, then everything again: order and replays must not matter.
    let mut reversed = changes.clone();
    reversed.reverse();
    for batch in reversed.chunks(7).chain(changes.chunks(50)) {
        sink.apply(batch).unwrap();
    }
    assert_eq!(sink.snapshot().unwrap(), want);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn sql_agrees_with_the_replica(ops in proptest::collection::vec((0u8..4, 0u64..4, 0u8..3, any::<bool>()), 1..40)) {
        let changes: Vec<Change> = ops
            .iter()
            .map(|&(k, v, body, delete)| {
                if delete { Change::delete(format!("k{k}"), v) }
                else { Change::upsert(format!("k{k}"), v, json!({"b": body})) }
            })
            .collect();
        let sink = memory_sink();
        for c in &changes {
            sink.apply(std::slice::from_ref(c)).unwrap();
        }
        prop_assert_eq!(sink.snapshot().unwrap(), expected(&changes));
    }
}

#[test]
fn versionless_changes_always_apply_and_tombstones_block_resurrection() {
    let sink = memory_sink();
    let mut a = Change::upsert("m", 0, json!(1));
    a.version = None;
    let mut b = Change::upsert("m", 0, json!(2));
    b.version = None;
    sink.apply(&[a, b]).unwrap();
    assert_eq!(sink.snapshot().unwrap()["m"], json!(2));
    sink.apply(&[Change::delete("d", 5)]).unwrap();
    sink.apply(&[Change::upsert("d", 4, json!("old"))]).unwrap();
    sink.apply(&[Change::upsert("d", 5, json!("tie"))]).unwrap();
    assert!(!sink.snapshot().unwrap().contains_key("d"));
    sink.apply(&[Change::upsert("d", 6, json!("new"))]).unwrap();
    assert_eq!(sink.snapshot().unwrap()["d"], json!("new"));
}

#[test]
fn checkpoint_stops_at_the_first_gap() {
    let sink = memory_sink();
    let at = |p: u64| Change::delete(format!("k{p}"), 1).at_position(p);
    sink.apply(&[at(2), at(3)]).unwrap();
    assert_eq!(sink.checkpoint(), 0);
    sink.apply(&[at(0)]).unwrap();
    assert_eq!(sink.checkpoint(), 1);
    sink.apply(&[at(1), at(0)]).unwrap(); // a replay of 0 with the missing 1
    assert_eq!(sink.checkpoint(), 4);
    sink.settle(&[5]).unwrap();
    assert_eq!(sink.checkpoint(), 4);
    sink.settle(&[4]).unwrap();
    assert_eq!(sink.checkpoint(), 6);
}

#[test]
fn too_large_versions_fail_alone() {
    let sink = memory_sink();
    let err = sink
        .apply(&[
            Change::upsert("a", 1, json!(1)),
            Change::upsert("b", u64::MAX, json!(2)),
        ])
        .unwrap_err();
    // Fatal: no retry makes the version fit, so the engine dead-letters it at once.
    assert!(matches!(err, SinkError::Rejected(ref items) if items.len() == 1 && items[0].0 == 1));
    assert!(!err.is_retriable());
    assert_eq!(sink.snapshot().unwrap().len(), 1);
}

#[test]
fn custom_columns_and_bad_identifiers() {
    let dir = tempfile::tempdir().unwrap();
    let schema = SqliteSchema::builder("orders")
        .key_column("order_id")
        .version_column("rev")
        .body_column("doc")
        .deleted_column("gone")
        .updated_at_column("ts")
        .checkpoint_table("cp")
        .build()
        .unwrap();
    let path = dir.path().join("custom.db");
    let sink = SqliteSink::open(&path, schema, "orders").unwrap();
    sink.apply(&[Change::upsert("o-1", 1, json!({"a": 1})).at_position(0)])
        .unwrap();
    drop(sink);
    assert_eq!(reopen_custom(&path), (1, 1));
    for bad in ["x y", "1a", "a\"b", "t;drop"] {
        assert_eq!(
            SqliteSchema::builder(bad).build().unwrap_err().field(),
            "table"
        );
        let err = SqliteSchema::builder("t")
            .key_column(bad)
            .build()
            .unwrap_err();
        assert!(
            matches!(&err, mqsync::ConfigError::Invalid { field: "key_column", value, .. } if value == bad),
            "{err}"
        );
    }
}

/// Reopens the custom database through the sink to count rows and read the checkpoint.
fn reopen_custom(path: &std::path::Path) -> (usize, u64) {
    let schema = SqliteSchema::builder("orders")
        .key_column("order_id")
        .version_column("rev")
        .body_column("doc")
        .deleted_column("gone")
        .updated_at_column("ts")
        .checkpoint_table("cp")
        .build()
        .unwrap();
    let sink = SqliteSink::open(path, schema, "orders").unwrap();
    (sink.snapshot().unwrap().len(), sink.checkpoint())
}

// ---- crash and restart -------------------------------------------------------------------

const CHILD_ENV: &str = "MQSYNC_SQLITE_CRASH_CHILD";
const CRASH_AFTER_BATCHES: usize = 12;
const LOG_LEN: u64 = 20_000;

/// Lets the inner sink commit, then aborts the whole process after the `crash_after`-th batch
/// or the first one after it that leaves a checkpoint above 0 (workers finish batches out of
/// order, so early batches may all sit above a gap): the transaction is on disk, the engine
/// never hears of it, no destructor runs.
struct AbortAfter {
    inner: SqliteSink,
    batches: AtomicUsize,
    crash_after: usize,
}

impl Sink for AbortAfter {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
        self.inner.apply(batch)?;
        let applied = self.batches.fetch_add(1, Ordering::SeqCst) + 1;
        if applied >= self.crash_after && self.inner.checkpoint() > 0 {
            std::process::abort();
        }
        Ok(())
    }
}

fn sync(log: &Arc<[Change]>, sink: Arc<dyn Sink>, from: u64) -> mqsync::sync::SyncReport {
    let engine = DataSync::builder()
        .source(ReplaySource::new("log", Arc::clone(log), from))
        .sink(sink)
        .workers(3)
        .batch_size(64)
        .retry(RetryPolicy::new(3, Duration::ZERO, Duration::ZERO))
        .start()
        .unwrap();
    assert!(engine.wait_idle(Duration::from_secs(120)));
    engine.shutdown()
}

/// Run only as the child of `killed_mid_burst_restarts_from_the_checkpoint`: syncs until the
/// abort.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return; // not the child: nothing to do
    };
    let log: Arc<[Change]> = log(LOG_LEN, 500).into();
    let inner = SqliteSink::open(
        &path,
        SqliteSchema::builder("entities").build().unwrap(),
        "log",
    )
    .unwrap();
    let sink = Arc::new(AbortAfter {
        inner,
        batches: AtomicUsize::new(0),
        crash_after: CRASH_AFTER_BATCHES,
    });
    sync(&log, sink, 0);
    unreachable!("the sink aborts the process before the log is done");
}

#[test]
fn killed_mid_burst_restarts_from_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .status()
        .unwrap();
    assert!(!status.success(), "the child must die, not finish");

    let log: Arc<[Change]> = log(LOG_LEN, 500).into();
    let sink = Arc::new(
        SqliteSink::open(
            &path,
            SqliteSchema::builder("entities").build().unwrap(),
            "log",
        )
        .unwrap(),
    );
    let resume = sink.checkpoint();
    let rows_at_crash = sink.snapshot().unwrap().len();
    assert!(
        resume > 0 && resume < LOG_LEN,
        "the crash came mid-burst (checkpoint {resume}, {rows_at_crash} rows)"
    );
    // Nothing below the checkpoint is missing: the table then equals the prefix's state,
    // except for changes above the checkpoint that made it in before the crash (replayed now).
    let report = sync(&log, sink.clone(), resume);
    assert_eq!(report.metrics.pulled, LOG_LEN - resume);
    assert_eq!(report.metrics.dead_lettered, 0);
    assert_eq!(sink.checkpoint(), LOG_LEN);
    assert_eq!(sink.snapshot().unwrap(), expected(&log));

    // Replaying the whole log once more changes nothing: no double effect.
    let report = sync(&log, sink.clone(), 0);
    assert_eq!(report.metrics.pulled, LOG_LEN);
    assert_eq!(sink.snapshot().unwrap(), expected(&log));
}

#[test]
fn restart_at_the_checkpoint_after_a_lost_tail() {
    // A crash that loses the writes after some point: only the checkpointed prefix is on
    // disk. Resuming there reaches the same state as an uninterrupted run.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tail.db");
    let log: Arc<[Change]> = log(3_000, 50).into();
    {
        let sink = SqliteSink::open(
            &path,
            SqliteSchema::builder("entities").build().unwrap(),
            "log",
        )
        .unwrap();
        let with_positions: Vec<Change> = log[..1_234]
            .iter()
            .cloned()
            .zip(0u64..)
            .map(|(c, p)| c.at_position(p))
            .collect();
        for batch in with_positions.chunks(100) {
            sink.apply(batch).unwrap();
        }
        assert_eq!(sink.checkpoint(), 1_234);
    }
    let sink = Arc::new(
        SqliteSink::open(
            &path,
            SqliteSchema::builder("entities").build().unwrap(),
            "log",
        )
        .unwrap(),
    );
    let from = sink.checkpoint();
    assert_eq!(from, 1_234);
    sync(&log, sink.clone(), from);
    assert_eq!(sink.snapshot().unwrap(), expected(&log));
}
