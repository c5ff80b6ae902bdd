//! Counters of a delivery queue, cheap to read at any time.

use crate::primitive::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use crossbeam_utils::CachePadded;

/// A reading of a [`DeliveryQueue`](super::DeliveryQueue)'s state and counters.
///
/// Each field is read separately, so under concurrency they are not one atomic picture; with
/// no operation in flight they add up:
/// `published = acked + dead_lettered + ready + unacked + delayed`
/// (dead letters counted once each, redeliveries not counted twice).
///
/// ```
/// use mqsync::delivery::DeliveryQueue;
///
/// let q = DeliveryQueue::builder().priorities(2).build().unwrap();
/// q.publish_with('a', 1, None).unwrap();
/// q.publish('b').unwrap();
/// let d = q.consumer().try_receive().unwrap();
/// let s = q.stats();
/// assert_eq!((s.ready, s.unacked, s.published), (1, 1, 2));
/// assert_eq!(s.per_priority, [1, 0]);
/// d.ack();
/// assert_eq!(q.stats().acked, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Messages waiting to be delivered (fresh and requeued).
    pub ready: usize,
    /// Deliveries handed out and not yet settled.
    pub unacked: usize,
    /// Messages requeued with a delay that are not yet due (invisible to consumers).
    pub delayed: usize,
    /// Ready messages per priority level (index = priority).
    pub per_priority: Vec<usize>,
    /// Messages accepted by `publish`.
    pub published: u64,
    /// Deliveries handed to consumers (a redelivered message counts again). Derived:
    /// `acked + redelivered + unacked + dead letters that had been delivered`.
    pub delivered: u64,
    /// Messages acknowledged.
    pub acked: u64,
    /// Messages put back for redelivery (nack with requeue, with or without a delay, or a
    /// dropped delivery).
    pub redelivered: u64,
    /// Messages dead-lettered, for any reason.
    pub dead_lettered: u64,
    /// Deliveries requeued by the visibility timeout (also counted in `redelivered`).
    pub timed_out: u64,
    /// Settlements that came after the visibility timeout had requeued the message (ignored).
    pub late_settlements: u64,
    /// Messages a durable queue brought back from its journal when it was opened (counted in
    /// `published` too).
    pub recovered: u64,
}

impl Stats {
    /// Fills in `delivered` from the settlement counters (no counter is bumped per delivery).
    pub(super) fn with_delivered(mut self, expired: u64) -> Self {
        self.delivered = self.acked
            + self.redelivered
            + self.unacked as u64
            + self.dead_lettered.saturating_sub(expired);
        self
    }
}

/// The live counters. Each on its own cache line: publishers, consumers and settlers touch
/// different ones.
#[derive(Debug, Default)]
pub(super) struct Counters {
    /// Acknowledged messages. Incremented with Release (`Delivery::ack`): part of the drained
    /// check (`Shared::is_drained`), which loads it with Acquire.
    pub(super) acked: CachePadded<AtomicU64>,
    /// Dead letters whose reason is `Expired` (they were never delivered).
    pub(super) expired: CachePadded<AtomicU64>,
    pub(super) redelivered: CachePadded<AtomicU64>,
    /// Dead-lettered messages. Incremented with Release (`Shared::dead_letter`): part of the
    /// drained check, as `acked`.
    pub(super) dead_lettered: CachePadded<AtomicU64>,
    pub(super) timed_out: CachePadded<AtomicU64>,
    pub(super) late_settlements: CachePadded<AtomicU64>,
    /// Deliveries out and unsettled, over all consumers.
    pub(super) unacked: CachePadded<AtomicUsize>,
}

impl Counters {
    /// Adds one to a counter that orders nothing (Relaxed): it is read for reporting only.
    /// `acked` and `dead_lettered` are bumped with Release instead, where they are settled.
    #[inline]
    pub(super) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
