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
    /// A durable queue's message is larger than its journal's record limit
    /// ([`JournalOptions::max_record_bytes`](crate::journal::JournalOptions::max_record_bytes),
    /// less the 30 bytes of the queue's own header). Feature `journal`.
    TooLarge(T),
    /// A durable queue's journal failed to write (a full disk, an I/O error): the queue can no
    /// longer make messages durable and refuses every publish;
    /// [`DeliveryQueue::journal_failure`](super::DeliveryQueue::journal_failure) says why.
    /// Feature `journal`.
    Storage(T),
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
            PublishError::Full(m)
            | PublishError::Closed(m)
            | PublishError::TooLarge(m)
            | PublishError::Storage(m) => m,
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
            PublishError::TooLarge(_) => f.write_str("TooLarge(..)"),
            PublishError::Storage(_) => f.write_str("Storage(..)"),
        }
    }
}

impl<T> fmt::Display for PublishError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::Full(_) => f.write_str("the priority lane is full"),
            PublishError::Closed(_) => f.write_str("the delivery queue is closed"),
            PublishError::TooLarge(_) => {
                f.write_str("the message is larger than the queue's journal accepts")
            }
            PublishError::Storage(_) => {
                f.write_str("the delivery queue's journal failed; it refuses publishes")
            }
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
