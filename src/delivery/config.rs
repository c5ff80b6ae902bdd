//! [`DeliveryConfig`]: the plain-data settings of a delivery queue, checked in one place.
//!
//! The builder keeps its settings here (next to the callbacks, which are not data), so that a
//! service can also load them from its configuration file (with the `serde` feature) and hand
//! them to [`DeliveryBuilder::from_config`](super::DeliveryBuilder::from_config).

use crate::ConfigError;
use std::time::{Duration, Instant};

/// The most priority levels a queue may have.
pub(super) const MAX_PRIORITIES: u8 = 16;

/// The largest bounded lane: the `RingBuffer` position encoding's limit (2^47 - 1).
pub(super) const MAX_BOUND: usize = (1 << 47) - 1;

/// How a consumer chooses between priority levels that all have messages ready.
///
/// Non-exhaustive: more modes may come in a minor release.
///
/// ```
/// use mqsync::delivery::{DeliveryQueue, PriorityMode};
///
/// let q = DeliveryQueue::<u8>::builder()
///     .priorities(2)
///     .mode(PriorityMode::Weighted(vec![1, 3]))
///     .build()
///     .unwrap();
/// assert_eq!(q.priorities(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum PriorityMode {
    /// Always the highest ready priority (the default). Low levels can starve while high ones
    /// are busy.
    #[default]
    Strict,
    /// Weighted round robin: out of every `sum(weights)` receives, level `i` is tried first
    /// `weights[i]` times (index = priority; missing weights count as 1, a weight of 0 means
    /// "only when nothing else is ready"). Falls back to strict order when the preferred level is
    /// empty, so no receive returns empty while a message is ready. At most one weight per
    /// priority level.
    Weighted(Vec<u32>),
}

/// How long a requeued message waits before it is delivered again, growing with its
/// deliveries: `initial` after the first delivery, then `factor` times longer after each
/// further one, never more than `max`. Set with
/// [`DeliveryBuilder::redelivery_backoff`](super::DeliveryBuilder::redelivery_backoff); it
/// applies to every requeue of a delivered message (a nack with requeue, a dropped delivery, the
/// visibility timeout), so a failing message does not hot-loop to its delivery limit.
///
/// ```
/// use mqsync::delivery::RedeliveryBackoff;
/// use std::time::Duration;
///
/// let backoff = RedeliveryBackoff::new(Duration::from_millis(100), Duration::from_secs(1)).factor(3);
/// assert_eq!(backoff.delay_after(1), Duration::from_millis(100));
/// assert_eq!(backoff.delay_after(2), Duration::from_millis(300));
/// assert_eq!(backoff.delay_after(3), Duration::from_millis(900));
/// assert_eq!(backoff.delay_after(4), Duration::from_secs(1)); // capped
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct RedeliveryBackoff {
    /// The wait after the first delivery; more than zero.
    pub initial: Duration,
    /// The longest wait; at least `initial`, at most [`MAX_DELAY`].
    pub max: Duration,
    /// How much longer each further wait is; at least 1 (1: a constant delay).
    pub factor: u32,
}

/// The longest redelivery delay, for [`RedeliveryBackoff::max`] and
/// [`Delivery::nack_after`](super::Delivery::nack_after) (longer delays are cut to it): one year.
pub const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 60 * 60);

impl RedeliveryBackoff {
    /// Waits of `initial`, doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        RedeliveryBackoff {
            initial,
            max,
            factor: 2,
        }
    }

    /// Sets the growth factor (default 2).
    pub fn factor(mut self, factor: u32) -> Self {
        self.factor = factor;
        self
    }

    /// The wait before the next delivery of a message delivered `deliveries` times (≥ 1).
    pub fn delay_after(&self, deliveries: u32) -> Duration {
        if self.factor <= 1 || self.initial.is_zero() {
            // Constant (or unchecked settings): no need to count the deliveries.
            return self.initial.min(self.max);
        }
        // Grows at least twofold per step, so this ends within 64 steps.
        let mut delay = self.initial;
        for _ in 1..deliveries {
            if delay >= self.max {
                break;
            }
            delay = delay.saturating_mul(self.factor.max(1));
        }
        delay.min(self.max)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.initial.is_zero() {
            return Err(ConfigError::Duration {
                field: "redelivery_backoff.initial",
                value: self.initial,
                reason: "it must be longer than zero",
            });
        }
        if self.max < self.initial || self.max > MAX_DELAY {
            return Err(ConfigError::Duration {
                field: "redelivery_backoff.max",
                value: self.max,
                reason: "it must be at least `initial` and at most one year",
            });
        }
        if self.factor == 0 {
            return Err(too_small("redelivery_backoff.factor", 0));
        }
        Ok(())
    }
}

/// The settings of a [`DeliveryQueue`](super::DeliveryQueue) that are plain data: what a service
/// keeps in its configuration file. The callbacks (`on_dead_letter`, `dead_letter_to`) are set on
/// the builder.
///
/// Each field means what the [`DeliveryBuilder`](super::DeliveryBuilder) setter of the same name
/// does; [`Default`] is the builder's default (1 level, strict, unbounded, no prefetch limit, no
/// delivery limit, no TTL, no visibility timeout). Nothing is checked until
/// [`validate`](Self::validate) or `build()`.
///
/// Non-exhaustive: start from `DeliveryConfig::default()` and set fields. With the `serde`
/// feature it (de)serializes with every field optional; durations are `{ secs, nanos }` tables,
/// as serde writes a [`Duration`].
///
/// ```
/// use mqsync::delivery::{DeliveryBuilder, DeliveryConfig};
/// use std::time::Duration;
///
/// let mut config = DeliveryConfig::default();
/// config.priorities = 4;
/// config.delivery_limit = Some(5);
/// config.visibility_timeout = Some(Duration::from_secs(30));
/// let queue = DeliveryBuilder::<String>::from_config(config).build().unwrap();
/// assert_eq!(queue.priorities(), 4);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
#[non_exhaustive]
pub struct DeliveryConfig {
    /// The number of priority levels, 1 to 16.
    pub priorities: u8,
    /// Strict or weighted choice between ready levels.
    pub mode: PriorityMode,
    /// The capacity of each lane's fresh messages (`None`: unbounded), 1 to 2^47 - 1.
    pub bounded: Option<usize>,
    /// The most unsettled deliveries per consumer (`None`: unlimited), at least 1.
    pub prefetch: Option<usize>,
    /// Deliveries after which a nack dead-letters the message (`None`: no limit), at least 1.
    pub delivery_limit: Option<u32>,
    /// The time to live of messages published without one (`None`: they never expire); more
    /// than zero.
    pub default_ttl: Option<Duration>,
    /// How long a delivery may stay unsettled before it is requeued (`None`: forever); more
    /// than zero. Needs `T: Clone` (see
    /// [`DeliveryBuilder::visibility_timeout`](super::DeliveryBuilder::visibility_timeout)).
    pub visibility_timeout: Option<Duration>,
    /// The wait before a requeued message is delivered again (`None`: at once).
    pub redelivery_backoff: Option<RedeliveryBackoff>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            priorities: 1,
            mode: PriorityMode::Strict,
            bounded: None,
            prefetch: None,
            delivery_limit: None,
            default_ttl: None,
            visibility_timeout: None,
            redelivery_backoff: None,
        }
    }
}

impl DeliveryConfig {
    /// Checks every setting, as `build()` does: the first refused one is named with its value.
    ///
    /// ```
    /// use mqsync::delivery::DeliveryConfig;
    /// use mqsync::ConfigError;
    ///
    /// let mut config = DeliveryConfig::default();
    /// assert!(config.validate().is_ok());
    /// config.prefetch = Some(0);
    /// assert_eq!(
    ///     config.validate().unwrap_err(),
    ///     ConfigError::TooSmall { field: "prefetch", value: 0, min: 1 }
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.priorities == 0 {
            return Err(too_small("priorities", 0));
        }
        if self.priorities > MAX_PRIORITIES {
            return Err(ConfigError::TooLarge {
                field: "priorities",
                value: u64::from(self.priorities),
                max: u64::from(MAX_PRIORITIES),
            });
        }
        if let PriorityMode::Weighted(weights) = &self.mode {
            if weights.len() > usize::from(self.priorities) {
                return Err(ConfigError::Conflict {
                    field: "mode",
                    other: "priorities",
                    reason: format!(
                        "{} weights for {} priority levels",
                        weights.len(),
                        self.priorities
                    ),
                });
            }
        }
        match self.bounded {
            Some(0) => return Err(too_small("bounded", 0)),
            Some(capacity) if capacity > MAX_BOUND => {
                return Err(ConfigError::TooLarge {
                    field: "bounded",
                    value: capacity as u64,
                    max: MAX_BOUND as u64,
                })
            }
            _ => {}
        }
        if self.prefetch == Some(0) {
            return Err(too_small("prefetch", 0));
        }
        if self.delivery_limit == Some(0) {
            return Err(too_small("delivery_limit", 0));
        }
        if let Some(ttl) = self.default_ttl {
            check_deadline_duration("default_ttl", ttl)?;
        }
        if let Some(timeout) = self.visibility_timeout {
            check_deadline_duration("visibility_timeout", timeout)?;
        }
        if let Some(backoff) = &self.redelivery_backoff {
            backoff.validate()?;
        }
        Ok(())
    }

    /// The preferred level of each weighted-mode tick (empty in strict mode).
    pub(super) fn schedule(&self) -> Box<[u8]> {
        match &self.mode {
            PriorityMode::Strict => Box::default(),
            PriorityMode::Weighted(weights) => weighted_schedule(self.priorities, weights),
        }
    }
}

fn too_small(field: &'static str, value: u64) -> ConfigError {
    ConfigError::TooSmall {
        field,
        value,
        min: 1,
    }
}

/// A duration the queue adds to `Instant::now()`: zero makes no sense (every message would be
/// dead or overdue at once), and one too long to add would panic at the first publish or receive.
fn check_deadline_duration(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    let reason = if value.is_zero() {
        "it must be longer than zero"
    } else if Instant::now().checked_add(value).is_none() {
        "it is too long to add to the current time"
    } else {
        return Ok(());
    };
    Err(ConfigError::Duration {
        field,
        value,
        reason,
    })
}

/// Expands weights into a schedule of preferred levels, spread out (smooth weighted round
/// robin), highest level first on ties.
fn weighted_schedule(levels: u8, weights: &[u32]) -> Box<[u8]> {
    let weight = |level: u8| weights.get(usize::from(level)).copied().unwrap_or(1);
    let total: u64 = (0..levels).map(|l| u64::from(weight(l))).sum();
    if total == 0 {
        return Box::default();
    }
    // Cap the schedule length; weights are ratios.
    let total = total.min(4096);
    let mut current = vec![0i64; usize::from(levels)];
    let mut schedule = Vec::with_capacity(total as usize);
    let sum: i64 = (0..levels).map(|l| i64::from(weight(l))).sum();
    for _ in 0..total {
        let mut best = usize::from(levels) - 1;
        for level in (0..usize::from(levels)).rev() {
            current[level] += i64::from(weight(level as u8));
            if current[level] > current[best] {
                best = level;
            }
        }
        current[best] -= sum;
        schedule.push(best as u8);
    }
    schedule.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    #[cfg(feature = "serde")]
    use super::RedeliveryBackoff;
    use super::{weighted_schedule, DeliveryConfig, PriorityMode};
    use crate::ConfigError;
    use std::time::Duration;

    #[test]
    fn weighted_schedule_follows_the_weights() {
        let s = weighted_schedule(3, &[1, 2, 4]);
        assert_eq!(s.len(), 7);
        for (level, weight) in [(0u8, 1), (1, 2), (2, 4)] {
            assert_eq!(s.iter().filter(|&&l| l == level).count(), weight);
        }
        assert_eq!(s[0], 2, "the heaviest level comes first");
        assert!(weighted_schedule(2, &[0, 0]).is_empty());
    }

    #[test]
    fn validate_names_the_first_bad_field() {
        let mut config = DeliveryConfig {
            priorities: 17,
            ..DeliveryConfig::default()
        };
        assert_eq!(
            config.validate().unwrap_err(),
            ConfigError::TooLarge {
                field: "priorities",
                value: 17,
                max: 16
            }
        );
        config.priorities = 2;
        config.mode = PriorityMode::Weighted(vec![1, 2, 3]);
        let err = config.validate().unwrap_err();
        assert_eq!(err.field(), "mode");
        assert_eq!(
            err.to_string(),
            "mode conflicts with priorities: 3 weights for 2 priority levels"
        );
        config.mode = PriorityMode::Weighted(vec![1, 2]);
        config.bounded = Some(usize::MAX);
        assert_eq!(
            config.validate().unwrap_err(),
            ConfigError::TooLarge {
                field: "bounded",
                value: usize::MAX as u64,
                max: (1 << 47) - 1
            }
        );
        config.bounded = Some(8);
        config.default_ttl = Some(Duration::MAX);
        assert_eq!(config.validate().unwrap_err().field(), "default_ttl");
        config.default_ttl = Some(Duration::from_secs(1));
        assert_eq!(config.validate(), Ok(()));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn a_config_loads_from_json_with_defaults_for_missing_fields() {
        let config: DeliveryConfig = serde_json::from_str(
            r#"{"priorities":3,"mode":{"weighted":[1,2,4]},"default_ttl":{"secs":30,"nanos":0}}"#,
        )
        .unwrap();
        assert_eq!(config.priorities, 3);
        assert_eq!(config.mode, PriorityMode::Weighted(vec![1, 2, 4]));
        assert_eq!(config.default_ttl, Some(Duration::from_secs(30)));
        assert_eq!(config.prefetch, None);
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(
            serde_json::from_str::<DeliveryConfig>(&json).unwrap(),
            config
        );
        assert!(serde_json::from_str::<DeliveryConfig>(r#"{"priority":3}"#).is_err());
    }

    /// The example of docs/delivery.md.
    #[cfg(feature = "serde")]
    #[test]
    fn a_config_loads_from_toml() {
        let config: DeliveryConfig = toml::from_str(
            r#"
            priorities = 4
            mode = { weighted = [1, 1, 2, 4] }
            prefetch = 64
            delivery_limit = 5
            default_ttl = { secs = 30, nanos = 0 }
            redelivery_backoff = { initial = { secs = 1, nanos = 0 }, max = { secs = 60, nanos = 0 }, factor = 2 }
            "#,
        )
        .unwrap();
        let mut expected = DeliveryConfig {
            priorities: 4,
            mode: PriorityMode::Weighted(vec![1, 1, 2, 4]),
            ..DeliveryConfig::default()
        };
        expected.prefetch = Some(64);
        expected.delivery_limit = Some(5);
        expected.default_ttl = Some(Duration::from_secs(30));
        expected.redelivery_backoff = Some(RedeliveryBackoff::new(
            Duration::from_secs(1),
            Duration::from_secs(60),
        ));
        assert_eq!(config, expected);
        assert_eq!(config.validate(), Ok(()));
    }
}
