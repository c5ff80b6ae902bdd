//! Reconciliation: compare a source's full state with a replica and plan the repairs.

use super::change::Change;
use super::replica::Replica;
use crate::queue::MsQueue;
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// What a reconciliation found (and queued repairs for).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconcileReport {
    /// Source entities compared.
    pub checked: usize,
    /// Keys the target lacked.
    pub missing: usize,
    /// Keys the target held at an older version.
    pub stale: usize,
    /// Keys the target held that the source no longer has (deleted in the target).
    pub extra: usize,
}

impl ReconcileReport {
    /// Repairs queued in all.
    pub fn repaired(&self) -> usize {
        self.missing + self.stale + self.extra
    }
}

/// Plans the changes that bring `target` to `source`'s state.
///
/// `source` is the source's full current state as upserts (one per live key, with versions).
/// Missing and stale keys get the source's change; keys the source lacks are deleted at the
/// target's own version (a delete wins a version tie, see [`Change::supersedes`]). A key the
/// target holds at a *newer* version than the snapshot is left alone: the snapshot is older than
/// changes still in flight.
///
/// ```
/// use mqsync::sync::{plan_repairs, Change, Replica};
/// use serde_json::json;
///
/// let target = Replica::new();
/// target.apply(&Change::upsert("stale", 1, json!(1)));
/// target.apply(&Change::upsert("extra", 4, json!(0)));
/// let source = vec![Change::upsert("stale", 2, json!(2)), Change::upsert("missing", 1, json!(3))];
/// let (repairs, report) = plan_repairs(&source, &target);
/// assert_eq!((report.missing, report.stale, report.extra), (1, 1, 1));
/// repairs.iter().for_each(|c| { target.apply(c); });
/// assert_eq!(target.snapshot().len(), 2);
/// assert_eq!(target.get("stale"), Some(json!(2)));
/// ```
pub fn plan_repairs(source: &[Change], target: &Replica) -> (Vec<Change>, ReconcileReport) {
    let mut report = ReconcileReport {
        checked: source.len(),
        ..ReconcileReport::default()
    };
    let mut repairs = Vec::new();
    let mut wanted = HashSet::with_capacity(source.len());
    for change in source {
        wanted.insert(change.key.as_str());
        match (target.version(&change.key), target.get(&change.key)) {
            (_, None) => {
                report.missing += 1;
                repairs.push(change.clone());
            }
            (Some(have), Some(_)) if change.version.is_some_and(|v| v > have) => {
                report.stale += 1;
                repairs.push(change.clone());
            }
            _ => {}
        }
    }
    for (key, version) in target.live_versions() {
        if !wanted.contains(key.as_str()) {
            report.extra += 1;
            repairs.push(Change::delete(key, version.unwrap_or(0)));
        }
    }
    (repairs, report)
}

/// The engine's reconciler: a snapshot function, the replica it checks, and where repairs go.
pub(crate) struct Reconciler {
    snapshot: Mutex<Box<dyn FnMut() -> Vec<Change> + Send>>,
    target: Arc<Replica>,
    pub(crate) every: Option<Duration>,
    /// Repairs waiting for the reader to route them like pulled changes.
    pub(crate) repairs: MsQueue<Change>,
}

impl Reconciler {
    pub(crate) fn new(
        snapshot: Box<dyn FnMut() -> Vec<Change> + Send>,
        target: Arc<Replica>,
        every: Option<Duration>,
    ) -> Self {
        Reconciler {
            snapshot: Mutex::new(snapshot),
            target,
            every,
            repairs: MsQueue::new(),
        }
    }

    /// Takes a snapshot, plans repairs and queues them for the reader.
    pub(crate) fn run(&self) -> ReconcileReport {
        let source = {
            // A panic in the snapshot function poisons only its own lock; the function is
            // still callable, so carry on.
            let mut snapshot = self.snapshot.lock().unwrap_or_else(PoisonError::into_inner);
            (snapshot)()
        };
        let (repairs, report) = plan_repairs(&source, &self.target);
        self.repairs.push_batch(repairs);
        report
    }
}

impl fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconciler")
            .field("every", &self.every)
            .finish()
    }
}
