//! A wait-free single-producer single-consumer ring: [`spsc`] gives a [`Producer`] and a
//! [`Consumer`].
//!
//! # Algorithm
//!
//! Lamport's ring (L. Lamport, "Specifying concurrent program modules", TOPLAS 1983): the
//! producer alone writes `tail`, the consumer alone writes `head`; a slot is written only while
//! its position lies in `[tail, head + capacity)` and read only while it lies in `[head, tail)`,
//! so the two sides never touch the same slot at the same time and need no read-modify-write at
//! all.
//!
//! Departures from the textbook ring, as in rtrb, E. Rigtorp's `SPSCQueue` and the "cached
//! control variables" of MCRingBuffer (Lee, Bu, Chandranmenon, INFOCOM 2010):
//!
//! * **Cached indices.** Each side keeps, in its own half (on its own thread's cache lines), a
//!   copy of the other's index: the producer keeps `limit = head + capacity`, the consumer keeps
//!   `tail`. It reloads the shared index only when the copy says full / empty. The other side's
//!   index only moves forward, so a stale copy understates the room or the data, never
//!   overstates it. In steady state a push or pop writes one line the other side reads (its own
//!   index) and reads no line the other side writes, apart from the slot itself.
//! * **Free-running positions.** `head` and `tail` count pops and pushes, wrapping at
//!   `usize::MAX + 1`; `tail - head` (wrapping) is the length, for any capacity (not only powers
//!   of two) and without a spare slot. Each half also keeps the *slot index* of its position in
//!   `[0, capacity)` and steps it with one compare, so no operation divides. (Until this version
//!   positions wrapped at `2 * capacity`, which cost a compare on every step of every position
//!   and a two-branch distance.)
//! * **One compare on the fast path.** The producer's room check is `tail == limit`, the
//!   consumer's data check `head == cached_tail`.
//! * `head`, `tail` and each wake-up signal's waiter count sit on their own cache lines
//!   ([`CachePadded`]); `state` (closed / abandoned), the capacity and the slot pointer share one
//!   read-mostly line.
//! * **Batches** ([`Producer::push_slice`], [`Consumer::pop_many`]) copy at most two contiguous
//!   runs and publish their index once.
//! * **Close and abandonment** ride on a third word, `state`, written only on close / drop.
//! * **Waking.** With a parking [`WaitStrategy`] (the default), every publication ends with the
//!   wake check of `signal.rs`: while nobody sleeps, one load of the waiter count (a line written
//!   only when a waiter registers), after a compiler fence on Linux with `membarrier` or after a
//!   `SeqCst` fence elsewhere (and under loom and miri). Rings built with a non-parking strategy
//!   skip it.
//!
//! # Progress
//!
//! Every operation of both halves is **wait-free**: it finishes in a bounded number of its own
//! steps whatever the other thread does (no loops, no CAS; a batch is bounded by its length). The
//! one exception is waking a *sleeping* peer: that takes event-listener's internal lock and
//! unparks a thread, which only happens when the peer chose to block.
//!
//! The blocking, timed and async operations (in `wait.rs`) wait by design.

// Protocol essay: why the slot accesses never race
// ================================================
//
// Words: `tail` (pushes so far, written by the producer only), `head` (pops so far, written by
// the consumer only), both wrapping. Position p lives in slot p mod capacity; each half tracks
// the slot of its own position incrementally (`tail_slot`, `head_slot`) instead of dividing.
//
// Invariant I: 0 <= tail - head <= capacity (wrapping subtraction), whatever either half has
// cached. The producer pushes only while tail - cached_head < capacity with cached_head <= head,
// the consumer pops only while head < cached_tail <= tail.
//
// [1] The producer writes slot(t) for t = tail only when t - h < capacity for some h it read
//     from `head` with Acquire (or h = 0 at the start). That load read the Release store of
//     `head = h` in the consumer's publish, which comes after the consumer's read of slot(h - 1)
//     and of every earlier slot. slot(t) = slot(t - capacity) and t - capacity < h, so the
//     consumer's read of that slot happens-before this write.
// [2] The consumer reads slot(p) for p = head only when p < t' for some t' it read from `tail`
//     with Acquire. That load read the Release store of `tail = t'` in the producer's publish,
//     which comes after the write of slot(t' - 1) and of every earlier slot: the write of
//     slot(p) happens-before this read, and no later write of that slot can start before the
//     consumer publishes head > p ([1]).
// [3] So every slot access is ordered with the other side's accesses of the same slot: no data
//     race, and each value is read exactly once (head passes each position once). ∎
//
// Close: `state` bits are set by RMW (`fetch_or`, AcqRel) and never cleared. A consumer that
// found the ring empty loads `state` with Acquire; if it sees CLOSED, every push that came before
// the close in the closer's order is visible ([4]) and it reloads `tail` before reporting Closed.
// [4] If the producer closed, its pushes are sequenced before its `fetch_or`; if the consumer
//     closed, a push that raced with the close may still land, and it stays in the ring for the
//     consumer to drain (or is dropped with the ring). A push never succeeds after the producer
//     has seen CLOSED.
//
// Drop: `Shared` drops when both halves are gone (the `Arc` count synchronizes with both). The
// consumer's `Drop` hands its `head_slot` over in `Shared::head_slot` (Relaxed: the `Arc` drop
// orders it), and `Shared::drop` drops the `tail - head` values from there.

mod consumer;
mod producer;
mod wait;

pub use consumer::Consumer;
pub use producer::Producer;
#[cfg(not(mqsync_loom))]
pub use wait::ConsumerPop;

use super::signal::Signal;
use super::wait::WaitStrategy;
use crate::primitive::cell::UnsafeCell;
use crate::primitive::sync::atomic::{AtomicUsize, Ordering};
use crate::primitive::sync::Arc;
use crossbeam_utils::CachePadded;
use std::mem::MaybeUninit;

/// `state` bit: no more pushes are accepted.
const CLOSED: usize = 1;
/// `state` bit: the producer was dropped.
const PRODUCER_GONE: usize = 2;
/// `state` bit: the consumer was dropped.
const CONSUMER_GONE: usize = 4;

/// The memory both halves share. `repr(C)` keeps the field order: the two hot indices and the
/// two signals' counters each on their own line, then one read-mostly line for the rest.
#[repr(C)]
struct Shared<T> {
    /// Pushes so far, wrapping. Written only by the producer (Release, after the slot is
    /// written); read by the consumer (Acquire) when its cached copy says empty.
    tail: CachePadded<AtomicUsize>,
    /// Pops so far, wrapping. Written only by the consumer (Release, after the slot is read
    /// out); read by the producer (Acquire) when its cached limit says full.
    head: CachePadded<AtomicUsize>,
    /// The consumer sleeps here; every push (and close) publishes to it.
    not_empty: Signal,
    /// The producer sleeps here; every pop (and close) publishes to it.
    not_full: Signal,
    /// `CLOSED | PRODUCER_GONE | CONSUMER_GONE`; bits are only ever set, never cleared. Read
    /// (Relaxed) by every push; written only on close and drop, so its line stays shared.
    state: AtomicUsize,
    /// The number of slots, `1..=usize::MAX / 4`.
    capacity: usize,
    /// Whether publishers must check for sleepers (the strategy parks).
    parks: bool,
    /// The consumer's slot index, stored by `Consumer::drop` for `Shared::drop`.
    head_slot: AtomicUsize,
    /// `capacity` slots; slot `i` holds a value exactly when some position in `[head, tail)`
    /// lives in it.
    slots: Box<[Slot<T>]>,
}

/// One slot of the ring: a value exactly when its position lies in `[head, tail)`.
type Slot<T> = UnsafeCell<MaybeUninit<T>>;

// SAFETY: values of `T` move from the producer thread to the consumer thread (hence `T: Send`);
// the slot discipline (essay [1]–[3]) keeps the two halves off each other's slots, and the
// `Release`/`Acquire` pairs on `head`/`tail` order every slot access with the other side's.
// Only the consumer hands out `&T` (peek), and `Consumer` is not `Sync`, so `T: Sync` is not
// needed.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as for `Send`: all shared access goes through atomics or the slot discipline.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// The slot index `n <= capacity` steps after `index < capacity`.
    #[inline(always)]
    fn step(&self, index: usize, n: usize) -> usize {
        debug_assert!(index < self.capacity && n <= self.capacity);
        let next = index + n;
        if next >= self.capacity {
            next - self.capacity
        } else {
            next
        }
    }

    /// The slot index after `index < capacity`: one compare, no division.
    #[inline(always)]
    fn step1(&self, index: usize) -> usize {
        debug_assert!(index < self.capacity);
        let next = index + 1;
        if next == self.capacity {
            0
        } else {
            next
        }
    }

    #[inline(always)]
    fn slot(&self, index: usize) -> &Slot<T> {
        debug_assert!(index < self.slots.len());
        // SAFETY: every slot index is made by `step` from 0, so `index < capacity ==
        // slots.len()`.
        unsafe { self.slots.get_unchecked(index) }
    }

    /// The `n <= capacity` slots from slot `index` on, as at most two contiguous runs (the
    /// second starts at slot 0 when they wrap).
    #[inline]
    fn runs(&self, index: usize, n: usize) -> (&[Slot<T>], &[Slot<T>]) {
        debug_assert!(index < self.capacity && n <= self.capacity);
        let first = n.min(self.capacity - index);
        (&self.slots[index..index + first], &self.slots[..n - first])
    }

    /// # Safety
    ///
    /// Producer only, for the slot of its position `tail` while `tail - head < capacity` for a
    /// `head` read with Acquire (essay [1]): the consumer has finished with the slot and will
    /// not read it before `tail` is published past it.
    #[inline(always)]
    unsafe fn write(&self, index: usize, value: T) {
        // SAFETY: the caller guarantees exclusive access to this slot.
        self.slot(index)
            .with_mut(|slot| unsafe { (*slot).write(value) });
    }

    /// # Safety
    ///
    /// Consumer only, for the slot of its position `head` while `head < tail` for a `tail` read
    /// with Acquire (essay [2]): the slot holds an initialized value, and the caller then
    /// advances `head` past it (the value is moved out exactly once).
    #[inline(always)]
    unsafe fn read(&self, index: usize) -> T {
        // SAFETY: the slot is initialized and the caller owns it (see # Safety).
        self.slot(index)
            .with(|slot| unsafe { (*slot).assume_init_read() })
    }

    /// Copies `items` into `run` (of the same length).
    ///
    /// # Safety
    ///
    /// Producer only, for slots whose positions lie in `[tail, head + capacity)` for a `head`
    /// read with Acquire (essay [1]).
    #[inline(always)]
    unsafe fn write_run(run: &[Slot<T>], items: &[T])
    where
        T: Copy,
    {
        debug_assert_eq!(run.len(), items.len());
        // A loop of slot writes, which the compiler turns into a `memcpy` or a vector loop. An
        // explicit `copy_nonoverlapping` over the run measured no faster (64 `u64` pushed and
        // popped on one thread: 35 against 37 ns, within noise) and needed a second body for
        // loom, which must see each slot access.
        for (slot, &item) in run.iter().zip(items) {
            // SAFETY: the caller owns the slot (# Safety).
            slot.with_mut(|slot| unsafe { (*slot).write(item) });
        }
    }

    /// Moves the values of `run` to the end of `out`.
    ///
    /// # Safety
    ///
    /// Consumer only, for slots whose positions lie in `[head, tail)` for a `tail` read with
    /// Acquire (essay [2]); the caller then advances `head` past them (each value is moved out
    /// once).
    #[inline(always)]
    unsafe fn read_run(run: &[Slot<T>], out: &mut Vec<T>) {
        // `extend` from an exact-size iterator: one capacity check, then plain writes.
        out.extend(
            run.iter()
                // SAFETY: the slot holds a value that is ours to move out (# Safety).
                .map(|slot| slot.with(|slot| unsafe { (*slot).assume_init_read() })),
        );
    }

    /// # Safety
    ///
    /// As for [`Shared::read`], but the value stays in place; the reference is valid until the
    /// consumer advances `head` past it.
    #[inline]
    unsafe fn get(&self, index: usize) -> &T {
        // SAFETY: the slot is initialized and the producer does not write it while its position
        // is in `[head, tail)` (see # Safety).
        self.slot(index).with(|slot| unsafe { &*(*slot).as_ptr() })
    }

    fn close(&self, bits: usize) {
        // AcqRel: the Release half pairs with the Acquire load of `state` in the consumer's
        // `closed_or_late_value`, so every push before the close is visible once the consumer sees
        // CLOSED (essay [4]); the Acquire half is not needed by the ring (bits are only set) but
        // keeps `is_abandoned` answers ordered after the close for free.
        self.state.fetch_or(CLOSED | bits, Ordering::AcqRel);
        if self.parks {
            self.not_empty.notify_all();
            self.not_full.notify_all();
        }
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // Relaxed: `&mut self` — both halves are gone and the `Arc` drop synchronized with them
        // (the consumer stored `head_slot` before its own `Arc` drop).
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        let mut index = self.head_slot.load(Ordering::Relaxed);
        for _ in 0..tail.wrapping_sub(head) {
            // SAFETY: the `tail - head` positions from `head` on hold initialized values that
            // nobody else can reach any more; each is dropped once as `index` walks forward.
            drop(unsafe { self.read(index) });
            index = self.step1(index);
        }
    }
}

/// Creates a wait-free SPSC ring of `capacity` slots with the default
/// [`WaitStrategy::SpinThenPark`].
///
/// # Panics
///
/// If `capacity` is 0 or above `usize::MAX / 4`.
///
/// # Examples
///
/// ```
/// use mqsync::handoff::spsc;
///
/// let (mut tx, mut rx) = spsc::<u32>(1024);
/// let producer = std::thread::spawn(move || {
///     for i in 0..10_000 {
///         tx.push_blocking(i).unwrap();
///     }
/// });
/// let mut expected = 0;
/// while let Ok(i) = rx.pop_blocking() {
///     assert_eq!(i, expected);
///     expected += 1;
/// }
/// assert_eq!(expected, 10_000); // the producer's drop closed the ring after the last push
/// producer.join().unwrap();
/// ```
pub fn spsc<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    spsc_with(capacity, WaitStrategy::default())
}

/// Creates a wait-free SPSC ring of `capacity` slots whose blocking operations wait with
/// `strategy`. A strategy that never parks also removes the wake check from every push and pop.
///
/// # Panics
///
/// If `capacity` is 0 or above `usize::MAX / 4`.
///
/// # Examples
///
/// ```
/// use mqsync::handoff::{spsc_with, WaitStrategy};
///
/// let (mut tx, mut rx) = spsc_with::<u8>(2, WaitStrategy::SpinThenYield);
/// tx.push(1).unwrap();
/// assert_eq!(rx.pop_blocking(), Ok(1));
/// ```
pub fn spsc_with<T>(capacity: usize, strategy: WaitStrategy) -> (Producer<T>, Consumer<T>) {
    spsc_from(capacity, strategy, 0)
}

/// A ring whose free-running positions start at `start` rather than 0, so that tests can cross
/// the `usize` wrap of `head` and `tail` without 2^64 operations.
#[cfg(test)]
pub(super) fn spsc_starting_at<T>(capacity: usize, start: usize) -> (Producer<T>, Consumer<T>) {
    spsc_from(capacity, WaitStrategy::default(), start)
}

/// Builds the halves inline around an out-of-line [`Shared::new`], so that the caller's
/// compiler sees the halves' fields being made and can keep them in registers (measured: with
/// the whole construction out of line, `head`, `tail` and the cached copies lived on the stack
/// in the bench loops).
#[inline]
fn spsc_from<T>(
    capacity: usize,
    strategy: WaitStrategy,
    start: usize,
) -> (Producer<T>, Consumer<T>) {
    let shared = Shared::new(capacity, strategy, start);
    (
        Producer::new(Arc::clone(&shared), strategy, start),
        Consumer::new(shared, strategy, start),
    )
}

impl<T> Shared<T> {
    /// The shared part of a new ring whose positions start at `start`.
    #[inline(never)]
    fn new(capacity: usize, strategy: WaitStrategy, start: usize) -> Arc<Self> {
        assert!(capacity > 0, "spsc capacity must be at least 1");
        assert!(capacity <= usize::MAX / 4, "spsc capacity too large");
        let slots = (0..capacity)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect();
        Arc::new(Shared {
            tail: CachePadded::new(AtomicUsize::new(start)),
            head: CachePadded::new(AtomicUsize::new(start)),
            not_empty: Signal::new(),
            not_full: Signal::new(),
            state: AtomicUsize::new(0),
            capacity,
            parks: strategy.parks(),
            head_slot: AtomicUsize::new(0),
            slots,
        })
    }
}
