//! The one place where shared-memory primitives come from.
//!
//! Everything in `src/` that touches atomics, `UnsafeCell`, threads or spin hints imports it from
//! here. Under `--cfg mqsync_loom` the facade switches to [loom]'s model-checked versions; in a
//! normal build it re-exports `std` and gives `UnsafeCell` loom's closure-based `with`/`with_mut`
//! API, so one body of code serves both.
//!
//! crossbeam-epoch is switched separately: it sees loom only with its `loom` feature and
//! `--cfg crossbeam_loom` (the `loom-tests` crate sets both).

#![allow(unused_imports, dead_code)]

#[cfg(mqsync_loom)]
pub(crate) mod sync {
    pub(crate) use loom::sync::{Arc, Condvar, Mutex};
    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
    }
}

#[cfg(not(mqsync_loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::{Arc, Condvar, Mutex};
    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
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

        #[inline(always)]
        pub(crate) fn into_inner(self) -> T {
            self.0.into_inner()
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
}

#[cfg(not(mqsync_loom))]
pub(crate) mod thread {
    pub(crate) use std::thread::{current, park, park_timeout, yield_now, Thread};
}

#[cfg(mqsync_loom)]
pub(crate) mod hint {
    pub(crate) use loom::hint::spin_loop;
}

#[cfg(not(mqsync_loom))]
pub(crate) mod hint {
    pub(crate) use std::hint::spin_loop;
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
    const SPIN_LIMIT: u32 = 6;
    const YIELD_LIMIT: u32 = 10;

    pub(crate) const fn new() -> Self {
        Backoff { step: 0 }
    }

    /// Backs off in a loop that waits for another thread (spins, then yields).
    #[inline]
    pub(crate) fn snooze(&mut self) {
        #[cfg(mqsync_loom)]
        {
            loom::thread::yield_now();
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

    /// True once the backoff has spun long enough that the caller should take its slow path.
    #[inline]
    pub(crate) fn is_completed(&self) -> bool {
        self.step > Self::YIELD_LIMIT
    }
}
