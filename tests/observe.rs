//! The `tracing` and `metrics` integration, seen from outside: a capturing subscriber and the
//! `metrics-util` debugging recorder are installed for the whole test binary, a small sync
//! pipeline with a failing sink and a delivery queue with a delivery limit run, and the test
//! checks the spans, events and series that `docs/observability.md` promises.
//!
//! Both the subscriber and the recorder are process-wide, and a recorder snapshot resets what
//! it reads: the tests take `SERIAL` so that each one sees only its own emissions.

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;
use mqsync::delivery::{DeadReason, DeliveryQueue};
use mqsync::sync::{Change, DataSync, IterSource, Sink, SinkError};
use serde_json::json;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

// ----------------------------------------------------------------------------------------------
// A tracing layer that keeps every event and every new span, with its fields printed.

#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    target: String,
    /// The event's message, or the span's name.
    name: String,
    fields: HashMap<String, String>,
    /// The names of the spans the event happened in, outermost first.
    scope: Vec<String>,
}

#[derive(Default)]
struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

#[derive(Default)]
struct Capture {
    events: Mutex<Vec<Captured>>,
    spans: Mutex<Vec<Captured>>,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for &'static Capture {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _id: &tracing::span::Id,
        _ctx: Context<'_, S>,
    ) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let meta = attrs.metadata();
        lock(&self.spans).push(Captured {
            level: *meta.level(),
            target: meta.target().to_owned(),
            name: meta.name().to_owned(),
            fields: fields.0,
            scope: Vec::new(),
        });
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or_default();
        let scope = ctx
            .event_scope(event)
            .map(|scope| scope.from_root().map(|s| s.name().to_owned()).collect())
            .unwrap_or_default();
        lock(&self.events).push(Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            name: message,
            fields: fields.0,
            scope,
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Harness {
    capture: &'static Capture,
    metrics: Snapshotter,
}

/// Installs the subscriber and the recorder once; the guard serializes the tests and starts
/// each with nothing captured.
fn harness() -> (MutexGuard<'static, ()>, &'static Harness) {
    static SERIAL: Mutex<()> = Mutex::new(());
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    let serial = lock(&SERIAL);
    let harness = HARNESS.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::default());
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(capture))
            .expect("the only subscriber");
        let recorder = DebuggingRecorder::new();
        let metrics = recorder.snapshotter();
        recorder.install().expect("the only recorder");
        Harness { capture, metrics }
    });
    lock(&harness.capture.events).clear();
    lock(&harness.capture.spans).clear();
    let _ = harness.metrics.snapshot(); // resets counters, gauges and histograms
    (serial, harness)
}

/// A snapshot of the series: (name, sorted labels) → (kind, unit, value).
type Series =
    HashMap<(String, Vec<(String, String)>), (MetricKind, Option<metrics::Unit>, DebugValue)>;

fn series(h: &Harness) -> Series {
    h.metrics
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, unit, _, value)| {
            let (kind, key) = key.into_parts();
            let mut labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            ((key.name().to_owned(), labels), (kind, unit, value))
        })
        .collect()
}

fn get<'a>(
    s: &'a Series,
    name: &str,
    labels: &[(&str, &str)],
) -> &'a (MetricKind, Option<metrics::Unit>, DebugValue) {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    let key = (name.to_owned(), labels);
    s.get(&key)
        .unwrap_or_else(|| panic!("no series {key:?}; have {:?}", s.keys().collect::<Vec<_>>()))
}

fn counter(s: &Series, name: &str, labels: &[(&str, &str)]) -> u64 {
    match get(s, name, labels) {
        (MetricKind::Counter, _, DebugValue::Counter(n)) => *n,
        other => panic!("{name} is not a counter: {other:?}"),
    }
}

fn gauge(s: &Series, name: &str, labels: &[(&str, &str)]) -> f64 {
    match get(s, name, labels) {
        (MetricKind::Gauge, _, DebugValue::Gauge(v)) => v.into_inner(),
        other => panic!("{name} is not a gauge: {other:?}"),
    }
}

fn histogram(s: &Series, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    match get(s, name, labels) {
        (MetricKind::Histogram, _, DebugValue::Histogram(v)) => {
            v.iter().map(|x| x.into_inner()).collect()
        }
        other => panic!("{name} is not a histogram: {other:?}"),
    }
}

fn events<'a>(captured: &'a [Captured], message: &str) -> Vec<&'a Captured> {
    captured.iter().filter(|e| e.name == message).collect()
}

// ----------------------------------------------------------------------------------------------
// The sync pipeline.

/// Refuses any batch with the key "poison" as a whole (so the engine splits it and finally
/// dead-letters that change), and fails the key "flaky" once as a single item (a retry).
struct Picky {
    flaked: AtomicBool,
}

impl Sink for Picky {
    fn name(&self) -> &str {
        "picky"
    }

    fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
        if batch.iter().any(|c| c.key == "poison") {
            return Err(SinkError::Batch("constraint violation".into()));
        }
        let flaky = batch.iter().position(|c| c.key == "flaky");
        match flaky {
            Some(i) if !self.flaked.swap(true, Ordering::Relaxed) => {
                Err(SinkError::Items(vec![(i, "busy".into())]))
            }
            _ => Ok(()),
        }
    }
}

#[test]
fn a_sync_pipeline_reports_batches_retries_splits_and_dead_letters() {
    let (_serial, h) = harness();
    let mut keys: Vec<String> = (0..18).map(|i| format!("k{i}")).collect();
    keys.insert(9, "poison".into());
    keys.insert(3, "flaky".into());
    let total = keys.len() as u64; // 20
    let changes: Vec<Change> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Change::upsert(k.clone(), i as u64, json!(i)))
        .collect();
    let engine = DataSync::builder()
        .source(IterSource::new("orders", changes))
        .sink(Picky {
            flaked: AtomicBool::new(false),
        })
        .workers(1)
        // One worker gathering for up to 50 ms: the poison shares its batch with others, so
        // the batch fails as a whole and is split.
        .linger(Duration::from_millis(50))
        .start()
        .unwrap();
    assert!(engine.wait_idle(Duration::from_secs(60)));
    let report = engine.shutdown();
    assert_eq!(report.metrics.applied, total - 1);
    assert_eq!(report.dead_letters.len(), 1);

    // Metrics.
    let s = series(h);
    let source = [("source", "orders")];
    let sink = [("sink", "picky")];
    assert_eq!(counter(&s, "mqsync_sync_pulled_total", &source), total);
    assert_eq!(counter(&s, "mqsync_sync_applied_total", &[]), total - 1);
    assert_eq!(counter(&s, "mqsync_sync_dead_lettered_total", &sink), 1);
    assert_eq!(counter(&s, "mqsync_sync_committed_total", &source), total);
    assert_eq!(
        counter(&s, "mqsync_sync_retries_total", &sink),
        report.metrics.retries
    );
    let splits = counter(&s, "mqsync_sync_batch_splits_total", &sink);
    assert!(splits >= 1, "the poison's batch was never split");
    assert_eq!(gauge(&s, "mqsync_sync_in_flight", &source), 0.0);
    let latency = histogram(&s, "mqsync_sync_apply_latency_seconds", &[]);
    assert_eq!(
        latency.len() as u64,
        total - 1,
        "one sample per applied change"
    );
    assert!(
        latency.iter().all(|x| (0.0..60.0).contains(x)),
        "{latency:?}"
    );
    assert_eq!(
        get(&s, "mqsync_sync_apply_latency_seconds", &[]).1,
        Some(metrics::Unit::Seconds)
    );
    let sizes = histogram(&s, "mqsync_sync_batch_size", &[]);
    assert_eq!(sizes.iter().sum::<f64>() as u64, total, "{sizes:?}");
    let durations = histogram(&s, "mqsync_sync_sink_batch_duration_seconds", &sink);
    assert_eq!(
        durations.len(),
        sizes.len(),
        "one sample per batch and sink"
    );

    // Spans: one batch span per worker batch, one deliver span per batch and sink.
    let spans = lock(&h.capture.spans).clone();
    let batches: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "mqsync.sync.batch")
        .collect();
    assert_eq!(batches.len(), sizes.len());
    let delivers: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "mqsync.sync.deliver")
        .collect();
    assert_eq!(delivers.len(), sizes.len());
    assert!(delivers.iter().all(|s| s.fields["sink"] == "picky"));
    let spanned: u64 = batches
        .iter()
        .map(|s| s.fields["size"].parse::<u64>().unwrap())
        .sum();
    assert_eq!(spanned, total);

    // Events, with their levels and the span they happened in.
    let captured = lock(&h.capture.events).clone();
    let dead = events(&captured, "change dead-lettered");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].level, Level::WARN);
    assert_eq!(dead[0].target, "mqsync::sync");
    assert_eq!(
        (
            dead[0].fields["sink"].as_str(),
            dead[0].fields["key"].as_str()
        ),
        ("picky", "poison")
    );
    assert_eq!(dead[0].fields["reason"], "constraint violation");
    let split = events(&captured, "batch failed; splitting");
    assert_eq!(split.len() as u64, splits);
    assert!(split.iter().all(|e| e.level == Level::DEBUG));
    assert_eq!(
        split[0].scope,
        ["mqsync.sync.batch", "mqsync.sync.deliver"],
        "a split happens inside the batch's deliver span"
    );
    let retries = events(&captured, "sink failed; retrying");
    assert!(retries.iter().any(|e| e.fields["reason"] == "busy"));
    assert!(retries
        .iter()
        .any(|e| e.fields["reason"] == "constraint violation"));
    assert!(retries.iter().all(|e| e.level == Level::DEBUG));
    assert!(events(&captured, "source failed").is_empty());
}

// ----------------------------------------------------------------------------------------------
// The delivery queue.

/// A queue with a delivery limit of 2 (one line, so an API change touches one place).
fn limited_queue() -> DeliveryQueue<&'static str> {
    DeliveryQueue::builder().delivery_limit(2).build().unwrap()
}

#[test]
fn a_delivery_queue_reports_redeliveries_expirations_and_dead_letters() {
    let (_serial, h) = harness();
    let queue = limited_queue();
    queue
        .publish_with("stale", 0, Some(Duration::ZERO))
        .unwrap(); // expired on receive
    for message in ["a", "b", "c"] {
        queue.publish(message).unwrap();
    }
    let consumer = queue.consumer();
    let a = consumer.try_receive().unwrap(); // "stale" is dead-lettered on the way
    assert_eq!(*a.message(), "a");
    a.ack();
    consumer.try_receive().unwrap().nack(true); // "b", redelivered
    let b = consumer.try_receive().unwrap();
    assert_eq!((*b.message(), b.delivery_count()), ("b", 2));
    b.nack(true); // the limit: dead-lettered
    consumer.try_receive().unwrap().reject(); // "c"
    let reasons: Vec<DeadReason> = std::iter::from_fn(|| queue.dead_letters().pop())
        .map(|d| d.reason)
        .collect();
    assert_eq!(
        reasons,
        [
            DeadReason::Expired,
            DeadReason::DeliveryLimit(2),
            DeadReason::Rejected
        ]
    );

    let s = series(h);
    assert_eq!(counter(&s, "mqsync_delivery_published_total", &[]), 4);
    assert_eq!(counter(&s, "mqsync_delivery_delivered_total", &[]), 4);
    assert_eq!(counter(&s, "mqsync_delivery_acked_total", &[]), 1);
    assert_eq!(counter(&s, "mqsync_delivery_redelivered_total", &[]), 1);
    assert_eq!(counter(&s, "mqsync_delivery_expired_total", &[]), 1);
    for reason in ["expired", "delivery_limit", "rejected"] {
        let labels = [("reason", reason)];
        assert_eq!(
            counter(&s, "mqsync_delivery_dead_lettered_total", &labels),
            1
        );
    }
    // Everything settled: nothing ready, nothing out.
    assert_eq!(gauge(&s, "mqsync_delivery_ready", &[]), 0.0);
    assert_eq!(gauge(&s, "mqsync_delivery_unacked", &[]), 0.0);
    let stats = queue.stats();
    assert_eq!((stats.ready, stats.unacked, stats.published), (0, 0, 4));

    let captured = lock(&h.capture.events).clone();
    let dead = events(&captured, "message dead-lettered");
    assert_eq!(dead.len(), 3);
    assert!(dead
        .iter()
        .all(|e| e.level == Level::WARN && e.target == "mqsync::delivery"));
    assert_eq!(dead[1].fields["reason"], "delivered 2 times without an ack");
    assert_eq!(dead[1].fields["deliveries"], "2");
    let requeued = events(&captured, "message requeued");
    assert_eq!(requeued.len(), 1);
    assert_eq!(requeued[0].level, Level::DEBUG);
    let expired = events(&captured, "message expired");
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].level, Level::DEBUG);
}

/// Gauges move with the messages, not just at the end: one message out, one waiting.
#[test]
fn delivery_gauges_follow_the_queue() {
    let (_serial, h) = harness();
    let queue = limited_queue();
    queue.publish("x").unwrap();
    queue.publish("y").unwrap();
    let consumer = queue.consumer();
    let held = consumer.try_receive().unwrap();
    let s = series(h);
    assert_eq!(gauge(&s, "mqsync_delivery_ready", &[]), 1.0);
    assert_eq!(gauge(&s, "mqsync_delivery_unacked", &[]), 1.0);
    held.ack();
    consumer.try_receive().unwrap().ack();
}

/// A queue dropped with messages still in it takes them out of the `ready` gauge (the gauge is
/// process-wide: without this it would drift up for good).
#[test]
fn a_dropped_queue_leaves_the_ready_gauge() {
    let (_serial, h) = harness();
    let queue = limited_queue();
    for m in ["a", "b", "c"] {
        queue.publish(m).unwrap();
    }
    let consumer = queue.consumer();
    consumer.try_receive().unwrap().ack();
    drop((consumer, queue));
    let s = series(h);
    assert_eq!(gauge(&s, "mqsync_delivery_ready", &[]), 0.0);
    assert_eq!(gauge(&s, "mqsync_delivery_unacked", &[]), 0.0);
}

// ----------------------------------------------------------------------------------------------
// The Redis link (feature `redis`; skipped, saying so, without a `redis-server` on PATH).

/// For the server-backed tests: whether the server's binary is there. A missing one fails the
/// test (as the connector's own tests do) unless `skip_var=1` says to skip, which is reported.
#[cfg(all(any(feature = "redis", feature = "rabbitmq"), feature = "testing"))]
fn server_available(available: bool, skip_var: &str, install: &str) -> bool {
    if !available {
        assert_eq!(
            std::env::var(skip_var).as_deref(),
            Ok("1"),
            "{install} (or {skip_var}=1 to skip)"
        );
        eprintln!("SKIPPED ({skip_var}=1): {install}");
    }
    available
}

/// Every metric label and every captured event field passes `clean` (no URL, no password).
#[cfg(all(any(feature = "redis", feature = "rabbitmq"), feature = "testing"))]
fn assert_labels_and_fields(s: &Series, captured: &[Captured], clean: impl Fn(&str) -> bool) {
    assert!(s
        .keys()
        .all(|(_, labels)| labels.iter().all(|(_, v)| clean(v))));
    assert!(
        captured.iter().all(|e| e.fields.values().all(|v| clean(v))),
        "{captured:?}"
    );
}

/// A Redis sink into `stream` on `url` (one line, so an API change touches one place).
#[cfg(all(feature = "redis", feature = "testing"))]
fn redis_sink(url: &str, stream: &str) -> mqsync::sync::RedisSink {
    mqsync::sync::RedisSink::new(
        &mqsync::sync::RedisConfig::builder(url, stream)
            .build()
            .unwrap(),
    )
}

#[cfg(all(feature = "redis", feature = "testing"))]
#[test]
fn a_redis_restart_is_a_lost_connection_then_a_reconnect_labelled_by_stream() {
    use mqsync::sync::redis_testing::RedisServer;
    let (_serial, h) = harness();
    if !server_available(
        RedisServer::available(),
        "MQSYNC_SKIP_REDIS",
        "redis-server is not on PATH: apt-get install redis-server",
    ) {
        return;
    }
    // The sink logs in as an ACL user with a password (the fixture's own probes use the
    // password-less default user), so that the checks below can look for the password.
    const PASSWORD: &str = "obs-s3cret-pw";
    let password_rule = format!(">{PASSWORD}");
    let acl = ["--user", "app", "on", &password_rule, "~*", "&*", "+@all"];
    let mut server = RedisServer::start_with(&acl).unwrap();
    let url = server
        .url()
        .replacen("redis://", &format!("redis://app:{PASSWORD}@"), 1);
    let sink = redis_sink(&url, "obs-orders");
    sink.apply(&[Change::delete("k", 1)]).unwrap(); // connects: not a reconnect
    server.restart().unwrap(); // the sink's pooled connection is now dead
    sink.apply(&[Change::delete("k", 2)])
        .expect("the sink reconnects within its retry budget");

    let s = series(h);
    let stream = [("stream", "obs-orders")];
    assert!(counter(&s, "mqsync_redis_connection_lost_total", &stream) >= 1);
    assert_eq!(counter(&s, "mqsync_redis_reconnects_total", &stream), 1);
    let captured = lock(&h.capture.events).clone();
    let lost = events(&captured, "redis connection lost");
    assert!(!lost.is_empty());
    assert!(lost
        .iter()
        .all(|e| e.level == Level::WARN && e.target == "mqsync::redis"));
    let back = events(&captured, "redis reconnected");
    assert_eq!(back.len(), 1);
    assert_eq!(
        (back[0].level, back[0].fields["stream"].as_str()),
        (Level::INFO, "obs-orders")
    );
    // Labels and fields name the stream, never the URL.
    assert_labels_and_fields(&s, &captured, |text| {
        !text.contains(PASSWORD) && !text.contains("redis://") && !text.contains("127.0.0.1")
    });
}

// ----------------------------------------------------------------------------------------------
// The RabbitMQ links (feature `rabbitmq`; skipped, saying so, without `rabbitmq-server`).

#[cfg(all(feature = "rabbitmq", feature = "testing"))]
#[test]
fn a_rabbitmq_restart_and_a_dead_letter_are_reported_labelled_by_link() {
    use mqsync::sync::rabbitmq_testing::{RabbitMqServer, PASSWORD};
    use mqsync::sync::{RabbitMqConfig, RabbitMqSink, RabbitMqSource, Source};
    let (_serial, h) = harness();
    if !server_available(
        RabbitMqServer::available(),
        "MQSYNC_SKIP_RABBITMQ",
        "rabbitmq-server is not installed: apt-get install rabbitmq-server",
    ) {
        return;
    }
    let mut server = RabbitMqServer::start().unwrap();
    let config = RabbitMqConfig::builder(server.url(), "obs-orders")
        .quorum(false)
        .build()
        .unwrap();
    let sink = RabbitMqSink::new(&config);
    sink.apply(&[Change::delete("k", 1)]).unwrap(); // connects: not a reconnect
    server.restart().unwrap(); // the sink's pooled connection is now dead
    sink.apply(&[Change::delete("k", 2)])
        .expect("the sink reconnects within its retry budget");
    // A source whose decoder refuses everything: both messages become dead letters.
    let mut source =
        RabbitMqSource::new(&config).decoder(|_| Err("refused by the observe test".to_owned()));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while source.stats().snapshot().dead_lettered < 2 && std::time::Instant::now() < deadline {
        assert!(source.pull(16).unwrap().is_empty(), "nothing decodes");
    }
    assert_eq!(source.stats().snapshot().dead_lettered, 2);
    drop(source);

    let s = series(h);
    let sink_link = [("link", "rabbitmq:/obs-orders")];
    let source_link = [("link", "rabbitmq:obs-orders")];
    assert!(counter(&s, "mqsync_rabbitmq_connection_lost_total", &sink_link) >= 1);
    assert_eq!(
        counter(&s, "mqsync_rabbitmq_reconnects_total", &sink_link),
        1
    );
    assert_eq!(
        counter(&s, "mqsync_rabbitmq_dead_lettered_total", &source_link),
        2
    );
    let captured = lock(&h.capture.events).clone();
    let lost = events(&captured, "rabbitmq connection lost");
    assert!(!lost.is_empty());
    assert!(lost
        .iter()
        .all(|e| e.level == Level::WARN && e.target == "mqsync::rabbitmq"));
    let back = events(&captured, "rabbitmq reconnected");
    assert_eq!(back.len(), 1);
    assert_eq!(
        (back[0].level, back[0].fields["link"].as_str()),
        (Level::INFO, "rabbitmq:/obs-orders")
    );
    let dead = events(&captured, "rabbitmq message dead-lettered");
    assert_eq!(dead.len(), 2);
    assert!(dead.iter().all(|e| e.level == Level::WARN
        && e.fields["link"] == "rabbitmq:obs-orders"
        && e.fields["reason"].contains("refused by the observe test")));
    // Labels and fields name the link, never the URL or its password.
    assert_labels_and_fields(&s, &captured, |text| {
        !text.contains(PASSWORD) && !text.contains("amqp://")
    });
}
