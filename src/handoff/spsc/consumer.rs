//! The receiving half of the SPSC ring: [`Consumer`]. The ring itself, its algorithm and its
//! progress argument are in `mod.rs`.

use super::{Shared, CLOSED, CONSUMER_GONE, PRODUCER_GONE};
use crate::handoff::error::PopError;
use crate::handoff::signal::{Registration, Signal};
use crate::handoff::wait::WaitStrategy;
use crate::primitive::sync::atomic::Ordering;
use crate::primitive::sync::Arc;
use std::cell::Cell;
use std::fmt;
use std::mem::ManuallyDrop;

/// The receiving half of an [`spsc`](super::spsc) ring. `Send`, not `Sync`, not `Clone`: there
/// is one consumer.
///
/// Every non-blocking method is wait-free. A `false` from [`is_empty`](Self::is_empty) stays
/// true until this consumer pops (the producer can only add); [`len`](Self::len) is a lower
/// bound (the producer may push meanwhile).
pub struct Consumer<T> {
    /// `ManuallyDrop`, like `registration`, so that the consumer's whole drop is one call.
    shared: ManuallyDrop<Arc<Shared<T>>>,
    /// Our position (pops so far, wrapping): exact, since we are the only writer of
    /// `shared.head`.
    head: usize,
    /// The slot of position `head`, in `[0, capacity)`.
    head_slot: usize,
    /// A copy of `shared.tail`, possibly stale (understates the data, never overstates it);
    /// reloaded only when it says empty. A `Cell` so that `peek(&self)` can reload it.
    cached_tail: Cell<usize>,
    /// Copy of `shared.parks`, so that the wake check reads no shared line to decide.
    parks: bool,
    pub(super) strategy: WaitStrategy,
    /// The async wait in progress (`pop_async`, `Stream`), if any. `ManuallyDrop` so that the
    /// consumer's whole drop is one call (`release`) and inlines wherever a consumer is
    /// dropped: a drop glue left out of line would take the whole consumer by address and keep
    /// `head` and `cached_tail` in memory in every loop that pops (measured).
    pub(super) registration: ManuallyDrop<Option<Registration>>,
}

impl<T> Consumer<T> {
    /// The consumer of a new ring whose positions start at `start` (0 outside tests).
    pub(super) fn new(shared: Arc<Shared<T>>, strategy: WaitStrategy, start: usize) -> Self {
        Consumer {
            shared: ManuallyDrop::new(shared),
            head: start,
            head_slot: 0,
            cached_tail: Cell::new(start),
            parks: strategy.parks(),
            strategy,
            registration: ManuallyDrop::new(None),
        }
    }

    /// The signal this consumer sleeps on (for the blocking and async operations in `wait.rs`).
    pub(super) fn not_empty(&self) -> &Signal {
        &self.shared.not_empty
    }

    /// Reloads `tail` and returns the data available (a lower bound).
    #[inline]
    fn refresh(&self) -> usize {
        // Acquire: pairs with the Release store of `tail` in `Producer::publish`: the slot
        // writes before it are visible to our reads (essay [2]).
        let tail = self.shared.tail.load(Ordering::Acquire);
        self.cached_tail.set(tail);
        tail.wrapping_sub(self.head)
    }

    /// Data available, reloading `tail` when the copy shows fewer than `wanted`. A lower bound.
    #[inline]
    fn available(&self, wanted: usize) -> usize {
        let available = self.cached_tail.get().wrapping_sub(self.head);
        if available >= wanted {
            available
        } else {
            self.refresh()
        }
    }

    /// For a ring that looked empty after a reload and whose `state` showed CLOSED: `Ok(tail)`
    /// when a value arrived after all (pushed just before the close), else `Closed`. Takes the
    /// shared part rather than `&self`, so that the consumer's own fields can stay in registers
    /// around the call.
    #[cold]
    #[inline(never)]
    fn closed_or_late_value(shared: &Shared<T>, head: usize) -> Result<usize, PopError> {
        // Acquire: pairs with the Release half of the `fetch_or` in `Shared::close`. It reads
        // CLOSED again (bits are never cleared, and a later load of the same word cannot read
        // an older value), so every push that came before the close is visible to the reload
        // of `tail` below (essay [4]).
        let state = shared.state.load(Ordering::Acquire);
        debug_assert!(state & CLOSED != 0);
        // Acquire: as in `refresh`.
        let tail = shared.tail.load(Ordering::Acquire);
        if tail == head {
            Err(PopError::Closed)
        } else {
            Ok(tail)
        }
    }

    /// Publishes our new position and wakes a sleeping producer.
    #[inline(always)]
    fn publish(&mut self, head: usize) {
        self.head = head;
        // Release: pairs with the Acquire load of `head` in `Producer::refresh`/`len`: our reads
        // of the slots happen before the producer overwrites them (essay [1]).
        self.shared.head.store(head, Ordering::Release);
        if self.parks {
            // The wake check (signal.rs, P2-P4): one load of the waiter count while nobody
            // sleeps.
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
        if self.head == self.cached_tail.get() && self.refresh() == 0 {
            // Relaxed: an empty, open ring answers `Empty` on this load alone (inline, as cheap
            // as the empty check itself); only a CLOSED seen here leads to the Acquire reload
            // in `closed_or_late_value`, which orders the pushes before the close.
            if self.shared.state.load(Ordering::Relaxed) & CLOSED == 0 {
                return Err(PopError::Empty);
            }
            let tail = Self::closed_or_late_value(&self.shared, self.head)?;
            self.cached_tail.set(tail);
        }
        // SAFETY: `head != tail` for a `tail` read with Acquire (essay [2]); we are the consumer
        // and advance `head` right after.
        let value = unsafe { self.shared.read(self.head_slot) };
        self.head_slot = self.shared.step1(self.head_slot);
        self.publish(self.head.wrapping_add(1));
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
        let (first, second) = self.shared.runs(self.head_slot, n);
        // One reservation up front: nothing can panic or reallocate half-way, so no value is
        // moved out twice or lost.
        out.reserve(n);
        // SAFETY: n <= available, so every slot read belongs to a position in `[head, tail)` for
        // a `tail` read with Acquire (essay [2]); each is read once, and `head` is advanced past
        // all of them right below. `out` has room for all `n`.
        unsafe {
            Shared::read_run(first, out);
            Shared::read_run(second, out);
        }
        self.head_slot = self.shared.step(self.head_slot, n);
        self.publish(self.head.wrapping_add(n));
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
        // SAFETY: available >= 1 (tail read with Acquire, essay [2]); the value stays in place
        // until `pop`, which needs `&mut self` and so ends this borrow first.
        Some(unsafe { self.shared.get(self.head_slot) })
    }

    /// Closes the ring: the producer's later pushes fail with [`PushError::Closed`](super::PushError::Closed); this
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

    /// The number of slots, as given to [`spsc`](super::spsc).
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

impl<T> Consumer<T> {
    /// The work of `drop`, out of line: cancel an async wait, hand the slot index to
    /// `Shared::drop`, close, then let go of the shared part.
    #[cold]
    #[inline(never)]
    fn release(shared: Arc<Shared<T>>, head_slot: usize, registration: Option<Registration>) {
        if let Some(registration) = registration {
            shared.not_empty.unregister(registration);
        }
        // Relaxed: read by `Shared::drop`, which the `Arc` drop orders after this (essay, Drop).
        shared.head_slot.store(head_slot, Ordering::Relaxed);
        shared.close(CONSUMER_GONE);
    }
}

impl<T> Drop for Consumer<T> {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: neither field is used again: this is the consumer's drop.
        let (shared, registration) = unsafe {
            (
                ManuallyDrop::take(&mut self.shared),
                ManuallyDrop::take(&mut self.registration),
            )
        };
        Self::release(shared, self.head_slot, registration);
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
