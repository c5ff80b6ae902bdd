//! The receiving half of the SPSC ring: [`Consumer`]. The ring itself, its algorithm and its
//! progress argument are in the module docs (`spsc/mod.rs`).

use super::shared::{Shared, CLOSED, CONSUMER_GONE, FINISHED, PRODUCER_GONE};
use crate::handoff::mpmc::TryRecvError;
use crate::handoff::signal::Registration;
use crate::handoff::wait::{self, WaitStrategy};
use crate::primitive::barrier;
use crate::primitive::sync::atomic::Ordering;
use crate::primitive::sync::Arc;
use std::cell::Cell;
use std::fmt;

/// The receiving half of an [`spsc`](super::spsc()) ring. `Send`, not `Sync`, not `Clone`: there is one
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
    /// Set when we reported `Disconnected` (and FINISHED in `state`): no slot is read again.
    finished: Cell<bool>,
}

impl<T> Consumer<T> {
    pub(super) fn new(shared: Arc<Shared<T>>, strategy: WaitStrategy) -> Self {
        // Relaxed: the ring is new; nobody else has it yet.
        let head = shared.head.load(Ordering::Relaxed);
        Consumer {
            shared,
            head,
            cached_tail: Cell::new(head),
            strategy,
            registration: None,
            finished: Cell::new(false),
        }
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
        if self.finished.get() {
            // We reported `Disconnected`: a push that published after that takes its value back, so
            // its slot must not be read (module docs, "Close against a push in flight").
            return 0;
        }
        // Acquire: pairs with the Release store of `tail` in `Producer::publish`: the slot
        // writes before it are visible to our reads.
        let tail = self.shared.tail.load(Ordering::Acquire);
        self.cached_tail.set(tail);
        self.shared.distance(self.head, tail)
    }

    /// For `pop`, whose copy of `tail` says empty: reloads it and says whether a value is there
    /// after all (`available(1) > 0`, with a comparison of positions instead of a distance).
    #[inline]
    fn refresh_one(&self, head: usize) -> bool {
        if self.finished.get() {
            // As in `available`.
            return false;
        }
        // Acquire: as in `available`.
        let tail = self.shared.tail.load(Ordering::Acquire);
        self.cached_tail.set(tail);
        head != tail
    }

    /// For a ring that looked empty: `Ok` when a value arrived after all (pushed just before a
    /// close), else `Empty`, or `Disconnected` once closed and drained.
    #[cold]
    fn empty_or_closed(&self) -> Result<(), TryRecvError> {
        if self.finished.get() {
            return Err(TryRecvError::Disconnected);
        }
        loop {
            // Acquire: pairs with the Release half of the `fetch_or` in `Shared::close`: every
            // push that came before the close is visible to the reload of `tail` below.
            let state = self.shared.state.load(Ordering::Acquire);
            if state & CLOSED == 0 {
                return Err(TryRecvError::Empty);
            }
            if state & PRODUCER_GONE != 0 {
                // No push can be in flight: the producer's drop closed after its last push, and
                // our Acquire load above made that push's `tail` visible.
                if self.available(1) > 0 {
                    return Ok(());
                }
                self.finished.set(true);
                return Err(TryRecvError::Disconnected);
            }
            // The heavy half: pairs with the light barrier in `Producer::publish`, so a push
            // that published before it is visible to the reload below, or sees CLOSED itself.
            barrier::heavy(self.shared.asymmetric, &self.shared.state);
            if self.available(1) > 0 {
                return Ok(());
            }
            // Closed and empty: conclude, unless `state` changed since we looked (a push in
            // flight set LATE_PUSH after publishing: reload and take it).
            // AcqRel: Release pairs with the Acquire half of the pusher's `fetch_or` (it then
            // sees FINISHED and takes its value back); Acquire pairs with its Release on failure.
            if self
                .shared
                .state
                .compare_exchange(state, state | FINISHED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.finished.set(true);
                return Err(TryRecvError::Disconnected);
            }
        }
    }

    /// Publishes `head` (the caller read the slots before it and set `self.head`) and wakes a
    /// sleeping producer. Over `&Shared`, as `Producer::publish`.
    #[inline]
    fn publish(shared: &Shared<T>, head: usize) {
        // Release: pairs with the Acquire load of `head` in `Producer::refresh`/`len`: our reads
        // of the slots happen before the producer overwrites them.
        shared.head.store(head, Ordering::Release);
        if shared.parks {
            shared.not_full.notify_one();
        }
    }

    /// Removes the oldest value. [`TryRecvError::Empty`] when there is none yet,
    /// [`TryRecvError::Disconnected`] when the ring is closed (by either half, or a half was
    /// dropped) and every value accepted before has been popped. Wait-free.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::handoff::{spsc, TryRecvError};
    ///
    /// let (mut tx, mut rx) = spsc(2);
    /// assert_eq!(rx.pop(), Err(TryRecvError::Empty));
    /// tx.push("x").unwrap();
    /// drop(tx); // closes: what was pushed is still received
    /// assert_eq!(rx.pop(), Ok("x"));
    /// assert_eq!(rx.pop(), Err(TryRecvError::Disconnected));
    /// ```
    #[inline]
    pub fn pop(&mut self) -> Result<T, TryRecvError> {
        let head = self.head;
        if head == self.cached_tail.get() && !self.refresh_one(head) {
            self.empty_or_closed()?;
        }
        let shared = &*self.shared;
        // SAFETY: available >= 1, so `head` lies in `[head, tail)` for a `tail` read with
        // Acquire; we are the consumer and advance `head` right after.
        let value = unsafe { shared.read(head) };
        let head = shared.next(head);
        self.head = head;
        Self::publish(shared, head);
        Ok(value)
    }

    /// Moves up to `limit` of the oldest values to the end of `out` and publishes the new
    /// position with **one** index store (and one wake check). Returns how many were moved: 0
    /// when the ring is empty, or closed and drained. To tell those apart, call
    /// [`pop`](Self::pop): only its `Err(Disconnected)` says that everything accepted has been
    /// received (a push may be accepted just before a close and still be on its way; `is_closed`
    /// says only that the close happened). Wait-free: bounded by `limit`.
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
    #[inline]
    pub fn pop_many(&mut self, out: &mut Vec<T>, limit: usize) -> usize {
        let mut n = self.available(limit).min(limit);
        if n == 0 {
            // Closed and empty: run the close handshake (a push in flight may still land).
            if limit == 0 || self.empty_or_closed().is_err() {
                return 0;
            }
            n = self.available(limit).min(limit);
        }
        // One reservation, then copies: nothing can panic or reallocate half-way, so no value
        // is moved out twice or lost.
        out.reserve(n);
        // SAFETY: n <= available, so every position read lies in `[head, tail)` for a `tail`
        // read with Acquire; `out` has room for `n`; `head` is advanced past them right below.
        unsafe { self.shared.read_into(self.head, n, out) };
        self.head = self.shared.advance(self.head, n);
        Self::publish(&self.shared, self.head);
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

    /// Closes the ring: the producer's later pushes fail with
    /// [`TrySendError::Disconnected`](crate::handoff::TrySendError::Disconnected); this consumer can still
    /// pop what is inside. Wakes a blocked producer. Idempotent. Dropping the
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
        // Acquire: pairs with the Release half of the producer's `fetch_or` in `Shared::close`
        // (its drop), so once this says true, everything the producer did before it was
        // dropped — its last pushes, and any memory the caller wrote before dropping it —
        // happens before what the caller does next (as rtrb's `is_abandoned`).
        self.shared.state.load(Ordering::Acquire) & PRODUCER_GONE != 0
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

    /// True when the ring holds `capacity` values. A `true` stays true until this consumer pops.
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

    /// How many values the ring holds at most, as given to [`spsc`](super::spsc()) (its slot
    /// array may be larger: rounded up to a power of two).
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

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        let mut registration = self.registration.take();
        wait::cancel(&*self, &mut registration, |c| &c.shared.not_empty);
        self.shared.close(CONSUMER_GONE);
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
