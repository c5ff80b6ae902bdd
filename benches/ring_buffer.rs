//! `RingBuffer` against its peers, all bounded to 1024: crossbeam's `ArrayQueue`,
//! concurrent-queue's `ConcurrentQueue::bounded`, and `Mutex<VecDeque>`.
//!
//! Each group holds all four, so one run gives the ratios. Run with
//! `cargo bench --bench ring_buffer`; the settings keep the whole run to a few minutes.
//! Cross-thread scenarios use `iter_custom`: threads meet at a `Barrier`, the clock runs from
//! there until the last message is popped; producers and consumers yield when the queue is
//! full or empty (the benchmark machine may have fewer cores than threads).

use concurrent_queue::ConcurrentQueue;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use mqsync::RingBuffer;
use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const CAP: usize = 1024;
/// Messages per iteration of the cross-thread scenarios.
const MESSAGES: usize = 100_000;
const BATCH: usize = 64;

/// The surface the scenarios need; a peer without batches loops over singles.
trait BenchQueue: Send + Sync + 'static {
    const NAME: &'static str;
    fn bounded(cap: usize) -> Self;
    /// False when full.
    fn push(&self, v: u64) -> bool;
    fn pop(&self) -> Option<u64>;
    /// Pushes all of `items`, which fit.
    fn push_batch(&self, items: impl Iterator<Item = u64>) {
        for v in items {
            assert!(self.push(v));
        }
    }
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

impl BenchQueue for RingBuffer<u64> {
    const NAME: &'static str = "mqsync::RingBuffer";
    fn bounded(cap: usize) -> Self {
        RingBuffer::with_capacity(cap)
    }
    fn push(&self, v: u64) -> bool {
        RingBuffer::push(self, v).is_ok()
    }
    fn pop(&self) -> Option<u64> {
        RingBuffer::pop(self)
    }
    fn push_batch(&self, items: impl Iterator<Item = u64>) {
        assert!(RingBuffer::push_batch(self, items).is_ok());
    }
    fn pop_batch(&self, out: &mut Vec<u64>, limit: usize) -> usize {
        self.pop_many(out, limit)
    }
}

impl BenchQueue for ArrayQueue<u64> {
    const NAME: &'static str = "crossbeam::ArrayQueue";
    fn bounded(cap: usize) -> Self {
        ArrayQueue::new(cap)
    }
    fn push(&self, v: u64) -> bool {
        ArrayQueue::push(self, v).is_ok()
    }
    fn pop(&self) -> Option<u64> {
        ArrayQueue::pop(self)
    }
}

impl BenchQueue for ConcurrentQueue<u64> {
    const NAME: &'static str = "concurrent_queue::bounded";
    fn bounded(cap: usize) -> Self {
        ConcurrentQueue::bounded(cap)
    }
    fn push(&self, v: u64) -> bool {
        ConcurrentQueue::push(self, v).is_ok()
    }
    fn pop(&self) -> Option<u64> {
        ConcurrentQueue::pop(self).ok()
    }
}

/// `Mutex<VecDeque>` with its capacity enforced; batches take the lock once.
struct Locked(Mutex<VecDeque<u64>>, usize);

impl BenchQueue for Locked {
    const NAME: &'static str = "Mutex<VecDeque>";
    fn bounded(cap: usize) -> Self {
        Locked(Mutex::new(VecDeque::with_capacity(cap)), cap)
    }
    fn push(&self, v: u64) -> bool {
        let mut q = self.0.lock().unwrap();
        if q.len() == self.1 {
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

fn single_thread_pairs<Q: BenchQueue>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let q = Q::bounded(CAP);
    g.bench_function(Q::NAME, |b| {
        b.iter(|| {
            q.push(black_box(7));
            black_box(q.pop())
        })
    });
}

fn burst<Q: BenchQueue>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let q = Q::bounded(CAP);
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

fn batches<Q: BenchQueue>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let q = Q::bounded(CAP);
    let mut out = Vec::with_capacity(BATCH);
    g.bench_function(Q::NAME, |b| {
        b.iter(|| {
            q.push_batch(black_box(0..BATCH as u64));
            out.clear();
            black_box(q.pop_batch(&mut out, BATCH));
        })
    });
}

/// `producers` × `consumers` threads move `MESSAGES` messages per iteration.
fn cross_thread<Q: BenchQueue>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    producers: usize,
    consumers: usize,
) {
    g.bench_function(Q::NAME, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += run_once::<Q>(producers, consumers);
            }
            total
        })
    });
}

fn run_once<Q: BenchQueue>(producers: usize, consumers: usize) -> Duration {
    let q = Arc::new(Q::bounded(CAP));
    let start = Arc::new(Barrier::new(producers + consumers + 1));
    let popped = Arc::new(AtomicUsize::new(0));
    let per_producer = MESSAGES / producers;
    let total = per_producer * producers;
    let mut handles = Vec::new();
    for _ in 0..producers {
        let (q, start) = (Arc::clone(&q), Arc::clone(&start));
        handles.push(thread::spawn(move || {
            start.wait();
            for i in 0..per_producer as u64 {
                while !q.push(i) {
                    thread::yield_now();
                }
            }
        }));
    }
    for _ in 0..consumers {
        let (q, start, popped) = (Arc::clone(&q), Arc::clone(&start), Arc::clone(&popped));
        handles.push(thread::spawn(move || {
            start.wait();
            let mut mine = 0;
            while popped.load(Ordering::Relaxed) < total {
                match q.pop() {
                    Some(v) => {
                        black_box(v);
                        mine += 1;
                        if mine == 64 {
                            popped.fetch_add(mine, Ordering::Relaxed);
                            mine = 0;
                        }
                    }
                    None => {
                        popped.fetch_add(mine, Ordering::Relaxed);
                        mine = 0;
                        thread::yield_now();
                    }
                }
            }
        }));
    }
    start.wait();
    let clock = Instant::now();
    for h in handles {
        h.join().unwrap();
    }
    clock.elapsed()
}

fn configure<'a>(
    c: &'a mut Criterion,
    name: &str,
    elements: usize,
) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(elements as u64));
    g
}

macro_rules! all_peers {
    ($scenario:ident, $g:expr $(, $arg:expr)*) => {
        $scenario::<RingBuffer<u64>>($g $(, $arg)*);
        $scenario::<ArrayQueue<u64>>($g $(, $arg)*);
        $scenario::<ConcurrentQueue<u64>>($g $(, $arg)*);
        $scenario::<Locked>($g $(, $arg)*);
    };
}

fn benches(c: &mut Criterion) {
    let mut g = configure(c, "ring/single_thread_push_pop", 1);
    all_peers!(single_thread_pairs, &mut g);
    g.finish();

    let mut g = configure(c, "ring/burst_1024", CAP);
    all_peers!(burst, &mut g);
    g.finish();

    let mut g = configure(c, "ring/batch_64", BATCH);
    all_peers!(batches, &mut g);
    g.finish();

    for (p, cons) in [(1, 1), (2, 2), (4, 4)] {
        let mut g = configure(c, &format!("ring/{p}p{cons}c"), MESSAGES / p * p);
        all_peers!(cross_thread, &mut g, p, cons);
        g.finish();
    }
}

criterion_group!(ring, benches);
criterion_main!(ring);
