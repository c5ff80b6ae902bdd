//! The SQLite sink against its two peers, on the same rows into a fresh database file each
//! iteration (WAL, `synchronous = NORMAL` for all three):
//!
//! * `sink_batched`: `SqliteSink::apply` in batches of 256 (the engine's default batch size):
//!   one transaction per batch, version check in SQL, checkpoint row in the same transaction;
//! * `autocommit_per_row`: the same upsert, one implicit transaction per row (what a naive
//!   sink does);
//! * `bare_bulk_upsert`: one prepared upsert without version check and one transaction for all
//!   rows (the practical limit).
//!
//! Two groups: `synchronous = NORMAL` (the sink's default: no fsync per commit) on 20k rows, and
//! `synchronous = FULL` (an fsync per commit, durable against power loss) on 1k rows, where the
//! cost of a commit per row shows fully.
//!
//! `cargo bench --bench sqlite --features sqlite-bundled`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mqsync::sync::{Change, Durability, Op, Sink, SqliteSchema, SqliteSink};
use rusqlite::{params, Connection};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const BATCH: usize = 256;

const UPSERT: &str = "INSERT INTO entities (key, version, body, deleted, updated_at) \
     VALUES (?1, ?2, ?3, 0, ?4) ON CONFLICT(key) DO UPDATE SET version = excluded.version, \
     body = excluded.body, deleted = 0, updated_at = excluded.updated_at";

fn rows(rows: u64) -> Vec<Change> {
    (0..rows)
        .map(|i| {
            Change::upsert(
                format!("order-{i}"),
                1 + i % 7,
                json!({"order_id": format!("order-{i}"), "customer": format!("c-{}", i % 300),
                       "amount": (i % 50_000) as f64 / 100.0, "status": "paid"}),
            )
            .at_position(i)
        })
        .collect()
}

/// A fresh database file with the sink's default table, opened like the sink opens it.
fn bare_connection(path: &Path, synchronous: &str) -> Connection {
    drop(
        SqliteSink::open(
            path,
            SqliteSchema::builder("entities").build().unwrap(),
            "bench",
        )
        .unwrap(),
    );
    let conn = Connection::open(path).unwrap();
    let _: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .unwrap();
    conn.execute_batch(&format!("PRAGMA synchronous = {synchronous};"))
        .unwrap();
    conn
}

fn body(change: &Change) -> String {
    match &change.op {
        Op::Upsert(value) => value.to_string(),
        Op::Delete => unreachable!("the bench has upserts only"),
    }
}

fn timed(iters: u64, mut run: impl FnMut(&Path) -> Duration) -> Duration {
    (0..iters)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            run(&dir.path().join("bench.db"))
        })
        .sum()
}

fn group(c: &mut Criterion, name: &str, rows_n: u64, durability: Durability) {
    let synchronous = match durability {
        Durability::ProcessCrash => "NORMAL",
        Durability::PowerLoss => "FULL",
        _ => "default",
    };
    let input = rows(rows_n);
    let mut group = c.benchmark_group(name);
    group
        .throughput(Throughput::Elements(rows_n))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("sink_batched", |b| {
        b.iter_custom(|iters| {
            timed(iters, |path| {
                let sink = SqliteSink::open(
                    path,
                    SqliteSchema::builder("entities").build().unwrap(),
                    "bench",
                )
                .unwrap();
                sink.set_durability(durability).unwrap();
                let t0 = Instant::now();
                for batch in input.chunks(BATCH) {
                    sink.apply(batch).unwrap();
                }
                let elapsed = t0.elapsed();
                assert_eq!(sink.checkpoint(), rows_n);
                elapsed
            })
        })
    });
    group.bench_function("autocommit_per_row", |b| {
        b.iter_custom(|iters| {
            timed(iters, |path| {
                let conn = bare_connection(path, synchronous);
                let t0 = Instant::now();
                let mut upsert = conn.prepare_cached(UPSERT).unwrap();
                for c in &input {
                    upsert
                        .execute(params![c.key, c.version.unwrap() as i64, body(c), 0i64])
                        .unwrap();
                }
                t0.elapsed()
            })
        })
    });
    group.bench_function("bare_bulk_upsert", |b| {
        b.iter_custom(|iters| {
            timed(iters, |path| {
                let mut conn = bare_connection(path, synchronous);
                let t0 = Instant::now();
                let tx = conn.transaction().unwrap();
                {
                    let mut upsert = tx.prepare_cached(UPSERT).unwrap();
                    for c in &input {
                        upsert
                            .execute(params![c.key, c.version.unwrap() as i64, body(c), 0i64])
                            .unwrap();
                    }
                }
                tx.commit().unwrap();
                t0.elapsed()
            })
        })
    });
    group.finish();
}

fn sqlite(c: &mut Criterion) {
    group(
        c,
        "sqlite_upsert_20k_rows_normal",
        20_000,
        Durability::ProcessCrash,
    );
    group(
        c,
        "sqlite_upsert_1k_rows_fsync",
        1_000,
        Durability::PowerLoss,
    );
}

criterion_group!(benches, sqlite);
criterion_main!(benches);
