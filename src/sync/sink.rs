//! Sinks, and delivering a batch to one with retries, poison isolation and panic safety.

use super::change::Change;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread;
use std::time::Duration;

/// Why a sink could not apply some of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkError {
    /// These items (indices into the batch) failed, with reasons; the others were applied.
    Items(Vec<(usize, String)>),
    /// The whole batch failed (nothing applied), e.g. a lost connection or a rolled-back
    /// transaction.
    Batch(String),
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkError::Items(items) => write!(f, "{} item(s) failed", items.len()),
            SinkError::Batch(reason) => write!(f, "batch failed: {reason}"),
        }
    }
}

impl std::error::Error for SinkError {}

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
}

/// How often and how patiently a failing sink is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per item before it is dead-lettered (at least 1).
    pub attempts: u32,
    /// The first backoff; doubled after each failed attempt.
    pub initial_backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
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
///             return Err(SinkError::Batch("constraint violation".into()));
///         }
///         self.0.lock().unwrap().extend(batch.iter().map(|c| c.key.clone()));
///         Ok(())
///     }
/// }
/// let batch: Vec<_> = ["a", "poison", "b", "c"].iter().map(|k| Change::delete(*k, 1)).collect();
/// let policy = RetryPolicy { attempts: 2, initial_backoff: Duration::ZERO, max_backoff: Duration::ZERO };
/// let sink = Picky(Default::default());
/// let report = deliver(&sink, &batch, &policy);
/// assert_eq!(report.dead.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1]);
/// assert_eq!(*sink.0.lock().unwrap(), ["a", "b", "c"]);
/// ```
pub fn deliver(sink: &dyn Sink, batch: &[Change], policy: &RetryPolicy) -> DeliveryReport {
    let mut report = DeliveryReport::default();
    let indices: Vec<usize> = (0..batch.len()).collect();
    deliver_part(sink, batch, &indices, policy, &mut report);
    report.applied.sort_unstable();
    report
}

fn deliver_part(
    sink: &dyn Sink,
    batch: &[Change],
    indices: &[usize],
    policy: &RetryPolicy,
    report: &mut DeliveryReport,
) {
    let mut remaining: Vec<usize> = indices.to_vec();
    let mut attempt = 0u32;
    let mut backoff = policy.initial_backoff;
    let attempts = policy.attempts.max(1);
    while !remaining.is_empty() {
        attempt += 1;
        // The whole batch in order is a slice of it; only a subset needs copying.
        let whole = remaining.len() == batch.len();
        let subset: Vec<Change> = if whole {
            Vec::new()
        } else {
            remaining.iter().map(|&i| batch[i].clone()).collect()
        };
        let part: &[Change] = if whole { batch } else { &subset };
        let outcome = catch_unwind(AssertUnwindSafe(|| sink.apply(part)))
            .unwrap_or_else(|panic| Err(SinkError::Batch(panic_message(&panic))));
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
            Err(SinkError::Batch(reason)) => {
                if remaining.len() > 1 {
                    // Isolate the poison: each half gets its own retries.
                    report.retries += 1;
                    crate::observe::sync_split(sink.name(), remaining.len(), &reason);
                    let (left, right) = remaining.split_at(remaining.len() / 2);
                    deliver_part(sink, batch, left, policy, report);
                    deliver_part(sink, batch, right, policy, report);
                    return;
                }
                if attempt >= attempts {
                    report.dead.push((remaining[0], reason));
                    remaining.clear();
                } else {
                    report.retries += 1;
                    crate::observe::sync_retry(sink.name(), attempt, 1, &reason);
                }
            }
        }
        if !remaining.is_empty() && !backoff.is_zero() {
            thread::sleep(backoff);
            backoff = (backoff * 2).min(policy.max_backoff);
        }
    }
}

/// The message of a caught panic, for the dead letter's reason.
fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".to_owned());
    format!("sink panicked: {text}")
}
