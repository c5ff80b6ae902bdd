//! `RingBuffer` allocates its slots in `with_capacity` and nothing afterwards: steady-state
//! `push`, `pop`, `force_push`, `peek` and `pop_many` into a reserved `Vec` allocate nothing
//! (issue 14). `MsQueue` in steady state (a bounded backlog moving through it) allocates nothing
//! either: a reclaimed segment is reused for the next one. The channels (`mqsync::channel`) in
//! steady state allocate nothing: the bounded ring never does, and the unbounded list reuses
//! its spare blocks. A counting global allocator counts
//! the allocations of the test's own thread.

use mqsync::{MsQueue, RingBuffer};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    /// Allocations made by this thread (const-initialized: reading it never allocates).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // `try_with`: a thread being torn down has no counter left; its allocations don't count.
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn steady_state_allocates_nothing() {
    let q = RingBuffer::with_capacity(1024);
    let mut out = Vec::with_capacity(64);
    let before = allocations();
    for round in 0..10_000u64 {
        q.push(round).unwrap();
        assert_eq!(q.peek(), Some(round));
        assert_eq!(q.pop(), Some(round));
        for i in 0..64 {
            q.push(i).unwrap();
        }
        out.clear();
        assert_eq!(q.pop_many(&mut out, 64), 64);
    }
    for i in 0..1024 {
        q.push(i).unwrap();
    }
    for i in 0..10_000u64 {
        assert!(q.force_push(i).is_some());
        assert!(q.push(i).is_err());
    }
    assert_eq!(
        allocations() - before,
        0,
        "steady-state operations allocated"
    );
}

#[test]
fn ms_queue_steady_state_allocates_nothing() {
    let q = MsQueue::new();
    let mut out = Vec::with_capacity(64);
    let run = |q: &MsQueue<u64>, out: &mut Vec<u64>, rounds: u64| {
        for round in 0..rounds {
            q.push(round);
            assert_eq!(q.peek(), Some(round));
            assert_eq!(q.pop(), Some(round));
            for i in 0..64 {
                q.push(i);
            }
            out.clear();
            assert_eq!(q.pop_many(out, 64), 64);
            assert_eq!(q.len(), 0);
        }
    };
    // Warm-up: this thread's hazard record, the epoch registration that `peek` uses, and the
    // queue's spare segment are allocated once.
    run(&q, &mut out, 100);
    let before = allocations();
    // 650,000 elements: over a thousand segment boundaries.
    run(&q, &mut out, 10_000);
    assert_eq!(
        allocations() - before,
        0,
        "steady-state operations allocated"
    );
}

#[test]
fn channels_in_steady_state_allocate_nothing() {
    for (tx, rx) in [mqsync::channel::bounded(256), mqsync::channel::unbounded()] {
        // Warm-up: the unbounded list's first block changes fill its spares.
        for _ in 0..4 {
            for i in 0..100u64 {
                tx.send(i).unwrap();
            }
            for i in 0..100u64 {
                assert_eq!(rx.recv(), Ok(i));
            }
        }
        let before = allocations();
        for round in 0..2_000u64 {
            for i in 0..60 {
                tx.send(round * 60 + i).unwrap();
            }
            for i in 0..60 {
                assert_eq!(rx.try_recv(), Ok(round * 60 + i));
            }
        }
        assert_eq!(allocations() - before, 0, "capacity {:?}", tx.capacity());
    }
}
