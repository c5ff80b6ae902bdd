//! The engine's tunable settings: [`SyncSettings`] and [`FullPolicy`].

use super::super::retry::RetryPolicy;
#[cfg(doc)]
use super::DataSyncBuilder;
use crate::ConfigError;
use std::time::{Duration, Instant};

/// What the reader does when a worker's ring is full. In a configuration file: `"block"` or
/// `"reject"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FullPolicy {
    /// Wait for room (backpressure reaches the sources). The default.
    #[default]
    Block,
    /// Dead-letter the change with the reason "handoff buffer full" (never a silent drop).
    Reject,
}

/// The engine's tunable settings, loadable from a configuration file (TOML, JSON, ...): what
/// [`DataSyncBuilder::settings`] takes and the builder's setters change one at a time. Sources,
/// sinks, observers and reconciliation are code, not settings.
///
/// Missing fields keep their defaults; durations are written `"200us"`, `"5ms"`, `"1s"` (or a
/// number of milliseconds). `#[non_exhaustive]`: start from [`SyncSettings::default`].
///
/// ```
/// use mqsync::sync::{FullPolicy, SyncSettings};
/// use std::time::Duration;
///
/// let settings: SyncSettings = toml::from_str(r#"
///     workers = 4
///     linger = "1ms"
///     full_buffer = "reject"
///     [retry]
///     attempts = 3
/// "#).unwrap();
/// assert_eq!(settings.workers, 4);
/// assert_eq!(settings.linger, Duration::from_millis(1));
/// assert_eq!(settings.full_buffer, FullPolicy::Reject);
/// assert_eq!(settings.retry.attempts, 3);
/// assert_eq!(settings.batch_size, SyncSettings::default().batch_size);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SyncSettings {
    /// Worker threads (default 2); keys are partitioned among them. At least 1.
    pub workers: usize,
    /// The most changes a worker applies in one batch (default 256). At least 1.
    pub batch_size: usize,
    /// How long a worker waits to fill a batch once it has one change (default 200 µs).
    #[serde(with = "super::super::duration_serde")]
    pub linger: Duration,
    /// How failing sinks are retried.
    pub retry: RetryPolicy,
    /// The most changes waiting in each worker's handoff ring, not yet in a batch (default 4096;
    /// the ring holds parcels, each the worker's share of one pull). At least 1.
    pub handoff_capacity: usize,
    /// What to do when a worker's ring is full (default: block).
    pub full_buffer: FullPolicy,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            workers: 2,
            batch_size: 256,
            linger: Duration::from_micros(200),
            retry: RetryPolicy::default(),
            handoff_capacity: 4096,
            full_buffer: FullPolicy::Block,
        }
    }
}

impl SyncSettings {
    /// Checks what [`DataSyncBuilder::start`] checks before it builds anything (the handoff
    /// rings check their own capacity, `try_spsc`): sizes of at least 1, a linger that can be added to the current time, retry
    /// backoffs of at most a year.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        for (field, value) in [
            ("workers", self.workers),
            ("batch_size", self.batch_size),
            ("handoff_capacity", self.handoff_capacity),
        ] {
            if value == 0 {
                return Err(ConfigError::TooSmall {
                    field,
                    value: 0,
                    min: 1,
                });
            }
        }
        if self.retry.attempts == 0 {
            return Err(ConfigError::TooSmall {
                field: "retry.attempts",
                value: 0,
                min: 1,
            });
        }
        // With a margin of a day: a worker adds the linger to a later `now` than this one.
        let day = Duration::from_secs(86_400);
        if Instant::now()
            .checked_add(self.linger.saturating_add(day))
            .is_none()
        {
            return Err(ConfigError::Duration {
                field: "linger",
                value: self.linger,
                reason: "too long to add to the current time",
            });
        }
        // A worker sleeps each backoff and doubles it up to the maximum: both must be durations
        // a thread can sleep and double without overflow.
        for (field, value) in [
            ("retry.initial_backoff", self.retry.initial_backoff),
            ("retry.max_backoff", self.retry.max_backoff),
        ] {
            if value > day * 365 {
                return Err(ConfigError::Duration {
                    field,
                    value,
                    reason: "longer than a year",
                });
            }
        }
        Ok(())
    }
}
