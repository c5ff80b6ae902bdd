//! Arbitrary rule files (TOML or JSON) applied to an arbitrary JSON payload: loading and
//! compiling either succeed or fail with an error, and integration accounts for the input.
//!
//! Input layout: byte 0 picks TOML (even) or JSON (odd); the rest is the rules text, a NUL
//! byte, then the payload.
//!
//! `cargo +nightly fuzz run rules`

use mqsync::integrate::{Input, Integrator, Raw, RuleSet};

/// Checks the property on one input; panics where it does not hold.
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
    let mut inputs = vec![Input::from(Raw::Json(payload.to_vec()))];
    inputs.extend(
        sources
            .into_iter()
            .map(|source| Input::new(source, Raw::Json(payload.to_vec()))),
    );
    let count = inputs.len();
    let outcome = integrator.integrate_batch(inputs);
    assert_eq!(outcome.len(), count);
}
