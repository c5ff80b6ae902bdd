//! `MsQueue` against the unbounded peers: crossbeam's `SegQueue`, `concurrent-queue`'s
//! unbounded queue and `Mutex<VecDeque>`, in the same groups so one run gives the ratios.
//!
//! `cargo bench --bench ms_queue`; the results table lives in docs/benchmarks.md.

use concurrent_queue::ConcurrentQueue;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use crossbeam_queue::SegQueue;
use mqsync::MsQueue;
use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The unbounded-queue surface the scenarios need.
trait Unbounded<T>: Sync {
    const NAME: &'static str;
    fn new() -> Self;
    fn push(&self, value: T);
    fn pop(&self) -> Option<T>;
    fn push_batch(&self, values: impl Iterator<Item = T>) {
        values.for_each(|v| self.push(v));
    }
    fn pop_batch(&self, out: &mut Vec<T>, limit: usize) -> usize {
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

impl<T: Send> Unbounded<T> for MsQueue<T> {
    const NAME: &'static str = "mqsync::MsQueue";
    fn new() -> Self {
        MsQueue::new()
    }
    fn push(&self, value: T) {
        MsQueue::push(self, value)
    }
    fn pop(&self) -> Option<T> {
        MsQueue::pop(self)
    }
    fn push_batch(&self, values: impl Iterator<Item = T>) {
        MsQueue::push_batch(self, values)
    }
    fn pop_batch(&self, out: &mut Vec<T>, limit: usize) -> usize {
        MsQueue::pop_many(self, out, limit)
    }
}

impl<T: Send> Unbounded<T> for SegQueue<T> {
    const NAME: &'static str = "crossbeam::SegQueue";
    fn new() -> Self {
        SegQueue::new()
    }
    fn push(&self, value: T) {
        SegQueue::push(self, value)
    }
    fn pop(&self) -> Option<T> {
        SegQueue::pop(self)
    }
}

impl<T: Send> Unbounded<T> for ConcurrentQueue<T> {
    const NAME: &'static str = "concurrent_queue::unbounded";
    fn new() -> Self {
        ConcurrentQueue::unbounded()
    }
    fn push(&self, value: T) {
        ConcurrentQueue::push(self, value).ok().expect("unbounded");
    }
    fn pop(&self) -> Option<T> {
        ConcurrentQueue::pop(self).ok()
    }
}

impl<T: Send> Unbounded<T> for Mutex<VecDeque<T>> {
    const NAME: &'static str = "Mutex<VecDeque>";
    fn new() -> Self {
        Mutex::new(VecDeque::new())
    }
    fn push(&self, value: T) {
        self.lock().unwrap().push_back(value)
    }
    fn pop(&self) -> Option<T> {
        self.lock().unwrap().pop_front()
    }
    fn push_batch(&self, values: impl Iterator<Item = T>) {
        self.lock().unwrap().extend(values)
    }
    fn pop_batch(&self, out: &mut Vec<T>, limit: usize) -> usize {
        let mut q = self.lock().unwrap();
        let n = limit.min(q.len());
        out.extend(q.drain(..n));
        n
    }
}

const MESSAGES: u64 = 100_000;

/// `producers` threads push `MESSAGES` in all while `consumers` threads pop them; returns the
/// wall time from the start barrier to the last pop.
fn transfer<Q: Unbounded<u64>>(producers: usize, consumers: usize) -> Duration {
    let q = Q::new();
    let per_producer = MESSAGES / producers as u64;
    let total = per_producer * producers as u64;
    let popped = AtomicU64::new(0);
    let start = Barrier::new(producers + consumers + 1);
    thread::scope(|s| {
        for _ in 0..producers {
            s.spawn(|| {
                start.wait();
                for i in 0..per_producer {
                    q.push(i);
                }
            });
        }
        for _ in 0..consumers {
            s.spawn(|| {
                start.wait();
                while popped.load(Ordering::Relaxed) < total {
                    match q.pop() {
                        Some(v) => {
                            black_box(v);
                            popped.fetch_add(1, Ordering::Relaxed);
                        }
                        None => std::hint::spin_loop(),
                    }
                }
            });
        }
        start.wait();
        let t0 = Instant::now();
        while popped.load(Ordering::Relaxed) < total {
            thread::yield_now();
        }
        t0.elapsed()
    })
}

fn single_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("unbounded/single_thread_push_pop");
    g.throughput(Throughput::Elements(1));
    fn run<Q: Unbounded<u64>>(
        g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    ) {
        let q = Q::new();
        g.bench_function(Q::NAME, |b| {
            b.iter(|| {
                q.push(black_box(1));
                black_box(q.pop())
            })
        });
    }
    run::<MsQueue<u64>>(&mut g);
    run::<SegQueue<u64>>(&mut g);
    run::<ConcurrentQueue<u64>>(&mut g);
    run::<Mutex<VecDeque<u64>>>(&mut g);
    // The yardstick of the issue: two uncontended atomic read-modify-writes.
    let a = AtomicU64::new(0);
    let b2 = AtomicU64::new(0);
    g.bench_function("baseline: 2 uncontended atomic RMWs", |b| {
        b.iter(|| {
            a.fetch_add(1, Ordering::AcqRel);
            black_box(b2.fetch_add(1, Ordering::AcqRel))
        })
    });
    g.finish();
}

fn threaded(c: &mut Criterion) {
    for (p, cons) in [(1, 1), (2, 2), (4, 4)] {
        let mut g = c.benchmark_group(format!("unbounded/{p}P{cons}C"));
        g.throughput(Throughput::Elements(MESSAGES));
        fn run<Q: Unbounded<u64>>(
            g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
            p: usize,
            c: usize,
        ) {
            g.bench_function(BenchmarkId::from_parameter(Q::NAME), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| transfer::<Q>(p, c)).sum())
            });
        }
        run::<MsQueue<u64>>(&mut g, p, cons);
        run::<SegQueue<u64>>(&mut g, p, cons);
        run::<ConcurrentQueue<u64>>(&mut g, p, cons);
        run::<Mutex<VecDeque<u64>>>(&mut g, p, cons);
        g.finish();
    }
}

fn bursts(c: &mut Criterion) {
    const BURST: u64 = 1024;
    let mut g = c.benchmark_group("unbounded/fill_then_drain_1024");
    g.throughput(Throughput::Elements(BURST));
    fn run<Q: Unbounded<u64>>(
        g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    ) {
        let q = Q::new();
        g.bench_function(Q::NAME, |b| {
            b.iter(|| {
                for i in 0..BURST {
                    q.push(i);
                }
                while let Some(v) = q.pop() {
                    black_box(v);
                }
            })
        });
    }
    run::<MsQueue<u64>>(&mut g);
    run::<SegQueue<u64>>(&mut g);
    run::<ConcurrentQueue<u64>>(&mut g);
    run::<Mutex<VecDeque<u64>>>(&mut g);
    g.finish();
}

fn batches(c: &mut Criterion) {
    const BATCH: usize = 64;
    let mut g = c.benchmark_group("unbounded/batch_64_push_pop");
    g.throughput(Throughput::Elements(BATCH as u64));
    fn run<Q: Unbounded<u64>>(
        g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    ) {
        let q = Q::new();
        let mut out = Vec::with_capacity(BATCH);
        g.bench_function(Q::NAME, |b| {
            b.iter(|| {
                q.push_batch(0..BATCH as u64);
                out.clear();
                black_box(q.pop_batch(&mut out, BATCH));
            })
        });
    }
    run::<MsQueue<u64>>(&mut g);
    run::<SegQueue<u64>>(&mut g);
    run::<ConcurrentQueue<u64>>(&mut g);
    run::<Mutex<VecDeque<u64>>>(&mut g);
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = single_thread, bursts, batches, threaded
}
criterion_main!(benches);
