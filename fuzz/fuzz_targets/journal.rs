//! `cargo +nightly fuzz run journal`; the property it checks is in `fuzz/checks/journal.rs`, which
//! `tests/fuzz_regressions.rs` also runs on the seeds.

#![no_main]

#[path = "../checks/journal.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::run(data));
