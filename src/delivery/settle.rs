//! [`Delivery`]: one received message that must be settled exactly once.

use super::dead_letter::DeadReason;
use super::lane::Envelope;
use super::shared::{ConsumerState, Shared};
use super::stats::Counters;
use crate::primitive::sync::atomic::Ordering;
use crate::primitive::sync::Arc;
use std::fmt;

/// A received message, on loan until it is settled.
///
/// It ends in exactly one of [`ack`](Self::ack), [`nack`](Self::nack) or
/// [`reject`](Self::reject) — each takes `self`, so settling twice does not compile. Dropping an
/// unsettled delivery (including while a consumer panics) is `nack(requeue = true)`.
///
/// ```
/// use mqsync::delivery::DeliveryQueue;
///
/// let q = DeliveryQueue::builder().build().unwrap();
/// q.publish(String::from("job")).unwrap();
/// let c = q.consumer();
/// {
///     let d = c.try_receive().unwrap();
///     assert!(!d.is_redelivered());
///     // dropped without settling: requeued
/// }
/// let d = c.try_receive().unwrap();
/// assert_eq!((d.message().as_str(), d.delivery_count()), ("job", 2));
/// d.ack();
/// ```
pub struct Delivery<T> {
    /// `None` only after settlement (inside the settling method or `Drop`).
    envelope: Option<Envelope<T>>,
    tag: u64,
    consumer: Arc<ConsumerState<T>>,
}

impl<T> Delivery<T> {
    pub(super) fn new(envelope: Envelope<T>, tag: u64, consumer: Arc<ConsumerState<T>>) -> Self {
        Delivery {
            envelope: Some(envelope),
            tag,
            consumer,
        }
    }

    fn shared(&self) -> &Shared<T> {
        &self.consumer.shared
    }

    fn envelope(&self) -> &Envelope<T> {
        self.envelope
            .as_ref()
            .expect("a delivery holds its message until settled")
    }

    /// The message.
    pub fn message(&self) -> &T {
        &self.envelope().message
    }

    /// The message, mutably (a requeued message keeps the changes).
    pub fn message_mut(&mut self) -> &mut T {
        &mut self
            .envelope
            .as_mut()
            .expect("a delivery holds its message until settled")
            .message
    }

    /// How many times this message has been delivered, this delivery included (1 the first
    /// time).
    pub fn delivery_count(&self) -> u32 {
        self.envelope().deliveries
    }

    /// True if the message was delivered before (`delivery_count() > 1`).
    pub fn is_redelivered(&self) -> bool {
        self.delivery_count() > 1
    }

    /// The priority level the message sits in.
    pub fn priority(&self) -> u8 {
        self.envelope().priority
    }

    /// A tag unique to this delivery among all deliveries of this process (consumer id in the
    /// high bits, the consumer's delivery sequence in the low 40 bits).
    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// Acknowledges the message: it is done and leaves the queue.
    ///
    /// ```
    /// let q = mqsync::delivery::DeliveryQueue::builder().build().unwrap();
    /// q.publish("done").unwrap();
    /// q.consumer().try_receive().unwrap().ack();
    /// assert_eq!((q.stats().acked, q.stats().ready), (1, 0));
    /// ```
    pub fn ack(mut self) {
        if let Some(envelope) = self.take_for_settlement() {
            // Durable: in the journal before it counts, so that an ack that returned is never
            // redelivered after a restart.
            self.shared().record_settled(&[envelope.id]);
            self.count_ack();
            // Last: the message's destructor is user code; if it panics, the settlement is
            // already counted and the prefetch slot already released.
            drop(envelope);
        }
    }

    /// Acknowledges every delivery of `deliveries` at once: on a durable queue, one journal
    /// write for all of them instead of one each. The same as calling [`ack`](Self::ack) on
    /// each, in order.
    ///
    /// ```
    /// use mqsync::delivery::{Delivery, DeliveryQueue};
    ///
    /// let q = DeliveryQueue::builder().build().unwrap();
    /// (0..3).for_each(|i| { q.publish(i).unwrap(); });
    /// let c = q.consumer();
    /// let held: Vec<_> = (0..3).map(|_| c.try_receive().unwrap()).collect();
    /// Delivery::ack_all(held);
    /// assert_eq!(q.stats().acked, 3);
    /// ```
    pub fn ack_all(deliveries: impl IntoIterator<Item = Delivery<T>>) {
        let taken: Vec<(Delivery<T>, Envelope<T>)> = deliveries
            .into_iter()
            .filter_map(|mut d| d.take_for_settlement().map(|e| (d, e)))
            .collect();
        let Some((first, _)) = taken.first() else {
            return;
        };
        // Deliveries of different queues: each queue writes its own.
        let same_queue = taken
            .iter()
            .all(|(d, _)| Arc::ptr_eq(&d.consumer.shared, &first.consumer.shared));
        if same_queue {
            let ids: Vec<u64> = taken.iter().map(|(_, e)| e.id).collect();
            first.shared().record_settled(&ids);
        } else {
            for (d, e) in &taken {
                d.shared().record_settled(&[e.id]);
            }
        }
        let mut messages = Vec::with_capacity(taken.len());
        for (delivery, envelope) in taken {
            delivery.count_ack();
            messages.push(envelope);
        }
        // Last, as in `ack`: every settlement is counted before any user destructor runs.
        drop(messages);
    }

    /// The in-memory half of an ack, after the journal: counts it and releases the slot.
    fn count_ack(&self) {
        // SeqCst: one of the drained check's settlement counters (see "Who wakes the waiters"
        // in closing.rs): with the SeqCst loads in `Shared::is_drained`, of two settlements that
        // race to be the last, at least one sees the other's and wakes the waiters.
        self.shared().counters.acked.fetch_add(1, Ordering::SeqCst);
        crate::observe::delivery_acked();
        self.consumer.release(self.shared());
        // After a close, the last ack may be what lets waiting consumers see `Closed`.
        self.shared().wake_if_drained();
    }

    /// Negative acknowledgement: with `requeue`, the message goes back to the front of its
    /// lane (or to the dead letters with `DeliveryLimit` if it has reached the delivery limit),
    /// after the queue's [`RedeliveryBackoff`](super::RedeliveryBackoff) wait if it has one
    /// (see [`nack_after`](Self::nack_after) for how a delayed message comes back); without,
    /// it is dead-lettered as `Rejected`.
    ///
    /// ```
    /// let q = mqsync::delivery::DeliveryQueue::builder().build().unwrap();
    /// q.publish("retry").unwrap();
    /// let c = q.consumer();
    /// c.try_receive().unwrap().nack(true);
    /// let again = c.try_receive().unwrap();
    /// assert!(again.is_redelivered());
    /// again.nack(false);
    /// assert_eq!(q.dead_letters().len(), 1);
    /// ```
    pub fn nack(mut self, requeue: bool) {
        if let Some(envelope) = self.take_for_settlement() {
            if requeue {
                self.shared().requeue(envelope);
            } else {
                self.shared().dead_letter(envelope, DeadReason::Rejected);
            }
            self.consumer.release(self.shared());
        }
    }

    /// Negative acknowledgement with a delay: the message is delivered again no sooner than
    /// `delay` from now (or dead-lettered with `DeliveryLimit` if it has reached the delivery
    /// limit). Until then it is invisible to consumers and counted in
    /// [`Stats::delayed`](super::Stats::delayed). A delay of zero requeues at once (also when the
    /// queue has a [`RedeliveryBackoff`](super::RedeliveryBackoff): this delay replaces it);
    /// delays longer than [`MAX_DELAY`](super::MAX_DELAY) (a year) are cut to it.
    ///
    /// The message is due at that time; it is moved back to the front of its lane by the next
    /// receive on the queue (every receive checks, with one load when nothing is delayed), and a
    /// blocking receive waiting for a message wakes when it is due. An async receive is not
    /// woken by the delay ending: only by other activity on the queue (a publish, a requeue, a
    /// close) or by a call to [`DeliveryQueue::release_due`](super::DeliveryQueue::release_due). A closed queue is not
    /// drained while a delayed message waits: consumers keep receiving until it is settled.
    ///
    /// ```
    /// use mqsync::delivery::{DeliveryQueue, TryReceiveError};
    /// use std::time::Duration;
    ///
    /// let q = DeliveryQueue::builder().build().unwrap();
    /// q.publish("flaky").unwrap();
    /// let c = q.consumer();
    /// c.try_receive().unwrap().nack_after(Duration::from_millis(20));
    /// assert_eq!(c.try_receive().unwrap_err(), TryReceiveError::Empty); // not yet
    /// assert_eq!(q.stats().delayed, 1);
    /// let again = c.receive_timeout(Duration::from_secs(5)).unwrap(); // wakes when due
    /// assert_eq!(again.delivery_count(), 2);
    /// again.ack();
    /// ```
    pub fn nack_after(mut self, delay: std::time::Duration) {
        if let Some(envelope) = self.take_for_settlement() {
            self.shared().requeue_after(envelope, Some(delay));
            self.consumer.release(self.shared());
        }
    }

    /// Rejects the message: it is dead-lettered as `Rejected` and not redelivered.
    ///
    /// ```
    /// use mqsync::delivery::{DeadReason, DeliveryQueue};
    /// let q = DeliveryQueue::builder().build().unwrap();
    /// q.publish(0).unwrap();
    /// let d = q.consumer().try_receive().unwrap();
    /// assert_eq!((d.priority(), d.delivery_count()), (0, 1));
    /// assert_ne!(d.tag(), 0);
    /// d.reject();
    /// assert_eq!(q.dead_letters().pop().unwrap().reason, DeadReason::Rejected);
    /// ```
    pub fn reject(self) {
        self.nack(false);
    }

    /// Takes the envelope out for settling; `None` if already settled, or if the visibility
    /// timeout requeued the message first (a late settlement, which must do nothing).
    fn take_for_settlement(&mut self) -> Option<Envelope<T>> {
        let envelope = self.envelope.take()?;
        if let Some(visibility) = &self.consumer.shared.visibility {
            if !visibility.settle(self.tag) {
                Counters::bump(&self.consumer.shared.counters.late_settlements);
                return None;
            }
        }
        Some(envelope)
    }
}

impl<T> Drop for Delivery<T> {
    /// An unsettled delivery is requeued (`nack(requeue = true)`): nothing is lost when a
    /// consumer forgets or panics.
    fn drop(&mut self) {
        if let Some(envelope) = self.take_for_settlement() {
            self.shared().requeue(envelope);
            self.consumer.release(self.shared());
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Delivery<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("message", &self.envelope.as_ref().map(|e| &e.message))
            .field(
                "delivery_count",
                &self.envelope.as_ref().map(|e| e.deliveries),
            )
            .field("tag", &self.tag)
            .finish()
    }
}
