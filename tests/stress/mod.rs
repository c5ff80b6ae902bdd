//! Sizes of the stress tests, scaled by the `MQSYNC_STRESS_SCALE` environment variable, and
//! the deterministic generator the chaos tests draw their choices from.
//!
//! Shared by the integration tests (`mod stress;`) and the unit tests in `src/` (`#[path]`).
//! Unset, the scale is 1 and every test runs at the size it states. The sanitizer jobs
//! (`.ci/tsan`, `.ci/asan`) set it below 1, because ThreadSanitizer and AddressSanitizer slow
//! every memory access down several times over; a soak run may set it above 1. Under miri the
//! tests keep their own `cfg(miri)` sizes (miri does not forward the environment by default).

#![allow(dead_code)]

use std::sync::OnceLock;

/// The environment variable that scales every stress test's iteration count.
pub const VAR: &str = "MQSYNC_STRESS_SCALE";

/// The scale factor: `MQSYNC_STRESS_SCALE` parsed as a positive number, 1 when unset.
///
/// Panics on a value that is not a finite positive number, so that a typo cannot silently run
/// the full-size tests (or none) under a sanitizer.
pub fn scale() -> f64 {
    static SCALE: OnceLock<f64> = OnceLock::new();
    *SCALE.get_or_init(|| match std::env::var(VAR) {
        Err(std::env::VarError::NotPresent) => 1.0,
        Err(e) => panic!("{VAR}: {e}"),
        Ok(text) => match text.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 => s,
            _ => panic!("{VAR}={text:?}: expected a positive number such as 0.01"),
        },
    })
}

/// `n` iterations scaled by [`scale`], rounded, and never below `floor` (nor below 1).
pub fn scaled(n: usize, floor: usize) -> usize {
    let scaled = (n as f64 * scale()).round() as usize;
    scaled.max(floor).max(1)
}

/// A tiny xorshift generator: deterministic per seed, no dependency (seed it non-zero).
pub struct Rng(pub u64);

impl Rng {
    /// The next pseudo-random number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
