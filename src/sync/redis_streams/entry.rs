//! How a [`Change`] is stored in a stream entry, and how Redis's stream replies are read.
//!
//! An entry holds one field, `change`, whose value is the change as JSON (the same serde form
//! as `serde_json::to_string(&change)`: `key`, `version`, `id`, `op`, `value`, and `position`
//! when set). Anything else in the stream — another field name, bytes that are not that JSON —
//! is malformed and goes to the dead-letter stream with the reason.

use crate::sync::change::Change;
use redis::Value;

/// A stream entry or a Redis reply that the [`RedisSource`](super::RedisSource) or
/// [`RedisSink`](super::RedisSink) cannot read or write (feature `redis`). Malformed entries go
/// to the dead-letter stream with this error's text as the reason; an unreadable reply fails
/// the pull as [`SourceError::Reply`](crate::sync::SourceError::Reply).
///
/// ```
/// use mqsync::sync::RedisCodecError;
///
/// let err = RedisCodecError::Unexpected { expected: "a list of entries", got: "Int(3)".into() };
/// assert_eq!(err.to_string(), "expected a list of entries, got Int(3)");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisCodecError {
    /// A change could not be written as JSON.
    #[error("cannot encode change {id:?}")]
    Encode {
        /// The change's id.
        id: String,
        /// What serde_json said.
        #[source]
        source: serde_json::Error,
    },
    /// An entry without the `change` field.
    #[error("malformed entry: no {CHANGE_FIELD:?} field (fields: {fields:?})")]
    NoChangeField {
        /// The fields the entry has.
        fields: Vec<String>,
    },
    /// An entry whose `change` field is not a change in JSON.
    #[error("malformed entry: {CHANGE_FIELD:?} is not a change")]
    NotAChange(#[source] serde_json::Error),
    /// A reply of another shape than the command's.
    #[error("expected {expected}, got {got}")]
    Unexpected {
        /// What the command replies.
        expected: &'static str,
        /// What came, as the client shows it.
        got: String,
    },
    /// A reply string that should be text is not UTF-8.
    #[error("a reply string is not UTF-8")]
    NotUtf8(#[source] std::string::FromUtf8Error),
}

type CodecResult<T> = Result<T, RedisCodecError>;

fn unexpected(expected: &'static str, got: impl std::fmt::Debug) -> RedisCodecError {
    RedisCodecError::Unexpected {
        expected,
        got: format!("{got:?}"),
    }
}

/// The one field of an entry written by the sink.
pub(super) const CHANGE_FIELD: &str = "change";

/// One stream entry as Redis returned it: its ID and its field/value pairs, bytes as they are.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    pub(super) id: String,
    pub(super) fields: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The change as the value of [`CHANGE_FIELD`].
pub(super) fn encode(change: &Change) -> CodecResult<Vec<u8>> {
    serde_json::to_vec(change).map_err(|source| RedisCodecError::Encode {
        id: change.id.clone(),
        source,
    })
}

/// The change an entry holds, or why it holds none.
pub(super) fn decode(entry: &Entry) -> CodecResult<Change> {
    let value = entry
        .fields
        .iter()
        .find(|(name, _)| name == CHANGE_FIELD.as_bytes())
        .map(|(_, value)| value)
        .ok_or_else(|| RedisCodecError::NoChangeField {
            fields: entry
                .fields
                .iter()
                .map(|(name, _)| String::from_utf8_lossy(name).into_owned())
                .collect(),
        })?;
    serde_json::from_slice(value).map_err(RedisCodecError::NotAChange)
}

/// The reply of `XREADGROUP ... STREAMS key id` for one stream (nil: nothing new).
pub(super) fn parse_read(reply: Value) -> CodecResult<Vec<Entry>> {
    match reply {
        Value::Nil => Ok(Vec::new()),
        // RESP2: [[key, entries]]; RESP3: {key: entries}.
        Value::Array(streams) => match streams.into_iter().next() {
            Some(Value::Array(pair)) => match pair.into_iter().nth(1) {
                Some(entries) => parse_entries(entries),
                None => Err(unexpected("a stream and its entries", "a stream alone")),
            },
            Some(other) => Err(unexpected("a stream and its entries", other)),
            None => Ok(Vec::new()),
        },
        Value::Map(streams) => match streams.into_iter().next() {
            Some((_, entries)) => parse_entries(entries),
            None => Ok(Vec::new()),
        },
        other => Err(unexpected("streams or nil", other)),
    }
}

/// A list of `[id, [field, value, ...]]` (a nil field list — an entry deleted by trimming —
/// reads as no fields).
pub(super) fn parse_entries(reply: Value) -> CodecResult<Vec<Entry>> {
    let Value::Array(items) = reply else {
        return Err(unexpected("a list of entries", reply));
    };
    items
        .into_iter()
        .map(|item| {
            let Value::Array(parts) = item else {
                return Err(unexpected("an entry", item));
            };
            let mut parts = parts.into_iter();
            let id = text(parts.next().unwrap_or(Value::Nil))?;
            let fields = match parts.next().unwrap_or(Value::Nil) {
                Value::Nil => Vec::new(),
                Value::Array(flat) => {
                    let mut flat = flat.into_iter();
                    let mut fields = Vec::with_capacity(flat.len() / 2);
                    while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
                        fields.push((bytes(name)?, bytes(value)?));
                    }
                    fields
                }
                Value::Map(pairs) => pairs
                    .into_iter()
                    .map(|(name, value)| Ok((bytes(name)?, bytes(value)?)))
                    .collect::<CodecResult<_>>()?,
                other => return Err(unexpected("an entry's fields", other)),
            };
            Ok(Entry { id, fields })
        })
        .collect()
}

/// The reply of `XAUTOCLAIM`: the next cursor, the claimed entries, and the IDs of pending
/// entries that no longer exist in the stream (trimmed or deleted; Redis 7 drops them from the
/// pending list and names them here).
pub(super) fn parse_autoclaim(reply: Value) -> CodecResult<(String, Vec<Entry>, Vec<String>)> {
    let Value::Array(parts) = reply else {
        return Err(unexpected("a cursor, entries and deleted IDs", reply));
    };
    let mut parts = parts.into_iter();
    let cursor = text(parts.next().unwrap_or(Value::Nil))?;
    let entries = parse_entries(parts.next().unwrap_or(Value::Array(Vec::new())))?;
    let deleted = match parts.next() {
        Some(Value::Array(ids)) => ids.into_iter().map(text).collect::<Result<_, _>>()?,
        _ => Vec::new(), // Redis 6.2 has no third element
    };
    Ok((cursor, entries, deleted))
}

/// The reply of the extended `XPENDING key group start end count [consumer]`: each entry's ID
/// and how many times it was delivered.
pub(super) fn parse_pending(reply: Value) -> CodecResult<Vec<(String, u64)>> {
    let Value::Array(items) = reply else {
        return Err(unexpected("a list of pending entries", reply));
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::Array(parts) if parts.len() == 4 => {
                let mut parts = parts.into_iter();
                let id = text(parts.next().unwrap_or(Value::Nil))?;
                let deliveries = match parts.nth(2) {
                    Some(Value::Int(n)) => u64::try_from(n).unwrap_or(0),
                    other => return Err(unexpected("a delivery count", other)),
                };
                Ok((id, deliveries))
            }
            other => Err(unexpected("a pending entry", other)),
        })
        .collect()
}

fn bytes(value: Value) -> CodecResult<Vec<u8>> {
    match value {
        Value::BulkString(b) => Ok(b),
        Value::SimpleString(s) => Ok(s.into_bytes()),
        Value::Int(n) => Ok(n.to_string().into_bytes()),
        other => Err(unexpected("a string", other)),
    }
}

fn text(value: Value) -> CodecResult<String> {
    String::from_utf8(bytes(value)?).map_err(RedisCodecError::NotUtf8)
}

/// A stream entry ID as its two numbers, for ordering (`"1700000000000-3"` → `(1700000000000, 3)`).
pub(super) fn id_order(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn round_trip_and_malformed() {
        let change = Change::upsert("k", 3, json!({"a": 1})).at_position(9);
        let entry = Entry {
            id: "1-0".into(),
            fields: vec![(CHANGE_FIELD.into(), encode(&change).unwrap())],
        };
        assert_eq!(decode(&entry).unwrap(), change);
        let wrong_field = Entry {
            id: "1-1".into(),
            fields: vec![(b"body".to_vec(), b"{}".to_vec())],
        };
        assert!(decode(&wrong_field)
            .unwrap_err()
            .to_string()
            .contains("no \"change\" field"));
        let not_json = Entry {
            id: "1-2".into(),
            fields: vec![(CHANGE_FIELD.into(), b"{oops".to_vec())],
        };
        let err = decode(&not_json).unwrap_err();
        assert!(err.to_string().contains("is not a change"));
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn replies() {
        let entries = Value::Array(vec![
            Value::Array(vec![
                bulk("5-1"),
                Value::Array(vec![bulk("change"), bulk("x")]),
            ]),
            Value::Array(vec![bulk("5-2"), Value::Nil]),
        ]);
        let read = Value::Array(vec![Value::Array(vec![bulk("s"), entries.clone()])]);
        let parsed = parse_read(read).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].fields, [(b"change".to_vec(), b"x".to_vec())]);
        assert!(parsed[1].fields.is_empty());
        assert!(parse_read(Value::Nil).unwrap().is_empty());
        let claimed = Value::Array(vec![bulk("0-0"), entries, Value::Array(vec![bulk("4-0")])]);
        let (cursor, claimed, deleted) = parse_autoclaim(claimed).unwrap();
        assert_eq!(
            (cursor.as_str(), claimed.len(), deleted),
            ("0-0", 2, vec!["4-0".to_owned()])
        );
        let pending = Value::Array(vec![Value::Array(vec![
            bulk("5-1"),
            bulk("c1"),
            Value::Int(100),
            Value::Int(3),
        ])]);
        assert_eq!(parse_pending(pending).unwrap(), [("5-1".to_owned(), 3)]);
        assert!(id_order("5-10") > id_order("5-9"));
    }
}
