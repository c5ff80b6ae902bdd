//! Arbitrary rule files (TOML or JSON) applied to an arbitrary payload (JSON or MessagePack):
//! loading and compiling either succeed or fail with an error, and integration accounts for
//! every input, on a thread with the 2 MiB stack that std and rayon give their threads, so a
//! limit the rules allow that lets input nesting overflow a worker's stack fails here.
//!
//! Input layout: byte 0 picks the rules format (bit 0: TOML or JSON) and the payload format
//! (bit 1: JSON or MessagePack); the rest is the rules text, a NUL byte, then the payload.
//!
//! `cargo +nightly fuzz run rules`

use mqsync::integrate::{Input, Integrator, Raw, RuleSet};

/// The stack of a thread spawned by std or by rayon when `RUST_MIN_STACK` is not set.
const WORKER_STACK: usize = 2 << 20;

pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (rules_bytes, payload) = match rest.iter().position(|&b| b == 0) {
        Some(nul) => (&rest[..nul], &rest[nul + 1..]),
        None => (rest, &b"{}"[..]),
    };
    let Ok(rules_text) = std::str::from_utf8(rules_bytes) else {
        return;
    };
    let rules = if selector % 2 == 0 {
        RuleSet::from_toml_str(rules_text)
    } else {
        RuleSet::from_json_str(rules_text)
    };
    let Ok(rules) = rules else {
        return;
    };
    let sources: Vec<String> = rules.sources.keys().cloned().collect();
    let Ok(integrator) = Integrator::builder().rules(rules).chunk_size(1).build() else {
        return;
    };
    let raw = |payload: &[u8]| {
        if selector & 2 == 0 {
            Raw::Json(payload.to_vec())
        } else {
            Raw::MsgPack(payload.to_vec())
        }
    };
    let mut inputs = vec![Input::from(raw(payload))];
    inputs.extend(
        sources
            .into_iter()
            .map(|source| Input::new(source, raw(payload))),
    );
    let count = inputs.len();
    let outcome = std::thread::Builder::new()
        .stack_size(WORKER_STACK)
        .spawn(move || integrator.integrate_batch(inputs))
        .expect("a thread")
        .join()
        .expect("integration does not panic");
    assert_eq!(outcome.len(), count);
}
