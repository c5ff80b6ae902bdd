//! One priority level: redeliveries first, then fresh messages.

use crate::primitive::sync::atomic::{AtomicUsize, Ordering};
use crate::queue::{MsQueue, RingBuffer};
use std::time::Instant;

/// A message inside the queue, with its bookkeeping.
#[derive(Debug)]
pub(super) struct Envelope<T> {
    pub(super) message: T,
    pub(super) priority: u8,
    /// Deliveries so far (0 until first received).
    pub(super) deliveries: u32,
    pub(super) expires_at: Option<Instant>,
    /// The message's id in the queue's journal (see `durable.rs`); 0 and unused when the queue
    /// is not durable.
    pub(super) id: u64,
}

/// Fresh messages of one level: unbounded, or bounded.
#[derive(Debug)]
enum Fresh<T> {
    Unbounded(Box<MsQueue<Envelope<T>>>),
    Bounded(Box<RingBuffer<Envelope<T>>>),
}

/// One priority level.
///
/// Ordering: redelivered messages of a level are delivered before its fresh ones, in the order
/// they were requeued; fresh messages in publish order.
#[derive(Debug)]
pub(super) struct Lane<T> {
    /// Requeued messages; always unbounded, so a requeue never fails.
    redelivered: MsQueue<Envelope<T>>,
    /// How many messages `redelivered` holds: a load lets `pop` skip an empty queue without
    /// pinning. Incremented after the push, decremented after a successful pop, so it never
    /// claims a message that is not there yet (it may briefly miss one that is).
    requeued: AtomicUsize,
    fresh: Fresh<T>,
}

impl<T> Lane<T> {
    pub(super) fn new(bound: Option<usize>) -> Self {
        Lane {
            redelivered: MsQueue::new(),
            requeued: AtomicUsize::new(0),
            fresh: match bound {
                Some(cap) => Fresh::Bounded(Box::new(RingBuffer::with_capacity(cap))),
                None => Fresh::Unbounded(Box::default()),
            },
        }
    }

    /// Appends a fresh message; gives it back if the lane is bounded and full.
    pub(super) fn push(&self, envelope: Envelope<T>) -> Result<(), Envelope<T>> {
        match &self.fresh {
            Fresh::Unbounded(q) => {
                q.push(envelope);
                Ok(())
            }
            Fresh::Bounded(q) => q.push(envelope).map_err(|full| full.into_inner()),
        }
    }

    /// Puts a delivered message back, ahead of the fresh ones.
    pub(super) fn requeue(&self, envelope: Envelope<T>) {
        self.redelivered.push(envelope);
        // Release: pairs with the Acquire load in `pop`; the message is already in the queue.
        self.requeued.fetch_add(1, Ordering::Release);
    }

    /// The next message of this level, redeliveries first.
    pub(super) fn pop(&self) -> Option<Envelope<T>> {
        // Acquire: pairs with the Release increment in `requeue`.
        if self.requeued.load(Ordering::Acquire) > 0 {
            if let Some(envelope) = self.redelivered.pop() {
                // Relaxed: a counter; the message itself travelled through the queue.
                self.requeued.fetch_sub(1, Ordering::Relaxed);
                return Some(envelope);
            }
        }
        match &self.fresh {
            Fresh::Unbounded(q) => q.pop(),
            Fresh::Bounded(q) => q.pop(),
        }
    }

    /// Messages ready in this level (an estimate under concurrency, as the queues' `len`).
    pub(super) fn len(&self) -> usize {
        self.redelivered.len()
            + match &self.fresh {
                Fresh::Unbounded(q) => q.len(),
                Fresh::Bounded(q) => q.len(),
            }
    }
}
