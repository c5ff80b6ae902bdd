//! The receiving half of a channel, its iterators, its future and its `Stream`.

use super::array::Hint;
use super::chan::Chan;
use super::error::{RecvError, RecvTimeoutError, TryRecvError};
use super::registration::Registration;
use super::zero::Ticket;
use crate::primitive::sync::Arc;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The receiving half of a [`bounded`](super::bounded) or [`unbounded`](super::unbounded)
/// channel. Clone it for more consumers (each value goes to exactly one of them); when the last
/// clone is dropped, the channel is closed, later sends fail, and the values still queued are
/// dropped at once.
///
/// It is also a [`Stream`](futures_core::Stream) (and a
/// [`FusedStream`](futures_core::stream::FusedStream)) that ends when the channel is closed and
/// drained. A `poll_next` that returns `Pending` keeps this receiver's place among the waiting
/// receivers until the stream is polled again or the receiver is dropped, so do not abandon a
/// pending `next()` and then wait on the same channel another way: the wake-up of a send may go
/// to the abandoned place (another receiver asleep in `recv` then sleeps on until the next
/// send or the close), and on a rendezvous channel the value itself is handed to it (it is
/// returned by the next `poll_next`, or passed on when the receiver is dropped: never lost).
/// The futures of [`recv_async`](Self::recv_async) leave their place when dropped.
///
/// `Receiver<T>` is `Send` and `Sync` when `T: Send`.
///
/// # Examples
///
/// ```
/// let (tx, rx) = mqsync::channel::unbounded();
/// for i in 0..3 {
///     tx.send(i).unwrap();
/// }
/// drop(tx);
/// assert_eq!(rx.iter().collect::<Vec<_>>(), [0, 1, 2]);
/// ```
pub struct Receiver<T> {
    pub(super) chan: Arc<Chan<T>>,
    /// Where this handle's next receive is likely to claim (bounded channels, array.rs [6]).
    pub(super) hint: Hint,
    /// The `Stream` impl's wait across polls.
    stream: Registration,
    /// The same on a rendezvous channel (`bounded(0)`), which has its own lists.
    stream_rendezvous: Ticket,
    /// The `Stream` returned `None`.
    terminated: bool,
}

impl<T> Receiver<T> {
    pub(super) fn new(chan: Arc<Chan<T>>) -> Self {
        Receiver {
            chan,
            hint: Hint::default(),
            stream: Registration::default(),
            stream_rendezvous: Ticket::default(),
            terminated: false,
        }
    }

    /// Receives the oldest value, waiting while the channel is empty. Fails only when the
    /// channel is closed (or every sender is gone) and everything sent before has been received.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::channel::bounded(1);
    /// std::thread::spawn(move || tx.send(7).unwrap());
    /// assert_eq!(rx.recv(), Ok(7));
    /// assert!(rx.recv().is_err()); // the sender is gone
    /// ```
    pub fn recv(&self) -> Result<T, RecvError> {
        self.chan
            .recv_until(None, &self.hint)
            .map_err(|_| RecvError)
    }

    /// Receives the oldest value if there is one now.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::channel::{unbounded, TryRecvError};
    ///
    /// let (tx, rx) = unbounded();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    #[inline]
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.try_recv(Some(&self.hint))
    }

    /// Receives, waiting at most `timeout` for a value.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::channel::{unbounded, RecvTimeoutError};
    /// use std::time::Duration;
    ///
    /// let (tx, rx) = unbounded::<u8>();
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
    /// drop(tx);
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(1)), Err(RecvTimeoutError::Disconnected));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.recv_deadline(deadline),
            None => self.chan.recv_until(None, &self.hint),
        }
    }

    /// Receives, waiting for a value until `deadline`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let (tx, rx) = mqsync::channel::unbounded();
    /// tx.send(3).unwrap();
    /// assert_eq!(rx.recv_deadline(Instant::now() + Duration::from_secs(1)), Ok(3));
    /// ```
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.chan.recv_until(Some(deadline), &self.hint)
    }

    /// Waits for at least one value, then moves up to `limit` values in all into `out` without
    /// waiting for more (tokio's `recv_many`). Returns how many it moved: 0 only when `limit` is
    /// 0, or when the channel is closed and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::channel::unbounded();
    /// for i in 0..5 {
    ///     tx.send(i).unwrap();
    /// }
    /// let mut out = Vec::new();
    /// assert_eq!(rx.recv_many(&mut out, 3), 3);
    /// assert_eq!(rx.recv_many(&mut out, 10), 2);
    /// assert_eq!(out, [0, 1, 2, 3, 4]);
    /// drop(tx);
    /// assert_eq!(rx.recv_many(&mut out, 10), 0);
    /// ```
    pub fn recv_many(&self, out: &mut Vec<T>, limit: usize) -> usize {
        if limit == 0 {
            return 0;
        }
        match self.recv() {
            Ok(first) => out.push(first),
            Err(RecvError) => return 0,
        }
        1 + self.take_ready(out, limit - 1)
    }

    /// Moves up to `limit` values that are there now into `out`.
    fn take_ready(&self, out: &mut Vec<T>, limit: usize) -> usize {
        let mut moved = 0;
        while moved < limit {
            match self.chan.try_recv(Some(&self.hint)) {
                Ok(value) => {
                    out.push(value);
                    moved += 1;
                }
                Err(_) => break,
            }
        }
        moved
    }

    /// A future that receives the oldest value, waiting (without blocking the thread) while the
    /// channel is empty. Runs on any executor. Dropping it before it completes takes nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::channel::unbounded();
    /// tx.send(9).unwrap();
    /// assert_eq!(futures::executor::block_on(rx.recv_async()), Ok(9));
    /// ```
    pub fn recv_async(&self) -> RecvFuture<'_, T> {
        RecvFuture {
            receiver: self,
            registration: Registration::default(),
            rendezvous: Ticket::default(),
        }
    }

    /// A future that waits (without blocking the thread) for at least one value, then moves up
    /// to `limit` values in all into `out` without waiting for more: the async form of
    /// [`recv_many`](Self::recv_many) (tokio's `recv_many`). Resolves to how many it moved: 0
    /// only when `limit` is 0, or when the channel is closed and drained. Dropping it before it
    /// completes takes nothing. Like any future, do not poll it after it has resolved (it would
    /// receive again into `out`).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::channel::bounded(8);
    /// for i in 0..5 {
    ///     tx.send(i).unwrap();
    /// }
    /// let mut out = Vec::new();
    /// let moved = futures::executor::block_on(rx.recv_many_async(&mut out, 3));
    /// assert_eq!((moved, out.as_slice()), (3, &[0, 1, 2][..]));
    /// drop(tx);
    /// assert_eq!(futures::executor::block_on(rx.recv_many_async(&mut out, 10)), 2);
    /// assert_eq!(futures::executor::block_on(rx.recv_many_async(&mut out, 10)), 0);
    /// ```
    pub fn recv_many_async<'a>(
        &'a self,
        out: &'a mut Vec<T>,
        limit: usize,
    ) -> RecvManyFuture<'a, T> {
        RecvManyFuture {
            receiver: self,
            out,
            limit,
            registration: Registration::default(),
            rendezvous: Ticket::default(),
        }
    }

    /// An iterator that receives until the channel is closed and drained (each `next` waits).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::channel::bounded(2);
    /// std::thread::spawn(move || (0..5).for_each(|i| tx.send(i).unwrap()));
    /// assert_eq!(rx.iter().sum::<i32>(), 10);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { receiver: self }
    }

    /// An iterator over the values there now; it never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::channel::unbounded();
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { receiver: self }
    }

    /// Closes the channel: every later send fails; receivers still receive everything sent
    /// before, then see `Disconnected`. True if this call closed it.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::channel::bounded(4);
    /// tx.send(1).unwrap();
    /// assert!(rx.close());
    /// assert!(tx.send(2).is_err());
    /// assert_eq!(rx.recv(), Ok(1));
    /// assert!(rx.recv().is_err());
    /// ```
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Whether the channel is closed (by `close`, or because every sender is gone). Values sent
    /// before may still be queued.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::channel::unbounded::<u8>();
    /// drop(tx);
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// The number of values queued at one moment of the call.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::channel::bounded(4);
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether nothing was queued at one moment of the call (other threads may send at once).
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = mqsync::channel::bounded::<u8>(4);
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.chan.is_empty()
    }

    /// Whether a bounded channel was full at one moment of the call (never for unbounded).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = mqsync::channel::bounded(1);
    /// tx.send(1).unwrap();
    /// assert!(rx.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.chan.is_full()
    }

    /// The bound of a bounded channel; `None` for an unbounded one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(mqsync::channel::bounded::<u8>(4).1.capacity(), Some(4));
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }

    /// Whether `self` and `other` receive from the same channel.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = mqsync::channel::unbounded::<u8>();
    /// assert!(rx.same_channel(&rx.clone()));
    /// ```
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        Chan::<T>::acquire(&self.chan.receivers);
        Receiver::new(Arc::clone(&self.chan))
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.stream.cancel(self.chan.recv_waiters());
        if let Some(zero) = self.chan.zero() {
            zero.cancel_recv(&mut self.stream_rendezvous, self.chan.recv_waiters());
        }
        if Chan::<T>::release(&self.chan.receivers) {
            self.chan.disconnect_receivers();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

// No field is pinned: values are moved out by value, never borrowed across polls.
impl<T> Unpin for Receiver<T> {}

impl<T> futures_core::Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        if this.terminated {
            return Poll::Ready(None);
        }
        poll_recv(
            &this.chan,
            &mut this.stream,
            &mut this.stream_rendezvous,
            cx,
        )
        .map(|received| {
            this.terminated = received.is_err();
            received.ok()
        })
    }
}

impl<T> futures_core::stream::FusedStream for Receiver<T> {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

/// The future of [`Receiver::recv_async`].
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, T> {
    receiver: &'a Receiver<T>,
    registration: Registration,
    /// The wait on a rendezvous channel (`bounded(0)`), which has its own lists.
    rendezvous: Ticket,
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Result<T, RecvError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        poll_recv(
            &this.receiver.chan,
            &mut this.registration,
            &mut this.rendezvous,
            cx,
        )
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    #[inline]
    fn drop(&mut self) {
        cancel_recv(
            &self.receiver.chan,
            &mut self.registration,
            &mut self.rendezvous,
        );
    }
}

/// One poll of an asynchronous receive (shared by [`RecvFuture`] and [`RecvManyFuture`]):
/// `Ready(Ok)` with the oldest value, `Ready(Err)` once the channel is closed and drained,
/// `Pending` with the task registered.
#[inline]
fn poll_recv<T>(
    chan: &Chan<T>,
    registration: &mut Registration,
    rendezvous: &mut Ticket,
    cx: &mut Context<'_>,
) -> Poll<Result<T, RecvError>> {
    if let Some(zero) = chan.zero() {
        return zero
            .poll_recv(rendezvous, cx)
            .map(|received| received.map_err(|()| RecvError));
    }
    loop {
        // No guessed claim (array.rs [6], `Chan::try_send`).
        match chan.try_recv(None) {
            Ok(value) => {
                registration.done(chan.recv_waiters());
                return Poll::Ready(Ok(value));
            }
            Err(TryRecvError::Disconnected) => {
                registration.done(chan.recv_waiters());
                return Poll::Ready(Err(RecvError));
            }
            Err(TryRecvError::Empty) => {}
        }
        let ready = || !chan.is_empty() || chan.is_closed();
        if !registration.wait(chan.recv_waiters(), cx, ready) {
            return Poll::Pending;
        }
    }
}

/// Abandons an asynchronous receive: leaves the waiting lists, passing on a wake-up (or, on a
/// rendezvous channel, a value) it was given and did not return.
#[inline]
fn cancel_recv<T>(chan: &Chan<T>, registration: &mut Registration, rendezvous: &mut Ticket) {
    // As for a send: a receive that never waited has nothing to undo.
    if registration.is_registered() || rendezvous.is_waiting() {
        withdraw_recv(chan, registration, rendezvous);
    }
}

/// `cancel_recv` for a future that waited: out of line, since most never do.
#[cold]
fn withdraw_recv<T>(chan: &Chan<T>, registration: &mut Registration, rendezvous: &mut Ticket) {
    registration.cancel(chan.recv_waiters());
    if let Some(zero) = chan.zero() {
        zero.cancel_recv(rendezvous, chan.recv_waiters());
    }
}

/// The future of [`Receiver::recv_many_async`].
#[must_use = "futures do nothing unless polled"]
pub struct RecvManyFuture<'a, T> {
    receiver: &'a Receiver<T>,
    out: &'a mut Vec<T>,
    limit: usize,
    registration: Registration,
    /// The wait on a rendezvous channel (`bounded(0)`), which has its own lists.
    rendezvous: Ticket,
}

impl<T> Future for RecvManyFuture<'_, T> {
    type Output = usize;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let this = self.get_mut();
        if this.limit == 0 {
            return Poll::Ready(0);
        }
        let chan = &this.receiver.chan;
        match poll_recv(chan, &mut this.registration, &mut this.rendezvous, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(RecvError)) => Poll::Ready(0),
            Poll::Ready(Ok(first)) => {
                this.out.push(first);
                Poll::Ready(1 + this.receiver.take_ready(this.out, this.limit - 1))
            }
        }
    }
}

impl<T> Drop for RecvManyFuture<'_, T> {
    fn drop(&mut self) {
        cancel_recv(
            &self.receiver.chan,
            &mut self.registration,
            &mut self.rendezvous,
        );
    }
}

impl<T> fmt::Debug for RecvManyFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvManyFuture")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFuture").finish_non_exhaustive()
    }
}

/// The blocking iterator of [`Receiver::iter`]: ends when the channel is closed and drained.
#[derive(Debug)]
pub struct Iter<'a, T> {
    receiver: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.receiver.recv().ok()
    }
}

/// The non-blocking iterator of [`Receiver::try_iter`]: ends at the first empty moment.
#[derive(Debug)]
pub struct TryIter<'a, T> {
    receiver: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.receiver.try_recv().ok()
    }
}

/// The owning blocking iterator of `Receiver`'s `IntoIterator`.
#[derive(Debug)]
pub struct IntoIter<T> {
    receiver: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.receiver.recv().ok()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        IntoIter { receiver: self }
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}
