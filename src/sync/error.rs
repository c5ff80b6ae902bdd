//! How sinks fail: [`SinkError`] (typed, with the cause as its source), [`BoxError`] for causes
//! of your own, and [`error_chain`], the one-line wording of an error and its causes.

#[cfg(doc)]
use super::source::SourceError;

/// Any error, boxed: what a [`Sink`](super::Sink) or [`Source`](super::Source) of your own returns as the
/// cause of a failure ([`SinkError::batch`], [`SourceError::other`](super::SourceError::other)).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a sink could not apply some of a batch, and whether trying again may help.
///
/// The cause is kept as the error's [`source`](std::error::Error::source), so a caller can walk
/// the chain down to the I/O, SQLite or Redis error; the engine writes the whole chain, joined
/// with `": "`, into a dead letter's reason ([`error_chain`]).
///
/// Every failure is **retriable** or **fatal** ([`kind`](Self::kind)), as Kafka Connect tells a
/// retriable exception from the rest: the engine retries a retriable failure with backoff, and
/// dead-letters what failed fatally at once, with the reason, without retrying it. A fatal
/// whole-batch failure is still split in halves to find the change that causes it (the others
/// are applied); the change it comes down to is dead-lettered without a retry.
///
/// ```
/// use mqsync::sync::{error_chain, SinkError, SinkErrorKind};
/// use std::error::Error;
///
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "peer went away");
/// let err = SinkError::batch(io);
/// assert_eq!(err.to_string(), "peer went away");
/// assert!(matches!(err, SinkError::Batch(_)));
/// assert_eq!(err.kind(), SinkErrorKind::Retriable);
/// assert_eq!(error_chain(&SinkError::Panicked("boom".into())), "sink panicked: boom");
///
/// let bad = SinkError::fatal("column `total` must be a number");
/// assert!(!bad.is_retriable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// These items (indices into the batch) failed, with reasons meant for people; the others
    /// were applied. Retriable: the items are tried again.
    #[error("{} item(s) failed", .0.len())]
    Items(Vec<(usize, String)>),
    /// These items (indices into the batch) can never be applied (malformed, refused by a
    /// constraint), with reasons meant for people; the others were applied. Fatal: the items
    /// are dead-lettered at once.
    #[error("{} item(s) rejected", .0.len())]
    Rejected(Vec<(usize, String)>),
    /// The whole batch failed (nothing applied), e.g. a lost connection or a rolled-back
    /// transaction: the cause, as it was. Retriable.
    #[error(transparent)]
    Batch(BoxError),
    /// The whole batch failed (nothing applied) in a way that trying the same changes again
    /// cannot mend (a change the target refuses): the cause, as it was. Fatal.
    #[error(transparent)]
    Fatal(BoxError),
    /// The sink panicked while applying the batch (the engine caught it; nothing is assumed
    /// applied). The panic's message. Retriable.
    #[error("sink panicked: {0}")]
    Panicked(String),
    /// The SQLite transaction of a [`SqliteSink`](super::SqliteSink) batch failed and was
    /// rolled back. Fatal for a change SQLite refuses (a constraint, a type mismatch, a value
    /// too big), retriable otherwise (busy, locked, I/O, a full disk).
    #[cfg(feature = "sqlite")]
    #[error("SQLite transaction failed")]
    Sqlite(#[source] rusqlite::Error),
    /// The statement of a [`PostgresSink`](super::PostgresSink) batch failed (nothing of it
    /// committed, or, if the connection broke during the commit, perhaps all of it: a retry is
    /// harmless either way). Fatal for what PostgreSQL refuses again on a retry (SQLSTATE class 22,
    /// a data exception; 23, a constraint; 42, a syntax error or an undefined table; 54, a
    /// program limit such as an index row too large), retriable otherwise (a lost connection, a
    /// server shutting down, a serialization failure or deadlock).
    #[cfg(feature = "postgres")]
    #[error("PostgreSQL batch failed")]
    Postgres(#[source] postgres::Error),
    /// A [`RedisSink`](super::RedisSink) batch failed: the server refused it, or the connection
    /// stayed lost for the whole `retry_for`. Retriable (a refusal such as `OOM` or `LOADING`
    /// passes).
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
    /// A [`RabbitMqSink`](super::RabbitMqSink) batch failed: the broker nacked or returned
    /// messages, or the connection stayed lost for the whole `retry_for`. Retriable.
    #[cfg(feature = "rabbitmq")]
    #[error("rabbitmq publish to exchange {exchange:?} with routing key {routing_key:?} failed")]
    RabbitMq {
        /// The exchange (`""`: the default exchange).
        exchange: String,
        /// The routing key.
        routing_key: String,
        /// Why.
        #[source]
        source: super::RabbitMqError,
    },
}

/// Whether a [`SinkError`] is worth retrying ([`SinkError::kind`]).
///
/// ```
/// use mqsync::sync::{SinkError, SinkErrorKind};
/// assert_eq!(SinkError::Items(vec![(0, "busy".into())]).kind(), SinkErrorKind::Retriable);
/// assert_eq!(SinkError::Rejected(vec![(0, "bad".into())]).kind(), SinkErrorKind::Fatal);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SinkErrorKind {
    /// A transient failure (a lost connection, a busy database): the engine retries with
    /// backoff, up to [`RetryPolicy::attempts`](super::RetryPolicy::attempts).
    Retriable,
    /// Trying the same changes again cannot succeed: the engine dead-letters them at once.
    Fatal,
}

impl SinkError {
    /// A whole-batch failure caused by `cause`: any error, or a message (`&str`, `String`).
    /// Retriable.
    ///
    /// ```
    /// use mqsync::sync::SinkError;
    /// assert_eq!(SinkError::batch("connection reset").to_string(), "connection reset");
    /// ```
    pub fn batch(cause: impl Into<BoxError>) -> Self {
        SinkError::Batch(cause.into())
    }

    /// A whole-batch failure that retrying cannot mend, caused by `cause`: any error, or a
    /// message. Fatal.
    ///
    /// ```
    /// use mqsync::sync::{SinkError, SinkErrorKind};
    /// let err = SinkError::fatal("constraint violation");
    /// assert_eq!((err.to_string(), err.kind()), ("constraint violation".into(), SinkErrorKind::Fatal));
    /// ```
    pub fn fatal(cause: impl Into<BoxError>) -> Self {
        SinkError::Fatal(cause.into())
    }

    /// Whether the failure is worth retrying (see each variant).
    ///
    /// ```
    /// use mqsync::sync::{SinkError, SinkErrorKind};
    /// assert_eq!(SinkError::Panicked("boom".into()).kind(), SinkErrorKind::Retriable);
    /// ```
    pub fn kind(&self) -> SinkErrorKind {
        match self {
            SinkError::Rejected(_) | SinkError::Fatal(_) => SinkErrorKind::Fatal,
            #[cfg(feature = "sqlite")]
            SinkError::Sqlite(error) if sqlite_refused(error) => SinkErrorKind::Fatal,
            #[cfg(feature = "postgres")]
            SinkError::Postgres(error) if postgres_refused(error) => SinkErrorKind::Fatal,
            _ => SinkErrorKind::Retriable,
        }
    }

    /// True if [`kind`](Self::kind) is [`SinkErrorKind::Retriable`].
    ///
    /// ```
    /// assert!(mqsync::sync::SinkError::batch("timeout").is_retriable());
    /// ```
    pub fn is_retriable(&self) -> bool {
        self.kind() == SinkErrorKind::Retriable
    }
}

/// True for an SQLite failure that the same statement with the same values meets again: the
/// data is refused (a constraint, a type, a size) or the call is wrong. Busy and locked
/// databases, I/O errors, a full disk and the like may pass.
#[cfg(feature = "sqlite")]
fn sqlite_refused(error: &rusqlite::Error) -> bool {
    use rusqlite::ffi::ErrorCode;
    match error {
        rusqlite::Error::SqliteFailure(failure, _) => matches!(
            failure.code,
            ErrorCode::ConstraintViolation
                | ErrorCode::TypeMismatch
                | ErrorCode::TooBig
                | ErrorCode::ApiMisuse
                | ErrorCode::ParameterOutOfRange
        ),
        rusqlite::Error::ToSqlConversionFailure(_)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidParameterName(_)
        | rusqlite::Error::InvalidParameterCount(..) => true,
        _ => false,
    }
}

/// True for a PostgreSQL failure that the same statement with the same values meets again
/// (see [`sqlstate_refused`]). No server error at all (a lost connection) may pass.
#[cfg(feature = "postgres")]
fn postgres_refused(error: &postgres::Error) -> bool {
    error
        .code()
        .is_some_and(|code| sqlstate_refused(code.code()))
}

/// True for an SQLSTATE whose class the same statement with the same values meets again:
/// `22` (data exception: a value out of range, an invalid byte sequence), `23` (integrity
/// constraint violation), `42` (syntax error or access rule violation: an undefined table or
/// column, a missing privilege) and `54` (program limit exceeded: an index row or a statement
/// too large). Everything else (`57P01` admin shutdown; `40001`/`40P01` serialization failure
/// or deadlock; `53` insufficient resources such as a full disk; ...) may pass.
#[cfg(feature = "postgres")]
fn sqlstate_refused(code: &str) -> bool {
    matches!(code.get(..2), Some("22" | "23" | "42" | "54"))
}

#[cfg(all(test, feature = "postgres"))]
mod postgres_tests {
    use super::sqlstate_refused;

    #[test]
    fn postgres_refusals_are_fatal_and_contention_is_retriable() {
        // 22003 numeric out of range, 23505 unique violation, 42P01 undefined table,
        // 42601 syntax error, 54000 program limit exceeded (index row too large).
        for fatal in ["22003", "23505", "42P01", "42601", "54000"] {
            assert!(sqlstate_refused(fatal), "{fatal}");
        }
        // 40001 serialization failure, 40P01 deadlock, 57P01 admin shutdown, 53100 disk full,
        // 08006 connection failure.
        for retriable in ["40001", "40P01", "57P01", "53100", "08006"] {
            assert!(!sqlstate_refused(retriable), "{retriable}");
        }
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn failure(code: std::os::raw::c_int) -> SinkError {
        SinkError::Sqlite(rusqlite::Error::SqliteFailure(ffi::Error::new(code), None))
    }

    #[test]
    fn sqlite_refusals_are_fatal_and_contention_is_retriable() {
        assert_eq!(failure(ffi::SQLITE_CONSTRAINT).kind(), SinkErrorKind::Fatal);
        assert_eq!(failure(ffi::SQLITE_TOOBIG).kind(), SinkErrorKind::Fatal);
        assert_eq!(failure(ffi::SQLITE_BUSY).kind(), SinkErrorKind::Retriable);
        assert_eq!(failure(ffi::SQLITE_IOERR).kind(), SinkErrorKind::Retriable);
        assert_eq!(failure(ffi::SQLITE_FULL).kind(), SinkErrorKind::Retriable);
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
