//! Encoding a [`Message`] for a target system: JSON, MessagePack or one CSV row.

use super::Message;
use serde_json::Value;

/// Why a message could not be encoded or decoded.
///
/// ```
/// let err = mqsync::integrate::Message::from_json(b"{").unwrap_err();
/// assert!(err.to_string().starts_with("json:"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// JSON encoding or decoding failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// MessagePack encoding failed.
    #[error("msgpack: {0}")]
    MsgPackEncode(#[from] rmp_serde::encode::Error),
    /// MessagePack decoding failed.
    #[error("msgpack: {0}")]
    MsgPackDecode(#[from] rmp_serde::decode::Error),
    /// Writing the CSV row failed.
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
}

impl Message {
    /// The message as JSON.
    ///
    /// ```
    /// use mqsync::integrate::{Integrator, Message, Raw};
    /// let message = Integrator::default().integrate(Raw::Text("hi".into())).unwrap();
    /// let json = message.to_json().unwrap();
    /// assert_eq!(Message::from_json(&json).unwrap(), message);
    /// ```
    pub fn to_json(&self) -> Result<Vec<u8>, EncodeError> {
        Ok(serde_json::to_vec(self)?)
    }

    /// Reads a message written by [`Message::to_json`].
    ///
    /// ```
    /// let bytes = br#"{"id":"1","source":"s","key":null,"version":null,"timestamp":"2024-01-01T00:00:00Z","body":{}}"#;
    /// let message = mqsync::integrate::Message::from_json(bytes).unwrap();
    /// assert!(message.headers.is_empty());
    /// ```
    pub fn from_json(bytes: &[u8]) -> Result<Message, EncodeError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// The message as MessagePack, with field names (a map, not a positional array), so other
    /// languages can read it.
    ///
    /// ```
    /// use mqsync::integrate::{Integrator, Message, Raw};
    /// let message = Integrator::default().integrate(Raw::Float(2.5)).unwrap();
    /// let bytes = message.to_msgpack().unwrap();
    /// assert_eq!(Message::from_msgpack(&bytes).unwrap(), message);
    /// ```
    pub fn to_msgpack(&self) -> Result<Vec<u8>, EncodeError> {
        Ok(rmp_serde::to_vec_named(self)?)
    }

    /// Reads a message written by [`Message::to_msgpack`].
    ///
    /// ```
    /// assert!(mqsync::integrate::Message::from_msgpack(&[0xc1]).is_err());
    /// ```
    pub fn from_msgpack(bytes: &[u8]) -> Result<Message, EncodeError> {
        Ok(rmp_serde::from_slice(bytes)?)
    }

    /// One CSV record (no line break) with the given columns, quoted as RFC 4180 requires.
    ///
    /// A column is a dotted body path, or one of `@id`, `@source`, `@key`, `@version`,
    /// `@timestamp` (RFC 3339), `@header.NAME`. Strings are written as they are, other scalars
    /// as JSON text, objects and arrays as compact JSON; a missing value or null is an empty
    /// field.
    ///
    /// ```
    /// use mqsync::integrate::{Integrator, Raw};
    /// let message = Integrator::default()
    ///     .integrate(Raw::Json(br#"{"name": "Ada, L.", "tags": [1], "n": 3}"#.to_vec()))
    ///     .unwrap();
    /// let row = message.to_csv_row(&["@source", "name", "n", "tags", "absent"]).unwrap();
    /// assert_eq!(row, r#"default,"Ada, L.",3,[1],"#);
    /// ```
    pub fn to_csv_row(&self, columns: &[&str]) -> Result<String, EncodeError> {
        let fields: Vec<String> = columns
            .iter()
            .map(|column| self.csv_field(column))
            .collect();
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        writer.write_record(&fields)?;
        let mut bytes = writer
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))?;
        bytes.pop(); // the terminator
                     // The record was built from `String`s and ASCII quoting, so it is UTF-8.
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn csv_field(&self, column: &str) -> String {
        match column {
            "@id" => self.id.clone(),
            "@source" => self.source.clone(),
            "@key" => self.key.clone().unwrap_or_default(),
            "@version" => self.version.map(|v| v.to_string()).unwrap_or_default(),
            "@timestamp" => self.timestamp.to_rfc3339(),
            _ => {
                if let Some(name) = column.strip_prefix("@header.") {
                    return self.headers.get(name).cloned().unwrap_or_default();
                }
                let mut value = None;
                let mut map = Some(&self.body);
                for segment in column.split('.') {
                    value = map.and_then(|m| m.get(segment));
                    map = value.and_then(Value::as_object);
                }
                match value {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                }
            }
        }
    }
}
