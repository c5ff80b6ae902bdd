//! The state of one delivery queue that publishers, consumers and deliveries share, and the
//! operations that move a message between its states: pop, requeue, dead-letter, release a
//! consumer's slot, and the drained check.
//!
//! Everything else in the module reaches the state through this file: `queue.rs` (publish,
//! close, stats), `consumer.rs` (receive), `settle.rs` (ack / nack / reject / drop) and
//! `builder.rs` (construction). See the module docs for the dependency order.

use super::closing::Closing;
use super::config::DeliveryConfig;
use super::config::{RedeliveryBackoff, MAX_DELAY};
use super::dead_letter::{DeadLetter, DeadLetterFn, DeadLetterTarget, DeadReason};
use super::delay::Delayed;
#[cfg(feature = "journal")]
use super::durable::{Durable, Recovered};
use super::lane::{Envelope, Lane};
use super::stats::Counters;
use super::visibility::{CloneFn, Visibility};
use crate::primitive::sync::atomic::{AtomicUsize, Ordering};
use crate::primitive::sync::Arc;
use crate::queue::MsQueue;
use event_listener::{Event, IntoNotification};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

pub(super) struct Shared<T> {
    /// One lane per priority level; index = priority.
    pub(super) lanes: Box<[Lane<T>]>,
    /// Weighted mode: the preferred level for each tick (empty in strict mode).
    pub(super) schedule: Box<[u8]>,
    /// The prefetch limit of each consumer; `usize::MAX` when there is none.
    pub(super) prefetch: usize,
    delivery_limit: Option<u32>,
    pub(super) default_ttl: Option<Duration>,
    dead_observer: Option<DeadLetterFn<T>>,
    dead_target: Option<DeadLetterTarget<T>>,
    /// The queue's own dead letters (also the fallback when the target refuses one).
    pub(super) dead_letters: MsQueue<DeadLetter<T>>,
    /// The closed flag folded into the publish claim, and the drained check (see `closing.rs`).
    pub(super) closing: Closing,
    /// Messages requeued with a delay, until they are due (see `delay.rs`).
    pub(super) delayed: Delayed<T>,
    /// The wait before every requeue, when configured.
    backoff: Option<RedeliveryBackoff>,
    /// Set when the builder configured a visibility timeout.
    pub(super) visibility: Option<Visibility<T, Arc<ConsumerState<T>>>>,
    /// Notified on every publish, requeue and close: consumers waiting for a message.
    pub(super) ready: Event,
    pub(super) counters: Counters,
    /// The journal under a durable queue (see `durable.rs`).
    #[cfg(feature = "journal")]
    pub(super) durable: Option<Durable<T>>,
    /// Messages brought back from the journal when the queue was opened.
    pub(super) recovered: u64,
}

// Only with `metrics`: the lanes' lengths are computed for the gauge and nothing else.
#[cfg(feature = "metrics")]
impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // The messages still in the lanes drop with the queue; the `ready` gauge forgets them.
        crate::observe::delivery_queue_dropped(self.lanes.iter().map(Lane::len).sum());
    }
}

/// The state a consumer shares with the deliveries it handed out (one `Arc` per delivery).
pub(super) struct ConsumerState<T> {
    pub(super) shared: Arc<Shared<T>>,
    /// Deliveries of this consumer not yet settled; kept only when the queue has a prefetch
    /// limit (otherwise it stays 0 and costs nothing).
    pub(super) unacked: AtomicUsize,
    /// Notified when a delivery of this consumer is settled while it is at its limit.
    pub(super) settled: Event,
}

impl<T> Shared<T> {
    /// The state of a new queue. `config` has been validated; `clone` is set whenever
    /// `config.visibility_timeout` is (the builder sets both, for `T: Clone`).
    pub(super) fn new(
        config: DeliveryConfig,
        dead_observer: Option<DeadLetterFn<T>>,
        dead_target: Option<DeadLetterTarget<T>>,
        clone: Option<CloneFn<T>>,
    ) -> Self {
        crate::observe::started();
        Shared {
            lanes: (0..config.priorities)
                .map(|_| Lane::new(config.bounded))
                .collect(),
            schedule: config.schedule(),
            prefetch: config.prefetch.unwrap_or(usize::MAX),
            delivery_limit: config.delivery_limit,
            default_ttl: config.default_ttl,
            dead_observer,
            dead_target,
            dead_letters: MsQueue::new(),
            closing: Closing::default(),
            delayed: Delayed::new(),
            backoff: config.redelivery_backoff,
            visibility: config
                .visibility_timeout
                .zip(clone)
                .map(|(timeout, clone)| Visibility::new(timeout, clone)),
            ready: Event::new(),
            counters: Counters::default(),
            #[cfg(feature = "journal")]
            durable: None,
            recovered: 0,
        }
    }

    /// Makes a new queue durable and puts the messages recovered from its journal back, in
    /// publish order, at the front of their lanes (or held until due, if they were delayed).
    /// Before the queue is shared with anyone.
    #[cfg(feature = "journal")]
    pub(super) fn recover(&mut self, durable: Durable<T>, recovered: Vec<Recovered<T>>) {
        self.durable = Some(durable);
        self.recovered = recovered.len() as u64;
        // Accepted like publishes: a close counts them, and consumers drain them first.
        self.closing.count_recovered(self.recovered);
        for Recovered { envelope, due } in recovered {
            match due.filter(|&due| due > Instant::now()) {
                Some(due) => {
                    self.delayed.hold(envelope, due);
                }
                None => {
                    crate::observe::delivery_published(envelope.priority);
                    self.lanes[usize::from(envelope.priority)].requeue(envelope);
                }
            }
        }
    }

    /// Writes to the journal, when the queue is durable, that these messages left the queue
    /// for good (acknowledged, dead-lettered, refused).
    #[inline]
    pub(super) fn record_settled(&self, ids: &[u64]) {
        #[cfg(feature = "journal")]
        if let Some(durable) = &self.durable {
            durable.settle(ids);
        }
        #[cfg(not(feature = "journal"))]
        let _ = ids;
    }

    /// The next ready message: in strict mode the highest level first; in weighted mode the
    /// scheduled level first, then the highest.
    pub(super) fn pop_next(&self, tick: u64) -> Option<Envelope<T>> {
        if !self.schedule.is_empty() {
            let preferred = self.schedule[(tick % self.schedule.len() as u64) as usize];
            if let Some(envelope) = self.lanes[usize::from(preferred)].pop() {
                return Some(envelope);
            }
        }
        self.lanes.iter().rev().find_map(Lane::pop)
    }

    /// Requeues overdue deliveries (visibility timeout); returns how many.
    pub(super) fn expire_overdue(&self) -> usize {
        let Some(visibility) = &self.visibility else {
            return 0;
        };
        let due = visibility.overdue(Instant::now());
        let count = due.len();
        for outstanding in due {
            self.requeue(outstanding.copy);
            Counters::bump(&self.counters.timed_out);
            crate::observe::delivery_timed_out();
            outstanding.consumer.release(self);
        }
        count
    }

    /// True when the queue is closed and nothing can be delivered any more: every message
    /// accepted before the close was acknowledged or dead-lettered (see `closing.rs`).
    pub(super) fn is_drained(&self) -> bool {
        let Some(accepted) = self.closing.accepted_at_close() else {
            return false; // open
        };
        let c = &self.counters;
        // SeqCst: pairs with the SeqCst increments in `Delivery::ack` and `dead_letter` (and, as
        // acquire loads, makes a consumer told `Closed` see everything the settlers did before
        // settling); see "Who wakes the waiters" in closing.rs for why Acquire is not enough.
        let settled = c.acked.load(Ordering::SeqCst) + c.dead_lettered.load(Ordering::SeqCst);
        self.closing.settled_all(accepted, settled)
    }

    /// Wakes every waiting consumer if the queue is now closed and drained; called by whatever
    /// brings a message to its end (ack, dead letter, full refusal).
    pub(super) fn wake_if_drained(&self) {
        if self.is_drained() {
            self.ready.notify(usize::MAX);
        }
    }

    /// Puts a delivered message back at the front of its lane (after the backoff's wait, if
    /// the queue has one), or dead-letters it when it has reached the delivery limit.
    pub(super) fn requeue(&self, envelope: Envelope<T>) {
        let delay = self
            .backoff
            .map(|b| b.delay_after(envelope.deliveries.max(1)));
        self.requeue_after(envelope, delay);
    }

    /// As `requeue`, with an explicit wait (`None` or zero: at once; cut to `MAX_DELAY`).
    pub(super) fn requeue_after(&self, envelope: Envelope<T>, delay: Option<Duration>) {
        if let Some(limit) = self.delivery_limit {
            if envelope.deliveries >= limit {
                return self.dead_letter(envelope, DeadReason::DeliveryLimit(limit));
            }
        }
        Counters::bump(&self.counters.redelivered);
        // (A delay cut to a year cannot overflow `Instant` on any platform we know; were it to,
        // the message would come back at once rather than never.)
        let due = delay
            .filter(|d| !d.is_zero())
            .and_then(|d| Instant::now().checked_add(d.min(MAX_DELAY)));
        // In the journal before it is back: its delivery count and due time survive a crash.
        #[cfg(feature = "journal")]
        if let Some(durable) = &self.durable {
            durable.requeue(envelope.id, envelope.deliveries, due);
        }
        match due {
            Some(due) => {
                if self.delayed.hold(envelope, due) {
                    // The earliest due time changed: every blocking receive computed its wake-up
                    // from the old one (or from none), so wake them all to compute it again.
                    // After `hold`'s increment of the count: event-listener's fences make a
                    // waiter that registers after this see the message in `next_due`.
                    self.ready.notify(usize::MAX);
                }
            }
            None => self.put_back(envelope),
        }
    }

    /// Puts a message at the front of its lane and wakes one waiting consumer.
    fn put_back(&self, envelope: Envelope<T>) {
        // Here, not when a delayed message is held: the metrics' ready gauge counts messages in
        // the lanes, as `Stats::ready` does.
        crate::observe::delivery_redelivered(envelope.priority, envelope.deliveries);
        self.lanes[usize::from(envelope.priority)].requeue(envelope);
        self.ready.notify(1.additional());
    }

    /// Moves the delayed messages that are due to the front of their lanes; returns how many.
    /// One load when nothing is delayed.
    pub(super) fn release_due(&self) -> usize {
        if self.delayed.is_empty() {
            return 0;
        }
        let due = self.delayed.take_due(Instant::now());
        let count = due.len();
        for envelope in due {
            self.put_back(envelope);
        }
        count
    }

    /// Hands a message to the dead-letter target with its reason.
    pub(super) fn dead_letter(&self, envelope: Envelope<T>, reason: DeadReason) {
        let id = envelope.id;
        let dead = DeadLetter {
            message: envelope.message,
            reason,
            deliveries: envelope.deliveries,
            priority: envelope.priority,
        };
        crate::observe::delivery_dead_letter(reason, dead.deliveries, dead.priority);
        if let Some(observer) = &self.dead_observer {
            // A panicking observer must not lose the letter or unwind through a settlement.
            let _ = catch_unwind(AssertUnwindSafe(|| observer(&dead)));
        }
        let refused = match &self.dead_target {
            Some(target) => match target.push(dead) {
                Ok(()) => None,
                Err(full) => Some(full.into_inner()),
            },
            None => Some(dead),
        };
        if let Some(dead) = refused {
            self.dead_letters.push(dead);
        }
        // After the hand-off: a crash before this line dead-letters the message again after the
        // restart, rather than losing it.
        self.record_settled(&[id]);
        // Counted once the letter is where its reader finds it. SeqCst: pairs with the SeqCst
        // loads in `is_drained` (a consumer told `Closed` finds every dead letter in place, and
        // racing last settlements cannot both miss each other: closing.rs).
        self.counters.dead_lettered.fetch_add(1, Ordering::SeqCst);
        self.wake_if_drained();
    }
}

impl<T> ConsumerState<T> {
    /// The state of a new consumer handle: no deliveries held.
    pub(super) fn new(shared: Arc<Shared<T>>) -> Self {
        ConsumerState {
            shared,
            unacked: AtomicUsize::new(0),
            settled: Event::new(),
        }
    }

    /// Takes one of this consumer's prefetch slots, before anything is popped; false when all
    /// `limit` are taken. A compare-and-swap, so threads sharing the handle never take more than
    /// `limit` between them (a check followed by a later increment let a second thread in while
    /// the first was dead-lettering an expired message: issue 13).
    pub(super) fn reserve_slot(&self, limit: usize) -> bool {
        // Relaxed: the count lives in this one word and the CAS makes each reservation atomic;
        // the message itself travels through the lane queue, which orders its own accesses.
        let mut held = self.unacked.load(Ordering::Relaxed);
        loop {
            if held >= limit {
                return false;
            }
            match self.unacked.compare_exchange_weak(
                held,
                held + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => held = now,
            }
        }
    }

    /// Gives back a prefetch slot (a settlement, or a reservation that found nothing to take),
    /// waking a thread of this handle that waits for one.
    pub(super) fn give_back_slot(&self) {
        // Relaxed: a counter (see `reserve_slot`); event-listener orders the wake-up below
        // against the waiter's register-then-recheck.
        self.unacked.fetch_sub(1, Ordering::Relaxed);
        // One more thread of this handle may now take a slot. Additional, and on every give-back:
        // with two threads waiting at the limit, two settlements in a row must wake both (a
        // plain `notify(1)` counts a woken-but-not-yet-running thread, and a give-back from
        // below the limit used to wake nobody).
        self.settled.notify(1.additional());
    }

    /// One of this consumer's deliveries is settled (or timed out): releases its prefetch slot
    /// and the global unacked count, waking whoever waits for a slot.
    pub(super) fn release(&self, shared: &Shared<T>) {
        // Relaxed: a count for `Stats`; the drained check reads the settlement counters instead.
        shared.counters.unacked.fetch_sub(1, Ordering::Relaxed);
        crate::observe::delivery_released();
        if shared.prefetch != usize::MAX {
            self.give_back_slot();
        }
    }
}
