//! Sinks, and delivering a batch to one with retries, poison isolation and panic safety.

use super::change::Change;
#[cfg(doc)]
use super::source::SourceError;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

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

/// A target that applies batches of changes. Implementations must be idempotent per change
/// (applying a change again, or an older version, leaves the target unchanged): the engine
/// delivers at least once. The engine's workers call `apply` concurrently (each with the
/// changes of different keys), so a sink is `Sync` and handles its own locking.
///
/// ```
/// use mqsync::sync::{Change, Sink, SinkError};
///
/// struct Log(std::sync::Mutex<Vec<String>>);
/// impl Sink for Log {
///     fn name(&self) -> &str { "log" }
///     fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
///         self.0.lock().unwrap().extend(batch.iter().map(|c| c.id.clone()));
///         Ok(())
///     }
/// }
/// let log = Log(Default::default());
/// log.apply(&[Change::delete("k", 1)]).unwrap();
/// assert_eq!(*log.0.lock().unwrap(), ["k@1"]);
/// ```
pub trait Sink: Send + Sync {
    /// A name for reports and dead letters.
    fn name(&self) -> &str;

    /// Applies `batch` in order. On error, says which items failed (the rest must have been
    /// applied) or that the whole batch failed (none applied).
    fn apply(&self, batch: &[Change]) -> Result<(), SinkError>;

    /// Applies `batch` in order, owning the changes: a sink that keeps them (an in-memory
    /// target, a buffer it sends later) takes them out of `batch` instead of copying them.
    ///
    /// The engine calls this instead of [`apply`](Self::apply) when nothing after the sink needs
    /// the batch: for its last sink, when no observer listens and no earlier sink gave up on a
    /// change of the batch. The default lends the batch to `apply` and, once applied, moves it
    /// into `spent`.
    ///
    /// The contract, so that a failure or a panic loses nothing:
    ///
    /// * Take changes from the front of `batch` ([`Iterator::next`]) only as you apply them.
    /// * `Ok(())`: the whole batch is applied, whether or not you took every change.
    /// * `Err` or a panic: the changes taken count as applied; those still in `batch` as not
    ///   applied, and the engine retries them as it retries a failed [`apply`](Self::apply) (an
    ///   [`SinkError::Items`] index counts from the first change still in `batch`).
    /// * `spent` takes what you took and no longer need (a change you applied by copying, or
    ///   what is left of one after you moved its key or value out): the engine drops it away
    ///   from the worker thread, so that freeing memory stays off the apply path. Dropping it
    ///   yourself is correct too, only slower for the engine.
    ///
    /// ```
    /// use mqsync::sync::{Change, Sink, SinkError};
    /// use std::sync::Mutex;
    ///
    /// /// Keeps every change, moved rather than copied.
    /// struct Keep(Mutex<Vec<Change>>);
    /// impl Sink for Keep {
    ///     fn name(&self) -> &str { "keep" }
    ///     fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
    ///         self.0.lock().unwrap().extend_from_slice(batch);
    ///         Ok(())
    ///     }
    ///     fn apply_owned(
    ///         &self,
    ///         batch: &mut std::vec::IntoIter<Change>,
    ///         _spent: &mut Vec<Change>,
    ///     ) -> Result<(), SinkError> {
    ///         self.0.lock().unwrap().extend(batch);
    ///         Ok(())
    ///     }
    /// }
    /// let keep = Keep(Mutex::new(Vec::new()));
    /// let mut spent = Vec::new();
    /// keep.apply_owned(&mut vec![Change::delete("k", 1)].into_iter(), &mut spent).unwrap();
    /// assert_eq!(keep.0.lock().unwrap()[0].id, "k@1");
    /// assert!(spent.is_empty());
    /// ```
    fn apply_owned(
        &self,
        batch: &mut std::vec::IntoIter<Change>,
        spent: &mut Vec<Change>,
    ) -> Result<(), SinkError> {
        self.apply(batch.as_slice())?;
        spent.extend(batch);
        Ok(())
    }
}

/// What [`DataSyncBuilder::sink`](super::DataSyncBuilder::sink) takes: a sink by value, or an
/// `Arc` of one (`Arc<YourSink>`, `Arc<dyn Sink>`) when you keep a handle to read the target.
///
/// ```
/// use mqsync::sync::{IntoSink, Replica};
/// use std::sync::Arc;
///
/// let replica = Arc::new(Replica::new());
/// let shared = Arc::clone(&replica).into_sink();
/// let owned = Replica::new().into_sink();
/// assert_eq!(shared.name(), owned.name());
/// ```
pub trait IntoSink {
    /// The sink, shared.
    fn into_sink(self) -> Arc<dyn Sink>;
}

impl<S: Sink + 'static> IntoSink for S {
    fn into_sink(self) -> Arc<dyn Sink> {
        Arc::new(self)
    }
}

impl<S: Sink + 'static> IntoSink for Arc<S> {
    fn into_sink(self) -> Arc<dyn Sink> {
        self
    }
}

impl IntoSink for Arc<dyn Sink> {
    fn into_sink(self) -> Arc<dyn Sink> {
        self
    }
}

/// How often and how patiently a failing sink is retried.
///
/// `#[non_exhaustive]`: start from [`RetryPolicy::default`] (or [`RetryPolicy::new`]) and chain
/// the setters. Loadable from TOML or JSON (durations as `"250ms"`, `"5s"`, or a number of
/// milliseconds; missing fields keep their defaults).
///
/// ```
/// use mqsync::sync::RetryPolicy;
/// use std::time::Duration;
///
/// let policy = RetryPolicy::default().attempts(3).initial_backoff(Duration::from_millis(5));
/// assert_eq!((policy.attempts, policy.max_backoff), (3, Duration::from_millis(100)));
///
/// let loaded: RetryPolicy = toml::from_str("attempts = 2\nmax_backoff = \"1s\"").unwrap();
/// assert_eq!(loaded, RetryPolicy::default().attempts(2).max_backoff(Duration::from_secs(1)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts per item before it is dead-lettered: at least 1 ([`deliver`] counts 0 as 1;
    /// [`DataSyncBuilder::start`](super::DataSyncBuilder::start) refuses 0).
    pub attempts: u32,
    /// The first backoff; doubled after each failed attempt.
    #[serde(with = "super::duration_serde")]
    pub initial_backoff: Duration,
    /// The longest backoff.
    #[serde(with = "super::duration_serde")]
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// `attempts` attempts per item, backing off from `initial_backoff` up to `max_backoff`.
    ///
    /// ```
    /// use mqsync::sync::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// let no_wait = RetryPolicy::new(2, Duration::ZERO, Duration::ZERO);
    /// assert_eq!(no_wait.attempts, 2);
    /// ```
    pub fn new(attempts: u32, initial_backoff: Duration, max_backoff: Duration) -> Self {
        RetryPolicy {
            attempts,
            initial_backoff,
            max_backoff,
        }
    }

    /// Sets the attempts per item (default 5).
    ///
    /// ```
    /// assert_eq!(mqsync::sync::RetryPolicy::default().attempts(1).attempts, 1);
    /// ```
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// Sets the first backoff (default 1 ms).
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = mqsync::sync::RetryPolicy::default().initial_backoff(Duration::ZERO);
    /// assert!(p.initial_backoff.is_zero());
    /// ```
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// Sets the longest backoff (default 100 ms).
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = mqsync::sync::RetryPolicy::default().max_backoff(Duration::from_secs(1));
    /// assert_eq!(p.max_backoff, Duration::from_secs(1));
    /// ```
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(100),
        }
    }
}

/// What delivering one batch to one sink came to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// Indices applied (in the end, possibly after retries).
    pub applied: Vec<usize>,
    /// Indices given up on, with the last reason: these go to the dead-letter queue.
    pub dead: Vec<(usize, String)>,
    /// Failed attempts that were retried.
    pub retries: u64,
}

/// Delivers `batch` to `sink`: retries failures with exponential backoff; when the whole batch
/// fails, splits it in halves to isolate the poison changes; treats a panic in the sink as a
/// whole-batch failure. Every index ends in `applied` or `dead`, never both, never neither.
///
/// ```
/// use mqsync::sync::{deliver, Change, RetryPolicy, Sink, SinkError};
/// use std::time::Duration;
///
/// /// Fails any batch that contains the key "poison".
/// struct Picky(std::sync::Mutex<Vec<String>>);
/// impl Sink for Picky {
///     fn name(&self) -> &str { "picky" }
///     fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
///         if batch.iter().any(|c| c.key == "poison") {
///             return Err(SinkError::batch("constraint violation"));
///         }
///         self.0.lock().unwrap().extend(batch.iter().map(|c| c.key.clone()));
///         Ok(())
///     }
/// }
/// let batch: Vec<_> = ["a", "poison", "b", "c"].iter().map(|k| Change::delete(*k, 1)).collect();
/// let policy = RetryPolicy::new(2, Duration::ZERO, Duration::ZERO);
/// let sink = Picky(Default::default());
/// let report = deliver(&sink, &batch, &policy);
/// assert_eq!(report.dead.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1]);
/// assert_eq!(*sink.0.lock().unwrap(), ["a", "b", "c"]);
/// ```
pub fn deliver(sink: &dyn Sink, batch: &[Change], policy: &RetryPolicy) -> DeliveryReport {
    deliver_after(sink, batch, policy, None)
}

/// [`deliver`], where the first attempt already happened and failed with `first` (when given).
fn deliver_after(
    sink: &dyn Sink,
    batch: &[Change],
    policy: &RetryPolicy,
    first: Option<SinkError>,
) -> DeliveryReport {
    let mut report = DeliveryReport::default();
    let indices: Vec<usize> = (0..batch.len()).collect();
    deliver_part(sink, batch, &indices, policy, &mut report, first);
    report.applied.sort_unstable();
    report
}

/// What delivering an owned batch to one sink came to ([`deliver_owned`]).
#[derive(Debug, Default)]
pub(crate) struct OwnedReport {
    /// The changes given up on: their index in the batch, the change and the last reason.
    pub(crate) dead: Vec<(usize, Change, String)>,
    /// Failed attempts that were retried.
    pub(crate) retries: u64,
}

/// [`deliver`] for a batch that nothing needs afterwards: the sink may take the changes
/// ([`Sink::apply_owned`]). Only what the sink left untaken after a failure or a panic is kept,
/// to be retried and, in the end, dead-lettered.
pub(crate) fn deliver_owned(
    sink: &dyn Sink,
    batch: Vec<Change>,
    policy: &RetryPolicy,
    spent: &mut Vec<Change>,
) -> OwnedReport {
    let total = batch.len();
    let mut changes = batch.into_iter();
    let outcome = catch_unwind(AssertUnwindSafe(|| sink.apply_owned(&mut changes, spent)))
        .unwrap_or_else(|panic| Err(SinkError::Panicked(panic_message(&panic))));
    let Err(error) = outcome else {
        spent.extend(changes); // applied, left untaken
        return OwnedReport::default();
    };
    let rest: Vec<Change> = changes.collect();
    let taken = total - rest.len();
    let report = deliver_after(sink, &rest, policy, Some(error));
    let mut rest: Vec<Option<Change>> = rest.into_iter().map(Some).collect();
    let dead = report
        .dead
        .into_iter()
        .filter_map(|(index, reason)| Some((taken + index, rest[index].take()?, reason)))
        .collect();
    OwnedReport {
        dead,
        retries: report.retries,
    }
}

fn deliver_part(
    sink: &dyn Sink,
    batch: &[Change],
    indices: &[usize],
    policy: &RetryPolicy,
    report: &mut DeliveryReport,
    mut first: Option<SinkError>,
) {
    let mut remaining: Vec<usize> = indices.to_vec();
    let mut attempt = 0u32;
    let mut backoff = policy.initial_backoff;
    let attempts = policy.attempts.max(1);
    while !remaining.is_empty() {
        attempt += 1;
        let outcome = match first.take() {
            Some(error) => Err(error),
            None => {
                // The whole batch in order is a slice of it; only a subset needs copying.
                let whole = remaining.len() == batch.len();
                let subset: Vec<Change> = if whole {
                    Vec::new()
                } else {
                    remaining.iter().map(|&i| batch[i].clone()).collect()
                };
                let part: &[Change] = if whole { batch } else { &subset };
                catch_unwind(AssertUnwindSafe(|| sink.apply(part)))
                    .unwrap_or_else(|panic| Err(SinkError::Panicked(panic_message(&panic))))
            }
        };
        match outcome {
            Ok(()) => {
                report.applied.append(&mut remaining);
            }
            Err(SinkError::Items(failed)) => {
                let failed_local: Vec<(usize, String)> = failed
                    .into_iter()
                    .filter(|(i, _)| *i < remaining.len())
                    .collect();
                let failed_set: std::collections::HashSet<usize> =
                    failed_local.iter().map(|(i, _)| *i).collect();
                for (local, &global) in remaining.iter().enumerate() {
                    if !failed_set.contains(&local) {
                        report.applied.push(global);
                    }
                }
                let still: Vec<(usize, String)> = failed_local
                    .into_iter()
                    .map(|(local, reason)| (remaining[local], reason))
                    .collect();
                if attempt >= attempts {
                    report.dead.extend(still);
                    remaining.clear();
                } else {
                    report.retries += still.len() as u64;
                    crate::observe::sync_retry(
                        sink.name(),
                        attempt,
                        still.len(),
                        &still.first().map_or("", |s| s.1.as_str()),
                    );
                    remaining = still.into_iter().map(|(i, _)| i).collect();
                }
            }
            Err(error) => {
                if remaining.len() > 1 {
                    // Isolate the poison: each half gets its own retries.
                    report.retries += 1;
                    crate::observe::sync_split(sink.name(), remaining.len(), &error);
                    let (left, right) = remaining.split_at(remaining.len() / 2);
                    deliver_part(sink, batch, left, policy, report, None);
                    deliver_part(sink, batch, right, policy, report, None);
                    return;
                }
                if attempt >= attempts {
                    report.dead.push((remaining[0], error_chain(&error)));
                    remaining.clear();
                } else {
                    report.retries += 1;
                    crate::observe::sync_retry(sink.name(), attempt, 1, &error);
                }
            }
        }
        if !remaining.is_empty() && !backoff.is_zero() {
            thread::sleep(backoff);
            backoff = backoff.saturating_mul(2).min(policy.max_backoff);
        }
    }
}

/// The message of a caught panic, for [`SinkError::Panicked`].
fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".to_owned());
    text
}
