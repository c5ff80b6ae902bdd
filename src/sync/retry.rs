//! Delivering a batch to one sink: retries with exponential backoff ([`RetryPolicy`]), poison
//! isolation by splitting a failed batch, panics caught as failures, and the owned-batch path
//! ([`Sink::apply_owned`]) that retries whatever a sink left untaken.

use super::change::Change;
use super::error::{error_chain, SinkError};
use super::sink::Sink;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread;
use std::time::Duration;

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

/// Delivers `batch` to `sink`: retries retriable failures with exponential backoff and
/// dead-letters fatal ones at once ([`SinkErrorKind`](super::SinkErrorKind)); when the whole
/// batch fails, splits it in halves to isolate the poison changes; treats a panic in the sink as
/// a (retriable) whole-batch failure. Every index ends in `applied` or `dead`, never both,
/// never neither.
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
            Err(error @ (SinkError::Items(_) | SinkError::Rejected(_))) => {
                let fatal = !error.is_retriable();
                let (SinkError::Items(failed) | SinkError::Rejected(failed)) = error else {
                    unreachable!("matched above");
                };
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
                if fatal || attempt >= attempts {
                    // Fatal: no attempt can apply them; dead-letter them now, with the reason.
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
                if !error.is_retriable() || attempt >= attempts {
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
