//! [`Delivery`]: one received message that must be settled exactly once.

use super::consumer::ConsumerState;
use super::dead_letter::DeadReason;
use super::lane::Envelope;
use super::queue::Shared;
use super::stats::Counters;
use crate::primitive::sync::atomic::Ordering;
use std::fmt;
use std::sync::Arc;

/// A received message, on loan until it is settled.
///
/// It ends in exactly one of [`ack`](Self::ack), [`nack`](Self::nack) or
/// [`reject`](Self::reject) — each takes `self`, so settling twice does not compile. Dropping an
/// unsettled delivery (including while a consumer panics) is `nack(requeue = true)`.
///
/// ```
/// use mqsync::delivery::DeliveryQueue;
///
/// let q = DeliveryQueue::builder().build();
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
    pub(crate) fn new(envelope: Envelope<T>, tag: u64, consumer: Arc<ConsumerState<T>>) -> Self {
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
    pub fn ack(mut self) {
        if let Some(envelope) = self.envelope.take() {
            Counters::bump(&self.shared().counters.acked);
            drop(envelope);
            self.settled();
        }
    }

    /// Negative acknowledgement: with `requeue`, the message goes back to the front of its
    /// lane (or to the dead letters with `DeliveryLimit` if it has reached the delivery limit);
    /// without, it is dead-lettered as `Rejected`.
    pub fn nack(mut self, requeue: bool) {
        if let Some(envelope) = self.envelope.take() {
            if requeue {
                self.shared().requeue(envelope);
            } else {
                self.shared().dead_letter(envelope, DeadReason::Rejected);
            }
            self.settled();
        }
    }

    /// Rejects the message: it is dead-lettered as `Rejected` and not redelivered.
    pub fn reject(self) {
        self.nack(false);
    }

    /// Book-keeping after the message went wherever it goes: the settlement is visible only
    /// after the message is back in a lane or dead-lettered (the drained check relies on it).
    fn settled(&self) {
        // Release: pairs with the Acquire load in `Shared::is_drained`.
        self.shared()
            .counters
            .unacked
            .fetch_sub(1, Ordering::Release);
        if self.shared().prefetch != usize::MAX {
            // AcqRel: the consumer's count; the old value tells whether it was at its limit.
            let before = self.consumer.unacked.fetch_sub(1, Ordering::AcqRel);
            if before >= self.shared().prefetch {
                self.consumer.settled.notify(1);
            }
        }
        // After close, the last settlement may be what lets waiting consumers see `Closed`.
        // Acquire: pairs with the Release store in `close` (via is_drained).
        if self.shared().is_drained() {
            self.shared().ready.notify(usize::MAX);
        }
    }
}

impl<T> Drop for Delivery<T> {
    /// An unsettled delivery is requeued (`nack(requeue = true)`): nothing is lost when a
    /// consumer forgets or panics.
    fn drop(&mut self) {
        if let Some(envelope) = self.envelope.take() {
            self.shared().requeue(envelope);
            self.settled();
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
