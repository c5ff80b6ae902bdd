//! `cargo +nightly fuzz run envelopes`; the property it checks is in `fuzz/checks/envelopes.rs`, which
//! `tests/fuzz_regressions.rs` also runs on the seeds and on every input that once failed.

#![no_main]

#[path = "../checks/envelopes.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::run(data));
