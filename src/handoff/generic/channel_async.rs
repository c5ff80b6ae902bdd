//! Async waiting for a [`channel`](super::channel())'s [`Receiver`]: `pop_async`, `poll_pop` and
//! the [`Stream`] impl. They use the same register → re-check → sleep protocol as the blocking
//! calls, with a waker instead of a parked thread (`handoff/signal.rs`).

use super::channel::{not_empty, ready, Receiver};
use super::error::PopError;
use crate::handoff::wait;
use crate::queue::Fifo;
use futures_core::Stream;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

impl<T, Q: Fifo<T>> Receiver<T, Q> {
    /// Pops asynchronously: resolves to `Ok(value)`, or to `Err(PopError::Closed)` once
    /// closed and drained. Works on any executor; dropping the future loses nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = mqsync::handoff::channel(mqsync::MsQueue::new());
    /// std::thread::spawn(move || tx.push(4).unwrap());
    /// assert_eq!(futures::executor::block_on(rx.pop_async()), Ok(4));
    /// ```
    pub fn pop_async(&mut self) -> ReceiverPop<'_, T, Q> {
        ReceiverPop { receiver: self }
    }

    /// The poll behind [`pop_async`](Self::pop_async) and the [`Stream`] impl: `Ready` with
    /// a value or `Err(Closed)`, never `Err(Empty)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = mqsync::handoff::channel(mqsync::MsQueue::new());
    /// tx.push(1).unwrap();
    /// let got = futures::executor::block_on(std::future::poll_fn(|cx| rx.poll_pop(cx)));
    /// assert_eq!(got, Ok(1));
    /// ```
    pub fn poll_pop(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, PopError>> {
        let mut chan = &*self.chan;
        let parks = chan.parks;
        wait::poll(
            &mut chan,
            &mut self.registration,
            cx,
            not_empty,
            parks,
            |chan| ready(chan.pop()),
        )
    }
}

/// The future of [`Receiver::pop_async`].
#[must_use = "futures do nothing unless polled"]
pub struct ReceiverPop<'a, T, Q: Fifo<T>> {
    receiver: &'a mut Receiver<T, Q>,
}

impl<T, Q: Fifo<T>> Future for ReceiverPop<'_, T, Q> {
    type Output = Result<T, PopError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().receiver.poll_pop(cx)
    }
}

impl<T, Q: Fifo<T>> Drop for ReceiverPop<'_, T, Q> {
    fn drop(&mut self) {
        let receiver = &mut *self.receiver;
        let chan = &*receiver.chan;
        wait::cancel(&chan, &mut receiver.registration, not_empty);
    }
}

impl<T, Q: Fifo<T>> fmt::Debug for ReceiverPop<'_, T, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverPop").finish_non_exhaustive()
    }
}

/// The receiver as a stream of values; it ends once the channel is closed and drained.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
///
/// let (tx, rx) = mqsync::handoff::channel(mqsync::RingBuffer::with_capacity(4));
/// std::thread::spawn(move || (0..10).for_each(|i| tx.push_blocking(i).unwrap()));
/// let all: Vec<i32> = futures::executor::block_on(rx.collect());
/// assert_eq!(all, (0..10).collect::<Vec<_>>());
/// ```
impl<T, Q: Fifo<T>> Stream for Receiver<T, Q> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_pop(cx).map(Result::ok)
    }
}
