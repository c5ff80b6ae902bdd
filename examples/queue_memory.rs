//! Measures heap bytes per element at 1M `u64` elements: `MsQueue` beside crossbeam's
//! `SegQueue` and `concurrent-queue`, with a counting global allocator.
//!
//! `cargo run --release --example queue_memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: u64 = 1_000_000;

fn measure(name: &str, fill: impl FnOnce() -> Box<dyn std::any::Any>) {
    let before = LIVE.load(Ordering::Relaxed);
    let allocs_before = ALLOCS.load(Ordering::Relaxed);
    let queue = fill();
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs_before;
    println!(
        "{name:<28} {bytes:>10} bytes  {:>6.2} bytes/element  {allocs:>6} allocations",
        bytes as f64 / N as f64
    );
    drop(queue);
}

fn main() {
    println!("heap held by a queue of {N} u64 elements:");
    measure("mqsync::MsQueue", || {
        let q = mqsync::MsQueue::new();
        (0..N).for_each(|i| q.push(i));
        Box::new(q)
    });
    measure("crossbeam_queue::SegQueue", || {
        let q = crossbeam_queue::SegQueue::new();
        (0..N).for_each(|i| q.push(i));
        Box::new(q)
    });
    measure("concurrent_queue::unbounded", || {
        let q = concurrent_queue::ConcurrentQueue::unbounded();
        (0..N).for_each(|i| q.push(i).unwrap());
        Box::new(q)
    });
    measure("Mutex<VecDeque>", || {
        let q = std::sync::Mutex::new(std::collections::VecDeque::new());
        (0..N).for_each(|i| q.lock().unwrap().push_back(i));
        Box::new(q)
    });
}
