//! The sending half of the SPSC ring: [`Producer`]. The ring itself, its algorithm and its
//! progress argument are in the module docs (`spsc/mod.rs`).

use super::shared::{Shared, CLOSED, CONSUMER_GONE, FINISHED, LATE_PUSH, PRODUCER_GONE};
use crate::handoff::mpmc::TrySendError;
use crate::handoff::wait::WaitStrategy;
use crate::primitive::barrier;
use crate::primitive::sync::atomic::Ordering;
use crate::primitive::sync::Arc;
use std::fmt;

/// The sending half of an [`spsc`](super::spsc()) ring. `Send`, not `Clone`: there is one producer.
///
/// Every non-blocking method is wait-free. Answers about the ring are exact for what only the
/// producer changes and conservative for the rest: a `false` from [`is_full`](Self::is_full)
/// stays true until this producer pushes (the consumer can only make room); [`len`](Self::len)
/// is an upper bound (the consumer may pop meanwhile).
pub struct Producer<T> {
    pub(super) shared: Arc<Shared<T>>,
    /// Our position: exact, since we are the only writer of `shared.tail`.
    tail: usize,
    /// The position at which the ring is full by our copy of `shared.head`: that copy plus
    /// `capacity` (wrapping). The copy may be stale; the consumer only moves `head`
    /// forward, so `limit` understates the free room (`distance(tail, limit)`), never overstates
    /// it. Refreshed only when `tail` reaches it, so the common push tests fullness with one
    /// comparison of two fields of its own (rtrb keeps `head` itself and computes the distance).
    limit: usize,
    pub(super) strategy: WaitStrategy,
}

impl<T> Producer<T> {
    pub(super) fn new(shared: Arc<Shared<T>>, strategy: WaitStrategy) -> Self {
        // Relaxed: the ring is new; nobody else has it yet.
        let tail = shared.tail.load(Ordering::Relaxed);
        Producer {
            limit: shared.advance(tail, shared.capacity),
            shared,
            tail,
            strategy,
        }
    }
}

impl<T> Producer<T> {
    /// Free slots, refreshing our copy of `head` when the cached room is below `wanted`. A lower
    /// bound.
    #[inline]
    fn room(&mut self, wanted: usize) -> usize {
        let room = self.shared.distance(self.tail, self.limit);
        if room >= wanted {
            return room;
        }
        Self::refresh(&self.shared, self.tail, &mut self.limit)
    }

    /// Reloads `head`, sets `limit` from it and returns the free room it gives from `tail`. Out
    /// of line and cold: a push takes it only when its cached room is used up (once per
    /// `capacity` pushes while the consumer keeps up, or when the ring is full).
    #[cold]
    #[inline(never)]
    fn refresh(shared: &Shared<T>, tail: usize, limit: &mut usize) -> usize {
        // Acquire: pairs with the Release store of `head` in `Consumer::pop`/`pop_many`: the
        // consumer's reads of the slots we may now overwrite happened before.
        let head = shared.head.load(Ordering::Acquire);
        *limit = shared.advance(head, shared.capacity);
        shared.distance(tail, *limit)
    }

    /// Publishes `tail` (the caller wrote the slots before it and set `self.tail`), then runs
    /// the checks that follow every publication: wakes a sleeping consumer, and returns the
    /// `state` word read after the publication. If it has `CLOSED`, the caller must settle with
    /// [`late`](Self::late) (module docs, "Close against a push in flight").
    ///
    /// An associated function over `&Shared` rather than a method: the caller holds `shared` in
    /// a register across its slot write, which the compiler could not assume of `self.shared`.
    #[inline]
    fn publish(shared: &Shared<T>, tail: usize) -> usize {
        // Release: pairs with the Acquire load of `tail` in `Consumer::pop`/`peek`/`pop_many`:
        // the slot writes happen before the consumer reads them.
        shared.tail.store(tail, Ordering::Release);
        // One light barrier for both checks below: it pairs with the heavy barrier in
        // `Consumer::empty_or_closed` (the close check) and with the waiter's W3 in
        // `Signal::register` (the wake check, handoff/signal.rs essay P2). Both use the same
        // `asymmetric` choice (`Shared::new`).
        barrier::light(shared.asymmetric, &shared.state);
        // Relaxed: ordered by the barrier pair; the rare path synchronizes by its RMW.
        let state = shared.state.load(Ordering::Relaxed);
        // The wake check comes before the close check's rare path so that the common path ends
        // in one branch on `state`. The order does not matter to a consumer: one that goes to
        // sleep has seen the ring open after registering, so the close wakes it (`Shared::close`),
        // and one that found it closed does not sleep again.
        if shared.parks {
            shared.not_empty.notify_one_after_light();
        }
        state
    }

    /// A close landed while our push of `n` values from `before` was in flight: tells the
    /// consumer so and returns how many stand. If the consumer has not reported `Disconnected`, all
    /// do (its concluding CAS fails on our bit, and it reloads `tail`). If it has, or if it was
    /// dropped (it will never read again), those it popped before stand, and the rest are
    /// unpublished and given back.
    #[cold]
    fn late(&mut self, before: usize, n: usize) -> usize {
        // AcqRel: Release makes our `tail` store visible to a consumer whose CAS then fails and
        // reloads; Acquire pairs with the consumer's CAS that set FINISHED (and so with its
        // last store of `head`).
        let state = self.shared.state.fetch_or(LATE_PUSH, Ordering::AcqRel);
        if state & (FINISHED | CONSUMER_GONE) == 0 {
            return n;
        }
        // Acquire: pairs with the consumer's Release store of `head` (its last one: FINISHED and
        // CONSUMER_GONE are set after it, by RMWs our `fetch_or` read); it pops no more.
        let head = self.shared.head.load(Ordering::Acquire);
        // Not `distance`: a consumer dropped with values left unread may have stopped *behind*
        // `before` (it never popped what we pushed earlier), so `head - before` wraps past `n`:
        // then none of ours was popped. The consumer cannot have passed `before + n`.
        let ahead = head.wrapping_sub(before);
        let popped = if ahead <= n { ahead } else { 0 };
        self.tail = self.shared.advance(before, popped);
        // Relaxed: the consumer has finished and reads `tail` again only in `Shared::drop`,
        // which the `Arc` orders after us.
        self.shared.tail.store(self.tail, Ordering::Relaxed);
        popped
    }

    /// Appends `value`, or hands it back in [`TrySendError::Full`] (no free slot) or
    /// [`TrySendError::Disconnected`] (the ring was closed, or the consumer dropped). Wait-free.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::handoff::{spsc, TrySendError};
    ///
    /// let (mut tx, rx) = spsc(1);
    /// assert!(tx.push('a').is_ok());
    /// assert_eq!(tx.push('b'), Err(TrySendError::Full('b')));
    /// drop(rx);
    /// assert_eq!(tx.push('c'), Err(TrySendError::Disconnected('c')));
    /// ```
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), TrySendError<T>> {
        let shared = &*self.shared;
        // Relaxed: the flag only decides whether to refuse; no data is read on its account.
        if shared.state.load(Ordering::Relaxed) & CLOSED != 0 {
            return Err(TrySendError::Disconnected(value));
        }
        let at = self.tail;
        if at == self.limit && Self::refresh(shared, at, &mut self.limit) == 0 {
            return Err(TrySendError::Full(value));
        }
        // SAFETY: room >= 1 (`at != limit`, or the refresh found room), so `at` lies in
        // `[tail, head + capacity)` for the `head` we read with Acquire (or an older, smaller
        // one); we are the producer.
        unsafe { shared.write(at, value) };
        let tail = shared.next(at);
        self.tail = tail;
        if Self::publish(shared, tail) & CLOSED == 0 || self.late(at, 1) == 1 {
            return Ok(());
        }
        // SAFETY: `late` undid the publication of `at`, which the consumer had not popped
        // when it finished, so the slot holds our value and nobody else will read it.
        Err(TrySendError::Disconnected(unsafe { self.shared.read(at) }))
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
    #[inline]
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
        let before = self.tail;
        // SAFETY: n <= room, so every position written lies in `[tail, head + capacity)` for a
        // `head` read with Acquire; we are the producer.
        unsafe { self.shared.write_slice(before, &items[..n]) };
        let tail = self.shared.advance(before, n);
        self.tail = tail;
        if Self::publish(&self.shared, tail) & CLOSED == 0 {
            return n;
        }
        // Those that do not stand (the consumer had finished, see `late`) are not pushed;
        // `T: Copy`, so their copies in the slots need no dropping.
        self.late(before, n)
    }

    /// Closes the ring: every later push fails with [`TrySendError::Disconnected`]; the
    /// consumer still drains what is inside, then sees
    /// [`TryRecvError::Disconnected`](crate::handoff::TryRecvError::Disconnected). Wakes a blocked
    /// consumer. Idempotent. Dropping the producer closes too.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::handoff::{spsc, TryRecvError};
    ///
    /// let (mut tx, mut rx) = spsc(4);
    /// tx.push(1).unwrap();
    /// tx.close();
    /// assert!(tx.push(2).unwrap_err().is_disconnected());
    /// assert_eq!(rx.pop(), Ok(1));
    /// assert_eq!(rx.pop(), Err(TryRecvError::Disconnected));
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
        // Acquire: pairs with the Release half of the consumer's `fetch_or` in `Shared::close`
        // (its drop), so once this says true, everything the consumer did before it was
        // dropped happens before what the caller does next (as rtrb's `is_abandoned`).
        self.shared.state.load(Ordering::Acquire) & CONSUMER_GONE != 0
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

    /// How many values the ring holds at most, as given to [`spsc`](super::spsc()) (its slot
    /// array may be larger: rounded up to a power of two).
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

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        self.shared.close(PRODUCER_GONE);
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
