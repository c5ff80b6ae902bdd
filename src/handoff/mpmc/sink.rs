//! The sending half as a futures [`Sink`](futures_sink::Sink).

use super::error::{SendError, TrySendError};
use super::registration::Registration;
use super::sender::{cancel_send, poll_send, Sender};
use super::zero::Ticket;
use futures_sink::Sink;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A [`Sender`] as a futures [`Sink`], from [`Sender::into_sink`] or [`Sender::sink`].
///
/// It holds at most one value in flight: `start_send` sends at once when there is room (a
/// receiver waiting, on a rendezvous channel), and otherwise keeps the value until
/// `poll_ready`, `poll_flush` or `poll_close` has sent it, waiting like
/// [`send_async`](Sender::send_async). So `poll_flush` returning `Ready(Ok)` means every value
/// given to the sink is in the channel (or, on a rendezvous channel, with a receiver).
/// `poll_close` flushes and does not close the channel: other senders may still send, and the
/// channel closes when the last sender (this sink's included) is dropped or `close` is called.
/// A value still in flight when the sink is dropped is dropped unsent, as with a dropped
/// `send_async` future (except on a rendezvous channel, where a receiver may have taken it from
/// the waiting sink already): flush first.
///
/// Errors give the value back: `start_send` when the channel is closed, `poll_ready` /
/// `poll_flush` / `poll_close` with the value in flight when the channel closed under it.
///
/// # Examples
///
/// ```
/// use futures::{SinkExt, StreamExt};
///
/// let (tx, rx) = mqsync::channel::bounded(2);
/// let mut sink = tx.into_sink();
/// futures::executor::block_on(async {
///     let mut values = futures::stream::iter(0..10).map(Ok);
///     let consumer = std::thread::spawn(move || rx.iter().sum::<i32>());
///     sink.send_all(&mut values).await.unwrap();
///     drop(sink); // the last sender: the channel closes and the consumer's iterator ends
///     assert_eq!(consumer.join().unwrap(), 45);
/// });
/// ```
pub struct SendSink<T> {
    sender: Sender<T>,
    /// The value in flight (not yet in the channel); on a rendezvous channel it may be on the
    /// channel's list of waiting senders instead, with `in_flight` still set.
    value: Option<T>,
    /// A value was given to `start_send` and is not known to be sent yet.
    in_flight: bool,
    registration: Registration,
    /// The wait on a rendezvous channel (`bounded(0)`), which has its own lists.
    rendezvous: Ticket,
}

impl<T> Sender<T> {
    /// This sender as a futures [`Sink`] (see [`SendSink`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::SinkExt;
    ///
    /// let (tx, rx) = mqsync::channel::unbounded();
    /// let mut sink = tx.into_sink();
    /// futures::executor::block_on(sink.send(7)).unwrap();
    /// assert_eq!(rx.recv(), Ok(7));
    /// ```
    pub fn into_sink(self) -> SendSink<T> {
        SendSink {
            sender: self,
            value: None,
            in_flight: false,
            registration: Registration::default(),
            rendezvous: Ticket::default(),
        }
    }

    /// A [`Sink`] over a clone of this sender (see [`SendSink`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::SinkExt;
    ///
    /// let (tx, rx) = mqsync::channel::unbounded();
    /// futures::executor::block_on(tx.sink().send(1)).unwrap();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
    /// ```
    pub fn sink(&self) -> SendSink<T> {
        self.clone().into_sink()
    }
}

impl<T> SendSink<T> {
    /// The sender under this sink.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = mqsync::channel::bounded::<u8>(4);
    /// assert_eq!(tx.into_sink().sender().capacity(), Some(4));
    /// ```
    pub fn sender(&self) -> &Sender<T> {
        &self.sender
    }

    /// Sends the value in flight, if any.
    fn poll_in_flight(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendError<T>>> {
        if !self.in_flight {
            return Poll::Ready(Ok(()));
        }
        let result = poll_send(
            &self.sender.chan,
            &mut self.value,
            &mut self.registration,
            &mut self.rendezvous,
            cx,
        );
        if result.is_ready() {
            self.in_flight = false;
        }
        result
    }
}

// The value is never pinned: it is moved in and out by value, never borrowed across polls.
impl<T> Unpin for SendSink<T> {}

impl<T> Sink<T> for SendSink<T> {
    type Error = SendError<T>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_in_flight(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        let this = self.get_mut();
        assert!(
            !this.in_flight,
            "SendSink::start_send without a Ready from poll_ready"
        );
        match this.sender.try_send(item) {
            Ok(()) => Ok(()),
            Err(TrySendError::Disconnected(item)) => Err(SendError(item)),
            Err(TrySendError::Full(item)) => {
                this.value = Some(item);
                this.in_flight = true;
                Ok(())
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_in_flight(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_in_flight(cx)
    }
}

impl<T> Drop for SendSink<T> {
    fn drop(&mut self) {
        cancel_send(
            &self.sender.chan,
            &mut self.registration,
            &mut self.rendezvous,
        );
    }
}

impl<T> fmt::Debug for SendSink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendSink")
            .field("sender", &self.sender)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}
