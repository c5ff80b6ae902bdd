//! The node of [`MsQueue`](super::MsQueue)'s Michael–Scott list: an array of slots that
//! pushers and poppers claim with fetch-and-add, sized by the element type.
//
// A slot's life
// =============
//
// `state` takes three values:
//
//   EMPTY ──publish (the pusher that claimed the index: a plain Release store)──▶ WRITTEN
//   EMPTY ──poison  (a batch pusher's own unused claim: CAS)──────────────────▶ POISONED
//
// Nobody but the slot's pusher writes `state` before it is WRITTEN, so the pusher publishes with
// a plain store: a push is one fetch-and-add and one store, no second read-modify-write.
//
// A popper whose claimed slot stays EMPTY (its pusher is preempted between claim and publish, or
// the index was given back by a batch) waits a bounded time and then *abandons* it, so that pop
// stays lock-free (crossbeam issue 675 is the wait that SegQueue and Vyukov's ring do not bound).
// Abandoning is a Dekker handshake with the pusher on two per-segment bitmaps, asymmetric so that
// the rare side pays for the common one:
//
//   pusher of slot i                          popper of slot i, giving up
//   W1 write the value                        A1 abandoned |= bit i         (RMW)
//   W2 state = WRITTEN       (Release)        A2 barrier::heavy             (membarrier)
//   W3 barrier::light        (compiler fence) A3 s = state                  (Acquire)
//   W4 a = abandoned & bit i                  A4 s != WRITTEN: skip the slot (the pusher sees
//   W5 a == 0: done                              the bit, W4); else go to R
//      else go to R
//   R  whoever sets bit i of `resolved` first (fetch_or) owns the value: the popper takes it,
//      or the pusher reads it back (after the peek latch) and pushes again at a later index.
//
// The barrier pair (primitive.rs) is as strong as a SeqCst fence on both sides, so W4 and A3
// cannot both miss the other side's write: if A3 reads EMPTY, W4 reads the bit and the pusher
// takes its value back; if W4 misses the bit, A3 reads WRITTEN and the popper resolves alone (and
// wins). If both see each other, `resolved` gives the value to exactly one. So a value is never
// lost and never delivered twice, and the pusher's common path pays a compiler fence and a load
// of a line only abandoning poppers write.
//
// The cell of a WRITTEN slot is read by exactly one popper (the one whose fetch-and-add returned
// its index) and by peekers that hold the slot's latch (see `peek.rs`). A slot is used once per
// life of its segment: a segment is reused only after it was retired and no thread can reach it
// any more (hazard.rs), and `Segment::reset` then returns every slot to EMPTY while the segment
// is private.

use super::peek::{SlotLatch, OWNER_BITS};
use crate::primitive::cell::UnsafeCell;
use crate::primitive::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use crate::primitive::{barrier, BoundedWait};
use crossbeam_utils::CachePadded;
use std::mem::{size_of, MaybeUninit};
use std::ptr;

/// The most slots in one segment. Small under the checkers so that segment hand-over (and
/// reuse) is exercised.
#[cfg(not(any(mqsync_loom, miri)))]
pub(crate) const SEG: usize = 512;
#[cfg(miri)]
pub(crate) const SEG: usize = 4;
#[cfg(all(mqsync_loom, not(miri)))]
pub(crate) const SEG: usize = 2;

/// The size a segment's slots aim at: `SEG` slots of a small `T`, fewer of a large one, so that
/// a queue of large values does not keep `SEG` of them allocated per segment.
const SEG_BYTES: usize = 8 * 1024;

// Slot states, kept in the owner bits of the slot's latch word.
const EMPTY: usize = 0;
const WRITTEN: usize = 0b010;
const POISONED: usize = 0b100;

/// How long a popper waits for the pusher of the slot it claimed: `SPIN_STEPS` rounds of
/// exponential spinning (1, 2, 4, 8 and 16 PAUSEs: 31 in all), then `YIELDS` calls to
/// `yield_now`, which let a pusher that was preempted on this CPU run; then it abandons the slot.
/// Under loom a popper abandons at once, so that the models reach the abandon handshake in
/// every interleaving where the pusher has claimed and not yet published (loom's scheduler
/// would otherwise run the pusher on at the popper's yield).
const SPIN_STEPS: u32 = if cfg!(mqsync_loom) { 0 } else { 5 };
const YIELDS: u32 = if cfg!(mqsync_loom) { 0 } else { 2 };

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
    /// The slot was abandoned by this popper or poisoned by a batch pusher; claim another.
    Skipped,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Slot {
            value: UnsafeCell::new(MaybeUninit::uninit()),
            state: SlotLatch::new(),
        }
    }

    /// True once the slot is WRITTEN or POISONED, i.e. its index was claimed by a pusher or a
    /// popper. A hint (Relaxed): it orders nothing.
    #[inline]
    pub(crate) fn is_settled(&self) -> bool {
        // Relaxed: see above.
        self.state.load(Ordering::Relaxed) & OWNER_BITS != EMPTY
    }

    /// Marks a slot that will never get a value (a batch pusher's unused claim; only the
    /// pusher that claimed the index calls this).
    pub(crate) fn poison(&self) {
        // Relaxed: poisoning publishes no data; a popper that reads POISONED reads no cell.
        let _ = self
            .state
            .compare_exchange(EMPTY, POISONED, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Moves the value out.
    ///
    /// # Safety
    ///
    /// The state is WRITTEN, the caller owns the value (the popper of the slot, or its pusher
    /// after winning `resolved`), and peekers are kept out (`take` on the latch when the gate
    /// was open).
    unsafe fn read(&self) -> T {
        // SAFETY: initialised (WRITTEN) and owned by the caller, who reads it once.
        // `with_mut`: moving out ends the value's life in the cell, so loom must see it as a
        // write that conflicts with any peeker's concurrent read.
        self.value
            .with_mut(|cell| unsafe { (*cell).assume_init_read() })
    }

    /// Clones the value if the slot holds one that no popper owns yet.
    ///
    /// # Safety
    ///
    /// The caller is inside the queue's peek gate and read the segment's `deq` counter (SeqCst)
    /// as at most this slot's index after entering it (peek.rs, P1–P3), and keeps the segment
    /// from being reclaimed (it is pinned, ms_queue.rs `scan`).
    pub(crate) unsafe fn try_clone(&self) -> Option<T>
    where
        T: Clone,
    {
        // Acquire: pairs with the Release store of WRITTEN in `Segment::publish` (W2).
        let word = self.state.load(Ordering::Acquire);
        if word & OWNER_BITS != WRITTEN || SlotLatch::is_taken(word) || !self.state.try_pin() {
            return None;
        }
        let _unpin = PinRelease(&self.state);
        // SAFETY: WRITTEN, so initialised; our latch pin keeps the popper out until `unpin`
        // (peek.rs), and the segment is not reset while we are pinned (see above), so the value
        // is the one that was published.
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
    pub(crate) unsafe fn drop_value(&self) {
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
///
/// Segments live behind raw pointers: they are made by [`Segment::alloc`], shared through the
/// queue's `head`, `tail` and `next` links under the hazard-pointer protocol (hazard.rs), and
/// reused through [`Segment::reset`] or released with [`Segment::free`] only while no thread
/// can reach them.
pub(crate) struct Segment<T> {
    /// Push-side claims: a fetch-and-add hands out indices; values ≥ `LEN` mean the segment is
    /// full (it overshoots by at most one claim per pusher, and by a batch's length).
    pub(crate) enq: CachePadded<AtomicUsize>,
    /// Pop-side claims. Poppers check `deq < enq` with two plain loads before claiming, so
    /// `deq` overshoots `enq` only when poppers race for the last elements; such claims are
    /// poisoned.
    pub(crate) deq: CachePadded<AtomicUsize>,
    /// The next segment: null until a pusher that found this one full links one (once per
    /// life of the segment).
    pub(crate) next: AtomicPtr<Segment<T>>,
    /// The link of the queue's stack of retired segments (ms_queue.rs `retire`).
    pub(crate) retired_next: AtomicPtr<Segment<T>>,
    /// The queue position of `slots[0]`, counting from the queue's creation (for `len`).
    /// Written only while the segment is private (`init`).
    base: u64,
    slots: Box<[Slot<T>]>,
    /// The abandon handshake's bitmaps (module comment), on a line of their own: pushers read
    /// `abandoned` on every publish, and only giving-up poppers write either.
    flags: CachePadded<Flags>,
}

/// Bit `i` of word `i / usize::BITS` stands for slot `i`.
struct Flags {
    /// Set (A1) by the popper of a slot that gave up waiting for its pusher.
    abandoned: [AtomicUsize; WORDS],
    /// Set by whichever of that popper and that pusher takes the value (R).
    resolved: [AtomicUsize; WORDS],
}

/// Bitmap words per segment.
const WORDS: usize = SEG.div_ceil(usize::BITS as usize);

impl<T> Segment<T> {
    /// Slots per segment for this `T`: `SEG` for small types, down to 2 for huge ones.
    pub(crate) const LEN: usize = {
        let fit = SEG_BYTES
            / if size_of::<Slot<T>>() == 0 {
                1
            } else {
                size_of::<Slot<T>>()
            };
        if fit < 2 {
            2
        } else if fit > SEG {
            SEG
        } else {
            fit
        }
    };

    /// A fresh, empty segment. It is private to the caller until published.
    pub(crate) fn alloc() -> *mut Self {
        Box::into_raw(Box::new(Segment {
            enq: CachePadded::new(AtomicUsize::new(0)),
            deq: CachePadded::new(AtomicUsize::new(0)),
            next: AtomicPtr::new(ptr::null_mut()),
            retired_next: AtomicPtr::new(ptr::null_mut()),
            base: 0,
            slots: (0..Self::LEN).map(|_| Slot::new()).collect(),
            flags: CachePadded::new(Flags {
                abandoned: std::array::from_fn(|_| AtomicUsize::new(0)),
                resolved: std::array::from_fn(|_| AtomicUsize::new(0)),
            }),
        }))
    }

    /// Releases a segment's memory. Values still in its slots are not dropped.
    ///
    /// # Safety
    ///
    /// `segment` came from [`Segment::alloc`], and no other thread can reach it.
    pub(crate) unsafe fn free(segment: *mut Self) {
        // Under loom, segments are leaked instead: hazard checks compare addresses, and an
        // address that the allocator hands out again within one execution (it does so
        // differently from one execution to the next) would make the model nondeterministic.
        #[cfg(mqsync_loom)]
        let _ = segment;
        #[cfg(not(mqsync_loom))]
        // SAFETY: allocated as a Box (caller), and ours alone.
        drop(unsafe { Box::from_raw(segment) });
    }

    /// Returns a used segment to the fresh, empty state.
    ///
    /// # Safety
    ///
    /// No other thread can reach `segment`, and its slots hold no values (each was taken,
    /// poisoned or never written).
    pub(crate) unsafe fn reset(segment: *mut Self) {
        // SAFETY: private (caller); every access below happens-after every access by the
        // threads that used it (the caller took it through Acquire, see ms_queue.rs `recycle`).
        let segment = unsafe { &*segment };
        // Relaxed: private; the Release that publishes the segment again orders these.
        segment.enq.store(0, Ordering::Relaxed);
        segment.deq.store(0, Ordering::Relaxed);
        segment.next.store(ptr::null_mut(), Ordering::Relaxed);
        segment
            .retired_next
            .store(ptr::null_mut(), Ordering::Relaxed);
        for slot in segment.slots.iter() {
            slot.state.clear();
        }
        for word in segment
            .flags
            .abandoned
            .iter()
            .chain(&segment.flags.resolved)
        {
            word.store(0, Ordering::Relaxed);
        }
    }

    /// Readies a fresh (or reset) private segment to be linked at queue position `base`, with
    /// `value` already in its first slot.
    ///
    /// # Safety
    ///
    /// `segment` is fresh or reset, and private to the caller.
    pub(crate) unsafe fn init(segment: *mut Self, base: u64, value: T) {
        // SAFETY: private (caller), so the plain write races with nothing.
        unsafe { (*segment).base = base };
        // SAFETY: private, and no longer written through the raw pointer.
        let segment = unsafe { &*segment };
        // Relaxed: private until the Release CAS that links it.
        segment.enq.store(1, Ordering::Relaxed);
        // SAFETY: private; index 0 is claimed by the store above. No popper can have abandoned
        // a slot of a private segment, so this cannot fail (and the barrier kind is moot).
        let published = unsafe { segment.publish(0, value, false) };
        debug_assert!(published.is_ok(), "a private slot cannot be abandoned");
    }

    /// Takes the value back out of a segment readied by `init` that was never linked.
    ///
    /// # Safety
    ///
    /// `segment` went through `init` and never became reachable by another thread.
    pub(crate) unsafe fn take_first(segment: *mut Self) -> T {
        // SAFETY: never shared, so slot 0 still holds the value `init` published; marking it
        // POISONED keeps `reset`'s precondition (no value left) honest for the next user.
        let slot = unsafe { (*segment).slot(0) };
        // SAFETY: as above: initialised, ours, and read once; no peeker can see the segment.
        let value = unsafe { slot.read() };
        slot.state.clear();
        slot.poison();
        value
    }

    /// Writes `value` into slot `index` and publishes it (W1–W5 of the module comment); gives
    /// the value back if the slot's popper abandoned it first.
    ///
    /// # Safety
    ///
    /// The caller claimed this index on the push side (the fetch-and-add on `enq` returned
    /// it), publishes into it at most once, and passes the queue's `asymmetric` answer
    /// (`barrier::asymmetric`), the same one its poppers pass to `take`.
    #[inline]
    pub(crate) unsafe fn publish(&self, index: usize, value: T, asymmetric: bool) -> Result<(), T> {
        let slot = self.slot(index);
        // W1. SAFETY: the caller owns the push-side claim, so it is the only writer of the
        // cell; no reader touches it before the state becomes WRITTEN.
        slot.value.with_mut(|cell| unsafe { (*cell).write(value) });
        // W2. Release: pairs with the Acquire loads of the state in `take` and `try_clone`, so
        // whoever sees WRITTEN also sees the value. A plain store: before WRITTEN only this
        // pusher writes the word (module comment), so there is nothing to overwrite.
        slot.state.store(WRITTEN, Ordering::Release);
        let (word, bit) = Self::bit(index);
        let abandoned = &self.flags.abandoned[word];
        // W3: pairs with the heavy barrier at A2.
        barrier::light(asymmetric, abandoned);
        // W4. Relaxed: ordered by the barrier pair; the bit carries no data.
        if abandoned.load(Ordering::Relaxed) & bit == 0 {
            return Ok(());
        }
        // R. AcqRel: the fetch_or orders nothing that the value needs (the popper reads it
        // through W2's Release, we wrote it ourselves); AcqRel keeps the two owners' accesses
        // apart in any case.
        if self.flags.resolved[word].fetch_or(bit, Ordering::AcqRel) & bit != 0 {
            return Ok(()); // the popper owns it: the push took effect
        }
        // We own it again. Peekers may be cloning it: wait them out (and keep new ones away)
        // as a popper would, then read it back.
        slot.state.take();
        // SAFETY: WRITTEN, ours by R, peekers kept out just now.
        Err(unsafe { slot.read() })
    }

    /// Waits (boundedly) for the pusher of slot `index`, which the caller claimed, and takes
    /// the value; abandons the slot (A1–A4) if the pusher does not come.
    ///
    /// `pushed` tells whether some pusher has claimed this index; it is asked once, only if the
    /// slot is not written yet, and when none has, the slot is abandoned at once instead of
    /// waited for. `peeking` is the popper's reading of the peek gate, taken after its claiming
    /// RMW (see `peek.rs`).
    ///
    /// # Safety
    ///
    /// The caller claimed this index on the pop side, takes from it at most once, and passes
    /// the queue's `asymmetric` answer (as for `publish`).
    #[inline]
    pub(crate) unsafe fn take(
        &self,
        index: usize,
        pushed: impl FnOnce() -> bool,
        peeking: bool,
        asymmetric: bool,
    ) -> Taken<T> {
        let slot = self.slot(index);
        let mut wait = BoundedWait::new(SPIN_STEPS, SPIN_STEPS + YIELDS);
        let mut pushed = Some(pushed);
        loop {
            // Acquire: pairs with the Release store at W2.
            match slot.state.load(Ordering::Acquire) & OWNER_BITS {
                WRITTEN => break,
                POISONED => return Taken::Skipped,
                _ => {}
            }
            // Spinning, then yielding: a pusher that claimed this slot and has not written it
            // for a while is likely preempted, so let it (or anyone) have this CPU.
            let unclaimed = pushed.take().is_some_and(|pushed| !pushed());
            if unclaimed || !wait.wait() {
                if self.abandon(index, asymmetric) {
                    break; // published after all, and ours
                }
                return Taken::Skipped;
            }
        }
        if peeking {
            slot.state.take();
        }
        // SAFETY: the state is WRITTEN, so the cell is initialised; the caller's pop-side claim
        // (and R, if we abandoned) makes it the only owner of the value; peekers either finished
        // (latch.take waited for them) or never pick this slot (the gate was closed after our
        // claim, peek.rs).
        Taken::Value(unsafe { slot.read() })
    }

    /// A1–A4 and R: gives up on the pusher of slot `index`. True if the value was published
    /// meanwhile and is the caller's.
    #[cold]
    fn abandon(&self, index: usize, asymmetric: bool) -> bool {
        let (word, bit) = Self::bit(index);
        let abandoned = &self.flags.abandoned[word];
        // A1. Relaxed: ordered by the barrier pair.
        abandoned.fetch_or(bit, Ordering::Relaxed);
        // A2: pairs with the light barrier at W3.
        barrier::heavy(asymmetric, abandoned);
        // A3. Acquire: pairs with the Release store at W2.
        if self.slot(index).state.load(Ordering::Acquire) & OWNER_BITS != WRITTEN {
            // A4: EMPTY, so the pusher's W4 will see our bit and it takes its value back (or
            // POISONED, a batch pusher's unused claim).
            return false;
        }
        // R. AcqRel: as in `publish`.
        self.flags.resolved[word].fetch_or(bit, Ordering::AcqRel) & bit == 0
    }

    /// The bitmap word and bit of slot `index`.
    #[inline(always)]
    fn bit(index: usize) -> (usize, usize) {
        let bits = usize::BITS as usize;
        debug_assert!(index / bits < WORDS);
        (index / bits, 1 << (index % bits))
    }

    /// The queue position of `slots[0]`.
    #[inline]
    pub(crate) fn base(&self) -> u64 {
        self.base
    }

    /// Slot `index`.
    #[inline(always)]
    pub(crate) fn slot(&self, index: usize) -> &Slot<T> {
        debug_assert!(index < Self::LEN);
        debug_assert_eq!(self.slots.len(), Self::LEN);
        // SAFETY: every segment has `LEN` slots (`alloc`), and callers index below `LEN`
        // (checked in debug builds above).
        unsafe { self.slots.get_unchecked(index) }
    }

    /// Slots `range` (for scans and the destructor).
    pub(crate) fn slots(&self, range: std::ops::Range<usize>) -> &[Slot<T>] {
        &self.slots[range]
    }
}
