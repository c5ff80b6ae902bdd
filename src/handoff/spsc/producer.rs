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
    /// A copy of `shared.head`, possibly stale. The consumer only moves `head` forward, so the
    /// copy understates the free room, never overstates it; refreshed only when it says full.
    cached_head: usize,
    pub(super) strategy: WaitStrategy,
}

impl<T> Producer<T> {
    pub(super) fn new(shared: Arc<Shared<T>>, strategy: WaitStrategy) -> Self {
        Producer {
            shared,
            tail: 0,
            cached_head: 0,
            strategy,
        }
    }
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

    /// Publishes the `n` values written from `self.tail` on and wakes a sleeping consumer.
    /// Returns how many of them stand: all, unless the ring turned out closed and the consumer
    /// had already reported `Disconnected` before it saw them all; then the publication of the rest
    /// is undone and the caller takes them back (module docs, "Close against a push in flight").
    #[inline]
    fn publish(&mut self, n: usize) -> usize {
        let before = self.tail;
        let tail = self.shared.advance(before, n);
        self.tail = tail;
        // Release: pairs with the Acquire load of `tail` in `Consumer::pop`/`peek`/`pop_many`:
        // the slot writes happen before the consumer reads them.
        self.shared.tail.store(tail, Ordering::Release);
        // The light half: pairs with the heavy barrier in `Consumer::empty_or_closed`.
        barrier::light(self.shared.asymmetric, &self.shared.state);
        // Relaxed: ordered by the barrier pair; the rare path synchronizes by its RMW.
        let stand = if self.shared.state.load(Ordering::Relaxed) & CLOSED == 0 {
            n
        } else {
            self.late(before, n)
        };
        if self.shared.parks {
            self.shared.not_empty.notify_one();
        }
        stand
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
        let popped = self.shared.distance(before, head).min(n);
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
        // Relaxed: the flag only decides whether to refuse; no data is read on its account.
        if self.shared.state.load(Ordering::Relaxed) & CLOSED != 0 {
            return Err(TrySendError::Disconnected(value));
        }
        if self.room(1) == 0 {
            return Err(TrySendError::Full(value));
        }
        let at = self.tail;
        // SAFETY: room >= 1, so `tail` lies in `[tail, head + capacity)` for the `head` we read
        // with Acquire (or an older, smaller one); we are the producer.
        unsafe { self.shared.write(at, value) };
        if self.publish(1) == 1 {
            return Ok(());
        }
        // SAFETY: `publish` undid the publication of `at`, which the consumer had not popped
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
        let (first, second) = self.shared.runs(self.tail, n);
        let (items_first, items_second) = items[..n].split_at(first.len());
        for (run, run_items) in [(first, items_first), (second, items_second)] {
            for (slot, &item) in run.iter().zip(run_items) {
                // SAFETY: n <= room, so every slot written belongs to a position in
                // `[tail, head + capacity)` for a `head` read with Acquire; we are the producer.
                slot.with_mut(|slot| unsafe { (*slot).write(item) });
            }
        }
        // Those that do not stand (the consumer had finished, see `publish`) are not pushed;
        // `T: Copy`, so their copies in the slots need no dropping.
        self.publish(n)
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

    /// The number of slots, as given to [`spsc`](super::spsc()).
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
