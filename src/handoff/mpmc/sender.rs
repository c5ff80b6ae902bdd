//! The sending half of a channel.

use super::array::Hint;
use super::chan::Chan;
use super::error::{SendError, SendTimeoutError, TrySendError};
use super::registration::Registration;
use super::zero::Ticket;
use crate::primitive::sync::Arc;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The sending half of a [`bounded`](super::bounded) or [`unbounded`](super::unbounded)
/// channel. Clone it for more producers; when the last clone is dropped, the channel is closed
/// and receivers drain what is queued and then see `Disconnected`.
///
/// `Sender<T>` is `Send` and `Sync` when `T: Send`.
///
/// # Examples
///
/// ```
/// let (tx, rx) = mqsync::channel::bounded(8);
/// let tx2 = tx.clone();
/// std::thread::spawn(move || tx2.send(1).unwrap()).join().unwrap();
/// tx.send(2).unwrap();
/// drop(tx);
/// let mut got: Vec<i32> = rx.iter().collect();
/// got.sort();
/// assert_eq!(got, [1, 2]);
/// ```
pub struct Sender<T> {
    pub(super) chan: Arc<Chan<T>>,
    /// Where this handle's next send is likely to claim (bounded channels, array.rs [6]).
    pub(super) hint: Hint,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while a bounded channel is full. Fails, giving the value back,
    /// when the channel is closed or every receiver is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::channel::bounded(1);
    /// tx.send("hello").unwrap();
    /// assert_eq!(rx.recv(), Ok("hello"));
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.chan
            .send_until(value, None, &self.hint)
            .map_err(|e| SendError(e.into_inner()))
    }

    /// Sends `value` if there is room now. Lock-free on the bounded channel (see
    /// [`channel`](super)'s progress notes).
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::channel::{bounded, TrySendError};
    ///
    /// let (tx, _rx) = bounded(1);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// ```
    #[inline]
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(value, Some(&self.hint))
    }

    /// Sends `value`, waiting at most `timeout` for room.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::channel::{bounded, SendTimeoutError};
    /// use std::time::Duration;
    ///
    /// let (tx, _rx) = bounded(1);
    /// tx.send(1).unwrap();
    /// assert_eq!(
    ///     tx.send_timeout(2, Duration::from_millis(5)),
    ///     Err(SendTimeoutError::Timeout(2))
    /// );
    /// ```
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.send_deadline(value, deadline),
            None => self.chan.send_until(value, None, &self.hint),
        }
    }

    /// Sends `value`, waiting for room until `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let (tx, rx) = mqsync::channel::bounded(1);
    /// tx.send_deadline(1, Instant::now() + Duration::from_secs(1)).unwrap();
    /// assert_eq!(rx.recv(), Ok(1));
    /// ```
    pub fn send_deadline(&self, value: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.chan.send_until(value, Some(deadline), &self.hint)
    }

    /// A future that sends `value`, waiting (without blocking the thread) while a bounded
    /// channel is full. Runs on any executor. Dropping it before it completes sends nothing,
    /// except on a rendezvous channel (`bounded(0)`), where a receiver may have taken the value
    /// from the waiting future already (the future's last poll returned `Pending`, and then a
    /// receiver came).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::channel::bounded(1);
    /// futures::executor::block_on(tx.send_async(5)).unwrap();
    /// assert_eq!(rx.recv(), Ok(5));
    /// ```
    pub fn send_async(&self, value: T) -> SendFuture<'_, T> {
        SendFuture {
            sender: self,
            value: Some(value),
            registration: Registration::default(),
            rendezvous: Ticket::default(),
        }
    }

    /// Closes the channel: every later send fails; receivers still receive everything sent
    /// before, then see `Disconnected`. True if this call closed it.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::channel::unbounded();
    /// tx.send(1).unwrap();
    /// assert!(tx.close());
    /// assert!(!rx.close());
    /// assert!(tx.send(2).is_err());
    /// assert_eq!(rx.recv(), Ok(1));
    /// assert!(rx.recv().is_err());
    /// ```
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Whether the channel is closed (by `close`, or because every receiver is gone).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::channel::unbounded::<u8>();
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// The number of values queued at one moment of the call.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = mqsync::channel::unbounded();
    /// tx.send(1).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether nothing was queued at one moment of the call (other threads may send at once).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = mqsync::channel::unbounded::<u8>();
    /// assert!(tx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.chan.is_empty()
    }

    /// Whether a bounded channel was full at one moment of the call (never for unbounded).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = mqsync::channel::bounded(1);
    /// tx.send(1).unwrap();
    /// assert!(tx.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.chan.is_full()
    }

    /// The bound of a bounded channel; `None` for an unbounded one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mqsync::channel::bounded::<u8>(4).0.capacity(), Some(4));
    /// assert_eq!(mqsync::channel::unbounded::<u8>().0.capacity(), None);
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }

    /// Whether `self` and `other` send into the same channel.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = mqsync::channel::unbounded::<u8>();
    /// let (other, _) = mqsync::channel::unbounded::<u8>();
    /// assert!(tx.same_channel(&tx.clone()));
    /// assert!(!tx.same_channel(&other));
    /// ```
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Chan::<T>::acquire(&self.chan.senders);
        Sender {
            chan: Arc::clone(&self.chan),
            hint: Hint::default(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if Chan::<T>::release(&self.chan.senders) {
            self.chan.close();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The future of [`Sender::send_async`].
#[must_use = "futures do nothing unless polled"]
pub struct SendFuture<'a, T> {
    sender: &'a Sender<T>,
    /// The value until it is sent or given back (or, on a rendezvous channel, put on its list
    /// of waiting senders).
    value: Option<T>,
    registration: Registration,
    /// The wait on a rendezvous channel (`bounded(0)`), which has its own lists.
    rendezvous: Ticket,
}

// The value is never pinned: it is moved in and out by value, never borrowed across polls.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        poll_send(
            &this.sender.chan,
            &mut this.value,
            &mut this.registration,
            &mut this.rendezvous,
            cx,
        )
    }
}

/// One poll of an asynchronous send of `value` (shared by [`SendFuture`] and
/// [`SendSink`](super::SendSink)): `Ready(Ok)` once it is sent (`value` is then `None`),
/// `Ready(Err)` with the value when the channel is closed, `Pending` with the task registered
/// (and the value still in `value`, or on a rendezvous channel's list of waiting senders).
///
/// # Panics
///
/// If `value` is `None` on a channel that is not a rendezvous (nothing to send).
#[inline]
pub(super) fn poll_send<T>(
    chan: &Chan<T>,
    value: &mut Option<T>,
    registration: &mut Registration,
    rendezvous: &mut Ticket,
    cx: &mut Context<'_>,
) -> Poll<Result<(), SendError<T>>> {
    if let Some(zero) = chan.zero() {
        return zero
            .poll_send(rendezvous, value, cx, chan.recv_waiters())
            .map_err(SendError);
    }
    loop {
        let v = value
            .take()
            .expect("an asynchronous send polled after completion");
        // No guessed claim (array.rs [6], `Chan::try_send`).
        match chan.try_send(v, None) {
            Ok(()) => {
                registration.done(chan.send_waiters());
                return Poll::Ready(Ok(()));
            }
            Err(TrySendError::Disconnected(v)) => {
                registration.done(chan.send_waiters());
                return Poll::Ready(Err(SendError(v)));
            }
            Err(TrySendError::Full(v)) => *value = Some(v),
        }
        let ready = || !chan.is_full() || chan.is_closed();
        if !registration.wait(chan.send_waiters(), cx, ready) {
            return Poll::Pending;
        }
    }
}

/// Abandons an asynchronous send: leaves the waiting lists, passing on a wake-up it was given
/// (and, on a rendezvous channel, takes back a value no receiver took).
#[inline]
pub(super) fn cancel_send<T>(
    chan: &Chan<T>,
    registration: &mut Registration,
    rendezvous: &mut Ticket,
) {
    // A send that never waited (the common case: done at its first try) has nothing to undo,
    // which two flags of the future itself say.
    if registration.is_registered() || rendezvous.is_waiting() {
        withdraw_send(chan, registration, rendezvous);
    }
}

/// `cancel_send` for a future that waited: out of line, since most never do.
#[cold]
fn withdraw_send<T>(chan: &Chan<T>, registration: &mut Registration, rendezvous: &mut Ticket) {
    registration.cancel(chan.send_waiters());
    if let Some(zero) = chan.zero() {
        zero.cancel_send(rendezvous);
    }
}

impl<T> Drop for SendFuture<'_, T> {
    #[inline]
    fn drop(&mut self) {
        cancel_send(
            &self.sender.chan,
            &mut self.registration,
            &mut self.rendezvous,
        );
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture")
            .field("done", &self.value.is_none())
            .finish_non_exhaustive()
    }
}
