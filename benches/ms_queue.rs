//! `MsQueue` against the unbounded peers: crossbeam's `SegQueue`, concurrent-queue unbounded,
//! crossbeam-channel and kanal unbounded used as queues (`try_send`/`try_recv`), and
//! `Mutex<VecDeque>`, in the same groups so one run gives the ratios.
//!
//! `cargo bench --bench ms_queue`; the results table lives in docs/benchmarks.md. The scenarios,
//! the peers and the cross-thread runner are in `support/mod.rs`.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use crossbeam_queue::SegQueue;
use mqsync::MsQueue;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use support::{
    batch, cross_thread, fill_then_drain, single_thread, Concurrent, CrossbeamChannel, Kanal,
    Locked, Peer, CAP,
};

const BATCH: usize = 64;

impl Peer for MsQueue<u64> {
    const NAME: &'static str = "mqsync::MsQueue";
    fn new() -> Self {
        MsQueue::new()
    }
    fn push(&self, v: u64) -> bool {
        MsQueue::push(self, v);
        true
    }
    fn pop(&self) -> Option<u64> {
        MsQueue::pop(self)
    }
    fn push_batch(&self, items: impl Iterator<Item = u64>) {
        MsQueue::push_batch(self, items)
    }
    fn pop_batch(&self, out: &mut Vec<u64>, limit: usize) -> usize {
        MsQueue::pop_many(self, out, limit)
    }
}

/// Runs `$scenario::<Peer>(args)` for every unbounded peer, ours first.
macro_rules! unbounded_peers {
    ($scenario:ident, $g:expr $(, $arg:expr)*) => {{
        $scenario::<MsQueue<u64>>($g $(, $arg)*);
        $scenario::<SegQueue<u64>>($g $(, $arg)*);
        $scenario::<Concurrent<false>>($g $(, $arg)*);
        $scenario::<CrossbeamChannel<false>>($g $(, $arg)*);
        $scenario::<Kanal<false>>($g $(, $arg)*);
        $scenario::<Locked<false>>($g $(, $arg)*);
    }};
}

fn queue_benches(c: &mut Criterion) {
    let mut g = support::group(c, "unbounded/single_thread_push_pop", 1);
    unbounded_peers!(single_thread, &mut g);
    // The yardstick of issue 14: two uncontended atomic read-modify-writes.
    let a = AtomicU64::new(0);
    let b2 = AtomicU64::new(0);
    g.bench_function("baseline: 2 uncontended atomic RMWs", |b| {
        b.iter(|| {
            a.fetch_add(1, Ordering::AcqRel);
            black_box(b2.fetch_add(1, Ordering::AcqRel))
        })
    });
    g.finish();

    let mut g = support::group(c, "unbounded/fill_then_drain_1024", CAP);
    unbounded_peers!(fill_then_drain, &mut g);
    g.finish();

    let mut g = support::group(c, "unbounded/batch_64_push_pop", BATCH);
    unbounded_peers!(batch, &mut g, BATCH);
    g.finish();

    for (p, cons) in [(1, 1), (2, 2), (4, 4)] {
        let mut g = support::group(c, &format!("unbounded/{p}P{cons}C"), support::messages(p));
        unbounded_peers!(cross_thread, &mut g, p, cons);
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = queue_benches
}
criterion_main!(benches);
