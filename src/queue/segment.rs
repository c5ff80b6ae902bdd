//! The node of [`MsQueue`](super::MsQueue)'s Michael–Scott list: a fixed array of slots that
//! pushers and poppers claim with fetch-and-add.
//
// A slot's life
// =============
//
// `state` takes three values and changes at most once:
//
//   EMPTY ──publish (the pusher that claimed the index)──▶ WRITTEN
//   EMPTY ──poison  (a popper that gave up waiting, or a batch pusher's unused claim)──▶ POISONED
//
// Both transitions are compare-and-swaps from EMPTY, so exactly one wins:
//
// * The pusher writes the value into the cell *before* its CAS. If the CAS wins, the value is
//   published (Release) and belongs to the popper that claimed the same index. If it loses, the
//   slot was poisoned: no popper or peeker ever reads a poisoned cell, so the pusher reads its
//   value back out and retries at a later index.
// * A popper whose claimed slot is still EMPTY waits a bounded time for the pusher, then poisons
//   the slot and claims another. This is what keeps `pop` lock-free: a pusher preempted between
//   claiming an index and publishing it cannot stall the consumers (crossbeam issue 675).
//
// The cell of a WRITTEN slot is read by exactly one popper (the one whose fetch-and-add returned
// its index) and by peekers that hold the slot's latch (see `peek.rs`). Slots are never reused, so
// a WRITTEN state is never followed by another value in the same cell.

use super::peek::{SlotLatch, OWNER_BITS};
use crate::primitive::cell::UnsafeCell;
use crate::primitive::sync::atomic::{AtomicUsize, Ordering};
use crossbeam_epoch::{Atomic, Owned};
use crossbeam_utils::CachePadded;
use std::mem::MaybeUninit;

/// Slots in one segment. Small under the checkers so that segment hand-over is exercised.
#[cfg(not(any(mqsync_loom, miri)))]
pub(crate) const SEG: usize = 128;
#[cfg(miri)]
pub(crate) const SEG: usize = 4;
#[cfg(all(mqsync_loom, not(miri)))]
pub(crate) const SEG: usize = 2;

// Slot states, kept in the owner bits of the slot's latch word.
const EMPTY: usize = 0;
const WRITTEN: usize = 0b010;
const POISONED: usize = 0b100;

/// One element's place in a segment: the value and one word.
pub(crate) struct Slot<T> {
    /// Initialised exactly when the state is WRITTEN and the value has not been taken, or
    /// between a pusher's write and its lost CAS (read back by that pusher alone).
    value: UnsafeCell<MaybeUninit<T>>,
    /// The state (EMPTY, WRITTEN or POISONED, in the latch's owner bits; see the module comment)
    /// and the peek latch that keeps a popper from moving the value out while a peeker clones
    /// it. Peekers pin only WRITTEN slots, so the word is exactly EMPTY until the state changes.
    state: SlotLatch,
}

/// What a popper found in the slot it claimed.
pub(crate) enum Taken<T> {
    /// The element.
    Value(T),
    /// The slot was poisoned (by this popper or by a batch pusher); claim another.
    Skipped,
}

impl<T> Slot<T> {
    #[cfg(mqsync_loom)]
    fn new() -> Self {
        Slot {
            value: UnsafeCell::new(MaybeUninit::uninit()),
            state: SlotLatch::new(),
        }
    }

    /// Writes `value` and publishes it; gives it back if a popper already poisoned the slot.
    ///
    /// # Safety
    ///
    /// The caller claimed this slot's index on the push side (the fetch-and-add on `enq`
    /// returned it), and publishes into it at most once.
    pub(crate) unsafe fn publish(&self, value: T) -> Result<(), T> {
        // SAFETY: the caller owns the push-side claim, so it is the only writer of the cell; no
        // reader touches the cell before the state becomes WRITTEN (module comment).
        self.value.with_mut(|cell| unsafe { (*cell).write(value) });
        // Release: pairs with the Acquire loads in `wait_and_take` and `try_clone`, so a popper or
        // peeker that sees WRITTEN also sees the value. Relaxed on failure: a poisoned cell
        // carries nothing from the poisoner.
        match self
            .state
            .compare_exchange(EMPTY, WRITTEN, Ordering::Release, Ordering::Relaxed)
        {
            Ok(_) => Ok(()),
            Err(state) => {
                debug_assert_eq!(state, POISONED);
                // SAFETY: we wrote the cell above; the slot is POISONED, so nobody else will
                // ever read it; reading it back leaves it logically uninitialised.
                Err(self
                    .value
                    .with(|cell| unsafe { (*cell).assume_init_read() }))
            }
        }
    }

    /// Marks a slot that will never get a value (a batch pusher's unused claim).
    pub(crate) fn poison(&self) {
        // Relaxed: poisoning publishes no data; a popper that reads POISONED reads no cell.
        let _ = self
            .state
            .compare_exchange(EMPTY, POISONED, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Waits (boundedly) for the pusher of a slot this popper claimed, and takes the value.
    ///
    /// `pushed` reports whether some pusher has claimed this index yet; when none has, the
    /// slot is poisoned at once instead of waited for. `peeking` is the popper's reading of the
    /// peek gate, taken after its claiming RMW (see `peek.rs`).
    ///
    /// # Safety
    ///
    /// The caller claimed this slot's index on the pop side, and takes from it at most once.
    pub(crate) unsafe fn take(&self, pushed: impl Fn() -> bool, peeking: bool) -> Taken<T> {
        let mut backoff = crate::primitive::Backoff::new();
        loop {
            // Acquire: pairs with the Release CAS in `publish`.
            match self.state.load(Ordering::Acquire) & OWNER_BITS {
                WRITTEN => break,
                POISONED => return Taken::Skipped,
                _ => {}
            }
            if backoff.is_spun_out() || !pushed() {
                // Give up on the pusher: poison the slot unless it publishes first.
                // Acquire on failure: pairs with the Release CAS in `publish`.
                match self.state.compare_exchange(
                    EMPTY,
                    POISONED,
                    Ordering::Relaxed,
                    Ordering::Acquire,
                ) {
                    Err(word) if word & OWNER_BITS == WRITTEN => break, // published just now
                    _ => return Taken::Skipped,
                }
            }
            backoff.spin();
        }
        if peeking {
            self.state.take();
        }
        // SAFETY: the state is WRITTEN, so the cell is initialised; the caller's pop-side claim
        // makes it the only popper of this slot; peekers either finished (latch.take waited for
        // them) or never pick this slot (the gate was closed after our claim, peek.rs).
        // `with_mut`: moving out ends the value's life in the cell, so loom must see it as a
        // write that conflicts with any peeker's concurrent read.
        Taken::Value(
            self.value
                .with_mut(|cell| unsafe { (*cell).assume_init_read() }),
        )
    }

    /// Clones the value if the slot holds one that no popper owns yet.
    ///
    /// # Safety
    ///
    /// The caller is inside the queue's peek gate and read the segment's `deq` counter (SeqCst)
    /// as at most this slot's index after entering it (peek.rs, P1–P3).
    pub(crate) unsafe fn try_clone(&self) -> Option<T>
    where
        T: Clone,
    {
        // Acquire: pairs with the Release CAS in `publish`.
        let word = self.state.load(Ordering::Acquire);
        if word & OWNER_BITS != WRITTEN || SlotLatch::is_taken(word) || !self.state.try_pin() {
            return None;
        }
        let _unpin = PinRelease(&self.state);
        // SAFETY: WRITTEN, so initialised; our latch pin keeps the popper out until `unpin`
        // (peek.rs), and slots are never refilled, so the value is the one that was published.
        Some(
            self.value
                .with(|cell| unsafe { (*cell).assume_init_ref().clone() }),
        )
    }

    /// Drops the value if the slot holds one. Only for the queue's destructor.
    ///
    /// # Safety
    ///
    /// No other thread accesses the queue, and no popper has taken this slot's value.
    pub(crate) unsafe fn drop_value(&mut self) {
        if self.state.load(Ordering::Relaxed) & OWNER_BITS == WRITTEN {
            // SAFETY: WRITTEN and not taken (caller), so initialised and ours to drop.
            self.value
                .with_mut(|cell| unsafe { (*cell).assume_init_drop() });
        }
    }
}

/// Unpins a latch on drop, so that a panicking `clone` cannot block the popper forever.
struct PinRelease<'a>(&'a SlotLatch);

impl Drop for PinRelease<'_> {
    fn drop(&mut self) {
        self.0.unpin();
    }
}

/// A node of the Michael–Scott list.
pub(crate) struct Segment<T> {
    /// Push-side claims: a fetch-and-add hands out indices; values ≥ `SEG` mean the segment is
    /// full (it overshoots by at most one claim per pusher, and by a batch's length).
    pub(crate) enq: CachePadded<AtomicUsize>,
    /// Pop-side claims. Poppers check `deq < enq` before claiming and claim by CAS near the
    /// tail (and for runs), so `deq` overshoots `enq` only when fetch-and-add claims race with
    /// more than a few elements left; such claims are poisoned.
    pub(crate) deq: CachePadded<AtomicUsize>,
    /// The next segment: null until a pusher that found this one full links one (once).
    pub(crate) next: Atomic<Segment<T>>,
    /// The queue position of `slots[0]`, counting from the queue's creation (for `len`).
    pub(crate) base: u64,
    pub(crate) slots: [Slot<T>; SEG],
}

impl<T> Segment<T> {
    /// A fresh, empty segment whose first slot has queue position `base`.
    pub(crate) fn new(base: u64) -> Owned<Self> {
        #[cfg(not(mqsync_loom))]
        {
            use std::alloc::{alloc_zeroed, handle_alloc_error, Layout};
            // Zeroed allocation: no stack temporary (a segment of large `T` can be big), and the
            // all-zero bit pattern is a valid empty segment: counters 0, `next` null, every
            // state EMPTY, every latch 0, and `MaybeUninit` cells accept any bytes.
            let layout = Layout::new::<Self>();
            // SAFETY: the layout is not zero-sized (the segment holds atomics).
            let ptr = unsafe { alloc_zeroed(layout) }.cast::<Self>();
            if ptr.is_null() {
                handle_alloc_error(layout);
            }
            // SAFETY: `ptr` is valid for writes and aligned (from the allocator with this
            // type's layout). The atomics and cells are valid as zeroes (above); `next` and
            // `base` are written explicitly, since a null `crossbeam_epoch::Atomic` being all
            // zeroes is not part of its API.
            unsafe {
                std::ptr::addr_of_mut!((*ptr).next).write(Atomic::null());
                std::ptr::addr_of_mut!((*ptr).base).write(base);
            }
            // SAFETY: allocated by the global allocator with `Layout::new::<Self>()`, which is
            // what `Box` (and so `Owned`) frees with; fully initialised above.
            unsafe { Owned::from_raw(ptr) }
        }
        #[cfg(mqsync_loom)]
        {
            Owned::new(Segment {
                enq: CachePadded::new(AtomicUsize::new(0)),
                deq: CachePadded::new(AtomicUsize::new(0)),
                next: Atomic::null(),
                base,
                slots: std::array::from_fn(|_| Slot::new()),
            })
        }
    }

    /// A fresh segment that already holds `value` in its first slot (claimed and published).
    pub(crate) fn with_first(base: u64, value: T) -> Owned<Self> {
        let segment = Segment::new(base);
        // Relaxed: the segment is private until the Release CAS that links it.
        segment.enq.store(1, Ordering::Relaxed);
        // SAFETY: the segment is private; index 0 is claimed by the store above.
        let published = unsafe { segment.slots[0].publish(value) };
        debug_assert!(published.is_ok(), "a private slot cannot be poisoned");
        segment
    }

    /// Takes the value back out of a segment made by `with_first` that was never linked.
    pub(crate) fn into_first(segment: Owned<Self>) -> T {
        // SAFETY: the segment never became reachable, so slot 0 still holds the value that
        // `with_first` published and nobody took it.
        segment.slots[0]
            .value
            .with(|cell| unsafe { (*cell).assume_init_read() })
    }
}
