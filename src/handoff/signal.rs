//! A wake-up signal whose publish side costs one load while nobody sleeps, behind a fence that
//! is only a compiler fence where Linux `membarrier` is available (a `SeqCst` fence elsewhere).
//!
//! A [`Signal`] is a count of registered sleepers in front of a parking mechanism: an
//! [`event_listener::Event`] in a normal build (it parks threads and stores async wakers), a
//! facade `Mutex`/`Condvar` generation counter under `cfg(mqsync_loom)` so that loom sees every
//! step. The gate (count and fences) is the same code in both builds; only the sleep differs.

// Protocol essay: register → re-check → sleep
// =============================================
//
// Two roles. A *publisher* has just made a condition true (a push made the queue non-empty, a
// pop freed a slot, a close). A *waiter* found the condition false and wants to sleep until it
// may be true.
//
//   publisher                               waiter
//   P1 publish (a Release store or RMW)     W1 listener = register with the parker
//   P2 fence(SeqCst)                        W2 waiters.fetch_add(1, Release)
//   P3 n = waiters.load(Acquire)            W3 fence(SeqCst)
//   P4 if n > 0 { wake }                    W4 re-check the condition (Acquire loads)
//                                           W5 if still false: sleep on the listener
//                                           W6 waiters.fetch_sub(1) (on every way out)
//
// Claim: a waiter never sleeps through a publication. The SeqCst fences P2 and W3 are totally
// ordered in the single order S.
//
// [1] If P2 <S W3: P1 is sequenced before P2, W4's loads are sequenced after W3, so (C++20
//     [atomics.order] fence-fence rule) W4 reads P1's value or a later one: the waiter sees the
//     condition true at W4 and does not sleep.
// [2] If W3 <S P2: by the same rule P3 reads W2's increment or a later value. While this waiter
//     is between W2 and W6 its increment is not undone, so n >= 1 and P4 wakes. Every write to
//     `waiters` is an RMW, so P3's Acquire load reads from the release sequence of W2 and W1
//     happens-before P4: the parker already knows the listener, and a listener woken before it
//     sleeps does not sleep (event-listener keeps the notification; the loom parker compares
//     generations).
// [3] S is total, so one of [1], [2] holds. ∎
//
// Races that are harmless:
// * P3 reads a count that includes a waiter that has already re-checked and left (between W4 and
//   W6): the wake is spurious; event-listener passes a notification that reached a dropped
//   listener on to another listener, so no other waiter loses it.
// * Several publishers wake one waiter each (`notify_one` is event-listener's *additional*
//   notification, so two pushes wake two sleepers, never the same one twice). A woken waiter
//   always re-checks; if another consumer took the value, it registers again.
// * P2 may be a barrier the publisher issues anyway for a check of its own after P1, as long as
//   it is of the signal's kind (`notify_one_after_light`): the SPSC ring's push issues one light
//   barrier, then loads its `state` word and then `waiters`. A barrier of the signal's kind
//   between P1 and P3 (a SeqCst fence, or in [A] the light half that pairs with the waiter's
//   heavy one) gives [1] and [2]; the load in between changes nothing.
// * The cost while nobody sleeps is P2 + P3. P2 cannot simply be dropped: without a barrier the
//   publisher's store may still sit in its store buffer when it reads `waiters == 0`
//   (store→load reordering, allowed even on x86), and the waiter may read the old value at W4 —
//   the textbook lost wake-up (loom finds it). Structures built with a strategy that never parks
//   skip P2–P4 entirely (see `WaitStrategy::parks`).
//
// [A] The asymmetric pair. Where the kernel supports it (Linux `membarrier`, checked once per
//     process; see `primitive::barrier`), P2 is only a compiler fence and W3 is
//     `membarrier(PRIVATE_EXPEDITED)`, which makes every running thread of the process pass a
//     full barrier at some point B during the call. For the publisher: if its P1 came before B
//     in its program order, P1 is visible to W4 (case [1]); otherwise its P3, which follows P1
//     in program order and cannot be moved before it by the compiler (P2), comes after B and
//     sees W2 (case [2]). So the essay holds with the fence pair replaced by this pair, and the
//     publisher's fast path costs one plain load. Waiters pay a system call before they sleep,
//     which is small beside the sleep itself. Under loom and miri the symmetric fences are used.
// [T] Under ThreadSanitizer (`cfg(mqsync_sanitize_thread)`, `.ci/tsan`) P2 and W3 are both a
//     SeqCst `waiters.fetch_add(0)`: TSan ignores fences and membarrier, but it follows the
//     release sequence of RMWs on `waiters`. If P2 is first in `waiters`' modification order,
//     W3 reads from it, so P1 happens-before W4 ([1]); if W3 is first, P2 and P3 read W2's
//     increment or later ([2]). See `primitive::barrier::light`.

use crate::primitive::barrier;
use crate::primitive::sync::atomic::{AtomicUsize, Ordering};
use crossbeam_utils::CachePadded;
use std::fmt;
use std::time::Instant;

#[cfg(not(mqsync_loom))]
use event_listener::{Event, EventListener, IntoNotification, Listener};

#[cfg(mqsync_loom)]
use crate::primitive::sync::{Condvar, Mutex};

/// A wake-up signal: see the protocol essay at the top of this file.
pub(crate) struct Signal {
    /// Number of registered waiters (W2 increments, W6 decrements). Read by every publisher (P3),
    /// written only when somebody goes to sleep, so it sits on its own cache line.
    waiters: CachePadded<AtomicUsize>,
    /// Whether P2/W3 are the asymmetric pair (`primitive::barrier`); fixed at construction so
    /// that both sides always use matching halves.
    asymmetric: bool,
    #[cfg(not(mqsync_loom))]
    event: Event,
    /// Loom build: bumped (under the lock) by every wake; a waiter sleeps while it is unchanged.
    #[cfg(mqsync_loom)]
    generation: Mutex<u64>,
    #[cfg(mqsync_loom)]
    condvar: Condvar,
}

/// A waiter's registration (W1–W3 done). Hand it back to [`Signal::wait`] or
/// [`Signal::unregister`]; dropping it without either leaves the waiter count one too high
/// (harmless but costly: publishers would then always take the wake path).
#[must_use]
pub(crate) struct Registration {
    #[cfg(not(mqsync_loom))]
    listener: EventListener,
    #[cfg(mqsync_loom)]
    generation: u64,
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a diagnostic snapshot, nothing is ordered by it.
        let waiters = self.waiters.load(Ordering::Relaxed);
        f.debug_struct("Signal")
            .field("waiters", &waiters)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration").finish_non_exhaustive()
    }
}

impl Signal {
    pub(crate) fn new() -> Self {
        Self::with_asymmetric(barrier::asymmetric())
    }

    /// A signal whose P2/W3 pair is the asymmetric one exactly when `asymmetric` (the value of
    /// `barrier::asymmetric()` that the owner also uses for its own barriers, so that an owner
    /// may issue P2 itself: [`Signal::notify_one_after_light`]).
    pub(crate) fn with_asymmetric(asymmetric: bool) -> Self {
        Signal {
            waiters: CachePadded::new(AtomicUsize::new(0)),
            asymmetric,
            #[cfg(not(mqsync_loom))]
            event: Event::new(),
            #[cfg(mqsync_loom)]
            generation: Mutex::new(0),
            #[cfg(mqsync_loom)]
            condvar: Condvar::new(),
        }
    }

    /// P2–P4: after a publication, wakes one sleeper if any is registered.
    #[inline]
    pub(crate) fn notify_one(&self) {
        if self.has_waiters() {
            self.wake(false);
        }
    }

    /// P3–P4 for a publisher that has already issued P2 itself, after its publication:
    /// `barrier::light` with this signal's `asymmetric` value (the owner built the signal with
    /// [`Signal::with_asymmetric`]). Saves the second barrier, and its branch, where the owner
    /// needs a light barrier after the same store for a check of its own (the SPSC ring's close
    /// check). Any `SeqCst` fence, or compiler fence in the asymmetric case, between P1 and P3
    /// serves as P2 (essay [1], [2], [A]).
    #[inline]
    pub(crate) fn notify_one_after_light(&self) {
        if cfg!(mqsync_sanitize_thread) {
            // Under ThreadSanitizer P2 is an RMW of `waiters` itself (essay [T]); the owner's
            // barrier was an RMW of its own word, which TSan does not relate to W3.
            barrier::light(self.asymmetric, &self.waiters);
        }
        // P3. Acquire: pairs with the Release increment W2 (as in `has_waiters`).
        if self.waiters.load(Ordering::Acquire) != 0 {
            self.wake(false);
        }
    }

    /// P2–P4 for a close: wakes every sleeper.
    pub(crate) fn notify_all(&self) {
        if self.has_waiters() {
            self.wake(true);
        }
    }

    /// P2 + P3.
    #[inline]
    fn has_waiters(&self) -> bool {
        // P2. The light half of a SeqCst fence pair: pairs with the waiter's W3 in `register`
        // (essay [1], [2], and [A] for the asymmetric pair).
        barrier::light(self.asymmetric, &self.waiters);
        // P3. Acquire: pairs with the Release increment W2, so the listener registered at W1 is
        // visible to the wake below (essay [2]).
        self.waiters.load(Ordering::Acquire) != 0
    }

    #[cold]
    fn wake(&self, all: bool) {
        #[cfg(not(mqsync_loom))]
        {
            if all {
                self.event.notify(usize::MAX);
            } else {
                // Additional: two publications wake two sleepers even if the first has not run yet.
                self.event.notify(1.additional());
            }
        }
        #[cfg(mqsync_loom)]
        {
            let _ = all;
            *self.generation.lock().unwrap() += 1;
            self.condvar.notify_all();
        }
    }

    /// W1–W3. The caller must re-check its condition (W4) before [`Signal::wait`].
    pub(crate) fn register(&self) -> Registration {
        // W1.
        #[cfg(not(mqsync_loom))]
        let registration = Registration {
            listener: self.event.listen(),
        };
        #[cfg(mqsync_loom)]
        let registration = Registration {
            generation: *self.generation.lock().unwrap(),
        };
        // W2. Release: pairs with the Acquire load P3 (W1 happens-before the wake).
        self.waiters.fetch_add(1, Ordering::Release);
        // W3. The heavy half: pairs with the publisher's P2 (essay [1], [2], [A]).
        barrier::heavy(self.asymmetric, &self.waiters);
        registration
    }

    /// W6 without sleeping: the re-check succeeded.
    pub(crate) fn unregister(&self, registration: Registration) {
        drop(registration);
        // Relaxed: the count is only a hint for publishers; a stale higher value costs one
        // spurious wake, and the essay's argument only needs this decrement to come after W5.
        self.waiters.fetch_sub(1, Ordering::Relaxed);
    }

    /// W5 + W6: sleeps until woken or until `deadline`. Returns false when the deadline passed.
    ///
    /// Under loom, time is not modelled: a wait with a deadline returns false at once.
    pub(crate) fn wait(&self, registration: Registration, deadline: Option<Instant>) -> bool {
        #[cfg(not(mqsync_loom))]
        let woken = match deadline {
            None => {
                registration.listener.wait();
                true
            }
            Some(deadline) => registration.listener.wait_deadline(deadline).is_some(),
        };
        #[cfg(mqsync_loom)]
        let woken = match deadline {
            Some(_) => false,
            None => {
                let mut generation = self.generation.lock().unwrap();
                while *generation == registration.generation {
                    generation = self.condvar.wait(generation).unwrap();
                }
                true
            }
        };
        // W6. Relaxed: see `unregister`.
        self.waiters.fetch_sub(1, Ordering::Relaxed);
        woken
    }

    /// W5 for async waiters: polls the registered listener. On `Ready` the registration is
    /// consumed (W6 done) and `slot` is left empty.
    #[cfg(not(mqsync_loom))]
    pub(crate) fn poll(
        &self,
        slot: &mut Option<Registration>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        use std::future::Future;
        let registration = slot.as_mut().expect("poll without a registration");
        match std::pin::Pin::new(&mut registration.listener).poll(cx) {
            std::task::Poll::Ready(()) => {
                let registration = slot.take().expect("checked above");
                self.unregister(registration);
                std::task::Poll::Ready(())
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}
