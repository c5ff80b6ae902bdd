//! [`DeliveryQueue`]: the shared state, publishing, requeueing and dead-lettering.

use super::builder::{DeadLetterFn, DeadLetterTarget, DeliveryBuilder, PriorityMode};
use super::closing::Closing;
use super::consumer::Consumer;
use super::dead_letter::{DeadLetter, DeadReason};
use super::error::PublishError;
use super::lane::{Envelope, Lane};
use super::stats::{Counters, Stats};
use super::visibility::Visibility;
use crate::primitive::sync::atomic::Ordering;
use crate::queue::MsQueue;
use event_listener::{Event, IntoNotification};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A reliable in-process message queue: priority lanes, acknowledgements, redelivery, delivery
/// limits, dead letters and TTL. Cheap to clone (a handle to shared state).
///
/// Publishing and receiving are lock-free (each is a push or pop on a lock-free queue plus
/// relaxed counter updates); blocking receives park until a publish, settlement or close wakes
/// them.
///
/// ```
/// use mqsync::delivery::DeliveryQueue;
///
/// let q = DeliveryQueue::builder().build();
/// q.publish("hello").unwrap();
/// let d = q.consumer().try_receive().unwrap();
/// assert_eq!(*d.message(), "hello");
/// d.ack();
/// assert_eq!(q.stats().acked, 1);
/// ```
pub struct DeliveryQueue<T> {
    pub(crate) shared: Arc<Shared<T>>,
}

impl<T> Clone for DeliveryQueue<T> {
    fn clone(&self) -> Self {
        DeliveryQueue {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// What a publish returns: the message is in the queue, and stays receivable until it is
/// acknowledged or dead-lettered — a [`close`](DeliveryQueue::close) racing the publish either
/// refuses it (`PublishError::Closed`) or lets consumers drain it before they see `Closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The priority level the message went to (clamped to the top level).
    pub priority: u8,
    /// When it expires, if it has a time to live.
    pub expires_at: Option<Instant>,
}

pub(crate) struct Shared<T> {
    /// One lane per priority level; index = priority.
    pub(crate) lanes: Box<[Lane<T>]>,
    /// Weighted mode: the preferred level for each tick (empty in strict mode).
    pub(crate) schedule: Box<[u8]>,
    pub(crate) prefetch: usize,
    delivery_limit: Option<u32>,
    default_ttl: Option<Duration>,
    dead_observer: Option<DeadLetterFn<T>>,
    dead_target: Option<DeadLetterTarget<T>>,
    /// The queue's own dead letters (also the fallback when the target refuses one).
    dead_letters: MsQueue<DeadLetter<T>>,
    /// The closed flag folded into the publish claim, and the drained check (see `closing.rs`).
    closing: Closing,
    /// Set when the builder configured a visibility timeout.
    pub(crate) visibility: Option<Visibility<T>>,
    /// Notified on every publish, requeue and close: consumers waiting for a message.
    pub(crate) ready: Event,
    pub(crate) counters: Counters,
}

impl<T> DeliveryQueue<T> {
    /// Starts a builder (1 priority level, unbounded, no limits, dead letters kept in the
    /// queue's own dead-letter queue).
    ///
    /// ```
    /// let q = mqsync::delivery::DeliveryQueue::<u32>::builder().priorities(3).build();
    /// assert_eq!(q.priorities(), 3);
    /// ```
    pub fn builder() -> DeliveryBuilder<T> {
        DeliveryBuilder::default()
    }

    pub(crate) fn from_builder(b: DeliveryBuilder<T>) -> Self {
        crate::observe::started();
        let lanes = (0..b.priorities).map(|_| Lane::new(b.bound)).collect();
        let schedule = match &b.mode {
            PriorityMode::Strict => Box::default(),
            PriorityMode::Weighted(weights) => weighted_schedule(b.priorities, weights),
        };
        DeliveryQueue {
            shared: Arc::new(Shared {
                lanes,
                schedule,
                prefetch: b.prefetch,
                delivery_limit: b.delivery_limit,
                default_ttl: b.default_ttl,
                dead_observer: b.dead_letter,
                dead_target: b.dead_target,
                dead_letters: MsQueue::new(),
                closing: Closing::default(),
                visibility: b
                    .visibility
                    .map(|(timeout, clone)| Visibility::new(timeout, clone)),
                ready: Event::new(),
                counters: Counters::default(),
            }),
        }
    }

    /// Publishes `message` at priority 0 with the default TTL.
    ///
    /// ```
    /// let q = mqsync::delivery::DeliveryQueue::builder().build();
    /// let receipt = q.publish(1).unwrap();
    /// assert_eq!(receipt.priority, 0);
    /// ```
    pub fn publish(&self, message: T) -> Result<Receipt, PublishError<T>> {
        self.publish_with(message, 0, None)
    }

    /// Publishes `message` at `priority` (clamped to the top level) with time to live `ttl`
    /// (`None`: the queue's default TTL, if any). Gives the message back if the lane is bounded
    /// and full, or the queue is closed.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = mqsync::delivery::DeliveryQueue::builder().priorities(2).build();
    /// let r = q.publish_with("urgent", 9, Some(Duration::from_secs(5))).unwrap();
    /// assert_eq!(r.priority, 1);
    /// assert!(r.expires_at.is_some());
    /// ```
    pub fn publish_with(
        &self,
        message: T,
        priority: u8,
        ttl: Option<Duration>,
    ) -> Result<Receipt, PublishError<T>> {
        let shared = &*self.shared;
        let priority = priority.min(shared.lanes.len() as u8 - 1);
        let expires_at = ttl.or(shared.default_ttl).map(|ttl| Instant::now() + ttl);
        // The claim: accepted here means counted by a racing `close`, so consumers drain this
        // message before they are told `Closed` (see `closing.rs`).
        if !shared.closing.claim_publish() {
            return Err(PublishError::Closed(message));
        }
        let envelope = Envelope {
            message,
            priority,
            deliveries: 0,
            expires_at,
        };
        if let Err(back) = shared.lanes[usize::from(priority)].push(envelope) {
            shared.closing.refused_full();
            // A close may be waiting for exactly this claim to end.
            shared.wake_if_drained();
            return Err(PublishError::Full(back.message));
        }
        // One more waiter, if any, may now find a message (event-listener fences first, so a
        // consumer that registered before re-checking sees the message or gets this wake-up).
        shared.ready.notify(1.additional());
        crate::observe::delivery_published(priority);
        Ok(Receipt {
            priority,
            expires_at,
        })
    }

    /// A new consumer handle, with its own prefetch budget.
    ///
    /// ```
    /// let q = mqsync::delivery::DeliveryQueue::<u8>::builder().prefetch(1).build();
    /// q.publish(1).unwrap();
    /// q.publish(2).unwrap();
    /// let (a, b) = (q.consumer(), q.consumer());
    /// let _held = a.try_receive().unwrap();
    /// assert!(a.try_receive().is_err()); // at its prefetch limit
    /// assert!(b.try_receive().is_ok()); // another consumer has its own
    /// ```
    pub fn consumer(&self) -> Consumer<T> {
        Consumer::new(Arc::clone(&self.shared))
    }

    /// The queue's own dead-letter queue: every dead letter when no target is set, otherwise
    /// the letters the target refused.
    pub fn dead_letters(&self) -> &MsQueue<DeadLetter<T>> {
        &self.shared.dead_letters
    }

    /// Closes the queue: publishes are refused from now on (the message is handed back), and
    /// consumers drain what is ready, what publishes accepted before the close bring, and what
    /// unsettled deliveries requeue, before they see `Closed`. A publish racing the close is
    /// either refused or drained, never accepted and stranded. Wakes every waiting consumer.
    /// Idempotent.
    ///
    /// ```
    /// use mqsync::delivery::{DeliveryQueue, TryReceiveError};
    ///
    /// let q = DeliveryQueue::builder().build();
    /// q.publish(1).unwrap();
    /// q.close();
    /// assert!(q.publish(2).is_err());
    /// let c = q.consumer();
    /// c.try_receive().unwrap().ack();
    /// assert_eq!(c.try_receive().unwrap_err(), TryReceiveError::Closed);
    /// ```
    pub fn close(&self) {
        self.shared.closing.close();
        self.shared.ready.notify(usize::MAX);
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.closing.is_closed()
    }

    /// Requeues the deliveries that outlived the visibility timeout, and returns how many.
    /// Receives do this themselves; call it from a timer when consumers are async and idle.
    /// Does nothing without a visibility timeout.
    pub fn expire_overdue(&self) -> usize {
        self.shared.expire_overdue()
    }

    /// The number of priority levels.
    pub fn priorities(&self) -> u8 {
        self.shared.lanes.len() as u8
    }

    /// A reading of the counters and depths (see [`Stats`] for what adds up).
    pub fn stats(&self) -> Stats {
        let shared = &*self.shared;
        let per_priority: Vec<usize> = shared.lanes.iter().map(Lane::len).collect();
        let c = &shared.counters;
        Stats {
            ready: per_priority.iter().sum(),
            unacked: c.unacked.load(Ordering::Relaxed),
            per_priority,
            published: shared.closing.published(),
            delivered: 0,
            acked: c.acked.load(Ordering::Relaxed),
            redelivered: c.redelivered.load(Ordering::Relaxed),
            dead_lettered: c.dead_lettered.load(Ordering::Relaxed),
            timed_out: c.timed_out.load(Ordering::Relaxed),
            late_settlements: c.late_settlements.load(Ordering::Relaxed),
        }
        .with_delivered(c.expired.load(Ordering::Relaxed))
    }
}

impl<T> Shared<T> {
    /// The next ready message: in strict mode the highest level first; in weighted mode the
    /// scheduled level first, then the highest.
    pub(crate) fn pop_next(&self, tick: u64) -> Option<Envelope<T>> {
        if !self.schedule.is_empty() {
            let preferred = self.schedule[(tick % self.schedule.len() as u64) as usize];
            if let Some(envelope) = self.lanes[usize::from(preferred)].pop() {
                return Some(envelope);
            }
        }
        self.lanes.iter().rev().find_map(Lane::pop)
    }

    /// Requeues overdue deliveries (visibility timeout); returns how many.
    pub(crate) fn expire_overdue(&self) -> usize {
        let Some(visibility) = &self.visibility else {
            return 0;
        };
        let due = visibility.overdue(Instant::now());
        let count = due.len();
        for outstanding in due {
            self.requeue(outstanding.copy);
            Counters::bump(&self.counters.timed_out);
            crate::observe::delivery_timed_out();
            outstanding.consumer.release(self);
        }
        count
    }

    /// True when the queue is closed and nothing can be delivered any more: every message
    /// accepted before the close was acknowledged or dead-lettered (see `closing.rs`).
    pub(crate) fn is_drained(&self) -> bool {
        let Some(accepted) = self.closing.accepted_at_close() else {
            return false; // open
        };
        let c = &self.counters;
        // Acquire: pairs with the Release increments in `Delivery::ack` and `dead_letter`, so a
        // consumer told `Closed` sees everything the settlers did before settling.
        let settled = c.acked.load(Ordering::Acquire) + c.dead_lettered.load(Ordering::Acquire);
        self.closing.settled_all(accepted, settled)
    }

    /// Wakes every waiting consumer if the queue is now closed and drained; called by whatever
    /// brings a message to its end (ack, dead letter, full refusal).
    pub(crate) fn wake_if_drained(&self) {
        if self.is_drained() {
            self.ready.notify(usize::MAX);
        }
    }

    /// Puts a delivered message back at the front of its lane, or dead-letters it when it has
    /// reached the delivery limit.
    pub(crate) fn requeue(&self, envelope: Envelope<T>) {
        match self.delivery_limit {
            Some(limit) if envelope.deliveries >= limit => {
                self.dead_letter(envelope, DeadReason::DeliveryLimit(limit))
            }
            _ => {
                crate::observe::delivery_redelivered(envelope.priority, envelope.deliveries);
                self.lanes[usize::from(envelope.priority)].requeue(envelope);
                Counters::bump(&self.counters.redelivered);
                self.ready.notify(1.additional());
            }
        }
    }

    /// Hands a message to the dead-letter target with its reason.
    pub(crate) fn dead_letter(&self, envelope: Envelope<T>, reason: DeadReason) {
        let dead = DeadLetter {
            message: envelope.message,
            reason,
            deliveries: envelope.deliveries,
            priority: envelope.priority,
        };
        crate::observe::delivery_dead_letter(reason, dead.deliveries, dead.priority);
        if let Some(observer) = &self.dead_observer {
            // A panicking observer must not lose the letter or unwind through a settlement.
            let _ = catch_unwind(AssertUnwindSafe(|| observer(&dead)));
        }
        let refused = match &self.dead_target {
            Some(target) => match target.push(dead) {
                Ok(()) => None,
                Err(full) => Some(full.into_inner()),
            },
            None => Some(dead),
        };
        if let Some(dead) = refused {
            self.dead_letters.push(dead);
        }
        // Counted once the letter is where its reader finds it. Release: pairs with the Acquire
        // load in `is_drained` (a consumer told `Closed` finds every dead letter in place).
        self.counters.dead_lettered.fetch_add(1, Ordering::Release);
        self.wake_if_drained();
    }
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

impl<T> fmt::Debug for DeliveryQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryQueue")
            .field("priorities", &self.priorities())
            .field("closed", &self.is_closed())
            .field("stats", &self.stats())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::weighted_schedule;

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
}
