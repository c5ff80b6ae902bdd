//! What the reader, the workers and the handle share: the [`Shared`] state, and the messages
//! between the reader and the workers ([`Parcel`], [`Confirm`]).

use super::super::change::Change;
use super::super::event::{DeadChange, Subscription, SyncEvent};
use super::super::metrics::Counters;
use super::super::reconcile::Reconciler;
use crate::queue::MsQueue;
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::time::Instant;

/// Changes of one pull on their way from the reader to the worker that owns their keys: one
/// handoff for many changes.
pub(super) struct Parcel {
    pub(super) source: usize,
    /// The pull's ticket in its source's [`Ledger`].
    pub(super) ticket: u64,
    /// When the pull left its source.
    pub(super) pulled_at: Instant,
    /// In pull order; never empty.
    pub(super) changes: Vec<Change>,
}

/// A worker's word to the reader: `count` changes of pull `ticket` of `source` are applied by
/// every sink, or dead-lettered.
pub(super) struct Confirm {
    pub(super) source: usize,
    pub(super) ticket: u64,
    pub(super) count: usize,
}

/// State shared by the reader, the workers and the handle.
pub(super) struct Shared {
    pub(super) counters: Counters,
    pub(super) dead: MsQueue<DeadChange>,
    pub(super) confirms: MsQueue<Confirm>,
    /// What the workers' batches left behind (applied changes, the values they replaced), for
    /// the reader to drop: freeing stays off the workers' apply path, on a thread that mostly
    /// waits for its sources.
    pub(super) spent: MsQueue<Vec<Change>>,
    /// Batches in `spent`: a worker drops its own leftovers instead once the reader is
    /// [`SPENT_BACKLOG`] behind, so that neither thread waits for the other. Relaxed: it only
    /// decides who frees; the queue publishes the batches.
    pub(super) spent_backlog: AtomicUsize,
    /// Per worker, the changes in its ring and not yet taken into a batch: the reader adds
    /// before it pushes a parcel and waits (or dead-letters) when the sum would pass
    /// `handoff_capacity`; the worker subtracts as it takes a parcel. Relaxed everywhere: the
    /// count only paces the reader (a stale reading makes it wait a little longer or push a
    /// little earlier, never lose a change); the ring itself publishes the parcels.
    pub(super) queued: Box<[CachePadded<AtomicUsize>]>,
    pub(super) stop: AtomicBool,
    pub(super) paused: AtomicBool,
    /// True while the reader found nothing to pull and nothing is in flight.
    pub(super) idle: AtomicBool,
    /// Reader passes completed (so `wait_idle` can insist on a pass that began after it).
    pub(super) passes: AtomicU64,
    /// Workers whose thread has not ended; each counts itself out on exit, panics included
    /// (`LiveWorker`). Read by the reader at shutdown.
    pub(super) live_workers: AtomicUsize,
    pub(super) subscriptions: Vec<Subscription>,
    pub(super) reconciler: Option<Reconciler>,
}

impl Shared {
    pub(super) fn emit(&self, event: impl FnOnce() -> SyncEvent) {
        if let Some((last, rest)) = self.subscriptions.split_last() {
            let event = event();
            for s in rest {
                s.send(event.clone());
            }
            last.send(event);
        }
    }
}

/// How many batches of leftovers may wait for the reader to drop them (`Shared::spent`).
pub(super) const SPENT_BACKLOG: usize = 4;
