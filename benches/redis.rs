//! Redis Streams on loopback, against a `redis-server` of the bench's own (append-only,
//! `appendfsync everysec`, temporary directory):
//!
//! * `redis_sink`: 1,000 changes into a stream through `RedisSink::apply`, either
//!   `pipelined_500` (two batches of 500: one round trip per batch) or `xadd_per_message`
//!   (1,000 calls of one change: one round trip each); `bare_redis_rs_pipeline_500` is the
//!   practical floor: a bare redis-rs pipeline of the same entries, JSON encoded beforehand;
//! * `redis_end_to_end`: 20,000 changes already in a stream, consumed through one consumer
//!   group into a `Replica` by `one_consumer` (one `DataSync` engine with one `RedisSource`)
//!   or `two_consumers` (two engines on two threads, each with its own source and connection),
//!   timed from the engines' start until the group has acknowledged every entry (the engines'
//!   shutdown is not timed).
//!
//! `cargo bench --bench redis --features redis,testing` (needs `redis-server`:
//! `apt-get install -y redis-server`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mqsync::sync::redis_testing::{group_backlog_on, RedisServer};
use mqsync::sync::{Change, DataSync, RedisConfig, RedisSink, RedisSource, Replica, Sink};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const SINK_MESSAGES: usize = 1_000;
const E2E_MESSAGES: usize = 20_000;

fn changes(n: usize) -> Vec<Change> {
    (0..n as u64)
        .map(|i| {
            Change::upsert(
                format!("order-{}", i % 5_000),
                i,
                json!({"customer": format!("c-{}", i % 300), "amount": (i % 50_000) as f64 / 100.0}),
            )
        })
        .collect()
}

/// A fresh stream name per iteration, so that every iteration starts from an empty stream.
fn fresh(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn flush(url: &str) {
    let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
    redis::cmd("FLUSHALL").exec(&mut conn).unwrap();
}

fn sink(c: &mut Criterion, url: &str) {
    let batch = changes(SINK_MESSAGES);
    let mut group = c.benchmark_group("redis_sink");
    group.throughput(Throughput::Elements(SINK_MESSAGES as u64));
    group.sample_size(20);
    let encoded: Vec<String> = batch
        .iter()
        .map(|c| serde_json::to_string(c).unwrap())
        .collect();
    group.bench_function("bare_redis_rs_pipeline_500", |b| {
        let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let stream = fresh("bare");
                let start = Instant::now();
                for part in encoded.chunks(500) {
                    let mut pipe = redis::pipe();
                    for json in part {
                        pipe.cmd("XADD")
                            .arg(&stream)
                            .arg("*")
                            .arg("change")
                            .arg(json)
                            .ignore();
                    }
                    pipe.exec(&mut conn).unwrap();
                }
                total += start.elapsed();
            }
            flush(url);
            total
        });
    });
    for (name, per_call) in [("pipelined_500", 500), ("xadd_per_message", 1)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let sink =
                        RedisSink::new(&RedisConfig::builder(url, fresh("sink")).build().unwrap());
                    sink.apply(&batch[..1]).unwrap(); // connect outside the timing
                    let start = Instant::now();
                    for part in batch.chunks(per_call) {
                        sink.apply(part).unwrap();
                    }
                    total += start.elapsed();
                }
                flush(url);
                total
            });
        });
    }
    group.finish();
}

fn end_to_end(c: &mut Criterion, url: &str) {
    let log = changes(E2E_MESSAGES);
    let mut group = c.benchmark_group("redis_end_to_end");
    group.throughput(Throughput::Elements(E2E_MESSAGES as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for (name, consumers) in [("one_consumer", 1usize), ("two_consumers", 2)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let stream = fresh("e2e");
                    let producer =
                        RedisSink::new(&RedisConfig::builder(url, stream.clone()).build().unwrap());
                    for part in log.chunks(1_000) {
                        producer.apply(part).unwrap();
                    }
                    let start = Instant::now();
                    let runs: Vec<_> = (0..consumers)
                        .map(|i| {
                            let config = RedisConfig::builder(url, stream.clone())
                                .group("bench")
                                .consumer(format!("c{i}"))
                                .build()
                                .unwrap();
                            let url = url.to_owned();
                            thread::spawn(move || consume(&url, config, start))
                        })
                        .collect();
                    let mut last = Duration::ZERO;
                    let mut acked = 0;
                    for run in runs {
                        let (n, took) = run.join().unwrap();
                        acked += n;
                        last = last.max(took);
                    }
                    total += last;
                    assert_eq!(acked, E2E_MESSAGES as u64);
                }
                flush(url);
                total
            });
        });
    }
    group.finish();
}

/// One consumer: an engine that reads the group into a replica until the group has
/// acknowledged every entry (its own and the other consumer's); returns what it acknowledged
/// and when (since `start`) the group was done — the engine's shutdown is not timed.
fn consume(url: &str, config: RedisConfig, start: Instant) -> (u64, Duration) {
    let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
    let source = RedisSource::new(&config);
    let stats = source.stats();
    let engine = DataSync::builder()
        .source(source)
        .sink(Arc::new(Replica::new()))
        .start()
        .unwrap();
    // The group may not exist yet for the first polls.
    while group_backlog_on(&mut conn, config.stream_name(), "bench").ok() != Some((0, 0)) {
        thread::sleep(Duration::from_micros(500));
    }
    let took = start.elapsed();
    engine.shutdown();
    (stats.snapshot().acked, took)
}

fn benches(c: &mut Criterion) {
    let server = RedisServer::start().expect("redis-server (apt-get install -y redis-server)");
    let url = server.url();
    sink(c, &url);
    end_to_end(c, &url);
}

criterion_group!(redis_benches, benches);
criterion_main!(redis_benches);
