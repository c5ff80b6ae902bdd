//! Blocking, async and closable waiting over any [`Fifo`]: [`channel`] wraps a queue in a
//! [`Sender`] / [`Receiver`] pair; the queue itself stays unchanged.
//!
//! # Design
//!
//! The wrapper adds three things around `Q`'s own `push` / `pop`:
//!
//! * two [`Signal`]s (`not_empty` for receivers, `not_full` for senders of a bounded queue) with
//!   the register → re-check → sleep protocol of `handoff/signal.rs`;
//! * sender and receiver counts: dropping the last of either closes the channel;
//! * **close without loss**, the part `Q` cannot give: a word `state` holding a `CLOSED` bit and
//!   the number of pushes *in flight*. A push enters (`fetch_add`), refuses if `CLOSED` is set,
//!   else pushes into `Q` and exits (`fetch_sub`, Release). A receiver reports
//!   [`PopError::Closed`] only after it saw `CLOSED` with nothing in flight (Acquire) *and* then
//!   found `Q` empty. Proof sketch: [1] after the `fetch_or` that sets `CLOSED`, no push enters
//!   successfully (its `fetch_add` sees the bit, one location, one modification order); [2] a
//!   value read with `CLOSED` and count 0 lies after every accepted push's exit in that order;
//!   [3] every write to `state` is an RMW, so the Acquire load reads from the release sequence
//!   of each of those exits and every accepted `Q::push` happens before the receiver's final
//!   `Q::pop`; [4] so that pop sees every accepted value still inside ([`Fifo`]'s operations are
//!   linearizable). Values accepted are popped by someone, or dropped with the queue when the
//!   last handle goes.
//!
//! # Progress
//!
//! `push` and `pop` add a bounded number of steps to `Q`'s (two RMWs on `state` per push, and
//! the wake check), so they are as lock-free as `Q` is. The blocking, timed and async operations
//! wait by design.
//!
//! The wake protocol relies on `Q` publishing each push and pop through its own atomics (true of
//! every [`Fifo`] in this crate, lock-free or locked): a waiter's re-check after its `SeqCst`
//! fence then sees the publisher's change (`handoff/signal.rs`, essay [1]).

use super::error::{PopError, PushError};
use crate::handoff::signal::{Registration, Signal};
use crate::handoff::wait::{self, WaitStrategy};
use crate::primitive::sync::atomic::{AtomicUsize, Ordering};
use crate::primitive::sync::Arc;
use crate::queue::{Fifo, Full};
use crossbeam_utils::CachePadded;
use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

/// `state` bit: closed, no push is accepted any more.
const CLOSED: usize = 1;
/// `state` unit for one push in flight (the count lives above the `CLOSED` bit).
const IN_FLIGHT: usize = 2;

pub(super) struct Chan<T, Q> {
    queue: Q,
    /// `CLOSED | in_flight * IN_FLIGHT`. `CLOSED` is set once and never cleared; the count goes
    /// up when a push enters and down when it exits. Every write is an RMW.
    state: CachePadded<AtomicUsize>,
    /// Live `Sender`s; the last one to go closes the channel.
    senders: AtomicUsize,
    /// Live `Receiver`s; the last one to go closes the channel.
    receivers: AtomicUsize,
    not_empty: Signal,
    not_full: Signal,
    /// The strategy parks, so publishers must check for sleepers.
    pub(super) parks: bool,
    /// `Q` has a capacity, so pops must wake blocked senders.
    bounded: bool,
    strategy: WaitStrategy,
    _values: PhantomData<fn(T) -> T>,
}

impl<T, Q: Fifo<T>> Chan<T, Q> {
    fn close(&self) {
        // AcqRel: the Release half pairs with the receivers' Acquire load in `Receiver::pop`.
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        if self.parks {
            self.not_empty.notify_all();
            self.not_full.notify_all();
        }
    }

    fn push(&self, value: T) -> Result<(), PushError<T>> {
        // Relaxed: entering only has to be ordered against the `CLOSED` bit, and both live in
        // one location whose modification order every RMW respects (module docs, [1]).
        let entered = self.state.fetch_add(IN_FLIGHT, Ordering::Relaxed);
        // Should `Q::push` panic, still exit, or receivers would wait for it forever.
        let unwinding = ExitOnUnwind(&self.state);
        let pushed = if entered & CLOSED != 0 {
            Err(PushError::Closed(value))
        } else {
            self.queue
                .push(value)
                .map_err(|Full(value)| PushError::Full(value))
        };
        std::mem::forget(unwinding);
        // Release: pairs with the Acquire load of `state` in `Receiver::pop` (module docs, [3]).
        let exited = self.state.fetch_sub(IN_FLIGHT, Ordering::Release);
        if self.parks {
            if exited & CLOSED != 0 {
                // Receivers waiting for the in-flight count to reach 0 must re-check.
                self.not_empty.notify_all();
            } else if pushed.is_ok() {
                self.not_empty.notify_one();
            }
        }
        pushed
    }

    pub(super) fn pop(&self) -> Result<T, PopError> {
        if let Some(value) = self.queue.pop() {
            self.popped();
            return Ok(value);
        }
        // Acquire: pairs with the Release exit of every push and the Release half of `close`
        // (module docs, [3]).
        let state = self.state.load(Ordering::Acquire);
        if state & CLOSED == 0 || state >= IN_FLIGHT {
            // Open, or a push accepted before the close is still on its way in.
            return Err(PopError::Empty);
        }
        match self.queue.pop() {
            Some(value) => {
                self.popped();
                Ok(value)
            }
            None => Err(PopError::Closed),
        }
    }

    #[inline]
    fn popped(&self) {
        if self.bounded && self.parks {
            self.not_full.notify_one();
        }
    }
}

/// Exits a push (drops its in-flight count) if `Q::push` unwinds.
struct ExitOnUnwind<'a>(&'a AtomicUsize);

impl Drop for ExitOnUnwind<'_> {
    fn drop(&mut self) {
        // Release: as the normal exit in `Chan::push`.
        self.0.fetch_sub(IN_FLIGHT, Ordering::Release);
    }
}

/// Wraps `queue` in a channel with the default [`WaitStrategy::SpinThenPark`].
///
/// # Examples
///
/// ```
/// use mqsync::handoff::channel;
/// use mqsync::{MsQueue, RingBuffer};
///
/// let (tx, rx) = channel(RingBuffer::with_capacity(16));
/// let producers: Vec<_> = (0..4)
///     .map(|p| {
///         let tx = tx.clone();
///         std::thread::spawn(move || (0..100).for_each(|i| tx.push_blocking(p * 100 + i).unwrap()))
///     })
///     .collect();
/// drop(tx); // the channel closes when the last producer is done
/// let mut sum = 0;
/// while let Ok(v) = rx.pop_blocking() {
///     sum += v;
/// }
/// assert_eq!(sum, (0..400).sum::<i32>());
/// producers.into_iter().for_each(|p| p.join().unwrap());
///
/// let (tx, rx) = channel(MsQueue::new());
/// tx.push("unbounded").unwrap();
/// assert_eq!(rx.pop(), Ok("unbounded"));
/// ```
#[deprecated(
    since = "0.1.0",
    note = "use `mqsync::channel::{bounded, unbounded}`: no queue type in the handles, close in the claim, a faster wake"
)]
pub fn channel<T, Q: Fifo<T>>(queue: Q) -> (Sender<T, Q>, Receiver<T, Q>) {
    #[allow(deprecated)] // one deprecated function calling the other
    channel_with(queue, WaitStrategy::default())
}

/// Wraps `queue` in a channel whose blocking operations wait with `strategy`. A strategy that
/// never parks also removes the wake checks from every push and pop.
///
/// # Examples
///
/// ```
/// use mqsync::handoff::{channel_with, WaitStrategy};
/// use mqsync::MsQueue;
///
/// let (tx, rx) = channel_with(MsQueue::new(), WaitStrategy::SpinThenYield);
/// tx.push(1).unwrap();
/// assert_eq!(rx.pop_blocking(), Ok(1));
/// ```
#[deprecated(
    since = "0.1.0",
    note = "use `mqsync::channel::{bounded, unbounded}`: no queue type in the handles, close in the claim, a faster wake"
)]
pub fn channel_with<T, Q: Fifo<T>>(
    queue: Q,
    strategy: WaitStrategy,
) -> (Sender<T, Q>, Receiver<T, Q>) {
    let bounded = queue.capacity().is_some();
    let chan = Arc::new(Chan {
        queue,
        state: CachePadded::new(AtomicUsize::new(0)),
        senders: AtomicUsize::new(1),
        receivers: AtomicUsize::new(1),
        not_empty: Signal::new(),
        not_full: Signal::new(),
        parks: strategy.parks(),
        bounded,
        strategy,
        _values: PhantomData,
    });
    (
        Sender {
            chan: Arc::clone(&chan),
        },
        Receiver {
            chan,
            registration: None,
        },
    )
}

/// The sending side of a [`channel`]. Clone it for more producers; the channel closes when the
/// last clone is dropped (or on [`close`](Self::close)).
pub struct Sender<T, Q: Fifo<T>> {
    pub(super) chan: Arc<Chan<T, Q>>,
}

/// The receiving side of a [`channel`]. Clone it for more consumers; each value goes to exactly
/// one of them. The channel closes when the last clone is dropped (or on
/// [`close`](Self::close)).
pub struct Receiver<T, Q: Fifo<T>> {
    pub(super) chan: Arc<Chan<T, Q>>,
    /// This handle's async wait in progress, if any.
    pub(super) registration: Option<Registration>,
}

fn not_full<'a, T, Q>(chan: &'a &Chan<T, Q>) -> &'a Signal {
    &chan.not_full
}

pub(super) fn not_empty<'a, T, Q>(chan: &'a &Chan<T, Q>) -> &'a Signal {
    &chan.not_empty
}

pub(super) fn ready<T>(popped: Result<T, PopError>) -> Option<Result<T, PopError>> {
    match popped {
        Err(PopError::Empty) => None,
        done => Some(done),
    }
}

impl<T, Q: Fifo<T>> Sender<T, Q> {
    /// Pushes `value` without waiting: [`PushError::Full`] when a bounded queue is full,
    /// [`PushError::Closed`] after a close. As lock-free as `Q::push`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = mqsync::handoff::channel(mqsync::RingBuffer::with_capacity(1));
    /// tx.push(1).unwrap();
    /// assert!(tx.push(2).unwrap_err().is_full());
    /// ```
    pub fn push(&self, value: T) -> Result<(), PushError<T>> {
        self.chan.push(value)
    }

    /// Pushes `value`, waiting while a bounded queue is full. Fails only with
    /// [`PushError::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::handoff::channel(mqsync::RingBuffer::with_capacity(1));
    /// tx.push(1).unwrap();
    /// let t = std::thread::spawn(move || tx.push_blocking(2));
    /// assert_eq!(rx.pop_blocking(), Ok(1));
    /// assert_eq!(rx.pop_blocking(), Ok(2));
    /// t.join().unwrap().unwrap();
    /// ```
    pub fn push_blocking(&self, value: T) -> Result<(), PushError<T>> {
        self.push_until(value, None)
    }

    /// Pushes `value`, waiting at most `timeout` for room; on timeout the value comes back in
    /// [`PushError::Full`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (tx, _rx) = mqsync::handoff::channel(mqsync::RingBuffer::with_capacity(1));
    /// tx.push(1).unwrap();
    /// assert!(tx.push_timeout(2, Duration::from_millis(5)).unwrap_err().is_full());
    /// ```
    pub fn push_timeout(&self, value: T, timeout: Duration) -> Result<(), PushError<T>> {
        self.push_until(value, Instant::now().checked_add(timeout))
    }

    /// Pushes `value`, waiting until `deadline` at the latest; on timeout the value comes back
    /// in [`PushError::Full`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = mqsync::handoff::channel(mqsync::MsQueue::new());
    /// tx.push_deadline(1, std::time::Instant::now()).unwrap(); // unbounded: never waits
    /// ```
    pub fn push_deadline(&self, value: T, deadline: Instant) -> Result<(), PushError<T>> {
        self.push_until(value, Some(deadline))
    }

    fn push_until(&self, value: T, deadline: Option<Instant>) -> Result<(), PushError<T>> {
        let mut value = Some(value);
        let mut chan = &*self.chan;
        let done = wait::block(
            &mut chan,
            not_full,
            self.chan.strategy,
            deadline,
            |chan| match chan.push(value.take().expect("the value is put back after every try")) {
                Err(PushError::Full(back)) => {
                    value = Some(back);
                    None
                }
                done => Some(done),
            },
        );
        done.unwrap_or_else(|| Err(PushError::Full(value.take().expect("timed out holding it"))))
    }

    /// Closes the channel for every handle: later pushes fail with [`PushError::Closed`];
    /// receivers drain what was accepted, then see [`PopError::Closed`]. Wakes every waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::handoff::channel(mqsync::MsQueue::new());
    /// tx.push(1).unwrap();
    /// tx.close();
    /// assert!(tx.push(2).unwrap_err().is_closed());
    /// assert_eq!(rx.pop(), Ok(1));
    /// assert!(rx.pop().is_err());
    /// ```
    pub fn close(&self) {
        self.chan.close();
    }

    /// True once the channel is closed. Stays true.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::handoff::channel::<u8, _>(mqsync::MsQueue::new());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        // Relaxed: a snapshot of a bit that is only ever set.
        self.chan.state.load(Ordering::Relaxed) & CLOSED != 0
    }

    /// `Q::len()`: a snapshot under concurrency.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = mqsync::handoff::channel(mqsync::MsQueue::new());
    /// tx.push(()).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.queue.len()
    }

    /// `Q::is_empty()`: a snapshot under concurrency.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = mqsync::handoff::channel::<u8, _>(mqsync::MsQueue::new());
    /// assert!(tx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.chan.queue.is_empty()
    }

    /// `Q::capacity()`: `None` when unbounded.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = mqsync::handoff::channel::<u8, _>(mqsync::RingBuffer::with_capacity(8));
    /// assert_eq!(tx.capacity(), Some(8));
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.chan.queue.capacity()
    }
}

impl<T, Q: Fifo<T>> Receiver<T, Q> {
    /// Pops without waiting: `Err(Empty)` when nothing is there, `Err(Closed)` when closed and
    /// every accepted value has been popped. As lock-free as `Q::pop`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::handoff::PopError;
    ///
    /// let (tx, rx) = mqsync::handoff::channel(mqsync::MsQueue::new());
    /// assert_eq!(rx.pop(), Err(PopError::Empty));
    /// tx.push(3).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.pop(), Ok(3));
    /// assert_eq!(rx.pop(), Err(PopError::Closed));
    /// ```
    pub fn pop(&self) -> Result<T, PopError> {
        self.chan.pop()
    }

    /// Pops, waiting while the queue is empty. Fails only with [`PopError::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::handoff::channel(mqsync::MsQueue::new());
    /// std::thread::spawn(move || tx.push(1).unwrap());
    /// assert_eq!(rx.pop_blocking(), Ok(1));
    /// assert!(rx.pop_blocking().is_err()); // the sender is gone: closed
    /// ```
    pub fn pop_blocking(&self) -> Result<T, PopError> {
        self.pop_until(None)
    }

    /// Pops, waiting at most `timeout`: `Err(Empty)` when nothing came in time.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::handoff::PopError;
    /// use std::time::Duration;
    ///
    /// let (_tx, rx) = mqsync::handoff::channel::<u8, _>(mqsync::MsQueue::new());
    /// assert_eq!(rx.pop_timeout(Duration::from_millis(5)), Err(PopError::Empty));
    /// ```
    pub fn pop_timeout(&self, timeout: Duration) -> Result<T, PopError> {
        self.pop_until(Instant::now().checked_add(timeout))
    }

    /// Pops, waiting until `deadline` at the latest: `Err(Empty)` when nothing came in time.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::handoff::channel(mqsync::MsQueue::new());
    /// tx.push(1).unwrap();
    /// assert_eq!(rx.pop_deadline(std::time::Instant::now()), Ok(1));
    /// ```
    pub fn pop_deadline(&self, deadline: Instant) -> Result<T, PopError> {
        self.pop_until(Some(deadline))
    }

    fn pop_until(&self, deadline: Option<Instant>) -> Result<T, PopError> {
        let mut chan = &*self.chan;
        wait::block(&mut chan, not_empty, self.chan.strategy, deadline, |chan| {
            ready(chan.pop())
        })
        .unwrap_or(Err(PopError::Empty))
    }

    /// Closes the channel for every handle (see [`Sender::close`]); this receiver can still
    /// drain what was accepted.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::handoff::channel(mqsync::MsQueue::new());
    /// tx.push(1).unwrap();
    /// rx.close();
    /// assert!(tx.push(2).is_err());
    /// assert_eq!(rx.pop(), Ok(1));
    /// ```
    pub fn close(&self) {
        self.chan.close();
    }

    /// True once the channel is closed (values may still be inside). Stays true.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::handoff::channel::<u8, _>(mqsync::MsQueue::new());
    /// drop(tx);
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        // Relaxed: a snapshot of a bit that is only ever set.
        self.chan.state.load(Ordering::Relaxed) & CLOSED != 0
    }

    /// `Q::len()`: a snapshot under concurrency.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::handoff::channel(mqsync::MsQueue::new());
    /// tx.push(()).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.queue.len()
    }

    /// `Q::is_empty()`: a snapshot under concurrency.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = mqsync::handoff::channel::<u8, _>(mqsync::MsQueue::new());
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.chan.queue.is_empty()
    }

    /// `Q::capacity()`: `None` when unbounded.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = mqsync::handoff::channel::<u8, _>(mqsync::MsQueue::new());
    /// assert_eq!(rx.capacity(), None);
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.chan.queue.capacity()
    }
}

impl<T, Q: Fifo<T>> Clone for Sender<T, Q> {
    fn clone(&self) -> Self {
        // Relaxed: as `Arc::clone`; the count only decides which drop closes.
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            chan: Arc::clone(&self.chan),
        }
    }
}

impl<T, Q: Fifo<T>> Clone for Receiver<T, Q> {
    fn clone(&self) -> Self {
        // Relaxed: as `Arc::clone`.
        self.chan.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver {
            chan: Arc::clone(&self.chan),
            registration: None,
        }
    }
}

impl<T, Q: Fifo<T>> Drop for Sender<T, Q> {
    fn drop(&mut self) {
        // AcqRel: the last sender's close comes after every other sender's pushes.
        if self.chan.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.close();
        }
    }
}

impl<T, Q: Fifo<T>> Drop for Receiver<T, Q> {
    fn drop(&mut self) {
        let chan = &*self.chan;
        wait::cancel(&chan, &mut self.registration, not_empty);
        // AcqRel: as for `Sender`.
        if self.chan.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.close();
        }
    }
}

impl<T, Q: Fifo<T>> fmt::Debug for Sender<T, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl<T, Q: Fifo<T>> fmt::Debug for Receiver<T, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}
