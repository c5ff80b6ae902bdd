//! [`RingBuffer`]: a bounded MPMC queue of any capacity ≥ 1.
//!
//! The algorithm is Dmitry Vyukov's bounded MPMC queue ("Bounded MPMC queue", 1024cores.net,
//! 2010): an array of slots, each with a *stamp* that says which position the slot serves next
//! and whether it holds a value, and two counters, `head` and `tail`, that pushers and poppers
//! advance with compare-and-swap. This implementation departs from it in four ways:
//!
//! * **Any capacity.** A position is `lap + index` with `index < capacity` and `lap` a multiple
//!   of `one_lap = (capacity + 1).next_power_of_two()` (the encoding of crossbeam's
//!   `ArrayQueue`), so the capacity need not be a power of two.
//! * **Peek and snapshot.** A popper that may race a peeker latches its slot before moving the
//!   value out (the protocol of `peek.rs`), so [`RingBuffer::peek`] and
//!   [`RingBuffer::snapshot`] clone elements in place, sound against concurrent pops.
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
// Positions. `head` is the next position to pop, `tail` the next to push; both only move
// forward (`next(pos)`: `pos + 1`, or the next lap after index `capacity - 1`), and
// `head ≤ tail ≤ head + capacity` in position order. Slot `index(pos)` serves positions
// `pos`, `pos + one_lap`, `pos + 2·one_lap`, ...
//
// States of a slot's stamp, for the position `p` it serves now:
//
//   FREE(p)      stamp == p             nobody has written p yet; a pusher at tail == p may claim
//   WRITTEN(p)   stamp == p + 1         the value for p is in the slot; a popper at head == p may
//                                       claim it (p + 1 is never a position: index(p) < capacity
//                                       < one_lap, so `lap + capacity` is unused)
//   DRAINING(p)  stamp == p again       (only after a latched pop) the value of p is gone, the
//                                       latch is being released; nobody may act on the slot yet
//   FREE(p')     stamp == p + one_lap   the pop of p is complete; the slot serves p' = p + one_lap
//
// Transitions, each done by the one thread that owns the slot by its CAS on `tail` or `head`:
//
//   FREE(p) --push: CAS tail p→next(p), write, Release store p+1--> WRITTEN(p)
//   WRITTEN(p) --pop: SeqCst CAS head p→next(p), [latch.take], move out-->
//        (latched) Release store p: DRAINING(p), latch.release, Release store p+one_lap: FREE(p')
//        (not latched) Release store p+one_lap: FREE(p')
//   WRITTEN(p) --force_push when full: SeqCst CAS head p→next(p) (tail is p+one_lap), store
//        tail, move out, write new, [DRAINING(p), release], Release store p'+1--> WRITTEN(p')
//
// Ownership: a CAS that moves `tail` from p gives its winner the right to write slot p, and only
// while the stamp says FREE(p) (checked before the CAS; no other thread changes a FREE stamp).
// A CAS that moves `head` from p gives the right to move out of WRITTEN(p). The stamp's Release
// stores and Acquire loads carry the value from the writer to the reader and the reader's move
// out to the next lap's writer.
//
// The races, and why they are harmless:
//
// [1] A stale `tail` or `head`: the thread reads a stamp for a position that has moved on; its
//     CAS fails (positions do not repeat, barring a wrap of all of usize), so it reloads.
// [2] Pusher at `tail == t` finds WRITTEN(t - one_lap): the ring is full if `head` is still
//     t - one_lap (the element is there); otherwise a popper has claimed it and not finished
//     moving out: the pusher waits. Popper at `head == h` finds FREE(h): empty if `tail == h`;
//     otherwise a pusher has claimed h and not finished writing: the popper waits. These two
//     waits are why the ring is not strictly lock-free (crossbeam issue 675).
// [3] A peeker clones in place while a popper moves out: peek.rs's latch. A popper whose claim
//     was followed by a closed gate never has a peeker on its slot (store buffering, peek.rs);
//     otherwise it takes the latch and waits for the pinned peekers. A peeker re-validates
//     WRITTEN(p) after pinning, because the slot may have been popped and reused for a later
//     lap between its first stamp load and its pin.
// [4] The DRAINING step. peek.rs's Q5 asks for "publish the slot's new state, then release".
//     If the new state were FREE(p'), the next lap could run in the gap: a pusher writes p', a
//     popper claims p' and sets TAKEN (already set: a no-op), our `release` clears it, and a
//     peeker pins, validates WRITTEN(p') and clones while that popper moves the value out. So a
//     latched pop publishes DRAINING(p) first, which every peeker rejects and no pusher acts on,
//     releases, and only then publishes FREE(p'). TAKEN is thus always clear when a slot becomes
//     FREE, and a TAKEN bit seen by a peeker always belongs to the pop of the element it sees.
// [5] `force_push` on a full ring: its CAS on `head` from t - one_lap competes with pops exactly
//     as a pop's would, so the oldest element goes to exactly one of them. Its plain store of
//     `tail` is safe: no pusher can claim t (the stamp never says FREE(t)) and no other evictor
//     can (`head` is no longer t - one_lap).

use super::peek::{PeekGate, SlotLatch};
use super::{Fifo, Full};
use crate::primitive::cell::UnsafeCell;
use crate::primitive::sync::atomic::{AtomicUsize, Ordering};
use crate::primitive::Backoff;
use crossbeam_utils::CachePadded;
use std::fmt;
use std::mem::MaybeUninit;

/// One slot of the ring.
struct Slot<T> {
    /// The slot's state (see the essay): FREE(p) = p, WRITTEN(p) = p + 1, DRAINING(p) = p.
    /// Written only by the thread that owns the slot by its claim on `tail` or `head`; read by
    /// everyone.
    stamp: AtomicUsize,
    /// Initialized exactly while the stamp says WRITTEN (or, for its owner, between a write and
    /// the stamp store, or a claim and the move out).
    value: UnsafeCell<MaybeUninit<T>>,
    /// Between peekers cloning `value` and the popper moving it out (peek.rs).
    latch: SlotLatch,
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
/// in them); if that thread stays suspended, the waiter spins and yields until it runs again.
/// A pop also waits while a [`peek`](Self::peek) or [`snapshot`](Self::snapshot) clones the
/// very element it is popping (user code: `T::clone`).
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
    head: CachePadded<AtomicUsize>,
    /// The next position to push. Moved forward by CAS (pushes), or stored by the one evicting
    /// `force_push` that owns it (essay [5]).
    tail: CachePadded<AtomicUsize>,
    /// Peeks and snapshots in flight (peek.rs).
    gate: PeekGate,
    /// `capacity` slots; slot `i` starts as FREE(i).
    slots: Box<[Slot<T>]>,
    /// The number of slots, ≥ 1.
    cap: usize,
    /// `(cap + 1).next_power_of_two()`: the distance between two positions of one slot.
    one_lap: usize,
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
    /// Allocates the `capacity` slots up front (the element size plus two words each); the ring
    /// never grows or reallocates them. (`push_batch` allocates a temporary `Vec` of its input.)
    ///
    /// # Panics
    ///
    /// If `capacity` is 0, or so large that the position encoding overflows.
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
        assert!(capacity > 0, "RingBuffer capacity must be at least 1");
        let one_lap = capacity
            .checked_add(1)
            .and_then(usize::checked_next_power_of_two)
            .expect("RingBuffer capacity overflows the position encoding");
        let slots = (0..capacity)
            .map(|i| Slot {
                stamp: AtomicUsize::new(i),
                value: UnsafeCell::new(MaybeUninit::uninit()),
                latch: SlotLatch::new(),
            })
            .collect();
        RingBuffer {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            gate: PeekGate::new(),
            slots,
            cap: capacity,
            one_lap,
        }
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

    fn push_inner(&self, value: T, evict: bool) -> Pushed<T> {
        let mut backoff = Backoff::new();
        // Relaxed: only a guess; the CAS below validates it.
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            let slot = self.slot(tail);
            // Acquire: pairs with the Release store of FREE in `vacate`, so the previous lap's
            // move out happens before our write.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == tail {
                // FREE(tail): claim it.
                let new_tail = self.next(tail);
                // SeqCst: one total order with the head CAS and the loads in `len`/`is_empty`
                // (Relaxed would do for the data, which the stamp carries).
                match self.tail.compare_exchange_weak(
                    tail,
                    new_tail,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: our CAS moved `tail` off a FREE slot: we own it until the
                        // stamp store below, and it holds no value (essay, ownership).
                        unsafe { self.write(slot, tail, value) };
                        return Pushed::Done;
                    }
                    Err(t) => {
                        tail = t;
                        backoff.snooze();
                    }
                }
            } else if stamp.wrapping_add(self.one_lap) == tail + 1 {
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
                backoff.snooze();
                tail = self.tail.load(Ordering::Relaxed);
            } else {
                // A stale tail, or the slot is DRAINING (essay [1], [4]).
                backoff.snooze();
                tail = self.tail.load(Ordering::Relaxed);
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
    pub fn pop(&self) -> Option<T> {
        let mut backoff = Backoff::new();
        // Relaxed: only a guess; the CAS below validates it.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let slot = self.slot(head);
            // Acquire: pairs with the Release store of WRITTEN in `write`/`evict`.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == head + 1 {
                let new_head = self.next(head);
                // SeqCst: Q1 of peek.rs (store buffering against the peekers' gate).
                match self.head.compare_exchange_weak(
                    head,
                    new_head,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let latched = self.gate.is_open();
                        // SAFETY: our CAS moved `head` off a WRITTEN slot; the value is ours.
                        return Some(unsafe { self.vacate(slot, head, latched) });
                    }
                    Err(h) => {
                        head = h;
                        backoff.snooze();
                    }
                }
            } else {
                if stamp == head && self.tail.load(Ordering::SeqCst) == head {
                    // FREE(head) and nobody has claimed it. SeqCst: a push that completed
                    // before this call has moved `tail` on.
                    return None;
                }
                // A push of `head` under way, a stale head, or a slot still being vacated.
                backoff.snooze();
                head = self.head.load(Ordering::Relaxed);
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
    fn claim_free_run(&self, max: usize) -> Option<(usize, usize)> {
        let mut backoff = Backoff::new();
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            let mut end = tail;
            let mut run = 0;
            let mut stamp = 0;
            while run < max {
                // Acquire: as in `push_inner`.
                stamp = self.slot(end).stamp.load(Ordering::Acquire);
                if stamp != end {
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
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Some((tail, run)),
                    Err(t) => tail = t,
                }
            } else if stamp.wrapping_add(self.one_lap) == tail + 1
                // SeqCst: as in `push_inner`.
                && self.head.load(Ordering::SeqCst) == tail.wrapping_sub(self.one_lap)
            {
                return None;
            } else {
                tail = self.tail.load(Ordering::Relaxed);
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
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let mut end = head;
            let mut run = 0;
            let mut stamp = 0;
            while run < max {
                // Acquire: as in `pop`.
                stamp = self.slot(end).stamp.load(Ordering::Acquire);
                if stamp != end + 1 {
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
                    Ordering::Relaxed,
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
            } else if stamp == head && self.tail.load(Ordering::SeqCst) == head {
                // SeqCst: as in `pop`.
                return 0;
            } else {
                head = self.head.load(Ordering::Relaxed);
            }
            backoff.snooze();
        }
    }

    /// Returns a clone of the oldest element without removing it, or `None` when the ring is
    /// empty.
    ///
    /// Sound against concurrent pops for any `T: Clone + Sync`: the clone is taken in place
    /// while the slot is latched, and a pop of that element waits until the clone is done
    /// (`Sync` because several peekers may clone one element at once). The clone is of an
    /// element that was the head at one moment of the call; with concurrent pops it may be gone
    /// by the time `peek` returns.
    ///
    /// Progress: as [`pop`](Self::pop) (it waits for an unwritten head element); the clone is
    /// the only time it makes others wait.
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
            if stamp == head + 1 {
                if let Some(value) = self.clone_if_written(slot, head) {
                    return Some(value);
                }
                // Popped meanwhile: the head has moved on; reload it.
            } else if stamp == head && self.tail.load(Ordering::SeqCst) == head {
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
    /// Progress: never waits for other threads (elements whose push is under way are skipped),
    /// and visits each of at most `capacity` slots once.
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
            // Acquire: pairs with the Release store of WRITTEN in `write`/`evict`.
            if slot.stamp.load(Ordering::Acquire) == pos + 1 {
                if let Some(value) = self.clone_if_written(slot, pos) {
                    out.push(value);
                }
            }
            pos = self.next(pos);
        }
        out
    }

    /// P4–P5 of peek.rs: pins `slot`, re-validates that it holds position `pos`, clones.
    /// Must run inside the gate, with `pos` at or after a head loaded inside it.
    fn clone_if_written(&self, slot: &Slot<T>, pos: usize) -> Option<T>
    where
        T: Clone + Sync,
    {
        if !slot.latch.try_pin() {
            // TAKEN: the pop of `pos` is moving the value out (essay [4]).
            return None;
        }
        let pin = PinGuard(&slot.latch);
        // Acquire: pairs with the Release stamp stores; a pin after a pop's `release` sees at
        // least DRAINING (essay [3], [4]).
        let value = if slot.stamp.load(Ordering::Acquire) == pos + 1 {
            // SAFETY: WRITTEN(pos) after our pin: the value is initialized, and no pop moves it
            // out until we unpin (its `take` waits for us, or its claim came after our gate
            // entry was seen). A plain push never writes a WRITTEN slot; `force_push` does
            // (through `evict`), but only after claiming the slot's value with the same
            // Q1/Q2/latch steps as a pop, so it also waits for us. `T: Sync` allows the shared
            // access from several peekers.
            Some(
                slot.value
                    .with(|p| unsafe { (*p).assume_init_ref() }.clone()),
            )
        } else {
            None
        };
        drop(pin);
        value
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
    fn slot(&self, pos: usize) -> &Slot<T> {
        let index = pos & (self.one_lap - 1);
        debug_assert!(index < self.cap, "position {pos:#x} has index ≥ capacity");
        // SAFETY: every position is `lap + index` with `index < cap` (built by `next` from 0).
        unsafe { self.slots.get_unchecked(index) }
    }

    /// The position after `pos`.
    #[inline]
    fn next(&self, pos: usize) -> usize {
        if (pos & (self.one_lap - 1)) + 1 < self.cap {
            pos + 1
        } else {
            (pos & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    /// The number of positions from `head` to `tail`, clamped to `0..=cap` (stale pairs may
    /// be out of order).
    fn distance(&self, head: usize, tail: usize) -> usize {
        let mask = self.one_lap - 1;
        // A multiple of one_lap; as isize it is negative when `tail` is a lap behind `head`.
        let laps = ((tail & !mask).wrapping_sub(head & !mask) as isize) / self.one_lap as isize;
        let within = (tail & mask) as isize - (head & mask) as isize;
        let count = laps
            .saturating_mul(self.cap as isize)
            .saturating_add(within);
        count.clamp(0, self.cap as isize) as usize
    }

    /// Writes `value` into `slot` and publishes WRITTEN(pos).
    ///
    /// # Safety
    ///
    /// The caller owns the slot: its CAS moved `tail` off `pos` while the slot was FREE(pos).
    unsafe fn write(&self, slot: &Slot<T>, pos: usize, value: T) {
        // SAFETY: the caller owns the slot, which holds no value (FREE).
        slot.value.with_mut(|p| unsafe { (*p).write(value) });
        // Release: pairs with the Acquire stamp loads in `pop`, `pop_run`, `peek`, `snapshot`.
        slot.stamp.store(pos + 1, Ordering::Release);
    }

    /// Moves the value of position `pos` out of `slot` and frees the slot for the next lap.
    /// `latched` is what `gate.is_open()` said right after the claim.
    ///
    /// # Safety
    ///
    /// The caller owns the value: its SeqCst CAS moved `head` off `pos` while the slot was
    /// WRITTEN(pos), and it called `gate.is_open()` right after that CAS.
    unsafe fn vacate(&self, slot: &Slot<T>, pos: usize, latched: bool) -> T {
        if latched {
            // Q3 of peek.rs: wait for the peekers cloning this value.
            slot.latch.take();
        }
        // SAFETY: WRITTEN(pos) and ours; no peeker reads it (Q3, or a closed gate at Q2).
        // `with_mut`: moving out invalidates the value, so loom must see it as a write.
        let value = slot.value.with_mut(|p| unsafe { (*p).assume_init_read() });
        if latched {
            // DRAINING, then release (essay [4]). Release: a peeker that pins after `release`
            // sees this store (via the latch's Release/Acquire) and rejects the slot.
            slot.stamp.store(pos, Ordering::Release);
            slot.latch.release();
        }
        // Release: pairs with the Acquire stamp loads of pushers: our move out happens before
        // the next lap's write.
        slot.stamp
            .store(pos.wrapping_add(self.one_lap), Ordering::Release);
        value
    }

    /// `force_push` on a full ring: having claimed the oldest position `oldest` (its slot is the
    /// tail's), moves `tail` on, swaps `value` in, and returns the evicted element.
    ///
    /// # Safety
    ///
    /// The caller's SeqCst CAS moved `head` off `oldest` while `tail == oldest + one_lap` and the
    /// slot was WRITTEN(oldest).
    unsafe fn evict(&self, slot: &Slot<T>, oldest: usize, value: T) -> T {
        let latched = self.gate.is_open();
        let pos = oldest.wrapping_add(self.one_lap);
        // SeqCst: in the total order read by `len`/`is_empty`. A plain store is enough: no one
        // else can move `tail` off `pos` (essay [5]).
        self.tail.store(self.next(pos), Ordering::SeqCst);
        if latched {
            slot.latch.take();
        }
        // SAFETY: the value of `oldest` is ours (our head CAS) and no peeker reads it (Q3, or a
        // closed gate); the slot is ours to refill since `tail` moved off `pos` by our store.
        let old = slot.value.with_mut(|p| unsafe {
            let old = (*p).assume_init_read();
            (*p).write(value);
            old
        });
        if latched {
            // DRAINING(oldest), then release (essay [4]).
            slot.stamp.store(oldest, Ordering::Release);
            slot.latch.release();
        }
        // Release: pairs with the Acquire stamp loads in `pop`, `pop_run`, `peek`, `snapshot`.
        slot.stamp.store(pos + 1, Ordering::Release);
        old
    }
}

/// Unpins a latch when dropped, also when a peeker's `clone` panics.
struct PinGuard<'a>(&'a SlotLatch);

impl Drop for PinGuard<'_> {
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
            debug_assert_eq!(slot.stamp.load(Ordering::Relaxed), pos + 1);
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    const N: usize = if cfg!(miri) { 200 } else { 1_000_000 };

    /// Counts its drops in a counter of its own test.
    struct Counted<'a>(&'a AtomicUsize);

    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

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
        let drops = AtomicUsize::new(0);
        {
            let q = RingBuffer::with_capacity(3);
            for _ in 0..7 {
                // Wrap the ring a few times so head and tail are mid-lap.
                q.push(Counted(&drops)).unwrap();
                q.pop().unwrap();
            }
            assert_eq!(drops.load(Ordering::Relaxed), 7);
            q.push(Counted(&drops)).unwrap();
            q.push(Counted(&drops)).unwrap();
            drop(q.force_push(Counted(&drops)));
            drop(q.force_push(Counted(&drops))); // evicts one
            assert_eq!(drops.load(Ordering::Relaxed), 8);
            let rest = q
                .push_batch([Counted(&drops), Counted(&drops)])
                .unwrap_err();
            drop(rest);
            assert_eq!(drops.load(Ordering::Relaxed), 10);
        }
        // The three left inside were dropped once each.
        assert_eq!(drops.load(Ordering::Relaxed), 13);
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
