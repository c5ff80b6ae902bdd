//! The sync engine end to end — a queue source, the reader, workers over SPSC rings, an
//! in-memory replica — against the hand-written baseline: a std mpsc channel and one thread
//! applying into a `Mutex<HashMap>` (version check included, so both do the same work).
//!
//! Throughput: 100k changes over 1,000 keys, pushed up front, drained to idle.
//! Latency: a steady 100k changes/s for 0.5 s; the engine's own histogram gives p50/p99
//! (printed, since criterion measures throughput only).
//!
//! Beside them, not a contender: `sync/frees_100k`, the bench's changes freed by one thread and
//! by two at once, which shows why the engine frees on one thread.
//!
//! Both are timed until everything is done: the baseline until its applier thread has joined,
//! the engine until `shutdown` has returned (threads joined, every change applied and every
//! leftover freed).
//!
//! `cargo bench --bench sync --features sync`; on mimalloc instead of the system allocator
//! (both sides): `RUSTFLAGS="--cfg mqsync_bench_mimalloc" cargo bench --bench sync --features
//! sync`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mqsync::sync::{Change, DataSync, Op, QueueSource, Replica};
use mqsync::MsQueue;
use serde_json::json;
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

mod support;

#[cfg(mqsync_bench_mimalloc)]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CHANGES: u64 = 100_000;
const KEYS: u64 = 1_000;

fn changes() -> Vec<Change> {
    (0..CHANGES)
        .map(|i| Change::upsert(format!("key-{}", i % KEYS), i / KEYS + 1, json!({"n": i})))
        .collect()
}

fn run_engine(workers: usize, input: Vec<Change>) -> Duration {
    let queue = Arc::new(MsQueue::new());
    let replica = Arc::new(Replica::new());
    let engine = DataSync::builder()
        .source(QueueSource::new("bench", queue.clone()))
        .sink(replica.clone())
        .workers(workers)
        .linger(Duration::ZERO)
        .start()
        .unwrap();
    let t0 = Instant::now();
    queue.push_batch(input);
    // Poll gently: a spinning main thread would take a core from the engine on 2 cores.
    while engine.metrics().applied < CHANGES {
        thread::sleep(Duration::from_micros(50));
    }
    let report = engine.shutdown();
    let elapsed = t0.elapsed();
    assert_eq!(report.metrics.applied, CHANGES);
    elapsed
}

/// The baseline users write today.
fn run_baseline(input: Vec<Change>) -> Duration {
    let (tx, rx) = mpsc::channel::<Change>();
    let target: Arc<Mutex<HashMap<String, (u64, serde_json::Value)>>> = Arc::default();
    let applier = {
        let target = target.clone();
        thread::spawn(move || {
            for change in rx {
                let mut map = target.lock().unwrap();
                let version = change.version.unwrap_or(0);
                if map.get(&change.key).is_none_or(|(v, _)| *v < version) {
                    if let Op::Upsert(value) = change.op {
                        map.insert(change.key, (version, value));
                    }
                }
            }
        })
    };
    let t0 = Instant::now();
    for change in input {
        tx.send(change).unwrap();
    }
    drop(tx);
    applier.join().unwrap();
    t0.elapsed()
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("sync/end_to_end_100k");
    g.throughput(Throughput::Elements(CHANGES));
    for workers in [1, 2] {
        g.bench_function(
            BenchmarkId::new("mqsync::DataSync", format!("{workers} workers")),
            |b| b.iter_custom(|iters| (0..iters).map(|_| run_engine(workers, changes())).sum()),
        );
    }
    g.bench_function(BenchmarkId::new("mpsc + Mutex<HashMap>", "1 thread"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run_baseline(changes())).sum())
    });
    g.finish();
}

/// Not a contender: why the engine frees on one thread. The bench's 100k changes, built on this
/// thread, dropped by one other thread, or in two halves by two threads at once (as two workers
/// would, by key). With glibc the two threads take longer than the one: a block goes back to the
/// arena that allocated it, under that arena's lock (docs/benchmarks.md, Sync engine).
fn frees(c: &mut Criterion) {
    let mut g = c.benchmark_group("sync/frees_100k");
    g.throughput(Throughput::Elements(CHANGES));
    g.bench_function("one thread", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let all = changes();
                    let t0 = Instant::now();
                    thread::spawn(move || drop(all)).join().unwrap();
                    t0.elapsed()
                })
                .sum()
        })
    });
    g.bench_function("two threads, interleaved halves", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let (even, odd): (Vec<_>, Vec<_>) = changes()
                        .into_iter()
                        .enumerate()
                        .partition(|(i, _)| i % 2 == 0);
                    let t0 = Instant::now();
                    let a = thread::spawn(move || drop(even));
                    let b = thread::spawn(move || drop(odd));
                    a.join().unwrap();
                    b.join().unwrap();
                    t0.elapsed()
                })
                .sum()
        })
    });
    g.finish();
}

/// Steady 100k/s for half a second; prints the engine's latency percentiles.
fn latency(c: &mut Criterion) {
    let _ = c;
    for workers in [1, 2] {
        let queue = Arc::new(MsQueue::new());
        let engine = DataSync::builder()
            .source(QueueSource::new("steady", queue.clone()))
            .sink(Replica::new())
            .workers(workers)
            .linger(Duration::ZERO)
            .start()
            .unwrap();
        let rate = 100_000u64;
        let total = rate / 2;
        let start = Instant::now();
        for i in 0..total {
            let due = start + Duration::from_nanos(i * 1_000_000_000 / rate);
            while Instant::now() < due {
                std::hint::spin_loop();
            }
            queue.push(Change::upsert(format!("key-{}", i % KEYS), i + 1, json!(i)));
        }
        assert!(engine.wait_idle(Duration::from_secs(30)));
        let m = engine.shutdown().metrics;
        println!(
            "sync/latency_at_100k_per_s/{workers} workers: applied {} p50 {:?} p99 {:?} p99.9 {:?}",
            m.applied, m.latency_p50, m.latency_p99, m.latency_p999
        );
    }
}

fn config() -> Criterion {
    support::config().measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = throughput, frees, latency
}
criterion_main!(benches);
