//! How sinks fail: [`SinkError`] (typed, with the cause as its source), [`BoxError`] for causes
//! of your own, and [`error_chain`], the one-line wording of an error and its causes.

#[cfg(doc)]
use super::source::SourceError;

/// Any error, boxed: what a [`Sink`] or [`Source`](super::Source) of your own returns as the
/// cause of a failure ([`SinkError::batch`], [`SourceError::other`](super::SourceError::other)).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a sink could not apply some of a batch.
///
/// The cause is kept as the error's [`source`](std::error::Error::source), so a caller can walk
/// the chain down to the I/O, SQLite or Redis error; the engine writes the whole chain, joined
/// with `": "`, into a dead letter's reason ([`error_chain`]).
///
/// ```
/// use mqsync::sync::{error_chain, SinkError};
/// use std::error::Error;
///
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "peer went away");
/// let err = SinkError::batch(io);
/// assert_eq!(err.to_string(), "peer went away");
/// assert!(matches!(err, SinkError::Batch(_)));
/// assert_eq!(error_chain(&SinkError::Panicked("boom".into())), "sink panicked: boom");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// These items (indices into the batch) failed, with reasons meant for people; the others
    /// were applied.
    #[error("{} item(s) failed", .0.len())]
    Items(Vec<(usize, String)>),
    /// The whole batch failed (nothing applied), e.g. a lost connection or a rolled-back
    /// transaction: the cause, as it was.
    #[error(transparent)]
    Batch(BoxError),
    /// The sink panicked while applying the batch (the engine caught it; nothing is assumed
    /// applied). The panic's message.
    #[error("sink panicked: {0}")]
    Panicked(String),
    /// The SQLite transaction of a [`SqliteSink`](super::SqliteSink) batch failed and was
    /// rolled back.
    #[cfg(feature = "sqlite")]
    #[error("SQLite transaction failed")]
    Sqlite(#[source] rusqlite::Error),
    /// A [`RedisSink`](super::RedisSink) batch failed: the server refused it, or the connection
    /// stayed lost for the whole `retry_for`.
    #[cfg(feature = "redis")]
    #[error("redis {command} to {stream:?} failed")]
    Redis {
        /// The command (`XADD`).
        command: &'static str,
        /// The stream key.
        stream: String,
        /// What the client said.
        #[source]
        source: redis::RedisError,
    },
}

impl SinkError {
    /// A whole-batch failure caused by `cause`: any error, or a message (`&str`, `String`).
    ///
    /// ```
    /// use mqsync::sync::SinkError;
    /// assert_eq!(SinkError::batch("constraint violation").to_string(), "constraint violation");
    /// ```
    pub fn batch(cause: impl Into<BoxError>) -> Self {
        SinkError::Batch(cause.into())
    }
}

/// An error and its [`source`](std::error::Error::source) chain as one line, joined with `": "`:
/// how the engine words a dead letter's reason and a [`SyncEvent::SourceError`](super::SyncEvent).
///
/// ```
/// use mqsync::sync::{error_chain, SourceError};
///
/// let err = SourceError::other("disk on fire");
/// assert_eq!(error_chain(&err), "disk on fire");
/// ```
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let part = cause.to_string();
        // A transparent wrapper may repeat its cause's text; say it once.
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = cause.source();
    }
    text
}
