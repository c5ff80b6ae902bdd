//! [`DeliveryQueue`]: the shared state, publishing, requeueing and dead-lettering.

use super::consumer::Consumer;
use super::dead_letter::DeadLetter;
#[cfg(feature = "journal")]
use super::durable::WriteError;
use super::error::PublishError;
use super::lane::{Envelope, Lane};
use super::shared::Shared;
use super::stats::Stats;
use crate::primitive::sync::atomic::Ordering;
use crate::primitive::sync::Arc;
use crate::queue::MsQueue;
use event_listener::IntoNotification;
use std::fmt;
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
/// let q = DeliveryQueue::builder().build().unwrap();
/// q.publish("hello").unwrap();
/// let d = q.consumer().try_receive().unwrap();
/// assert_eq!(*d.message(), "hello");
/// d.ack();
/// assert_eq!(q.stats().acked, 1);
/// ```
pub struct DeliveryQueue<T> {
    pub(super) shared: Arc<Shared<T>>,
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
///
/// Only the queue makes receipts; `#[non_exhaustive]` so that fields can be added in a minor
/// release.
///
/// ```
/// let q = mqsync::delivery::DeliveryQueue::builder().priorities(2).build().unwrap();
/// let receipt = q.publish_with("m", 1, None).unwrap();
/// assert_eq!((receipt.priority, receipt.expires_at), (1, None));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receipt {
    /// The priority level the message went to (clamped to the top level).
    pub priority: u8,
    /// When it expires, if it has a time to live.
    pub expires_at: Option<Instant>,
}

impl<T> DeliveryQueue<T> {
    /// Publishes `message` at priority 0 with the default TTL.
    ///
    /// ```
    /// let q = mqsync::delivery::DeliveryQueue::builder().build().unwrap();
    /// let receipt = q.publish(1).unwrap();
    /// assert_eq!(receipt.priority, 0);
    /// ```
    pub fn publish(&self, message: T) -> Result<Receipt, PublishError<T>> {
        self.publish_with(message, 0, None)
    }

    /// Publishes `message` at `priority` (clamped to the top level) with time to live `ttl`
    /// (`None`: the queue's default TTL, if any; a TTL too long to add to the current time
    /// never expires). Gives the message back if the lane is bounded
    /// and full, or the queue is closed.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = mqsync::delivery::DeliveryQueue::builder().priorities(2).build().unwrap();
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
        // A TTL too long to add to the current time never expires (the default TTL was
        // checked by `build`).
        let expires_at = ttl
            .or(shared.default_ttl)
            .and_then(|ttl| Instant::now().checked_add(ttl));
        // The claim: accepted here means counted by a racing `close`, so consumers drain this
        // message before they are told `Closed` (see `closing.rs`).
        if !shared.closing.claim_publish() {
            return Err(PublishError::Closed(message));
        }
        // Durable: in the journal before it is in the lane, so that a returned publish is as
        // durable as the journal's flush policy promises.
        #[cfg(feature = "journal")]
        let id = match &shared.durable {
            None => 0,
            Some(durable) => {
                // A panic in the durable queue's `encode` (run by `durable.publish`) must end
                // the claim, or a close would wait for a message that never comes.
                let claim = RefuseOnUnwind(shared);
                let written = durable.publish(&message, priority, expires_at);
                // Returned: the claim ends below (refused here, or pushed or refused full).
                core::mem::forget(claim);
                match written {
                    Ok(id) => id,
                    Err(error) => {
                        shared.closing.refused_full();
                        shared.wake_if_drained();
                        return Err(match error {
                            WriteError::TooLarge => PublishError::TooLarge(message),
                            WriteError::Failed => PublishError::Storage(message),
                        });
                    }
                }
            }
        };
        #[cfg(not(feature = "journal"))]
        let id = 0;
        let envelope = Envelope {
            message,
            priority,
            deliveries: 0,
            expires_at,
            id,
        };
        if let Err(back) = shared.lanes[usize::from(priority)].push(envelope) {
            // Durable: it was written, so it must be settled or the restart would bring it back.
            shared.record_settled(&[back.id]);
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
    /// let q = mqsync::delivery::DeliveryQueue::<u8>::builder().prefetch(1).build().unwrap();
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
    ///
    /// ```
    /// let q = mqsync::delivery::DeliveryQueue::builder().build().unwrap();
    /// q.publish('x').unwrap();
    /// q.consumer().try_receive().unwrap().reject();
    /// assert_eq!(q.dead_letters().pop().unwrap().message, 'x');
    /// ```
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
    /// let q = DeliveryQueue::builder().build().unwrap();
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
    ///
    /// ```
    /// let q = mqsync::delivery::DeliveryQueue::<u8>::builder().build().unwrap();
    /// q.close();
    /// assert!(q.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.closing.is_closed()
    }

    /// Requeues the deliveries that outlived the visibility timeout, and returns how many.
    /// Receives do this themselves; call it from a timer when consumers are async and idle.
    /// Does nothing without a visibility timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = mqsync::delivery::DeliveryQueue::builder()
    ///     .visibility_timeout(Duration::from_millis(1))
    ///     .build()
    ///     .unwrap();
    /// q.publish(7).unwrap();
    /// let held = q.consumer().try_receive().unwrap();
    /// std::thread::sleep(Duration::from_millis(5));
    /// assert_eq!(q.expire_overdue(), 1); // requeued
    /// held.ack(); // late: ignored
    /// assert_eq!(q.stats().ready, 1);
    /// ```
    pub fn expire_overdue(&self) -> usize {
        self.shared.expire_overdue()
    }

    /// Moves the delayed redeliveries that are due (see
    /// [`Delivery::nack_after`](super::Delivery::nack_after) and
    /// [`RedeliveryBackoff`](super::RedeliveryBackoff)) to the front of their lanes, waking
    /// consumers; returns how many. Every receive does this first; call it from a timer when
    /// consumers wait only in [`receive_async`](super::Consumer::receive_async), which nothing
    /// else wakes when a delay ends.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = mqsync::delivery::DeliveryQueue::builder().build().unwrap();
    /// q.publish(7).unwrap();
    /// q.consumer().try_receive().unwrap().nack_after(Duration::from_millis(1));
    /// std::thread::sleep(Duration::from_millis(5));
    /// assert_eq!(q.release_due(), 1);
    /// assert_eq!((q.stats().ready, q.stats().delayed), (1, 0));
    /// ```
    pub fn release_due(&self) -> usize {
        self.shared.release_due()
    }

    /// Why a durable queue's journal stopped writing, if it did (feature `journal`): from then
    /// on every publish is refused with [`PublishError::Storage`], and settlements keep working
    /// in memory but are no longer written, so a restart may deliver them again. `None` for a
    /// healthy or in-memory queue.
    ///
    /// ```
    /// let q = mqsync::delivery::DeliveryQueue::<u8>::builder().build().unwrap();
    /// assert_eq!(q.journal_failure(), None);
    /// ```
    #[cfg(feature = "journal")]
    pub fn journal_failure(&self) -> Option<String> {
        self.shared.durable.as_ref().and_then(|d| d.failure())
    }

    /// Forces everything a durable queue has written to the disk, whatever its journal's flush
    /// policy (feature `journal`): after it returns, every publish and settlement so far
    /// survives a power loss too. Nothing to do for an in-memory queue.
    ///
    /// # Errors
    ///
    /// The journal's, if the sync fails (the journal then stops: see
    /// [`journal_failure`](Self::journal_failure)).
    ///
    /// ```
    /// use mqsync::delivery::DeliveryQueue;
    /// use mqsync::journal::{FlushPolicy, Journal, JournalOptions};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let options = JournalOptions::default().flush(FlushPolicy::Never);
    /// let journal = Journal::open(dir.path(), options).unwrap();
    /// let q = DeliveryQueue::<Vec<u8>>::builder().open_durable(journal).unwrap();
    /// q.publish(b"order 17".to_vec()).unwrap();
    /// q.sync().unwrap(); // on the disk now
    /// ```
    #[cfg(feature = "journal")]
    pub fn sync(&self) -> Result<(), crate::journal::JournalError> {
        match &self.shared.durable {
            Some(durable) => durable.journal().sync(),
            None => Ok(()),
        }
    }

    /// True if the queue keeps a journal (built with
    /// [`open_durable`](super::DeliveryBuilder::open_durable)).
    ///
    /// ```
    /// let q = mqsync::delivery::DeliveryQueue::<u8>::builder().build().unwrap();
    /// assert!(!q.is_durable());
    /// ```
    pub fn is_durable(&self) -> bool {
        #[cfg(feature = "journal")]
        return self.shared.durable.is_some();
        #[cfg(not(feature = "journal"))]
        false
    }

    /// The number of priority levels.
    ///
    /// ```
    /// let q = mqsync::delivery::DeliveryQueue::<u8>::builder().priorities(5).build().unwrap();
    /// assert_eq!(q.priorities(), 5);
    /// ```
    pub fn priorities(&self) -> u8 {
        self.shared.lanes.len() as u8
    }

    /// A reading of the counters and depths (see [`Stats`] for what adds up).
    ///
    /// ```
    /// let q = mqsync::delivery::DeliveryQueue::builder().build().unwrap();
    /// q.publish(1).unwrap();
    /// assert_eq!((q.stats().published, q.stats().ready), (1, 1));
    /// ```
    pub fn stats(&self) -> Stats {
        let shared = &*self.shared;
        let per_priority: Vec<usize> = shared.lanes.iter().map(Lane::len).collect();
        let c = &shared.counters;
        Stats {
            ready: per_priority.iter().sum(),
            unacked: c.unacked.load(Ordering::Relaxed),
            delayed: shared.delayed.len(),
            per_priority,
            published: shared.closing.published(),
            delivered: 0,
            acked: c.acked.load(Ordering::Relaxed),
            redelivered: c.redelivered.load(Ordering::Relaxed),
            dead_lettered: c.dead_lettered.load(Ordering::Relaxed),
            timed_out: c.timed_out.load(Ordering::Relaxed),
            late_settlements: c.late_settlements.load(Ordering::Relaxed),
            recovered: shared.recovered,
        }
        .with_delivered(c.expired.load(Ordering::Relaxed))
    }
}

/// Ends an accepted publish's claim as refused when the publish unwinds before its message
/// reached a lane (see `publish_with`); `mem::forget` disarms it once the write returned.
#[cfg(feature = "journal")]
struct RefuseOnUnwind<'a, T>(&'a Shared<T>);

#[cfg(feature = "journal")]
impl<T> Drop for RefuseOnUnwind<'_, T> {
    fn drop(&mut self) {
        self.0.closing.refused_full();
        // A close may be waiting for exactly this claim to end.
        self.0.wake_if_drained();
    }
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
