//! The memory both halves of the SPSC ring share: the indices, the `state` word of the close
//! handshake, the two wake-up signals and the slots. The algorithm, the handshake and the
//! progress argument are in the module docs (`spsc/mod.rs`); `producer.rs` and `consumer.rs`
//! are the only users.

use crate::handoff::signal::Signal;
use crate::primitive::cell::UnsafeCell;
use crate::primitive::sync::atomic::{AtomicUsize, Ordering};
use crossbeam_utils::CachePadded;
use std::mem::MaybeUninit;

/// `state` bit: no more pushes are accepted.
pub(super) const CLOSED: usize = 1;
/// `state` bit: the producer was dropped.
pub(super) const PRODUCER_GONE: usize = 2;
/// `state` bit: the consumer was dropped.
pub(super) const CONSUMER_GONE: usize = 4;
/// `state` bit: a push published after the ring was closed (set by that push, see "Close
/// against a push in flight").
pub(super) const LATE_PUSH: usize = 8;
/// `state` bit: the consumer has reported `Disconnected`; it reads no slot again.
pub(super) const FINISHED: usize = 16;

/// The memory both halves share.
pub(super) struct Shared<T> {
    /// Next position the producer writes, in `[0, 2 * capacity)`. Written only by the producer
    /// (Release, after the slot is written); read by the consumer (Acquire).
    pub(super) tail: CachePadded<AtomicUsize>,
    /// Next position the consumer reads, in `[0, 2 * capacity)`. Written only by the consumer
    /// (Release, after the slot is read out); read by the producer (Acquire).
    pub(super) head: CachePadded<AtomicUsize>,
    /// `CLOSED | PRODUCER_GONE | CONSUMER_GONE | LATE_PUSH | FINISHED`; bits are only ever
    /// set, never cleared.
    pub(super) state: CachePadded<AtomicUsize>,
    /// Whether the close handshake uses the asymmetric barrier pair; fixed at construction.
    pub(super) asymmetric: bool,
    /// The consumer sleeps here; every push (and close) publishes to it.
    pub(super) not_empty: Signal,
    /// The producer sleeps here; every pop (and close) publishes to it.
    pub(super) not_full: Signal,
    /// Whether publishers must check for sleepers (the strategy parks).
    pub(super) parks: bool,
    pub(super) capacity: usize,
    /// `capacity` slots; slot `i` holds a value exactly when some position in `[head, tail)`
    /// maps to `i`.
    slots: Box<[Slot<T>]>,
}

/// One slot of the ring: a value exactly when its position lies in `[head, tail)`.
pub(super) type Slot<T> = UnsafeCell<MaybeUninit<T>>;

// SAFETY: values of `T` move from the producer thread to the consumer thread (hence `T: Send`);
// the slot discipline (module docs) keeps the two halves off each other's slots, and the
// `Release`/`Acquire` pairs on `head`/`tail` order every slot access with the other side's.
// Only the consumer hands out `&T` (peek), and `Consumer` is not `Sync`, so `T: Sync` is not
// needed.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as for `Send`: all shared access goes through atomics or the slot discipline.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// An empty, open ring of `capacity` slots; `parks` says whether publishers must check for
    /// sleepers. The caller has checked `1 <= capacity <= usize::MAX / 4` (positions run to
    /// `2 * capacity`, and `advance` adds up to `capacity` more without overflow).
    pub(super) fn new(capacity: usize, parks: bool) -> Self {
        debug_assert!((1..=usize::MAX / 4).contains(&capacity));
        Shared {
            tail: CachePadded::new(AtomicUsize::new(0)),
            head: CachePadded::new(AtomicUsize::new(0)),
            state: CachePadded::new(AtomicUsize::new(0)),
            asymmetric: crate::primitive::barrier::asymmetric(),
            not_empty: Signal::new(),
            not_full: Signal::new(),
            parks,
            capacity,
            slots: (0..capacity)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
        }
    }

    /// Number of positions from `from` forward to `to`, both in `[0, 2 * capacity)`.
    #[inline]
    pub(super) fn distance(&self, from: usize, to: usize) -> usize {
        if to >= from {
            to - from
        } else {
            to + 2 * self.capacity - from
        }
    }

    /// `pos + n` modulo `2 * capacity`, for `n <= capacity`.
    #[inline]
    pub(super) fn advance(&self, pos: usize, n: usize) -> usize {
        debug_assert!(n <= self.capacity && pos < 2 * self.capacity);
        let next = pos + n;
        if next >= 2 * self.capacity {
            next - 2 * self.capacity
        } else {
            next
        }
    }

    #[inline]
    fn cell(&self, pos: usize) -> &Slot<T> {
        let index = if pos >= self.capacity {
            pos - self.capacity
        } else {
            pos
        };
        debug_assert!(index < self.slots.len());
        // SAFETY: `pos < 2 * capacity` (every position is produced by `advance`), so
        // `index < capacity == slots.len()`.
        unsafe { self.slots.get_unchecked(index) }
    }

    /// The slots of the `n <= capacity` positions starting at `pos`, as at most two contiguous
    /// runs (the second one starts at slot 0 when the positions wrap).
    #[inline]
    pub(super) fn runs(&self, pos: usize, n: usize) -> (&[Slot<T>], &[Slot<T>]) {
        debug_assert!(n <= self.capacity && pos < 2 * self.capacity);
        let start = if pos >= self.capacity {
            pos - self.capacity
        } else {
            pos
        };
        let first = n.min(self.capacity - start);
        (&self.slots[start..start + first], &self.slots[..n - first])
    }

    /// # Safety
    ///
    /// Producer only, for `pos` in `[tail, head + capacity)` where `head` was read with
    /// Acquire: the consumer has finished with the slot and will not read it before `tail`
    /// passes `pos`.
    #[inline]
    pub(super) unsafe fn write(&self, pos: usize, value: T) {
        // SAFETY: the caller guarantees exclusive access to this slot.
        self.cell(pos)
            .with_mut(|slot| unsafe { (*slot).write(value) });
    }

    /// # Safety
    ///
    /// Consumer only, for `pos` in `[head, tail)` where `tail` was read with Acquire: the slot
    /// holds an initialized value, and the caller then advances `head` past `pos` (the value
    /// is moved out exactly once).
    #[inline]
    pub(super) unsafe fn read(&self, pos: usize) -> T {
        // SAFETY: the slot is initialized and the caller owns it (see # Safety).
        self.cell(pos)
            .with(|slot| unsafe { (*slot).assume_init_read() })
    }

    /// # Safety
    ///
    /// As for [`Shared::read`], but the value stays in place; the reference is valid until the
    /// consumer advances `head` past `pos`.
    #[inline]
    pub(super) unsafe fn get(&self, pos: usize) -> &T {
        // SAFETY: the slot is initialized and the producer does not write it while it is in
        // `[head, tail)` (see # Safety).
        self.cell(pos).with(|slot| unsafe { &*(*slot).as_ptr() })
    }

    pub(super) fn close(&self, bits: usize) {
        // AcqRel: the Release half pairs with the Acquire load of `state` in
        // `Consumer::empty_or_closed`, so every push before the close is visible once the
        // consumer sees CLOSED.
        self.state.fetch_or(CLOSED | bits, Ordering::AcqRel);
        if self.parks {
            self.not_empty.notify_all();
            self.not_full.notify_all();
        }
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // Relaxed: `&mut self` — both halves are gone and the `Arc` drop synchronized with them.
        let mut pos = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        while pos != tail {
            // SAFETY: `[head, tail)` holds initialized values nobody else can reach any more;
            // each is dropped once as `pos` walks forward.
            drop(unsafe { self.read(pos) });
            pos = self.advance(pos, 1);
        }
    }
}
