//! The error of a push into a full bounded queue.

use std::fmt;

/// A push found the queue full: the value is handed back, nothing is lost.
///
/// Prints as `Full(..)` whatever `T` is; `T: Debug` is not required.
///
/// # Examples
///
/// ```
/// use mqsync::queue::RingBuffer;
///
/// let q = RingBuffer::with_capacity(1);
/// q.push("first").unwrap();
/// let err = q.push("second").unwrap_err();
/// assert_eq!(err.to_string(), "queue is full");
/// assert_eq!(format!("{err:?}"), "Full(..)");
/// assert_eq!(err.into_inner(), "second");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Full<T>(pub T);

impl<T> Full<T> {
    /// Takes the value that could not be pushed back out of the error.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Full(..)")
    }
}

impl<T> fmt::Display for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is full")
    }
}

impl<T> std::error::Error for Full<T> {}
