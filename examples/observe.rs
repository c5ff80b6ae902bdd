//! A service that watches mqsync with the tools it already runs: `tracing` events printed by a
//! `tracing-subscriber` formatter, and every `mqsync_*` series exported by
//! `metrics-exporter-prometheus` in Prometheus' text format.
//!
//! It syncs a few changes into a sink that refuses one of them (a retry, a split, a dead
//! letter), runs a delivery queue with a delivery limit, prints the exposition text and exits.
//! With `--serve ADDR` it then answers every HTTP request on ADDR with the current text, as a
//! `/metrics` endpoint for Prometheus to scrape (Ctrl-C to stop).
//!
//! ```text
//! cargo run --example observe --features "sync tracing metrics"
//! cargo run --example observe --features "sync tracing metrics" -- --serve 127.0.0.1:9000
//! curl -s 127.0.0.1:9000/metrics | grep mqsync_sync_dead_lettered_total
//! ```
//!
//! The exporter is used without its default features (no Tokio, no hyper): the recorder and
//! its `render()` are all a service with its own HTTP server needs. See `docs/observability.md`.

#[path = "shared/flags.rs"]
mod flags;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use mqsync::delivery::DeliveryQueue;
use mqsync::sync::{Change, DataSync, IterSource, Replica, Sink, SinkError};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use tracing::Level;

/// Latency buckets (seconds) for the `_seconds` histograms: 10 µs to 10 s. Without them the
/// exporter renders histograms as summaries (quantiles per process, not aggregatable).
const BUCKETS: &[f64] = &[
    1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1.0, 5.0, 10.0,
];

/// A sink that refuses the key "poison": the engine retries, splits its batch, and
/// dead-letters it (a `WARN` event and `mqsync_sync_dead_lettered_total{sink="ledger"}`).
struct Ledger;

impl Sink for Ledger {
    fn name(&self) -> &str {
        "ledger"
    }

    fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
        if batch.iter().any(|c| c.key == "poison") {
            return Err(SinkError::Batch("negative balance".into()));
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut serve = None;
    flags::parse(
        std::env::args_os().skip(1),
        "usage: observe [--serve ADDR]",
        |flag, p| {
            match flag {
                "--serve" => serve = Some(flags::text(p, flag)?),
                other => return Err(format!("unknown flag {other:?} (try --help)")),
            }
            Ok(())
        },
    )?;

    // Installed before the first engine or queue starts, so the series' descriptions (units,
    // `# HELP`) reach the exporter.
    let prometheus = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)?
        .install_recorder()?;
    tracing_subscriber::fmt()
        .with_max_level(Level::INFO)
        .with_target(true)
        .init();

    run_sync();
    run_delivery();

    print!("{}", prometheus.render());
    if let Some(addr) = serve {
        serve_metrics(&addr, &prometheus)?;
    }
    Ok(())
}

fn run_sync() {
    const KEYS: [&str; 5] = ["a", "b", "poison", "c", "d"];
    let changes = KEYS
        .iter()
        .enumerate()
        .map(|(i, k)| Change::upsert(*k, i as u64, json!({ "n": i })));
    let replica = Arc::new(Replica::new());
    let engine = DataSync::builder()
        .source(IterSource::new("orders", changes))
        .sink(Ledger)
        .sink(replica.clone())
        .workers(1)
        .linger(Duration::from_millis(20))
        .start()
        .expect("a valid configuration");
    assert!(engine.wait_idle(Duration::from_secs(30)));
    // The latency of this interval (the Prometheus histogram keeps the cumulative buckets).
    let interval = engine.take_latency();
    tracing::info!(count = interval.count, p99 = ?interval.p99, "sync latency this interval");
    let report = engine.shutdown();
    assert_eq!(report.dead_letters.len(), 1);
}

fn run_delivery() {
    let queue = DeliveryQueue::builder()
        .delivery_limit(2)
        .build()
        .expect("a valid delivery configuration");
    queue.publish("job-1").unwrap();
    queue.publish("job-2").unwrap();
    let consumer = queue.consumer();
    consumer.try_receive().unwrap().ack();
    consumer.try_receive().unwrap().nack(true); // redelivered once
    consumer.try_receive().unwrap().nack(true); // the limit: a WARN dead letter
}

/// Answers every connection with the current exposition text (HTTP/1.0, one request each).
fn serve_metrics(addr: &str, prometheus: &PrometheusHandle) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    eprintln!(
        "serving metrics on http://{}/metrics",
        listener.local_addr()?
    );
    for stream in listener.incoming() {
        let mut stream = stream?;
        // Read the request head; the path does not matter.
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut line = String::new();
        while reader.read_line(&mut line)? > 2 {
            line.clear();
        }
        prometheus.run_upkeep();
        let body = prometheus.render();
        write!(
            stream,
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
    }
    Ok(())
}
