//! `RingBuffer` against the bounded peers, all of capacity 1024: crossbeam's `ArrayQueue`,
//! concurrent-queue bounded, crossbeam-channel and kanal bounded used as queues
//! (`try_send`/`try_recv`), and `Mutex<VecDeque>`.
//!
//! Each group holds all peers, so one run gives the ratios. Run with
//! `cargo bench --bench ring_buffer`; the results table lives in docs/benchmarks.md. The
//! scenarios, the peers and the cross-thread runner are in `support/mod.rs`.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;
use mqsync::RingBuffer;
use support::{
    batch, cross_thread, fill_then_drain, single_thread, Concurrent, CrossbeamChannel, Kanal,
    Locked, Peer, CAP,
};

const BATCH: usize = 64;

impl Peer for RingBuffer<u64> {
    const NAME: &'static str = "mqsync::RingBuffer";
    fn new() -> Self {
        RingBuffer::with_capacity(CAP)
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

/// Runs `$scenario::<Peer>(args)` for every bounded peer, ours first.
macro_rules! bounded_peers {
    ($scenario:ident, $g:expr $(, $arg:expr)*) => {{
        $scenario::<RingBuffer<u64>>($g $(, $arg)*);
        $scenario::<ArrayQueue<u64>>($g $(, $arg)*);
        $scenario::<Concurrent<true>>($g $(, $arg)*);
        $scenario::<CrossbeamChannel<true>>($g $(, $arg)*);
        $scenario::<Kanal<true>>($g $(, $arg)*);
        $scenario::<Locked<true>>($g $(, $arg)*);
    }};
}

fn benches(c: &mut Criterion) {
    let mut g = support::group(c, "ring/single_thread_push_pop", 1);
    bounded_peers!(single_thread, &mut g);
    yardsticks(&mut g);
    g.finish();

    let mut g = support::group(c, "ring/burst_1024", CAP);
    bounded_peers!(fill_then_drain, &mut g);
    g.finish();

    let mut g = support::group(c, "ring/batch_64", BATCH);
    bounded_peers!(batch, &mut g, BATCH);
    g.finish();

    for (p, cons) in [(1, 1), (2, 2), (4, 4)] {
        let mut g = support::group(c, &format!("ring/{p}p{cons}c"), support::messages(p));
        bounded_peers!(cross_thread, &mut g, p, cons);
        g.finish();
    }
}

/// Not contenders: what two claims (a push and a pop) cost on one thread at the least, in the
/// two shapes the peers use. A Vyukov claim (ours, `ArrayQueue`, crossbeam-channel) loads the
/// position, loads the slot's stamp at an address computed from it, compares and CASes the
/// position; a spin-lock section (kanal's `try_send`/`try_recv`) CASes a constant into a lock
/// word, writes plain memory and releases with a store. A locked instruction waits for every
/// earlier load, so the Vyukov shape puts two dependent loads in front of each CAS and the lock
/// shape none (docs/benchmarks.md, "Async channel futures").
fn yardsticks(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    use std::hint::black_box;
    use std::sync::atomic::{AtomicU64, Ordering};

    let position = CachePadded::new(AtomicU64::new(0));
    let stamps: Vec<AtomicU64> = (0..CAP as u64).map(AtomicU64::new).collect();
    assert!(CAP.is_power_of_two(), "the claim shape indexes with a mask");
    let mask = CAP as u64 - 1;
    let claim = || {
        // Relaxed / Acquire / SeqCst / Release: as in a Vyukov push (the value itself omitted).
        let pos = position.load(Ordering::Relaxed);
        let stamp = &stamps[(pos & mask) as usize];
        if stamp.load(Ordering::Acquire) == pos
            && position
                .compare_exchange(pos, pos + 1, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
        {
            stamp.store(pos + CAP as u64, Ordering::Release);
        }
    };
    g.bench_function("yardstick: 2 Vyukov-shaped claims", |b| {
        b.iter(|| {
            claim();
            claim();
        })
    });

    let lock = CachePadded::new(AtomicU64::new(0));
    let mut buffer = vec![0u64; CAP];
    let mut next = 0usize;
    g.bench_function("yardstick: 2 spin-lock sections", |b| {
        b.iter(|| {
            for _ in 0..2 {
                // Acquire / Release: a lock's pair.
                while lock
                    .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
                {}
                buffer[next % CAP] = black_box(next as u64);
                next += 1;
                lock.store(0, Ordering::Release);
            }
        })
    });
}

criterion_group! {
    name = ring;
    config = support::config();
    targets = benches
}
criterion_main!(ring);
