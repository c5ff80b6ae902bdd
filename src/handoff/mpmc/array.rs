//! The bounded flavor: a fixed ring of slots with the channel's close mark in the tail word.
//!
//! The ring is Vyukov's bounded MPMC queue (D. Vyukov, "Bounded MPMC queue", 1024cores.net,
//! 2010), the same algorithm as `queue::RingBuffer` without its peek latch, plus one bit.
//
// # Protocol
//
// Positions are `lap + index` with `index < cap` and `lap` a multiple of `one_lap`, the
// smallest power of two above `cap` (so `lap + index + 1` never looks like the next lap's
// position of the same slot, even for `cap == 1`). `head` is the next position to receive,
// `tail` the next to send; bit 63 of `tail` is MARK: the channel is closed.
//
// Each slot has a stamp:
// * FREE(p)    = p:      the slot is empty and is the one position `p` will be written into;
// * WRITTEN(p) = p + 1:  the slot holds the value sent at position `p`.
//
// Transitions (each by the one thread that owns the slot):
// [1] send: a sender that sees FREE(tail) claims `tail` by CAS (tail → next(tail)), which fails
//     if MARK is set, since the expected value has MARK clear. It then owns the slot, writes the
//     value and stores WRITTEN(tail) (Release).
// [2] receive: a receiver that sees WRITTEN(head) claims `head` by CAS; it then owns the value,
//     moves it out and stores FREE(head + one_lap) (Release), handing the slot to the next lap.
// [3] full: a sender sees WRITTEN(tail - one_lap): the previous lap's value is still there. If
//     `head` is still `tail - one_lap`, nobody has claimed it: full. Otherwise its receiver is
//     moving it out; wait.
// [4] empty: a receiver sees FREE(head). If `tail` (mark stripped) is still `head`, nobody has
//     claimed it: empty, or closed and drained if MARK is set. Otherwise a sender has claimed it
//     and is writing; wait for it (a receive waits for a preempted sender here, as in Vyukov's
//     ring and crossbeam-channel: receiving is not lock-free at this point).
// [5] close: `fetch_or(MARK)`. Every claim that succeeded before it is a value that [4] waits
//     for; every claim after it fails ([1]), so no value is accepted after the close. This is
//     what makes the close lossless without any per-send bookkeeping.
// [6] guessed claims: a sender or receiver may claim the position its handle expects next (its
//     `Hint`: one past its own last claim) without loading `tail` / `head` first. It loads the
//     guessed slot's stamp, and if that says FREE(p) (WRITTEN(p) for a receiver), CASes p →
//     next(p). A stamp read *before* the CAS is as good as one read just before it: positions
//     only grow, so a CAS from p succeeds only while nobody has claimed p, and only p's
//     claimant moves a slot on from FREE(p) (from WRITTEN(p)). So a successful guessed claim
//     is exactly [1] ([2]); a failed guess (another thread moved on, or the stamp says
//     otherwise) falls back to [1] ([2]), and MARK makes the guessed CAS fail like any other
//     claim after a close. The guess never decides Full, Empty or Disconnected. Why guess: on
//     one thread the claim then waits on no load of a word the previous claim's RMW wrote,
//     only on the handle's own plain store (docs/benchmarks.md).
//
// Orderings. The stamps carry the data: WRITTEN's Release store pairs with the receiver's
// Acquire stamp load, FREE's Release store with the sender's Acquire stamp load. The claim CASes
// on `head` and `tail`, and the loads that conclude full / empty / closed, are SeqCst: the
// waiting layer (`waiters.rs`) pairs a claim with a SeqCst load of the sleeper count, against a
// sleeper's SeqCst count increment followed by these loads (a Dekker pair; one of the two sees
// the other).
//
// Positions grow by one per send (by `one_lap - cap + 1` at a lap's end): at 10^9 sends per
// second bit 63 is reached after about 290 years, so positions are not wrapped.

use super::error::{TryRecvError, TrySendError};
use crate::primitive::cell::UnsafeCell;
use crate::primitive::sync::atomic::{AtomicU64, Ordering};
use crate::primitive::Backoff;
use crossbeam_utils::CachePadded;
use std::mem::MaybeUninit;
// The `Hint`'s atomics: std's even under loom (see `Hint`).
use std::sync::atomic::{AtomicU32 as StdAtomicU32, AtomicU64 as StdAtomicU64, Ordering::Relaxed};

/// Bit of `tail`: the channel is closed; no claim succeeds any more.
const MARK: u64 = 1 << 63;

/// Where a handle expects its next claim ([6]): one past its own last claim, or 0. It holds
/// positions of its handle's ring only (`lap + index` with `index < cap`, never MARK); a guess
/// is still checked against the slots before use (`guessed_slot`). Only a guess, so plain
/// atomics even under loom (no ordering is asked of them; a stale or shared value is fine).
///
/// A wrong guess costs a load of a slot that another thread is likely using, so after one the
/// handle claims the plain way for its next `SKIP` operations: a handle whose guesses keep
/// failing (several handles taking turns on one thread, as async tasks do) pays for one guess
/// in `SKIP + 1`.
#[derive(Debug, Default)]
pub(crate) struct Hint {
    pos: StdAtomicU64,
    skip: StdAtomicU32,
}

impl Hint {
    /// Plain claims after a wrong guess.
    const SKIP: u32 = 16;

    /// The position to try, unless the last guesses went wrong.
    #[inline]
    fn guess(&self) -> Option<u64> {
        // Relaxed (both): a guess; the stamp load and the claim CAS decide.
        let skip = self.skip.load(Relaxed);
        if skip == 0 {
            Some(self.pos.load(Relaxed))
        } else {
            self.skip.store(skip - 1, Relaxed);
            None
        }
    }

    /// The guess was wrong.
    #[cold]
    fn missed(&self) {
        // Relaxed: as in `guess`.
        self.skip.store(Self::SKIP, Relaxed);
    }

    #[inline]
    fn set(&self, pos: u64) {
        // Relaxed: as in `guess`.
        self.pos.store(pos, Relaxed);
    }
}

/// One slot: a stamp (FREE(p) = p, WRITTEN(p) = p + 1; see the protocol) and a value that is
/// initialized exactly while the stamp is WRITTEN.
struct Slot<T> {
    /// Written by the thread that owns the slot by its claim; read by everyone.
    stamp: AtomicU64,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// The bounded flavor (see the protocol above).
pub(crate) struct Array<T> {
    /// Next position to receive. Changed only by a receiver's claim CAS.
    head: CachePadded<AtomicU64>,
    /// Next position to send, plus MARK. Changed by a sender's claim CAS and by `close`.
    tail: CachePadded<AtomicU64>,
    /// The smallest power of two above `cap`.
    one_lap: u64,
    slots: Box<[Slot<T>]>,
}

// SAFETY: values move from senders to receivers (so `T: Send`); a slot's value is accessed only
// by the one thread whose claim owns it, ordered by the stamp's Release/Acquire pairs; nothing
// hands out `&T`, so `T: Sync` is not needed.
unsafe impl<T: Send> Send for Array<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Array<T> {}

impl<T> Array<T> {
    /// A ring of `cap` slots. `cap` is at least 1 (the caller checks).
    pub(crate) fn with_capacity(cap: usize) -> Self {
        assert!(cap >= 1, "the array flavor needs at least one slot");
        let one_lap = (cap as u64 + 1).next_power_of_two();
        let slots = (0..cap as u64)
            .map(|i| Slot {
                stamp: AtomicU64::new(i),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Array {
            head: CachePadded::new(AtomicU64::new(0)),
            tail: CachePadded::new(AtomicU64::new(0)),
            one_lap,
            slots,
        }
    }

    /// The slot that serves position `pos` (MARK clear).
    #[inline]
    fn slot(&self, pos: u64) -> &Slot<T> {
        // Lossless: the index is below `cap`, a `usize`.
        let index = (pos & (self.one_lap - 1)) as usize;
        debug_assert!(index < self.slots.len(), "position {pos:#x} past the ring");
        // SAFETY: every position is `lap + index` with `index < cap` (built by `next` from 0).
        unsafe { self.slots.get_unchecked(index) }
    }

    /// The slot that serves a guessed position ([6]), or `None` if the guess cannot be a
    /// position of this ring: a guess comes from a `Hint`, which holds positions of the ring its
    /// handle belongs to, but a wrong one must not index past the slots.
    #[inline]
    fn guessed_slot(&self, pos: u64) -> Option<&Slot<T>> {
        // Lossless: masked below `one_lap`, itself at most twice `cap` (a `usize`) in practice,
        // and `get` checks the rest.
        self.slots.get((pos & (self.one_lap - 1)) as usize)
    }

    /// The position after `pos`.
    #[inline]
    fn next(&self, pos: u64) -> u64 {
        if (pos & (self.one_lap - 1)) + 1 < self.slots.len() as u64 {
            pos + 1
        } else {
            (pos & !(self.one_lap - 1)) + self.one_lap
        }
    }

    /// Sends `value` unless the ring is full or closed. Never waits for another thread except
    /// to let a receiver that claimed the slot finish moving its value out ([3]).
    #[inline]
    pub(crate) fn try_send(&self, value: T, hint: Option<&Hint>) -> Result<(), TrySendError<T>> {
        // [6]: the position this handle expects; `hint` only ever holds positions (never MARK).
        if let Some((hint, guess, slot)) = hint.and_then(|hint| {
            let guess = hint.guess()?;
            Some((hint, guess, self.guessed_slot(guess)?))
        }) {
            let next = self.next(guess);
            // Acquire: pairs with the Release store of FREE in `try_recv`/`try_recv_claim`, as
            // in the plain claim: the previous lap's move out happens before our write.
            if slot.stamp.load(Ordering::Acquire) == guess
                // SeqCst: as the claim below; fails if another sender took `guess`, or on MARK.
                && self
                    .tail
                    .compare_exchange(guess, next, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
            {
                // SAFETY: our CAS took `guess` while its slot was FREE(guess) ([6]).
                slot.value.with_mut(|p| unsafe { (*p).write(value) });
                // Release: pairs with the Acquire stamp load in `try_recv`.
                slot.stamp.store(guess + 1, Ordering::Release);
                hint.set(next);
                return Ok(());
            }
            hint.missed();
        }
        self.try_send_claim(value, hint)
    }

    /// `try_send` without a guess, or after a wrong one: the claim of [1], from a fresh load of
    /// `tail`. (`Chan` forces the inlining of `try_send`; measured so, docs/benchmarks.md.)
    #[inline]
    fn try_send_claim(&self, value: T, hint: Option<&Hint>) -> Result<(), TrySendError<T>> {
        let mut backoff = Backoff::new();
        // Relaxed: a stale tail only makes the stamp comparison or the CAS fail; the stamps
        // carry the data.
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            if tail & MARK != 0 {
                return Err(TrySendError::Disconnected(value));
            }
            let slot = self.slot(tail);
            // Acquire: pairs with the Release store of FREE in `try_recv`: the previous lap's
            // move out happens before our write.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == tail {
                // FREE(tail): claim it ([1]). SeqCst: the waiting layer's Dekker pair (module
                // essay); it also fails when MARK was set meanwhile.
                match self.tail.compare_exchange_weak(
                    tail,
                    self.next(tail),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: our CAS took `tail` while its slot was FREE(tail): the slot is
                        // ours and holds no value.
                        slot.value.with_mut(|p| unsafe { (*p).write(value) });
                        // Release: pairs with the Acquire stamp load in `try_recv`.
                        slot.stamp.store(tail + 1, Ordering::Release);
                        if let Some(hint) = hint {
                            hint.set(self.next(tail));
                        }
                        return Ok(());
                    }
                    Err(now) => {
                        tail = now;
                        backoff.spin();
                    }
                }
            } else if stamp + self.one_lap == tail + 1 {
                // WRITTEN(tail - one_lap) ([3]). SeqCst: a receive that finished before this
                // call has moved `head` on.
                if self.head.load(Ordering::SeqCst) + self.one_lap == tail {
                    return Err(TrySendError::Full(value));
                }
                backoff.snooze();
                tail = self.tail.load(Ordering::Relaxed);
            } else {
                // A stale tail: another sender has moved on.
                backoff.snooze();
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Receives the oldest value. `Empty` when nothing is claimed; `Disconnected` when closed
    /// and everything claimed before the close has been received. Waits for a sender that has
    /// claimed the head slot and not yet written it ([4]).
    #[inline]
    pub(crate) fn try_recv(&self, hint: Option<&Hint>) -> Result<T, TryRecvError> {
        // [6], as in `try_send`.
        if let Some((hint, guess, slot)) = hint.and_then(|hint| {
            let guess = hint.guess()?;
            Some((hint, guess, self.guessed_slot(guess)?))
        }) {
            let next = self.next(guess);
            let lap = self.one_lap;
            // Acquire: pairs with the Release store of WRITTEN in `try_send`/`try_send_claim`,
            // as in the plain claim: the value's write happens before our read.
            if slot.stamp.load(Ordering::Acquire) == guess + 1
                // SeqCst: as the claim below; fails if another receiver took `guess`.
                && self
                    .head
                    .compare_exchange(guess, next, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
            {
                // SAFETY: our CAS took `guess` while its slot was WRITTEN(guess) ([6]): the
                // value is ours alone. `with_mut`: moving out is a write for loom.
                let value = slot.value.with_mut(|p| unsafe { (*p).assume_init_read() });
                // Release: pairs with the Acquire stamp load in `try_send`.
                slot.stamp.store(guess + lap, Ordering::Release);
                hint.set(next);
                return Ok(value);
            }
            hint.missed();
        }
        self.try_recv_claim(hint)
    }

    /// `try_recv` without a guess, or after a wrong one: the claim of [2], from a fresh load of
    /// `head`.
    #[inline]
    fn try_recv_claim(&self, hint: Option<&Hint>) -> Result<T, TryRecvError> {
        let mut backoff = Backoff::new();
        // Relaxed: as in `try_send`.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let slot = self.slot(head);
            // Acquire: pairs with the Release store of WRITTEN in `try_send`.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == head + 1 {
                // WRITTEN(head): claim it ([2]). SeqCst: the waiting layer's Dekker pair for
                // senders asleep on a full ring.
                match self.head.compare_exchange_weak(
                    head,
                    self.next(head),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: our CAS took `head` while its slot was WRITTEN(head): the value
                        // is ours alone. `with_mut`: moving out is a write for loom.
                        let value = slot.value.with_mut(|p| unsafe { (*p).assume_init_read() });
                        // Release: pairs with the Acquire stamp load in `try_send`.
                        slot.stamp.store(head + self.one_lap, Ordering::Release);
                        if let Some(hint) = hint {
                            hint.set(self.next(head));
                        }
                        return Ok(value);
                    }
                    Err(now) => {
                        head = now;
                        backoff.spin();
                    }
                }
            } else if stamp == head {
                // FREE(head) ([4]). SeqCst: a send that finished before this call has moved
                // `tail` on, and the Dekker pair of the waiting layer.
                let tail = self.tail.load(Ordering::SeqCst);
                if tail & !MARK == head {
                    return Err(if tail & MARK != 0 {
                        TryRecvError::Disconnected
                    } else {
                        TryRecvError::Empty
                    });
                }
                // A sender claimed `head` and is writing it: wait (spin, then yield).
                backoff.snooze();
                head = self.head.load(Ordering::Relaxed);
            } else {
                // A stale head: another receiver has moved on.
                backoff.snooze();
                head = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// Sets MARK ([5]); true if this call set it.
    pub(crate) fn close(&self) -> bool {
        // SeqCst: the waiting layer's Dekker pair (a sleeper re-checks `is_closed` after
        // registering; the closer loads the sleeper count after this).
        self.tail.fetch_or(MARK, Ordering::SeqCst) & MARK == 0
    }

    /// Whether MARK is set.
    pub(crate) fn is_closed(&self) -> bool {
        // SeqCst: the sleeper's half of the Dekker pair with `close`.
        self.tail.load(Ordering::SeqCst) & MARK != 0
    }

    /// Whether no position is claimed between `head` and `tail` at one moment.
    pub(crate) fn is_empty(&self) -> bool {
        // SeqCst: the sleeper's half of the Dekker pair with a sender's claim.
        let head = self.head.load(Ordering::SeqCst);
        let tail = self.tail.load(Ordering::SeqCst);
        tail & !MARK == head
    }

    /// Whether every slot is claimed by a send at one moment.
    pub(crate) fn is_full(&self) -> bool {
        // SeqCst: the sleeper's half of the Dekker pair with a receiver's claim.
        let tail = self.tail.load(Ordering::SeqCst);
        let head = self.head.load(Ordering::SeqCst);
        head + self.one_lap == tail & !MARK
    }

    /// The number of values between `head` and `tail` at one moment (a consistent pair).
    pub(crate) fn len(&self) -> usize {
        loop {
            // SeqCst: the three loads read one moment when the two tail loads agree.
            let tail = self.tail.load(Ordering::SeqCst) & !MARK;
            let head = self.head.load(Ordering::SeqCst);
            if self.tail.load(Ordering::SeqCst) & !MARK == tail {
                return self.distance(head, tail);
            }
        }
    }

    /// The number of positions from `head` to `tail` (`head` never passes `tail`).
    fn distance(&self, head: u64, tail: u64) -> usize {
        let mask = self.one_lap - 1;
        let cap = self.slots.len() as u64;
        let laps = (tail & !mask).saturating_sub(head & !mask) / self.one_lap;
        let count = (laps * cap + (tail & mask)).saturating_sub(head & mask);
        // Lossless: at most `cap`, a `usize`.
        count.min(cap) as usize
    }

    /// The number of slots.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Drops every value now (the last receiver is gone). Called after `close`, with no other
    /// receiver left, so every claim it meets was made before the close and will be written.
    pub(crate) fn discard_all(&self) {
        debug_assert!(self.is_closed(), "discard_all before close");
        while self.try_recv(None).is_ok() {}
    }
}

impl<T> Drop for Array<T> {
    fn drop(&mut self) {
        // `&mut self`: every handle is gone, so every claim has been written.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed) & !MARK;
        let mut pos = head;
        while pos != tail {
            let slot = self.slot(pos);
            debug_assert_eq!(slot.stamp.load(Ordering::Relaxed), pos + 1);
            // SAFETY: `pos` lies in `[head, tail)`, so its slot is WRITTEN(pos) and the value is
            // initialized; `&mut self` means nobody else reads it.
            slot.value.with_mut(|p| unsafe { (*p).assume_init_drop() });
            pos = self.next(pos);
        }
    }
}

#[cfg(all(test, not(mqsync_loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_full_empty_and_close() {
        let (tx, rx) = (Hint::default(), Hint::default());
        let ring = Array::with_capacity(3);
        assert_eq!(ring.try_recv(Some(&rx)), Err(TryRecvError::Empty));
        for i in 0..3 {
            ring.try_send(i, Some(&tx)).unwrap();
        }
        assert!(ring.is_full());
        assert_eq!(ring.try_send(9, Some(&tx)), Err(TrySendError::Full(9)));
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.try_recv(Some(&rx)), Ok(0));
        ring.try_send(3, Some(&tx)).unwrap();
        assert!(ring.close());
        assert!(!ring.close());
        assert_eq!(
            ring.try_send(4, Some(&tx)),
            Err(TrySendError::Disconnected(4))
        );
        assert_eq!(ring.len(), 3);
        for i in 1..4 {
            assert_eq!(ring.try_recv(Some(&rx)), Ok(i));
        }
        assert_eq!(ring.try_recv(Some(&rx)), Err(TryRecvError::Disconnected));
        assert!(ring.is_empty());
    }

    #[test]
    fn capacity_one_wraps_many_laps() {
        let (tx, rx) = (Hint::default(), Hint::default());
        let ring = Array::with_capacity(1);
        for i in 0..1000 {
            ring.try_send(i, Some(&tx)).unwrap();
            assert_eq!(ring.try_send(i, Some(&tx)), Err(TrySendError::Full(i)));
            assert_eq!(ring.len(), 1);
            assert_eq!(ring.try_recv(Some(&rx)), Ok(i));
            assert_eq!(ring.len(), 0);
        }
    }

    #[test]
    fn drop_and_discard_drop_each_value_once() {
        use std::sync::atomic::AtomicUsize as Count;
        use std::sync::Arc;
        struct Counted(Arc<Count>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Relaxed);
            }
        }
        let drops = Arc::new(Count::new(0));
        let (tx, rx) = (Hint::default(), Hint::default());
        let ring = Array::with_capacity(4);
        for _ in 0..3 {
            assert!(ring.try_send(Counted(drops.clone()), Some(&tx)).is_ok());
        }
        drop(ring.try_recv(Some(&rx)));
        drop(ring);
        assert_eq!(drops.load(Relaxed), 3);

        let tx = Hint::default();
        let ring = Array::with_capacity(4);
        for _ in 0..4 {
            assert!(ring.try_send(Counted(drops.clone()), Some(&tx)).is_ok());
        }
        ring.close();
        ring.discard_all();
        assert_eq!(drops.load(Relaxed), 7);
        drop(ring);
        assert_eq!(drops.load(Relaxed), 7);
    }

    #[test]
    fn stale_shared_and_wrong_guesses_fall_back_to_the_plain_claim() {
        let ring = Array::with_capacity(4);
        let (a, b, r) = (Hint::default(), Hint::default(), Hint::default());
        // Two senders: each one's guess goes stale when the other sends ([6]).
        for round in 0..50u64 {
            ring.try_send(round * 2, Some(&a)).unwrap();
            ring.try_send(round * 2 + 1, Some(&b)).unwrap();
            assert_eq!(ring.try_recv(Some(&r)), Ok(round * 2));
            assert_eq!(ring.try_recv(Some(&r)), Ok(round * 2 + 1));
        }
        // One hint shared by sending and receiving: each side's guess is whatever the other
        // side's last claim left there, right only by coincidence.
        let both = Hint::default();
        for i in 0..20u64 {
            ring.try_send(i, Some(&both)).unwrap();
            assert_eq!(ring.try_recv(Some(&both)), Ok(i));
        }
        // Guesses (all positions, as a hint always holds) that point at a slot already used in
        // this lap, at one of an earlier lap, or far ahead.
        ring.try_send(7, Some(&a)).unwrap();
        for wrong in [0, 1, 10, (1 << 20) + 3] {
            let hint = Hint::default();
            hint.set(wrong);
            assert_eq!(ring.len(), 1);
            ring.try_send(8, Some(&hint)).unwrap();
            assert_eq!(ring.try_recv(Some(&hint)), Ok(7));
            // 8 stays queued; put 7 back in front for the next round.
            assert_eq!(ring.try_recv(Some(&r)), Ok(8));
            ring.try_send(7, Some(&a)).unwrap();
        }
        // After a close, a guess of the tail's very position (a fresh hint, so no skip is in
        // force) fails like any claim, since the CAS expects the word without MARK.
        assert!(ring.close());
        let tail = ring.tail.load(Ordering::Relaxed) & !MARK;
        let fresh = Hint::default();
        fresh.set(tail);
        assert_eq!(fresh.guess(), Some(tail));
        assert_eq!(
            ring.guessed_slot(tail)
                .unwrap()
                .stamp
                .load(Ordering::Relaxed),
            tail,
            "the guessed slot is FREE(tail): only MARK can make this guess fail"
        );
        assert_eq!(
            ring.try_send(9, Some(&fresh)),
            Err(TrySendError::Disconnected(9))
        );
        // A guess that is no position of this ring (its index past the slots) is a miss.
        let stray = Hint::default();
        stray.set(7); // index 7 of a 4-slot ring (one_lap 8)
        assert!(ring.guessed_slot(7).is_none());
        assert_eq!(ring.try_recv(Some(&stray)), Ok(7));
        assert_eq!(ring.try_recv(Some(&r)), Err(TryRecvError::Disconnected));
    }
}
