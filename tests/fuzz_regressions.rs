//! The fuzz targets' properties (`fuzz/checks/`), run on stable by `cargo test`: on every seed
//! of the checked-in corpus (`fuzz/corpus/<target>/`) and on every input that once made a
//! target fail (`tests/data/fuzz/<target>/`, named after what was wrong). A fuzzer finding is
//! fixed in `src/` and its input is added here, so it stays fixed.

use std::fs;
use std::path::Path;

#[path = "../fuzz/checks/decoders.rs"]
mod decoders;
#[path = "../fuzz/checks/envelopes.rs"]
mod envelopes;
#[cfg(feature = "journal")]
#[path = "../fuzz/checks/journal.rs"]
mod journal;
#[path = "../fuzz/checks/rules.rs"]
mod rules;

/// Runs `check` on every file in `dir`, naming the file that fails; returns how many ran.
fn replay(dir: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut paths: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    paths.sort();
    for path in &paths {
        let data = fs::read(path).expect("a readable input");
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} fails its fuzz check", path.display());
    }
    paths.len()
}

#[test]
fn decoder_seeds_hold() {
    assert!(replay("fuzz/corpus/decoders", decoders::run) >= 30);
}

#[test]
fn rule_seeds_hold() {
    assert!(replay("fuzz/corpus/rules", rules::run) >= 10);
}

#[cfg(feature = "journal")]
#[test]
fn journal_seeds_hold() {
    assert!(replay("fuzz/corpus/journal", journal::run) >= 8);
}

#[test]
fn envelope_seeds_hold() {
    assert!(replay("fuzz/corpus/envelopes", envelopes::run) >= 10);
}

/// Found by the `envelopes` target (`input_msgpack_float_nan`, after 1.5 million executions,
/// about 150 s): an input stored as MessagePack holding `Raw::Float(NaN)` wrote
/// `{"Float":null}` as JSON, which did not read back. Such a float is always rejected, so its
/// dead letter could not be stored as JSON and replayed. The infinities had the same fault
/// (`input_msgpack_float_infinity`, written by hand). Fixed in `src/integrate/raw.rs`: the
/// non-finite floats serialize as `"NaN"`, `"inf"`, `"-inf"`.
#[test]
fn envelope_findings_stay_fixed() {
    assert!(replay("tests/data/fuzz/envelopes", envelopes::run) >= 1);
}

/// Found by reading the decoder, not by the fuzzer: a rule set could set `max_depth` as high as
/// it liked, and with `max_depth = 100000` a 3 KB MessagePack payload nested 3,000 levels deep
/// overflowed the 2 MiB stack of the thread decoding it (an abort, not a panic). The `rules`
/// target now feeds MessagePack payloads on a 2 MiB thread, and this input (written by hand)
/// aborts it on the old code; 18 minutes of fuzzing the old code did not reach it (it needs a
/// high `max_depth` and a long run of nesting bytes at once). Fixed in `src/integrate/pipeline.rs`: rules with a `max_depth` above
/// `MAX_DEPTH_CEILING` (100) do not build.
#[test]
fn rule_findings_stay_fixed() {
    assert!(replay("tests/data/fuzz/rules", rules::run) >= 1);
}

/// The ceiling itself is safe on the smallest stack a worker gets: at `max_depth =
/// MAX_DEPTH_CEILING`, MessagePack nested exactly that deep integrates, and the message and a
/// `Change` holding its body read back from JSON (a ceiling of 128 failed here: serde_json
/// stops at 128 levels, and the envelopes add one or two); nested far deeper is rejected.
#[test]
fn max_depth_ceiling_fits_a_worker_stack() {
    use mqsync::integrate::{Integrator, Raw, Reason, SourceRules, MAX_DEPTH_CEILING};
    let integrator = Integrator::builder()
        .default_rules(
            SourceRules::new()
                .max_depth(MAX_DEPTH_CEILING)
                .place(mqsync::integrate::Placement::default().array(Some("items"))),
        )
        .build()
        .expect("the ceiling is allowed");
    let nested = |levels: usize| {
        // `levels` one-element arrays around 1; placed under "items", the body adds one level.
        let mut bytes = vec![0x91; levels];
        bytes.push(1);
        Raw::MsgPack(bytes)
    };
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let message = integrator
                .integrate(nested(MAX_DEPTH_CEILING - 1))
                .expect("nesting at the ceiling integrates");
            let json = message.to_json().expect("encodes");
            assert_eq!(
                mqsync::integrate::Message::from_json(&json).expect("decodes"),
                message
            );
            let change =
                mqsync::sync::Change::upsert("k", 1, serde_json::Value::Object(message.body));
            let stored = serde_json::to_vec(&change).expect("a change encodes");
            let back: mqsync::sync::Change = serde_json::from_slice(&stored).expect("and decodes");
            assert_eq!(back, change);
            let rejection = integrator
                .integrate(nested(50 * MAX_DEPTH_CEILING))
                .expect_err("deeper nesting is rejected");
            assert_eq!(
                rejection.reason,
                Reason::TooDeep {
                    limit: MAX_DEPTH_CEILING
                }
            );
        })
        .expect("a thread")
        .join()
        .expect("no panic");
}
