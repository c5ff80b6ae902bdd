//! How a blocked caller waits: the [`WaitStrategy`] and the loops shared by every blocking and
//! async operation of the handoff layer.
//!
//! Every loop has the same shape: try the operation; if it cannot complete, back off according to
//! the strategy; a parking strategy finally registers with a [`Signal`], re-checks, and sleeps
//! (the register → re-check → sleep protocol of `signal.rs`).

use super::signal::{Registration, Signal};
use crate::primitive::{hint, Backoff};
use std::time::Instant;

/// How a blocked push or pop waits for the other side.
///
/// The strategy is chosen when a queue is built ([`spsc_with`](super::spsc_with),
/// [`channel_with`](super::channel_with)) and is fixed for its life, because it decides whether
/// publishers must pay for waking sleepers:
///
/// | strategy | a blocked caller | cost added to every push / pop |
/// |---|---|---|
/// | [`BusySpin`](Self::BusySpin) | spins on the CPU, never yields | none (an SPSC push pays a `SeqCst` fence for its close check where Linux `membarrier` is missing) |
/// | [`SpinThenYield`](Self::SpinThenYield) | spins briefly, then yields its time slice in a loop | as `BusySpin` |
/// | [`SpinThenPark`](Self::SpinThenPark) (default) | spins briefly, then sleeps until woken | one load while nobody sleeps (plus a `SeqCst` fence where Linux `membarrier` is missing); a `membarrier` call each time a waiter goes to sleep |
///
/// With a strategy that never parks, async waits (`pop_async`, `Stream`) re-poll themselves
/// (`wake_by_ref`) instead of sleeping: they keep the executor busy, as a spinning thread would.
///
/// # Examples
///
/// ```
/// use mqsync::handoff::{spsc_with, WaitStrategy};
///
/// assert_eq!(WaitStrategy::default(), WaitStrategy::SpinThenPark);
/// let (mut tx, mut rx) = spsc_with::<u64>(64, WaitStrategy::BusySpin);
/// let t = std::thread::spawn(move || rx.pop_blocking());
/// tx.push(7).unwrap();
/// assert_eq!(t.join().unwrap(), Ok(7));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitStrategy {
    /// Spin with `spin_loop` hints until the operation succeeds or the deadline passes. Lowest
    /// latency; burns a core; only sensible with a core per waiting thread.
    BusySpin,
    /// Spin with exponential backoff, then `yield_now` in a loop. No sleeping.
    SpinThenYield,
    /// Spin with exponential backoff, then park until woken by the other side. The default.
    #[default]
    SpinThenPark,
}

impl WaitStrategy {
    /// True when a waiter may sleep, so that publishers must check for sleepers.
    pub(crate) fn parks(self) -> bool {
        matches!(self, WaitStrategy::SpinThenPark)
    }
}

/// Under loom the model checks the park protocol itself, not the spin phase in front of it.
const SPIN_BEFORE_PARK: bool = !cfg!(mqsync_loom);

/// Repeats `attempt` on `core` until it returns `Some`, waiting between tries as `strategy`
/// says. Returns `None` when `deadline` passed first (after one last attempt).
///
/// `signal(core)` is the signal the other side publishes to when `attempt` may now succeed.
pub(crate) fn block<C, R>(
    core: &mut C,
    signal: fn(&C) -> &Signal,
    strategy: WaitStrategy,
    deadline: Option<Instant>,
    mut attempt: impl FnMut(&mut C) -> Option<R>,
) -> Option<R> {
    let mut backoff = Backoff::new();
    loop {
        if let Some(done) = attempt(core) {
            return Some(done);
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return None;
        }
        match strategy {
            WaitStrategy::BusySpin => hint::spin_loop(),
            WaitStrategy::SpinThenYield => backoff.snooze(),
            WaitStrategy::SpinThenPark => {
                if SPIN_BEFORE_PARK && !backoff.is_completed() {
                    backoff.snooze();
                    continue;
                }
                // Register, re-check, sleep: see the essay in signal.rs.
                let registration = signal(core).register();
                if let Some(done) = attempt(core) {
                    signal(core).unregister(registration);
                    return Some(done);
                }
                if !signal(core).wait(registration, deadline) {
                    return attempt(core);
                }
            }
        }
    }
}

/// The async counterpart of [`block`]: one poll. `registration` persists between polls (it lives
/// in the future or the stream) and is empty whenever this returns `Ready`.
#[cfg(not(mqsync_loom))]
pub(crate) fn poll<C, R>(
    core: &mut C,
    registration: &mut Option<Registration>,
    cx: &mut std::task::Context<'_>,
    signal: fn(&C) -> &Signal,
    parks: bool,
    mut attempt: impl FnMut(&mut C) -> Option<R>,
) -> std::task::Poll<R> {
    use std::task::Poll;
    loop {
        if let Some(done) = attempt(core) {
            cancel(core, registration, signal);
            return Poll::Ready(done);
        }
        if !parks {
            // Nobody wakes non-parking waiters: ask to be polled again, like a spinning thread.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if registration.is_none() {
            // Register, then loop to re-check before sleeping (signal.rs essay, W1–W4).
            *registration = Some(signal(core).register());
            continue;
        }
        match signal(core).poll(registration, cx) {
            // Woken (the registration is consumed): re-check.
            Poll::Ready(()) => continue,
            Poll::Pending => return Poll::Pending,
        }
    }
}

/// Drops a pending async registration (a future dropped before completion, a stream dropped).
pub(crate) fn cancel<C>(
    core: &C,
    registration: &mut Option<Registration>,
    signal: fn(&C) -> &Signal,
) {
    if let Some(registration) = registration.take() {
        signal(core).unregister(registration);
    }
}
