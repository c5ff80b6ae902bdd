//! The errors of the deprecated generic channel ([`channel`](crate::handoff::channel())): [`PushError`]
//! gives the value back, [`PopError`] says why nothing came out. The SPSC ring reports with the
//! channel's error types instead ([`TrySendError`](crate::handoff::TrySendError) and the rest).

use std::fmt;

/// A push was refused; the value is handed back, nothing is lost.
///
/// * `Full(value)`: a bounded queue had no free slot (for the timed pushes: it still had none
///   when the deadline passed).
/// * `Closed(value)`: the queue was closed, or every consumer is gone; no push will succeed again.
///
/// Prints as `Full(..)` / `Closed(..)` whatever `T` is; `T: Debug` is not required.
///
/// # Examples
///
/// ```
/// # #![allow(deprecated)]
/// use mqsync::handoff::{channel, PushError};
/// use mqsync::RingBuffer;
///
/// let (tx, rx) = channel(RingBuffer::<&str>::with_capacity(1));
/// tx.push("first").unwrap();
/// let err = tx.push("second").unwrap_err();
/// assert!(err.is_full());
/// assert_eq!(format!("{err:?}"), "Full(..)");
/// assert_eq!(err.into_inner(), "second");
///
/// rx.close();
/// let err = tx.push("third").unwrap_err();
/// assert_eq!(err.to_string(), "queue is closed");
/// assert!(matches!(err, PushError::Closed("third")));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushError<T> {
    /// No free slot; the value is inside.
    Full(T),
    /// The queue is closed; the value is inside.
    Closed(T),
}

impl<T> PushError<T> {
    /// Takes the value that could not be pushed back out of the error.
    pub fn into_inner(self) -> T {
        match self {
            PushError::Full(value) | PushError::Closed(value) => value,
        }
    }

    /// True for [`PushError::Full`].
    pub fn is_full(&self) -> bool {
        matches!(self, PushError::Full(_))
    }

    /// True for [`PushError::Closed`].
    pub fn is_closed(&self) -> bool {
        matches!(self, PushError::Closed(_))
    }
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Full(_) => f.write_str("Full(..)"),
            PushError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Full(_) => f.write_str("queue is full"),
            PushError::Closed(_) => f.write_str("queue is closed"),
        }
    }
}

impl<T> std::error::Error for PushError<T> {}

/// Why a pop returned no value.
///
/// * `Empty`: nothing was there (for the timed pops: still nothing when the deadline passed).
///   More may come.
/// * `Closed`: the queue is closed and drained: every value accepted before the close has
///   already been popped, and no more will come.
///
/// # Examples
///
/// ```
/// # #![allow(deprecated)]
/// use mqsync::handoff::{channel, PopError};
/// use mqsync::RingBuffer;
///
/// let (tx, rx) = channel(RingBuffer::<u8>::with_capacity(4));
/// assert_eq!(rx.pop(), Err(PopError::Empty));
/// tx.push(1).unwrap();
/// drop(tx); // closes
/// assert_eq!(rx.pop(), Ok(1)); // drained first ...
/// assert_eq!(rx.pop(), Err(PopError::Closed)); // ... then closed
/// assert_eq!(PopError::Closed.to_string(), "queue is closed and empty");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PopError {
    /// Nothing to pop now (or by the deadline).
    Empty,
    /// Closed, and everything accepted has been popped.
    Closed,
}

impl fmt::Display for PopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PopError::Empty => f.write_str("queue is empty"),
            PopError::Closed => f.write_str("queue is closed and empty"),
        }
    }
}

impl std::error::Error for PopError {}
