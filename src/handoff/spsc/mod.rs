//! A wait-free single-producer single-consumer ring: [`spsc`] gives a [`Producer`] and a
//! [`Consumer`].
//!
//! # Algorithm
//!
//! Lamport's ring (L. Lamport, "Specifying concurrent program modules", TOPLAS 1983): the
//! producer alone writes `tail`, the consumer alone writes `head`; a slot is written only while
//! it lies in `[tail, head + capacity)` and read only while it lies in `[head, tail)`, so the two
//! sides never touch the same slot at the same time and need no read-modify-write (here, only
//! the close handshake below makes one, on its rare path).
//!
//! Departures from the textbook ring, all borrowed as ideas from rtrb and from
//! E. Rigtorp's `SPSCQueue`:
//!
//! * **Cached indices.** Each side keeps a private copy of the other's index (the producer caches
//!   `head`, the consumer caches `tail`) and reloads it only when the copy says full / empty. The
//!   other side's index only moves forward, so a stale copy understates the room or the data,
//!   never overstates it. In steady state a push or pop touches no cache line the other side
//!   writes.
//! * **Positions in `[0, 2 * capacity)`.** Indices wrap at twice the capacity, so `head == tail`
//!   means empty and `tail - head == capacity` means full, for any capacity (not only powers of
//!   two) and without a spare slot.
//! * `head`, `tail` and the read-mostly state each sit on their own cache line
//!   ([`CachePadded`]).
//! * **Batches** ([`Producer::push_slice`], [`Consumer::pop_many`]) publish their index once.
//! * **Close and abandonment** ride on a third word, `state`, written only on close / drop.
//! * **Close against a push in flight.** A consumer-side close can land between a push's check
//!   of `state` and its publication of `tail`; the push is then accepted, and the consumer must
//!   not report `Disconnected` without it. So a push checks `state` again *after* publishing,
//!   behind the light half of `primitive::barrier`, and a consumer that finds the ring closed and
//!   empty issues the heavy half before its last reload of `tail` (a Dekker pair: one of the two
//!   sees the other). The rare push whose second check sees `CLOSED` arbitrates with one RMW on
//!   `state` (`LATE_PUSH`); the consumer concludes with a CAS that sets `FINISHED` only if
//!   `state` did not change since it looked. If the push's RMW comes first, the consumer's CAS
//!   fails and its reload finds the value; if the CAS comes first, the push sees `FINISHED`,
//!   takes its value back and reports `Disconnected` (the consumer never reads a slot again).
//!   The common push pays a compiler fence and a second load of `state` (a `SeqCst` fence where
//!   `membarrier` is unavailable), no store; the `membarrier` is paid only by a consumer that
//!   finds its ring closed and empty.
//! * **Waking.** With a parking [`WaitStrategy`] (the default), every publication ends with the
//!   wake check of `handoff/signal.rs`: one load while nobody sleeps, behind a fence that is only a
//!   compiler fence where Linux `membarrier` is available and a `SeqCst` fence elsewhere (and
//!   under miri). Rings built
//!   with a non-parking strategy skip it.
//!
//! # Progress
//!
//! Every operation of both halves is **wait-free**: it finishes in a bounded number of its own
//! steps whatever the other thread does (a batch is bounded by its length). The only RMWs are on
//! the close path: a push that finds the ring closed after publishing makes one `fetch_or`, and
//! a consumer that concludes `Disconnected` makes one CAS, retried only when a bit of `state` was
//! set meanwhile (bits are only ever set, so at most once per bit). That conclusion also makes one
//! `membarrier` system call on Linux (skipped when the producer is already gone), which waits
//! for the kernel to interrupt the CPUs running this process and may take a kernel lock: once
//! per ring, on the consumer's side, at the end. The
//! one exception is waking a *sleeping* peer: that takes event-listener's internal lock and
//! unparks a thread, which only happens when the peer chose to block.
//!
//! The blocking, timed and async operations (in `wait.rs`) wait by design.

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
    match try_spsc_with(capacity, strategy) {
        Ok(pair) => pair,
        Err(err) => panic!("spsc: {err}"),
    }
}

/// Like [`spsc`], but a capacity of 0 or above `usize::MAX / 4` comes back as a
/// [`ConfigError`](crate::ConfigError) instead of a panic.
///
/// # Examples
///
/// ```
/// use mqsync::handoff::try_spsc;
/// use mqsync::ConfigError;
///
/// let (mut tx, mut rx) = try_spsc::<u8>(4).unwrap();
/// tx.push(1).unwrap();
/// assert_eq!(rx.pop(), Ok(1));
/// assert!(matches!(try_spsc::<u8>(0), Err(ConfigError::TooSmall { field: "capacity", .. })));
/// ```
pub fn try_spsc<T>(capacity: usize) -> Result<(Producer<T>, Consumer<T>), crate::ConfigError> {
    try_spsc_with(capacity, WaitStrategy::default())
}

/// Like [`spsc_with`], but a capacity of 0 or above `usize::MAX / 4` comes back as a
/// [`ConfigError`](crate::ConfigError) instead of a panic.
///
/// # Examples
///
/// ```
/// use mqsync::handoff::{try_spsc_with, WaitStrategy};
/// use mqsync::ConfigError;
///
/// let err = try_spsc_with::<u8>(usize::MAX, WaitStrategy::SpinThenYield).unwrap_err();
/// assert!(matches!(err, ConfigError::TooLarge { field: "capacity", .. }));
/// ```
pub fn try_spsc_with<T>(
    capacity: usize,
    strategy: WaitStrategy,
) -> Result<(Producer<T>, Consumer<T>), crate::ConfigError> {
    if capacity == 0 {
        return Err(crate::ConfigError::TooSmall {
            field: "capacity",
            value: 0,
            min: 1,
        });
    }
    if capacity > usize::MAX / 4 {
        return Err(crate::ConfigError::TooLarge {
            field: "capacity",
            value: capacity as u64,
            max: (usize::MAX / 4) as u64,
        });
    }
    let slots = (0..capacity)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let shared = Arc::new(Shared {
        tail: CachePadded::new(AtomicUsize::new(0)),
        head: CachePadded::new(AtomicUsize::new(0)),
        state: CachePadded::new(AtomicUsize::new(0)),
        asymmetric: crate::primitive::barrier::asymmetric(),
        not_empty: Signal::new(),
        not_full: Signal::new(),
        parks: strategy.parks(),
        capacity,
        slots,
    });
    Ok((
        Producer::new(Arc::clone(&shared), strategy),
        Consumer::new(shared, strategy),
    ))
}
