//! What the engine tells its observers, and how an observer listens.

use super::change::Change;
use crate::channel::{self, Receiver, Sender, TrySendError};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A change that will not be applied, with the sink that refused it and why.
///
/// Serializable, so dead letters can be written out (JSON lines, a table) and replayed later.
///
/// ```
/// use mqsync::sync::{Change, DeadChange};
///
/// let dead = DeadChange::new(Change::delete("k", 1), "warehouse", "constraint violation");
/// let json = serde_json::to_string(&dead).unwrap();
/// assert_eq!(serde_json::from_str::<DeadChange>(&json).unwrap(), dead);
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct DeadChange {
    /// The change, so that it can be inspected or replayed.
    pub change: Change,
    /// The sink that gave up on it (or `"engine"` for a change the engine refused).
    pub sink: String,
    /// The last reason given.
    pub reason: String,
}

impl DeadChange {
    /// `change`, given up on by `sink` (`"engine"` for the engine itself) for `reason`.
    ///
    /// ```
    /// use mqsync::sync::{Change, DeadChange};
    /// let dead = DeadChange::new(Change::delete("k", 1), "engine", "handoff buffer full");
    /// assert_eq!(dead.sink, "engine");
    /// ```
    pub fn new(change: Change, sink: impl Into<String>, reason: impl Into<String>) -> Self {
        DeadChange {
            change,
            sink: sink.into(),
            reason: reason.into(),
        }
    }
}

/// Something that happened in the engine.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SyncEvent {
    /// A change was applied by every sink.
    Applied(Change),
    /// A sink failed some of a batch and is retrying.
    Retried {
        /// The sink.
        sink: String,
        /// Failed attempts in this batch.
        attempts: u64,
    },
    /// A change was dead-lettered.
    DeadLettered(DeadChange),
    /// A source failed to pull or commit; the engine goes on and retries later.
    SourceError {
        /// The source.
        source: String,
        /// What it said: the error and its causes in one line ([`error_chain`](super::error_chain)).
        error: String,
    },
    /// A source committed everything up to and including change number `through`.
    Committed {
        /// The source.
        source: String,
        /// The last committed change number (counted from 0 in pull order).
        through: u64,
    },
    /// Reconciliation ran and repaired drift.
    Reconciled(super::reconcile::ReconcileReport),
}

/// How an observer keeps up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ObserverMode {
    /// Every event is delivered; when the observer's buffer (this many events) is full, the
    /// engine waits for it (backpressure on the workers).
    Lossless(usize),
    /// At most this many events wait; when full, new events are not queued and are counted in
    /// [`Observer::missed`] (bounded lag, never a silent drop).
    BoundedLag(usize),
}

/// The engine's side of one subscription.
pub(crate) struct Subscription {
    sender: Sender<SyncEvent>,
    lossless: bool,
    missed: Arc<AtomicU64>,
}

impl Subscription {
    pub(crate) fn send(&self, event: SyncEvent) {
        let sent = if self.lossless {
            self.sender
                .send(event)
                .map_err(|e| TrySendError::Disconnected(e.into_inner()))
        } else {
            self.sender.try_send(event)
        };
        if let Err(TrySendError::Full(_)) = sent {
            // Relaxed: a statistic read by the observer.
            self.missed.fetch_add(1, Ordering::Relaxed);
        }
        // Disconnected: the observer went away; nobody is listening.
    }
}

/// Receives the engine's events: make one with [`Observer::new`], hand it to
/// [`DataSyncBuilder::observe`](super::DataSyncBuilder::observe), read it while the engine runs.
///
/// ```
/// use mqsync::sync::{Change, DataSync, IterSource, Observer, ObserverMode, Replica, SyncEvent};
/// use std::time::Duration;
///
/// let observer = Observer::new(ObserverMode::Lossless(1024));
/// let engine = DataSync::builder()
///     .source(IterSource::new("seed", [Change::delete("k", 1)]))
///     .sink(Replica::new())
///     .observe(&observer)
///     .start()?;
/// assert!(engine.wait_idle(Duration::from_secs(30)));
/// drop(engine);
/// assert!(observer.drain().iter().any(|e| matches!(e, SyncEvent::Applied(_))));
/// # Ok::<(), mqsync::ConfigError>(())
/// ```
pub struct Observer {
    receiver: Receiver<SyncEvent>,
    missed: Arc<AtomicU64>,
    /// The engine's half until an engine's builder takes it (once: the channel closes when the
    /// engine, its only sender, is gone).
    pending: Mutex<Option<Subscription>>,
}

impl Observer {
    /// An observer that keeps up as `mode` says. It hears nothing until it is given to a
    /// builder ([`DataSyncBuilder::observe`](super::DataSyncBuilder::observe)).
    ///
    /// ```
    /// use mqsync::sync::{Observer, ObserverMode};
    /// let observer = Observer::new(ObserverMode::BoundedLag(64));
    /// assert!(observer.try_next().is_none());
    /// ```
    pub fn new(mode: ObserverMode) -> Self {
        let (capacity, lossless) = match mode {
            ObserverMode::Lossless(c) => (c, true),
            ObserverMode::BoundedLag(c) => (c, false),
        };
        let (sender, receiver) = channel::bounded(capacity.max(1));
        let missed = Arc::new(AtomicU64::new(0));
        let subscription = Subscription {
            sender,
            lossless,
            missed: Arc::clone(&missed),
        };
        Observer {
            receiver,
            missed,
            pending: Mutex::new(Some(subscription)),
        }
    }

    /// The engine's half, the first time it is asked for; `None` after.
    pub(crate) fn take_subscription(&self) -> Option<Subscription> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// The next event, if one is waiting.
    ///
    /// ```
    /// use mqsync::sync::{Observer, ObserverMode};
    /// assert!(Observer::new(ObserverMode::Lossless(1)).try_next().is_none());
    /// ```
    pub fn try_next(&self) -> Option<SyncEvent> {
        self.receiver.try_recv().ok()
    }

    /// The next event, waiting at most `timeout`; `None` on timeout or once the engine is gone
    /// and every event was received.
    ///
    /// ```
    /// use mqsync::sync::{Observer, ObserverMode};
    /// use std::time::Duration;
    /// let observer = Observer::new(ObserverMode::Lossless(1));
    /// assert!(observer.next_timeout(Duration::from_millis(1)).is_none());
    /// ```
    pub fn next_timeout(&self, timeout: Duration) -> Option<SyncEvent> {
        self.receiver.recv_timeout(timeout).ok()
    }

    /// Every event still waiting.
    ///
    /// ```
    /// use mqsync::sync::{Observer, ObserverMode};
    /// assert!(Observer::new(ObserverMode::Lossless(1)).drain().is_empty());
    /// ```
    pub fn drain(&self) -> Vec<SyncEvent> {
        std::iter::from_fn(|| self.try_next()).collect()
    }

    /// Events that a bounded-lag observer missed because its buffer was full (0 for lossless).
    ///
    /// ```
    /// use mqsync::sync::{Observer, ObserverMode};
    /// assert_eq!(Observer::new(ObserverMode::BoundedLag(1)).missed(), 0);
    /// ```
    pub fn missed(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observer")
            .field("waiting", &self.receiver.len())
            .field("missed", &self.missed())
            .finish()
    }
}
