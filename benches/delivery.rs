//! The delivery queue against what users hand-build today: a crossbeam-channel plus a
//! `Mutex<HashMap>` of unacknowledged messages. publish → receive → ack, 1P1C and 4P4C, and the
//! cost of priorities (1 level against 8). Consumers back off on empty (crossbeam-utils'
//! `Backoff::snooze`: a short spin, then `yield_now`), as real code does.
//!
//! With `journal`, the durable queue (a journal under it) against the in-memory one.
//!
//! `cargo bench --bench delivery --features delivery,journal`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use crossbeam_utils::Backoff;
use mqsync::delivery::DeliveryQueue;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

mod support;

const MESSAGES: u64 = 100_000;

/// The hand-built baseline: a channel for ready messages, a locked map for unacked ones.
struct HandBuilt {
    tx: crossbeam_channel::Sender<(u64, u64)>,
    rx: crossbeam_channel::Receiver<(u64, u64)>,
    unacked: Mutex<HashMap<u64, u64>>,
    next_tag: AtomicU64,
}

impl HandBuilt {
    fn new() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        HandBuilt {
            tx,
            rx,
            unacked: Mutex::new(HashMap::new()),
            next_tag: AtomicU64::new(0),
        }
    }
    fn publish(&self, m: u64) {
        let tag = self.next_tag.fetch_add(1, Ordering::Relaxed);
        self.tx.send((tag, m)).unwrap();
    }
    /// Receive, record as unacked, process, ack.
    fn receive_and_ack(&self) -> bool {
        match self.rx.try_recv() {
            Ok((tag, m)) => {
                self.unacked.lock().unwrap().insert(tag, m);
                black_box(m);
                self.unacked.lock().unwrap().remove(&tag);
                true
            }
            Err(_) => false,
        }
    }
}

fn run_mqsync(q: &DeliveryQueue<u64>, producers: usize, consumers: usize, levels: u8) -> Duration {
    run_mqsync_n(q, MESSAGES, producers, consumers, levels)
}

fn run_mqsync_n(
    q: &DeliveryQueue<u64>,
    messages: u64,
    producers: usize,
    consumers: usize,
    levels: u8,
) -> Duration {
    let per = messages / producers as u64;
    let total = per * producers as u64;
    let done = &AtomicU64::new(0);
    let mut workers: Vec<support::Work<'_>> = Vec::new();
    for p in 0..producers {
        let q = q.clone();
        workers.push(Box::new(move || {
            for i in 0..per {
                q.publish_with(i, ((i + p as u64) % u64::from(levels)) as u8, None)
                    .unwrap();
            }
        }));
    }
    for _ in 0..consumers {
        let consumer = q.consumer();
        workers.push(Box::new(move || {
            let backoff = Backoff::new();
            while done.load(Ordering::Relaxed) < total {
                match consumer.try_receive() {
                    Ok(d) => {
                        black_box(d.message());
                        d.ack();
                        done.fetch_add(1, Ordering::Relaxed);
                        backoff.reset();
                    }
                    Err(_) => backoff.snooze(),
                }
            }
        }));
    }
    support::run_timed(workers)
}

fn run_hand_built(producers: usize, consumers: usize) -> Duration {
    let q = &HandBuilt::new();
    let per = MESSAGES / producers as u64;
    let total = per * producers as u64;
    let done = &AtomicU64::new(0);
    let mut workers: Vec<support::Work<'_>> = Vec::new();
    for _ in 0..producers {
        workers.push(Box::new(move || {
            for i in 0..per {
                q.publish(i);
            }
        }));
    }
    for _ in 0..consumers {
        workers.push(Box::new(move || {
            let backoff = Backoff::new();
            while done.load(Ordering::Relaxed) < total {
                if q.receive_and_ack() {
                    done.fetch_add(1, Ordering::Relaxed);
                    backoff.reset();
                } else {
                    backoff.snooze();
                }
            }
        }));
    }
    support::run_timed(workers)
}

fn publish_receive_ack(c: &mut Criterion) {
    for (p, cons) in [(1, 1), (4, 4)] {
        let mut g = c.benchmark_group(format!("delivery/publish_receive_ack/{p}P{cons}C"));
        g.throughput(Throughput::Elements(MESSAGES));
        for levels in [1u8, 8] {
            g.bench_function(
                BenchmarkId::new("mqsync::DeliveryQueue", format!("{levels} levels")),
                |b| {
                    b.iter_custom(|iters| {
                        (0..iters)
                            .map(|_| {
                                let q =
                                    DeliveryQueue::builder().priorities(levels).build().unwrap();
                                run_mqsync(&q, p, cons, levels)
                            })
                            .sum()
                    })
                },
            );
        }
        g.bench_function(
            BenchmarkId::new("crossbeam-channel + Mutex<HashMap>", "1 level"),
            |b| b.iter_custom(|iters| (0..iters).map(|_| run_hand_built(p, cons)).sum()),
        );
        g.finish();
    }
}

/// The durable queue against the in-memory one: the same 1P1C run of publish → receive → ack,
/// with a journal under the queue at two flush policies. `EveryBatch` moves 2,000 messages an
/// iteration (an fsync each publish and each ack: 100,000 would take most of a minute).
#[cfg(feature = "journal")]
fn durable(c: &mut Criterion) {
    use mqsync::journal::{FlushPolicy, Journal, JournalOptions};
    let mut g = c.benchmark_group("delivery/durable/1P1C");
    g.throughput(Throughput::Elements(MESSAGES));
    g.bench_function("in memory", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| run_mqsync(&DeliveryQueue::builder().build().unwrap(), 1, 1, 1))
                .sum()
        })
    });
    let interval = FlushPolicy::Interval(Duration::from_millis(10));
    for (name, policy, mapped, messages) in [
        ("journal, Interval(10 ms), mapped", interval, true, MESSAGES),
        ("journal, Interval(10 ms), write", interval, false, MESSAGES),
        (
            "journal, EveryBatch, mapped",
            FlushPolicy::EveryBatch,
            true,
            2_000,
        ),
    ] {
        g.throughput(Throughput::Elements(messages));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let dir = tempfile::tempdir().unwrap();
                        let options = JournalOptions::default()
                            .flush(policy)
                            .memory_mapped(mapped);
                        let journal = Journal::open(dir.path(), options).unwrap();
                        let q = DeliveryQueue::builder().open_durable(journal).unwrap();
                        run_mqsync_n(&q, messages, 1, 1, 1)
                    })
                    .sum()
            })
        });
    }
    g.finish();
}

#[cfg(not(feature = "journal"))]
fn durable(_: &mut Criterion) {}

criterion_group! {
    name = benches;
    config = support::config();
    targets = publish_receive_ack, durable
}
criterion_main!(benches);
