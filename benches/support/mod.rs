//! What the benches share: the criterion settings ([`config`], [`group`]), the barrier-timed
//! cross-thread runner ([`run_timed`]), and for the queue benches (`benches/ms_queue.rs`,
//! `benches/ring_buffer.rs`) the peer surface ([`Peer`]), the peers that are not ours and the
//! cross-thread scenario ([`transfer`]).
//!
//! The cross-thread scenario is the one of issue 14: `u64` messages, producers and consumers
//! that back off on full/empty with crossbeam-utils' `Backoff::snooze` (a short exponential
//! spin, then `yield_now`; never a pure spin, so an oversubscribed run measures the queue and
//! not the scheduler's patience). Channels take part as queues, through `try_send`/`try_recv`.

// Each bench uses the peers of its own kind (bounded or unbounded) only.
#![allow(dead_code)]

use concurrent_queue::ConcurrentQueue;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use crossbeam_queue::{ArrayQueue, SegQueue};
use crossbeam_utils::Backoff;
use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The capacity of every bounded peer.
pub const CAP: usize = 1024;

/// Messages moved per iteration of a cross-thread scenario.
pub const MESSAGES: usize = 100_000;

/// The queue surface the scenarios need, for `u64` messages. A peer without batches loops over
/// single operations.
pub trait Peer: Send + Sync + Sized + 'static {
    /// The name criterion reports.
    const NAME: &'static str;
    /// A new, empty queue: bounded to [`CAP`] if the peer is bounded.
    fn new() -> Self;
    /// Appends `v`; false when the queue is full.
    fn push(&self, v: u64) -> bool;
    /// Removes the oldest element; `None` when the queue is empty.
    fn pop(&self) -> Option<u64>;
    /// Pushes every item of `items`, which fit.
    fn push_batch(&self, items: impl Iterator<Item = u64>) {
        for v in items {
            assert!(self.push(v), "{}: batch did not fit", Self::NAME);
        }
    }
    /// Moves up to `limit` elements to `out`; returns how many.
    fn pop_batch(&self, out: &mut Vec<u64>, limit: usize) -> usize {
        let mut n = 0;
        while n < limit {
            match self.pop() {
                Some(v) => out.push(v),
                None => break,
            }
            n += 1;
        }
        n
    }
}

impl Peer for SegQueue<u64> {
    const NAME: &'static str = "crossbeam::SegQueue";
    fn new() -> Self {
        SegQueue::new()
    }
    fn push(&self, v: u64) -> bool {
        SegQueue::push(self, v);
        true
    }
    fn pop(&self) -> Option<u64> {
        SegQueue::pop(self)
    }
}

impl Peer for ArrayQueue<u64> {
    const NAME: &'static str = "crossbeam::ArrayQueue";
    fn new() -> Self {
        ArrayQueue::new(CAP)
    }
    fn push(&self, v: u64) -> bool {
        ArrayQueue::push(self, v).is_ok()
    }
    fn pop(&self) -> Option<u64> {
        ArrayQueue::pop(self)
    }
}

/// concurrent-queue, bounded to [`CAP`] when `BOUNDED`, unbounded otherwise.
pub struct Concurrent<const BOUNDED: bool>(ConcurrentQueue<u64>);

impl<const BOUNDED: bool> Peer for Concurrent<BOUNDED> {
    const NAME: &'static str = if BOUNDED {
        "concurrent_queue::bounded"
    } else {
        "concurrent_queue::unbounded"
    };
    fn new() -> Self {
        Concurrent(if BOUNDED {
            ConcurrentQueue::bounded(CAP)
        } else {
            ConcurrentQueue::unbounded()
        })
    }
    fn push(&self, v: u64) -> bool {
        self.0.push(v).is_ok()
    }
    fn pop(&self) -> Option<u64> {
        self.0.pop().ok()
    }
}

/// crossbeam-channel used as a queue (`try_send`/`try_recv`), bounded to [`CAP`] when
/// `BOUNDED`.
pub struct CrossbeamChannel<const BOUNDED: bool>(
    crossbeam_channel::Sender<u64>,
    crossbeam_channel::Receiver<u64>,
);

impl<const BOUNDED: bool> Peer for CrossbeamChannel<BOUNDED> {
    const NAME: &'static str = if BOUNDED {
        "crossbeam_channel::bounded"
    } else {
        "crossbeam_channel::unbounded"
    };
    fn new() -> Self {
        let (tx, rx) = if BOUNDED {
            crossbeam_channel::bounded(CAP)
        } else {
            crossbeam_channel::unbounded()
        };
        CrossbeamChannel(tx, rx)
    }
    fn push(&self, v: u64) -> bool {
        self.0.try_send(v).is_ok()
    }
    fn pop(&self) -> Option<u64> {
        self.1.try_recv().ok()
    }
}

/// kanal used as a queue (`try_send`/`try_recv`), bounded to [`CAP`] when `BOUNDED`.
pub struct Kanal<const BOUNDED: bool>(kanal::Sender<u64>, kanal::Receiver<u64>);

impl<const BOUNDED: bool> Peer for Kanal<BOUNDED> {
    const NAME: &'static str = if BOUNDED {
        "kanal::bounded"
    } else {
        "kanal::unbounded"
    };
    fn new() -> Self {
        let (tx, rx) = if BOUNDED {
            kanal::bounded(CAP)
        } else {
            kanal::unbounded()
        };
        Kanal(tx, rx)
    }
    fn push(&self, v: u64) -> bool {
        // Ok(false): full (the value, a copy, is dropped); Err: closed, which never happens here.
        self.0.try_send(v).expect("kanal channel closed")
    }
    fn pop(&self) -> Option<u64> {
        self.1.try_recv().expect("kanal channel closed")
    }
}

/// `Mutex<VecDeque>`, bounded to [`CAP`] when `BOUNDED`; batches take the lock once.
pub struct Locked<const BOUNDED: bool>(Mutex<VecDeque<u64>>);

impl<const BOUNDED: bool> Peer for Locked<BOUNDED> {
    const NAME: &'static str = "Mutex<VecDeque>";
    fn new() -> Self {
        Locked(Mutex::new(VecDeque::with_capacity(if BOUNDED {
            CAP
        } else {
            0
        })))
    }
    fn push(&self, v: u64) -> bool {
        let mut q = self.0.lock().unwrap();
        if BOUNDED && q.len() == CAP {
            return false;
        }
        q.push_back(v);
        true
    }
    fn pop(&self) -> Option<u64> {
        self.0.lock().unwrap().pop_front()
    }
    fn push_batch(&self, items: impl Iterator<Item = u64>) {
        self.0.lock().unwrap().extend(items);
    }
    fn pop_batch(&self, out: &mut Vec<u64>, limit: usize) -> usize {
        let mut q = self.0.lock().unwrap();
        let n = limit.min(q.len());
        out.extend(q.drain(..n));
        n
    }
}

/// The criterion settings every bench starts from: 10 samples, 0.5 s warm-up, 2 s measurement
/// (a bench that needs longer sets its own `measurement_time` on top).
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

/// A thread's work in [`run_timed`].
pub type Work<'env> = Box<dyn FnOnce() + Send + 'env>;

/// Runs each of `workers` on a thread of its own from a common start: every thread waits at a
/// barrier, the clock starts when the last one (and this thread) arrives, and stops when every
/// worker has returned. Workers may borrow from the caller.
pub fn run_timed(workers: Vec<Work<'_>>) -> Duration {
    let start = Barrier::new(workers.len() + 1);
    thread::scope(|s| {
        let threads: Vec<_> = workers
            .into_iter()
            .map(|work| {
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    work()
                })
            })
            .collect();
        start.wait();
        let clock = Instant::now();
        for t in threads {
            t.join().unwrap();
        }
        clock.elapsed()
    })
}

/// A criterion group counting `elements` per iteration (the settings come from [`config`]).
pub fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
    elements: usize,
) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(elements as u64));
    g
}

/// One thread, one push then one pop per iteration.
pub fn single_thread<Q: Peer>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let q = Q::new();
    g.bench_function(Q::NAME, |b| {
        b.iter(|| {
            q.push(black_box(7));
            // The value, not the `Option`: a 16-byte `Option<u64>` passed to `black_box` is
            // stored as two words and reloaded as one, a failed store-to-load forward that
            // would add the same few nanoseconds to every row and none to the yardstick's
            // `u64` (docs/benchmarks.md).
            black_box(q.pop().expect("pushed just before"))
        })
    });
}

/// One thread: [`CAP`] pushes, then pops until empty.
pub fn fill_then_drain<Q: Peer>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let q = Q::new();
    g.bench_function(Q::NAME, |b| {
        b.iter(|| {
            for i in 0..CAP as u64 {
                q.push(black_box(i));
            }
            while let Some(v) = q.pop() {
                black_box(v);
            }
        })
    });
}

/// One thread: a batch of `batch` pushed, then popped.
pub fn batch<Q: Peer>(g: &mut BenchmarkGroup<'_, WallTime>, batch: usize) {
    let q = Q::new();
    let mut out = Vec::with_capacity(batch);
    g.bench_function(Q::NAME, |b| {
        b.iter(|| {
            q.push_batch(black_box(0..batch as u64));
            out.clear();
            black_box(q.pop_batch(&mut out, batch));
        })
    });
}

/// The messages a `producers`-producer run moves: [`MESSAGES`] rounded down to a multiple.
pub fn messages(producers: usize) -> usize {
    MESSAGES / producers * producers
}

/// `producers` × `consumers` threads move [`messages`]`(producers)` messages per iteration, timed
/// from the start barrier to the last pop ([`transfer`]).
pub fn cross_thread<Q: Peer>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    producers: usize,
    consumers: usize,
) {
    g.bench_function(Q::NAME, |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| transfer::<Q>(producers, consumers))
                .sum()
        })
    });
}

/// One run of the cross-thread scenario on a fresh queue: the threads meet at a barrier, the
/// clock runs from there until every thread is done. Producers snooze while the queue is full,
/// consumers while it is empty (crossbeam-utils' `Backoff`: spin 1, 2, 4, ... 64 PAUSEs, then
/// `yield_now`). Consumers report their pops to a shared counter every 64 pops and whenever
/// they find the queue empty, and stop when it reaches the total.
pub fn transfer<Q: Peer>(producers: usize, consumers: usize) -> Duration {
    let q = Q::new();
    let per_producer = MESSAGES / producers;
    let total = per_producer * producers;
    let popped = AtomicUsize::new(0);
    let (q, popped) = (&q, &popped);
    let mut workers: Vec<Work<'_>> = Vec::with_capacity(producers + consumers);
    for _ in 0..producers {
        workers.push(Box::new(move || {
            for i in 0..per_producer as u64 {
                let backoff = Backoff::new();
                while !q.push(i) {
                    backoff.snooze();
                }
            }
        }));
    }
    for _ in 0..consumers {
        workers.push(Box::new(move || {
            let mut mine = 0;
            let backoff = Backoff::new();
            while popped.load(Ordering::Relaxed) < total {
                match q.pop() {
                    Some(v) => {
                        black_box(v);
                        backoff.reset();
                        mine += 1;
                        if mine == 64 {
                            popped.fetch_add(mine, Ordering::Relaxed);
                            mine = 0;
                        }
                    }
                    None => {
                        if mine > 0 {
                            popped.fetch_add(mine, Ordering::Relaxed);
                            mine = 0;
                        }
                        backoff.snooze();
                    }
                }
            }
        }));
    }
    run_timed(workers)
}
