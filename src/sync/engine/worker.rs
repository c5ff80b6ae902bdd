//! A worker thread: gathers parcels into batches, applies them to every sink, and confirms.

use super::super::change::{drop_changes, Change};
use super::super::event::{DeadChange, SyncEvent};
use super::super::metrics::Counters;
use super::super::retry::{deliver, deliver_owned, RetryPolicy};
use super::super::sink::Sink;
use super::shared::{Confirm, Parcel, Shared, SPENT_BACKLOG};
use crate::handoff::Consumer;
use crate::observe;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts a worker out of `Shared::live_workers` when dropped: at the end of `Worker::run`, or
/// while its thread unwinds.
struct LiveWorker(Arc<Shared>);

impl Drop for LiveWorker {
    fn drop(&mut self) {
        // Release: pairs with the reader's Acquire load at shutdown (every confirmation this
        // worker pushed is visible once the count reads 0).
        self.0.live_workers.fetch_sub(1, Ordering::Release);
    }
}

/// A worker thread's state.
pub(super) struct Worker {
    /// Which worker this is (its slot in `Shared::queued`).
    pub(super) index: usize,
    pub(super) consumer: Consumer<Parcel>,
    pub(super) sinks: Vec<Arc<dyn Sink>>,
    pub(super) shared: Arc<Shared>,
    pub(super) retry: RetryPolicy,
    pub(super) batch_size: usize,
    pub(super) linger: Duration,
}

/// The part of a batch that one parcel brought: `len` changes of one ticket, pulled together.
struct Span {
    source: usize,
    ticket: u64,
    len: usize,
    pulled_at: Instant,
}

impl Worker {
    pub(super) fn run(mut self) {
        // Counted out however the thread ends, unwinding included: at shutdown the reader stops
        // waiting for confirmations once no worker is live, and a worker that died without
        // counting itself out (a panic outside the sinks' guard) would keep it waiting forever.
        let _live = LiveWorker(Arc::clone(&self.shared));
        // Parcels popped from the ring and not yet in a batch (they did not fit the last one).
        let mut waiting: VecDeque<Parcel> = VecDeque::new();
        let mut popped = Vec::new();
        let mut spans = Vec::new();
        loop {
            let first = match waiting.pop_front() {
                Some(parcel) => parcel,
                None => match self.consumer.pop_blocking() {
                    Ok(parcel) => parcel,
                    Err(_) => break, // closed and drained
                },
            };
            let mut changes = self.take(first, &mut spans, Vec::new());
            let mut deadline = None;
            while changes.len() < self.batch_size {
                if waiting.is_empty() {
                    if self.consumer.pop_many(&mut popped, 64) == 0 {
                        let deadline =
                            *deadline.get_or_insert_with(|| Instant::now() + self.linger);
                        match self.consumer.pop_deadline(deadline) {
                            Ok(parcel) => popped.push(parcel),
                            Err(_) => break,
                        }
                    }
                    waiting.extend(popped.drain(..));
                }
                match waiting.front() {
                    Some(next) if changes.len() + next.changes.len() <= self.batch_size => {}
                    _ => break, // the next parcel starts the next batch
                }
                if let Some(parcel) = waiting.pop_front() {
                    changes = self.take(parcel, &mut spans, changes);
                }
            }
            self.apply(changes, &spans);
            spans.clear();
        }
    }

    /// Adds `parcel` to the batch being gathered (`changes`), and counts it out of the ring.
    fn take(&self, parcel: Parcel, spans: &mut Vec<Span>, mut changes: Vec<Change>) -> Vec<Change> {
        let len = parcel.changes.len();
        // Relaxed: see `Shared::queued`.
        self.shared.queued[self.index].fetch_sub(len, Ordering::Relaxed);
        spans.push(Span {
            source: parcel.source,
            ticket: parcel.ticket,
            len,
            pulled_at: parcel.pulled_at,
        });
        if changes.is_empty() {
            parcel.changes
        } else {
            changes.extend(parcel.changes);
            changes
        }
    }

    /// Applies one batch to every sink, then confirms each change (applied or dead-lettered).
    fn apply(&self, mut changes: Vec<Change>, spans: &[Span]) {
        let _batch = observe::sync_batch(changes.len());
        let observed = !self.shared.subscriptions.is_empty();
        // Per change, the sink that gave up on it and why (the first one that did).
        let mut refused: Vec<Option<(String, String)>> = Vec::new();
        let mut dead: Vec<(usize, DeadChange)> = Vec::new();
        let mut spent = Vec::new();
        let Some((last, others)) = self.sinks.split_last() else {
            return;
        };
        for sink in others {
            let delivering = observe::sync_deliver(sink.name(), changes.len());
            let report = deliver(sink.as_ref(), &changes, &self.retry);
            observe::sync_delivered(delivering, sink.name(), report.retries);
            self.retried(sink.as_ref(), report.retries);
            for (index, reason) in report.dead {
                if refused.is_empty() {
                    refused.resize(changes.len(), None);
                }
                refused[index].get_or_insert_with(|| (sink.name().to_owned(), reason));
            }
        }
        let delivering = observe::sync_deliver(last.name(), changes.len());
        if !observed && refused.is_empty() {
            // Nothing needs the changes after the last sink: it may take them.
            let report = deliver_owned(last.as_ref(), changes, &self.retry, &mut spent);
            observe::sync_delivered(delivering, last.name(), report.retries);
            self.retried(last.as_ref(), report.retries);
            for (index, change, reason) in report.dead {
                dead.push((index, DeadChange::new(change, last.name(), reason)));
            }
            changes = Vec::new();
        } else {
            let report = deliver(last.as_ref(), &changes, &self.retry);
            observe::sync_delivered(delivering, last.name(), report.retries);
            self.retried(last.as_ref(), report.retries);
            if !report.dead.is_empty() && refused.is_empty() {
                refused.resize(changes.len(), None);
            }
            for (index, reason) in report.dead {
                refused[index].get_or_insert_with(|| (last.name().to_owned(), reason));
            }
        }
        // What is left of `changes`: the borrowed path's batch, split into dead and applied.
        let mut applied_changes = Vec::new();
        for (index, change) in changes.into_iter().enumerate() {
            match refused.get_mut(index).and_then(Option::take) {
                Some((sink, reason)) => dead.push((index, DeadChange::new(change, sink, reason))),
                None => applied_changes.push(change),
            }
        }
        if observed {
            self.finish(spans, dead, applied_changes, spent);
        } else {
            spent.append(&mut applied_changes);
            self.finish(spans, dead, Vec::new(), spent);
        }
    }

    /// Counts and reports the retries a sink needed for a batch.
    fn retried(&self, sink: &dyn Sink, retries: u64) {
        if retries > 0 {
            Counters::add(&self.shared.counters.retries, retries);
            let name = sink.name().to_owned();
            self.shared.emit(|| SyncEvent::Retried {
                sink: name,
                attempts: retries,
            });
        }
    }

    /// Records a delivered batch: latency per span, events, dead letters, counters, and last
    /// the confirmations. `dead` holds batch indices in increasing order.
    fn finish(
        &self,
        spans: &[Span],
        dead: Vec<(usize, DeadChange)>,
        applied: Vec<Change>,
        spent: Vec<Change>,
    ) {
        let now = Instant::now();
        let mut dead = dead;
        dead.sort_unstable_by_key(|(index, _)| *index);
        let mut start = 0;
        let mut dead_at = dead.iter().map(|(index, _)| *index).peekable();
        let mut applied_total = 0u64;
        for span in spans {
            let end = start + span.len;
            let mut gave_up = 0;
            while dead_at.next_if(|&index| index < end).is_some() {
                gave_up += 1;
            }
            let count = span.len - gave_up;
            // Every change of a span left its source at `pulled_at` and is applied now.
            let latency = now.saturating_duration_since(span.pulled_at);
            self.shared
                .counters
                .latency
                .record_many(latency, count as u64);
            observe::sync_applied(latency, count);
            applied_total += count as u64;
            start = end;
        }
        for change in applied {
            self.shared.emit(|| SyncEvent::Applied(change));
        }
        let dead_total = dead.len() as u64;
        for (_, dead) in dead {
            observe::sync_dead_letter(&dead.sink, &dead.change.key, &dead.reason);
            let event = dead.clone();
            self.shared.emit(|| SyncEvent::DeadLettered(event));
            self.shared.dead.push(dead);
        }
        // Relaxed: see `Shared::spent_backlog`.
        if !spent.is_empty() && self.shared.spent_backlog.load(Ordering::Relaxed) < SPENT_BACKLOG {
            self.shared.spent_backlog.fetch_add(1, Ordering::Relaxed);
            self.shared.spent.push(spent);
        } else {
            drop_changes(spent);
        }
        // Counters first, then the confirmations: once the reader has every confirmation, the
        // counters are final.
        Counters::add(&self.shared.counters.applied, applied_total);
        Counters::add(&self.shared.counters.dead_lettered, dead_total);
        self.shared
            .confirms
            .push_batch(spans.iter().map(|span| Confirm {
                source: span.source,
                ticket: span.ticket,
                count: span.len,
            }));
    }
}
