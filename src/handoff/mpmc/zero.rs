//! The rendezvous flavor, `bounded(0)`: no buffer; a send completes only when a receiver takes
//! its value, as in crossbeam-channel's zero-capacity channel and Go's unbuffered channels.
//! Unlike crossbeam's `zero.rs` (which copies the value through a stack packet and spins on a
//! `ready` flag), every hand-off here happens under the one lock, into lists the lock owns, so
//! the code needs no `unsafe` and an async receiver may be dropped at any time.
//
// # Protocol
//
// One `Mutex<Inner>` owns all the state. A waiting operation is an entry on a list, keyed by its
// `Waiter` (a thread's reused one, or a future's own):
//   `senders`   (waiter, value): a sender waiting for a receiver, its value with it;
//   `receivers` waiter:          a receiver waiting for a value;
//   `handed`    (waiter, value): a value a sender gave to a waiting receiver, not yet collected;
//   `orphans`   value:           a value handed to a receive future that was then dropped.
//
// Meeting (under the lock):
//   M1. A sender first gives its value to the oldest waiting receiver: it moves the receiver's
//       entry from `receivers` to `handed` with the value, marks the receiver notified, and has
//       succeeded. Otherwise (not `try_send`) it pushes (itself, value) onto `senders`.
//   M2. A receiver first takes the oldest orphan, then (not closed) the oldest waiting sender's
//       value: it removes the sender's entry, marks it notified, and has the value. Otherwise
//       (not `try_recv`) it pushes itself onto `receivers`.
//   Invariant: when `receivers` is not empty, `senders` and `orphans` are (M1 and M2 each
//   meet before they wait; a re-offered orphan goes to a waiting receiver first).
//
// Deciding (under the lock, after every wake-up, so each outcome is decided exactly once):
//   D1. A sender whose entry is gone from `senders` was taken by a receiver (M2): `Ok`. Its
//       entry is still there: closed → it removes it and gets `Disconnected(value)`; deadline
//       passed → it removes it and gets `Timeout(value)`; else it waits on. So `Ok` means a
//       receiver has the value, and an error always gives the value back: the receiver's
//       removal and the sender's removal exclude each other under the lock.
//   D2. A receiver with a `handed` entry collects it: `Ok` (even if closed or timed out since:
//       the sender already returned `Ok`). Otherwise its entry is still on `receivers`: closed →
//       `Disconnected`; deadline passed → `Timeout`; else it waits on.
//   Close sets `closed` and marks and wakes every waiter on `senders` and `receivers`, leaving
//   their entries for D1/D2 to decide. After the close M2 no longer takes from `senders`, so
//   every waiting sender gets its value back; orphans and `handed` values (whose senders were
//   told `Ok`) are still received.
//
// Dropped futures: a send future removes its entry if it is still on `senders` and drops the
// value (the send never happened); if it is gone, a receiver has the value. A receive future
// removes its entry from `receivers`; if a value was `handed` to it instead, it re-offers that
// value (M1 to another waiting receiver, else at the front of `orphans`), so a value whose
// sender was told `Ok` is never lost.
//
// Selects (watchers): a `Select` over a rendezvous receiver does not wait on `receivers` (a
// value handed to it would be committed to it before it chose which channel to take from).
// It sleeps on the channel's receiver `Waiters` list (`waiters.rs`, unused otherwise by this
// flavor) and, when woken, receives with a plain `try_recv` (M2). So a sender that is about to
// wait on `senders` notifies one watcher (`notify_one`, after unlocking: one SeqCst load when
// nobody selects), as does a dropped receive future that parks a value on `orphans`; a close
// notifies all of them (`Chan::close`). A watcher's re-check (`can_recv`) takes the lock, which
// orders it against the sender's push (waiters.rs essay, last paragraph). A `try_send` meets
// only receivers on `receivers`, never a watcher: it fails with `Full` while only selects wait.
//
// Waking: a waiter's `notified` is set only under the lock, by whoever changes its entry (M1,
// M2, close), and the waiter is woken after the unlock. The owner clears `notified` before it
// publishes an entry (under the same lock later), so a mark always belongs to the current wait;
// a spurious wake-up (an unpark left from an earlier wait, `park`'s own) is decided as "wait on".
// A waiter is on at most one of *these* lists (a select's waiter also joins the channel's
// `Waiters` lists, see waiters.rs), and on none when its operation returns (D1/D2 remove it, or
// M1/M2 did), which keeps the per-thread waiter of `waiters.rs` sound.

use super::error::{RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError};
use super::waiters::{with_thread_waiter, Waiter, Waiters};
use crate::primitive::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::collections::VecDeque;
use std::fmt;
use std::task::{Context, Poll};
use std::time::Instant;

/// A rendezvous channel's state: who waits, and values between a sender and a receiver.
pub(crate) struct Zero<T> {
    inner: Mutex<Inner<T>>,
}

/// Everything under the lock (see the protocol essay for each list's entries).
struct Inner<T> {
    /// Set once by `close`; never cleared.
    closed: bool,
    /// Waiting senders with their values, oldest first. Not empty only when `receivers` is.
    senders: VecDeque<(Arc<Waiter>, T)>,
    /// Waiting receivers, oldest first.
    receivers: VecDeque<Arc<Waiter>>,
    /// Values given to a waiting receiver (M1) that it has not yet collected (D2).
    handed: Vec<(Arc<Waiter>, T)>,
    /// Values whose receive future was dropped after the hand-off; received before anything
    /// else. Not empty only when `receivers` is.
    orphans: VecDeque<T>,
}

impl<T> Inner<T> {
    /// M1: gives `value` to the oldest waiting receiver, returning it to be woken.
    fn give(&mut self, value: T) -> Result<Arc<Waiter>, T> {
        match self.receivers.pop_front() {
            Some(receiver) => {
                receiver.mark_notified();
                self.handed.push((Arc::clone(&receiver), value));
                Ok(receiver)
            }
            None => Err(value),
        }
    }

    /// M2: takes an orphan, or the oldest waiting sender's value (returning the sender to be
    /// woken); `None` if there is neither, or only senders of a closed channel.
    fn take(&mut self) -> Option<(T, Option<Arc<Waiter>>)> {
        if let Some(value) = self.orphans.pop_front() {
            return Some((value, None));
        }
        if self.closed {
            return None;
        }
        let (sender, value) = self.senders.pop_front()?;
        sender.mark_notified();
        Some((value, Some(sender)))
    }

    /// D2's first step: the value handed to `me`, if any.
    fn collect(&mut self, me: &Arc<Waiter>) -> Option<T> {
        let index = self.handed.iter().position(|(w, _)| Arc::ptr_eq(w, me))?;
        Some(self.handed.swap_remove(index).1)
    }

    /// Where `me` waits on `senders`.
    fn sender_index(&self, me: &Arc<Waiter>) -> Option<usize> {
        self.senders.iter().position(|(w, _)| Arc::ptr_eq(w, me))
    }

    /// Where `me` waits on `receivers`.
    fn receiver_index(&self, me: &Arc<Waiter>) -> Option<usize> {
        self.receivers.iter().position(|w| Arc::ptr_eq(w, me))
    }
}

/// A future's (or the `Stream`'s) place in a rendezvous across polls.
#[derive(Debug, Default)]
pub(crate) struct Ticket {
    /// Allocated at the first wait, reused for later ones.
    waiter: Option<Arc<Waiter>>,
    /// Whether an entry of ours is on `senders`/`receivers`, or a value on `handed`.
    waiting: bool,
}

impl Ticket {
    /// Whether an entry of ours may be on the rendezvous's lists (a wait began and did not end).
    #[inline]
    pub(crate) fn is_waiting(&self) -> bool {
        self.waiting
    }

    /// The waiter, with `cx`'s waker in place (before the caller takes the lock, so that a
    /// notifier that changes our entry afterwards wakes this waker).
    fn waiter(&mut self, cx: &Context<'_>) -> Arc<Waiter> {
        let waiter = self.waiter.get_or_insert_with(|| Waiter::task(cx.waker()));
        waiter.set_waker(cx.waker());
        Arc::clone(waiter)
    }
}

impl<T> Zero<T> {
    pub(crate) fn new() -> Self {
        Zero {
            inner: Mutex::new(Inner {
                closed: false,
                senders: VecDeque::new(),
                receivers: VecDeque::new(),
                handed: Vec::new(),
                orphans: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends only to a receiver waiting now (M1).
    pub(crate) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(TrySendError::Disconnected(value));
        }
        let receiver = inner.give(value).map_err(TrySendError::Full)?;
        drop(inner);
        receiver.wake();
        Ok(())
    }

    /// Receives only from a sender waiting now, or an orphan (M2).
    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut inner = self.lock();
        match inner.take() {
            Some((value, sender)) => {
                drop(inner);
                if let Some(sender) = sender {
                    sender.wake();
                }
                Ok(value)
            }
            None if inner.closed => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Sends, waiting for a receiver until `deadline` (`None`: for ever): M1, then D1. A sender
    /// that waits notifies one of `watchers` (the selects asleep on this channel).
    pub(crate) fn send_until(
        &self,
        value: T,
        deadline: Option<Instant>,
        watchers: &Waiters,
    ) -> Result<(), SendTimeoutError<T>> {
        with_thread_waiter(|me| {
            me.reset();
            let mut inner = self.lock();
            if inner.closed {
                return Err(SendTimeoutError::Disconnected(value));
            }
            let value = match inner.give(value) {
                Ok(receiver) => {
                    drop(inner);
                    receiver.wake();
                    return Ok(());
                }
                Err(value) => value,
            };
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(SendTimeoutError::Timeout(value));
            }
            inner.senders.push_back((Arc::clone(me), value));
            drop(inner);
            // After the push, outside the lock: a select may take the value (module essay).
            watchers.notify_one();
            loop {
                let timed_out = !me.yield_then_park_until(deadline);
                let mut inner = self.lock();
                let Some(index) = inner.sender_index(me) else {
                    return Ok(()); // D1: a receiver took it.
                };
                if inner.closed || timed_out {
                    let (_, value) = inner.senders.remove(index).expect("found just now");
                    return Err(if inner.closed {
                        SendTimeoutError::Disconnected(value)
                    } else {
                        SendTimeoutError::Timeout(value)
                    });
                }
                // Spurious: nobody marks a waiter whose entry stays, except close.
                me.reset();
            }
        })
    }

    /// Receives, waiting for a sender until `deadline` (`None`: for ever): M2, then D2.
    pub(crate) fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        with_thread_waiter(|me| {
            me.reset();
            let mut inner = self.lock();
            if let Some((value, sender)) = inner.take() {
                drop(inner);
                if let Some(sender) = sender {
                    sender.wake();
                }
                return Ok(value);
            }
            if inner.closed {
                return Err(RecvTimeoutError::Disconnected);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(RecvTimeoutError::Timeout);
            }
            inner.receivers.push_back(Arc::clone(me));
            drop(inner);
            loop {
                let timed_out = !me.yield_then_park_until(deadline);
                let mut inner = self.lock();
                if let Some(value) = inner.collect(me) {
                    return Ok(value);
                }
                let index = inner
                    .receiver_index(me)
                    .expect("a waiting receiver is on `receivers` or `handed`");
                if inner.closed || timed_out {
                    inner.receivers.remove(index);
                    return Err(if inner.closed {
                        RecvTimeoutError::Disconnected
                    } else {
                        RecvTimeoutError::Timeout
                    });
                }
                me.reset();
            }
        })
    }

    /// A send future's poll: M1 at the first poll, D1 at later ones. `value` is the future's
    /// value until it is handed over or put on `senders` (then one of `watchers` is notified).
    /// `Err` gives the value back (closed).
    pub(crate) fn poll_send(
        &self,
        ticket: &mut Ticket,
        value: &mut Option<T>,
        cx: &Context<'_>,
        watchers: &Waiters,
    ) -> Poll<Result<(), T>> {
        let me = ticket.waiter(cx);
        let mut inner = self.lock();
        if ticket.waiting {
            let Some(index) = inner.sender_index(&me) else {
                ticket.waiting = false;
                return Poll::Ready(Ok(()));
            };
            if !inner.closed {
                return Poll::Pending;
            }
            ticket.waiting = false;
            let (_, value) = inner.senders.remove(index).expect("found just now");
            return Poll::Ready(Err(value));
        }
        let value = value.take().expect("SendFuture polled after completion");
        if inner.closed {
            return Poll::Ready(Err(value));
        }
        match inner.give(value) {
            Ok(receiver) => {
                drop(inner);
                receiver.wake();
                Poll::Ready(Ok(()))
            }
            Err(value) => {
                me.reset();
                inner.senders.push_back((me, value));
                ticket.waiting = true;
                drop(inner);
                // After the push, outside the lock: a select may take the value.
                watchers.notify_one();
                Poll::Pending
            }
        }
    }

    /// A dropped send future: withdraws its value if no receiver took it yet, and drops it.
    pub(crate) fn cancel_send(&self, ticket: &mut Ticket) {
        if !std::mem::take(&mut ticket.waiting) {
            return;
        }
        let me = ticket.waiter.as_ref().expect("waiting implies a waiter");
        let mut inner = self.lock();
        let withdrawn = inner
            .sender_index(me)
            .and_then(|index| inner.senders.remove(index));
        drop(inner);
        drop(withdrawn); // Outside the lock: `T::drop` is foreign code.
    }

    /// A receive future's (or the `Stream`'s) poll: M2 at the first poll, D2 at later ones.
    /// `Err(())`: closed and nothing to receive.
    pub(crate) fn poll_recv(&self, ticket: &mut Ticket, cx: &Context<'_>) -> Poll<Result<T, ()>> {
        let me = ticket.waiter(cx);
        let mut inner = self.lock();
        if ticket.waiting {
            if let Some(value) = inner.collect(&me) {
                ticket.waiting = false;
                return Poll::Ready(Ok(value));
            }
            let index = inner
                .receiver_index(&me)
                .expect("a waiting receiver is on `receivers` or `handed`");
            if !inner.closed {
                return Poll::Pending;
            }
            ticket.waiting = false;
            inner.receivers.remove(index);
            return Poll::Ready(Err(()));
        }
        if let Some((value, sender)) = inner.take() {
            drop(inner);
            if let Some(sender) = sender {
                sender.wake();
            }
            return Poll::Ready(Ok(value));
        }
        if inner.closed {
            return Poll::Ready(Err(()));
        }
        me.reset();
        inner.receivers.push_back(me);
        ticket.waiting = true;
        Poll::Pending
    }

    /// A dropped receive future (or `Stream`): leaves `receivers`, or re-offers a value handed
    /// to it (to another waiting receiver, else at the front of `orphans`, notifying one of
    /// `watchers`).
    pub(crate) fn cancel_recv(&self, ticket: &mut Ticket, watchers: &Waiters) {
        if !std::mem::take(&mut ticket.waiting) {
            return;
        }
        let me = ticket.waiter.as_ref().expect("waiting implies a waiter");
        let mut inner = self.lock();
        let Some(value) = inner.collect(me) else {
            if let Some(index) = inner.receiver_index(me) {
                inner.receivers.remove(index);
            }
            return;
        };
        match inner.give(value) {
            Ok(receiver) => {
                drop(inner);
                receiver.wake();
            }
            Err(value) => {
                inner.orphans.push_front(value);
                drop(inner);
                watchers.notify_one();
            }
        }
    }

    /// Closes; wakes every waiter for D1/D2. True if this call closed it.
    pub(crate) fn close(&self) -> bool {
        let mut inner = self.lock();
        if inner.closed {
            return false;
        }
        inner.closed = true;
        let waiting: Vec<Arc<Waiter>> = (inner.senders.iter().map(|(w, _)| w))
            .chain(inner.receivers.iter())
            .map(|w| {
                w.mark_notified();
                Arc::clone(w)
            })
            .collect();
        drop(inner);
        for waiter in waiting {
            waiter.wake();
        }
        true
    }

    /// The last receiver is gone: drop the orphans (no receiver is left to take them).
    pub(crate) fn discard_all(&self) {
        let orphans = std::mem::take(&mut self.lock().orphans);
        drop(orphans); // Outside the lock: `T::drop` is foreign code.
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Whether a `try_recv` now would not say `Empty`: an orphan, a waiting sender, or closed.
    /// A select's re-check (S2 of waiters.rs), under the lock.
    pub(crate) fn can_recv(&self) -> bool {
        let inner = self.lock();
        inner.closed || !inner.orphans.is_empty() || !inner.senders.is_empty()
    }

    /// True unless a dropped receive future left an orphan.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().orphans.is_empty()
    }

    /// Always: there is no room for a value.
    pub(crate) fn is_full(&self) -> bool {
        true
    }

    /// 0, unless a dropped receive future left orphans.
    pub(crate) fn len(&self) -> usize {
        self.lock().orphans.len()
    }
}

impl<T> fmt::Debug for Zero<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("Zero")
            .field("closed", &inner.closed)
            .field("senders", &inner.senders.len())
            .field("receivers", &inner.receivers.len())
            .finish_non_exhaustive()
    }
}
