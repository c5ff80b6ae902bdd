//! A task's place on a sleeper list across polls (the async half of `waiters.rs`).

use super::waiters::{Waiter, Waiters};
use crate::primitive::sync::Arc;
use std::task::Context;

/// A future's or stream's registration on one `Waiters` list. Its waiter is allocated once, at
/// the first wait, and reused for every later one.
#[derive(Debug, Default)]
pub(crate) struct Registration {
    waiter: Option<Arc<Waiter>>,
    /// Whether `waiter` may be on the list (it is, unless a notifier took it off).
    registered: bool,
}

impl Registration {
    /// After a failed try: puts the task on `waiters` (or keeps it there with the current
    /// waker). True when the caller must try again now instead of returning `Pending`: `ready`
    /// said so after registering, or a notifier woke us.
    #[cold]
    pub(crate) fn wait(
        &mut self,
        waiters: &Waiters,
        cx: &Context<'_>,
        ready: impl Fn() -> bool,
    ) -> bool {
        if self.registered {
            let waiter = self.waiter.as_ref().expect("registered implies a waiter");
            if waiter.is_notified() {
                self.registered = false;
                return true;
            }
            waiter.set_waker(cx.waker());
            // A notifier that set `notified` before our new waker was stored may have woken the
            // old one: look again now that the new waker is in place.
            if waiter.is_notified() {
                self.registered = false;
                return true;
            }
            return false;
        }
        let waiter = self.waiter.get_or_insert_with(|| Waiter::task(cx.waker()));
        waiter.set_waker(cx.waker());
        waiters.register(waiter);
        self.registered = true;
        if ready() {
            waiters.unregister(waiter);
            self.registered = false;
            return true;
        }
        false
    }

    /// Whether the waiter may be on the list (a wait began and did not end).
    #[inline]
    pub(crate) fn is_registered(&self) -> bool {
        self.registered
    }

    /// The operation completed: leave the list. Inline: on the fast path (never registered)
    /// it is one test of a flag.
    #[inline]
    pub(crate) fn done(&mut self, waiters: &Waiters) {
        if self.registered {
            self.leave(waiters);
        }
    }

    /// `done` for a registered waiter: off the list (out of line, the fast path never comes here).
    #[cold]
    fn leave(&mut self, waiters: &Waiters) {
        self.registered = false;
        if let Some(waiter) = &self.waiter {
            waiters.unregister(waiter);
        }
    }

    /// The operation is abandoned (its future dropped): leave the list, and hand a wake-up we
    /// were given and did not use to another sleeper, so that no value waits for a sleeper
    /// that is never woken.
    #[inline]
    pub(crate) fn cancel(&mut self, waiters: &Waiters) {
        if self.registered {
            self.abandon(waiters);
        }
    }

    /// `cancel` for a registered waiter: off the list, passing on a wake-up it was given.
    #[cold]
    fn abandon(&mut self, waiters: &Waiters) {
        self.registered = false;
        if let Some(waiter) = &self.waiter {
            if !waiters.unregister(waiter) {
                waiters.notify_one();
            }
        }
    }
}
