//! The journal against SQLite as a log, on 100-byte records (issue 17's targets):
//!
//! * `journal/append_interval`: 10,000 records under `FlushPolicy::Interval(1 s)` — one
//!   append per record from one thread, batches of 100, and four threads appending one record
//!   at a time (group commit); beside them SQLite (WAL, `synchronous = NORMAL`, the same
//!   durability class: survives a process crash, syncs at checkpoints) inserting the same
//!   records into a `(pos INTEGER PRIMARY KEY, data BLOB)` table, 100 per transaction;
//! * `journal/append_every_batch`: 1,000 records, an fsync per batch — four threads appending one
//!   record at a time (their appends share syncs), and batches of 100; beside them SQLite with
//!   `synchronous = FULL`, 100 per transaction;
//! * `journal/recovery_1m`: opening a journal of 1,000,000 records whose last record is torn,
//!   and reading it back.
//!
//! After the groups, the commit latency (p50, p99) of single appends under `EveryBatch` from
//! four threads and from one, and of single-row SQLite `FULL` transactions from one, goes to
//! stderr.
//!
//! `cargo bench --bench journal --features journal,sqlite-bundled`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mqsync::journal::{FlushPolicy, Journal, JournalOptions};
use rusqlite::{params, Connection};
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const RECORD: usize = 100;

fn data(i: u64) -> Vec<u8> {
    let mut out = vec![b'r'; RECORD];
    out[..8].copy_from_slice(&i.to_le_bytes());
    out
}

fn journal(dir: &Path, flush: FlushPolicy) -> Journal {
    Journal::open(dir, JournalOptions::default().flush(flush)).unwrap()
}

fn sqlite(dir: &Path, synchronous: &str) -> Connection {
    let conn = Connection::open(dir.join("log.db")).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous};
         CREATE TABLE log (pos INTEGER PRIMARY KEY, data BLOB NOT NULL);"
    ))
    .unwrap();
    conn
}

fn sqlite_insert(conn: &mut Connection, records: &[Vec<u8>], per_tx: usize) {
    let mut pos = 0i64;
    for chunk in records.chunks(per_tx) {
        let tx = conn.transaction().unwrap();
        {
            let mut stmt = tx
                .prepare_cached("INSERT INTO log (pos, data) VALUES (?1, ?2)")
                .unwrap();
            for record in chunk {
                stmt.execute(params![pos, record]).unwrap();
                pos += 1;
            }
        }
        tx.commit().unwrap();
    }
}

/// Appends `records` from `threads` threads, one record per append, each thread its share.
fn append_threads(journal: &Arc<Journal>, records: &Arc<Vec<Vec<u8>>>, threads: usize) {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let journal = Arc::clone(journal);
            let records = Arc::clone(records);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                for record in records.iter().skip(t).step_by(threads) {
                    journal.append(record).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

fn append_group(c: &mut Criterion, name: &str, n: u64, flush: FlushPolicy, synchronous: &str) {
    let records: Arc<Vec<Vec<u8>>> = Arc::new((0..n).map(data).collect());
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(n));
    let fresh = || tempfile::tempdir().unwrap();
    if flush != FlushPolicy::EveryBatch {
        group.bench_function("journal_single_appends", |b| {
            b.iter_batched(
                || {
                    let dir = fresh();
                    let j = journal(dir.path(), flush);
                    (dir, j)
                },
                |(dir, j)| {
                    for record in records.iter() {
                        j.append(record).unwrap();
                    }
                    (dir, j)
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.bench_function("journal_batches_of_100", |b| {
        b.iter_batched(
            || {
                let dir = fresh();
                let j = journal(dir.path(), flush);
                (dir, j)
            },
            |(dir, j)| {
                for chunk in records.chunks(100) {
                    j.append_batch(chunk).unwrap();
                }
                (dir, j)
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("journal_4_threads_single_appends", |b| {
        b.iter_batched(
            || {
                let dir = fresh();
                let j = Arc::new(journal(dir.path(), flush));
                (dir, j)
            },
            |(dir, j)| {
                append_threads(&j, &records, 4);
                (dir, j)
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("sqlite_transactions_of_100", |b| {
        b.iter_batched(
            || {
                let dir = fresh();
                let conn = sqlite(dir.path(), synchronous);
                (dir, conn)
            },
            |(dir, mut conn)| {
                sqlite_insert(&mut conn, &records, 100);
                (dir, conn)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn append(c: &mut Criterion) {
    append_group(
        c,
        "journal/append_interval",
        10_000,
        FlushPolicy::Interval(Duration::from_secs(1)),
        "NORMAL",
    );
    append_group(
        c,
        "journal/append_every_batch",
        1_000,
        FlushPolicy::EveryBatch,
        "FULL",
    );
}

fn recovery(c: &mut Criterion) {
    const N: u64 = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    {
        let j = journal(dir.path(), FlushPolicy::Never);
        let records: Vec<Vec<u8>> = (0..N).map(data).collect();
        for chunk in records.chunks(1000) {
            j.append_batch(chunk).unwrap();
        }
    }
    let last = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .max()
        .unwrap();
    let mut group = c.benchmark_group("journal/recovery_1m");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(N));
    group.bench_function("open_torn_and_read_all", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // A torn last record: a frame claiming 100 bytes, 10 of them there.
                let mut torn = (RECORD as u32).to_le_bytes().to_vec();
                torn.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
                let mut file = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&last)
                    .unwrap();
                std::io::Write::write_all(&mut file, &torn).unwrap();
                drop(file);
                let start = Instant::now();
                let j = journal(dir.path(), FlushPolicy::Never);
                let mut count = 0u64;
                for record in j.reader(0).unwrap() {
                    assert_eq!(record.unwrap().data.len(), RECORD);
                    count += 1;
                }
                total += start.elapsed();
                assert_eq!(count, N);
            }
            total
        })
    });
    group.finish();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

/// p50/p99 commit latency of single appends under `EveryBatch` (4 threads) and of single-row
/// SQLite `FULL` transactions; printed, not a criterion group.
fn commit_latency(_: &mut Criterion) {
    const EACH: usize = 250;
    let dir = tempfile::tempdir().unwrap();
    let j = Arc::new(journal(dir.path(), FlushPolicy::EveryBatch));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let j = Arc::clone(&j);
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|i| {
                        let start = Instant::now();
                        j.append(&data((t * EACH + i) as u64)).unwrap();
                        start.elapsed()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let start = Instant::now();
    let mut journal_lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let journal_rate = journal_lat.len() as f64 / start.elapsed().as_secs_f64();
    journal_lat.sort();

    // One thread, one record per append: the same shape as SQLite's row below.
    let dir = tempfile::tempdir().unwrap();
    let one = journal(dir.path(), FlushPolicy::EveryBatch);
    let start = Instant::now();
    let mut single_lat: Vec<Duration> = (0..EACH * 4)
        .map(|i| {
            let t = Instant::now();
            one.append(&data(i as u64)).unwrap();
            t.elapsed()
        })
        .collect();
    let single_rate = single_lat.len() as f64 / start.elapsed().as_secs_f64();
    single_lat.sort();
    drop(one);

    let dir = tempfile::tempdir().unwrap();
    let mut conn = sqlite(dir.path(), "FULL");
    let start = Instant::now();
    let mut sqlite_lat: Vec<Duration> = (0..EACH * 4)
        .map(|i| {
            let t = Instant::now();
            sqlite_insert_one(&mut conn, i as i64);
            t.elapsed()
        })
        .collect();
    let sqlite_rate = sqlite_lat.len() as f64 / start.elapsed().as_secs_f64();
    sqlite_lat.sort();
    eprintln!(
        "commit latency, EveryBatch journal, 4 threads x {EACH} single appends: {journal_rate:.0} records/s, p50 {:?}, p99 {:?}",
        percentile(&journal_lat, 0.5),
        percentile(&journal_lat, 0.99)
    );
    eprintln!(
        "commit latency, EveryBatch journal, 1 thread single appends: {single_rate:.0} records/s, p50 {:?}, p99 {:?}",
        percentile(&single_lat, 0.5),
        percentile(&single_lat, 0.99)
    );
    eprintln!(
        "commit latency, SQLite synchronous=FULL, one row per transaction: {sqlite_rate:.0} records/s, p50 {:?}, p99 {:?}",
        percentile(&sqlite_lat, 0.5),
        percentile(&sqlite_lat, 0.99)
    );
}

fn sqlite_insert_one(conn: &mut Connection, pos: i64) {
    conn.execute(
        "INSERT INTO log (pos, data) VALUES (?1, ?2)",
        params![pos, data(pos as u64)],
    )
    .unwrap();
}

criterion_group!(benches, append, recovery, commit_latency);
criterion_main!(benches);
