//! Delayed redelivery: messages put back with a delay wait here, invisible, until they are due.
//
// A nack with a delay (`Delivery::nack_after`), or any requeue when the queue has a
// `RedeliveryBackoff`, holds the envelope here with its due time instead of putting it back in
// its lane. Nothing moves it on its own: every receive first calls `Shared::release_due`, which
// moves the due ones to the front of their lanes, and a blocking receive that finds nothing
// wakes at the earliest due time. A hold that changes the earliest due time wakes every
// waiting receive, so that one already asleep computes its wake-up again. A delayed message is neither ready nor unsettled, and it is
// not yet acknowledged or dead-lettered, so a closed queue is not drained while one waits: the
// consumers keep receiving until it comes due and is settled (nothing is lost on close).
//
// The heap is under a mutex; `count` lets every receive skip it with one load while nothing is
// delayed (the common case), so the hot path pays a load.

use super::lane::Envelope;
use crate::primitive::sync::atomic::{AtomicUsize, Ordering};
use crate::primitive::sync::{Mutex, MutexGuard, PoisonError};
use crossbeam_utils::CachePadded;
use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::time::Instant;

/// The delayed messages of one queue.
pub(super) struct Delayed<T> {
    heap: Mutex<Heap<T>>,
    /// How many messages wait. Incremented after the push, decremented after the pop, under the
    /// lock; read without it as a hint (0 means "skip the lock"), by every receive: on a line of
    /// its own, so that those reads never miss on a line something else writes.
    count: CachePadded<AtomicUsize>,
}

struct Heap<T> {
    waiting: BinaryHeap<Waiting<T>>,
    /// Arrival order, so that messages due at the same instant leave in the order they came.
    next_seq: u64,
}

/// One delayed message. Ordered so that the heap's top is the earliest due (then the first
/// to arrive).
struct Waiting<T> {
    due: Instant,
    seq: u64,
    envelope: Envelope<T>,
}

impl<T> PartialEq for Waiting<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}

impl<T> Eq for Waiting<T> {}

impl<T> PartialOrd for Waiting<T> {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Waiting<T> {
    /// Reversed: `BinaryHeap` is a max-heap, and the earliest due must be on top.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

impl<T> Delayed<T> {
    pub(super) fn new() -> Self {
        Delayed {
            heap: Mutex::new(Heap {
                waiting: BinaryHeap::new(),
                next_seq: 0,
            }),
            count: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    /// The lock; no user code runs under it (envelopes are moved, never dropped, inside), so a
    /// poisoned lock still holds a consistent heap.
    fn lock(&self) -> MutexGuard<'_, Heap<T>> {
        self.heap.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds `envelope` until `due`; true when it is now the earliest due (the caller then
    /// wakes the blocking receives, whose wake-up time was computed from the old earliest).
    pub(super) fn hold(&self, envelope: Envelope<T>, due: Instant) -> bool {
        let mut heap = self.lock();
        let seq = heap.next_seq;
        heap.next_seq += 1;
        let earliest = heap.waiting.peek().is_none_or(|top| due < top.due);
        heap.waiting.push(Waiting { due, seq, envelope });
        // Release: pairs with the Acquire load in `is_empty`; the envelope is already in the
        // heap (and the lock orders the heap itself). What makes a sleeping receive see it is
        // the caller's notify after this, not this ordering.
        self.count.fetch_add(1, Ordering::Release);
        earliest
    }

    /// True when nothing is delayed (one load; may briefly miss a message being held).
    pub(super) fn is_empty(&self) -> bool {
        // Acquire: pairs with the Release increment in `hold`.
        self.count.load(Ordering::Acquire) == 0
    }

    /// How many messages wait.
    pub(super) fn len(&self) -> usize {
        // Relaxed: a count for `Stats`.
        self.count.load(Ordering::Relaxed)
    }

    /// Takes every message due at `now`, earliest first.
    pub(super) fn take_due(&self, now: Instant) -> Vec<Envelope<T>> {
        let mut heap = self.lock();
        let mut due = Vec::new();
        while heap.waiting.peek().is_some_and(|w| w.due <= now) {
            if let Some(waiting) = heap.waiting.pop() {
                due.push(waiting.envelope);
            }
        }
        // Relaxed: decremented under the lock after the pops; a reader that still sees the old
        // count only takes the lock and finds nothing due.
        self.count.fetch_sub(due.len(), Ordering::Relaxed);
        due
    }

    /// When the earliest delayed message is due, if any is delayed.
    pub(super) fn next_due(&self) -> Option<Instant> {
        if self.is_empty() {
            return None;
        }
        self.lock().waiting.peek().map(|w| w.due)
    }
}
