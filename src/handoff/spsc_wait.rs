//! Blocking, timed and async waiting for the two halves of an [`spsc`](super::spsc) ring.
//!
//! These are the only operations of the ring that wait (by design). They follow the ring's
//! [`WaitStrategy`](super::WaitStrategy) and the register → re-check → sleep protocol of
//! `signal.rs`: the consumer sleeps on `not_empty`, which every push and every close publishes
//! to; the producer sleeps on `not_full`, which every pop and every close publishes to.

use super::error::{PopError, PushError};
use super::signal::Signal;
use super::spsc_consumer::Consumer;
use super::spsc_producer::Producer;
use super::wait;
use std::time::{Duration, Instant};

fn not_empty<T>(consumer: &Consumer<T>) -> &Signal {
    &consumer.shared.not_empty
}

fn not_full<T>(producer: &Producer<T>) -> &Signal {
    &producer.shared.not_full
}

/// `None` while the pop should keep waiting.
fn ready<T>(popped: Result<T, PopError>) -> Option<Result<T, PopError>> {
    match popped {
        Err(PopError::Empty) => None,
        done => Some(done),
    }
}

impl<T> Producer<T> {
    /// Pushes `value`, waiting while the ring is full. Fails only with [`PushError::Closed`]
    /// (the ring was closed or the consumer dropped, before or while waiting).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = mqsync::handoff::spsc(1);
    /// tx.push(1).unwrap();
    /// let t = std::thread::spawn(move || tx.push_blocking(2)); // waits for room
    /// assert_eq!(rx.pop_blocking(), Ok(1));
    /// assert_eq!(rx.pop_blocking(), Ok(2));
    /// t.join().unwrap().unwrap();
    /// ```
    pub fn push_blocking(&mut self, value: T) -> Result<(), PushError<T>> {
        self.push_until(value, None)
    }

    /// Pushes `value`, waiting at most `timeout` for room. On timeout the value comes back in
    /// [`PushError::Full`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (mut tx, _rx) = mqsync::handoff::spsc(1);
    /// tx.push(1).unwrap();
    /// let err = tx.push_timeout(2, Duration::from_millis(10)).unwrap_err();
    /// assert!(err.is_full());
    /// ```
    pub fn push_timeout(&mut self, value: T, timeout: Duration) -> Result<(), PushError<T>> {
        self.push_until(value, Instant::now().checked_add(timeout))
    }

    /// Pushes `value`, waiting until `deadline` at the latest for room. On timeout the value
    /// comes back in [`PushError::Full`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    ///
    /// let (mut tx, _rx) = mqsync::handoff::spsc(1);
    /// tx.push_deadline(1, Instant::now()).unwrap(); // room: no wait at all
    /// assert!(tx.push_deadline(2, Instant::now()).is_err());
    /// ```
    pub fn push_deadline(&mut self, value: T, deadline: Instant) -> Result<(), PushError<T>> {
        self.push_until(value, Some(deadline))
    }

    fn push_until(&mut self, value: T, deadline: Option<Instant>) -> Result<(), PushError<T>> {
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
                Err(PushError::Full(back)) => {
                    value = Some(back);
                    None
                }
                done => Some(done),
            },
        );
        done.unwrap_or_else(|| Err(PushError::Full(value.take().expect("timed out holding it"))))
    }
}

impl<T> Consumer<T> {
    /// Pops the oldest value, waiting while the ring is empty. Fails only with
    /// [`PopError::Closed`], after every value accepted before the close has been popped.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::handoff::{spsc, PopError};
    ///
    /// let (mut tx, mut rx) = spsc(4);
    /// std::thread::spawn(move || tx.push(5).unwrap()); // then drops tx: closes
    /// assert_eq!(rx.pop_blocking(), Ok(5));
    /// assert_eq!(rx.pop_blocking(), Err(PopError::Closed));
    /// ```
    pub fn pop_blocking(&mut self) -> Result<T, PopError> {
        self.pop_until(None)
    }

    /// Pops the oldest value, waiting at most `timeout`. `Err(Empty)` when nothing came in
    /// time, `Err(Closed)` when closed and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::handoff::{spsc, PopError};
    /// use std::time::Duration;
    ///
    /// let (_tx, mut rx) = spsc::<u8>(4);
    /// assert_eq!(rx.pop_timeout(Duration::from_millis(5)), Err(PopError::Empty));
    /// ```
    pub fn pop_timeout(&mut self, timeout: Duration) -> Result<T, PopError> {
        self.pop_until(Instant::now().checked_add(timeout))
    }

    /// Pops the oldest value, waiting until `deadline` at the latest. `Err(Empty)` when nothing
    /// came in time, `Err(Closed)` when closed and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::handoff::spsc;
    /// use std::time::{Duration, Instant};
    ///
    /// let (mut tx, mut rx) = spsc(4);
    /// tx.push(1).unwrap();
    /// assert_eq!(rx.pop_deadline(Instant::now() + Duration::from_secs(1)), Ok(1));
    /// ```
    pub fn pop_deadline(&mut self, deadline: Instant) -> Result<T, PopError> {
        self.pop_until(Some(deadline))
    }

    fn pop_until(&mut self, deadline: Option<Instant>) -> Result<T, PopError> {
        let strategy = self.strategy;
        wait::block(self, not_empty, strategy, deadline, |consumer| {
            ready(consumer.pop())
        })
        .unwrap_or(Err(PopError::Empty))
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
        /// `Err(PopError::Closed)` once closed and drained. Works on any executor; with a
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
        /// hand-written futures: `Ready` with a value or `Err(Closed)`, never `Err(Empty)`.
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
        pub fn poll_pop(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, PopError>> {
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
        type Output = Result<T, PopError>;

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
