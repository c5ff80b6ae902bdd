//! Sleeping and waking for the channel: who waits on one side of a channel, and how the other
//! side wakes them for the price of one load while nobody sleeps.
//
// # Protocol
//
// A `Waiters` list is one side's sleepers (receivers on empty, or senders on full) and a count
// of them, `sleepers`, changed only under the list's lock.
//
// Sleeper (register → re-check → sleep):
//   S1. lock; push its `Waiter`; `sleepers.fetch_add(1, SeqCst)`; unlock.
//   S2. re-check the channel with SeqCst loads (`is_empty`/`is_full`/`is_closed`); if it can
//       go on, unregister and go on.
//   S3. park (or return `Pending`) until `notified` is set.
// Notifier (after its claim, a SeqCst RMW on the channel's head, tail or close mark):
//   N1. `sleepers.load(SeqCst)`; zero: done (the common path: one load, no fence, no RMW).
//   N2. otherwise lock; pop a waiter; set its `notified`; unlock; unpark / wake it.
//
// No lost wake-up: S1's RMW and S2's loads, N's claim and N1's load are all SeqCst, so they
// sit in one total order. Every change of `sleepers` is an RMW made under the list's lock (the
// decrements are Relaxed, but RMWs and the lock chain them in happens-before order), so a
// SeqCst load that reads zero reads a value from before S1's increment in that chain: if N1
// reads zero, N1 comes before S1's increment, so N's claim comes
// before S2's loads, which then see it, and the sleeper does not sleep. If N1 reads non-zero,
// N2 finds the sleeper in the list (S1 finished under the lock) or finds it gone because it
// unregistered itself (then it did not sleep). On x86 a SeqCst load is a plain load and the
// claims are locked instructions already, so senders and receivers pay nothing beyond N1; no
// `membarrier` is needed.
//
// loom treats SeqCst loads as Acquire loads (its documented limitation), so it would report
// lost wake-ups this argument rules out. Under loom alone, `seqcst_point` puts a SeqCst fence
// after S1's increment and before N1's load: the same total order, in the form loom models.
//
// A notified waiter owes the channel one more try: the notification may be the only one for a
// value, so a waiter that is notified and then gives up (a timeout, a dropped future) first
// tries once more (timeouts) or passes the notification on (`notify_one` from a dropped
// future). Each thread reuses one `Waiter` for every wait (no allocation per sleep), and it is
// always off every list when the wait returns (removed by the notifier, or by itself in
// `unregister`).
//
// # Select: one waiter on several lists
//
// A `Select` (`select.rs`) sleeps on the receiver lists of several channels at once with one
// waiter, so a waiter is on *at most one entry per list it joined*, not on at most one list.
// `wait_any` runs the same three steps over all of them:
//   S0. clear `notified` once; joining a list (`enlist`) does not clear it, or joining list 2
//       could erase the mark list 1's notifier set meanwhile.
//   S1. `enlist` on every list (each: lock; push; `sleepers.fetch_add(1, SeqCst)`; unlock).
//   S2. re-check every channel (`ready`), after the *last* S1.
//   S3. park until `notified` (set by whichever list's notifier came first) or the deadline.
//   S4. `unregister` from every list; a list where that fails is one whose notifier took the
//       waiter off (N2): the select holds that list's wake-up (`taken`).
// No lost wake-up, list by list: for a claim on channel k, either N1 reads zero, so it comes
// before S1 on list k, which comes before every S2 load, which then sees the claim; or N1 reads
// non-zero and N2 finds the waiter on list k (or it is gone because S4 ran, after S3 or S2
// let it go on). A second notifier on another list may take the waiter too: S4 reports both.
//
// Pass-on. After S4 the select claims at most one value, by a plain `try_recv` on one channel.
// A wake-up it holds for any *other* list is then passed on with `notify_one` on that list when
// the select returns (a value from another channel, a disconnection, or a timeout), exactly as a
// dropped future passes on its unused one: another receiver asleep on that list may be the only
// one left to take the value the wake-up was for. A select that finds nothing and waits again
// does not pass on: its `try_recv` on every list came after S4 (so after the notifier's claim),
// and found the channel empty, so the value was taken by someone else and the wake-up is spent.
// A pass-on that finds the value already gone costs one spurious wake-up, never a loss.
//
// The rendezvous flavor (`zero.rs`) keeps its waiting senders and receivers in its own lists;
// for it the receiver list here holds only selects (*watchers*). A rendezvous sender about to
// sleep pushes itself under the flavor's lock, then does N1/N2 here; a select does S1 here, then
// S2 under the flavor's lock. The lock orders the two: if S2's lock comes first, S1 happens
// before the sender's push and N1, so N1 sees the sleeper; else S2 sees the sender.
//
// Under loom a select parks on a loom `Notify` rather than `thread::park` (`Wake::Notify`):
// loom's `unpark` would wake it while it is blocked on another list's lock.

use crate::primitive::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::primitive::sync::{Arc, Mutex, PoisonError};
use crate::primitive::thread::{self, Thread};
use crate::primitive::BoundedWait;
use std::collections::VecDeque;
use std::fmt;
use std::task::Waker;
use std::time::Instant;

/// One waiting thread or task.
pub(crate) struct Waiter {
    /// Set (under the list's lock) by the notifier that removed this waiter from its list;
    /// cleared by the owner before it registers again.
    notified: AtomicBool,
    wake: Wake,
}

/// How a waiter is woken.
enum Wake {
    /// A parked thread.
    Thread(Thread),
    /// A task; the owner puts its latest waker here before each registration.
    Task(std::sync::Mutex<Option<Waker>>),
    /// Under loom only, a select's thread (`wait_any`). loom's `Thread::unpark` makes a thread
    /// runnable whatever it is blocked on (tokio-rs/loom#249), and a select may be notified
    /// through one list while it waits for another list's lock; loom then fails its own lock
    /// assertion. Its `Notify` wakes only a thread waiting on that `Notify`, as std's unpark
    /// leaves a thread blocked on a lock alone.
    #[cfg(mqsync_loom)]
    Notify(crate::primitive::sync::Notify),
}

/// How many times a thread waiting for a rendezvous partner yields, looking at its `notified`
/// mark between yields, before it parks (`Waiter::yield_then_park_until`). Every
/// rendezvous hand-off has a partner waiting for it, and waking a parked one costs its waker a
/// futex call and the sleeper a trip through the scheduler (about 18 µs per hand-off on the
/// 2-vCPU VM of docs/benchmarks.md); a partner that answers within the yields is caught awake,
/// as kanal's `Signal::wait` does with its own 256 yields. A wait that lasts longer costs 256
/// `sched_yield` calls once (about 125 µs of CPU on that VM), then sleeps. The other flavors'
/// waits and `Select` park at once after their backoff: the yields gained nothing measurable
/// there, and on 2 cores a yielding waiter competes with the threads it waits for (the same
/// yields in the SPSC ring's waits cost the sync engine its p99, docs/benchmarks.md).
/// Under loom none: loom runs the other threads at every yield, which would hide the park.
const YIELDS_BEFORE_PARK: u32 = if cfg!(mqsync_loom) { 0 } else { 256 };

impl Waiter {
    /// A waiter for a task, woken through `waker`.
    pub(crate) fn task(waker: &Waker) -> Arc<Waiter> {
        Arc::new(Waiter {
            notified: AtomicBool::new(false),
            wake: Wake::Task(std::sync::Mutex::new(Some(waker.clone()))),
        })
    }

    /// A waiter for the calling thread, woken by unparking it.
    fn thread() -> Arc<Waiter> {
        Arc::new(Waiter {
            notified: AtomicBool::new(false),
            wake: Wake::Thread(thread::current()),
        })
    }

    /// The waiter for a select's wait (`wait_any`): the calling thread's, except under loom
    /// (see `Wake::Notify`).
    fn with_select<R>(f: impl FnOnce(&Arc<Waiter>) -> R) -> R {
        #[cfg(not(mqsync_loom))]
        {
            with_thread_waiter(f)
        }
        #[cfg(mqsync_loom)]
        {
            f(&Arc::new(Waiter {
                notified: AtomicBool::new(false),
                wake: Wake::Notify(crate::primitive::sync::Notify::new()),
            }))
        }
    }

    /// Parks the owner until woken (or spuriously).
    fn park(&self) {
        #[cfg(mqsync_loom)]
        if let Wake::Notify(notify) = &self.wake {
            notify.wait();
            return;
        }
        thread::park();
    }

    /// [`park_until`](Self::park_until) for a rendezvous wait: yields up to
    /// [`YIELDS_BEFORE_PARK`] times first, looking at the mark and the deadline between yields. A
    /// notification that comes meanwhile is taken without sleeping; the notifier's `unpark` then
    /// leaves a token that makes a later `park` return at once, a spurious wake-up like any other.
    pub(crate) fn yield_then_park_until(&self, deadline: Option<Instant>) -> bool {
        let mut yields = BoundedWait::new(0, YIELDS_BEFORE_PARK);
        loop {
            if self.is_notified() {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            if !yields.wait() {
                return self.park_until(deadline);
            }
        }
    }

    /// Parks the owner until a notifier takes this waiter off its list (true) or `deadline`
    /// passes (false). Spurious unparks (`park`'s own, or one left from an earlier wait) only
    /// loop. Under loom the deadline passes at the first wait: loom has no wall clock (its
    /// `park_timeout` is a yield), and the race that matters is the give-up against a notifier.
    pub(crate) fn park_until(&self, deadline: Option<Instant>) -> bool {
        loop {
            if self.is_notified() {
                return true;
            }
            match deadline {
                None => self.park(),
                Some(_) if cfg!(mqsync_loom) => return false,
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    thread::park_timeout(deadline - now);
                }
            }
        }
    }

    /// Whether a notifier took this waiter off its list.
    pub(crate) fn is_notified(&self) -> bool {
        // Acquire: pairs with the Release store in `Waiters::take_one` (and the lock).
        self.notified.load(Ordering::Acquire)
    }

    /// Replaces the task's waker (a task may move between polls).
    pub(crate) fn set_waker(&self, waker: &Waker) {
        if let Wake::Task(slot) = &self.wake {
            let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
            if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
                *slot = Some(waker.clone());
            }
        }
    }

    /// Clears `notified` before the owner offers itself for a new rendezvous (`zero.rs`).
    pub(crate) fn reset(&self) {
        // Relaxed: the owner then takes the rendezvous lock to publish its offer, and every
        // `mark_notified` happens under that lock, so it is ordered after this store.
        self.notified.store(false, Ordering::Relaxed);
    }

    /// Marks this one waiter notified, for a notifier that took it off a list of its own
    /// (`zero.rs`, under its lock); the notifier calls `wake` after unlocking.
    pub(crate) fn mark_notified(&self) {
        // Release: pairs with the Acquire load in `is_notified`.
        self.notified.store(true, Ordering::Release);
    }

    /// Unparks the thread or wakes the task (outside any lock: a waker runs foreign code).
    pub(crate) fn wake(&self) {
        match &self.wake {
            Wake::Thread(thread) => thread.unpark(),
            #[cfg(mqsync_loom)]
            Wake::Notify(notify) => notify.notify(),
            Wake::Task(slot) => {
                let waker = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
        }
    }
}

impl fmt::Debug for Waiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter")
            .field("notified", &self.is_notified())
            .finish_non_exhaustive()
    }
}

/// The sleepers of one side of a channel.
pub(crate) struct Waiters {
    /// How many waiters the list holds. Changed only under `list`'s lock; read without it by
    /// notifiers (N1).
    sleepers: AtomicUsize,
    list: Mutex<VecDeque<Arc<Waiter>>>,
}

impl Waiters {
    pub(crate) fn new() -> Self {
        Waiters {
            sleepers: AtomicUsize::new(0),
            list: Mutex::new(VecDeque::new()),
        }
    }

    /// S1: puts `waiter` on the list, its `notified` cleared.
    pub(crate) fn register(&self, waiter: &Arc<Waiter>) {
        // Relaxed: the lock in `enlist` orders it before any notifier that finds the waiter.
        waiter.notified.store(false, Ordering::Relaxed);
        self.enlist(waiter);
    }

    /// S1 without clearing `notified`: for a waiter that joins several lists for one wait
    /// (`wait_any`), whose owner cleared it once before the first.
    fn enlist(&self, waiter: &Arc<Waiter>) {
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        list.push_back(Arc::clone(waiter));
        // SeqCst: S1 of the protocol, paired with N1's load.
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        seqcst_point();
    }

    /// Takes `waiter` off the list; false if a notifier took it first (it is notified).
    pub(crate) fn unregister(&self, waiter: &Arc<Waiter>) -> bool {
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        match list.iter().position(|w| Arc::ptr_eq(w, waiter)) {
            Some(index) => {
                list.remove(index);
                // Relaxed: under the lock; the decrement only lets notifiers skip the lock.
                self.sleepers.fetch_sub(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// N1 + N2 for one waiter: wakes the longest-waiting sleeper, if any.
    #[inline]
    pub(crate) fn notify_one(&self) {
        seqcst_point();
        // SeqCst: N1, paired with S1's increment (module essay).
        if self.sleepers.load(Ordering::SeqCst) != 0 {
            self.take_one();
        }
    }

    /// Wakes every sleeper (close and disconnection).
    pub(crate) fn notify_all(&self) {
        seqcst_point();
        // SeqCst: N1, paired with S1's increment (module essay).
        if self.sleepers.load(Ordering::SeqCst) == 0 {
            return;
        }
        let taken: Vec<Arc<Waiter>> = {
            let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
            self.sleepers.store(0, Ordering::Relaxed);
            list.drain(..)
                .inspect(|w| {
                    // Release: pairs with the Acquire load in `is_notified`.
                    w.notified.store(true, Ordering::Release);
                })
                .collect()
        };
        for waiter in taken {
            waiter.wake();
        }
    }

    #[cold]
    fn take_one(&self) {
        let waiter = {
            let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
            let waiter = list.pop_front();
            if let Some(w) = &waiter {
                // Relaxed: under the lock (see `unregister`).
                self.sleepers.fetch_sub(1, Ordering::Relaxed);
                // Release: pairs with the Acquire load in `is_notified`.
                w.notified.store(true, Ordering::Release);
            }
            waiter
        };
        // Outside the lock: a task's waker runs foreign code.
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }

    /// S1–S3 for the calling thread: registers, re-checks `ready`, and parks until notified or
    /// `deadline`. True when the caller should try again (ready, or notified), false when the
    /// deadline passed without a notification (the waiter is off the list either way).
    pub(crate) fn wait(&self, ready: impl Fn() -> bool, deadline: Option<Instant>) -> bool {
        with_thread_waiter(|waiter| {
            self.register(waiter);
            if ready() {
                // Taken off by a notifier meanwhile or by us: either way, try again.
                self.unregister(waiter);
                return true;
            }
            // Deadline passed: a notifier that took us first gave us its wake-up: use it.
            waiter.park_until(deadline) || !self.unregister(waiter)
        })
    }
}

/// S0–S4 of the select protocol (module essay) for the calling thread: joins every list of
/// `lists`, re-checks `ready`, parks until a notifier of any of them takes the waiter off or
/// `deadline` passes, then leaves every list. On return `taken[i]` says whether `lists[i]`'s
/// notifier took the waiter off: that wake-up is the caller's to use or to pass on.
pub(crate) fn wait_any(
    lists: &[&Waiters],
    taken: &mut [bool],
    ready: impl FnOnce() -> bool,
    deadline: Option<Instant>,
) {
    debug_assert_eq!(lists.len(), taken.len(), "one `taken` flag per list");
    Waiter::with_select(|waiter| {
        // S0. Relaxed: every `enlist` below locks after it, and a notifier finds the waiter only
        // under one of those locks, so it sets `notified` after this store.
        waiter.notified.store(false, Ordering::Relaxed);
        for list in lists {
            list.enlist(waiter); // S1
        }
        if !ready() {
            // S3; notified or not, S4 below says which list's notifier took the waiter.
            waiter.park_until(deadline);
        }
        // S4: off every list before returning (the per-thread waiter's rule).
        for (list, taken) in lists.iter().zip(taken.iter_mut()) {
            *taken = !list.unregister(waiter);
        }
    });
}

impl fmt::Debug for Waiters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiters")
            .field("sleepers", &self.sleepers.load(Ordering::Relaxed))
            .finish()
    }
}

/// Nothing, except under loom: a SeqCst fence standing for the SeqCst load that follows (see the
/// module essay; loom models SeqCst loads as Acquire).
#[inline(always)]
fn seqcst_point() {
    #[cfg(mqsync_loom)]
    crate::primitive::sync::atomic::fence(Ordering::SeqCst);
}

/// Runs `f` with the calling thread's waiter (one per thread, reused; under loom a fresh one).
/// `f` must leave the waiter off every list when it returns.
pub(crate) fn with_thread_waiter<R>(f: impl FnOnce(&Arc<Waiter>) -> R) -> R {
    #[cfg(not(mqsync_loom))]
    {
        std::thread_local! {
            static WAITER: Arc<Waiter> = Waiter::thread();
        }
        // `try_with`: during thread-local destruction fall back to a fresh waiter.
        let mut f = Some(f);
        if let Ok(r) = WAITER.try_with(|w| (f.take().expect("called once"))(w)) {
            return r;
        }
        (f.take().expect("not called yet"))(&Waiter::thread())
    }
    #[cfg(mqsync_loom)]
    {
        f(&Waiter::thread())
    }
}
