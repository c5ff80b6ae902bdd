//! Sources: where the engine pulls changes from, and how it tells them what is committed.

use super::change::Change;
#[cfg(doc)]
use super::error::error_chain;
use super::error::BoxError;
use crate::delivery::{Delivery, DeliveryQueue};
use crate::queue::Fifo;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A source failed to pull or commit; the engine reports it as a
/// [`SyncEvent::SourceError`](super::SyncEvent::SourceError) (the whole [`error_chain`]) and
/// tries again later.
///
/// The cause is the error's [`source`](std::error::Error::source): match a variant to react to
/// a kind of failure, or walk the chain down to the I/O or Redis error.
///
/// ```
/// use mqsync::sync::SourceError;
/// use std::error::Error;
///
/// let err = SourceError::from(std::io::Error::other("disk on fire"));
/// assert_eq!(err.to_string(), "source I/O failed");
/// assert_eq!(err.source().unwrap().to_string(), "disk on fire");
/// assert_eq!(SourceError::other("gone").to_string(), "gone");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// Reading the source failed at the operating system.
    #[error("source I/O failed")]
    Io(#[from] std::io::Error),
    /// A [`RedisSource`](super::RedisSource) command failed (the connection is lost, or the
    /// server refused it).
    #[cfg(feature = "redis")]
    #[error("redis {command} on {stream:?} failed")]
    Redis {
        /// The command (`XREADGROUP`, `XACK`, ...).
        command: &'static str,
        /// The stream key.
        stream: String,
        /// What the client said.
        #[source]
        source: redis::RedisError,
    },
    /// A [`RedisSource`](super::RedisSource) got a reply it cannot read.
    #[cfg(feature = "redis")]
    #[error("redis {command} on {stream:?} returned an unexpected reply")]
    Reply {
        /// The command.
        command: &'static str,
        /// The stream key.
        stream: String,
        /// What was wrong with the reply.
        #[source]
        source: super::RedisCodecError,
    },
    /// A [`RabbitMqSource`](super::RabbitMqSource) operation failed (the connection is lost or
    /// refused, the broker closed the channel, a dead-letter publish was not confirmed). The
    /// source forgot the deliveries it held; the broker redelivers them.
    #[cfg(feature = "rabbitmq")]
    #[error("rabbitmq {operation} on queue {queue:?} failed")]
    RabbitMq {
        /// The operation (`connect`, `consume`, `basic.ack`, `dead-letter publish`).
        operation: &'static str,
        /// The queue.
        queue: String,
        /// Why.
        #[source]
        source: super::RabbitMqError,
    },
    /// A [`JournalSource`](super::JournalSource)'s journal failed: damage on disk, a segment
    /// removed under the reader, or I/O.
    #[cfg(feature = "journal")]
    #[error("journal read failed")]
    Journal(#[from] crate::journal::JournalError),
    /// Any other failure, from a source of your own: the cause as it was.
    #[error(transparent)]
    Other(BoxError),
}

impl SourceError {
    /// A failure caused by `cause`: any error, or a message (`&str`, `String`).
    ///
    /// ```
    /// use mqsync::sync::SourceError;
    /// assert_eq!(SourceError::other("upstream closed").to_string(), "upstream closed");
    /// ```
    pub fn other(cause: impl Into<BoxError>) -> Self {
        SourceError::Other(cause.into())
    }
}

/// Where changes come from.
///
/// The engine numbers the changes a source returns, in pull order, from 0. When every change up
/// to and including number `through` has been applied by every sink (or dead-lettered), the
/// engine calls [`commit(through)`](Source::commit): the source may then forget them (ack a
/// queue, advance a checkpoint). A source that restarts from its last commit after a crash
/// yields at-least-once delivery; the sinks' idempotency makes it effectively once.
///
/// ```
/// use mqsync::sync::{Change, Source, SourceError};
///
/// /// Counts up forever.
/// struct Counter(u64);
/// impl Source for Counter {
///     fn name(&self) -> &str { "counter" }
///     fn pull(&mut self, max: usize) -> Result<Vec<Change>, SourceError> {
///         let start = self.0;
///         self.0 += max as u64;
///         Ok((start..self.0).map(|v| Change::upsert("counter", v, v.into())).collect())
///     }
/// }
/// assert_eq!(Counter(0).pull(3).unwrap().len(), 3);
/// ```
pub trait Source: Send {
    /// A name for reports and events.
    fn name(&self) -> &str;

    /// Up to `max` changes, oldest first; empty when nothing is ready now.
    fn pull(&mut self, max: usize) -> Result<Vec<Change>, SourceError>;

    /// Every change up to and including number `through` is confirmed by every sink.
    fn commit(&mut self, through: u64) -> Result<(), SourceError> {
        let _ = through;
        Ok(())
    }

    /// True once the source will never return anything again (a finite iterator).
    fn is_exhausted(&self) -> bool {
        false
    }
}

/// A source that pops from one of our queues (`MsQueue`, `RingBuffer`, or anything `Fifo`).
///
/// Popped changes leave the queue at once, so this source's delivery guarantee ends where the
/// process does; use [`DeliverySource`] for acknowledgement on apply.
///
/// ```
/// use mqsync::sync::{Change, QueueSource, Source};
/// use std::sync::Arc;
///
/// let q = Arc::new(mqsync::MsQueue::new());
/// q.push(Change::delete("k", 1));
/// let mut source = QueueSource::new("orders", q);
/// assert_eq!(source.pull(10).unwrap().len(), 1);
/// ```
pub struct QueueSource<Q> {
    name: String,
    queue: Arc<Q>,
}

impl<Q: Fifo<Change> + Send + Sync> QueueSource<Q> {
    /// A source named `name` that pops from `queue`.
    pub fn new(name: impl Into<String>, queue: Arc<Q>) -> Self {
        QueueSource {
            name: name.into(),
            queue,
        }
    }
}

impl<Q: Fifo<Change> + Send + Sync> Source for QueueSource<Q> {
    fn name(&self) -> &str {
        &self.name
    }

    fn pull(&mut self, max: usize) -> Result<Vec<Change>, SourceError> {
        let mut out = Vec::new();
        self.queue.pop_many(&mut out, max);
        Ok(out)
    }
}

impl<Q> fmt::Debug for QueueSource<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueSource")
            .field("name", &self.name)
            .finish()
    }
}

/// A source that receives from a [`DeliveryQueue`] and acknowledges each message only once it
/// is committed (applied by every sink, or dead-lettered): a crash or a dropped engine requeues
/// whatever was not committed.
///
/// ```
/// use mqsync::delivery::DeliveryQueue;
/// use mqsync::sync::{Change, DeliverySource, Source};
///
/// let q = DeliveryQueue::builder().build().unwrap();
/// q.publish(Change::delete("k", 1)).unwrap();
/// let mut source = DeliverySource::new("orders", &q);
/// assert_eq!(source.pull(10).unwrap().len(), 1);
/// assert_eq!(q.stats().unacked, 1);
/// source.commit(0).unwrap();
/// assert_eq!(q.stats().acked, 1);
/// ```
pub struct DeliverySource {
    name: String,
    consumer: crate::delivery::Consumer<Change>,
    /// Deliveries pulled and not yet committed, with their numbers.
    held: VecDeque<(u64, Delivery<Change>)>,
    next: u64,
}

impl DeliverySource {
    /// A source named `name` that consumes `queue` (with its own consumer handle).
    pub fn new(name: impl Into<String>, queue: &DeliveryQueue<Change>) -> Self {
        DeliverySource {
            name: name.into(),
            consumer: queue.consumer(),
            held: VecDeque::new(),
            next: 0,
        }
    }
}

impl Source for DeliverySource {
    fn name(&self) -> &str {
        &self.name
    }

    fn pull(&mut self, max: usize) -> Result<Vec<Change>, SourceError> {
        let mut out = Vec::new();
        while out.len() < max {
            match self.consumer.try_receive() {
                Ok(delivery) => {
                    out.push(delivery.message().clone());
                    self.held.push_back((self.next, delivery));
                    self.next += 1;
                }
                Err(_) => break,
            }
        }
        Ok(out)
    }

    fn commit(&mut self, through: u64) -> Result<(), SourceError> {
        while self.held.front().is_some_and(|(n, _)| *n <= through) {
            if let Some((_, delivery)) = self.held.pop_front() {
                delivery.ack();
            }
        }
        Ok(())
    }
}

impl fmt::Debug for DeliverySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliverySource")
            .field("name", &self.name)
            .field("held", &self.held.len())
            .finish()
    }
}

/// A finite source over an iterator of changes.
///
/// ```
/// use mqsync::sync::{Change, IterSource, Source};
///
/// let mut s = IterSource::new("seed", (0..3).map(|v| Change::delete("k", v)));
/// assert_eq!(s.pull(2).unwrap().len(), 2);
/// assert_eq!(s.pull(2).unwrap().len(), 1);
/// assert!(s.is_exhausted());
/// ```
pub struct IterSource<I> {
    name: String,
    iter: std::iter::Fuse<I>,
    exhausted: bool,
}

impl<I: Iterator<Item = Change> + Send> IterSource<I> {
    /// A source named `name` that yields `iter`'s changes.
    pub fn new(name: impl Into<String>, iter: impl IntoIterator<IntoIter = I>) -> Self {
        IterSource {
            name: name.into(),
            iter: iter.into_iter().fuse(),
            exhausted: false,
        }
    }
}

impl<I: Iterator<Item = Change> + Send> Source for IterSource<I> {
    fn name(&self) -> &str {
        &self.name
    }

    fn pull(&mut self, max: usize) -> Result<Vec<Change>, SourceError> {
        let out: Vec<Change> = self.iter.by_ref().take(max).collect();
        if out.len() < max {
            self.exhausted = true;
        }
        Ok(out)
    }

    fn is_exhausted(&self) -> bool {
        self.exhausted
    }
}

impl<I> fmt::Debug for IterSource<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IterSource")
            .field("name", &self.name)
            .finish()
    }
}

/// A source that calls a function on a schedule (pull a system's state every `interval`).
///
/// ```
/// use mqsync::sync::{Change, PollSource, Source};
/// use std::time::Duration;
///
/// let mut s = PollSource::new("inventory", Duration::from_secs(3600), || vec![Change::delete("k", 1)]);
/// assert_eq!(s.pull(10).unwrap().len(), 1); // the first pull polls at once
/// assert!(s.pull(10).unwrap().is_empty()); // the next poll is an hour away
/// ```
pub struct PollSource<F> {
    name: String,
    interval: Duration,
    poll: F,
    next_poll: Instant,
    pending: VecDeque<Change>,
}

impl<F: FnMut() -> Vec<Change> + Send> PollSource<F> {
    /// A source named `name` that calls `poll` every `interval` (the first time at once).
    pub fn new(name: impl Into<String>, interval: Duration, poll: F) -> Self {
        PollSource {
            name: name.into(),
            interval,
            poll,
            next_poll: Instant::now(),
            pending: VecDeque::new(),
        }
    }
}

impl<F: FnMut() -> Vec<Change> + Send> Source for PollSource<F> {
    fn name(&self) -> &str {
        &self.name
    }

    fn pull(&mut self, max: usize) -> Result<Vec<Change>, SourceError> {
        let now = Instant::now();
        if self.pending.is_empty() && now >= self.next_poll {
            self.pending.extend((self.poll)());
            self.next_poll = now + self.interval;
        }
        let n = max.min(self.pending.len());
        Ok(self.pending.drain(..n).collect())
    }
}

impl<F> fmt::Debug for PollSource<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollSource")
            .field("name", &self.name)
            .field("interval", &self.interval)
            .finish()
    }
}
