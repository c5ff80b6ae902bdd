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

criterion_group! {
    name = ring;
    config = support::config();
    targets = benches
}
criterion_main!(ring);
