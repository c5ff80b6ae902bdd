//! JSON payloads into a body in one pass: the parser builds the tree and enforces `max_depth`
//! as it goes, so accepting a message needs no second walk over its body.
//!
//! This is the common path only. It answers "here is the value" or "not here"; whenever it
//! would turn the input away (malformed text, nesting past the limit), the decoder runs the
//! reference path instead — serde_json into a `Value`, then placement, then a depth walk — so a
//! rejection's reason is exactly the one that path gives, by construction. Inputs are rarely
//! rejected, so the second parse costs nothing on the common path.
//!
//! The tree is built by [`Within`], a `DeserializeSeed` that makes the same `Value` as
//! serde_json's own `Value` visitor (same number kinds, last duplicate key wins) and counts
//! container levels on the way down. It runs on serde_json's deserializer, or on sonic-rs's
//! with the `simd` feature. sonic-rs calls the visitor the same way for the text serde_json
//! accepts; where it is more lenient, [`parse_with_sonic`] refuses the text itself, and the
//! `simd` feature's tests compare the two parsers on the fuzz corpus, the JSON test inputs and
//! arbitrary text.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Parses `bytes` as one JSON value whose containers nest at most `max_depth` levels when it
/// is the body (an object is level 1; an array, placed under a field, starts at level 2).
/// `None` when the text is malformed or nests deeper: the caller then asks the reference path
/// why.
pub(crate) fn parse_within(bytes: &[u8], max_depth: usize) -> Option<Value> {
    #[cfg(feature = "simd")]
    {
        parse_with_sonic(bytes, max_depth)
    }
    #[cfg(not(feature = "simd"))]
    {
        parse_with_serde_json(bytes, max_depth)
    }
}

/// [`parse_within`] on serde_json's parser.
#[cfg_attr(feature = "simd", allow(dead_code))] // the feature's tests compare both parsers
pub(crate) fn parse_with_serde_json(bytes: &[u8], max_depth: usize) -> Option<Value> {
    // One UTF-8 check of the whole text, then serde_json's `&str` reader, which checks no
    // string again: from a byte slice it would check each string on its own, a call per key
    // and per value (a tenth of the parse, for short strings). Same answers: serde_json accepts
    // bytes only if they are UTF-8 as a whole (outside strings a non-ASCII byte is a syntax
    // error; inside, it checks them), and text that is not is refused here.
    let text = std::str::from_utf8(bytes).ok()?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = Top { max_depth }.deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    Some(value)
}

/// [`parse_within`] on sonic-rs's SIMD parser.
///
/// Where sonic-rs is more lenient than serde_json, this is stricter than sonic-rs:
/// - the text must be UTF-8 as a whole: serde_json accepts only that (every byte it accepts is
///   syntax or inside a string), while sonic-rs checks it in a last step that its
///   `Deserializer` does not expose;
/// - a float that overflows to infinity is refused by the visitor (serde_json says "number out
///   of range").
///
/// Text over 4 GiB, which sonic-rs does not take, goes to serde_json.
#[cfg(feature = "simd")]
pub(crate) fn parse_with_sonic(bytes: &[u8], max_depth: usize) -> Option<Value> {
    if u32::try_from(bytes.len()).is_err() {
        return parse_with_serde_json(bytes, max_depth);
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let mut deserializer = sonic_rs::Deserializer::from_str(text);
    let value = Top { max_depth }.deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    Some(value)
}

/// The top-level value: an object is the body (level 1); an array would be placed under a
/// field of the body (level 2); scalars have no levels.
struct Top {
    /// The source's `max_depth`; at least 1.
    max_depth: usize,
}

impl<'de> DeserializeSeed<'de> for Top {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor {
            object_levels: self.max_depth,
            array_levels: self.max_depth.saturating_sub(1),
        })
    }
}

/// Builds one value below the top; `levels` is how many levels of containers it may still
/// open, itself included (0: it must be a scalar).
#[derive(Clone, Copy)]
struct Within {
    levels: usize,
}

impl<'de> DeserializeSeed<'de> for Within {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor {
            object_levels: self.levels,
            array_levels: self.levels,
        })
    }
}

/// serde_json's `Value` visitor for JSON text (no `arbitrary_precision`, no `raw_value`, which
/// this crate does not enable), plus the level count: how many levels of containers the value
/// may still open, itself included, if it is an object or an array (they differ only at the
/// top).
struct ValueVisitor {
    object_levels: usize,
    array_levels: usize,
}

/// The seed for the members of a container allowed `levels` levels, or an error if it may not
/// open one.
fn inner<E: de::Error>(levels: usize) -> Result<Within, E> {
    match levels {
        0 => Err(E::custom("nesting exceeds max_depth")),
        levels => Ok(Within { levels: levels - 1 }),
    }
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        // serde_json never passes a non-finite float (it rejects the number as out of range);
        // serde_json's own visitor would make it `null`, which is not what the text says.
        Number::from_f64(value)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = inner(self.array_levels)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = inner(self.object_levels)?;
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(inner)?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn levels_count_as_the_body_depth_walk_does() {
        // Depth 3 allows {"a":{"b":[1]}} (three levels) but not a fourth.
        assert_eq!(
            parse_with_serde_json(br#"{"a":{"b":[1]}}"#, 3),
            Some(json!({"a": {"b": [1]}}))
        );
        assert_eq!(parse_with_serde_json(br#"{"a":{"b":[[1]]}}"#, 3), None);
        // A top-level array is placed under a field: it starts at level 2.
        assert_eq!(parse_with_serde_json(b"[[1]]", 3), Some(json!([[1]])));
        assert_eq!(parse_with_serde_json(b"[[[1]]]", 3), None);
        assert_eq!(parse_with_serde_json(b"[]", 1), None);
        assert_eq!(parse_with_serde_json(b"{}", 1), Some(json!({})));
        assert_eq!(parse_with_serde_json(b"7", 1), Some(json!(7)));
    }

    #[test]
    fn same_value_as_serde_json() {
        let text = br#" {"a": [1, -2, 3.5, -0, 1e300, 18446744073709551616, "x\u00e9\n"],
            "b": {"c": null, "d": true}, "a": "last wins", "e": -9223372036854775808} "#;
        let expected: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(parse_with_serde_json(text, 64), Some(expected));
        for bad in [&b"{"[..], b"1e400", b"{} x", b"[1,]", b"\"\xff\"", b""] {
            assert!(serde_json::from_slice::<Value>(bad).is_err());
            assert_eq!(parse_with_serde_json(bad, 64), None);
        }
    }
}

/// The common path's promise: the same answer as the reference (serde_json's own
/// `from_slice::<Value>`, then the depth limit), on every input the crate's tests and fuzz
/// corpus hold, on hand-picked edge cases and on arbitrary text: for the default parser (one
/// UTF-8 check, then serde_json's `&str` reader) and, with the `simd` feature, for sonic-rs.
#[cfg(test)]
mod matches_the_reference {
    use super::*;
    use proptest::prelude::*;
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
            assert_eq!(
                parse_with_serde_json(bytes, max_depth),
                expected,
                "serde_json, max_depth {max_depth}, input {input:?}"
            );
            #[cfg(feature = "simd")]
            assert_eq!(
                parse_with_sonic(bytes, max_depth),
                expected,
                "sonic-rs, max_depth {max_depth}, input {input:?}"
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
        fn on_numbers(text in r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?") {
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
