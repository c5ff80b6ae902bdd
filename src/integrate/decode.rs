//! Decoding each [`Raw`] format into an object body, with the size, depth and placement
//! limits of one source.
//!
//! Parsing is left to the well-kept crates: serde_json (JSON, and `Bytes` that hold JSON),
//! rmp-serde (MessagePack), csv (CSV rows); only logfmt has a reader of its own ([`logfmt`]).
//!
//! [`logfmt`]: super::logfmt

use super::json;
use super::logfmt;
use super::rejection::Reason;
use super::rules::Placement;
use super::Raw;
use serde::Deserialize;
use serde_json::{Map, Number, Value};

/// The limits and placement that decoding needs from a source's rules.
#[derive(Debug, Clone)]
pub(crate) struct Decoder {
    pub(crate) place: Placement,
    pub(crate) max_depth: usize,
    pub(crate) max_size: usize,
}

impl Decoder {
    /// Decodes `raw` into an object body, or says why it cannot.
    pub(crate) fn decode(&self, raw: &Raw) -> Result<Map<String, Value>, Reason> {
        if let Some(size) = raw.byte_len() {
            if size > self.max_size {
                return Err(Reason::TooLarge {
                    size,
                    limit: self.max_size,
                });
            }
        }
        let body = match raw {
            Raw::Json(bytes) => return self.decode_json(bytes),
            Raw::Text(text) => self.put(&self.place.text, "text", Value::String(text.clone()))?,
            Raw::Int(i) => self.put(&self.place.number, "number", Value::from(*i))?,
            Raw::Float(f) => {
                let number = Number::from_f64(*f).ok_or_else(|| Reason::Malformed {
                    format: "float",
                    detail: format!("{f} is not representable in JSON"),
                })?;
                self.put(&self.place.number, "number", Value::Number(number))?
            }
            Raw::Bool(b) => self.put(&self.place.bool, "bool", Value::Bool(*b))?,
            Raw::Bytes(bytes) if bytes.trim_ascii_start().first() == Some(&b'{') => {
                return self.decode_json(bytes)
            }
            Raw::Bytes(bytes) => self.hex_bytes(bytes)?,
            Raw::Csv { header, row } => csv_row(header.columns(), row)?,
            Raw::Logfmt(line) => logfmt::parse(line).map_err(|detail| Reason::Malformed {
                format: "logfmt",
                detail,
            })?,
            Raw::MsgPack(bytes) => self.place(self.parse_msgpack(bytes)?)?,
            Raw::Value(value) => {
                // Check before cloning: the clone recurses as deep as the value goes.
                if too_deep(value, self.max_depth) {
                    return Err(Reason::TooDeep {
                        limit: self.max_depth,
                    });
                }
                self.place(value.clone())?
            }
        };
        self.within_depth(body)
    }

    /// `body`, unless it nests deeper than `max_depth`.
    fn within_depth(&self, body: Map<String, Value>) -> Result<Map<String, Value>, Reason> {
        if exceeds_depth(&body, self.max_depth) {
            return Err(Reason::TooDeep {
                limit: self.max_depth,
            });
        }
        Ok(body)
    }

    /// JSON text (a `Raw::Json`, or `Raw::Bytes` holding an object) into a body.
    ///
    /// The common path is one parse that checks the depth as it builds the tree, then
    /// placement ([`json`]). Where that would reject the input, the reference path (parse,
    /// place, depth walk) runs instead, so the reason is the one it always gave.
    ///
    /// [`json`]: super::json
    fn decode_json(&self, bytes: &[u8]) -> Result<Map<String, Value>, Reason> {
        if let Some(body) =
            json::parse_within(bytes, self.max_depth).and_then(|value| self.place(value).ok())
        {
            return Ok(body);
        }
        self.within_depth(self.place(parse_json(bytes)?)?)
    }

    /// Puts a decoded value into a body by the placement rules.
    fn place(&self, value: Value) -> Result<Map<String, Value>, Reason> {
        match value {
            Value::Object(map) => Ok(map),
            Value::String(_) => self.put(&self.place.text, "json string", value),
            Value::Number(_) => self.put(&self.place.number, "json number", value),
            Value::Bool(_) => self.put(&self.place.bool, "json bool", value),
            Value::Array(_) => self.put(&self.place.array, "json array", value),
            Value::Null => Err(Reason::UnsupportedType { kind: "json null" }),
        }
    }

    fn put(
        &self,
        field: &Option<String>,
        kind: &'static str,
        value: Value,
    ) -> Result<Map<String, Value>, Reason> {
        let field = field.as_ref().ok_or(Reason::UnsupportedType { kind })?;
        let mut map = Map::new();
        map.insert(field.clone(), value);
        Ok(map)
    }

    /// Bytes that do not hold a JSON object go to `place.bytes` as hex, if set.
    fn hex_bytes(&self, bytes: &[u8]) -> Result<Map<String, Value>, Reason> {
        let field = self
            .place
            .bytes
            .as_ref()
            .ok_or(Reason::UnsupportedType { kind: "binary" })?;
        let mut map = Map::new();
        map.insert(field.clone(), Value::String(hex::encode(bytes)));
        Ok(map)
    }

    fn parse_msgpack(&self, bytes: &[u8]) -> Result<Value, Reason> {
        let malformed = |detail: String| Reason::Malformed {
            format: "msgpack",
            detail,
        };
        let mut rest = bytes;
        let mut deserializer = rmp_serde::Deserializer::new(&mut rest);
        // The limit keeps Value's recursive visitor off the end of a worker thread's stack.
        deserializer.set_max_depth(self.max_depth.saturating_add(1));
        let value = Value::deserialize(&mut deserializer).map_err(|e| match e {
            rmp_serde::decode::Error::DepthLimitExceeded => Reason::TooDeep {
                limit: self.max_depth,
            },
            e => malformed(e.to_string()),
        })?;
        if !rest.is_empty() {
            return Err(malformed(format!("{} trailing bytes", rest.len())));
        }
        Ok(value)
    }
}

fn parse_json(bytes: &[u8]) -> Result<Value, Reason> {
    serde_json::from_slice(bytes).map_err(|e| {
        let detail = e.to_string();
        if detail.starts_with("recursion limit exceeded") {
            // serde_json's own guard (128 levels) tripped before ours could.
            Reason::TooDeep { limit: 128 }
        } else {
            Reason::Malformed {
                format: "json",
                detail,
            }
        }
    })
}

/// Reads one CSV record against `columns`; every field becomes a string.
fn csv_row(columns: &[String], row: &str) -> Result<Map<String, Value>, Reason> {
    let malformed = |detail: String| Reason::Malformed {
        format: "csv",
        detail,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(row.len().clamp(64, 8 * 1024))
        .from_reader(row.as_bytes());
    let mut record = csv::StringRecord::new();
    let found = reader
        .read_record(&mut record)
        .map_err(|e| malformed(e.to_string()))?;
    if !found {
        return Err(malformed("the row is empty".to_owned()));
    }
    if record.len() != columns.len() {
        return Err(malformed(format!(
            "the row has {} fields, the header {}",
            record.len(),
            columns.len()
        )));
    }
    let mut extra = csv::StringRecord::new();
    if reader
        .read_record(&mut extra)
        .map_err(|e| malformed(e.to_string()))?
    {
        return Err(malformed("the row holds more than one record".to_owned()));
    }
    Ok(columns
        .iter()
        .zip(record.iter())
        .map(|(column, field)| (column.clone(), Value::String(field.to_owned())))
        .collect())
}

/// Whether any value in `body` nests deeper than `limit` (the body itself is depth 1).
fn exceeds_depth(body: &Map<String, Value>, limit: usize) -> bool {
    limit == 0 || body.values().any(|v| too_deep(v, limit - 1))
}

/// Whether `value` nests deeper than `limit`, each object or array counting one level. The
/// recursion stops at `limit`, so it is safe on values of any depth.
fn too_deep(value: &Value, limit: usize) -> bool {
    match value {
        Value::Object(map) => limit == 0 || map.values().any(|v| too_deep(v, limit - 1)),
        Value::Array(items) => limit == 0 || items.iter().any(|v| too_deep(v, limit - 1)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrate::CsvHeader;
    use serde_json::json;

    fn decoder() -> Decoder {
        Decoder {
            place: Placement::default(),
            max_depth: 3,
            max_size: 64,
        }
    }

    #[test]
    fn depth_counts_the_body_as_one() {
        let d = decoder();
        assert!(d.decode(&Raw::Json(br#"{"a":{"b":1}}"#.to_vec())).is_ok());
        assert!(d.decode(&Raw::Json(br#"{"a":{"b":[1]}}"#.to_vec())).is_ok());
        assert_eq!(
            d.decode(&Raw::Json(br#"{"a":{"b":[[1]]}}"#.to_vec())),
            Err(Reason::TooDeep { limit: 3 })
        );
    }

    #[test]
    fn size_limit_comes_first() {
        let err = decoder().decode(&Raw::Text("x".repeat(65))).unwrap_err();
        assert_eq!(
            err,
            Reason::TooLarge {
                size: 65,
                limit: 64
            }
        );
    }

    #[test]
    fn bytes_json_or_hex_or_rejected() {
        let mut d = decoder();
        assert_eq!(
            d.decode(&Raw::Bytes(b" {\"a\":1}".to_vec())).unwrap()["a"],
            json!(1)
        );
        assert_eq!(
            d.decode(&Raw::Bytes(vec![0xff, 0])),
            Err(Reason::UnsupportedType { kind: "binary" })
        );
        d.place.bytes = Some("hex".into());
        assert_eq!(
            d.decode(&Raw::Bytes(vec![0xff, 0x0a])).unwrap()["hex"],
            json!("ff0a")
        );
    }

    #[test]
    fn csv_counts_fields() {
        let h = CsvHeader::new(["a", "b"]);
        let d = decoder();
        let ok = d
            .decode(&Raw::Csv {
                header: h.clone(),
                row: "1,\"x,y\"\n".into(),
            })
            .unwrap();
        assert_eq!(Value::Object(ok), json!({"a": "1", "b": "x,y"}));
        assert!(d
            .decode(&Raw::Csv {
                header: h.clone(),
                row: "1".into()
            })
            .is_err());
        assert!(d
            .decode(&Raw::Csv {
                header: h.clone(),
                row: "1,2\n3,4".into()
            })
            .is_err());
        assert!(d
            .decode(&Raw::Csv {
                header: h,
                row: "".into()
            })
            .is_err());
    }

    #[test]
    fn msgpack_trailing_and_depth() {
        let d = decoder();
        let mut bytes = rmp_serde::to_vec_named(&json!({"a": 1})).unwrap();
        assert_eq!(
            d.decode(&Raw::MsgPack(bytes.clone())).unwrap()["a"],
            json!(1)
        );
        bytes.push(0);
        assert!(matches!(
            d.decode(&Raw::MsgPack(bytes)),
            Err(Reason::Malformed { .. })
        ));
        let deep = rmp_serde::to_vec(&json!({"a": [[[[[1]]]]]})).unwrap();
        assert_eq!(
            d.decode(&Raw::MsgPack(deep)),
            Err(Reason::TooDeep { limit: 3 })
        );
    }
}
