//! RabbitMQ on loopback, against a `rabbitmq-server` node of the bench's own (temporary
//! directory, no plugins):
//!
//! * `rabbitmq_sink`: 500 changes into a durable classic queue, persistent, with publisher
//!   confirms: `confirmed_batches_250` (`RabbitMqSink::apply` on two batches of 250: every
//!   publish sent, then every confirm awaited) against `bare_lapin_confirm_per_message` (a bare
//!   lapin channel that publishes one message and waits for its confirm before the next, JSON
//!   encoded beforehand) — the ratio is what batching the confirms buys;
//! * `rabbitmq_end_to_end`: 10,000 changes already in a (quorum) queue, consumed into a
//!   `Replica` by `source_engine_replica` (one `DataSync` engine with one `RabbitMqSource`,
//!   timed from the engine's start until the source has acknowledged every message; the
//!   engine's shutdown is not timed) against `bare_lapin_batch_ack` (a bare lapin consumer with
//!   the same prefetch that decodes each body, applies it to a `Replica` and acks with
//!   `multiple` every 256 messages) — the ratio is the engine's and the connector's overhead.
//!   Both connect inside the timing; the dead-letter queue the source declares exists already
//!   (a new quorum queue is a one-time cost of a deployment, some milliseconds here).
//!
//! `cargo bench --bench rabbitmq --features rabbitmq,testing` (needs `rabbitmq-server`:
//! `apt-get install -y rabbitmq-server`). Flat sampling, 10 samples: one iteration is long.

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use futures_core::Stream;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use mqsync::sync::rabbitmq_testing::RabbitMqServer;
use mqsync::sync::{Change, DataSync, RabbitMqConfig, RabbitMqSink, RabbitMqSource, Replica, Sink};
use serde_json::json;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const SINK_MESSAGES: usize = 500;
const E2E_MESSAGES: usize = 10_000;
/// The source's default batch (and so its default prefetch, 4 × 256).
const BATCH: usize = 256;

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

/// A fresh queue name per iteration, so that every iteration starts from an empty queue.
fn fresh(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures_executor::block_on(f)
}

fn sink(c: &mut Criterion, url: &str) {
    let batch = changes(SINK_MESSAGES);
    let encoded: Vec<Vec<u8>> = batch
        .iter()
        .map(|c| serde_json::to_vec(c).unwrap())
        .collect();
    let mut group = c.benchmark_group("rabbitmq_sink");
    group.throughput(Throughput::Elements(SINK_MESSAGES as u64));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("bare_lapin_confirm_per_message", |b| {
        let conn = block_on(Connection::connect(url, ConnectionProperties::default())).unwrap();
        let channel = block_on(conn.create_channel()).unwrap();
        block_on(channel.confirm_select(ConfirmSelectOptions::default())).unwrap();
        let mut classic = FieldTable::default();
        classic.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(LongString::from("classic")),
        );
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let queue = fresh("bare-sink");
                let durable = QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                };
                block_on(channel.queue_declare(&queue, durable, classic.clone())).unwrap();
                let start = Instant::now();
                for body in &encoded {
                    let confirm = block_on(channel.basic_publish(
                        "",
                        &queue,
                        BasicPublishOptions::default(),
                        body,
                        BasicProperties::default().with_delivery_mode(2),
                    ))
                    .unwrap();
                    assert!(block_on(confirm).unwrap().is_ack());
                }
                total += start.elapsed();
                block_on(channel.queue_delete(&queue, Default::default())).unwrap();
            }
            total
        });
    });
    group.bench_function("confirmed_batches_250", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let queue = fresh("sink");
                let config = RabbitMqConfig::builder(url, queue.clone())
                    .quorum(false)
                    .build()
                    .unwrap();
                let sink = RabbitMqSink::new(&config);
                sink.apply(&batch[..1]).unwrap(); // connect and declare outside the timing
                let start = Instant::now();
                for part in batch.chunks(250) {
                    sink.apply(part).unwrap();
                }
                total += start.elapsed();
            }
            total
        });
    });
    group.finish();
}

/// Fills a fresh quorum queue with `log` and declares its dead-letter queue (untimed: creating
/// a quorum queue starts a Raft group, a one-time cost of a deployment, not of a message);
/// returns the queue's name.
fn filled(url: &str, log: &[Change]) -> String {
    let queue = fresh("e2e");
    let sink = RabbitMqSink::new(&RabbitMqConfig::builder(url, queue.clone()).build().unwrap());
    for part in log.chunks(1_000) {
        sink.apply(part).unwrap();
    }
    let mut quorum = FieldTable::default();
    quorum.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    block_on(async {
        let conn = Connection::connect(url, ConnectionProperties::default())
            .await
            .unwrap();
        let channel = conn.create_channel().await.unwrap();
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let dead = format!("{queue}.dead");
        channel.queue_declare(&dead, durable, quorum).await.unwrap();
        conn.close(200, "done").await.unwrap();
    });
    queue
}

fn end_to_end(c: &mut Criterion, url: &str) {
    let log = changes(E2E_MESSAGES);
    let mut group = c.benchmark_group("rabbitmq_end_to_end");
    group.throughput(Throughput::Elements(E2E_MESSAGES as u64));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("bare_lapin_batch_ack", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let queue = filled(url, &log);
                let replica = Replica::new();
                let start = Instant::now();
                block_on(async {
                    let conn = Connection::connect(url, ConnectionProperties::default())
                        .await
                        .unwrap();
                    let channel = conn.create_channel().await.unwrap();
                    channel
                        .basic_qos((4 * BATCH) as u16, BasicQosOptions::default())
                        .await
                        .unwrap();
                    let mut consumer = channel
                        .basic_consume(
                            &queue,
                            "",
                            BasicConsumeOptions::default(),
                            FieldTable::default(),
                        )
                        .await
                        .unwrap();
                    let mut seen = 0;
                    while seen < E2E_MESSAGES {
                        let next = std::future::poll_fn(|cx| Pin::new(&mut consumer).poll_next(cx));
                        let delivery = next.await.unwrap().unwrap();
                        let change: Change = serde_json::from_slice(&delivery.data).unwrap();
                        replica.apply(&change);
                        seen += 1;
                        if seen % BATCH == 0 || seen == E2E_MESSAGES {
                            channel
                                .basic_ack(
                                    delivery.delivery_tag,
                                    BasicAckOptions { multiple: true },
                                )
                                .await
                                .unwrap();
                        }
                    }
                    conn.close(200, "done").await.unwrap();
                });
                total += start.elapsed();
            }
            total
        });
    });
    group.bench_function("source_engine_replica", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let queue = filled(url, &log);
                let source =
                    RabbitMqSource::new(&RabbitMqConfig::builder(url, queue).build().unwrap());
                let stats = source.stats();
                let start = Instant::now();
                let engine = DataSync::builder()
                    .source(source)
                    .sink(Arc::new(Replica::new()))
                    .start()
                    .unwrap();
                while stats.snapshot().acked < E2E_MESSAGES as u64 {
                    thread::sleep(Duration::from_micros(200));
                }
                total += start.elapsed();
                engine.shutdown();
            }
            total
        });
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let server =
        RabbitMqServer::start().expect("rabbitmq-server (apt-get install -y rabbitmq-server)");
    let url = server.url();
    sink(c, &url);
    end_to_end(c, &url);
}

criterion_group!(rabbitmq_benches, benches);
criterion_main!(rabbitmq_benches);
