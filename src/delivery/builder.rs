//! [`DeliveryBuilder`]: configuration of a [`DeliveryQueue`], checked once by `build()`.

use super::config::{DeliveryConfig, PriorityMode, RedeliveryBackoff};
use super::dead_letter::{DeadLetter, DeadLetterFn, DeadLetterTarget};
#[cfg(feature = "journal")]
use super::durable::{self, DurableError, Persist};
use super::queue::DeliveryQueue;
use super::shared::Shared;
use super::visibility::CloneFn;
#[cfg(feature = "journal")]
use crate::journal::Journal;
use crate::primitive::sync::Arc;
use crate::ConfigError;
use std::fmt;
use std::time::Duration;

/// Builds a [`DeliveryQueue`].
///
/// The setters only record their value (they never panic); [`build`](Self::build) checks them
/// all and names the first one it refuses, with its value, in a [`ConfigError`].
///
/// ```
/// use mqsync::delivery::{DeliveryQueue, PriorityMode};
/// use std::time::Duration;
///
/// let queue: DeliveryQueue<String> = DeliveryQueue::builder()
///     .priorities(8)
///     .mode(PriorityMode::Weighted(vec![1, 1, 2, 2, 4, 4, 8, 8]))
///     .bounded(10_000)
///     .prefetch(64)
///     .delivery_limit(5)
///     .default_ttl(Duration::from_secs(30))
///     .on_dead_letter(|dead| eprintln!("dead letter: {} ({})", dead.message, dead.reason))
///     .dead_letter_to(std::sync::Arc::new(mqsync::MsQueue::new()))
///     .build()
///     .unwrap();
/// assert_eq!(queue.priorities(), 8);
///
/// let err = DeliveryQueue::<String>::builder().priorities(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "priorities must be at least 1, got 0");
/// ```
pub struct DeliveryBuilder<T> {
    /// The plain-data settings, checked by `build`.
    config: DeliveryConfig,
    dead_letter: Option<DeadLetterFn<T>>,
    dead_target: Option<DeadLetterTarget<T>>,
    /// `<T as Clone>::clone`, set together with `config.visibility_timeout` (both only where
    /// `T: Clone`).
    clone: Option<CloneFn<T>>,
}

impl<T> Default for DeliveryBuilder<T> {
    fn default() -> Self {
        DeliveryBuilder {
            config: DeliveryConfig::default(),
            dead_letter: None,
            dead_target: None,
            clone: None,
        }
    }
}

impl<T> DeliveryQueue<T> {
    /// Starts a builder (1 priority level, unbounded, no limits, dead letters kept in the
    /// queue's own dead-letter queue).
    ///
    /// ```
    /// let q = mqsync::delivery::DeliveryQueue::<u32>::builder().priorities(3).build().unwrap();
    /// assert_eq!(q.priorities(), 3);
    /// ```
    pub fn builder() -> DeliveryBuilder<T> {
        DeliveryBuilder::default()
    }
}

impl<T> DeliveryBuilder<T> {
    /// The number of priority levels, 1 to 16 (default 1). Priorities are `0..levels`, higher
    /// first; a message published with a priority above the top level gets the top level (as
    /// RabbitMQ does). `build` refuses 0 and more than 16.
    ///
    /// ```
    /// use mqsync::{delivery::DeliveryQueue, ConfigError};
    /// let err = DeliveryQueue::<u8>::builder().priorities(17).build().unwrap_err();
    /// assert_eq!(err, ConfigError::TooLarge { field: "priorities", value: 17, max: 16 });
    /// ```
    pub fn priorities(mut self, levels: u8) -> Self {
        self.config.priorities = levels;
        self
    }

    /// Strict (default) or weighted choice between ready priority levels. `build` refuses
    /// more weights than levels.
    ///
    /// ```
    /// use mqsync::delivery::{DeliveryQueue, PriorityMode};
    /// let q = DeliveryQueue::<u8>::builder()
    ///     .priorities(3)
    ///     .mode(PriorityMode::Weighted(vec![1, 2, 4]))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(q.priorities(), 3);
    /// ```
    pub fn mode(mut self, mode: PriorityMode) -> Self {
        self.config.mode = mode;
        self
    }

    /// Bounds each priority lane to `capacity` fresh messages; a publish into a full lane gets
    /// [`PublishError::Full`](super::PublishError::Full) back. Redeliveries are never refused
    /// (they were accepted once). Default: unbounded. `build` refuses 0 (and more than
    /// 2^47 - 1, the ring's limit).
    ///
    /// ```
    /// use mqsync::{delivery::DeliveryQueue, ConfigError};
    /// let q = DeliveryQueue::builder().bounded(1).build().unwrap();
    /// q.publish(1).unwrap();
    /// assert!(q.publish(2).unwrap_err().is_full());
    /// let err = DeliveryQueue::<u8>::builder().bounded(0).build().unwrap_err();
    /// assert_eq!(err, ConfigError::TooSmall { field: "bounded", value: 0, min: 1 });
    /// ```
    pub fn bounded(mut self, capacity: usize) -> Self {
        self.config.bounded = Some(capacity);
        self
    }

    /// The most unsettled deliveries one [`Consumer`](super::Consumer) may hold (default:
    /// unlimited). At the limit, `try_receive` says
    /// [`PrefetchLimit`](super::TryReceiveError::PrefetchLimit) and blocking receives wait for a
    /// settlement. `build` refuses 0 (nothing would ever be delivered).
    ///
    /// ```
    /// use mqsync::delivery::DeliveryQueue;
    /// let err = DeliveryQueue::<u8>::builder().prefetch(0).build().unwrap_err();
    /// assert_eq!(err.field(), "prefetch");
    /// ```
    pub fn prefetch(mut self, limit: usize) -> Self {
        self.config.prefetch = Some(limit);
        self
    }

    /// Dead-letters a message that has been delivered `limit` times when it is nacked (or
    /// dropped) once more, with [`DeadReason::DeliveryLimit`](super::DeadReason::DeliveryLimit).
    /// Default: no limit. `build` refuses 0 (every message would be dead-lettered unseen).
    ///
    /// ```
    /// use mqsync::delivery::DeliveryQueue;
    /// let err = DeliveryQueue::<u8>::builder().delivery_limit(0).build().unwrap_err();
    /// assert_eq!(err.to_string(), "delivery_limit must be at least 1, got 0");
    /// ```
    pub fn delivery_limit(mut self, limit: u32) -> Self {
        self.config.delivery_limit = Some(limit);
        self
    }

    /// The time to live of messages published without one. A message whose TTL has passed when
    /// a consumer reaches it is dead-lettered with
    /// [`DeadReason::Expired`](super::DeadReason::Expired) instead of delivered. `build` refuses
    /// zero (every message would expire unseen) and a TTL too long to add to the current time
    /// (such as `Duration::MAX`).
    ///
    /// ```
    /// use mqsync::delivery::DeliveryQueue;
    /// use std::time::Duration;
    /// let err = DeliveryQueue::<u8>::builder().default_ttl(Duration::MAX).build().unwrap_err();
    /// assert_eq!(err.field(), "default_ttl");
    /// ```
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.config.default_ttl = Some(ttl);
        self
    }

    /// Calls `observer` with every dead letter before it is routed (for logging or metrics).
    /// A panic in the observer is caught; the letter is routed all the same.
    ///
    /// ```
    /// use mqsync::delivery::DeliveryQueue;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let seen = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&seen);
    /// let q = DeliveryQueue::builder()
    ///     .on_dead_letter(move |_| { counter.fetch_add(1, Ordering::Relaxed); })
    ///     .build()
    ///     .unwrap();
    /// q.publish(1).unwrap();
    /// q.consumer().try_receive().unwrap().reject();
    /// assert_eq!(seen.load(Ordering::Relaxed), 1);
    /// ```
    pub fn on_dead_letter(
        mut self,
        observer: impl Fn(&DeadLetter<T>) + Send + Sync + 'static,
    ) -> Self {
        self.dead_letter = Some(Box::new(observer));
        self
    }

    /// Routes dead letters to `target` (any [`Fifo`](crate::queue::Fifo): an `MsQueue`, a
    /// `RingBuffer`, a waiting wrapper...) instead of the queue's own dead-letter queue, as a
    /// RabbitMQ dead-letter exchange would. If the target refuses a letter (a full bounded
    /// queue), the letter goes to the queue's own dead-letter queue instead: it is never lost.
    ///
    /// ```
    /// use mqsync::delivery::DeliveryQueue;
    /// use mqsync::MsQueue;
    /// use std::sync::Arc;
    ///
    /// let target = Arc::new(MsQueue::new());
    /// let q = DeliveryQueue::builder().dead_letter_to(target.clone()).build().unwrap();
    /// q.publish("x").unwrap();
    /// q.consumer().try_receive().unwrap().reject();
    /// assert_eq!(target.pop().unwrap().message, "x");
    /// ```
    pub fn dead_letter_to(mut self, target: DeadLetterTarget<T>) -> Self {
        self.dead_target = Some(target);
        self
    }

    /// Waits before every redelivery, growing with the message's deliveries (a nack with
    /// requeue, a dropped delivery, the visibility timeout), so that a failing message does not
    /// hot-loop to its delivery limit. While it waits, a message is invisible and counted in
    /// [`Stats::delayed`](super::Stats::delayed); see
    /// [`Delivery::nack_after`](super::Delivery::nack_after) for how it comes back. `build`
    /// refuses a zero `initial`, a `max` below `initial` or above a year, and a zero factor.
    ///
    /// ```
    /// use mqsync::delivery::{DeliveryQueue, RedeliveryBackoff};
    /// use std::time::Duration;
    ///
    /// let q = DeliveryQueue::builder()
    ///     .redelivery_backoff(RedeliveryBackoff::new(Duration::from_millis(10), Duration::from_secs(1)))
    ///     .build()
    ///     .unwrap();
    /// q.publish("job").unwrap();
    /// let c = q.consumer();
    /// c.try_receive().unwrap().nack(true); // back in 10 ms, not at once
    /// assert_eq!(q.stats().delayed, 1);
    /// assert_eq!(c.receive_timeout(Duration::from_secs(5)).unwrap().delivery_count(), 2);
    /// ```
    pub fn redelivery_backoff(mut self, backoff: RedeliveryBackoff) -> Self {
        self.config.redelivery_backoff = Some(backoff);
        self
    }

    /// Builds the queue, or names the first setting it refuses (see
    /// [`DeliveryConfig::validate`]).
    ///
    /// ```
    /// let q = mqsync::delivery::DeliveryQueue::<u8>::builder().build().unwrap();
    /// assert!(!q.is_closed());
    /// ```
    pub fn build(self) -> Result<DeliveryQueue<T>, ConfigError> {
        self.config.validate()?;
        Ok(DeliveryQueue {
            shared: Arc::new(Shared::new(
                self.config,
                self.dead_letter,
                self.dead_target,
                self.clone,
            )),
        })
    }
}

#[cfg(feature = "journal")]
impl<T: Persist> DeliveryBuilder<T> {
    /// Builds a durable queue on `journal` (feature `journal`): every publish is written to it
    /// before it returns, every settlement and requeue after, and the messages the journal
    /// holds unsettled — from an earlier run that ended in any way, `kill -9` included — are
    /// delivered again, in publish order, ahead of new ones, with their priority, TTL deadline,
    /// delivery count and delay. docs/durability.md has the record format and what each flush
    /// policy survives.
    ///
    /// The queue owns the journal; give it a directory of its own.
    ///
    /// # Errors
    ///
    /// [`DurableError::Config`] for a refused setting (as [`build`](Self::build)),
    /// [`DurableError::Journal`] when the journal cannot be read or rewritten,
    /// [`DurableError::Record`] for a record the queue did not write, and
    /// [`DurableError::Decode`] when [`Persist::decode`] refuses a message.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::delivery::DeliveryQueue;
    /// use mqsync::journal::{Journal, JournalOptions};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let open = || {
    ///     let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    ///     DeliveryQueue::<String>::builder().priorities(2).open_durable(journal).unwrap()
    /// };
    /// let queue = open();
    /// queue.publish_with("kept".to_string(), 1, None).unwrap();
    /// queue.publish("done".to_string()).unwrap();
    /// queue.consumer().try_receive().unwrap().nack(true); // "kept": delivered once, returned
    /// let c = queue.consumer();
    /// let _kept = c.try_receive().unwrap();
    /// c.try_receive().unwrap().ack(); // "done"
    /// drop((_kept, c, queue)); // (or the process dies: the same)
    ///
    /// let queue = open();
    /// let again = queue.consumer().try_receive().unwrap();
    /// assert_eq!((again.message().as_str(), again.priority()), ("kept", 1));
    /// assert_eq!(again.delivery_count(), 3); // two before the restart, counted
    /// assert_eq!(queue.stats().recovered, 1); // "done" was acknowledged: never again
    /// ```
    pub fn open_durable(self, journal: Journal) -> Result<DeliveryQueue<T>, DurableError> {
        self.config.validate()?;
        let priorities = self.config.priorities;
        let (durable, recovered) = durable::recover::<T>(journal, priorities)?;
        let mut shared = Shared::new(self.config, self.dead_letter, self.dead_target, self.clone);
        shared.recover(durable, recovered);
        Ok(DeliveryQueue {
            shared: Arc::new(shared),
        })
    }
}

impl<T: Clone> DeliveryBuilder<T> {
    /// A builder with every plain-data setting taken from `config` (a service's configuration
    /// file, say); the callbacks can still be added. `T: Clone` because the config may set a
    /// [visibility timeout](Self::visibility_timeout). Nothing is checked until `build`.
    ///
    /// ```
    /// use mqsync::delivery::{DeliveryBuilder, DeliveryConfig};
    ///
    /// let mut config = DeliveryConfig::default();
    /// config.priorities = 0;
    /// let err = DeliveryBuilder::<u8>::from_config(config).build().unwrap_err();
    /// assert_eq!(err.field(), "priorities");
    /// ```
    pub fn from_config(config: DeliveryConfig) -> Self {
        DeliveryBuilder {
            config,
            dead_letter: None,
            dead_target: None,
            clone: Some(<T as Clone>::clone),
        }
    }

    /// Requeues a delivery that is neither settled nor dropped within `timeout` (a consumer that
    /// hangs), as SQS's visibility timeout does. The queue keeps a clone of every outstanding
    /// message for this, hence `T: Clone`. A settlement that comes after the timeout fired is
    /// late and does nothing (the message was already requeued): delivery is at least once.
    /// `build` refuses zero and a timeout too long to add to the current time.
    ///
    /// Overdue deliveries are swept at the start of every receive, and blocking receives wake
    /// at the next deadline; async receivers rely on other activity or on
    /// [`DeliveryQueue::expire_overdue`](super::DeliveryQueue::expire_overdue).
    ///
    /// ```
    /// use mqsync::delivery::DeliveryQueue;
    /// use std::time::Duration;
    ///
    /// let q = DeliveryQueue::builder()
    ///     .visibility_timeout(Duration::from_millis(5))
    ///     .build()
    ///     .unwrap();
    /// q.publish("job").unwrap();
    /// let c = q.consumer();
    /// let hung = c.try_receive().unwrap();
    /// std::thread::sleep(Duration::from_millis(20));
    /// let again = c.try_receive().unwrap(); // the sweep requeued it
    /// assert_eq!(again.delivery_count(), 2);
    /// again.ack();
    /// hung.ack(); // late: ignored
    /// assert_eq!(q.stats().acked, 1);
    /// ```
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.config.visibility_timeout = Some(timeout);
        self.clone = Some(<T as Clone>::clone);
        self
    }
}

impl<T> fmt::Debug for DeliveryBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryBuilder")
            .field("config", &self.config)
            .field("dead_letter_observer", &self.dead_letter.is_some())
            .field("dead_letter_target", &self.dead_target.is_some())
            .finish()
    }
}
