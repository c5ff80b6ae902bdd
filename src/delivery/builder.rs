//! Configuration of a [`DeliveryQueue`](super::DeliveryQueue).

use super::dead_letter::DeadLetter;
use super::queue::DeliveryQueue;
use crate::queue::Fifo;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How a consumer chooses between priority levels that all have messages ready.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PriorityMode {
    /// Always the highest ready priority (the default). Low levels can starve while high ones
    /// are busy.
    #[default]
    Strict,
    /// Weighted round robin: out of every `sum(weights)` receives, level `i` is tried first
    /// `weights[i]` times (index = priority; missing weights count as 1, a weight of 0 means
    /// "only when nothing else is ready"). Falls back to strict order when the preferred level is
    /// empty, so no receive returns empty while a message is ready.
    Weighted(Vec<u32>),
}

/// An observer of dead letters.
pub(crate) type DeadLetterFn<T> = Box<dyn Fn(&DeadLetter<T>) + Send + Sync>;

/// How the visibility timeout copies a message (`<T as Clone>::clone`).
pub(crate) type CloneFn<T> = fn(&T) -> T;

/// Where dead letters are routed when not to the queue's own dead-letter queue.
pub(crate) type DeadLetterTarget<T> = Arc<dyn Fifo<DeadLetter<T>> + Send + Sync>;

/// Builds a [`DeliveryQueue`].
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
///     .build();
/// assert_eq!(queue.priorities(), 8);
/// ```
pub struct DeliveryBuilder<T> {
    pub(crate) priorities: u8,
    pub(crate) mode: PriorityMode,
    pub(crate) bound: Option<usize>,
    pub(crate) prefetch: usize,
    pub(crate) delivery_limit: Option<u32>,
    pub(crate) default_ttl: Option<Duration>,
    pub(crate) dead_letter: Option<DeadLetterFn<T>>,
    pub(crate) dead_target: Option<DeadLetterTarget<T>>,
    pub(crate) visibility: Option<(Duration, CloneFn<T>)>,
}

impl<T> Default for DeliveryBuilder<T> {
    fn default() -> Self {
        DeliveryBuilder {
            priorities: 1,
            mode: PriorityMode::Strict,
            bound: None,
            prefetch: usize::MAX,
            delivery_limit: None,
            default_ttl: None,
            dead_letter: None,
            dead_target: None,
            visibility: None,
        }
    }
}

impl<T> DeliveryBuilder<T> {
    /// The number of priority levels, 1 to 16 (default 1). Priorities are `0..levels`, higher
    /// first; a message published with a priority above the top level gets the top level (as
    /// RabbitMQ does).
    ///
    /// # Panics
    ///
    /// If `levels` is 0 or more than 16.
    pub fn priorities(mut self, levels: u8) -> Self {
        assert!(
            (1..=16).contains(&levels),
            "DeliveryQueue priorities must be 1..=16, got {levels}"
        );
        self.priorities = levels;
        self
    }

    /// Strict (default) or weighted choice between ready priority levels.
    pub fn mode(mut self, mode: PriorityMode) -> Self {
        self.mode = mode;
        self
    }

    /// Bounds each priority lane to `capacity` fresh messages; a publish into a full lane gets
    /// [`PublishError::Full`](super::PublishError::Full) back. Redeliveries are never refused
    /// (they were accepted once). Default: unbounded.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0.
    pub fn bounded(mut self, capacity: usize) -> Self {
        assert!(
            capacity > 0,
            "a bounded lane needs a capacity of at least 1"
        );
        self.bound = Some(capacity);
        self
    }

    /// The most unsettled deliveries one [`Consumer`](super::Consumer) may hold (default:
    /// unlimited). At the limit, `try_receive` says
    /// [`PrefetchLimit`](super::TryReceiveError::PrefetchLimit) and blocking receives wait for a
    /// settlement.
    ///
    /// # Panics
    ///
    /// If `limit` is 0.
    pub fn prefetch(mut self, limit: usize) -> Self {
        assert!(
            limit > 0,
            "a prefetch limit of 0 would never deliver anything"
        );
        self.prefetch = limit;
        self
    }

    /// Dead-letters a message that has been delivered `limit` times when it is nacked (or
    /// dropped) once more, with [`DeadReason::DeliveryLimit`](super::DeadReason::DeliveryLimit).
    /// Default: no limit.
    ///
    /// # Panics
    ///
    /// If `limit` is 0.
    pub fn delivery_limit(mut self, limit: u32) -> Self {
        assert!(
            limit > 0,
            "a delivery limit of 0 would dead-letter every message unseen"
        );
        self.delivery_limit = Some(limit);
        self
    }

    /// The time to live of messages published without one. A message whose TTL has passed when
    /// a consumer reaches it is dead-lettered with
    /// [`DeadReason::Expired`](super::DeadReason::Expired) instead of delivered.
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = Some(ttl);
        self
    }

    /// Calls `observer` with every dead letter before it is routed (for logging or metrics).
    /// A panic in the observer is caught; the letter is routed all the same.
    pub fn on_dead_letter(
        mut self,
        observer: impl Fn(&DeadLetter<T>) + Send + Sync + 'static,
    ) -> Self {
        self.dead_letter = Some(Box::new(observer));
        self
    }

    /// Routes dead letters to `target` (any [`Fifo`]: an `MsQueue`, a `RingBuffer`, a waiting
    /// wrapper...) instead of the queue's own dead-letter queue, as a RabbitMQ dead-letter
    /// exchange would. If the target refuses a letter (a full bounded queue), the letter goes to
    /// the queue's own dead-letter queue instead: it is never lost.
    pub fn dead_letter_to(mut self, target: DeadLetterTarget<T>) -> Self {
        self.dead_target = Some(target);
        self
    }

    /// Builds the queue.
    ///
    /// ```
    /// let q = mqsync::delivery::DeliveryQueue::<u8>::builder().build();
    /// assert!(!q.is_closed());
    /// ```
    pub fn build(self) -> DeliveryQueue<T> {
        DeliveryQueue::from_builder(self)
    }
}

impl<T: Clone> DeliveryBuilder<T> {
    /// Requeues a delivery that is neither settled nor dropped within `timeout` (a consumer that
    /// hangs), as SQS's visibility timeout does. The queue keeps a clone of every outstanding
    /// message for this, hence `T: Clone`. A settlement that comes after the timeout fired is
    /// late and does nothing (the message was already requeued): delivery is at least once.
    ///
    /// Overdue deliveries are swept at the start of every receive, and blocking receives wake
    /// at the next deadline; async receivers rely on other activity or on
    /// [`DeliveryQueue::expire_overdue`](super::DeliveryQueue::expire_overdue).
    ///
    /// ```
    /// use mqsync::delivery::DeliveryQueue;
    /// use std::time::Duration;
    ///
    /// let q = DeliveryQueue::builder().visibility_timeout(Duration::from_millis(5)).build();
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
        self.visibility = Some((timeout, <T as Clone>::clone));
        self
    }
}

impl<T> fmt::Debug for DeliveryBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryBuilder")
            .field("priorities", &self.priorities)
            .field("mode", &self.mode)
            .field("bound", &self.bound)
            .field("prefetch", &self.prefetch)
            .field("delivery_limit", &self.delivery_limit)
            .field("default_ttl", &self.default_ttl)
            .field("dead_letter_observer", &self.dead_letter.is_some())
            .field("dead_letter_target", &self.dead_target.is_some())
            .field("visibility_timeout", &self.visibility.map(|(t, _)| t))
            .finish()
    }
}
