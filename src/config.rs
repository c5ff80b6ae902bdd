//! [`ConfigError`]: the one error every builder's `build()` / `start()` returns.
//!
//! The crate's builders share one convention: setters are infallible and chain by value, and
//! one final call (`build()`, `start()`, `try_with_capacity`) checks everything at once and names
//! the field and the value it refused. This file is in the lock-free core, which has no
//! proc-macro dependencies, so `Display` and `Error` are written by hand.

use std::fmt;
use std::time::Duration;

/// A configuration a builder refused, naming the field and the value.
///
/// Returned by every builder's final call (`DeliveryBuilder::build`, `DataSyncBuilder::start`,
/// `RedisConfig::build`, ...) and by the `try_` constructors of the queues. No builder panics on a
/// bad value; the queues' `with_capacity(0)` panics as `std` and crossbeam do, and their
/// `try_with_capacity` returns this error instead.
///
/// Values that may carry credentials (a URL) are redacted before they are stored here.
///
/// ```
/// use mqsync::ConfigError;
///
/// let err = ConfigError::TooSmall { field: "capacity", value: 0, min: 1 };
/// assert_eq!(err.to_string(), "capacity must be at least 1, got 0");
/// assert_eq!(err.field(), "capacity");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A part the builder cannot do without was never given (a source, a sink, a stream name).
    Missing(&'static str),
    /// A number below its minimum (a capacity of 0, say).
    TooSmall {
        /// The setting, as its setter is named.
        field: &'static str,
        /// The value given.
        value: u64,
        /// The smallest value accepted.
        min: u64,
    },
    /// A number above its maximum.
    TooLarge {
        /// The setting, as its setter is named.
        field: &'static str,
        /// The value given.
        value: u64,
        /// The largest value accepted.
        max: u64,
    },
    /// A duration that is zero where time must pass, or too long to add to the current time.
    Duration {
        /// The setting, as its setter is named.
        field: &'static str,
        /// The value given.
        value: Duration,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A value refused for another reason (a malformed URL, an unknown table name).
    Invalid {
        /// The setting, as its setter is named.
        field: &'static str,
        /// The value given, with any password replaced by `***`.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// Two settings that cannot both hold.
    Conflict {
        /// The first setting.
        field: &'static str,
        /// The setting it conflicts with.
        other: &'static str,
        /// Why they conflict.
        reason: String,
    },
    /// The operating system refused a resource the builder needs (a thread, say).
    Os {
        /// What was being set up.
        what: &'static str,
        /// The operating system's error kind.
        kind: std::io::ErrorKind,
        /// The operating system's message.
        message: String,
    },
}

impl ConfigError {
    /// The setting this error is about, as its setter is named.
    ///
    /// ```
    /// use mqsync::ConfigError;
    /// assert_eq!(ConfigError::Missing("sink").field(), "sink");
    /// ```
    pub fn field(&self) -> &'static str {
        match self {
            ConfigError::Missing(field) => field,
            ConfigError::TooSmall { field, .. }
            | ConfigError::TooLarge { field, .. }
            | ConfigError::Duration { field, .. }
            | ConfigError::Invalid { field, .. }
            | ConfigError::Conflict { field, .. } => field,
            ConfigError::Os { what, .. } => what,
        }
    }

    /// An [`Os`](ConfigError::Os) error from an I/O error met while setting up `what`.
    ///
    /// ```
    /// use mqsync::ConfigError;
    /// let err = ConfigError::os("worker thread", &std::io::Error::other("no threads left"));
    /// assert_eq!(err.to_string(), "could not set up worker thread: no threads left");
    /// ```
    pub fn os(what: &'static str, err: &std::io::Error) -> Self {
        ConfigError::Os {
            what,
            kind: err.kind(),
            message: err.to_string(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Missing(field) => write!(f, "{field} is required"),
            ConfigError::TooSmall { field, value, min } => {
                write!(f, "{field} must be at least {min}, got {value}")
            }
            ConfigError::TooLarge { field, value, max } => {
                write!(f, "{field} must be at most {max}, got {value}")
            }
            ConfigError::Duration {
                field,
                value,
                reason,
            } => write!(f, "{field} = {value:?} is refused: {reason}"),
            ConfigError::Invalid {
                field,
                value,
                reason,
            } => write!(f, "{field} = {value:?} is invalid: {reason}"),
            ConfigError::Conflict {
                field,
                other,
                reason,
            } => write!(f, "{field} conflicts with {other}: {reason}"),
            ConfigError::Os { what, message, .. } => {
                write!(f, "could not set up {what}: {message}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::ConfigError;
    use std::time::Duration;

    #[test]
    fn every_variant_names_its_field_and_value() {
        let cases = [
            (ConfigError::Missing("source"), "source", "source is required"),
            (
                ConfigError::TooLarge { field: "priorities", value: 300, max: 255 },
                "priorities",
                "priorities must be at most 255, got 300",
            ),
            (
                ConfigError::Duration {
                    field: "linger",
                    value: Duration::MAX,
                    reason: "too long to add to the current time",
                },
                "linger",
                "linger = 18446744073709551615.999999999s is refused: too long to add to the current time",
            ),
            (
                ConfigError::Invalid {
                    field: "url",
                    value: "redis://:***@host".into(),
                    reason: "bad port".into(),
                },
                "url",
                "url = \"redis://:***@host\" is invalid: bad port",
            ),
            (
                ConfigError::Conflict {
                    field: "dead_letter_stream",
                    other: "stream",
                    reason: "they are the same stream".into(),
                },
                "dead_letter_stream",
                "dead_letter_stream conflicts with stream: they are the same stream",
            ),
        ];
        for (err, field, text) in cases {
            assert_eq!(err.field(), field);
            assert_eq!(err.to_string(), text);
        }
    }
}
