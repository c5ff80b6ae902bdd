//! The reader thread: pulls from the sources, hands each worker its share of a pull, settles
//! the workers' confirmations and commits the sources.

use super::super::change::{drop_changes, Change};
use super::super::error::error_chain;
use super::super::event::{DeadChange, SyncEvent};
use super::super::metrics::Counters;
use super::super::source::Source;
use super::ledger::Ledger;
use super::settings::FullPolicy;
use super::shared::{Parcel, Shared};
use crate::handoff::{Producer, TrySendError};
use crate::observe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The reader thread's state.
pub(super) struct Reader {
    pub(super) sources: Vec<Box<dyn Source>>,
    /// One per source, plus the last one for reconciliation repairs.
    pub(super) ledgers: Vec<Ledger>,
    pub(super) committed: Vec<Option<u64>>,
    pub(super) producers: Vec<Producer<Parcel>>,
    pub(super) shared: Arc<Shared>,
    pub(super) batch_size: usize,
    /// The most changes a worker's ring may hold (`handoff_capacity`).
    pub(super) capacity: usize,
    pub(super) full: FullPolicy,
    pub(super) idle_wait: Duration,
    /// Per worker, the changes of the pull being routed (kept to reuse their allocation).
    pub(super) routed: Vec<Vec<Change>>,
}

impl Reader {
    pub(super) fn run(mut self) -> Vec<Option<u64>> {
        let repairs = self.sources.len();
        let mut last_reconcile = Instant::now();
        loop {
            self.settle();
            // Acquire: pairs with the Release store in `DataSync::stop`.
            if self.shared.stop.load(Ordering::Acquire) {
                break;
            }
            if self.shared.paused.load(Ordering::Relaxed) {
                thread::sleep(self.idle_wait);
                continue;
            }
            let mut routed = 0;
            if let Some(reconciler) = &self.shared.reconciler {
                if reconciler
                    .every
                    .is_some_and(|every| last_reconcile.elapsed() >= every)
                {
                    let report = reconciler.run();
                    self.shared.emit(|| SyncEvent::Reconciled(report));
                    last_reconcile = Instant::now();
                }
            }
            let fixes: Vec<Change> = match &self.shared.reconciler {
                Some(reconciler) => std::iter::from_fn(|| reconciler.repairs.pop()).collect(),
                None => Vec::new(),
            };
            routed += fixes.len();
            self.route(repairs, fixes, Instant::now());
            for index in 0..self.sources.len() {
                match self.sources[index].pull(self.batch_size) {
                    Ok(changes) => {
                        // One clock read per pull: the changes of a pull left their source
                        // together.
                        let pulled_at = Instant::now();
                        observe::sync_pulled(
                            self.sources[index].name(),
                            changes.len(),
                            self.ledgers[index].in_flight(),
                        );
                        routed += changes.len();
                        self.route(index, changes, pulled_at);
                    }
                    Err(error) => {
                        let source = self.sources[index].name().to_owned();
                        observe::sync_source_error(&source, "pull", &error);
                        self.shared.emit(|| SyncEvent::SourceError {
                            source,
                            error: error_chain(&error),
                        });
                    }
                }
            }
            let idle = routed == 0 && self.ledgers.iter().all(|l| l.in_flight() == 0);
            // Release: the counters read after `wait_idle` sees this are settled.
            self.shared.idle.store(idle, Ordering::Release);
            // Release: pairs with the Acquire loads in `wait_idle`. Acquire: pairs with the RMW
            // that starts `wait_idle`, so the waiter's earlier writes are visible to the next pass.
            self.shared.passes.fetch_add(1, Ordering::AcqRel);
            if routed == 0 && !self.recycle() {
                thread::sleep(self.idle_wait);
            }
        }
        // Shutdown: close the rings; workers drain them and exit.
        self.producers.clear();
        while self.ledgers.iter().any(|l| l.in_flight() > 0) {
            self.settle();
            // Acquire: pairs with the Release decrement of a worker that exits.
            if self.shared.live_workers.load(Ordering::Acquire) == 0 {
                self.settle();
                break; // only a worker that panicked outside the sinks can leave work behind
            }
            thread::sleep(self.idle_wait);
        }
        self.committed
    }

    /// Numbers the changes of one pull (one ticket in the source's ledger) and hands them to
    /// the workers that own their keys: one parcel per worker, not one handoff per change.
    fn route(&mut self, source: usize, changes: Vec<Change>, pulled_at: Instant) {
        if changes.is_empty() {
            return;
        }
        Counters::add(&self.shared.counters.pulled, changes.len() as u64);
        let ticket = self.ledgers[source].issue(changes.len());
        if self.producers.len() == 1 {
            // One worker owns every key: the pull is its parcel as it came.
            self.hand_off(0, source, ticket, changes, pulled_at);
            return;
        }
        let workers = self.producers.len() as u64;
        let mut routed = std::mem::take(&mut self.routed);
        for change in changes {
            let worker = (partition_hash(&change.key) % workers) as usize;
            routed[worker].push(change);
        }
        for (worker, part) in routed.iter_mut().enumerate() {
            if !part.is_empty() {
                let parcel = std::mem::replace(part, Vec::with_capacity(part.capacity()));
                self.hand_off(worker, source, ticket, parcel, pulled_at);
            }
        }
        self.routed = routed;
    }

    /// Pushes `changes` (of one ticket) into `worker`'s ring, in parcels that fit its capacity,
    /// waiting for room or dead-lettering what does not fit, as the [`FullPolicy`] says.
    fn hand_off(
        &mut self,
        worker: usize,
        source: usize,
        ticket: u64,
        mut changes: Vec<Change>,
        pulled_at: Instant,
    ) {
        while !changes.is_empty() {
            // Relaxed: see `Shared::queued`; the ring itself publishes the parcels.
            let queued = self.shared.queued[worker].load(Ordering::Relaxed);
            let room = self.capacity.saturating_sub(queued);
            let fits = room.min(changes.len());
            if fits == 0 {
                match self.full {
                    FullPolicy::Reject => {
                        self.dead_letter(source, ticket, changes, "handoff buffer full");
                        return;
                    }
                    // A ring whose worker is gone never makes room: the push below reports it.
                    FullPolicy::Block if !self.producers[worker].is_abandoned() => {
                        // The worker takes a whole batch at a time: wait for it, settling
                        // what it confirms and freeing what it left meanwhile.
                        self.settle();
                        if !self.recycle() {
                            thread::sleep(self.idle_wait);
                        }
                        continue;
                    }
                    FullPolicy::Block => {}
                }
            }
            let rest = if fits > 0 && fits < changes.len() {
                changes.split_off(fits)
            } else {
                Vec::new()
            };
            let len = changes.len();
            // Relaxed: as above; the worker subtracts once it takes the parcel.
            self.shared.queued[worker].fetch_add(len, Ordering::Relaxed);
            let parcel = Parcel {
                source,
                ticket,
                pulled_at,
                changes,
            };
            if let Err(refused) = self.producers[worker].push(parcel) {
                self.shared.queued[worker].fetch_sub(len, Ordering::Relaxed);
                let reason = match &refused {
                    TrySendError::Full(_) => "handoff buffer full",
                    TrySendError::Disconnected(_) => "worker stopped",
                };
                let parcel = refused.into_inner();
                self.dead_letter(source, ticket, parcel.changes, reason);
            }
            changes = rest;
        }
    }

    /// Dead-letters changes the engine itself could not hand to a worker, and confirms them.
    fn dead_letter(&mut self, source: usize, ticket: u64, changes: Vec<Change>, reason: &str) {
        let count = changes.len();
        Counters::add(&self.shared.counters.dead_lettered, count as u64);
        for change in changes {
            let dead = DeadChange::new(change, "engine", reason);
            observe::sync_dead_letter(&dead.sink, &dead.change.key, &dead.reason);
            let event = dead.clone();
            self.shared.emit(|| SyncEvent::DeadLettered(event));
            self.shared.dead.push(dead);
        }
        self.ledgers[source].confirm(ticket, count);
    }

    /// Drops one batch of what the workers left behind; false if there was none.
    fn recycle(&mut self) -> bool {
        let Some(spent) = self.shared.spent.pop() else {
            return false;
        };
        // Relaxed: see `Shared::spent_backlog`.
        self.shared.spent_backlog.fetch_sub(1, Ordering::Relaxed);
        drop_changes(spent);
        true
    }

    /// Takes the workers' confirmations and commits each source as far as it may.
    fn settle(&mut self) {
        let mut confirmed = Vec::new();
        while self.shared.confirms.pop_many(&mut confirmed, 1024) > 0 {
            for confirm in confirmed.drain(..) {
                self.ledgers[confirm.source].confirm(confirm.ticket, confirm.count);
            }
        }
        for index in 0..self.sources.len() {
            let Some(through) = self.ledgers[index].committable() else {
                continue;
            };
            if self.committed[index] == Some(through) {
                continue;
            }
            match self.sources[index].commit(through) {
                Ok(()) => {
                    let newly = through + 1 - self.committed[index].map_or(0, |c| c + 1);
                    Counters::add(&self.shared.counters.committed, newly);
                    observe::sync_committed(self.sources[index].name(), newly, through);
                    observe::sync_in_flight(
                        self.sources[index].name(),
                        self.ledgers[index].in_flight(),
                    );
                    self.committed[index] = Some(through);
                    let source = self.sources[index].name().to_owned();
                    self.shared
                        .emit(|| SyncEvent::Committed { source, through });
                }
                Err(error) => {
                    let source = self.sources[index].name().to_owned();
                    observe::sync_source_error(&source, "commit", &error);
                    self.shared.emit(|| SyncEvent::SourceError {
                        source,
                        error: error_chain(&error),
                    });
                }
            }
        }
    }
}

/// FNV-1a over the key's bytes: stable, fast for short keys, and good enough to spread keys
/// over a handful of workers (SipHash's flooding resistance buys nothing here).
fn partition_hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
