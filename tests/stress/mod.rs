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

/// The tests' seeded generator: `fastrand::Rng::with_seed(n)` is deterministic per seed.
#[allow(unused_imports)] // each test binary includes this module; not all of them draw numbers
pub use fastrand::Rng;

/// The tests' one drop-counting type: values made by a `DropCounter` ([`DropCounter::make`])
/// count themselves made, and count their drop when dropped, so a test can check that every
/// value was dropped exactly once (`made() == dropped()`) or how many are still alive.
///
/// The counts are `Relaxed`: tests read them after joining the threads that dropped values,
/// and the join orders those drops before the read.
#[derive(Clone, Debug, Default)]
pub struct DropCounter(std::sync::Arc<Counts>);

#[derive(Debug, Default)]
pub struct Counts {
    made: std::sync::atomic::AtomicUsize,
    dropped: std::sync::atomic::AtomicUsize,
}

impl DropCounter {
    /// A counter with nothing made yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A value that carries `payload` and counts its drop here.
    pub fn make<T>(&self, payload: T) -> Counted<T> {
        self.0
            .made
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Counted {
            payload,
            counts: std::sync::Arc::clone(&self.0),
        }
    }

    /// Values made so far.
    pub fn made(&self) -> usize {
        self.0.made.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Values dropped so far.
    pub fn dropped(&self) -> usize {
        self.0.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Values made and not yet dropped.
    pub fn live(&self) -> usize {
        self.made() - self.dropped()
    }
}

/// A value made by a [`DropCounter`]; its drop is counted there.
#[derive(Debug)]
pub struct Counted<T = ()> {
    /// What the test carries in it (a producer and sequence number, say).
    pub payload: T,
    counts: std::sync::Arc<Counts>,
}

impl<T> Drop for Counted<T> {
    fn drop(&mut self) {
        self.counts
            .dropped
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Runs this test binary's test `name` alone in a child process with the environment variable
/// `role` set (the test then plays the child's part), reads the child's standard output until a
/// line starting with `prefix`, and returns the child and the rest of that line. For tests that
/// kill a process holding a resource and check what becomes of it.
pub fn spawn_self(name: &str, role: &str, prefix: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture"])
        .env(role, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let rest = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the child said nothing starting with {prefix:?}"))
            .unwrap();
        if let Some(rest) = line.strip_prefix(prefix) {
            break rest.to_owned();
        }
    };
    (child, rest)
}

/// Whether process `pid` runs: its `/proc` entry exists and it is not a zombie (a zombie is
/// dead; its new parent reaps it later). Linux only.
pub fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).is_ok_and(|stat| {
        // The state is the first field after the command name, which is in parentheses.
        stat.rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            != Some("Z")
    })
}

/// SIGKILLs `owner` (no destructor runs) and waits up to `within` for the server process
/// `pid` it held to stop and its directory `dir` to go: the fixtures' guard processes must
/// clean up after an owner that died. Panics naming what was left.
pub fn kill_owner_and_expect_cleanup(
    mut owner: std::process::Child,
    pid: &str,
    dir: &std::path::Path,
    within: std::time::Duration,
) {
    owner.kill().unwrap();
    owner.wait().unwrap();
    let deadline = std::time::Instant::now() + within;
    while (running(pid) || dir.exists()) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!running(pid), "the server {pid} outlived its killed owner");
    assert!(!dir.exists(), "{} outlived its killed owner", dir.display());
}
