//! [`RingBuffer`]: a bounded MPMC queue of any capacity ≥ 1.
//!
//! The algorithm is Dmitry Vyukov's bounded MPMC queue ("Bounded MPMC queue", 1024cores.net,
//! 2010): an array of slots, each with a *stamp* that says which position the slot serves next
//! and whether it holds a value, and two counters, `head` and `tail`, that pushers and poppers
//! advance with compare-and-swap. This implementation departs from it in five ways:
//!
//! * **Any capacity.** A position is `lap + index` with `index < capacity` and `lap` a multiple
//!   of `one_lap = (capacity + 1).next_power_of_two()` (the encoding of crossbeam's
//!   `ArrayQueue`), so the capacity need not be a power of two.
//! * **64-bit positions** on every target, so `head` and `tail` never wrap in practice (2^64
//!   operations) and their compare-and-swaps cannot succeed on a recycled value.
//! * **Peek and snapshot.** The stamp word also holds the slot's *latch*: a TAKEN bit and the
//!   number of peekers cloning the value. A peeker pins a WRITTEN slot with one compare-and-swap
//!   that checks the position and pins at once; a popper that may race a peeker sets TAKEN and
//!   waits for the pins to leave before moving the value out (the gate protocol of `peek.rs`),
//!   so [`RingBuffer::peek`] and [`RingBuffer::snapshot`] clone elements in place, sound against
//!   concurrent pops. A slot is one word plus the element (16 bytes for a `u64`).
//! * **Batches.** [`RingBuffer::push_batch`] and [`RingBuffer::pop_many`] claim a run of
//!   consecutive slots with one compare-and-swap of `tail` or `head`.
//! * **Eviction.** [`RingBuffer::force_push`] claims the oldest element with the same
//!   compare-and-swap on `head` a pop uses and reuses its slot for the new value.
//!
//! `docs/ring_buffer.md` has the long form of the argument below.
//
// Protocol essay
// ==============
//
// Positions. `head` is the next position to pop, `tail` the next to push, both `u64`; both only
// move forward (`next(pos)`: `pos + 1`, or the next lap after index `capacity - 1`), and
// `head ≤ tail ≤ head + capacity` in position order. Slot `index(pos)` serves positions
// `pos`, `pos + one_lap`, `pos + 2·one_lap`, ...
//
// The stamp word of a slot: bits 16..64 a *sequence* (a position, or a position + 1, modulo
// 2^48), bits 1..16 the number of pinned peekers, bit 0 TAKEN. For the position `p` the slot
// serves now, its states are:
//
//   FREE(p)      seq == p,      latch bits 0   nobody has written p; a pusher at tail == p may
//                                              claim it
//   WRITTEN(p)   seq == p + 1,  any pins       the value for p is in the slot; a popper at
//                                              head == p may claim it, peekers may pin it
//                (p + 1 is never a position of this slot: index(p) < capacity < one_lap)
//   TAKEN(p)     seq == p + 1,  TAKEN set      (only after a latched pop's claim) a popper owns
//                                              the value and waits for the pins to reach 0;
//                                              no new pin succeeds
//   FREE(p')     seq == p + one_lap, bits 0    the pop of p is complete; serves p' = p + one_lap
//
// Transitions, each done by the one thread that owns the slot by its CAS on `tail` or `head`,
// except pins and unpins:
//
//   FREE(p) --push: CAS tail p→next(p), write, Release store WRITTEN(p)--> WRITTEN(p)
//   WRITTEN(p) --pin: CAS stamp s→s+ONE_PEEKER if seq == p+1 and TAKEN clear (peekers)-->
//   WRITTEN(p) --unpin: Release fetch_sub ONE_PEEKER (peekers)-->
//   WRITTEN(p) --pop: SeqCst CAS head p→next(p); if the gate is open: fetch_or TAKEN, wait
//        for 0 pins; move out; Release store FREE(p + one_lap) (which also clears TAKEN)-->
//   WRITTEN(p) --force_push when full: SeqCst CAS head p→next(p) (tail is p+one_lap), store
//        tail, [TAKEN, wait], move out, write new, Release store WRITTEN(p')--> WRITTEN(p')
//
// Ownership: a CAS that moves `tail` from p gives its winner the right to write slot p, and only
// while the stamp says FREE(p) (checked before the CAS; no other thread changes a FREE stamp:
// pins need WRITTEN). A CAS that moves `head` from p gives the right to move out of WRITTEN(p).
// The stamp's Release stores and Acquire loads carry the value from the writer to the reader and
// the reader's move out to the next lap's writer.
//
// The races, and why they are harmless:
//
// [1] A stale `tail` or `head`: the thread reads a stamp for a position that has moved on; its
//     CAS fails (64-bit positions do not repeat), so it reloads.
// [2] Pusher at `tail == t` finds WRITTEN(t - one_lap): the ring is full if `head` is still
//     t - one_lap (the element is there); otherwise a popper has claimed it and not finished
//     moving out: the pusher waits. Popper at `head == h` finds FREE(h): empty if `tail == h`;
//     otherwise a pusher has claimed h and not finished writing: the popper waits. These two
//     waits are why the ring is not strictly lock-free (crossbeam issue 675).
// [3] A peeker clones in place while a popper moves out: peek.rs's gate, with the latch in the
//     stamp. A popper whose claim was followed by a closed gate never has a peeker on its slot
//     (store buffering, peek.rs); otherwise it sets TAKEN and waits for the pins. The pin is
//     one CAS that requires WRITTEN(p) for the peeker's own `p` and TAKEN clear, and the TAKEN
//     fetch_or is an RMW on the same word: whichever is first in the word's modification order
//     wins (pin first: the popper sees the count and waits for the Release unpin; TAKEN first:
//     the pin fails). A slot reused for a later lap fails the pin's sequence check.
// [4] No DRAINING step. With a separate latch word, a latched pop had to publish an
//     intermediate state, release the latch, then free the slot, or the next lap could run in
//     the gap and a stale TAKEN clear would admit a peeker during a move out. Here the store of
//     FREE(p + one_lap) clears TAKEN in the same write: no gap.
// [5] `force_push` on a full ring: its CAS on `head` from t - one_lap competes with pops exactly
//     as a pop's would, so the oldest element goes to exactly one of them. Its plain store of
//     `tail` is safe: no pusher can claim t (the stamp never says FREE(t)) and no other evictor
//     can (`head` is no longer t - one_lap).
// [6] The 48-bit sequence. Stamps are compared modulo 2^48 while positions are 64-bit. Every
//     load of `head`/`tail` that a stamp comparison relies on is Acquire (a plain `mov` on
//     x86), and every claim is an RMW (or, for `force_push`'s `tail`, a Release store after an
//     Acquire load), so the stamp store of the position one lap before
//     (WRITTEN(x - one_lap) for a popper at x, FREE(x - one_lap) for a pusher) happens before
//     the comparison: the stamp read is one of that position's states or later. The states of
//     one slot from x - one_lap to x + one_lap are distinct modulo 2^48 (one_lap ≤ 2^47), and
//     a stamp for a position past x means the claim CAS on the full 64-bit `head`/`tail` fails.
//     Only a peeker suspended across 2^48 positions could pin a later element (one that is in
//     the ring when pinned: still sound, only not the one it aimed at).
// [7] The pin count has 15 bits. A peeker that finds 32,767 pins on its slot waits for one to
//     leave rather than overflow into the sequence.

use super::peek::PeekGate;
use super::{Fifo, Full};
use crate::primitive::cell::UnsafeCell;
use crate::primitive::sync::atomic::{AtomicU64, Ordering};
use crate::primitive::Backoff;
use crossbeam_utils::CachePadded;
use std::fmt;
use std::mem::MaybeUninit;

/// Bit 0 of a stamp: a popper owns the value (essay [3]).
const TAKEN: u64 = 1;
/// One pinned peeker, in bits 1..16 of a stamp.
const ONE_PEEKER: u64 = 2;
/// The pin count's bits.
const PEEKERS: u64 = 0xfffe;
/// The sequence starts at this bit.
const SEQ_SHIFT: u32 = 16;
/// The latch bits (TAKEN and the pin count) below the sequence.
const LATCH: u64 = (1 << SEQ_SHIFT) - 1;

/// The stamp of FREE(pos): the sequence `pos`, latch bits clear.
#[inline]
fn free(pos: u64) -> u64 {
    pos << SEQ_SHIFT
}

/// The stamp of WRITTEN(pos) with no pins and TAKEN clear: the sequence `pos + 1`.
#[inline]
fn written(pos: u64) -> u64 {
    pos.wrapping_add(1) << SEQ_SHIFT
}

/// One slot of the ring.
struct Slot<T> {
    /// The slot's state and latch (see the essay): FREE(p) = `free(p)`, WRITTEN(p) =
    /// `written(p)` plus pins, TAKEN(p) = `written(p) | TAKEN`. The sequence is written only by
    /// the thread that owns the slot by its claim on `tail` or `head`; pins and unpins change
    /// the count bits of a WRITTEN stamp; the owning popper sets TAKEN. Read by everyone.
    stamp: AtomicU64,
    /// Initialized exactly while the stamp says WRITTEN or TAKEN (or, for its owner, between a
    /// write and the stamp store, or a claim and the move out).
    value: UnsafeCell<MaybeUninit<T>>,
}

impl<T> Slot<T> {
    /// Pins the slot for a peeker if it says WRITTEN(`pos`) and TAKEN is clear; false when it
    /// does not (popped, being popped, or reused for a later lap).
    fn try_pin(&self, pos: u64) -> bool {
        let mut backoff = Backoff::new();
        // Relaxed: only a guess; the CAS validates it and its Acquire is the one that counts.
        let mut stamp = self.stamp.load(Ordering::Relaxed);
        loop {
            if stamp & !PEEKERS != written(pos) {
                return false;
            }
            if stamp & PEEKERS == PEEKERS {
                // 32,767 pins already (essay [7]).
                backoff.snooze();
                stamp = self.stamp.load(Ordering::Relaxed);
                continue;
            }
            // Acquire: reads a value in the release sequence of the Release store of
            // WRITTEN(pos) in `write`/`evict` (other pins and unpins are RMWs), so the value's
            // write happens before our clone.
            match self.stamp.compare_exchange_weak(
                stamp,
                stamp + ONE_PEEKER,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(s) => stamp = s,
            }
        }
    }

    /// Removes a peeker's pin.
    fn unpin(&self) {
        // Release: the clone's reads happen before the popper's move out (pairs with the
        // Acquire loads in `take` and the Acquire half of its fetch_or).
        self.stamp.fetch_sub(ONE_PEEKER, Ordering::Release);
    }

    /// Q3 of peek.rs: claims the value against peekers (sets TAKEN), then waits for the pins
    /// already there to leave. The wait lasts as long as those peekers' clones (user code), and
    /// without bound if a pinned peeker is suspended.
    #[cold]
    fn take(&self) {
        // AcqRel: Acquire pairs with the peekers' Release `unpin` when the count is already 0;
        // Release is not needed (nothing of ours precedes) but keeps the RMW symmetric.
        let prev = self.stamp.fetch_or(TAKEN, Ordering::AcqRel);
        debug_assert!(prev & TAKEN == 0, "a second popper on one slot");
        if prev & PEEKERS != 0 {
            let mut backoff = Backoff::new();
            // Acquire: pairs with the Release fetch_sub in `unpin`.
            while self.stamp.load(Ordering::Acquire) & PEEKERS != 0 {
                backoff.snooze();
            }
        }
    }
}

/// A bounded multi-producer multi-consumer FIFO queue of any capacity ≥ 1.
///
/// Vyukov's bounded MPMC queue with per-slot stamps, extended with [`peek`](Self::peek),
/// [`snapshot`](Self::snapshot), batches and [`force_push`](Self::force_push); see the module
/// source for the protocol and `docs/ring_buffer.md` for the argument.
///
/// # Progress
///
/// Operations never take a lock. A failed compare-and-swap means another operation made
/// progress, as in a lock-free queue, but the ring is **not strictly lock-free**: an operation
/// that claims a slot and is then preempted before it finishes (a pusher between its claim and
/// its write, a popper between its claim and its move out) makes the one operation that next
/// needs that slot wait for it: pops wait for an unwritten head element even when later
/// elements are ready (crossbeam issue 675), pushes wait for a slot still being vacated. Such a
/// wait ends as soon as the awaited thread runs a few more of its own steps (no user code runs
/// in them); if that thread stays suspended, the waiter spins briefly, then yields, until it
/// runs again.
///
/// **While a [`peek`](Self::peek) or [`snapshot`](Self::snapshot) runs, `pop` is blocking, not
/// lock-free:** a pop of the very element being cloned waits until the clone (user code:
/// `T::clone`) is done, and without bound if the peeking thread is suspended in it. Pops of
/// other elements, and all pops while no peek runs, are unaffected.
///
/// # Examples
///
/// ```
/// use mqsync::RingBuffer;
/// use std::sync::Arc;
///
/// let q = Arc::new(RingBuffer::with_capacity(3));
/// let producer = {
///     let q = Arc::clone(&q);
///     std::thread::spawn(move || {
///         for i in 0..100 {
///             while q.push(i).is_err() {
///                 std::thread::yield_now();
///             }
///         }
///     })
/// };
/// let mut next = 0;
/// while next < 100 {
///     if let Some(v) = q.pop() {
///         assert_eq!(v, next);
///         next += 1;
///     }
/// }
/// producer.join().unwrap();
/// assert!(q.is_empty());
/// ```
pub struct RingBuffer<T> {
    /// The next position to pop. Moved forward by SeqCst CAS only (pops, `pop_many`, the eviction
    /// of `force_push`). Padded: poppers and pushers should not share its cache line.
    head: CachePadded<AtomicU64>,
    /// The next position to push. Moved forward by CAS (pushes), or stored by the one evicting
    /// `force_push` that owns it (essay [5]).
    tail: CachePadded<AtomicU64>,
    /// Peeks and snapshots in flight (peek.rs).
    gate: PeekGate,
    /// `capacity` slots; slot `i` starts as FREE(i).
    slots: Box<[Slot<T>]>,
    /// The number of slots, ≥ 1.
    cap: usize,
    /// `(cap + 1).next_power_of_two()`, at most 2^47: the distance between two positions of
    /// one slot.
    one_lap: u64,
}

// SAFETY: the ring owns its `T`s and moves each to exactly one popper; values cross threads, so
// `T: Send` is required and enough for `push`/`pop`. Shared access to a `T` from several threads
// happens only in `peek`/`snapshot`, which require `T: Sync` themselves.
unsafe impl<T: Send> Send for RingBuffer<T> {}
// SAFETY: as above; every shared-state access goes through atomics or the stamp protocol.
unsafe impl<T: Send> Sync for RingBuffer<T> {}

/// What a single push did.
enum Pushed<T> {
    /// The value is in the ring.
    Done,
    /// The ring was full; the value comes back.
    Full(T),
    /// The ring was full; the oldest element was evicted to make room and comes back.
    Evicted(T),
}

impl<T> RingBuffer<T> {
    /// Creates an empty ring that holds at most `capacity` elements.
    ///
    /// Allocates the `capacity` slots up front (the element size plus one 64-bit word each,
    /// rounded up to the element's alignment); the ring never grows or reallocates them.
    /// (`push_batch` allocates a temporary `Vec` of its input.)
    ///
    /// # Panics
    ///
    /// If `capacity` is 0, or 2^47 or more (the position encoding's limit), as
    /// crossbeam's `ArrayQueue::new(0)` does; [`try_with_capacity`](Self::try_with_capacity)
    /// returns the error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::RingBuffer;
    ///
    /// let q: RingBuffer<String> = RingBuffer::with_capacity(5);
    /// assert_eq!(q.capacity(), 5);
    /// assert!(q.is_empty());
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        match Self::try_with_capacity(capacity) {
            Ok(ring) => ring,
            Err(err) => panic!("RingBuffer: {err}"),
        }
    }

    /// Like [`with_capacity`](Self::with_capacity), but a capacity of 0 or of 2^47 or more
    /// comes back as a [`ConfigError`](crate::ConfigError) instead of a panic.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::{ConfigError, RingBuffer};
    ///
    /// assert!(RingBuffer::<u8>::try_with_capacity(3).is_ok());
    /// assert_eq!(
    ///     RingBuffer::<u8>::try_with_capacity(0).unwrap_err(),
    ///     ConfigError::TooSmall { field: "capacity", value: 0, min: 1 }
    /// );
    /// ```
    pub fn try_with_capacity(capacity: usize) -> Result<Self, crate::ConfigError> {
        const MAX: u64 = (1 << 47) - 1;
        if capacity == 0 {
            return Err(crate::ConfigError::TooSmall {
                field: "capacity",
                value: 0,
                min: 1,
            });
        }
        // One lap is the next power of two above the capacity; it must fit in 47 bits.
        let one_lap = (capacity as u64)
            .checked_add(1)
            .and_then(u64::checked_next_power_of_two)
            .filter(|&lap| lap <= 1 << 47)
            .ok_or(crate::ConfigError::TooLarge {
                field: "capacity",
                value: capacity as u64,
                max: MAX,
            })?;
        let slots = (0..capacity as u64)
            .map(|i| Slot {
                stamp: AtomicU64::new(free(i)),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ok(RingBuffer {
            head: CachePadded::new(AtomicU64::new(0)),
            tail: CachePadded::new(AtomicU64::new(0)),
            gate: PeekGate::new(),
            slots,
            cap: capacity,
            one_lap,
        })
    }

    /// The most elements the ring can hold.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::RingBuffer;
    ///
    /// assert_eq!(RingBuffer::<u8>::with_capacity(7).capacity(), 7);
    /// ```
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Appends `value`, or hands it back in [`Full`] when the ring is full.
    ///
    /// Progress: lock-free except for the wait described on [`RingBuffer`]: when the slot at the
    /// tail has been claimed by a pop that has not finished moving its value out, the push waits
    /// for that pop. `Err(Full)` means the ring held `capacity` elements at one moment of the
    /// call.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::RingBuffer;
    ///
    /// let q = RingBuffer::with_capacity(1);
    /// assert!(q.push('a').is_ok());
    /// assert_eq!(q.push('b').unwrap_err().into_inner(), 'b');
    /// ```
    #[inline]
    pub fn push(&self, value: T) -> Result<(), Full<T>> {
        match self.push_inner(value, false) {
            Pushed::Done => Ok(()),
            Pushed::Full(value) => Err(Full(value)),
            Pushed::Evicted(_) => unreachable!("push never evicts"),
        }
    }

    /// Appends `value`; when the ring is full, evicts the oldest element to make room and
    /// returns it.
    ///
    /// The eviction claims the oldest element with the same compare-and-swap a
    /// [`pop`](Self::pop) uses, so every element leaves the ring exactly once, either through a
    /// pop or as the return value of one `force_push`. While an eviction is half done, `len`
    /// may report one element fewer (for capacity 1, `is_empty` may report true).
    ///
    /// Progress: as [`push`](Self::push).
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::RingBuffer;
    ///
    /// let q = RingBuffer::with_capacity(2);
    /// assert_eq!(q.force_push(1), None);
    /// assert_eq!(q.force_push(2), None);
    /// assert_eq!(q.force_push(3), Some(1));
    /// assert_eq!(q.pop(), Some(2));
    /// assert_eq!(q.pop(), Some(3));
    /// ```
    pub fn force_push(&self, value: T) -> Option<T> {
        match self.push_inner(value, true) {
            Pushed::Done => None,
            Pushed::Evicted(old) => Some(old),
            Pushed::Full(_) => unreachable!("force_push never reports full"),
        }
    }

    #[inline]
    fn push_inner(&self, value: T, evict: bool) -> Pushed<T> {
        let mut backoff = Backoff::new();
        // Acquire: essay [6] (the stamp we compare below is no older than FREE(tail - one_lap)).
        let mut tail = self.tail.load(Ordering::Acquire);
        loop {
            let slot = self.slot(tail);
            // Acquire: pairs with the Release store of FREE in `vacate`, so the previous lap's
            // move out happens before our write.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == free(tail) {
                // FREE(tail): claim it.
                let new_tail = self.next(tail);
                // SeqCst: one total order with the head CAS and the loads in `len`/`is_empty`
                // (Relaxed would do for the data, which the stamp carries; its Acquire half is
                // essay [6]'s chain).
                match self.tail.compare_exchange_weak(
                    tail,
                    new_tail,
                    Ordering::SeqCst,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        // SAFETY: our CAS moved `tail` off a FREE slot: we own it until the
                        // stamp store below, and it holds no value (essay, ownership).
                        unsafe { self.write(slot, tail, value) };
                        return Pushed::Done;
                    }
                    Err(t) => {
                        // Another pusher claimed `tail` (progress): retry at once, briefly
                        // spinning when it keeps happening.
                        tail = t;
                        backoff.spin();
                    }
                }
            } else if stamp & !LATCH == written(tail.wrapping_sub(self.one_lap)) {
                // WRITTEN(tail - one_lap): full, or that element's pop is under way (essay [2]).
                let oldest = tail.wrapping_sub(self.one_lap);
                if evict {
                    let new_head = self.next(oldest);
                    // SeqCst: Q1 of peek.rs, and competes with the pops' claim.
                    if self
                        .head
                        .compare_exchange(oldest, new_head, Ordering::SeqCst, Ordering::Relaxed)
                        .is_ok()
                    {
                        // SAFETY: the CAS claimed `oldest` while it was WRITTEN, so `tail` is
                        // still `oldest + one_lap` and only we can move it (essay [5]).
                        return Pushed::Evicted(unsafe { self.evict(slot, oldest, value) });
                    }
                } else if self.head.load(Ordering::SeqCst) == oldest {
                    // SeqCst: a pop that completed before this call has moved `head` on.
                    return Pushed::Full(value);
                }
                // A pop of `oldest` is moving its value out: wait for it (spin, then yield).
                backoff.snooze();
                tail = self.tail.load(Ordering::Acquire);
            } else {
                // A stale tail (essay [1]).
                backoff.snooze();
                tail = self.tail.load(Ordering::Acquire);
            }
        }
    }

    /// Removes and returns the oldest element, or `None` when the ring is empty.
    ///
    /// Progress: lock-free except for the waits described on [`RingBuffer`]: when the head
    /// element's push has claimed its slot but not finished writing it, `pop` waits for that push
    /// rather than report a false empty; it also waits while a [`peek`](Self::peek) clones the
    /// element it pops. `None` means the ring was empty at one moment of the call.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::RingBuffer;
    ///
    /// let q = RingBuffer::with_capacity(4);
    /// q.push(1).unwrap();
    /// q.push(2).unwrap();
    /// assert_eq!(q.pop(), Some(1));
    /// assert_eq!(q.pop(), Some(2));
    /// assert_eq!(q.pop(), None);
    /// ```
    #[inline]
    pub fn pop(&self) -> Option<T> {
        let mut backoff = Backoff::new();
        // Acquire: essay [6] (the stamp we compare below is no older than WRITTEN(head -
        // one_lap)).
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let slot = self.slot(head);
            // Acquire: pairs with the Release store of WRITTEN in `write`/`evict`.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp & !LATCH == written(head) {
                let new_head = self.next(head);
                // SeqCst: Q1 of peek.rs (store buffering against the peekers' gate).
                match self.head.compare_exchange_weak(
                    head,
                    new_head,
                    Ordering::SeqCst,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        let latched = self.gate.is_open();
                        // SAFETY: our CAS moved `head` off a WRITTEN slot; the value is ours.
                        return Some(unsafe { self.vacate(slot, head, latched) });
                    }
                    Err(h) => {
                        // Another popper took `head` (progress): retry at once.
                        head = h;
                        backoff.spin();
                    }
                }
            } else {
                // SeqCst: a push that completed before this call has moved `tail` on.
                if stamp == free(head) && self.tail.load(Ordering::SeqCst) == head {
                    // FREE(head) and nobody has claimed it.
                    return None;
                }
                // A push of `head` under way (wait for it: spin, then yield), or a stale head.
                backoff.snooze();
                head = self.head.load(Ordering::Acquire);
            }
        }
    }

    /// Appends the elements of `items` in order, as far as they fit.
    ///
    /// Collects `items` first (so a panicking or lying iterator cannot leave claimed slots
    /// unwritten), then claims runs of free slots with one compare-and-swap of the tail each.
    /// The elements of one run are adjacent in the ring; elements of different runs may be
    /// interleaved with other producers' elements.
    ///
    /// # Errors
    ///
    /// When the ring fills up, `Err(Full(rest))` hands back, in order, the elements that were not
    /// pushed (a suffix of `items`); the others are in the ring. Nothing is lost.
    ///
    /// Progress: as [`push`](Self::push).
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::RingBuffer;
    ///
    /// let q = RingBuffer::with_capacity(3);
    /// assert!(q.push_batch([1, 2]).is_ok());
    /// let rest = q.push_batch([3, 4, 5]).unwrap_err().into_inner();
    /// assert_eq!(rest, vec![4, 5]);
    /// let mut out = Vec::new();
    /// assert_eq!(q.pop_many(&mut out, 10), 3);
    /// assert_eq!(out, [1, 2, 3]);
    /// ```
    pub fn push_batch<I>(&self, items: I) -> Result<(), Full<Vec<T>>>
    where
        I: IntoIterator<Item = T>,
    {
        let mut items = items.into_iter().collect::<Vec<T>>().into_iter();
        while items.len() > 0 {
            let Some((start, run)) = self.claim_free_run(items.len()) else {
                return Err(Full(items.collect()));
            };
            debug_assert!(run >= 1 && run <= items.len());
            let mut pos = start;
            for value in items.by_ref().take(run) {
                let slot = self.slot(pos);
                // SAFETY: `claim_free_run` moved `tail` over `run` FREE slots from `start`;
                // each is ours until its stamp store.
                unsafe { self.write(slot, pos, value) };
                pos = self.next(pos);
            }
        }
        Ok(())
    }

    /// Claims up to `max` (≥ 1) consecutive FREE slots from the tail with one CAS: returns the
    /// first position and the count, or `None` when the ring is full.
    fn claim_free_run(&self, max: usize) -> Option<(u64, usize)> {
        let mut backoff = Backoff::new();
        // Acquire: as in `push_inner`.
        let mut tail = self.tail.load(Ordering::Acquire);
        loop {
            let mut end = tail;
            let mut run = 0;
            let mut stamp = 0;
            while run < max {
                // Acquire: as in `push_inner`.
                stamp = self.slot(end).stamp.load(Ordering::Acquire);
                if stamp != free(end) {
                    break;
                }
                run += 1;
                end = self.next(end);
            }
            if run > 0 {
                // SeqCst: as in `push_inner`.
                match self.tail.compare_exchange_weak(
                    tail,
                    end,
                    Ordering::SeqCst,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return Some((tail, run)),
                    Err(t) => tail = t,
                }
            } else if stamp & !LATCH == written(tail.wrapping_sub(self.one_lap))
                // SeqCst: as in `push_inner`.
                && self.head.load(Ordering::SeqCst) == tail.wrapping_sub(self.one_lap)
            {
                return None;
            } else {
                tail = self.tail.load(Ordering::Acquire);
            }
            backoff.snooze();
        }
    }

    /// Moves up to `limit` of the oldest elements, in order, to the end of `out`; returns how
    /// many. Stops early when the ring is empty.
    ///
    /// Claims runs of ready elements with one compare-and-swap of the head each and reserves
    /// room in `out` before claiming. The elements of one run are consecutive in the ring;
    /// between runs, other consumers may take elements.
    ///
    /// Progress: as [`pop`](Self::pop).
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::RingBuffer;
    ///
    /// let q = RingBuffer::with_capacity(8);
    /// q.push_batch(0..5).unwrap();
    /// let mut out = vec![-1];
    /// assert_eq!(q.pop_many(&mut out, 3), 3);
    /// assert_eq!(out, [-1, 0, 1, 2]);
    /// assert_eq!(q.pop_many(&mut out, 10), 2);
    /// assert_eq!(q.pop_many(&mut out, 10), 0);
    /// ```
    pub fn pop_many(&self, out: &mut Vec<T>, limit: usize) -> usize {
        let mut popped = 0;
        while popped < limit {
            let n = self.pop_run(out, limit - popped);
            if n == 0 {
                break;
            }
            popped += n;
        }
        popped
    }

    /// Claims up to `max` (≥ 1) consecutive WRITTEN slots from the head with one SeqCst CAS and
    /// moves their values to `out`; returns the count, 0 when the ring is empty.
    fn pop_run(&self, out: &mut Vec<T>, max: usize) -> usize {
        let mut backoff = Backoff::new();
        // Acquire: as in `pop`.
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let mut end = head;
            let mut run = 0;
            let mut stamp = 0;
            while run < max {
                // Acquire: as in `pop`.
                stamp = self.slot(end).stamp.load(Ordering::Acquire);
                if stamp & !LATCH != written(end) {
                    break;
                }
                run += 1;
                end = self.next(end);
            }
            if run > 0 {
                // Before claiming: after the claim nothing may panic.
                out.reserve(run);
                // SeqCst: Q1 of peek.rs, for all `run` slots at once.
                match self.head.compare_exchange_weak(
                    head,
                    end,
                    Ordering::SeqCst,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        let latched = self.gate.is_open();
                        let mut pos = head;
                        for _ in 0..run {
                            let slot = self.slot(pos);
                            // SAFETY: our CAS moved `head` over `run` WRITTEN slots from
                            // `head`; their values are ours.
                            out.push(unsafe { self.vacate(slot, pos, latched) });
                            pos = self.next(pos);
                        }
                        return run;
                    }
                    Err(h) => head = h,
                }
            } else if stamp == free(head) && self.tail.load(Ordering::SeqCst) == head {
                // SeqCst: as in `pop`.
                return 0;
            } else {
                head = self.head.load(Ordering::Acquire);
            }
            backoff.snooze();
        }
    }

    /// Returns a clone of the oldest element without removing it, or `None` when the ring is
    /// empty.
    ///
    /// Sound against concurrent pops for any `T: Clone + Sync`: the clone is taken in place
    /// while the slot is pinned, and a pop of that element waits until the clone is done
    /// (`Sync` because several peekers may clone one element at once). The clone is of an
    /// element that was the head at one moment of the call; with concurrent pops it may be gone
    /// by the time `peek` returns.
    ///
    /// Progress: as [`pop`](Self::pop) (it waits for an unwritten head element). While it
    /// clones, a pop of the same element waits for it (see [`RingBuffer`]'s progress section).
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::RingBuffer;
    ///
    /// let q = RingBuffer::with_capacity(2);
    /// assert_eq!(q.peek(), None);
    /// q.push(String::from("head")).unwrap();
    /// q.push(String::from("next")).unwrap();
    /// assert_eq!(q.peek().as_deref(), Some("head"));
    /// assert_eq!(q.len(), 2);
    /// ```
    pub fn peek(&self) -> Option<T>
    where
        T: Clone + Sync,
    {
        // P1 of peek.rs: announce ourselves before loading the head.
        let _gate = self.gate.enter();
        let mut backoff = Backoff::new();
        loop {
            // SeqCst: P2 of peek.rs, after P1 in the total order.
            let head = self.head.load(Ordering::SeqCst);
            let slot = self.slot(head);
            // Acquire: pairs with the Release store of WRITTEN in `write`/`evict`.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp & !LATCH == written(head) {
                if let Some(value) = self.clone_if_written(slot, head) {
                    return Some(value);
                }
                // Popped meanwhile: the head has moved on; reload it.
            } else if stamp == free(head) && self.tail.load(Ordering::SeqCst) == head {
                // SeqCst: as in `pop`.
                return None;
            } else {
                backoff.snooze();
            }
        }
    }

    /// Returns clones of the elements in the ring, oldest first.
    ///
    /// Guarantees, under any concurrency:
    ///
    /// * every element present for the whole call is included, except one whose push was still
    ///   in flight (claimed, not yet written) when the snapshot passed its slot;
    /// * every included element was present at some moment of the call (none is made up, none
    ///   comes from a later push than the call's start);
    /// * the clones are in FIFO order: for any two included elements, the one pushed first (per
    ///   the ring's order) comes first.
    ///
    /// It is not an atomic picture: an element popped during the call may or may not appear,
    /// and elements pushed during the call are left out. Pops of an element wait while it is
    /// cloned; pushes never wait for a snapshot.
    ///
    /// Progress: never waits for other threads (elements whose push is under way are skipped;
    /// the only exception is a slot that 32,767 other peekers are cloning at once), and visits
    /// each of at most `capacity` slots once.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::RingBuffer;
    ///
    /// let q = RingBuffer::with_capacity(3);
    /// q.push_batch(["a", "b", "c"]).unwrap();
    /// q.pop();
    /// q.push("d").unwrap();
    /// assert_eq!(q.snapshot(), ["b", "c", "d"]);
    /// ```
    pub fn snapshot(&self) -> Vec<T>
    where
        T: Clone + Sync,
    {
        // P1 of peek.rs.
        let _gate = self.gate.enter();
        // SeqCst: P2 of peek.rs. Head before tail, so that `head ≤ tail` (essay).
        let head = self.head.load(Ordering::SeqCst);
        let tail = self.tail.load(Ordering::SeqCst);
        let count = self.distance(head, tail);
        let mut out = Vec::with_capacity(count);
        let mut pos = head;
        for _ in 0..count {
            let slot = self.slot(pos);
            if let Some(value) = self.clone_if_written(slot, pos) {
                out.push(value);
            }
            pos = self.next(pos);
        }
        out
    }

    /// P4–P5 of peek.rs: pins `slot` if it holds position `pos` (one CAS validates and pins),
    /// clones, unpins. Must run inside the gate, with `pos` at or after a head loaded inside it.
    fn clone_if_written(&self, slot: &Slot<T>, pos: u64) -> Option<T>
    where
        T: Clone + Sync,
    {
        if !slot.try_pin(pos) {
            // Not WRITTEN(pos), or TAKEN: popped, being popped, or not yet written.
            return None;
        }
        let pin = PinGuard(slot);
        // SAFETY: our pin succeeded on WRITTEN(pos) with TAKEN clear: the value is initialized
        // (the pin's Acquire CAS reads from the release sequence of the WRITTEN store), and no
        // pop moves it out until we unpin (its `take` waits for the count, or its claim came
        // before a closed gate, which excludes us: peek.rs). A plain push never writes a
        // WRITTEN slot; `force_push` does (through `evict`), but only after claiming the value
        // with the same Q1/Q2/take steps as a pop, so it also waits for us. `T: Sync` allows the
        // shared access from several peekers.
        let value = slot
            .value
            .with(|p| unsafe { (*p).assume_init_ref() }.clone());
        drop(pin);
        Some(value)
    }

    /// The number of elements.
    ///
    /// Exact when no operation is in flight. Under concurrency it counts claimed positions (a
    /// push that has claimed its slot counts, a pop that has claimed its element does not) at
    /// one moment of the call when `tail` did not move during the read; if `tail` keeps moving,
    /// it gives up after a few tries and returns an estimate. Always in `0..=capacity`; never
    /// panics or underflows (crossbeam issue 523). By the time it returns, the length may differ.
    ///
    /// Progress: wait-free (a bounded number of loads).
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::RingBuffer;
    ///
    /// let q = RingBuffer::with_capacity(3);
    /// q.push(1).unwrap();
    /// q.push(2).unwrap();
    /// assert_eq!(q.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        const TRIES: usize = 4;
        // SeqCst on all three loads: one total order with the CASes on head and tail.
        let mut tail = self.tail.load(Ordering::SeqCst);
        for _ in 0..TRIES {
            let head = self.head.load(Ordering::SeqCst);
            let again = self.tail.load(Ordering::SeqCst);
            if again == tail {
                return self.distance(head, tail);
            }
            tail = again;
        }
        // `tail` kept moving: an estimate, clamped to `0..=cap` by `distance`.
        self.distance(self.head.load(Ordering::SeqCst), tail)
    }

    /// True when the ring held no element at one moment of the call.
    ///
    /// Under concurrency another thread may push right after; a `false` can likewise be stale.
    /// Progress: wait-free.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::RingBuffer;
    ///
    /// let q = RingBuffer::with_capacity(1);
    /// assert!(q.is_empty());
    /// q.push(()).unwrap();
    /// assert!(!q.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        // SeqCst: head first, then tail: `tail` only grows and never passes below `head`, so
        // equality means they were equal when `head` was loaded.
        let head = self.head.load(Ordering::SeqCst);
        let tail = self.tail.load(Ordering::SeqCst);
        head == tail
    }

    /// True when the ring held `capacity` elements at one moment of the call.
    ///
    /// Under concurrency a consumer may pop right after: if `is_full` says true, a push can
    /// still succeed, and if it says false, another producer can still fill the ring first.
    /// Progress: wait-free.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::RingBuffer;
    ///
    /// let q = RingBuffer::with_capacity(1);
    /// assert!(!q.is_full());
    /// q.push(()).unwrap();
    /// assert!(q.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        // SeqCst: tail first, then head: `head` only grows, so `head + one_lap == tail` means
        // the ring was full when `head` was loaded.
        let tail = self.tail.load(Ordering::SeqCst);
        let head = self.head.load(Ordering::SeqCst);
        head.wrapping_add(self.one_lap) == tail
    }

    /// The slot that serves position `pos`.
    #[inline]
    fn slot(&self, pos: u64) -> &Slot<T> {
        // Lossless: the index is below `cap`, a `usize`.
        let index = (pos & (self.one_lap - 1)) as usize;
        debug_assert!(index < self.cap, "position {pos:#x} has index ≥ capacity");
        // SAFETY: every position is `lap + index` with `index < cap` (built by `next` from 0).
        unsafe { self.slots.get_unchecked(index) }
    }

    /// The position after `pos`.
    #[inline]
    fn next(&self, pos: u64) -> u64 {
        if (pos & (self.one_lap - 1)) + 1 < self.cap as u64 {
            pos + 1
        } else {
            (pos & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    /// The number of positions from `head` to `tail`, clamped to `0..=cap` (stale pairs may
    /// be out of order).
    fn distance(&self, head: u64, tail: u64) -> usize {
        let mask = self.one_lap - 1;
        // A multiple of one_lap; as i64 it is negative when `tail` is a lap behind `head`.
        let laps = ((tail & !mask).wrapping_sub(head & !mask) as i64) / self.one_lap as i64;
        let within = (tail & mask) as i64 - (head & mask) as i64;
        let count = laps.saturating_mul(self.cap as i64).saturating_add(within);
        // Lossless: clamped to `0..=cap`, and `cap` is a `usize`.
        count.clamp(0, self.cap as i64) as usize
    }

    /// Writes `value` into `slot` and publishes WRITTEN(pos).
    ///
    /// # Safety
    ///
    /// The caller owns the slot: its CAS moved `tail` off `pos` while the slot was FREE(pos).
    unsafe fn write(&self, slot: &Slot<T>, pos: u64, value: T) {
        // SAFETY: the caller owns the slot, which holds no value (FREE).
        slot.value.with_mut(|p| unsafe { (*p).write(value) });
        // Release: pairs with the Acquire stamp loads in `pop`, `pop_run`, `peek` and the
        // Acquire CAS in `try_pin`. A plain store: FREE has no pins (they need WRITTEN).
        slot.stamp.store(written(pos), Ordering::Release);
    }

    /// Moves the value of position `pos` out of `slot` and frees the slot for the next lap.
    /// `latched` is what `gate.is_open()` said right after the claim.
    ///
    /// # Safety
    ///
    /// The caller owns the value: its SeqCst CAS moved `head` off `pos` while the slot was
    /// WRITTEN(pos), and it called `gate.is_open()` right after that CAS.
    #[inline]
    unsafe fn vacate(&self, slot: &Slot<T>, pos: u64, latched: bool) -> T {
        if latched {
            // Q3 of peek.rs: TAKEN, then wait for the peekers cloning this value.
            slot.take();
        }
        // SAFETY: WRITTEN(pos) and ours; no peeker reads it (Q3: TAKEN and no pins, or a closed
        // gate at Q2). `with_mut`: moving out invalidates the value, so loom must see it as a
        // write.
        let value = slot.value.with_mut(|p| unsafe { (*p).assume_init_read() });
        // Release: pairs with the Acquire stamp loads of pushers: our move out happens before
        // the next lap's write. A plain store, which also clears TAKEN (essay [4]): no pin can
        // be added meanwhile (TAKEN set, or no peeker aims at `pos` when the gate was closed).
        slot.stamp
            .store(free(pos.wrapping_add(self.one_lap)), Ordering::Release);
        value
    }

    /// `force_push` on a full ring: having claimed the oldest position `oldest` (its slot is the
    /// tail's), moves `tail` on, swaps `value` in, and returns the evicted element.
    ///
    /// # Safety
    ///
    /// The caller's SeqCst CAS moved `head` off `oldest` while `tail == oldest + one_lap` and the
    /// slot was WRITTEN(oldest).
    unsafe fn evict(&self, slot: &Slot<T>, oldest: u64, value: T) -> T {
        let latched = self.gate.is_open();
        let pos = oldest.wrapping_add(self.one_lap);
        // SeqCst: in the total order read by `len`/`is_empty`; its Release half carries essay
        // [6]'s chain to the next pusher. A plain store is enough: no one else can move `tail`
        // off `pos` (essay [5]).
        self.tail.store(self.next(pos), Ordering::SeqCst);
        if latched {
            slot.take();
        }
        // SAFETY: the value of `oldest` is ours (our head CAS) and no peeker reads it (Q3, or a
        // closed gate); the slot is ours to refill since `tail` moved off `pos` by our store.
        let old = slot.value.with_mut(|p| unsafe {
            let old = (*p).assume_init_read();
            (*p).write(value);
            old
        });
        // Release: pairs with the Acquire stamp loads in `pop`, `pop_run`, `peek` and the
        // Acquire CAS in `try_pin`. Also clears TAKEN (essay [4]).
        slot.stamp.store(written(pos), Ordering::Release);
        old
    }
}

#[cfg(test)]
impl<T> RingBuffer<T> {
    /// An empty ring whose positions start at lap `lap` (`lap · one_lap`) instead of 0, to test
    /// the 48-bit sequence and the 64-bit positions at their wrap.
    fn starting_at_lap(capacity: usize, lap: u64) -> Self {
        let q = RingBuffer::with_capacity(capacity);
        let start = lap.wrapping_mul(q.one_lap);
        for (i, slot) in (0..).zip(q.slots.iter()) {
            slot.stamp
                .store(free(start.wrapping_add(i)), Ordering::Relaxed);
        }
        q.head.store(start, Ordering::Relaxed);
        q.tail.store(start, Ordering::Relaxed);
        q
    }
}

/// Unpins a slot when dropped, also when a peeker's `clone` panics.
struct PinGuard<'a, T>(&'a Slot<T>);

impl<T> Drop for PinGuard<'_, T> {
    fn drop(&mut self) {
        self.0.unpin();
    }
}

impl<T> Drop for RingBuffer<T> {
    fn drop(&mut self) {
        // Relaxed: `&mut self` means no operation is in flight and every other thread's last
        // access happens before this drop.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        let mut pos = head;
        for _ in 0..self.distance(head, tail) {
            let slot = self.slot(pos);
            debug_assert_eq!(slot.stamp.load(Ordering::Relaxed), written(pos));
            // SAFETY: with no operation in flight, every position in head..tail is WRITTEN,
            // and each is dropped once.
            slot.value.with_mut(|p| unsafe { (*p).assume_init_drop() });
            pos = self.next(pos);
        }
    }
}

impl<T> fmt::Debug for RingBuffer<T> {
    /// Prints the capacity and the current length; `T: Debug` is not required.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingBuffer")
            .field("capacity", &self.cap)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl<T> Fifo<T> for RingBuffer<T> {
    fn push(&self, value: T) -> Result<(), Full<T>> {
        RingBuffer::push(self, value)
    }

    fn pop(&self) -> Option<T> {
        RingBuffer::pop(self)
    }

    fn pop_many(&self, out: &mut Vec<T>, limit: usize) -> usize {
        RingBuffer::pop_many(self, out, limit)
    }

    fn len(&self) -> usize {
        RingBuffer::len(self)
    }

    fn is_empty(&self) -> bool {
        RingBuffer::is_empty(self)
    }

    fn capacity(&self) -> Option<usize> {
        Some(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::RingBuffer;
    use crate::test_support::DropCounter;
    use std::sync::Arc;
    const N: usize = if cfg!(miri) { 200 } else { 1_000_000 };

    #[test]
    #[should_panic(expected = "at least 1")]
    fn zero_capacity_panics() {
        let _ = RingBuffer::<u8>::with_capacity(0);
    }

    #[test]
    fn capacity_one() {
        let q = RingBuffer::with_capacity(1);
        assert_eq!(q.capacity(), 1);
        for i in 0..N.min(10_000) {
            assert!(q.is_empty() && !q.is_full());
            assert_eq!(q.pop(), None);
            q.push(i).unwrap();
            assert!(q.is_full() && !q.is_empty());
            assert_eq!(q.len(), 1);
            assert_eq!(q.push(i + 1).unwrap_err().into_inner(), i + 1);
            assert_eq!(q.peek(), Some(i));
            assert_eq!(q.pop(), Some(i));
        }
    }

    #[test]
    fn capacity_three_wraps_many_laps() {
        let q = RingBuffer::with_capacity(3);
        let mut next_in = 0;
        let mut next_out = 0;
        for round in 0..N.min(20_000) {
            // Fill to a level that varies with the round, then drain part of it.
            while q.len() < 1 + round % 3 {
                q.push(next_in).unwrap();
                next_in += 1;
            }
            assert_eq!(q.len(), next_in - next_out);
            let snap = q.snapshot();
            assert_eq!(snap, (next_out..next_in).collect::<Vec<_>>());
            assert_eq!(q.pop(), Some(next_out));
            next_out += 1;
        }
        while let Some(v) = q.pop() {
            assert_eq!(v, next_out);
            next_out += 1;
        }
        assert_eq!(next_out, next_in);
    }

    #[test]
    fn full_and_empty_boundaries() {
        for cap in [1, 2, 3, 4, 5, 7, 8] {
            let q = RingBuffer::with_capacity(cap);
            for lap in 0..5 {
                for i in 0..cap {
                    assert_eq!(q.len(), i);
                    q.push(lap * 100 + i).unwrap();
                }
                assert!(q.is_full());
                assert_eq!(q.len(), cap);
                assert!(q.push(0).is_err());
                assert_eq!(q.snapshot().len(), cap);
                for i in 0..cap {
                    assert_eq!(q.pop(), Some(lap * 100 + i));
                }
                assert!(q.is_empty());
                assert_eq!(q.len(), 0);
                assert_eq!(q.pop(), None);
                assert_eq!(q.peek(), None);
            }
        }
    }

    #[test]
    fn force_push_evicts_oldest() {
        let q = RingBuffer::with_capacity(3);
        for i in 0..3 {
            assert_eq!(q.force_push(i), None);
        }
        for i in 3..50 {
            assert_eq!(q.force_push(i), Some(i - 3));
            assert_eq!(q.len(), 3);
        }
        assert_eq!(q.snapshot(), [47, 48, 49]);
        let q = RingBuffer::with_capacity(1);
        assert_eq!(q.force_push('a'), None);
        assert_eq!(q.force_push('b'), Some('a'));
        assert_eq!(q.peek(), Some('b'));
        assert_eq!(q.pop(), Some('b'));
        assert_eq!(q.force_push('c'), None);
    }

    #[test]
    fn batches() {
        let q = RingBuffer::with_capacity(5);
        let mut out = Vec::new();
        assert!(q.push_batch(Vec::new()).is_ok());
        assert_eq!(q.pop_many(&mut out, 0), 0);
        assert_eq!(q.pop_many(&mut out, 4), 0);
        for round in 0..50 {
            let base = round * 10;
            q.push_batch(base..base + 3).unwrap();
            let rest = q.push_batch(base + 3..base + 9).unwrap_err().into_inner();
            assert_eq!(rest, (base + 5..base + 9).collect::<Vec<_>>());
            assert_eq!(q.pop_many(&mut out, 2), 2);
            q.push_batch([base + 5]).unwrap();
            assert_eq!(q.pop_many(&mut out, 100), 4);
            assert_eq!(out, (base..base + 6).collect::<Vec<_>>());
            out.clear();
        }
    }

    #[test]
    fn drop_counts() {
        let drops = DropCounter::new();
        {
            let q = RingBuffer::with_capacity(3);
            for _ in 0..7 {
                // Wrap the ring a few times so head and tail are mid-lap.
                q.push(drops.make(())).unwrap();
                q.pop().unwrap();
            }
            assert_eq!(drops.dropped(), 7);
            q.push(drops.make(())).unwrap();
            q.push(drops.make(())).unwrap();
            drop(q.force_push(drops.make(())));
            drop(q.force_push(drops.make(()))); // evicts one
            assert_eq!(drops.dropped(), 8);
            let rest = q.push_batch([drops.make(()), drops.make(())]).unwrap_err();
            drop(rest);
            assert_eq!(drops.dropped(), 10);
        }
        // The three left inside were dropped once each.
        assert_eq!(drops.dropped(), 13);
    }

    /// Through the wrap of the stamp's 48-bit sequence and of the 64-bit positions.
    #[test]
    fn positions_wrap_sequence_and_u64() {
        for cap in [1, 3, 4] {
            let one_lap = (cap as u64 + 1).next_power_of_two();
            for wrap in [1u64 << 48, 0] {
                // A few laps before `wrap` (0: the wrap of u64 itself).
                let lap = wrap.wrapping_sub(3 * one_lap) / one_lap;
                let q = RingBuffer::starting_at_lap(cap, lap);
                let mut next_in = 0u32;
                let mut next_out = 0u32;
                for _ in 0..8 * cap {
                    q.push(next_in).unwrap();
                    next_in += 1;
                    assert_eq!(q.peek(), Some(next_out));
                    if q.len() == cap {
                        assert!(q.is_full());
                        assert_eq!(q.push(99).unwrap_err().into_inner(), 99);
                        assert_eq!(q.snapshot().len(), cap);
                        assert_eq!(q.force_push(next_in), Some(next_out));
                        next_in += 1;
                        next_out += 1;
                        assert_eq!(q.pop(), Some(next_out));
                        next_out += 1;
                    }
                }
                let mut out = Vec::new();
                q.pop_many(&mut out, usize::MAX);
                assert_eq!(out, (next_out..next_in).collect::<Vec<_>>());
                assert!(q.is_empty());
                q.push_batch(0..cap as u32).unwrap();
                assert_eq!(q.len(), cap);
            }
        }
    }

    #[test]
    fn debug_without_t_debug() {
        struct Opaque;
        let q = RingBuffer::with_capacity(2);
        q.push(Opaque).unwrap();
        assert_eq!(format!("{q:?}"), "RingBuffer { capacity: 2, len: 1, .. }");
    }

    #[test]
    fn panicking_clone_leaves_no_pin_behind() {
        struct Bomb(u32);
        impl Clone for Bomb {
            fn clone(&self) -> Self {
                panic!("clone of {}", self.0)
            }
        }
        let q = RingBuffer::with_capacity(2);
        q.push(Bomb(1)).unwrap();
        let peeked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.peek()));
        assert!(peeked.is_err());
        let snap = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.snapshot()));
        assert!(snap.is_err());
        // The gate and the latch were left: the pop neither waits nor sees a stale pin.
        assert_eq!(q.pop().map(|b| b.0), Some(1));
        q.push(Bomb(2)).unwrap();
        assert_eq!(q.pop().map(|b| b.0), Some(2));
    }

    #[test]
    fn peek_against_pop_two_threads() {
        let total = N.min(20_000);
        let q = Arc::new(RingBuffer::with_capacity(3));
        let popper = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                let mut next = 0;
                while next < total {
                    match q.push(format!("value {next}")) {
                        Ok(()) => next += 1,
                        Err(_) => {
                            let _ = q.pop();
                        }
                    }
                }
            })
        };
        let mut peeks = 0;
        while !popper.is_finished() || peeks == 0 {
            if let Some(s) = q.peek() {
                let n: usize = s.strip_prefix("value ").unwrap().parse().unwrap();
                assert!(n < total);
                assert_eq!(s, format!("value {n}"));
            }
            for s in q.snapshot() {
                assert!(s.starts_with("value "));
            }
            peeks += 1;
        }
        popper.join().unwrap();
    }
}
