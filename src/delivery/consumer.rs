//! [`Consumer`]: a receiving handle with its own prefetch budget.

use super::dead_letter::DeadReason;
use super::error::{ReceiveError, TryReceiveError};
use super::settle::Delivery;
use super::shared::{ConsumerState, Shared};
use super::stats::Counters;
use crate::primitive::sync::atomic::{AtomicU64, Ordering, StaticAtomicU64};
use crate::primitive::sync::Arc;
use event_listener::{Event, EventListener, IntoNotification, Listener};
use std::fmt;
use std::ops::ControlFlow;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// Hands out consumer ids, for delivery tags.
static NEXT_CONSUMER: StaticAtomicU64 = StaticAtomicU64::new(1);

/// A receiving handle on a [`DeliveryQueue`](super::DeliveryQueue), made by
/// [`DeliveryQueue::consumer`](super::DeliveryQueue::consumer).
///
/// It may be shared between threads (`Sync`); the prefetch limit counts the unsettled
/// deliveries of this handle, wherever they are settled.
///
/// ```
/// use mqsync::delivery::DeliveryQueue;
/// use std::time::Duration;
///
/// let q = DeliveryQueue::builder().build().unwrap();
/// let consumer = q.consumer();
/// let publisher = {
///     let q = q.clone();
///     std::thread::spawn(move || q.publish("work").unwrap())
/// };
/// let delivery = consumer.receive_timeout(Duration::from_secs(10)).unwrap();
/// assert_eq!(*delivery.message(), "work");
/// delivery.ack();
/// publisher.join().unwrap();
/// ```
pub struct Consumer<T> {
    state: Arc<ConsumerState<T>>,
    id: u64,
    /// Deliveries made by this handle: the tag's low bits and the weighted-mode tick.
    sequence: AtomicU64,
}

/// A prefetch slot taken by a receive; given back on drop unless a delivery keeps it, so a
/// receive that finds nothing (or a panicking dead-letter target) does not leak it.
struct Reservation<'a, T> {
    state: &'a ConsumerState<T>,
}

impl<T> Reservation<'_, T> {
    /// The slot now belongs to a delivery; `release` gives it back at settlement.
    fn keep(self) {
        std::mem::forget(self);
    }
}

impl<T> Drop for Reservation<'_, T> {
    fn drop(&mut self) {
        self.state.give_back_slot();
    }
}

impl<T> Consumer<T> {
    pub(super) fn new(shared: Arc<Shared<T>>) -> Self {
        Consumer {
            state: Arc::new(ConsumerState::new(shared)),
            // Relaxed: ids only need to be distinct.
            id: NEXT_CONSUMER.fetch_add(1, Ordering::Relaxed),
            sequence: AtomicU64::new(0),
        }
    }

    /// Receives the next ready message without waiting.
    ///
    /// Messages whose TTL has passed are dead-lettered on the way (`Expired`) and skipped.
    /// Errors: `Empty` (nothing ready), `PrefetchLimit` (this consumer holds its limit of
    /// unsettled deliveries), `Closed` (closed, nothing ready and nothing unsettled anywhere).
    ///
    /// ```
    /// use mqsync::delivery::{DeliveryQueue, TryReceiveError};
    /// let q = DeliveryQueue::<i32>::builder().build().unwrap();
    /// assert_eq!(q.consumer().try_receive().unwrap_err(), TryReceiveError::Empty);
    /// ```
    pub fn try_receive(&self) -> Result<Delivery<T>, TryReceiveError> {
        let shared = &*self.state.shared;
        // First, so that a consumer at its limit because its own deliveries are overdue gets
        // its slots back.
        shared.expire_overdue();
        // Delayed redeliveries that are due go back to their lanes (one load when none wait).
        shared.release_due();
        let reservation = if shared.prefetch == usize::MAX {
            None
        } else if self.state.reserve_slot(shared.prefetch) {
            Some(Reservation { state: &self.state })
        } else {
            return Err(TryReceiveError::PrefetchLimit);
        };
        // Relaxed: the tick only spreads weighted choices; a plain load is enough.
        let tick = self.sequence.load(Ordering::Relaxed);
        loop {
            let Some(mut envelope) = shared.pop_next(tick) else {
                drop(reservation);
                return Err(if shared.is_drained() {
                    TryReceiveError::Closed
                } else {
                    TryReceiveError::Empty
                });
            };
            if envelope.expires_at.is_some_and(|at| at <= Instant::now()) {
                // The reservation stays held: the observer runs user code, and another thread
                // of this handle must not take the slot meanwhile.
                crate::observe::delivery_expired(envelope.priority);
                shared.dead_letter(envelope, DeadReason::Expired);
                Counters::bump(&shared.counters.expired);
                continue;
            }
            envelope.deliveries = envelope.deliveries.saturating_add(1);
            // Relaxed: a per-handle sequence; the RMW makes tags unique even when the handle is
            // shared between threads.
            let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
            let tag = self.id << 40 | (sequence & ((1 << 40) - 1));
            if let Some(visibility) = &shared.visibility {
                // `track` clones the message: user code. If it panics, the message goes back
                // to the front of its lane as it was, the reservation is given back as this
                // frame unwinds, and the panic goes on to the caller: nothing is lost or leaked.
                let tracked = catch_unwind(AssertUnwindSafe(|| {
                    visibility.track(tag, &envelope, &self.state)
                }));
                if let Err(panic) = tracked {
                    envelope.deliveries -= 1;
                    shared.lanes[usize::from(envelope.priority)].requeue(envelope);
                    shared.ready.notify(1.additional());
                    drop(reservation);
                    resume_unwind(panic);
                }
            }
            if let Some(reservation) = reservation {
                reservation.keep();
            }
            // Relaxed: a count for `Stats`; settlement decrements it.
            shared.counters.unacked.fetch_add(1, Ordering::Relaxed);
            crate::observe::delivery_delivered(envelope.deliveries);
            return Ok(Delivery::new(envelope, tag, Arc::clone(&self.state)));
        }
    }

    /// Receives the next message, waiting as long as it takes. `Err(Closed)` once the queue is
    /// closed and drained.
    ///
    /// ```
    /// let q = mqsync::delivery::DeliveryQueue::builder().build().unwrap();
    /// let publisher = { let q = q.clone(); std::thread::spawn(move || q.publish(3).unwrap()) };
    /// assert_eq!(*q.consumer().receive().unwrap().message(), 3);
    /// publisher.join().unwrap();
    /// ```
    pub fn receive(&self) -> Result<Delivery<T>, ReceiveError> {
        self.receive_until(None)
    }

    /// Receives the next message, waiting at most `timeout` (a timeout too long to add to the
    /// current time, such as `Duration::MAX`, waits as [`receive`](Self::receive) does).
    ///
    /// ```
    /// use mqsync::delivery::{DeliveryQueue, ReceiveError};
    /// use std::time::Duration;
    /// let q = DeliveryQueue::<u8>::builder().build().unwrap();
    /// let err = q.consumer().receive_timeout(Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(err, ReceiveError::Timeout);
    /// ```
    pub fn receive_timeout(&self, timeout: Duration) -> Result<Delivery<T>, ReceiveError> {
        self.receive_until(Instant::now().checked_add(timeout))
    }

    /// Receives the next message, waiting until `deadline` at the latest.
    ///
    /// ```
    /// use mqsync::delivery::{DeliveryQueue, ReceiveError};
    /// use std::time::{Duration, Instant};
    /// let q = DeliveryQueue::<u8>::builder().build().unwrap();
    /// let deadline = Instant::now() + Duration::from_millis(5);
    /// assert_eq!(q.consumer().receive_deadline(deadline).unwrap_err(), ReceiveError::Timeout);
    /// ```
    pub fn receive_deadline(&self, deadline: Instant) -> Result<Delivery<T>, ReceiveError> {
        self.receive_until(Some(deadline))
    }

    fn receive_until(&self, deadline: Option<Instant>) -> Result<Delivery<T>, ReceiveError> {
        loop {
            let listener = match self.receive_or_listen() {
                ControlFlow::Break(received) => return received,
                ControlFlow::Continue(listener) => listener,
            };
            // With a visibility timeout, also wake at the next deadline to requeue overdue work.
            let sweep_at = self
                .state
                .shared
                .visibility
                .as_ref()
                .and_then(|v| v.next_deadline());
            // And at the next delayed redelivery's due time.
            let due_at = self.state.shared.delayed.next_due();
            let wake_at = [deadline, sweep_at, due_at].into_iter().flatten().min();
            match wake_at {
                None => listener.wait(),
                Some(wake_at) => {
                    if listener.wait_deadline(wake_at).is_none()
                        && deadline.is_some_and(|d| Instant::now() >= d)
                    {
                        return Err(ReceiveError::Timeout);
                    }
                }
            }
        }
    }

    /// Receives the next message asynchronously; works on any executor.
    ///
    /// ```
    /// use mqsync::delivery::DeliveryQueue;
    /// let q = DeliveryQueue::builder().build().unwrap();
    /// q.publish(5).unwrap();
    /// let consumer = q.consumer();
    /// let d = futures::executor::block_on(consumer.receive_async()).unwrap();
    /// assert_eq!(*d.message(), 5);
    /// ```
    pub async fn receive_async(&self) -> Result<Delivery<T>, ReceiveError> {
        loop {
            match self.receive_or_listen() {
                ControlFlow::Break(received) => return received,
                ControlFlow::Continue(listener) => listener.await,
            }
        }
    }

    /// A delivery or `Closed` (`Break`), or a listener registered on the event that ends the
    /// current wait (`Continue`), for the blocking and async receives.
    fn receive_or_listen(&self) -> ControlFlow<Result<Delivery<T>, ReceiveError>, EventListener> {
        loop {
            let waiting_for = match self.try_receive() {
                Ok(delivery) => return ControlFlow::Break(Ok(delivery)),
                Err(TryReceiveError::Closed) => {
                    return ControlFlow::Break(Err(ReceiveError::Closed))
                }
                Err(kind) => kind,
            };
            // Register first, then re-check: a publish or settlement after the re-check finds
            // our listener (event-listener fences on both sides), so no wake-up is lost.
            let listener = self.event_for(waiting_for).listen();
            match self.try_receive() {
                Ok(delivery) => return ControlFlow::Break(Ok(delivery)),
                Err(TryReceiveError::Closed) => {
                    return ControlFlow::Break(Err(ReceiveError::Closed))
                }
                Err(kind) if kind != waiting_for => continue, // wait on the other event
                Err(_) => return ControlFlow::Continue(listener),
            }
        }
    }

    /// Unsettled deliveries of this consumer right now (including a slot a concurrent receive
    /// on this handle has reserved and not yet filled); never more than the prefetch limit.
    /// Counted only when the queue has a prefetch limit; `None` otherwise.
    ///
    /// ```
    /// let q = mqsync::delivery::DeliveryQueue::builder().prefetch(2).build().unwrap();
    /// q.publish(1).unwrap();
    /// let c = q.consumer();
    /// let d = c.try_receive().unwrap();
    /// assert_eq!(c.unacked(), Some(1));
    /// d.ack();
    /// assert_eq!(c.unacked(), Some(0));
    /// ```
    pub fn unacked(&self) -> Option<usize> {
        (self.state.shared.prefetch != usize::MAX)
            .then(|| self.state.unacked.load(Ordering::Relaxed))
    }

    fn event_for(&self, kind: TryReceiveError) -> &Event {
        match kind {
            TryReceiveError::PrefetchLimit => &self.state.settled,
            _ => &self.state.shared.ready,
        }
    }
}

impl<T> Clone for Consumer<T> {
    /// Another consumer on the same queue, with its own prefetch budget.
    fn clone(&self) -> Self {
        Consumer::new(Arc::clone(&self.state.shared))
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("id", &self.id)
            .field("unacked", &self.state.unacked.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
