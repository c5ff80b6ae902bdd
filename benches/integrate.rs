//! Integration throughput on a realistic mixed feed.
//!
//! Groups (peers in one group, so one run gives the ratio):
//! - `json_per_message`: `Integrator::integrate` on ~200–500-byte JSON objects vs bare
//!   `serde_json::from_slice::<Value>` on the same bytes (target: at most 1.5×).
//! - `batch_100k`: `integrate_batch` of 100k mixed inputs (JSON, text, numbers, CSV, logfmt) on
//!   a 1-thread pool (which runs on the calling thread) and a 2-thread rayon pool, and a plain
//!   loop that keeps its results as a batch does (target: 2 threads ≥ 1.7× 1 thread).
//! - `tiny_batch_10`: `integrate_batch` of 10 inputs vs a plain loop of `integrate` collecting
//!   its results.
//!
//! Short measurement (`sample_size(10)`) so the whole run takes a few minutes.
//!
//! The allocator decides how well batches scale: with glibc malloc every input allocated on the
//! calling thread and freed on a worker (and every message the other way) crosses malloc arenas,
//! which costs about a third more CPU. `--features bench-mimalloc` runs the same bench on
//! mimalloc, which frees across threads cheaply.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mqsync::integrate::{CsvHeader, Input, Integrator, Raw};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "bench-mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 100_000;
const JSON_DOCS: usize = 10_000;

/// An order event of roughly 200–500 bytes; `i` varies the content and size.
fn order_json(i: usize) -> Vec<u8> {
    let items: Vec<String> = (0..(i % 4) + 1)
        .map(|k| {
            format!(
                r#"{{"sku":"SKU-{:05}","qty":{},"price":{}.{:02}}}"#,
                i * 7 + k,
                k + 1,
                3 + k * 11,
                i % 100
            )
        })
        .collect();
    format!(
        r#"{{"order_id":"O-{i}","event":"order.placed","placed_at":"2024-03-01T12:{:02}:{:02}Z","customer":{{"id":{},"name":"Customer {i}","email":"c{i}@example.com","vip":{}}},"items":[{}],"total":{}.{:02},"currency":"EUR","note":null}}"#,
        i % 60,
        (i * 7) % 60,
        i % 5000,
        i % 3 == 0,
        items.join(","),
        i % 900,
        i % 100,
    )
    .into_bytes()
}

/// 100k inputs: 60% JSON objects, 10% each text, numbers, CSV rows, logfmt lines.
fn mixed_feed(n: usize) -> Vec<Input> {
    let header = CsvHeader::parse("id,sku,qty,price,warehouse").expect("a CSV header");
    (0..n)
        .map(|i| {
            let raw = match i % 10 {
                0..=5 => Raw::Json(order_json(i)),
                6 => Raw::Text(format!("shipment {i} left the warehouse at dock {}", i % 12)),
                7 => {
                    if i % 20 == 7 {
                        Raw::Int(i as i64)
                    } else {
                        Raw::Float(i as f64 * 0.25)
                    }
                }
                8 => Raw::Csv { header: header.clone(), row: format!("{i},SKU-{:05},{},{}.99,\"Berlin, DE\"", i % 9999, i % 7, i % 300) },
                _ => Raw::Logfmt(format!(
                    "ts=2024-03-01T12:00:{:02}Z level=info msg=\"stock updated\" sku=SKU-{:05} delta={} node=n{}",
                    i % 60,
                    i % 9999,
                    (i % 11) as i64 - 5,
                    i % 8
                )),
            };
            Input::new("shop", raw)
        })
        .collect()
}

fn pool(threads: usize) -> Arc<rayon::ThreadPool> {
    Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a rayon pool"),
    )
}

fn json_per_message(c: &mut Criterion) {
    let docs: Vec<Vec<u8>> = (0..JSON_DOCS).map(order_json).collect();
    let mean = docs.iter().map(Vec::len).sum::<usize>() / docs.len();
    eprintln!("json_per_message: {JSON_DOCS} documents, mean {mean} bytes");
    let integrator = Integrator::default();
    let mut group = c.benchmark_group("json_per_message");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(JSON_DOCS as u64));
    group.bench_function("serde_json_from_slice", |b| {
        b.iter(|| {
            for doc in &docs {
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

fn batch_100k(c: &mut Criterion) {
    let feed = mixed_feed(BATCH);
    let loop_integrator = Integrator::default();
    let one = Integrator::builder().pool(pool(1)).build().expect("rules");
    let two = Integrator::builder().pool(pool(2)).build().expect("rules");
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
    for (name, integrator) in [("pool_1_thread", &one), ("rayon_2_threads", &two)] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || feed.clone(),
                |inputs| {
                    let outcome = integrator.integrate_batch(inputs);
                    assert_eq!(outcome.len(), BATCH);
                    black_box(outcome)
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
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

criterion_group!(benches, json_per_message, batch_100k, tiny_batch_10);
criterion_main!(benches);
