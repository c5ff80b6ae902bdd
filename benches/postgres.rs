//! The PostgreSQL sink against its peers, on the same 5,000 rows into an emptied table each
//! iteration, on a private cluster (`postgres_testing::PostgresServer`, loopback TCP), twice:
//! group `postgres_upsert_5000` with `fsync = off` (round trips and server work, not disk
//! flushes) and group `postgres_upsert_5000_fsync` with PostgreSQL's defaults (every commit
//! waits for its WAL on disk, as on a production server; there `autocommit_per_row` writes the
//! first 500 rows only, to keep the run short; compare throughputs, rows/s):
//!
//! * `sink_batched`: `PostgresSink::apply` in batches of 256 (the engine's default batch size):
//!   one statement per batch (`UNNEST` upsert with the version check, checkpoint row);
//! * `bare_unnest_one_tx`: the same rows with the `postgres` crate directly, one transaction
//!   for all, a `UNNEST` upsert without version check per 256 rows (the practical limit);
//! * `bare_unnest_tx_per_batch`: the same statements, each its own transaction, as the sink
//!   commits (one commit per batch, so the same number of WAL flushes in the `_fsync` group);
//! * `bare_copy_one_tx`: the same, but each 256 rows go through `COPY` into a temporary table
//!   and `INSERT … SELECT … ON CONFLICT` (the other way to send many rows);
//! * `autocommit_per_row`: one implicit transaction per row, a prepared single-row upsert
//!   (what a naive sink does).
//!
//! `cargo bench --bench postgres --features postgres,testing`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mqsync::sync::postgres_testing::PostgresServer;
use mqsync::sync::{Change, Op, PostgresSchema, PostgresSink, Sink};
use serde_json::json;
use std::io::Write;
use std::time::{Duration, Instant};

const ROWS: u64 = 5_000;
const BATCH: usize = 256;

const UNNEST_UPSERT: &str = "INSERT INTO entities (key, version, body, deleted, updated_at) \
     SELECT k, v, b, false, now() FROM UNNEST($1::text[], $2::int8[], $3::text[]) AS u(k, v, b) \
     ON CONFLICT (key) DO UPDATE SET version = excluded.version, body = excluded.body, \
     deleted = false, updated_at = excluded.updated_at";

const ROW_UPSERT: &str = "INSERT INTO entities (key, version, body, deleted, updated_at) \
     VALUES ($1, $2, $3, false, now()) ON CONFLICT (key) DO UPDATE SET \
     version = excluded.version, body = excluded.body, deleted = false, \
     updated_at = excluded.updated_at";

fn rows() -> Vec<Change> {
    (0..ROWS)
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

/// `(key, version, body)` of an upsert.
fn columns(c: &Change) -> (&str, i64, String) {
    match &c.op {
        Op::Upsert(body) => (&c.key, c.version.unwrap() as i64, body.to_string()),
        Op::Delete => unreachable!("the bench writes upserts"),
    }
}

fn empty(client: &mut postgres::Client) {
    client
        .batch_execute("TRUNCATE entities; TRUNCATE mqsync_checkpoint;")
        .unwrap();
}

fn bench(c: &mut Criterion) {
    run(c, false);
    run(c, true);
}

/// The four rows on a server with `fsync` off, or (`durable`) on.
fn run(c: &mut Criterion, durable: bool) {
    let server = if durable {
        PostgresServer::start_durable()
    } else {
        PostgresServer::start()
    }
    .expect("start postgres (apt-get install -y postgresql-15)");
    let url = server.url();
    let schema = PostgresSchema::builder("entities").build().unwrap();
    drop(PostgresSink::connect(&url, schema.clone(), "bench").unwrap()); // creates the tables
    let mut admin = server.client().unwrap();
    let changes = rows();

    let suffix = if durable { "_fsync" } else { "" };
    let mut group = c.benchmark_group(format!("postgres_upsert_{ROWS}{suffix}"));
    group.throughput(Throughput::Elements(ROWS));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));

    group.bench_function("sink_batched", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                empty(&mut admin);
                let sink = PostgresSink::connect(&url, schema.clone(), "bench").unwrap();
                let start = Instant::now();
                for batch in changes.chunks(BATCH) {
                    sink.apply(batch).unwrap();
                }
                total += start.elapsed();
                assert_eq!(sink.checkpoint(), ROWS);
            }
            total
        })
    });

    group.bench_function("bare_unnest_one_tx", |b| {
        let mut client = server.client().unwrap();
        let upsert = client.prepare(UNNEST_UPSERT).unwrap();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                empty(&mut admin);
                let start = Instant::now();
                let mut tx = client.transaction().unwrap();
                for batch in changes.chunks(BATCH) {
                    let (mut keys, mut versions, mut bodies) = (vec![], vec![], vec![]);
                    for c in batch {
                        let (k, v, body) = columns(c);
                        keys.push(k);
                        versions.push(v);
                        bodies.push(body);
                    }
                    tx.execute(&upsert, &[&keys, &versions, &bodies]).unwrap();
                }
                tx.commit().unwrap();
                total += start.elapsed();
            }
            total
        })
    });

    group.bench_function("bare_unnest_tx_per_batch", |b| {
        let mut client = server.client().unwrap();
        let upsert = client.prepare(UNNEST_UPSERT).unwrap();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                empty(&mut admin);
                let start = Instant::now();
                for batch in changes.chunks(BATCH) {
                    let (mut keys, mut versions, mut bodies) = (vec![], vec![], vec![]);
                    for c in batch {
                        let (k, v, body) = columns(c);
                        keys.push(k);
                        versions.push(v);
                        bodies.push(body);
                    }
                    // One statement, so one implicit transaction per batch: the sink's commits.
                    client
                        .execute(&upsert, &[&keys, &versions, &bodies])
                        .unwrap();
                }
                total += start.elapsed();
            }
            total
        })
    });

    group.bench_function("bare_copy_one_tx", |b| {
        let mut client = server.client().unwrap();
        client
            .batch_execute(
                "CREATE TEMP TABLE staged (key text, version bigint, body text) \
                 ON COMMIT DELETE ROWS",
            )
            .unwrap();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                empty(&mut admin);
                let start = Instant::now();
                let mut tx = client.transaction().unwrap();
                for batch in changes.chunks(BATCH) {
                    let mut writer = tx
                        .copy_in("COPY staged (key, version, body) FROM STDIN")
                        .unwrap();
                    for c in batch {
                        let (k, v, body) = columns(c);
                        // COPY's text format: tab-separated, backslash escapes (the bodies
                        // hold no tab, newline or backslash).
                        writeln!(writer, "{k}\t{v}\t{body}").unwrap();
                    }
                    writer.finish().unwrap();
                    tx.batch_execute(
                        "INSERT INTO entities (key, version, body, deleted, updated_at) \
                         SELECT key, version, body, false, now() FROM staged \
                         ON CONFLICT (key) DO UPDATE SET version = excluded.version, \
                         body = excluded.body, deleted = false, updated_at = excluded.updated_at; \
                         TRUNCATE staged;",
                    )
                    .unwrap();
                }
                tx.commit().unwrap();
                total += start.elapsed();
            }
            total
        })
    });

    // With a flush per commit, 5,000 commits take seconds per iteration: 500 rows give the
    // per-row rate.
    let per_row = if durable {
        &changes[..500]
    } else {
        &changes[..]
    };
    group.throughput(Throughput::Elements(per_row.len() as u64));
    group.bench_function("autocommit_per_row", |b| {
        let mut client = server.client().unwrap();
        let upsert = client.prepare(ROW_UPSERT).unwrap();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                empty(&mut admin);
                let start = Instant::now();
                for c in per_row {
                    let (k, v, body) = columns(c);
                    client.execute(&upsert, &[&k, &v, &body]).unwrap();
                }
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
