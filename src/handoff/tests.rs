//! Unit tests of what the whole handoff layer shares: the asymmetric barrier pair of the wake
//! protocol (`signal.rs`) and the SPSC close handshake. The SPSC ring's tests are in
//! `spsc/tests.rs`, the generic channel's in `generic/tests.rs`, the MPMC channel's beside each
//! of its flavors.

use crate::primitive::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn asymmetric_barrier_is_stable_and_callable() {
    use crate::primitive::barrier;
    let available = barrier::asymmetric();
    assert_eq!(
        barrier::asymmetric(),
        available,
        "asked once, answered the same forever"
    );
    if cfg!(mqsync_sanitize_thread) {
        assert!(
            !available,
            "no membarrier under ThreadSanitizer: TSan cannot see it"
        );
    }
    let anchor = AtomicUsize::new(3);
    barrier::heavy(available, &anchor);
    barrier::light(available, &anchor);
    assert_eq!(
        anchor.load(Ordering::Relaxed),
        3,
        "the barriers change nothing"
    );
    if cfg!(all(target_os = "linux", not(miri))) {
        eprintln!("asymmetric barrier available: {available}");
    }
}
