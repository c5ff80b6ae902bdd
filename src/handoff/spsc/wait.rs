//! Blocking, timed and async waiting for the two halves of an [`spsc`](super::spsc()) ring.
//!
//! These are the only operations of the ring that wait (by design). They follow the ring's
//! [`WaitStrategy`](crate::handoff::WaitStrategy) and the register → re-check → sleep protocol of
//! `handoff/signal.rs`: the consumer sleeps on `not_empty`, which every push and every close publishes
//! to; the producer sleeps on `not_full`, which every pop and every close publishes to.

use super::consumer::Consumer;
use super::producer::Producer;
use crate::handoff::mpmc::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
use crate::handoff::signal::Signal;
use crate::handoff::wait;
use std::time::{Duration, Instant};

fn not_empty<T>(consumer: &Consumer<T>) -> &Signal {
    &consumer.shared.not_empty
}

fn not_full<T>(producer: &Producer<T>) -> &Signal {
    &producer.shared.not_full
}

/// `None` while the pop should keep waiting (the ring is empty but not closed and drained).
fn ready<T>(popped: Result<T, TryRecvError>) -> Option<Result<T, RecvError>> {
    match popped {
        Ok(value) => Some(Ok(value)),
        Err(TryRecvError::Empty) => None,
        Err(TryRecvError::Disconnected) => Some(Err(RecvError)),
    }
}

impl<T> Producer<T> {
    /// Pushes `value`, waiting while the ring is full. Fails only when the ring was closed or
    /// the consumer dropped (before or while waiting); the value comes back in the
    /// [`SendError`].
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::handoff::{spsc, SendError};
    ///
    /// let (mut tx, mut rx) = spsc(1);
    /// tx.push(1).unwrap();
    /// let t = std::thread::spawn(move || {
    ///     tx.push_blocking(2).unwrap(); // waits for room
    ///     tx
    /// });
    /// assert_eq!(rx.pop_blocking(), Ok(1));
    /// assert_eq!(rx.pop_blocking(), Ok(2));
    /// let mut tx = t.join().unwrap();
    /// drop(rx);
    /// assert_eq!(tx.push_blocking(3), Err(SendError(3)));
    /// ```
    pub fn push_blocking(&mut self, value: T) -> Result<(), SendError<T>> {
        // Without a deadline the wait ends only on success or disconnection, never a timeout.
        self.push_until(value, None).map_err(|err| {
            debug_assert!(err.is_disconnected(), "an untimed push timed out");
            SendError(err.into_inner())
        })
    }

    /// Pushes `value`, waiting at most `timeout` for room. When the ring is still full at the
    /// end, the value comes back in [`SendTimeoutError::Timeout`]; when it was closed or the
    /// consumer dropped, in [`SendTimeoutError::Disconnected`].
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::handoff::{spsc, SendTimeoutError};
    /// use std::time::Duration;
    ///
    /// let (mut tx, _rx) = spsc(1);
    /// tx.push(1).unwrap();
    /// let err = tx.push_timeout(2, Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(err, SendTimeoutError::Timeout(2));
    /// ```
    pub fn push_timeout(&mut self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.push_until(value, Instant::now().checked_add(timeout))
    }

    /// Pushes `value`, waiting until `deadline` at the latest for room. Fails as
    /// [`push_timeout`](Self::push_timeout) does.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::handoff::spsc;
    /// use std::time::Instant;
    ///
    /// let (mut tx, _rx) = spsc(1);
    /// tx.push_deadline(1, Instant::now()).unwrap(); // room: no wait at all
    /// assert!(tx.push_deadline(2, Instant::now()).unwrap_err().is_timeout());
    /// ```
    pub fn push_deadline(
        &mut self,
        value: T,
        deadline: Instant,
    ) -> Result<(), SendTimeoutError<T>> {
        self.push_until(value, Some(deadline))
    }

    fn push_until(
        &mut self,
        value: T,
        deadline: Option<Instant>,
    ) -> Result<(), SendTimeoutError<T>> {
        let mut value = Some(value);
        let strategy = self.strategy;
        let done = wait::block(
            self,
            not_full,
            strategy,
            deadline,
            |producer| match producer
                .push(value.take().expect("the value is put back after every try"))
            {
                Ok(()) => Some(Ok(())),
                Err(TrySendError::Full(back)) => {
                    value = Some(back);
                    None
                }
                Err(TrySendError::Disconnected(back)) => {
                    Some(Err(SendTimeoutError::Disconnected(back)))
                }
            },
        );
        done.unwrap_or_else(|| {
            Err(SendTimeoutError::Timeout(
                value.take().expect("timed out holding it"),
            ))
        })
    }
}

impl<T> Consumer<T> {
    /// Pops the oldest value, waiting while the ring is empty. Fails with [`RecvError`] only
    /// when the ring is closed (or the producer dropped) and every value accepted before has
    /// been popped.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::handoff::{spsc, RecvError};
    ///
    /// let (mut tx, mut rx) = spsc(4);
    /// std::thread::spawn(move || tx.push(5).unwrap()); // then drops tx: closes
    /// assert_eq!(rx.pop_blocking(), Ok(5));
    /// assert_eq!(rx.pop_blocking(), Err(RecvError));
    /// ```
    pub fn pop_blocking(&mut self) -> Result<T, RecvError> {
        // Without a deadline the wait ends only with a value or disconnection, never a timeout.
        self.pop_until(None).map_err(|err| {
            debug_assert!(err.is_disconnected(), "an untimed pop timed out");
            RecvError
        })
    }

    /// Pops the oldest value, waiting at most `timeout`. [`RecvTimeoutError::Timeout`] when
    /// nothing came in time, [`RecvTimeoutError::Disconnected`] when closed and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::handoff::{spsc, RecvTimeoutError};
    /// use std::time::Duration;
    ///
    /// let (tx, mut rx) = spsc::<u8>(4);
    /// assert_eq!(rx.pop_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
    /// drop(tx);
    /// assert_eq!(rx.pop_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Disconnected));
    /// ```
    pub fn pop_timeout(&mut self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.pop_until(Instant::now().checked_add(timeout))
    }

    /// Pops the oldest value, waiting until `deadline` at the latest. Fails as
    /// [`pop_timeout`](Self::pop_timeout) does.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::handoff::{spsc, RecvTimeoutError};
    /// use std::time::{Duration, Instant};
    ///
    /// let (mut tx, mut rx) = spsc(4);
    /// tx.push(1).unwrap();
    /// assert_eq!(rx.pop_deadline(Instant::now() + Duration::from_secs(1)), Ok(1));
    /// assert_eq!(rx.pop_deadline(Instant::now()), Err(RecvTimeoutError::Timeout));
    /// ```
    pub fn pop_deadline(&mut self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.pop_until(Some(deadline))
    }

    fn pop_until(&mut self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let strategy = self.strategy;
        match wait::block(self, not_empty, strategy, deadline, |consumer| {
            ready(consumer.pop())
        }) {
            Some(popped) => popped.map_err(RecvTimeoutError::from),
            None => Err(RecvTimeoutError::Timeout),
        }
    }
}

#[cfg(not(mqsync_loom))]
mod not_loom {
    use super::*;
    use futures_core::Stream;
    use std::fmt;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    impl<T> Consumer<T> {
        /// Pops the oldest value asynchronously: resolves to `Ok(value)`, or to
        /// `Err(RecvError)` once closed and drained. Works on any executor; with a
        /// non-parking strategy the future re-polls itself instead of sleeping.
        ///
        /// Dropping the future before it resolves loses nothing.
        ///
        /// # Examples
        ///
        /// ```
        /// let (mut tx, mut rx) = mqsync::handoff::spsc(4);
        /// std::thread::spawn(move || tx.push(9).unwrap());
        /// assert_eq!(futures::executor::block_on(rx.pop_async()), Ok(9));
        /// ```
        pub fn pop_async(&mut self) -> ConsumerPop<'_, T> {
            ConsumerPop { consumer: self }
        }

        /// The poll behind [`pop_async`](Self::pop_async) and the [`Stream`] impl, for
        /// hand-written futures: `Ready` with a value, or with `Err(RecvError)` once the ring is
        /// closed and drained.
        ///
        /// # Examples
        ///
        /// ```
        /// use std::future::poll_fn;
        ///
        /// let (mut tx, mut rx) = mqsync::handoff::spsc(4);
        /// tx.push('z').unwrap();
        /// let got = futures::executor::block_on(poll_fn(|cx| rx.poll_pop(cx)));
        /// assert_eq!(got, Ok('z'));
        /// ```
        pub fn poll_pop(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
            let mut registration = self.registration.take();
            let parks = self.strategy.parks();
            let poll = wait::poll(self, &mut registration, cx, not_empty, parks, |c| {
                ready(c.pop())
            });
            self.registration = registration;
            poll
        }
    }

    /// The future of [`Consumer::pop_async`].
    #[must_use = "futures do nothing unless polled"]
    pub struct ConsumerPop<'a, T> {
        consumer: &'a mut Consumer<T>,
    }

    impl<T> Future for ConsumerPop<'_, T> {
        type Output = Result<T, RecvError>;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            self.get_mut().consumer.poll_pop(cx)
        }
    }

    impl<T> Drop for ConsumerPop<'_, T> {
        fn drop(&mut self) {
            let mut registration = self.consumer.registration.take();
            wait::cancel(&*self.consumer, &mut registration, not_empty);
        }
    }

    impl<T> fmt::Debug for ConsumerPop<'_, T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("ConsumerPop").finish_non_exhaustive()
        }
    }

    /// The consumer as a stream of values; it ends once the ring is closed and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    ///
    /// let (mut tx, rx) = mqsync::handoff::spsc(4);
    /// std::thread::spawn(move || (0..10).for_each(|i| tx.push_blocking(i).unwrap()));
    /// let all: Vec<i32> = futures::executor::block_on(rx.collect());
    /// assert_eq!(all, (0..10).collect::<Vec<_>>());
    /// ```
    impl<T> Stream for Consumer<T> {
        type Item = T;

        fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.get_mut().poll_pop(cx).map(Result::ok)
        }

        fn size_hint(&self) -> (usize, Option<usize>) {
            (self.len(), None)
        }
    }
}

#[cfg(not(mqsync_loom))]
pub use not_loom::ConsumerPop;
