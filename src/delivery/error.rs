//! The errors of publishing and receiving.

use std::fmt;

/// A publish that did not happen; the message is handed back either way.
///
/// Non-exhaustive: a `match` needs a `_` arm; [`into_inner`](Self::into_inner) gives the message
/// back whatever the variant. `Debug` prints `Full(..)`, so `T` need not be `Debug`. It wraps no
/// other error (`source()` is `None`).
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishError<T> {
    /// The priority's lane is bounded and full.
    Full(T),
    /// The queue was closed.
    Closed(T),
}

impl<T> PublishError<T> {
    /// Takes the message back out of the error.
    ///
    /// ```
    /// use mqsync::delivery::DeliveryQueue;
    ///
    /// let q = DeliveryQueue::builder().bounded(1).build().unwrap();
    /// q.publish(1).unwrap();
    /// assert_eq!(q.publish(2).unwrap_err().into_inner(), 2);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PublishError::Full(m) | PublishError::Closed(m) => m,
        }
    }

    /// True if the lane was full (as opposed to the queue closed).
    pub fn is_full(&self) -> bool {
        matches!(self, PublishError::Full(_))
    }
}

impl<T> fmt::Debug for PublishError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::Full(_) => f.write_str("Full(..)"),
            PublishError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for PublishError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::Full(_) => f.write_str("the priority lane is full"),
            PublishError::Closed(_) => f.write_str("the delivery queue is closed"),
        }
    }
}

impl<T> std::error::Error for PublishError<T> {}

/// Why a non-blocking receive returned nothing.
///
/// Non-exhaustive: a `match` needs a `_` arm.
///
/// ```
/// use mqsync::delivery::{DeliveryQueue, TryReceiveError};
/// let q = DeliveryQueue::<u8>::builder().build().unwrap();
/// let err = q.consumer().try_receive().unwrap_err();
/// assert_eq!(err, TryReceiveError::Empty);
/// assert_eq!(err.to_string(), "no message is ready");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryReceiveError {
    /// No message is ready right now.
    Empty,
    /// This consumer holds as many unsettled deliveries as its prefetch limit allows.
    PrefetchLimit,
    /// The queue is closed and has nothing left to deliver (no ready and no unacked messages).
    Closed,
}

impl fmt::Display for TryReceiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryReceiveError::Empty => "no message is ready",
            TryReceiveError::PrefetchLimit => "the consumer is at its prefetch limit",
            TryReceiveError::Closed => "the delivery queue is closed and drained",
        })
    }
}

impl std::error::Error for TryReceiveError {}

/// Why a blocking receive returned nothing.
///
/// Non-exhaustive: a `match` needs a `_` arm.
///
/// ```
/// use mqsync::delivery::{DeliveryQueue, ReceiveError};
/// let q = DeliveryQueue::<u8>::builder().build().unwrap();
/// q.close();
/// assert_eq!(q.consumer().receive().unwrap_err(), ReceiveError::Closed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiveError {
    /// The timeout or deadline passed first.
    Timeout,
    /// The queue is closed and has nothing left to deliver.
    Closed,
}

impl fmt::Display for ReceiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReceiveError::Timeout => "timed out waiting for a delivery",
            ReceiveError::Closed => "the delivery queue is closed and drained",
        })
    }
}

impl std::error::Error for ReceiveError {}
