//! The visibility timeout: a delivery held longer than the timeout is requeued, so a consumer
//! that hangs does not hold a message forever (at-least-once, as SQS's visibility timeout).
//
// Protocol. When the timeout is set, every delivery is recorded under its tag together with a
// copy of its envelope (hence `T: Clone`) and its consumer. Whoever removes the record first
// decides the delivery's fate:
//
// * the consumer's settlement (ack/nack/reject/drop) removes it and settles as usual;
// * a sweep (`Shared::expire_overdue`, run at the start of every receive, and by blocking receives
//   that wake at the next deadline) removes overdue records and requeues their copies.
//
// A settlement that finds no record is late: the message was already requeued, so it does
// nothing (counted in `late_settlements`). Both sides remove under one mutex, so exactly one of
// them acts. The mutex is off the hot path unless the timeout is configured; user code (`clone`)
// never runs under it, so it cannot be poisoned by a panicking clone.

use super::lane::Envelope;
use crate::primitive::sync::{Mutex, MutexGuard, PoisonError};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

/// How the visibility timeout copies a message (`<T as Clone>::clone`).
pub(super) type CloneFn<T> = fn(&T) -> T;

/// A delivery that may be requeued by the timeout.
///
/// `H` is whatever holds the delivery and must be told when the timeout takes it back (the
/// queue uses its consumer's state, whose prefetch count is released on timeout); generic so that
/// this file depends on the envelope only.
pub(super) struct Outstanding<T, H> {
    /// A copy of the delivered envelope, requeued if the timeout fires.
    pub(super) copy: Envelope<T>,
    /// The consumer that holds the delivery (its prefetch count is released on timeout).
    pub(super) consumer: H,
}

struct Records<T, H> {
    by_tag: HashMap<u64, Outstanding<T, H>>,
    /// Deadlines, earliest first; entries whose tag is gone are skipped lazily.
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
}

pub(super) struct Visibility<T, H> {
    pub(super) timeout: Duration,
    clone: CloneFn<T>,
    records: Mutex<Records<T, H>>,
}

impl<T, H: Clone> Visibility<T, H> {
    pub(super) fn new(timeout: Duration, clone: CloneFn<T>) -> Self {
        Visibility {
            timeout,
            clone,
            records: Mutex::new(Records {
                by_tag: HashMap::new(),
                deadlines: BinaryHeap::new(),
            }),
        }
    }

    fn records(&self) -> MutexGuard<'_, Records<T, H>> {
        // No user code runs under the lock, so a poisoned lock still holds consistent records.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a delivery that was just handed out.
    pub(super) fn track(&self, tag: u64, envelope: &Envelope<T>, consumer: &H) {
        let copy = Envelope {
            message: (self.clone)(&envelope.message),
            priority: envelope.priority,
            deliveries: envelope.deliveries,
            expires_at: envelope.expires_at,
            id: envelope.id,
        };
        let deadline = Instant::now() + self.timeout;
        let mut records = self.records();
        records.by_tag.insert(
            tag,
            Outstanding {
                copy,
                consumer: consumer.clone(),
            },
        );
        records.deadlines.push(Reverse((deadline, tag)));
    }

    /// The consumer settles `tag`: true if it was still outstanding (the caller settles it),
    /// false if the timeout already requeued it (a late settlement).
    pub(super) fn settle(&self, tag: u64) -> bool {
        let removed = self.records().by_tag.remove(&tag);
        removed.is_some()
    }

    /// Takes out every delivery whose deadline has passed.
    pub(super) fn overdue(&self, now: Instant) -> Vec<Outstanding<T, H>> {
        let Ok(mut records) = self.records.try_lock() else {
            return Vec::new(); // someone else is sweeping or tracking; they will catch up
        };
        let mut due = Vec::new();
        while let Some(&Reverse((deadline, tag))) = records.deadlines.peek() {
            if deadline > now {
                break;
            }
            records.deadlines.pop();
            if let Some(outstanding) = records.by_tag.remove(&tag) {
                due.push(outstanding);
            }
        }
        due
    }

    /// The earliest deadline still recorded (possibly of a delivery already settled).
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.records()
            .deadlines
            .peek()
            .map(|Reverse((deadline, _))| *deadline)
    }
}
