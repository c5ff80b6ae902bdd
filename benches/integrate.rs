//! Integration throughput on a realistic mixed feed and on nested JSON events.
//!
//! Groups (peers in one group, so one run gives the ratio):
//! - `json_per_message` (flat order events, ~200–500 bytes) and `nested_per_message` (events
//!   with a nested user object, a tag array, an amount and a free-text note, ~300–500 bytes):
//!   `Integrator::integrate` vs bare `serde_json::from_slice::<Value>` on the same bytes
//!   (target: at most 1.0×).
//! - `batch_100k`: `integrate_batch` of 100k mixed inputs (JSON, text, numbers, CSV, logfmt) on
//!   a 1-thread pool (which runs on the calling thread) and a 2-thread rayon pool, and a plain
//!   loop that keeps its results as a batch does (target: 2 threads ≥ 1.7× 1 thread).
//! - `nested_batch_100k`: 100k nested events, bare serde_json in a loop that keeps its values,
//!   and `integrate_batch` on 1 and 2 threads.
//! - `long_per_message`: the same comparison on 1,000 documents of about 16 KiB, mostly long
//!   string values (log lines, descriptions), where scanning strings dominates.
//! - `tiny_batch_10`: `integrate_batch` of 10 inputs vs a plain loop of `integrate` collecting
//!   its results.
//!
//! Short measurement (`sample_size(10)`) so the whole run takes a few minutes.
//!
//! The allocator decides how well batches scale: with glibc malloc every input allocated on the
//! calling thread and freed on a worker (and every message the other way) crosses malloc arenas.
//! `RUSTFLAGS="--cfg mqsync_bench_mimalloc" cargo bench --bench integrate --features integrate`
//! runs the same bench on mimalloc (a dev-dependency), which frees across threads cheaply.

#[path = "support/integrate_feed.rs"]
mod feed;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use feed::{long_text_event, mixed_feed, nested_event, order_json};
use mqsync::integrate::{Input, Integrator, Raw};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

#[cfg(mqsync_bench_mimalloc)]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 100_000;
const JSON_DOCS: usize = 10_000;
const LONG_DOCS: usize = 1_000;

fn pool(threads: usize) -> Arc<rayon::ThreadPool> {
    Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a rayon pool"),
    )
}

/// `integrate` of each document against bare `serde_json::from_slice::<Value>` of the same bytes.
fn per_message(c: &mut Criterion, name: &str, docs: &[Vec<u8>]) {
    let mean = docs.iter().map(Vec::len).sum::<usize>() / docs.len();
    eprintln!("{name}: {} documents, mean {mean} bytes", docs.len());
    let integrator = Integrator::default();
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(docs.len() as u64));
    group.bench_function("serde_json_from_slice", |b| {
        b.iter(|| {
            for doc in docs {
                black_box(serde_json::from_slice::<serde_json::Value>(doc).expect("valid JSON"));
            }
        })
    });
    group.bench_function("integrate", |b| {
        b.iter_batched(
            || docs.iter().cloned().map(Raw::Json).collect::<Vec<_>>(),
            |raws| {
                for raw in raws {
                    black_box(integrator.integrate(raw).expect("accepted"));
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn json_per_message(c: &mut Criterion) {
    let docs: Vec<Vec<u8>> = (0..JSON_DOCS).map(order_json).collect();
    per_message(c, "json_per_message", &docs);
}

fn nested_per_message(c: &mut Criterion) {
    let docs: Vec<Vec<u8>> = (0..JSON_DOCS).map(nested_event).collect();
    per_message(c, "nested_per_message", &docs);
}

fn long_per_message(c: &mut Criterion) {
    let docs: Vec<Vec<u8>> = (0..LONG_DOCS).map(long_text_event).collect();
    per_message(c, "long_per_message", &docs);
}

fn batch_100k(c: &mut Criterion) {
    let feed = mixed_feed(BATCH);
    let loop_integrator = Integrator::default();
    let mut group = c.benchmark_group("batch_100k");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("plain_loop", |b| {
        b.iter_batched(
            || feed.clone(),
            |inputs| {
                // Keeps every result, as a batch does: dropping each message at once would
                // recycle the same hot allocations and flatter the loop.
                let results: Vec<_> = inputs
                    .into_iter()
                    .map(|input| loop_integrator.integrate(input))
                    .collect();
                black_box(results)
            },
            BatchSize::PerIteration,
        )
    });
    pool_rows(&mut group, &feed, |outcome| outcome.len());
    group.finish();
}

fn nested_batch_100k(c: &mut Criterion) {
    let feed: Vec<Input> = (0..BATCH)
        .map(|i| Input::new("events", Raw::Json(nested_event(i))))
        .collect();
    let mut group = c.benchmark_group("nested_batch_100k");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("serde_json_loop", |b| {
        b.iter_batched(
            || feed.clone(),
            |inputs| {
                // Parses each payload and keeps the values, and frees the inputs, as a batch does.
                let values: Vec<serde_json::Value> = inputs
                    .into_iter()
                    .map(|input| match input.raw {
                        Raw::Json(bytes) => serde_json::from_slice(&bytes).expect("valid JSON"),
                        _ => unreachable!("the feed is JSON"),
                    })
                    .collect();
                black_box(values)
            },
            BatchSize::PerIteration,
        )
    });
    pool_rows(&mut group, &feed, |outcome| outcome.messages.len());
    group.finish();
}

/// The rows every 100k batch group shares: `integrate_batch` on a 1-thread and a 2-thread
/// pool, each checking that `counted` (what the feed must yield) covers the whole batch.
fn pool_rows(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    feed: &[Input],
    counted: fn(&mqsync::integrate::BatchOutcome) -> usize,
) {
    for (name, threads) in [("pool_1_thread", 1), ("rayon_2_threads", 2)] {
        let integrator = Integrator::builder()
            .pool(pool(threads))
            .build()
            .expect("rules");
        group.bench_function(name, |b| {
            b.iter_batched(
                || feed.to_vec(),
                |inputs| {
                    let outcome = integrator.integrate_batch(inputs);
                    assert_eq!(counted(&outcome), BATCH);
                    black_box(outcome)
                },
                BatchSize::PerIteration,
            )
        });
    }
}

fn tiny_batch_10(c: &mut Criterion) {
    let feed = mixed_feed(10);
    let integrator = Integrator::default();
    let mut group = c.benchmark_group("tiny_batch_10");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(10));
    group.bench_function("plain_loop", |b| {
        b.iter_batched(
            || feed.clone(),
            |inputs| {
                let results: Vec<_> = inputs
                    .into_iter()
                    .map(|input| integrator.integrate(input))
                    .collect();
                black_box(results)
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("integrate_batch", |b| {
        b.iter_batched(
            || feed.clone(),
            |inputs| black_box(integrator.integrate_batch(inputs)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    json_per_message,
    nested_per_message,
    long_per_message,
    batch_100k,
    nested_batch_100k,
    tiny_batch_10
);
criterion_main!(benches);
