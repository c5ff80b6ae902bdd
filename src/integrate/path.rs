//! Dotted field paths (`customer.address.city`) into a message body.
//!
//! A path names nested object members only; arrays are values, not containers a path walks into.
//! Rules are compiled once, so every path is split once, at [`Integrator`] build time.
//!
//! [`Integrator`]: super::Integrator

use serde_json::{Map, Value};

/// A parsed, non-empty dotted path into a JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldPath {
    /// The path as written in the rule, kept for rejection reasons.
    text: String,
    /// `text` split at `.`; never empty, no segment is empty.
    segments: Vec<String>,
}

impl FieldPath {
    /// Parses `a.b.c`; rejects an empty path or an empty segment (`a..b`, `.a`).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("the field path is empty".to_owned());
        }
        let segments: Vec<String> = text.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(format!("the field path `{text}` has an empty segment"));
        }
        Ok(FieldPath {
            text: text.to_owned(),
            segments,
        })
    }

    /// The path as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at this path, if every parent is an object and the member exists.
    pub(crate) fn get<'a>(&self, body: &'a Map<String, Value>) -> Option<&'a Value> {
        let (last, parents) = self.segments.split_last()?;
        let mut map = body;
        for segment in parents {
            map = map.get(segment)?.as_object()?;
        }
        map.get(last)
    }

    /// Mutable access to the value at this path.
    pub(crate) fn get_mut<'a>(&self, body: &'a mut Map<String, Value>) -> Option<&'a mut Value> {
        let (last, parents) = self.segments.split_last()?;
        let mut map = body;
        for segment in parents {
            map = map.get_mut(segment)?.as_object_mut()?;
        }
        map.get_mut(last)
    }

    /// Removes and returns the value at this path; parents stay, even when left empty.
    pub(crate) fn remove(&self, body: &mut Map<String, Value>) -> Option<Value> {
        let (last, parents) = self.segments.split_last()?;
        let mut map = body;
        for segment in parents {
            map = map.get_mut(segment)?.as_object_mut()?;
        }
        map.remove(last)
    }

    /// Sets the value at this path, creating missing parent objects.
    ///
    /// Fails, changing nothing, when a parent exists and is not an object.
    pub(crate) fn insert(&self, body: &mut Map<String, Value>, value: Value) -> Result<(), String> {
        let Some((last, parents)) = self.segments.split_last() else {
            return Err("the field path is empty".to_owned());
        };
        let mut map = body;
        for (depth, segment) in parents.iter().enumerate() {
            let slot = map
                .entry(segment.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            map = match slot {
                Value::Object(inner) => inner,
                other => {
                    return Err(format!(
                        "`{}` is not an object (it is {})",
                        self.segments[..=depth].join("."),
                        kind_of(other)
                    ))
                }
            };
        }
        map.insert(last.clone(), value);
        Ok(())
    }
}

/// The JSON type of a value, in words, for rejection reasons.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn parse_rejects_empty_segments() {
        assert!(FieldPath::parse("").is_err());
        assert!(FieldPath::parse("a..b").is_err());
        assert!(FieldPath::parse(".a").is_err());
        assert_eq!(FieldPath::parse("a.b").unwrap().as_str(), "a.b");
    }

    #[test]
    fn get_insert_remove_nested() {
        let mut b = body(json!({"a": {"b": 1}, "x": 2}));
        let ab = FieldPath::parse("a.b").unwrap();
        assert_eq!(ab.get(&b), Some(&json!(1)));
        let cd = FieldPath::parse("c.d").unwrap();
        cd.insert(&mut b, json!("new")).unwrap();
        assert_eq!(b["c"], json!({"d": "new"}));
        assert_eq!(ab.remove(&mut b), Some(json!(1)));
        assert_eq!(ab.get(&b), None);
        let xy = FieldPath::parse("x.y").unwrap();
        assert_eq!(
            xy.insert(&mut b, json!(0)).unwrap_err(),
            "`x` is not an object (it is integer)"
        );
        *cd.get_mut(&mut b).unwrap() = json!(5);
        assert_eq!(b["c"]["d"], json!(5));
    }
}
