//! What the engine tells its observers, and how an observer listens.

use super::change::Change;
use crate::handoff::{self, Receiver, Sender};
use crate::queue::RingBuffer;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A change that will not be applied, with the sink that refused it and why.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadChange {
    /// The change, so that it can be inspected or replayed.
    pub change: Change,
    /// The sink that gave up on it (or `"engine"` for a change the engine refused).
    pub sink: String,
    /// The last reason given.
    pub reason: String,
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
        /// What it said.
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
    sender: Sender<SyncEvent, RingBuffer<SyncEvent>>,
    lossless: bool,
    missed: Arc<AtomicU64>,
}

impl Subscription {
    pub(crate) fn send(&self, event: SyncEvent) {
        let sent = if self.lossless {
            self.sender.push_blocking(event)
        } else {
            self.sender.push(event)
        };
        if let Err(refused) = sent {
            if refused.is_full() {
                // Relaxed: a statistic read by the observer.
                self.missed.fetch_add(1, Ordering::Relaxed);
            }
            // Closed: the observer went away; nobody is listening.
        }
    }
}

/// Creates a subscription: the engine keeps the first half, the user the second.
pub(crate) fn subscribe(mode: ObserverMode) -> (Subscription, Observer) {
    let (capacity, lossless) = match mode {
        ObserverMode::Lossless(c) => (c, true),
        ObserverMode::BoundedLag(c) => (c, false),
    };
    let (sender, receiver) = handoff::channel(RingBuffer::with_capacity(capacity.max(1)));
    let missed = Arc::new(AtomicU64::new(0));
    (
        Subscription {
            sender,
            lossless,
            missed: Arc::clone(&missed),
        },
        Observer { receiver, missed },
    )
}

/// Receives the engine's events (see [`DataSyncBuilder::observe`](super::DataSyncBuilder::observe)).
pub struct Observer {
    receiver: Receiver<SyncEvent, RingBuffer<SyncEvent>>,
    missed: Arc<AtomicU64>,
}

impl Observer {
    /// The next event, if one is waiting.
    pub fn try_next(&self) -> Option<SyncEvent> {
        self.receiver.pop().ok()
    }

    /// The next event, waiting at most `timeout`; `None` on timeout or once the engine is gone
    /// and every event was received.
    pub fn next_timeout(&self, timeout: Duration) -> Option<SyncEvent> {
        self.receiver.pop_timeout(timeout).ok()
    }

    /// Every event still waiting.
    pub fn drain(&self) -> Vec<SyncEvent> {
        std::iter::from_fn(|| self.try_next()).collect()
    }

    /// Events that a bounded-lag observer missed because its buffer was full (0 for lossless).
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
