//! The sending half of the SPSC ring: [`Producer`]. The ring itself, its algorithm and its
//! progress argument are in `mod.rs`.

use super::{Shared, CLOSED, CONSUMER_GONE, PRODUCER_GONE};
use crate::handoff::error::PushError;
use crate::handoff::signal::Signal;
use crate::handoff::wait::WaitStrategy;
use crate::primitive::sync::atomic::Ordering;
use crate::primitive::sync::Arc;
use std::fmt;
use std::mem::ManuallyDrop;

/// The sending half of an [`spsc`](super::spsc) ring. `Send`, not `Clone`: there is one producer.
///
/// Every non-blocking method is wait-free. Answers about the ring are exact for what only the
/// producer changes and conservative for the rest: a `false` from [`is_full`](Self::is_full)
/// stays true until this producer pushes (the consumer can only make room); [`len`](Self::len)
/// is an upper bound (the consumer may pop meanwhile).
pub struct Producer<T> {
    /// `ManuallyDrop` so that the producer's whole drop is one call (`release`) and inlines
    /// wherever a producer is dropped; see `Producer::drop`.
    shared: ManuallyDrop<Arc<Shared<T>>>,
    /// Our position (pushes so far, wrapping): exact, since we are the only writer of
    /// `shared.tail`.
    tail: usize,
    /// The slot of position `tail`, in `[0, capacity)`.
    tail_slot: usize,
    /// `cached_head + capacity` (wrapping) for a copy `cached_head` of `shared.head`, possibly
    /// stale. The consumer only moves `head` forward, so `limit - tail` understates the free
    /// room, never overstates it; reloaded only when `tail` reaches it.
    limit: usize,
    /// Copy of `shared.parks`, so that the wake check reads no shared line to decide.
    parks: bool,
    pub(super) strategy: WaitStrategy,
}

impl<T> Producer<T> {
    /// The producer of a new ring whose positions start at `start` (0 outside tests).
    pub(super) fn new(shared: Arc<Shared<T>>, strategy: WaitStrategy, start: usize) -> Self {
        Producer {
            limit: start.wrapping_add(shared.capacity),
            shared: ManuallyDrop::new(shared),
            tail: start,
            tail_slot: 0,
            parks: strategy.parks(),
            strategy,
        }
    }

    /// The signal this producer sleeps on (for the blocking operations in `wait.rs`).
    pub(super) fn not_full(&self) -> &Signal {
        &self.shared.not_full
    }

    /// Reloads `head` and returns the free room (a lower bound).
    #[inline]
    fn refresh(&mut self) -> usize {
        // Acquire: pairs with the Release store of `head` in `Consumer::publish`: the
        // consumer's reads of the slots we may now overwrite happened before (essay [1]).
        let head = self.shared.head.load(Ordering::Acquire);
        self.limit = head.wrapping_add(self.shared.capacity);
        self.limit.wrapping_sub(self.tail)
    }

    /// Publishes our new position and wakes a sleeping consumer.
    #[inline(always)]
    fn publish(&mut self, tail: usize) {
        self.tail = tail;
        // Release: pairs with the Acquire load of `tail` in `Consumer::refresh`: the slot
        // writes happen before the consumer reads them (essay [2]).
        self.shared.tail.store(tail, Ordering::Release);
        if self.parks {
            // The wake check (signal.rs, P2-P4): one load of the waiter count while nobody
            // sleeps.
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
        if self.tail == self.limit && self.refresh() == 0 {
            return Err(PushError::Full(value));
        }
        // SAFETY: `tail != limit`, so `tail - head < capacity` for a `head` read with Acquire
        // (or the initial 0): essay [1]. We are the producer.
        unsafe { self.shared.write(self.tail_slot, value) };
        self.tail_slot = self.shared.step1(self.tail_slot);
        self.publish(self.tail.wrapping_add(1));
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
        let mut room = self.limit.wrapping_sub(self.tail);
        if room < items.len() {
            room = self.refresh();
        }
        let n = room.min(items.len());
        if n == 0 {
            return 0;
        }
        let (first, second) = self.shared.runs(self.tail_slot, n);
        let (items_first, items_second) = items[..n].split_at(first.len());
        // SAFETY: n <= room, so every slot written belongs to a position in
        // `[tail, head + capacity)` for a `head` read with Acquire (essay [1]); we are the
        // producer.
        unsafe {
            Shared::write_run(first, items_first);
            Shared::write_run(second, items_second);
        }
        self.tail_slot = self.shared.step(self.tail_slot, n);
        self.publish(self.tail.wrapping_add(n));
        n
    }

    /// Closes the ring: every later push fails with [`PushError::Closed`]; the consumer still
    /// drains what is inside, then sees [`PopError::Closed`](super::PopError::Closed). Wakes a
    /// blocked consumer. Idempotent. Dropping the producer closes too.
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

    /// Values in the ring: an upper bound, since the consumer may pop meanwhile. Loads
    /// `head` (a line the consumer writes on every pop).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = mqsync::handoff::spsc(8);
    /// tx.push(()).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        // Acquire: pairs with the consumer's Release store of `head` (as in `refresh`).
        self.tail
            .wrapping_sub(self.shared.head.load(Ordering::Acquire))
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

    /// The number of slots, as given to [`spsc`](super::spsc).
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

impl<T> Producer<T> {
    /// The work of `drop`, out of line: close, then let go of the shared part.
    #[cold]
    #[inline(never)]
    fn release(shared: Arc<Shared<T>>) {
        shared.close(PRODUCER_GONE);
    }
}

impl<T> Drop for Producer<T> {
    // The whole drop is one call with the `Arc` by value. A drop glue that stayed out of line
    // would take the producer by address, and the compiler would then keep `tail` and `limit`
    // in memory in every loop that pushes and later drops the producer (measured in the
    // benches' loops: a load and a store of each per push).
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: `shared` is not used again: this is the producer's drop.
        let shared = unsafe { ManuallyDrop::take(&mut self.shared) };
        Self::release(shared);
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
