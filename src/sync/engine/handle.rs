//! [`DataSync`], the handle of a running engine, and the [`SyncReport`] it ends with.

use super::super::event::{DeadChange, SyncEvent};
use super::super::metrics::{LatencySnapshot, Metrics};
use super::super::reconcile::ReconcileReport;
use super::shared::Shared;
use crate::queue::MsQueue;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A running sync engine. Dropping it shuts it down gracefully (as [`shutdown`](Self::shutdown)).
pub struct DataSync {
    pub(super) shared: Arc<Shared>,
    pub(super) reader: Option<JoinHandle<Vec<Option<u64>>>>,
    pub(super) workers: Vec<JoinHandle<()>>,
    pub(super) names: Vec<String>,
}

/// What a finished engine did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SyncReport {
    /// The final counters (`pulled = applied + dead_lettered`).
    pub metrics: Metrics,
    /// Dead letters not taken out of [`DataSync::dead_letters`] before the shutdown.
    pub dead_letters: Vec<DeadChange>,
    /// Per source: its name and the last change number committed to it.
    pub committed: Vec<(String, Option<u64>)>,
}

impl DataSync {
    /// The counters right now.
    pub fn metrics(&self) -> Metrics {
        self.shared.counters.read()
    }

    /// The source-to-apply latency since the previous call (or the start), and a new interval
    /// begins: for a dashboard that wants this minute's p99, not the p99 since the start
    /// ([`Metrics::latency`]). Example at [`LatencySnapshot`].
    pub fn take_latency(&self) -> LatencySnapshot {
        self.shared.counters.latency.take()
    }

    /// The changes that could not be applied, with reasons (take them out to replay them).
    pub fn dead_letters(&self) -> &MsQueue<DeadChange> {
        &self.shared.dead
    }

    /// Stops pulling from the sources; changes already pulled are still applied.
    pub fn pause(&self) {
        // Relaxed: a request the reader polls; nothing is published with it.
        self.shared.paused.store(true, Ordering::Relaxed);
    }

    /// Resumes pulling.
    pub fn resume(&self) {
        self.shared.paused.store(false, Ordering::Relaxed);
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.shared.paused.load(Ordering::Relaxed)
    }

    /// Runs reconciliation now (if configured): compares, queues repairs, returns what it found.
    pub fn reconcile_now(&self) -> Option<ReconcileReport> {
        let report = self.shared.reconciler.as_ref()?.run();
        let event = report.clone();
        self.shared.emit(|| SyncEvent::Reconciled(event));
        Some(report)
    }

    /// Waits until the engine is idle — a reader pass that began after this call found nothing
    /// to pull and nothing in flight — or `timeout` passes. True if idle. Call it after your
    /// producers are done to wait for the engine to catch up.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        // A timeout too long for the clock waits without a deadline.
        let deadline = Instant::now().checked_add(timeout);
        // AcqRel RMW that adds nothing, not a load: it joins `passes`' release sequence, so the
        // reader's next (AcqRel) increment synchronizes with it, and everything this thread did
        // before the call (pushes into a source, `reconcile_now`'s repairs) happens-before the
        // passes counted below. With a plain load nothing orders those writes for the reader,
        // which may then keep reading a stale, empty queue and report idle (miri's weak-memory
        // emulation did: reconciliation repairs left unrouted, .ci/miri's sync engine run).
        // Acquire: pairs with the reader's Release increment.
        let start = self.shared.passes.fetch_add(0, Ordering::AcqRel);
        loop {
            // Acquire: pairs with the reader's Release stores (its counters are then settled).
            let passes = self.shared.passes.load(Ordering::Acquire);
            if passes >= start + 2 && self.shared.idle.load(Ordering::Acquire) {
                return true;
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return false;
            }
            thread::sleep(Duration::from_micros(200));
        }
    }

    /// Stops intake, drains everything in flight through the sinks, commits the sources, joins
    /// the threads and reports. Nothing pulled is lost. (If a worker thread died, from a panic
    /// outside the sinks' guard, the changes it never confirmed are not committed: a durable
    /// source delivers them again.)
    pub fn shutdown(mut self) -> SyncReport {
        self.stop()
    }

    fn stop(&mut self) -> SyncReport {
        // Release: pairs with the reader's Acquire load.
        self.shared.stop.store(true, Ordering::Release);
        let committed = match self.reader.take() {
            Some(reader) => reader.join().unwrap_or_default(),
            None => Vec::new(),
        };
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        SyncReport {
            metrics: self.shared.counters.read(),
            dead_letters: std::iter::from_fn(|| self.shared.dead.pop()).collect(),
            committed: self.names.iter().cloned().zip(committed).collect(),
        }
    }
}

impl Drop for DataSync {
    fn drop(&mut self) {
        if self.reader.is_some() {
            let _ = self.stop();
        }
    }
}

impl fmt::Debug for DataSync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataSync")
            .field("sources", &self.names)
            .field("workers", &self.workers.len())
            .field("metrics", &self.metrics())
            .finish()
    }
}
