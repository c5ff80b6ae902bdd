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
//! container levels on the way down.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Parses `bytes` as one JSON value whose containers nest at most `max_depth` levels when it
/// is the body (an object is level 1; an array, placed under a field, starts at level 2).
/// `None` when the text is malformed or nests deeper: the caller then asks the reference path
/// why.
pub(crate) fn parse_within(bytes: &[u8], max_depth: usize) -> Option<Value> {
    parse_with_serde_json(bytes, max_depth)
}

/// [`parse_within`] on serde_json's parser.
pub(crate) fn parse_with_serde_json(bytes: &[u8], max_depth: usize) -> Option<Value> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
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
