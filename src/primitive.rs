//! The one place where shared-memory primitives come from.
//!
//! Everything in `src/` that touches atomics, `UnsafeCell`, threads or spin hints imports it from
//! here. Under `--cfg mqsync_loom` the facade switches to [loom]'s model-checked versions; in a
//! normal build it re-exports `std` and gives `UnsafeCell` loom's closure-based `with`/`with_mut`
//! API, so one body of code serves both.
//!
//! crossbeam-epoch is switched separately: it sees loom only with its `loom` feature and
//! `--cfg crossbeam_loom` (the `loom-tests` crate sets both).

#[cfg(mqsync_loom)]
pub(crate) mod sync {
    // Condvar: the handoff `Signal`'s loom stand-in for event-listener (std builds use
    // event-listener itself, so the std side has none).
    pub(crate) use loom::sync::{Arc, Condvar};
    // The `Signal` stand-in above, and the delivery queue's visibility-timeout records.
    pub(crate) use loom::sync::Mutex;
    // The channel `Select`'s park under loom (handoff/mpmc/waiters.rs, `Wake::Notify`).
    pub(crate) use loom::sync::Notify;
    // The delivery queue's only; loom's locks report poisoning with std's types.
    #[cfg_attr(not(feature = "delivery"), allow(unused_imports))]
    pub(crate) use {loom::sync::MutexGuard, std::sync::PoisonError};
    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{
            fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
        };
        /// An atomic in a `static` (a process-wide id counter): std's even under loom, whose
        /// atomics cannot be built in a `const` context. Fit only for values that order nothing.
        /// Used by the delivery queue's consumer ids only.
        #[cfg_attr(not(feature = "delivery"), allow(unused_imports))]
        pub(crate) use std::sync::atomic::AtomicU64 as StaticAtomicU64;
    }
}

#[cfg(not(mqsync_loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::Arc;
    // The delivery queue's visibility-timeout records: used by nothing else in a std build.
    #[cfg_attr(not(feature = "delivery"), allow(unused_imports))]
    pub(crate) use std::sync::{Mutex, MutexGuard, PoisonError};
    pub(crate) mod atomic {
        /// An atomic in a `static` (a process-wide id counter): std's even under loom, whose
        /// atomics cannot be built in a `const` context. Fit only for values that order nothing.
        /// Used by the delivery queue's consumer ids only.
        #[cfg_attr(not(feature = "delivery"), allow(unused_imports))]
        pub(crate) use std::sync::atomic::AtomicU64 as StaticAtomicU64;
        pub(crate) use std::sync::atomic::{
            fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
        };
    }
}

#[cfg(mqsync_loom)]
pub(crate) mod cell {
    pub(crate) use loom::cell::UnsafeCell;
}

#[cfg(not(mqsync_loom))]
pub(crate) mod cell {
    /// `std::cell::UnsafeCell` with loom's access API, so that loom can track every access.
    #[derive(Debug)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T: ?Sized>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        #[inline(always)]
        pub(crate) const fn new(value: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }
    }

    impl<T: ?Sized> UnsafeCell<T> {
        /// Runs `f` with a shared raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Runs `f` with a mutable raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(mqsync_loom)]
pub(crate) mod thread {
    pub(crate) use loom::thread::{current, park, yield_now, Thread};

    /// Under loom, a timed park is a yield (a spurious wake-up, which every caller allows).
    pub(crate) fn park_timeout(_: std::time::Duration) {
        yield_now();
    }
}

#[cfg(not(mqsync_loom))]
pub(crate) mod thread {
    pub(crate) use std::thread::{current, park, park_timeout, yield_now, Thread};
}

#[cfg(mqsync_loom)]
pub(crate) mod hint {
    pub(crate) use loom::hint::spin_loop;

    /// A cache hint has nothing to model: a no-op under loom.
    #[allow(dead_code, reason = "the sync layer is not built under loom")]
    pub(crate) fn prefetch(addr: *const u8) {
        let _ = addr;
    }
}

#[cfg(not(mqsync_loom))]
pub(crate) mod hint {
    pub(crate) use std::hint::spin_loop;

    /// Asks the CPU to start loading the cache line that holds `addr`, without waiting for it:
    /// a hint with no effect on what the program computes. Issued a few items ahead of a loop
    /// over scattered heap blocks, it lets their cache misses overlap instead of queueing one
    /// after another. A no-op off x86_64 and under miri. Only the sync engine uses it.
    #[cfg(feature = "sync")]
    #[inline(always)]
    pub(crate) fn prefetch(addr: *const u8) {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        // SAFETY: PREFETCHT0 reads nothing the program can observe and never faults, whatever
        // the address (Intel SDM, "PREFETCHh"); `_mm_prefetch` is `unsafe` only for its target
        // feature, SSE, which every x86_64 CPU has.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(addr.cast());
        }
        #[cfg(not(all(target_arch = "x86_64", not(miri))))]
        let _ = addr;
    }
}

/// Asymmetric fences: a cheap [`barrier::light`] on a hot path, paired with an expensive
/// [`barrier::heavy`] on a rare path, together as strong as a `SeqCst` fence on both sides.
///
/// On Linux the heavy side is `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`: the kernel makes
/// every running thread of this process execute a full memory barrier (an IPI), and a thread that
/// is not running passed one when it was switched out. So at some point during the call, each
/// other thread's memory accesses match its program order: an access it made before that point
/// is visible to the caller after the call, and one it makes after that point sees everything
/// the caller did before the call. The light side then only has to stop the *compiler* from
/// reordering (`compiler_fence`). This is the technique of Linux's `sys_membarrier` users
/// (liburcu) and folly's `asymmetricLightBarrier` / `asymmetricHeavyBarrier`.
///
/// The pair is used only when the kernel supports it (checked once per process, see
/// [`barrier::asymmetric`]); the caller stores that answer next to the data both sides share, so
/// both sides always agree. Otherwise, and always under loom and miri, both sides are
/// `fence(SeqCst)`, the symmetric protocol that the loom models check.
///
/// Both halves name the atomic they order around (`anchor`: the counter that the light side
/// loads right after the barrier and the heavy side wrote right before it). Only the
/// ThreadSanitizer build uses it, see [`barrier::light`].
pub(crate) mod barrier {
    use super::sync::atomic::{fence, AtomicUsize, Ordering};

    /// True when the asymmetric pair is available (asks the kernel once per process).
    pub(crate) fn asymmetric() -> bool {
        imp::asymmetric()
    }

    /// The hot side: a compiler fence when `asymmetric`, else `fence(SeqCst)`.
    ///
    /// Under `cfg(mqsync_sanitize_thread)` (`.ci/tsan`) both sides are instead a SeqCst
    /// read-modify-write of `anchor` that changes nothing (`fetch_add(0)`). ThreadSanitizer does
    /// not model fences (it treats `fence` as a no-op) and cannot see `membarrier` at all, so
    /// with either pair it would check a program with no barrier in it. The RMW pair is the
    /// symmetric form in terms TSan understands, and it keeps the guarantee the callers need
    /// (for `Signal`: a waiter never sleeps through a publication). All RMWs of `anchor` are
    /// in its one modification order, and each reads the value just before it there. If the
    /// light RMW L comes before the heavy RMW H, then H reads from the release sequence headed
    /// by L (an RMW continues any release sequence), so L synchronizes with H and everything
    /// before the light side happens-before everything after the heavy side. If H comes first,
    /// L (and the load after it) reads H's value or a later one, which includes the write the
    /// heavy side made to `anchor` before H. These are the two cases of the fence argument,
    /// made of happens-before edges that TSan tracks. `asymmetric()` is always false there.
    #[inline(always)]
    pub(crate) fn light(asymmetric: bool, anchor: &AtomicUsize) {
        if cfg!(mqsync_sanitize_thread) {
            // SeqCst RMW: pairs with the one in `heavy` (see above).
            anchor.fetch_add(0, Ordering::SeqCst);
        } else if asymmetric {
            imp::compiler_only();
        } else {
            symmetric_light();
        }
    }

    /// The light half where `membarrier` is not available: out of line, so that where it is
    /// available the hot path falls through its compiler fence with no taken jump (a branch over
    /// an empty block otherwise compiles to a jump around the fence). The call costs little
    /// beside the fence it makes. Not `#[cold]`: without `membarrier` (other systems, a seccomp
    /// filter, miri) every light barrier takes this path.
    #[inline(never)]
    fn symmetric_light() {
        // SeqCst fence: pairs with the one in `heavy`.
        fence(Ordering::SeqCst);
    }

    /// The rare side: `membarrier` when `asymmetric`, else `fence(SeqCst)` (a SeqCst RMW of
    /// `anchor` under ThreadSanitizer, see [`light`]).
    pub(crate) fn heavy(asymmetric: bool, anchor: &AtomicUsize) {
        if cfg!(mqsync_sanitize_thread) {
            // SeqCst RMW: pairs with the one in `light`.
            anchor.fetch_add(0, Ordering::SeqCst);
        } else if asymmetric {
            imp::membarrier();
        } else {
            // SeqCst fence: pairs with the one in `light`.
            fence(Ordering::SeqCst);
        }
    }

    // ThreadSanitizer builds never use membarrier: TSan cannot see what it orders (see `light`).
    #[cfg(all(
        target_os = "linux",
        not(mqsync_loom),
        not(miri),
        not(mqsync_sanitize_thread)
    ))]
    mod imp {
        use std::sync::atomic::{compiler_fence, AtomicU8, Ordering};

        const MEMBARRIER_CMD_QUERY: libc::c_long = 0;
        const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
        const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

        const UNKNOWN: u8 = 0;
        const READY: u8 = 1;
        const UNAVAILABLE: u8 = 2;

        /// Whether this process registered for expedited private membarriers. Written once
        /// (racing first callers all register, which is idempotent), then only read.
        static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

        pub(super) fn asymmetric() -> bool {
            // Relaxed: the value only selects a code path; the registration it stands for is a
            // kernel-side fact that holds for every thread once the syscall returned.
            match STATE.load(Ordering::Relaxed) {
                READY => true,
                UNAVAILABLE => false,
                _ => {
                    let ready = register();
                    // Relaxed: as above.
                    STATE.store(if ready { READY } else { UNAVAILABLE }, Ordering::Relaxed);
                    ready
                }
            }
        }

        fn register() -> bool {
            // SAFETY: membarrier takes two integers and reads or writes none of our memory.
            let commands = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_QUERY, 0) };
            if commands < 0 || commands & MEMBARRIER_CMD_PRIVATE_EXPEDITED == 0 {
                return false;
            }
            // SAFETY: as above.
            let registered = unsafe {
                libc::syscall(
                    libc::SYS_membarrier,
                    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                    0,
                )
            };
            registered == 0
        }

        #[inline(always)]
        pub(super) fn compiler_only() {
            compiler_fence(Ordering::SeqCst);
        }

        pub(super) fn membarrier() {
            // SAFETY: as in `register`.
            let done =
                unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0) };
            // After a successful registration the kernel documents no failure for this command;
            // going on without the barrier could lose a wake-up, so stop loudly instead.
            assert_eq!(
                done, 0,
                "membarrier(PRIVATE_EXPEDITED) failed after registration"
            );
        }
    }

    #[cfg(not(all(
        target_os = "linux",
        not(mqsync_loom),
        not(miri),
        not(mqsync_sanitize_thread)
    )))]
    mod imp {
        pub(super) fn asymmetric() -> bool {
            false
        }

        pub(super) fn compiler_only() {
            unreachable!("asymmetric barriers are not available in this build")
        }

        pub(super) fn membarrier() {
            unreachable!("asymmetric barriers are not available in this build")
        }
    }
}

/// A wait with a fixed budget, for a lock-free path that waits a little for another thread and
/// then takes its slow path: `spin_rounds` rounds of exponential spinning (1, 2, 4, ... PAUSEs),
/// then `yield_now` rounds up to `rounds` in all. Under loom every round is a yield.
#[derive(Debug)]
pub(crate) struct BoundedWait {
    round: u32,
    spin_rounds: u32,
    rounds: u32,
}

impl BoundedWait {
    pub(crate) const fn new(spin_rounds: u32, rounds: u32) -> Self {
        BoundedWait {
            round: 0,
            spin_rounds,
            rounds,
        }
    }

    /// Waits one more round; false, without waiting, once the budget is spent.
    #[inline]
    pub(crate) fn wait(&mut self) -> bool {
        if self.round == self.rounds {
            return false;
        }
        #[cfg(not(mqsync_loom))]
        if self.round < self.spin_rounds {
            for _ in 0..1u32 << self.round {
                hint::spin_loop();
            }
        } else {
            thread::yield_now();
        }
        #[cfg(mqsync_loom)]
        {
            let _ = self.spin_rounds;
            thread::yield_now();
        }
        self.round += 1;
        true
    }
}

/// Spin-then-yield backoff for the short waits inside our lock-free structures.
///
/// Under loom every wait yields to the scheduler, so the model explores the other threads instead
/// of spinning in place.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    step: u32,
}

impl Backoff {
    // Under loom every step is a yield; keep the waits short so the model stays small.
    const SPIN_LIMIT: u32 = if cfg!(mqsync_loom) { 1 } else { 6 };
    const YIELD_LIMIT: u32 = if cfg!(mqsync_loom) { 2 } else { 10 };

    pub(crate) const fn new() -> Self {
        Backoff { step: 0 }
    }

    /// Spins a little longer each call (under loom: yields, so the model can move on).
    #[inline]
    pub(crate) fn spin(&mut self) {
        #[cfg(mqsync_loom)]
        {
            thread::yield_now();
        }
        #[cfg(not(mqsync_loom))]
        {
            for _ in 0..1u32 << self.step.min(Self::SPIN_LIMIT) {
                hint::spin_loop();
            }
        }
        if self.step <= Self::SPIN_LIMIT {
            self.step += 1;
        }
    }

    /// Two steps of [`spin`](Self::spin) at once (under loom: one yield): for a claimer that
    /// lost its CAS to another claimer of the same end, where a longer pause lets the winner
    /// finish and the other side of the queue run (docs/benchmarks.md, the unbounded list).
    #[inline]
    pub(crate) fn spin_twice(&mut self) {
        self.spin();
        #[cfg(not(mqsync_loom))]
        self.spin();
    }

    /// Backs off in a loop that waits for another thread (spins, then yields).
    #[inline]
    pub(crate) fn snooze(&mut self) {
        #[cfg(mqsync_loom)]
        {
            thread::yield_now();
        }
        #[cfg(not(mqsync_loom))]
        {
            if self.step <= Self::SPIN_LIMIT {
                for _ in 0..1u32 << self.step {
                    hint::spin_loop();
                }
            } else {
                thread::yield_now();
            }
        }
        if self.step <= Self::YIELD_LIMIT {
            self.step += 1;
        }
    }

    /// True once the backoff has spun and yielded long enough that the caller should park.
    #[inline]
    pub(crate) fn is_completed(&self) -> bool {
        self.step > Self::YIELD_LIMIT
    }
}
