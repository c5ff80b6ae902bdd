//! The channel's errors, shaped as crossbeam-channel's (and std's `mpsc`): every send error gives
//! the value back, and none of them needs `T: Debug` to print.

use std::fmt;

/// [`Sender::send`](super::Sender::send) failed: the channel is disconnected (every receiver is
/// gone) or closed. The value is inside.
///
/// # Examples
///
/// ```
/// let (tx, rx) = mqsync::channel::unbounded::<String>();
/// drop(rx);
/// let err = tx.send("lost?".to_string()).unwrap_err();
/// assert_eq!(err.into_inner(), "lost?");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// Takes the value back out of the error.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a disconnected channel")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// [`Sender::try_send`](super::Sender::try_send) failed. The value is inside.
///
/// # Examples
///
/// ```
/// use mqsync::channel::{bounded, TrySendError};
///
/// let (tx, rx) = bounded(1);
/// tx.try_send(1).unwrap();
/// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
/// drop(rx);
/// assert_eq!(tx.try_send(3), Err(TrySendError::Disconnected(3)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrySendError<T> {
    /// A bounded channel had no room.
    Full(T),
    /// Every receiver is gone, or the channel was closed.
    Disconnected(T),
}

impl<T> TrySendError<T> {
    /// Takes the value back out of the error.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(value) | TrySendError::Disconnected(value) => value,
        }
    }

    /// True for [`TrySendError::Full`].
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }

    /// True for [`TrySendError::Disconnected`].
    pub fn is_disconnected(&self) -> bool {
        matches!(self, TrySendError::Disconnected(_))
    }
}

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(err: SendError<T>) -> Self {
        TrySendError::Disconnected(err.0)
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Disconnected(_) => f.write_str("Disconnected(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("sending on a full channel"),
            TrySendError::Disconnected(_) => f.write_str("sending on a disconnected channel"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

/// [`Sender::send_timeout`](super::Sender::send_timeout) or
/// [`send_deadline`](super::Sender::send_deadline) failed. The value is inside.
///
/// # Examples
///
/// ```
/// use mqsync::channel::{bounded, SendTimeoutError};
/// use std::time::Duration;
///
/// let (tx, _rx) = bounded(1);
/// tx.send(1).unwrap();
/// let err = tx.send_timeout(2, Duration::from_millis(1)).unwrap_err();
/// assert_eq!(err, SendTimeoutError::Timeout(2));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendTimeoutError<T> {
    /// The channel was still full when the time was up.
    Timeout(T),
    /// Every receiver is gone, or the channel was closed.
    Disconnected(T),
}

impl<T> SendTimeoutError<T> {
    /// Takes the value back out of the error.
    pub fn into_inner(self) -> T {
        match self {
            SendTimeoutError::Timeout(value) | SendTimeoutError::Disconnected(value) => value,
        }
    }

    /// True for [`SendTimeoutError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, SendTimeoutError::Timeout(_))
    }

    /// True for [`SendTimeoutError::Disconnected`].
    pub fn is_disconnected(&self) -> bool {
        matches!(self, SendTimeoutError::Disconnected(_))
    }
}

impl<T> From<SendError<T>> for SendTimeoutError<T> {
    fn from(err: SendError<T>) -> Self {
        SendTimeoutError::Disconnected(err.0)
    }
}

impl<T> fmt::Debug for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            SendTimeoutError::Disconnected(_) => f.write_str("Disconnected(..)"),
        }
    }
}

impl<T> fmt::Display for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.write_str("timed out waiting on send operation"),
            SendTimeoutError::Disconnected(_) => f.write_str("sending on a disconnected channel"),
        }
    }
}

impl<T> std::error::Error for SendTimeoutError<T> {}

/// [`Receiver::recv`](super::Receiver::recv) failed: the channel is empty and disconnected
/// (every sender is gone, or it was closed, and everything sent before has been received).
///
/// # Examples
///
/// ```
/// let (tx, rx) = mqsync::channel::unbounded::<u8>();
/// tx.send(1).unwrap();
/// drop(tx);
/// assert_eq!(rx.recv(), Ok(1));
/// assert_eq!(rx.recv(), Err(mqsync::channel::RecvError));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("receiving on an empty and disconnected channel")
    }
}

impl std::error::Error for RecvError {}

/// [`Receiver::try_recv`](super::Receiver::try_recv) found nothing.
///
/// # Examples
///
/// ```
/// use mqsync::channel::{unbounded, TryRecvError};
///
/// let (tx, rx) = unbounded::<u8>();
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TryRecvError {
    /// Nothing is there now; more may come.
    Empty,
    /// Empty, and nothing more will come.
    Disconnected,
}

impl TryRecvError {
    /// True for [`TryRecvError::Empty`].
    pub fn is_empty(&self) -> bool {
        matches!(self, TryRecvError::Empty)
    }

    /// True for [`TryRecvError::Disconnected`].
    pub fn is_disconnected(&self) -> bool {
        matches!(self, TryRecvError::Disconnected)
    }
}

impl From<RecvError> for TryRecvError {
    fn from(_: RecvError) -> Self {
        TryRecvError::Disconnected
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("receiving on an empty channel"),
            TryRecvError::Disconnected => {
                f.write_str("receiving on an empty and disconnected channel")
            }
        }
    }
}

impl std::error::Error for TryRecvError {}

/// [`Receiver::recv_timeout`](super::Receiver::recv_timeout) or
/// [`recv_deadline`](super::Receiver::recv_deadline) found nothing in time.
///
/// # Examples
///
/// ```
/// use mqsync::channel::{unbounded, RecvTimeoutError};
/// use std::time::Duration;
///
/// let (_tx, rx) = unbounded::<u8>();
/// assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Err(RecvTimeoutError::Timeout));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecvTimeoutError {
    /// Still nothing when the time was up.
    Timeout,
    /// Empty, and nothing more will come.
    Disconnected,
}

impl RecvTimeoutError {
    /// True for [`RecvTimeoutError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, RecvTimeoutError::Timeout)
    }

    /// True for [`RecvTimeoutError::Disconnected`].
    pub fn is_disconnected(&self) -> bool {
        matches!(self, RecvTimeoutError::Disconnected)
    }
}

impl From<RecvError> for RecvTimeoutError {
    fn from(_: RecvError) -> Self {
        RecvTimeoutError::Disconnected
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("timed out waiting on receive operation"),
            RecvTimeoutError::Disconnected => {
                f.write_str("receiving on an empty and disconnected channel")
            }
        }
    }
}

impl std::error::Error for RecvTimeoutError {}

/// [`Select::try_select`](super::Select::try_select) found no receiver ready: every channel
/// was empty and open at its look.
///
/// # Examples
///
/// ```
/// use mqsync::channel::{unbounded, RecvError, Select, TrySelectError};
///
/// let (_tx, rx) = unbounded::<u8>();
/// let mut select = Select::new();
/// select.recv(&rx, |r: Result<u8, RecvError>| r);
/// assert_eq!(select.try_select().unwrap_err(), TrySelectError);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrySelectError;

impl fmt::Display for TrySelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no receiver of the select was ready")
    }
}

impl std::error::Error for TrySelectError {}

/// [`Select::select_timeout`](super::Select::select_timeout) or
/// [`select_deadline`](super::Select::select_deadline) found no receiver ready in time.
///
/// # Examples
///
/// ```
/// use mqsync::channel::{unbounded, RecvError, Select, SelectTimeoutError};
/// use std::time::Duration;
///
/// let (_tx, rx) = unbounded::<u8>();
/// let mut select = Select::new();
/// select.recv(&rx, |r: Result<u8, RecvError>| r);
/// let timed_out = select.select_timeout(Duration::from_millis(1));
/// assert_eq!(timed_out.unwrap_err(), SelectTimeoutError);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SelectTimeoutError;

impl fmt::Display for SelectTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out waiting on select")
    }
}

impl std::error::Error for SelectTimeoutError {}
