//! JSON payloads into a body in one pass: the reader ([`json_parser`](super::json_parser))
//! builds the tree and enforces `max_depth` as it goes, so accepting a message needs no second
//! walk over its body.
//!
//! This is the common path only. It answers "here is the value" or "not here"; whenever it
//! would turn the input away (malformed text, nesting past the limit), or meets text it leaves
//! to serde_json (a lone surrogate escape), the decoder runs the reference path instead —
//! serde_json into a `Value`, then placement, then a depth walk — so a rejection's reason is
//! exactly the one that path gives, by construction. Inputs are rarely rejected, so the second
//! parse costs nothing on the common path. The tests below hold the reader to the reference on
//! the fuzz corpus, `tests/data`, edge cases and arbitrary text.

use serde_json::Value;

/// Parses `bytes` as one JSON value whose containers nest at most `max_depth` levels when it
/// is the body (an object is level 1; an array, placed under a field, starts at level 2).
/// `None` when the text is malformed or nests deeper, or when the reader leaves it to
/// serde_json: the caller then asks the reference path.
pub(crate) fn parse_within(bytes: &[u8], max_depth: usize) -> Option<Value> {
    super::json_parser::parse(bytes, max_depth, max_depth.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn levels_count_as_the_body_depth_walk_does() {
        // Depth 3 allows {"a":{"b":[1]}} (three levels) but not a fourth.
        assert_eq!(
            parse_within(br#"{"a":{"b":[1]}}"#, 3),
            Some(json!({"a": {"b": [1]}}))
        );
        assert_eq!(parse_within(br#"{"a":{"b":[[1]]}}"#, 3), None);
        // A top-level array is placed under a field: it starts at level 2.
        assert_eq!(parse_within(b"[[1]]", 3), Some(json!([[1]])));
        assert_eq!(parse_within(b"[[[1]]]", 3), None);
        assert_eq!(parse_within(b"[]", 1), None);
        assert_eq!(parse_within(b"{}", 1), Some(json!({})));
        assert_eq!(parse_within(b"7", 1), Some(json!(7)));
        // No levels at all: the depth walk refuses any body, so the reader does too.
        assert_eq!(parse_within(b"7", 0), None);
        assert_eq!(parse_within(b"{}", 0), None);
    }

    #[test]
    fn same_value_as_serde_json() {
        let text = br#" {"a": [1, -2, 3.5, -0, 1e300, 18446744073709551616, "x\u00e9\n"],
            "b": {"c": null, "d": true}, "a": "last wins", "e": -9223372036854775808} "#;
        let expected: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(parse_within(text, 64), Some(expected));
        for bad in [&b"{"[..], b"1e400", b"{} x", b"[1,]", b"\"\xff\"", b""] {
            assert!(serde_json::from_slice::<Value>(bad).is_err());
            assert_eq!(parse_within(bad, 64), None);
        }
    }
}

/// The common path's promise: the same answer as the reference (serde_json's own
/// `from_slice::<Value>`, then the depth limit), on every input the crate's tests and fuzz
/// corpus hold, on hand-picked edge cases and on arbitrary text.
#[cfg(test)]
mod matches_the_reference {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Number;
    use std::path::Path;

    /// Levels of containers in `value`: 0 for a scalar, 1 for `{}` or `[]`, 2 for `[[]]`.
    fn levels(value: &Value) -> usize {
        let deepest = |values: &mut dyn Iterator<Item = &Value>| values.map(levels).max();
        match value {
            Value::Object(map) => 1 + deepest(&mut map.values()).unwrap_or(0),
            Value::Array(items) => 1 + deepest(&mut items.iter()).unwrap_or(0),
            _ => 0,
        }
    }

    /// What [`parse_within`] must answer: serde_json's value of the bytes, if it nests within
    /// `max_depth` as a body (an array is placed under a field, one level down).
    fn reference(bytes: &[u8], max_depth: usize) -> Option<Value> {
        let value: Value = serde_json::from_slice(bytes).ok()?;
        let depth = match value {
            Value::Array(_) => levels(&value) + 1,
            _ => levels(&value),
        };
        (depth <= max_depth).then_some(value)
    }

    /// Every parser against the reference, at a few depth limits; panics naming the input
    /// where they differ.
    fn same(bytes: &[u8]) {
        for max_depth in [1, 2, 3, 8, 64, 100] {
            let expected = reference(bytes, max_depth);
            let input = String::from_utf8_lossy(bytes);
            let direct = parse_within(bytes, max_depth);
            assert_eq!(
                direct, expected,
                "reader, max_depth {max_depth}, input {input:?}"
            );
            // `Value`'s equality takes -0.0 for 0.0; the text tells them apart.
            assert_eq!(
                direct.map(|value| value.to_string()),
                expected.as_ref().map(Value::to_string),
                "reader, max_depth {max_depth}, input {input:?}"
            );
        }
    }

    #[test]
    fn on_the_fuzz_corpus_and_test_data() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut dirs = vec![root.join("fuzz/corpus"), root.join("tests/data")];
        let mut files = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("a readable directory") {
                let path = entry.expect("an entry").path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let data = std::fs::read(&path).expect("a readable file");
                // The whole file, and the payload after a target's selector byte.
                same(&data);
                if let Some((_, payload)) = data.split_first() {
                    same(payload);
                }
                // Rule files carry their payload after a NUL.
                if let Some(at) = data.iter().position(|&b| b == 0) {
                    same(&data[at + 1..]);
                }
                files += 1;
            }
        }
        assert!(files >= 60, "the corpus is where it was ({files} files)");
    }

    #[test]
    fn on_edge_cases() {
        let cases: &[&[u8]] = &[
            b"{}",
            b"[]",
            b"{\"a\":1}",
            b"  {\"a\" : [ 1 , 2 ] }  ",
            b"\t{}\r\n",
            b"0",
            b"-0",
            b"-0.0",
            b"0.0",
            b"1e0",
            b"1E+2",
            b"1e-2",
            b"-1e-400",
            b"1e400",
            b"-1e400",
            b"1e308",
            b"1.7976931348623157e308",
            b"1.7976931348623159e308",
            b"4.9e-324",
            b"2.4703282292062328e-324",
            b"0.1",
            b"0.30000000000000004",
            b"123456789012345678901234567890",
            b"18446744073709551615",
            b"18446744073709551616",
            b"-9223372036854775808",
            b"-9223372036854775809",
            b"9007199254740993",
            b"1.00000000000000011102230246251565404236316680908203125",
            b"01",
            b"-",
            b"1.",
            b".1",
            b"1e",
            b"+1",
            b"00",
            b"-01",
            b"1.e3",
            b"NaN",
            b"Infinity",
            b"\"\\u0000\"",
            b"\"\\ud83d\\ude00\"",
            b"\"\\ud800\"",
            b"\"\\udc00\"",
            b"\"\\ud800\\u0041\"",
            b"\"\\uD83D\\uDE00\"",
            b"\"\\x\"",
            b"\"\\/\\b\\f\\n\\r\\t\"",
            b"\"a\x01b\"",
            b"\"\x7f\"",
            b"\"\xc3\xa9\"",
            b"\"\xff\"",
            b"\"\xed\xa0\x80\"",
            b"\"\xf4\x90\x80\x80\"",
            b"\"\xc0\x80\"",
            b"{\"a\":1,}",
            b"[1,]",
            b"[,1]",
            b"{,}",
            b"{\"a\" 1}",
            b"{\"a\":}",
            b"{1:2}",
            b"{\"a\":1 \"b\":2}",
            b"[1 2]",
            b"{\"a\":1}}",
            b"{\"a\":1}x",
            b"{\"a\":1} {}",
            b"",
            b" ",
            b"nul",
            b"null",
            b"true",
            b"false",
            b"tru",
            b"[true,false,null]",
            b"{\"a\":1,\"a\":2}",
            b"{\"\":\"\"}",
            b"/*c*/{}",
            b"{}//",
            b"\xef\xbb\xbf{}",
            b"{\"a\":\x0b1}",
            b"{\"a\":\x0c1}",
            b"\x00",
            b"{\x00}",
            b"[[[[[[[[[[]]]]]]]]]]",
            b"{\"a\":{\"b\":{\"c\":{}}}}",
            b"\"\\u00e9\"",
        ];
        for case in cases {
            same(case);
        }
        let deep = |n: usize| {
            let mut text = "[".repeat(n).into_bytes();
            text.extend(std::iter::repeat_n(b']', n));
            text
        };
        for n in [63, 64, 65, 99, 100, 101, 127, 128, 129, 254, 255, 256, 300] {
            same(&deep(n));
        }
        // Long exponents against long runs of zeros: the standard library's parser stops
        // counting exponent digits past 0x10000, serde_json does not (found by review).
        let zeros = |n: usize| "0".repeat(n);
        let long: Vec<String> = vec![
            format!("0.{}1e700000", zeros(69_999)),
            format!("-0.{}1e700000", zeros(69_999)),
            format!("0.{}1e65536000000", zeros(65_860)),
            format!("0.{}1e655400", zeros(655_399)),
            format!("0.{}1e9999", zeros(10_000)),
            format!("1{}e-70000", zeros(70_000)),
            format!("0.{}1e99999", zeros(99_999)),
            "0e99999999999999999999".into(),
            "-0e99999999999999999999".into(),
            "1e-99999999999".into(),
            "1e99999999999999999999".into(),
            "1e00001".into(),
            "1e10000".into(),
            "1e-9999".into(),
        ];
        for (at, case) in long.iter().enumerate() {
            // The reader may leave these to serde_json (`None`); what it does answer must be
            // serde_json's value.
            for max_depth in [1, 64] {
                if let Some(value) = parse_within(case.as_bytes(), max_depth) {
                    let expected = reference(case.as_bytes(), max_depth);
                    assert_eq!(
                        Some(value.to_string()),
                        expected.as_ref().map(Value::to_string),
                        "long number {at}"
                    );
                }
            }
        }
    }

    #[test]
    fn on_every_special_byte_at_every_offset() {
        // The reader scans strings 16 bytes a step; a byte it must stop at (a control byte, a
        // quote, a backslash) is tried at each offset of strings around that step, in a key
        // and in a value, beside bytes it must pass over (DEL, a two-byte character).
        let controls: Vec<[u8; 1]> = (0u8..0x20).map(|b| [b]).collect();
        let mut specials: Vec<&[u8]> = controls.iter().map(|b| &b[..]).collect();
        specials.extend([
            &b"\""[..],
            b"\\",
            b"\\n",
            b"\\u00e9",
            b"\x7f",
            "é".as_bytes(),
        ]);
        for len in 0..36 {
            for at in 0..=len {
                for special in &specials {
                    let mut text = vec![b'a'; at];
                    text.extend_from_slice(special);
                    text.extend(std::iter::repeat_n(b'b', len - at));
                    let mut value = b"{\"k\":\"".to_vec();
                    value.extend_from_slice(&text);
                    value.extend_from_slice(b"\"}");
                    same(&value);
                    let mut key = b"{\"".to_vec();
                    key.extend_from_slice(&text);
                    key.extend_from_slice(b"\":1}");
                    same(&key);
                }
            }
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        #[test]
        fn on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            same(&bytes);
        }

        #[test]
        fn on_json_like_text(text in r#"[\[\]{}",:0-9eE.+\- \\ufdtrn\x00-\x1f\x7f-\u{10ffff}]{0,40}"#) {
            same(text.as_bytes());
        }

        #[test]
        fn on_numbers(text in r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,4})?") {
            same(text.as_bytes());
        }

        #[test]
        fn on_floats(f in any::<f64>()) {
            same(format!("{f}").as_bytes());
            same(format!("{f:e}").as_bytes());
            same(format!("{f:.17}").as_bytes());
        }

        #[test]
        fn on_valid_documents(value in arb_json(), pretty in any::<bool>()) {
            let text = if pretty {
                serde_json::to_vec_pretty(&value)
            } else {
                serde_json::to_vec(&value)
            }.expect("a value encodes");
            same(&text);
        }

        #[test]
        fn on_mutated_documents(value in arb_json(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut text = serde_json::to_vec(&value).expect("a value encodes");
            if !text.is_empty() {
                let at = at.index(text.len());
                text[at] = byte;
            }
            same(&text);
        }
    }
}
