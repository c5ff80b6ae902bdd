//! The main job: the whole mqsync pipeline, verified.
//!
//! 1. Queues: a million messages through `MsQueue` and `RingBuffer`, 4 producers × 4 consumers,
//!    checked for loss, duplication and per-producer order.
//! 2. Integration: three source systems send heterogeneous inputs — JSON orders, CSV sensor rows,
//!    logfmt log lines, bare meter numbers — with malformed ones mixed in; rayon normalizes them
//!    into `Message`s by per-source rules; bad input becomes a rejection with a reason.
//! 3. Delivery: the messages are published, with a priority per source, to a `DeliveryQueue`.
//! 4. Sync: a `DataSync` engine consumes the queue (acknowledging on commit) and applies the
//!    changes to an in-memory replica and to a second target that fails and panics at random;
//!    failures are retried, poison changes dead-lettered.
//! 5. Verification: both targets must equal the final state computed independently.
//!
//! `cargo run --release --example pipeline --features sync -- --help`

use mqsync::delivery::DeliveryQueue;
use mqsync::integrate::{Integrator, RuleSet};
use mqsync::sync::{Change, DataSync, DeliverySource, Op, Replica, RetryPolicy, Sink, SinkError};
use mqsync::{Fifo, MsQueue, RingBuffer};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[path = "shared/flags.rs"]
mod flags;
#[path = "shared/inputs.rs"]
mod inputs;
use inputs::{priority, source_inputs, Rng, RULES};

const HELP: &str = "\
mqsync pipeline: the whole library at work, verified.

usage: cargo run --release --example pipeline --features sync -- [flags]

  --messages N       inputs from the source systems (default 50000)
  --queue-messages N messages through the raw queues in stage 1 (default 1000000)
  --workers N        sync worker threads (default 2)
  --failure-rate F   share of changes the flaky target fails, 0..1 (default 0.05)
  -h, --help         this text";

struct Args {
    messages: usize,
    queue_messages: usize,
    workers: usize,
    failure_rate: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        messages: 50_000,
        queue_messages: 1_000_000,
        workers: 2,
        failure_rate: 0.05,
    };
    flags::parse(std::env::args_os().skip(1), HELP, |flag, p| {
        match flag {
            "--messages" => args.messages = flags::whole(p, flag)?,
            "--queue-messages" => args.queue_messages = flags::whole(p, flag)?,
            "--workers" => args.workers = flags::whole(p, flag)?,
            "--failure-rate" => args.failure_rate = flags::fraction(p, flag)?,
            other => return Err(format!("unknown flag {other:?} (try --help)")),
        }
        Ok(())
    })?;
    if args.workers == 0 || args.messages == 0 || args.queue_messages < 4 {
        return Err(
            "--workers and --messages must be at least 1, --queue-messages at least 4".into(),
        );
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let mut failures = Vec::new();
    println!(
        "== 1. queues: {} messages, 4 producers x 4 consumers",
        args.queue_messages
    );
    for (name, result) in [
        (
            "MsQueue (unbounded)",
            queue_stage(MsQueue::new(), args.queue_messages),
        ),
        (
            "RingBuffer (cap 1024)",
            queue_stage(RingBuffer::with_capacity(1024), args.queue_messages),
        ),
    ] {
        match result {
            Ok(rate) => println!(
                "   {name:<22} {rate:>7.2} M msg/s   OK: none lost, none duplicated, in order"
            ),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    match sync_stages(&args) {
        Ok(()) => {}
        Err(e) => failures.push(e),
    }
    if failures.is_empty() {
        println!("\nall stages verified");
    } else {
        for f in &failures {
            eprintln!("FAILED: {f}");
        }
        std::process::exit(1);
    }
}

/// Stage 1: moves (producer, sequence) pairs through `queue`; returns millions of messages/s.
fn queue_stage<Q: Fifo<(usize, usize)> + Send + Sync + 'static>(
    queue: Q,
    messages: usize,
) -> Result<f64, String> {
    const SIDES: usize = 4;
    let queue = Arc::new(queue);
    let per = messages / SIDES;
    let total = per * SIDES;
    let consumed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let producers: Vec<_> = (0..SIDES)
        .map(|p| {
            let queue = Arc::clone(&queue);
            thread::spawn(move || {
                for seq in 0..per {
                    let mut item = (p, seq);
                    while let Err(full) = queue.push(item) {
                        item = full.into_inner();
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..SIDES)
        .map(|_| {
            let (queue, consumed) = (Arc::clone(&queue), Arc::clone(&consumed));
            thread::spawn(move || {
                let mut next = [0usize; SIDES];
                let (mut count, mut disorder) = (0usize, 0usize);
                while consumed.load(Ordering::Relaxed) < total {
                    match queue.pop() {
                        Some((p, seq)) => {
                            consumed.fetch_add(1, Ordering::Relaxed);
                            disorder += usize::from(seq < next[p]);
                            next[p] = seq + 1;
                            count += 1;
                        }
                        None => thread::yield_now(),
                    }
                }
                (count, disorder)
            })
        })
        .collect();
    for p in producers {
        p.join().map_err(|_| "a producer panicked")?;
    }
    let (mut received, mut disorder) = (0, 0);
    for c in consumers {
        let (n, d) = c.join().map_err(|_| "a consumer panicked")?;
        received += n;
        disorder += d;
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    if received != total || disorder != 0 || !queue.is_empty() {
        return Err(format!(
            "{received} of {total} received, {disorder} out of order"
        ));
    }
    Ok(total as f64 / secs / 1e6)
}

/// A target that fails a share of the changes it is given, always refuses one key (a poison
/// record), and sometimes panics.
struct Flaky {
    target: Replica,
    rng: Mutex<Rng>,
    failure_per_million: u64,
    poison_key: &'static str,
}

impl Sink for Flaky {
    fn name(&self) -> &str {
        "flaky-target"
    }

    fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        if rng.u64(..1_000) < 5 {
            panic!("flaky target crashed");
        }
        let mut failed = Vec::new();
        for (i, change) in batch.iter().enumerate() {
            if change.key == self.poison_key {
                failed.push((i, "constraint violation (poison record)".to_string()));
            } else if rng.u64(..1_000_000) < self.failure_per_million {
                failed.push((i, "injected failure".to_string()));
            } else {
                self.target.apply(change);
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(SinkError::Items(failed))
        }
    }
}

/// Stages 2–5.
fn sync_stages(args: &Args) -> Result<(), String> {
    println!("\n== 2. integration: {} inputs from orders (JSON), sensors (CSV), logs (logfmt), meters (numbers)", args.messages);
    let rules = RuleSet::from_toml_str(RULES).map_err(|e| e.to_string())?;
    let integrator = Integrator::builder()
        .rules(rules)
        .build()
        .map_err(|e| e.to_string())?;
    let inputs = source_inputs(args.messages);
    let started = Instant::now();
    let outcome = integrator.integrate_batch(inputs);
    let took = started.elapsed();
    let (messages, rejected) = (outcome.messages, outcome.rejected);
    println!(
        "   integrated {} and rejected {} in {:.1} ms ({:.0} k inputs/s on rayon)",
        messages.len(),
        rejected.len(),
        took.as_secs_f64() * 1e3,
        args.messages as f64 / took.as_secs_f64().max(1e-9) / 1e3
    );
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rejected {
        let reason = r.reason.to_string();
        let short = reason.split(':').next().unwrap_or(&reason).to_string();
        *reasons
            .entry(format!("{} / {short}", r.input.source))
            .or_default() += 1;
    }
    for (reason, n) in &reasons {
        println!("   rejected {n:>5} x {reason}");
    }
    if messages.len() + rejected.len() != args.messages {
        return Err("integration lost inputs".into());
    }

    // The expected final state, computed independently of the pipeline: the highest version of
    // each key wins (versionless meter readings are keyed by their unique ids).
    let changes: Vec<(u8, Change)> = messages
        .into_iter()
        .map(|m| (priority(&m.source), Change::from(m)))
        .collect();
    let mut expected: BTreeMap<String, (Option<u64>, serde_json::Value)> = BTreeMap::new();
    for (_, c) in &changes {
        let Op::Upsert(value) = &c.op else { continue };
        let newer = expected.get(&c.key).is_none_or(|(v, _)| c.version > *v);
        if newer {
            expected.insert(c.key.clone(), (c.version, value.clone()));
        }
    }

    println!("\n== 3. delivery: publishing {} changes with priorities (orders 3, sensors 2, logs 1, meters 0)", changes.len());
    let queue: DeliveryQueue<Change> = DeliveryQueue::builder()
        .priorities(4)
        .delivery_limit(5)
        .build()
        .expect("valid delivery settings");
    let total = changes.len() as u64;

    println!("\n== 4. sync: {} workers into a replica and a flaky target ({:.1}% failures, key o-13 always refused, 0.5% of batches panic)", args.workers, args.failure_rate * 100.0);
    let replica = Arc::new(Replica::new());
    let flaky = Arc::new(Flaky {
        target: Replica::new(),
        rng: Mutex::new(Rng::with_seed(0xF1A_C0FFEE)),
        failure_per_million: (args.failure_rate * 1e6) as u64,
        poison_key: "o-13",
    });
    std::panic::set_hook(Box::new(|_| {})); // the flaky target's panics are expected
    let engine = DataSync::builder()
        .source(DeliverySource::new("delivery-queue", &queue))
        .sink(replica.clone())
        .sink(flaky.clone())
        .workers(args.workers)
        .retry(RetryPolicy::new(
            6,
            Duration::from_micros(100),
            Duration::from_millis(5),
        ))
        .start()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let publisher = {
        let queue = queue.clone();
        thread::spawn(move || {
            for (priority, change) in changes {
                queue
                    .publish_with(change, priority, None)
                    .expect("an open, unbounded queue");
            }
        })
    };
    let mut last = Instant::now();
    loop {
        let m = engine.metrics();
        if m.applied + m.dead_lettered >= total {
            break;
        }
        if last.elapsed() >= Duration::from_millis(250) {
            println!(
                "   progress: {:>6} / {total} applied, {:>4} dead-lettered, {:>5} retries, {:>5} in flight",
                m.applied, m.dead_lettered, m.retries, m.in_flight
            );
            last = Instant::now();
        }
        thread::sleep(Duration::from_millis(5));
    }
    publisher.join().map_err(|_| "the publisher panicked")?;
    let report = engine.shutdown();
    let _ = std::panic::take_hook();
    let elapsed = started.elapsed();
    let m = &report.metrics;
    let ms = |d: Option<Duration>| {
        d.map_or("-".to_string(), |d| {
            format!("{:.2} ms", d.as_secs_f64() * 1e3)
        })
    };
    println!(
        "   applied {} / {total}, dead-lettered {}, retries {}, committed {}",
        m.applied, m.dead_lettered, m.retries, m.committed
    );
    println!(
        "   throughput {:.0} changes/s, source-to-apply latency p50 {} p99 {}",
        m.applied as f64 / elapsed.as_secs_f64().max(1e-9),
        ms(m.latency_p50),
        ms(m.latency_p99)
    );
    let stats = queue.stats();
    println!(
        "   delivery queue: acked {}, unacked {}, ready {}",
        stats.acked, stats.unacked, stats.ready
    );

    println!("\n== 5. verification");
    let mut problems = Vec::new();
    if m.applied + m.dead_lettered != total || m.pulled != total {
        problems.push(format!(
            "accounting: pulled {} applied {} dead {} of {total}",
            m.pulled, m.applied, m.dead_lettered
        ));
    }
    if stats.acked != total || stats.unacked != 0 {
        problems.push(format!(
            "delivery queue: acked {} unacked {}",
            stats.acked, stats.unacked
        ));
    }
    let want: BTreeMap<String, serde_json::Value> = expected
        .iter()
        .map(|(k, (_, v))| (k.clone(), v.clone()))
        .collect();
    let replica_ok = replica.snapshot() == want;
    println!(
        "   replica equals the expected final state ({} keys): {}",
        want.len(),
        if replica_ok { "yes" } else { "NO" }
    );
    if !replica_ok {
        problems.push("the replica differs from the expected state".into());
    }
    // The flaky target misses exactly the keys whose final change was dead-lettered there.
    let dead_final: Vec<&str> = report
        .dead_letters
        .iter()
        .filter(|d| {
            expected
                .get(&d.change.key)
                .is_some_and(|(v, _)| *v == d.change.version)
        })
        .map(|d| d.change.key.as_str())
        .collect();
    let flaky_state = flaky.target.snapshot();
    let flaky_ok = want
        .iter()
        .filter(|(k, _)| !dead_final.contains(&k.as_str()))
        .all(|(k, v)| flaky_state.get(k) == Some(v));
    println!(
        "   flaky target equals it except the {} keys whose last change was dead-lettered: {}",
        dead_final.len(),
        if flaky_ok { "yes" } else { "NO" }
    );
    if !flaky_ok {
        problems.push("the flaky target differs beyond its dead letters".into());
    }
    for d in report.dead_letters.iter().take(3) {
        println!(
            "   dead letter: {} at {:?} on {}: {}",
            d.change.key, d.change.version, d.sink, d.reason
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
