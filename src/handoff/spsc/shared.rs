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
    /// Next position the producer writes: the count of pushes, wrapping at `usize::MAX`.
    /// Written only by the producer (Release, after the slot is written); read by the consumer
    /// (Acquire). `tail - head` (wrapping) is in `[0, capacity]`.
    pub(super) tail: CachePadded<AtomicUsize>,
    /// Next position the consumer reads: the count of pops, wrapping at `usize::MAX`. Written
    /// only by the consumer (Release, after the slot is read out); read by the producer
    /// (Acquire).
    pub(super) head: CachePadded<AtomicUsize>,
    /// `CLOSED | PRODUCER_GONE | CONSUMER_GONE | LATE_PUSH | FINISHED`; bits are only ever
    /// set, never cleared.
    pub(super) state: CachePadded<AtomicUsize>,
    /// Whether the close handshake and both signals use the asymmetric barrier pair; fixed at
    /// construction, the same for all three (`Producer::publish` issues one light half for the
    /// close check and the wake check).
    pub(super) asymmetric: bool,
    /// The consumer sleeps here; every push (and close) publishes to it.
    pub(super) not_empty: Signal,
    /// The producer sleeps here; every pop (and close) publishes to it.
    pub(super) not_full: Signal,
    /// Whether publishers must check for sleepers (the strategy parks).
    pub(super) parks: bool,
    /// The most values the ring holds, as given to `spsc`: full means `tail - head == capacity`.
    pub(super) capacity: usize,
    /// `slots.len() - 1`; position `pos` lives in slot `pos & mask`.
    mask: usize,
    /// `capacity` rounded up to a power of two, so that a position's slot is one AND away
    /// (`cell`). The `[head, tail)` window spans at most `capacity <= slots.len()` positions, so
    /// its positions fall in distinct slots; slot `i` holds a value exactly when some position in
    /// `[head, tail)` maps to `i`. The slots beyond `capacity` are used in turn with the others
    /// (the window slides over all of them), so no slot stays cold.
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
    /// An empty, open ring for `capacity` values; `parks` says whether publishers must check for
    /// sleepers. The caller has checked `1 <= capacity <= usize::MAX / 4` (so rounding it up to a
    /// power of two cannot overflow, and distances up to `capacity` are unambiguous under
    /// wrapping).
    pub(super) fn new(capacity: usize, parks: bool) -> Self {
        Self::starting_at(capacity, parks, 0)
    }

    /// As [`Shared::new`], with `head == tail == start`: tests start near `usize::MAX` to cross
    /// the positions' wrap-around, which a ring otherwise reaches only after `usize::MAX` pushes
    /// (about 4 s of pushes where `usize` has 32 bits). The halves take their positions from
    /// here (`Producer::new`, `Consumer::new`).
    pub(super) fn starting_at(capacity: usize, parks: bool, start: usize) -> Self {
        debug_assert!((1..=usize::MAX / 4).contains(&capacity));
        // One answer for the ring and both signals: a push issues one light barrier for the
        // close check and the wake check together (`Producer::publish`), which is sound only if
        // the heavy halves it pairs with are of the same kind.
        let asymmetric = crate::primitive::barrier::asymmetric();
        // No overflow: `capacity <= usize::MAX / 4`.
        let slots = capacity.next_power_of_two();
        Shared {
            tail: CachePadded::new(AtomicUsize::new(start)),
            head: CachePadded::new(AtomicUsize::new(start)),
            state: CachePadded::new(AtomicUsize::new(0)),
            asymmetric,
            not_empty: Signal::with_asymmetric(asymmetric),
            not_full: Signal::with_asymmetric(asymmetric),
            parks,
            capacity,
            mask: slots - 1,
            slots: (0..slots)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
        }
    }

    /// Number of positions from `from` forward to `to` (`to` not behind `from` by the ring's
    /// invariants: the result is at most `capacity`).
    #[inline]
    pub(super) fn distance(&self, from: usize, to: usize) -> usize {
        let distance = to.wrapping_sub(from);
        debug_assert!(distance <= self.capacity);
        distance
    }

    /// `pos + n`, wrapping at `usize::MAX` like every position.
    #[inline]
    pub(super) fn advance(&self, pos: usize, n: usize) -> usize {
        debug_assert!(n <= self.capacity);
        pos.wrapping_add(n)
    }

    /// `pos + 1`: the step of a single push or pop, one instruction.
    #[inline]
    pub(super) fn next(&self, pos: usize) -> usize {
        pos.wrapping_add(1)
    }

    /// The slot of position `pos`: `pos` modulo the slot count, a power of two.
    #[inline]
    fn cell(&self, pos: usize) -> &Slot<T> {
        let index = pos & self.mask;
        debug_assert!(index < self.slots.len());
        // SAFETY: `mask == slots.len() - 1`, so `index < slots.len()`.
        unsafe { self.slots.get_unchecked(index) }
    }

    /// The slots of the `n <= capacity` positions starting at `pos`, as at most two contiguous
    /// runs (the second one starts at slot 0 when the positions wrap).
    #[inline]
    fn runs(&self, pos: usize, n: usize) -> (&[Slot<T>], &[Slot<T>]) {
        debug_assert!(n <= self.capacity);
        let start = pos & self.mask;
        let first = n.min(self.slots.len() - start);
        debug_assert!(start + first <= self.slots.len() && n - first <= start);
        // SAFETY: `start < slots.len()` (masked) and `first <= slots.len() - start`, so the first
        // run is in bounds; the second is `n - first <= n <= capacity <= slots.len()` long.
        unsafe {
            (
                self.slots.get_unchecked(start..start + first),
                self.slots.get_unchecked(..n - first),
            )
        }
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

    /// Copies `items` into the slots of the positions from `pos` on.
    ///
    /// # Safety
    ///
    /// Producer only, for positions `[pos, pos + items.len())` within `[tail, head + capacity)`
    /// where `head` was read with Acquire (as for [`Shared::write`]).
    #[inline]
    pub(super) unsafe fn write_slice(&self, pos: usize, items: &[T])
    where
        T: Copy,
    {
        let (first, second) = self.runs(pos, items.len());
        let (items_first, items_second) = items.split_at(first.len());
        for (run, run_items) in [(first, items_first), (second, items_second)] {
            debug_assert_eq!(run.len(), run_items.len());
            if run.is_empty() {
                // The second run, when the positions do not wrap: no call to `memcpy`.
                continue;
            }
            // SAFETY: the caller owns these slots (see # Safety). A `Slot<T>` has `T`'s layout
            // (the facade's `UnsafeCell` and `MaybeUninit` are `repr(transparent)`), the
            // pointer is derived from the whole run, and writing through it is allowed because
            // the slots are `UnsafeCell`s. `items` cannot overlap the run: the only references
            // into slots are the consumer's `peek`s, which lie in `[head, tail)`.
            #[cfg(not(mqsync_loom))]
            unsafe {
                std::ptr::copy_nonoverlapping(
                    run_items.as_ptr(),
                    run.as_ptr().cast::<T>().cast_mut(),
                    run.len(),
                );
            }
            // Under loom, slot by slot, so that loom checks every access.
            #[cfg(mqsync_loom)]
            for (slot, &item) in run.iter().zip(run_items) {
                // SAFETY: the caller owns this slot (see # Safety).
                slot.with_mut(|slot| unsafe { (*slot).write(item) });
            }
        }
    }

    /// Moves the values of the `n` positions from `pos` on to the end of `out`, which has room
    /// for them (`out.capacity() - out.len() >= n`).
    ///
    /// # Safety
    ///
    /// Consumer only, for positions `[pos, pos + n)` within `[head, tail)` where `tail` was
    /// read with Acquire; the caller then advances `head` past them (each value is moved out
    /// once).
    #[inline]
    pub(super) unsafe fn read_into(&self, pos: usize, n: usize, out: &mut Vec<T>) {
        debug_assert!(out.capacity() - out.len() >= n);
        let (first, second) = self.runs(pos, n);
        for run in [first, second] {
            if run.is_empty() {
                // As in `write_slice`.
                continue;
            }
            // SAFETY: the slots hold initialized values that the caller owns (see # Safety);
            // `Slot<T>` has `T`'s layout (see `write_slice`), the pointer is derived from the
            // whole run, and `out` has room for `run.len()` more values in its own allocation.
            // `set_len` follows the copy, so `out` never holds an uninitialized value.
            #[cfg(not(mqsync_loom))]
            unsafe {
                let len = out.len();
                std::ptr::copy_nonoverlapping(
                    run.as_ptr().cast::<T>(),
                    out.as_mut_ptr().add(len),
                    run.len(),
                );
                out.set_len(len + run.len());
            }
            // Under loom, slot by slot; `extend` of an exact-size iterator into reserved room
            // neither panics nor reallocates half-way.
            #[cfg(mqsync_loom)]
            out.extend(
                run.iter()
                    // SAFETY: as above, slot by slot.
                    .map(|slot| slot.with(|slot| unsafe { (*slot).assume_init_read() })),
            );
        }
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
