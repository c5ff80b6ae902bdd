//! `cargo +nightly fuzz run decoders`; the property it checks is in `fuzz/checks/decoders.rs`, which
//! `tests/fuzz_regressions.rs` also runs on the seeds and on every input that once failed.

#![no_main]

#[path = "../checks/decoders.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::run(data));
