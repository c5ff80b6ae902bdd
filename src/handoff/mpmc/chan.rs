//! The state both ends of a channel share: the queue flavor, the handle counts and the two
//! sleeper lists, and the waiting operations built from them.

use super::array::{Array, Hint};
use super::error::{RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError};
use super::list::List;
use super::waiters::Waiters;
use super::zero::Zero;
use crate::primitive::sync::atomic::{AtomicUsize, Ordering};
use crate::primitive::Backoff;
use crossbeam_utils::CachePadded;
use std::time::Instant;

/// The queue under a channel.
pub(crate) enum Flavor<T> {
    /// `bounded(cap)`, `cap ≥ 1`.
    Array(Array<T>),
    /// `unbounded()`.
    List(List<T>),
    /// `bounded(0)`: a rendezvous, with its own waiting (`zero.rs`).
    Zero(Zero<T>),
}

/// Runs `$body` with `$q` bound to the flavor's queue.
macro_rules! dispatch {
    ($flavor:expr, $q:ident => $body:expr) => {
        match $flavor {
            Flavor::Array($q) => $body,
            Flavor::List($q) => $body,
            Flavor::Zero($q) => $body,
        }
    };
}

impl<T> Flavor<T> {
    /// The flavor's own `try_send`. `hint`: the sending handle's guess of its next position
    /// (array.rs [6]); the other flavors have none to use.
    #[inline(always)]
    fn try_send(&self, value: T, hint: Option<&Hint>) -> Result<(), TrySendError<T>> {
        match self {
            Flavor::Array(q) => q.try_send(value, hint),
            Flavor::List(q) => q.try_send(value),
            Flavor::Zero(q) => q.try_send(value),
        }
    }

    /// The flavor's own `try_recv`, with the receiving handle's `hint` as in `try_send`.
    #[inline(always)]
    fn try_recv(&self, hint: Option<&Hint>) -> Result<T, TryRecvError> {
        match self {
            Flavor::Array(q) => q.try_recv(hint),
            Flavor::List(q) => q.try_recv(),
            Flavor::Zero(q) => q.try_recv(),
        }
    }
}

/// What senders and receivers share.
pub(crate) struct Chan<T> {
    flavor: Flavor<T>,
    /// Live `Sender`s. The one that takes it to zero closes the channel.
    pub(crate) senders: AtomicUsize,
    /// Live `Receiver`s. The one that takes it to zero closes the channel and drops what is
    /// queued.
    pub(crate) receivers: AtomicUsize,
    /// Receivers asleep on an empty channel, and selects over it; every successful send
    /// notifies one. On a rendezvous channel only selects sleep here (`zero.rs`, watchers).
    recv_waiters: CachePadded<Waiters>,
    /// Senders asleep on a full channel; every successful receive notifies one.
    send_waiters: CachePadded<Waiters>,
}

impl<T> Chan<T> {
    pub(crate) fn new(flavor: Flavor<T>) -> Self {
        Chan {
            flavor,
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            recv_waiters: CachePadded::new(Waiters::new()),
            send_waiters: CachePadded::new(Waiters::new()),
        }
    }

    /// `hint`: the sending handle's guess of its next position (array.rs [6]; other flavors
    /// ignore it). `None` claims the plain way: async tasks pass none, since tasks taking turns
    /// on a worker thread keep each other's guesses stale (measured slower with them,
    /// docs/benchmarks.md).
    #[inline(always)]
    pub(crate) fn try_send(&self, value: T, hint: Option<&Hint>) -> Result<(), TrySendError<T>> {
        self.flavor.try_send(value, hint)?;
        // A rendezvous `try_send` succeeds only by handing the value to a blocked receiver:
        // nothing is left for a select watching `recv_waiters` (zero.rs notifies those only
        // when a sender is about to wait).
        if !matches!(self.flavor, Flavor::Zero(_)) {
            // After the claim (a SeqCst RMW): N1 of waiters.rs.
            self.recv_waiters.notify_one();
        }
        Ok(())
    }

    /// `hint`: as in `try_send`, the receiving handle's.
    #[inline(always)]
    pub(crate) fn try_recv(&self, hint: Option<&Hint>) -> Result<T, TryRecvError> {
        let value = self.flavor.try_recv(hint)?;
        if let Flavor::Array(_) = self.flavor {
            // After the claim (a SeqCst RMW): N1 of waiters.rs. Unbounded senders never sleep.
            self.send_waiters.notify_one();
        }
        Ok(value)
    }

    /// Sends, waiting while the channel is full, until `deadline` (`None`: for ever).
    pub(crate) fn send_until(
        &self,
        mut value: T,
        deadline: Option<Instant>,
        hint: &Hint,
    ) -> Result<(), SendTimeoutError<T>> {
        if let Flavor::Zero(zero) = &self.flavor {
            return zero.send_until(value, deadline, &self.recv_waiters);
        }
        let mut pace = Pace::new();
        // Once time is up, one last try, then time out. The last try goes through the same
        // call of `try_send` as the others: with a second call site the compiler kept
        // `try_send` out of line, one call more per send (docs/benchmarks.md).
        let mut last_try = false;
        loop {
            match self.try_send(value, Some(hint)) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Disconnected(v)) => {
                    return Err(SendTimeoutError::Disconnected(v))
                }
                Err(TrySendError::Full(v)) if last_try => return Err(SendTimeoutError::Timeout(v)),
                Err(TrySendError::Full(v)) => value = v,
            }
            let ready = || !self.is_full() || self.is_closed();
            last_try = !pace.wait(&self.send_waiters, ready, deadline);
        }
    }

    /// Receives, waiting while the channel is empty, until `deadline` (`None`: for ever).
    pub(crate) fn recv_until(
        &self,
        deadline: Option<Instant>,
        hint: &Hint,
    ) -> Result<T, RecvTimeoutError> {
        if let Flavor::Zero(zero) = &self.flavor {
            return zero.recv_until(deadline);
        }
        let mut pace = Pace::new();
        // As in `send_until`: the last try after the deadline shares the one call site.
        let mut last_try = false;
        loop {
            match self.try_recv(Some(hint)) {
                Ok(value) => return Ok(value),
                Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
                Err(TryRecvError::Empty) if last_try => return Err(RecvTimeoutError::Timeout),
                Err(TryRecvError::Empty) => {}
            }
            let ready = || !self.is_empty() || self.is_closed();
            last_try = !pace.wait(&self.recv_waiters, ready, deadline);
        }
    }

    /// Closes the channel (no send succeeds from now on) and wakes every sleeper. True if this
    /// call closed it.
    pub(crate) fn close(&self) -> bool {
        let closed = dispatch!(&self.flavor, q => q.close());
        // After the mark (a SeqCst RMW): N1 of waiters.rs.
        self.recv_waiters.notify_all();
        self.send_waiters.notify_all();
        closed
    }

    /// The last receiver is gone: close, and drop what is queued now.
    pub(crate) fn disconnect_receivers(&self) {
        self.close();
        dispatch!(&self.flavor, q => q.discard_all());
    }

    /// Whether a `try_recv` now would not say `Empty` (a value, or closed): a select's re-check
    /// after joining the receiver list (S2 of waiters.rs).
    pub(crate) fn can_recv(&self) -> bool {
        match &self.flavor {
            Flavor::Zero(zero) => zero.can_recv(),
            _ => !self.is_empty() || self.is_closed(),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        dispatch!(&self.flavor, q => q.is_closed())
    }

    pub(crate) fn is_empty(&self) -> bool {
        dispatch!(&self.flavor, q => q.is_empty())
    }

    pub(crate) fn is_full(&self) -> bool {
        dispatch!(&self.flavor, q => q.is_full())
    }

    pub(crate) fn len(&self) -> usize {
        dispatch!(&self.flavor, q => q.len())
    }

    pub(crate) fn capacity(&self) -> Option<usize> {
        match &self.flavor {
            Flavor::Array(q) => Some(q.capacity()),
            Flavor::List(q) => q.capacity(),
            Flavor::Zero(_) => Some(0),
        }
    }

    /// The rendezvous flavor, whose futures take their own path (`zero.rs`).
    pub(crate) fn zero(&self) -> Option<&Zero<T>> {
        match &self.flavor {
            Flavor::Zero(zero) => Some(zero),
            _ => None,
        }
    }

    pub(crate) fn recv_waiters(&self) -> &Waiters {
        &self.recv_waiters
    }

    pub(crate) fn send_waiters(&self) -> &Waiters {
        &self.send_waiters
    }

    /// Adds a handle to `count` (`senders` or `receivers`).
    pub(crate) fn acquire(count: &AtomicUsize) {
        // Relaxed: a new handle is cloned from a live one, which keeps the count above zero;
        // nothing is published through the count itself (as `Arc::clone`).
        let old = count.fetch_add(1, Ordering::Relaxed);
        assert!(old < usize::MAX / 2, "too many channel handles");
    }

    /// Removes a handle from `count`; true if it was the last one.
    pub(crate) fn release(count: &AtomicUsize) -> bool {
        // AcqRel: the last handle's release sees everything the others did before dropping
        // (as `Arc::drop`), and the close that follows comes after it.
        count.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

/// How a blocking send or receive waits between two failed tries: spin and yield a little
/// (crossbeam-utils' backoff shape), then sleep on the side's `Waiters` until notified; after
/// each wake-up the spin starts afresh, so a caller that loses the value (or room) to another
/// thread spins again before it sleeps again.
struct Pace {
    backoff: Backoff,
}

impl Pace {
    fn new() -> Self {
        Pace {
            backoff: Backoff::new(),
        }
    }

    /// Waits once. False when `deadline` has passed (the caller makes its last try).
    fn wait(
        &mut self,
        waiters: &Waiters,
        ready: impl Fn() -> bool,
        deadline: Option<Instant>,
    ) -> bool {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        // Under loom a wait registers at once: loom runs the other threads to completion at
        // every yield, so spinning first would hide the races of registration.
        if !cfg!(mqsync_loom) && !self.backoff.is_completed() {
            self.backoff.snooze();
            return true;
        }
        if !waiters.wait(ready, deadline) {
            return false;
        }
        self.backoff = Backoff::new();
        true
    }
}

/// A channel's queue without the channel, for loom models (`loom-tests/tests/channel.rs`), built
/// only under `--cfg mqsync_loom`: the channel's loom-only SeqCst fences (`waiters.rs`,
/// `seqcst_point`) acquire every store their thread has seen, Relaxed loads included, which
/// would hide a missing Acquire in a flavor from a model that goes through the channel.
///
/// Sends and receives guess their positions (array.rs [6]) from one hint per side, shared by
/// the model's threads, so a model's guesses go stale whenever another thread claims first.
#[cfg(mqsync_loom)]
#[doc(hidden)]
pub struct LoomQueue(Flavor<u32>, Hint, Hint);

#[cfg(mqsync_loom)]
impl LoomQueue {
    /// The bounded flavor's ring of `cap` slots.
    pub fn bounded(cap: usize) -> Self {
        LoomQueue(
            Flavor::Array(Array::with_capacity(cap)),
            Hint::default(),
            Hint::default(),
        )
    }

    /// The unbounded flavor's list.
    pub fn unbounded() -> Self {
        LoomQueue(Flavor::List(List::new()), Hint::default(), Hint::default())
    }

    /// The flavor's `try_send`: true if sent.
    pub fn try_send(&self, value: u32) -> bool {
        self.0.try_send(value, Some(&self.1)).is_ok()
    }

    /// The flavor's `try_recv`: the value, if one was there.
    pub fn try_recv(&self) -> Option<u32> {
        self.0.try_recv(Some(&self.2)).ok()
    }
}

#[cfg(mqsync_loom)]
impl std::fmt::Debug for LoomQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoomQueue").finish_non_exhaustive()
    }
}
