//! A wait-free single-producer single-consumer ring: [`spsc`] gives a [`Producer`] and a
//! [`Consumer`].
//!
//! # Algorithm
//!
//! Lamport's ring (L. Lamport, "Specifying concurrent program modules", TOPLAS 1983): the
//! producer alone writes `tail`, the consumer alone writes `head`; a slot is written only while
//! it lies in `[tail, head + capacity)` and read only while it lies in `[head, tail)`, so the two
//! sides never touch the same slot at the same time and need no read-modify-write at all.
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
//! * **Waking.** With a parking [`WaitStrategy`] (the default), every publication ends with the
//!   wake check of `signal.rs` (one `SeqCst` fence and one load while nobody sleeps). Rings built
//!   with a non-parking strategy skip it.
//!
//! # Progress
//!
//! Every operation of both halves is **wait-free**: it finishes in a bounded number of its own
//! steps whatever the other thread does (no loops, no CAS; a batch is bounded by its length). The
//! one exception is waking a *sleeping* peer: that takes event-listener's internal lock and
//! unparks a thread, which only happens when the peer chose to block.
//!
//! The blocking, timed and async operations (in `spsc_wait.rs`) wait by design.

use super::error::{PopError, PushError};
use super::signal::{Registration, Signal};
use super::wait::{self, WaitStrategy};
use crate::primitive::cell::UnsafeCell;
use crate::primitive::sync::atomic::{AtomicUsize, Ordering};
use crate::primitive::sync::Arc;
use crossbeam_utils::CachePadded;
use std::cell::Cell;
use std::fmt;
use std::mem::MaybeUninit;

/// `state` bit: no more pushes are accepted.
pub(super) const CLOSED: usize = 1;
/// `state` bit: the producer was dropped.
const PRODUCER_GONE: usize = 2;
/// `state` bit: the consumer was dropped.
const CONSUMER_GONE: usize = 4;

/// The memory both halves share.
pub(super) struct Shared<T> {
    /// Next position the producer writes, in `[0, 2 * capacity)`. Written only by the producer
    /// (Release, after the slot is written); read by the consumer (Acquire).
    tail: CachePadded<AtomicUsize>,
    /// Next position the consumer reads, in `[0, 2 * capacity)`. Written only by the consumer
    /// (Release, after the slot is read out); read by the producer (Acquire).
    head: CachePadded<AtomicUsize>,
    /// `CLOSED | PRODUCER_GONE | CONSUMER_GONE`; bits are only ever set, never cleared.
    state: CachePadded<AtomicUsize>,
    /// The consumer sleeps here; every push (and close) publishes to it.
    pub(super) not_empty: Signal,
    /// The producer sleeps here; every pop (and close) publishes to it.
    pub(super) not_full: Signal,
    /// Whether publishers must check for sleepers (the strategy parks).
    parks: bool,
    capacity: usize,
    /// `capacity` slots; slot `i` holds a value exactly when some position in `[head, tail)`
    /// maps to `i`.
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
}

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
    fn distance(&self, from: usize, to: usize) -> usize {
        if to >= from {
            to - from
        } else {
            to + 2 * self.capacity - from
        }
    }

    /// `pos + n` modulo `2 * capacity`, for `n <= capacity`.
    #[inline]
    fn advance(&self, pos: usize, n: usize) -> usize {
        debug_assert!(n <= self.capacity && pos < 2 * self.capacity);
        let next = pos + n;
        if next >= 2 * self.capacity {
            next - 2 * self.capacity
        } else {
            next
        }
    }

    #[inline]
    fn cell(&self, pos: usize) -> &UnsafeCell<MaybeUninit<T>> {
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

    /// # Safety
    ///
    /// Producer only, for `pos` in `[tail, head + capacity)` where `head` was read with
    /// Acquire: the consumer has finished with the slot and will not read it before `tail`
    /// passes `pos`.
    #[inline]
    unsafe fn write(&self, pos: usize, value: T) {
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
    unsafe fn read(&self, pos: usize) -> T {
        // SAFETY: the slot is initialized and the caller owns it (see # Safety).
        self.cell(pos)
            .with(|slot| unsafe { (*slot).assume_init_read() })
    }

    /// # Safety
    ///
    /// As for [`Shared::read`], but the value stays in place; the reference is valid until the
    /// consumer advances `head` past `pos`.
    #[inline]
    unsafe fn get(&self, pos: usize) -> &T {
        // SAFETY: the slot is initialized and the producer does not write it while it is in
        // `[head, tail)` (see # Safety).
        self.cell(pos).with(|slot| unsafe { &*(*slot).as_ptr() })
    }

    fn close(&self, bits: usize) {
        // AcqRel: the Release half pairs with the Acquire load of `state` in `Consumer::pop`,
        // so every push before the close is visible once the consumer sees CLOSED.
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
    assert!(capacity > 0, "spsc capacity must be at least 1");
    assert!(capacity <= usize::MAX / 4, "spsc capacity too large");
    let slots = (0..capacity)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let shared = Arc::new(Shared {
        tail: CachePadded::new(AtomicUsize::new(0)),
        head: CachePadded::new(AtomicUsize::new(0)),
        state: CachePadded::new(AtomicUsize::new(0)),
        not_empty: Signal::new(),
        not_full: Signal::new(),
        parks: strategy.parks(),
        capacity,
        slots,
    });
    let producer = Producer {
        shared: Arc::clone(&shared),
        tail: 0,
        cached_head: 0,
        strategy,
    };
    let consumer = Consumer {
        shared,
        head: 0,
        cached_tail: Cell::new(0),
        strategy,
        registration: None,
    };
    (producer, consumer)
}

/// The sending half of an [`spsc`] ring. `Send`, not `Clone`: there is one producer.
///
/// Every non-blocking method is wait-free. Answers about the ring are exact for what only the
/// producer changes and conservative for the rest: a `false` from [`is_full`](Self::is_full)
/// stays true until this producer pushes (the consumer can only make room); [`len`](Self::len)
/// is an upper bound (the consumer may pop meanwhile).
pub struct Producer<T> {
    pub(super) shared: Arc<Shared<T>>,
    /// Our position: exact, since we are the only writer of `shared.tail`.
    tail: usize,
    /// A copy of `shared.head`, possibly stale. The consumer only moves `head` forward, so the
    /// copy understates the free room, never overstates it; refreshed only when it says full.
    cached_head: usize,
    pub(super) strategy: WaitStrategy,
}

/// The receiving half of an [`spsc`] ring. `Send`, not `Sync`, not `Clone`: there is one
/// consumer.
///
/// Every non-blocking method is wait-free. A `false` from [`is_empty`](Self::is_empty) stays
/// true until this consumer pops (the producer can only add); [`len`](Self::len) is a lower
/// bound (the producer may push meanwhile).
pub struct Consumer<T> {
    pub(super) shared: Arc<Shared<T>>,
    /// Our position: exact, since we are the only writer of `shared.head`.
    head: usize,
    /// A copy of `shared.tail`, possibly stale (understates the data, never overstates it);
    /// refreshed only when it says empty. A `Cell` so that `peek(&self)` can refresh it.
    cached_tail: Cell<usize>,
    pub(super) strategy: WaitStrategy,
    /// The async wait in progress (`pop_async`, `Stream`), if any.
    pub(super) registration: Option<Registration>,
}

impl<T> Producer<T> {
    /// Free slots according to our possibly stale copy of `head` (a lower bound).
    #[inline]
    fn cached_room(&self) -> usize {
        self.shared.capacity - self.shared.distance(self.cached_head, self.tail)
    }

    /// Free slots, refreshing the copy of `head` when it shows fewer than `wanted`.
    #[inline]
    fn room(&mut self, wanted: usize) -> usize {
        let room = self.cached_room();
        if room >= wanted {
            return room;
        }
        // Acquire: pairs with the Release store of `head` in `Consumer::pop`/`pop_many`: the
        // consumer's reads of the slots we may now overwrite happened before.
        self.cached_head = self.shared.head.load(Ordering::Acquire);
        self.cached_room()
    }

    /// Publishes our position and wakes a sleeping consumer.
    #[inline]
    fn publish(&mut self, tail: usize) {
        self.tail = tail;
        // Release: pairs with the Acquire load of `tail` in `Consumer::pop`/`peek`/`pop_many`:
        // the slot writes happen before the consumer reads them.
        self.shared.tail.store(tail, Ordering::Release);
        if self.shared.parks {
            self.shared.not_empty.notify_one();
        }
    }

    /// Appends `value`, or hands it back in [`PushError::Full`] / [`PushError::Closed`].
    /// Wait-free.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::handoff::{spsc, PushError};
    ///
    /// let (mut tx, _rx) = spsc(1);
    /// assert!(tx.push('a').is_ok());
    /// assert!(matches!(tx.push('b'), Err(PushError::Full('b'))));
    /// ```
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), PushError<T>> {
        // Relaxed: the flag only decides whether to refuse; no data is read on its account.
        if self.shared.state.load(Ordering::Relaxed) & CLOSED != 0 {
            return Err(PushError::Closed(value));
        }
        if self.room(1) == 0 {
            return Err(PushError::Full(value));
        }
        // SAFETY: room >= 1, so `tail` lies in `[tail, head + capacity)` for the `head` we read
        // with Acquire (or an older, smaller one); we are the producer.
        unsafe { self.shared.write(self.tail, value) };
        let tail = self.shared.advance(self.tail, 1);
        self.publish(tail);
        Ok(())
    }

    /// Copies as many items from the front of `items` as fit and publishes them with **one**
    /// index store (and one wake check). Returns how many were pushed: 0 when the ring is full,
    /// `items` is empty, or the ring is closed (tell those apart with
    /// [`is_closed`](Self::is_closed)). Wait-free: bounded by `items.len()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::handoff::spsc;
    ///
    /// let (mut tx, mut rx) = spsc(4);
    /// assert_eq!(tx.push_slice(&[1, 2, 3, 4, 5, 6]), 4);
    /// let mut out = Vec::new();
    /// assert_eq!(rx.pop_many(&mut out, 10), 4);
    /// assert_eq!(out, [1, 2, 3, 4]);
    /// ```
    pub fn push_slice(&mut self, items: &[T]) -> usize
    where
        T: Copy,
    {
        // Relaxed: as in `push`.
        if items.is_empty() || self.shared.state.load(Ordering::Relaxed) & CLOSED != 0 {
            return 0;
        }
        let n = self.room(items.len()).min(items.len());
        if n == 0 {
            return 0;
        }
        let mut pos = self.tail;
        for &item in &items[..n] {
            // SAFETY: n <= room, so every position written lies in `[tail, head + capacity)`;
            // we are the producer.
            unsafe { self.shared.write(pos, item) };
            pos = self.shared.advance(pos, 1);
        }
        self.publish(pos);
        n
    }

    /// Closes the ring: every later push fails with [`PushError::Closed`]; the consumer still
    /// drains what is inside, then sees [`PopError::Closed`]. Wakes a blocked consumer.
    /// Idempotent. Dropping the producer closes too.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::handoff::{spsc, PopError};
    ///
    /// let (mut tx, mut rx) = spsc(4);
    /// tx.push(1).unwrap();
    /// tx.close();
    /// assert!(tx.push(2).unwrap_err().is_closed());
    /// assert_eq!(rx.pop(), Ok(1));
    /// assert_eq!(rx.pop(), Err(PopError::Closed));
    /// ```
    pub fn close(&self) {
        self.shared.close(0);
    }

    /// True once either half closed the ring or was dropped. Stays true.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::handoff::spsc::<()>(1);
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        // Relaxed: a snapshot of a flag that is only ever set.
        self.shared.state.load(Ordering::Relaxed) & CLOSED != 0
    }

    /// True once the consumer has been dropped. Stays true.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::handoff::spsc::<()>(1);
    /// rx.close();
    /// assert!(!tx.is_abandoned()); // closed, but the consumer is still there
    /// drop(rx);
    /// assert!(tx.is_abandoned());
    /// ```
    pub fn is_abandoned(&self) -> bool {
        // Relaxed: a snapshot of a flag that is only ever set.
        self.shared.state.load(Ordering::Relaxed) & CONSUMER_GONE != 0
    }

    /// Values in the ring: an upper bound, since the consumer may pop meanwhile.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = mqsync::handoff::spsc(8);
    /// tx.push(()).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        // Acquire: pairs with the consumer's Release store of `head` (as in `room`).
        self.shared
            .distance(self.shared.head.load(Ordering::Acquire), self.tail)
    }

    /// True when the ring is empty. A `true` stays true until this producer pushes; a `false`
    /// may turn true at any time as the consumer pops.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = mqsync::handoff::spsc::<u8>(8);
    /// assert!(tx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when no slot is free. A `false` stays true until this producer pushes; a `true` may
    /// turn false at any time as the consumer pops.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = mqsync::handoff::spsc(1);
    /// assert!(!tx.is_full());
    /// tx.push(0).unwrap();
    /// assert!(tx.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.len() == self.shared.capacity
    }

    /// The number of slots, as given to [`spsc`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = mqsync::handoff::spsc::<u8>(3);
    /// assert_eq!(tx.capacity(), 3);
    /// ```
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }
}

impl<T> Consumer<T> {
    /// Data available according to our copy of `tail`, refreshing it when it shows fewer than
    /// `wanted`. A lower bound.
    #[inline]
    fn available(&self, wanted: usize) -> usize {
        let available = self.shared.distance(self.head, self.cached_tail.get());
        if available >= wanted {
            return available;
        }
        // Acquire: pairs with the Release store of `tail` in `Producer::publish`: the slot
        // writes before it are visible to our reads.
        let tail = self.shared.tail.load(Ordering::Acquire);
        self.cached_tail.set(tail);
        self.shared.distance(self.head, tail)
    }

    /// For a ring that looked empty: `Ok` when a value arrived after all (pushed just before a
    /// close), else `Empty` or `Closed`.
    #[cold]
    fn empty_or_closed(&self) -> Result<(), PopError> {
        // Acquire: pairs with the Release half of the `fetch_or` in `Shared::close`: every push
        // that came before the close is visible to the reload of `tail` below.
        if self.shared.state.load(Ordering::Acquire) & CLOSED == 0 {
            return Err(PopError::Empty);
        }
        if self.available(1) == 0 {
            Err(PopError::Closed)
        } else {
            Ok(())
        }
    }

    /// Publishes our position and wakes a sleeping producer.
    #[inline]
    fn publish(&mut self, head: usize) {
        self.head = head;
        // Release: pairs with the Acquire load of `head` in `Producer::room`/`len`: our reads of
        // the slots happen before the producer overwrites them.
        self.shared.head.store(head, Ordering::Release);
        if self.shared.parks {
            self.shared.not_full.notify_one();
        }
    }

    /// Removes the oldest value. `Err(Empty)` when there is none yet, `Err(Closed)` when the
    /// ring is closed and every value accepted before has been popped. Wait-free.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::handoff::{spsc, PopError};
    ///
    /// let (mut tx, mut rx) = spsc(2);
    /// assert_eq!(rx.pop(), Err(PopError::Empty));
    /// tx.push("x").unwrap();
    /// assert_eq!(rx.pop(), Ok("x"));
    /// ```
    #[inline]
    pub fn pop(&mut self) -> Result<T, PopError> {
        if self.available(1) == 0 {
            self.empty_or_closed()?;
        }
        // SAFETY: available >= 1, so `head` lies in `[head, tail)` for a `tail` read with
        // Acquire; we are the consumer and advance `head` right after.
        let value = unsafe { self.shared.read(self.head) };
        let head = self.shared.advance(self.head, 1);
        self.publish(head);
        Ok(value)
    }

    /// Moves up to `limit` of the oldest values to the end of `out` and publishes the new
    /// position with **one** index store (and one wake check). Returns how many were moved: 0
    /// when the ring is empty or closed and drained (tell those apart with
    /// [`is_closed`](Self::is_closed)). Wait-free: bounded by `limit`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = mqsync::handoff::spsc(8);
    /// for i in 0..5 {
    ///     tx.push(i).unwrap();
    /// }
    /// let mut out = vec![];
    /// assert_eq!(rx.pop_many(&mut out, 3), 3);
    /// assert_eq!(rx.pop_many(&mut out, 3), 2);
    /// assert_eq!(out, [0, 1, 2, 3, 4]);
    /// ```
    pub fn pop_many(&mut self, out: &mut Vec<T>, limit: usize) -> usize {
        let n = self.available(limit).min(limit);
        if n == 0 {
            return 0;
        }
        // After this, `out.push` cannot allocate or panic, so no value is read twice or lost.
        out.reserve(n);
        let mut pos = self.head;
        for _ in 0..n {
            // SAFETY: n <= available, so `pos` lies in `[head, tail)` for a `tail` read with
            // Acquire; each position is read once and `head` is advanced past all of them below.
            out.push(unsafe { self.shared.read(pos) });
            pos = self.shared.advance(pos, 1);
        }
        self.publish(pos);
        n
    }

    /// A reference to the oldest value without removing it, or `None` when the ring is empty.
    /// Wait-free.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = mqsync::handoff::spsc(2);
    /// assert_eq!(rx.peek(), None);
    /// tx.push(String::from("hi")).unwrap();
    /// assert_eq!(rx.peek().map(String::as_str), Some("hi"));
    /// assert_eq!(rx.pop().unwrap(), "hi");
    /// ```
    pub fn peek(&self) -> Option<&T> {
        if self.available(1) == 0 {
            return None;
        }
        // SAFETY: available >= 1 (tail read with Acquire); the value stays in place until
        // `pop`, which needs `&mut self` and so ends this borrow first.
        Some(unsafe { self.shared.get(self.head) })
    }

    /// Closes the ring: the producer's later pushes fail with [`PushError::Closed`]; this
    /// consumer can still pop what is inside. Wakes a blocked producer. Idempotent. Dropping the
    /// consumer closes too.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = mqsync::handoff::spsc(2);
    /// tx.push(1).unwrap();
    /// rx.close();
    /// assert!(tx.push(2).is_err());
    /// assert_eq!(rx.pop(), Ok(1));
    /// ```
    pub fn close(&self) {
        self.shared.close(0);
    }

    /// True once either half closed the ring or was dropped. Values may still be inside.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::handoff::spsc::<()>(1);
    /// drop(tx);
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        // Relaxed: a snapshot of a flag that is only ever set.
        self.shared.state.load(Ordering::Relaxed) & CLOSED != 0
    }

    /// True once the producer has been dropped. Stays true.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::handoff::spsc::<()>(1);
    /// assert!(!rx.is_abandoned());
    /// drop(tx);
    /// assert!(rx.is_abandoned());
    /// ```
    pub fn is_abandoned(&self) -> bool {
        // Relaxed: a snapshot of a flag that is only ever set.
        self.shared.state.load(Ordering::Relaxed) & PRODUCER_GONE != 0
    }

    /// Values in the ring: a lower bound, since the producer may push meanwhile.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, rx) = mqsync::handoff::spsc(4);
    /// tx.push_slice(&[1, 2]);
    /// assert_eq!(rx.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.available(usize::MAX)
    }

    /// True when no value is there. A `false` stays true until this consumer pops; a `true`
    /// may turn false at any time as the producer pushes.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = mqsync::handoff::spsc::<u8>(4);
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.available(1) == 0
    }

    /// True when every slot is taken. A `true` stays true until this consumer pops.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, rx) = mqsync::handoff::spsc(1);
    /// tx.push(1).unwrap();
    /// assert!(rx.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.available(self.shared.capacity) == self.shared.capacity
    }

    /// The number of slots, as given to [`spsc`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = mqsync::handoff::spsc::<u8>(5);
    /// assert_eq!(rx.capacity(), 5);
    /// ```
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        self.shared.close(PRODUCER_GONE);
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        let mut registration = self.registration.take();
        wait::cancel(&*self, &mut registration, |c| &c.shared.not_empty);
        self.shared.close(CONSUMER_GONE);
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.shared.capacity)
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.shared.capacity)
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}
