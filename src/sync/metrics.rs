//! Counters and a latency histogram the engine updates as it runs, readable at any time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Buckets per power of two in the latency histogram (precision about 19%).
const SUB: u32 = 4;
const SUB_BITS: u32 = 2;
const BUCKETS: usize = 64 * SUB as usize;

/// A lock-free log-linear histogram of durations in nanoseconds.
pub(crate) struct Histogram {
    buckets: Box<[AtomicU64]>,
}

impl Histogram {
    pub(crate) fn new() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn index(nanos: u64) -> usize {
        if nanos < u64::from(SUB) {
            return nanos as usize; // exact buckets for 0..SUB
        }
        let log = 63 - nanos.leading_zeros(); // ≥ SUB_BITS here
                                              // The SUB_BITS bits after the leading one pick the sub-bucket.
        let sub = (nanos >> (log - SUB_BITS)) & u64::from(SUB - 1);
        (log * SUB) as usize + sub as usize
    }

    /// The upper bound of a bucket, in nanoseconds.
    fn upper(index: usize) -> u64 {
        if index < SUB as usize {
            return index as u64;
        }
        let log = index as u32 / SUB;
        let sub = index as u64 % u64::from(SUB);
        let base = 1u64 << log;
        base.saturating_add(base / u64::from(SUB) * (sub + 1))
    }

    pub(crate) fn record(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        // Relaxed: a statistic.
        self.buckets[Self::index(nanos).min(BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
    }

    /// The smallest bucket bound below which `quantile` of the samples fall.
    pub(crate) fn quantile(&self, quantile: f64) -> Option<Duration> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let target = ((total as f64) * quantile).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return Some(Duration::from_nanos(Self::upper(i)));
            }
        }
        None
    }
}

/// The live counters of an engine.
pub(crate) struct Counters {
    pub(crate) pulled: AtomicU64,
    pub(crate) applied: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) committed: AtomicU64,
    pub(crate) latency: Histogram,
    pub(crate) started: Instant,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Counters {
            pulled: AtomicU64::new(0),
            applied: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            committed: AtomicU64::new(0),
            latency: Histogram::new(),
            started: Instant::now(),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        // Relaxed: statistics; the engine's correctness never reads them.
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn read(&self) -> Metrics {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (pulled, applied, dead) = (
            load(&self.pulled),
            load(&self.applied),
            load(&self.dead_lettered),
        );
        let elapsed = self.started.elapsed();
        Metrics {
            pulled,
            applied,
            dead_lettered: dead,
            retries: load(&self.retries),
            committed: load(&self.committed),
            in_flight: pulled.saturating_sub(applied + dead),
            throughput: applied as f64 / elapsed.as_secs_f64().max(1e-9),
            latency_p50: self.latency.quantile(0.50),
            latency_p99: self.latency.quantile(0.99),
            latency_p999: self.latency.quantile(0.999),
            elapsed,
        }
    }
}

/// A reading of an engine's counters.
///
/// Counters are read one by one, so under load they are not one atomic picture; after
/// [`shutdown`](super::DataSync::shutdown) they are final and `pulled = applied + dead_lettered`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Metrics {
    /// Changes pulled from the sources.
    pub pulled: u64,
    /// Changes applied by every sink.
    pub applied: u64,
    /// Changes dead-lettered.
    pub dead_lettered: u64,
    /// Failed sink attempts that were retried.
    pub retries: u64,
    /// Changes committed back to their sources.
    pub committed: u64,
    /// Pulled and not yet applied or dead-lettered (the lag behind the sources).
    pub in_flight: u64,
    /// Applied changes per second since the engine started.
    pub throughput: f64,
    /// Median source-to-apply latency (bucket upper bound, about 19% precision).
    pub latency_p50: Option<Duration>,
    /// 99th percentile source-to-apply latency.
    pub latency_p99: Option<Duration>,
    /// 99.9th percentile source-to-apply latency.
    pub latency_p999: Option<Duration>,
    /// Time since the engine started.
    pub elapsed: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_bound_the_samples() {
        let h = Histogram::new();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile(0.5).unwrap();
        let p99 = h.quantile(0.99).unwrap();
        assert!(
            p50 >= Duration::from_micros(500) && p50 <= Duration::from_micros(620),
            "{p50:?}"
        );
        assert!(
            p99 >= Duration::from_micros(990) && p99 <= Duration::from_micros(1230),
            "{p99:?}"
        );
        assert!(Histogram::new().quantile(0.5).is_none());
        for n in [0u64, 1, 2, 3, 5, 100, 12345, u64::MAX / 2] {
            let i = Histogram::index(n);
            assert!(Histogram::upper(i) >= n, "{n} above its bucket bound");
        }
    }
}
