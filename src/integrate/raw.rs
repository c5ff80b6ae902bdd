//! What arrives from a source system: [`Raw`] payloads and the [`Input`] that names their source.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The source name an [`Input`] gets when it is made from a bare [`Raw`].
///
/// ```
/// use mqsync::integrate::{Input, Raw, DEFAULT_SOURCE};
/// assert_eq!(Input::from(Raw::Int(1)).source, DEFAULT_SOURCE);
/// ```
pub const DEFAULT_SOURCE: &str = "default";

/// One payload, in the shape its source system sent it.
///
/// Every variant is plain data, so a rejected `Raw` can be stored (it is `Serialize`) and
/// replayed later as a dead letter.
///
/// ```
/// use mqsync::integrate::{CsvHeader, Raw};
///
/// let header = CsvHeader::parse("id,amount").unwrap();
/// let inputs = vec![
///     Raw::Json(br#"{"id": 1}"#.to_vec()),
///     Raw::Text("hello".into()),
///     Raw::Int(42),
///     Raw::Csv { header: header.clone(), row: "7,19.5".into() },
///     Raw::Logfmt("level=info msg=\"disk full\"".into()),
///     Raw::from_serialize(&vec![("k", 1)].into_iter().collect::<std::collections::BTreeMap<_, _>>()).unwrap(),
/// ];
/// assert_eq!(inputs.len(), 6);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Raw {
    /// UTF-8 JSON text of any value.
    Json(Vec<u8>),
    /// Free text.
    Text(String),
    /// An integer.
    Int(i64),
    /// A float; NaN and infinities are rejected, JSON cannot carry them.
    ///
    /// Serialized as a number, except NaN and the infinities, which serialize as the strings
    /// `"NaN"`, `"inf"` and `"-inf"`: JSON has no numbers for them (serde_json would write
    /// `null` and then fail to read it back), and their rejections must store and replay as
    /// dead letters like any other.
    ///
    /// ```
    /// use mqsync::integrate::Raw;
    /// let stored = serde_json::to_string(&Raw::Float(f64::NEG_INFINITY)).unwrap();
    /// assert_eq!(stored, r#"{"Float":"-inf"}"#);
    /// let back: Raw = serde_json::from_str(&stored).unwrap();
    /// assert_eq!(back, Raw::Float(f64::NEG_INFINITY));
    /// ```
    Float(#[serde(with = "float_serde")] f64),
    /// A boolean.
    Bool(bool),
    /// Opaque bytes: taken as JSON when they hold a JSON object, else placed by rule or rejected.
    Bytes(Vec<u8>),
    /// One CSV record, read against a header that many rows share.
    Csv {
        /// Column names, one per field of `row`.
        header: CsvHeader,
        /// One CSV record (RFC 4180 quoting), without or with a trailing line break.
        row: String,
    },
    /// One `key=value key2="quoted value" flag` line (logfmt).
    Logfmt(String),
    /// A MessagePack-encoded value.
    MsgPack(Vec<u8>),
    /// A value already in serde's data model, from [`Raw::from_serialize`].
    Value(serde_json::Value),
}

impl Raw {
    /// Captures any `Serialize` value as a [`Raw::Value`].
    ///
    /// Fails only when serde_json cannot represent the value (a map with non-string keys).
    ///
    /// ```
    /// use mqsync::integrate::Raw;
    /// #[derive(serde::Serialize)]
    /// struct Order { id: u32 }
    /// let raw = Raw::from_serialize(&Order { id: 7 }).unwrap();
    /// assert_eq!(raw, Raw::Value(serde_json::json!({"id": 7})));
    /// ```
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Raw, serde_json::Error> {
        serde_json::to_value(value).map(Raw::Value)
    }

    /// The format's name, as rejection reasons spell it (`"json"`, `"csv"`, ...).
    ///
    /// ```
    /// assert_eq!(mqsync::integrate::Raw::Int(1).format(), "int");
    /// ```
    pub fn format(&self) -> &'static str {
        match self {
            Raw::Json(_) => "json",
            Raw::Text(_) => "text",
            Raw::Int(_) => "int",
            Raw::Float(_) => "float",
            Raw::Bool(_) => "bool",
            Raw::Bytes(_) => "bytes",
            Raw::Csv { .. } => "csv",
            Raw::Logfmt(_) => "logfmt",
            Raw::MsgPack(_) => "msgpack",
            Raw::Value(_) => "value",
        }
    }

    /// The payload's size in bytes, for the formats that arrive as bytes or text (`max_size`
    /// applies to these); `None` for fixed-size scalars and [`Raw::Value`].
    ///
    /// ```
    /// assert_eq!(mqsync::integrate::Raw::Text("abc".into()).byte_len(), Some(3));
    /// ```
    pub fn byte_len(&self) -> Option<usize> {
        match self {
            Raw::Json(b) | Raw::Bytes(b) | Raw::MsgPack(b) => Some(b.len()),
            Raw::Text(s) | Raw::Logfmt(s) | Raw::Csv { row: s, .. } => Some(s.len()),
            Raw::Int(_) | Raw::Float(_) | Raw::Bool(_) | Raw::Value(_) => None,
        }
    }
}

/// Serde for [`Raw::Float`]: finite values as numbers, NaN and the infinities as strings.
/// Reading takes any number, or one of the three strings.
mod float_serde {
    use serde::de::{self, Deserializer, Unexpected, Visitor};
    use serde::Serializer;
    use std::fmt;

    pub(super) fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        if value.is_nan() {
            serializer.serialize_str("NaN")
        } else if *value == f64::INFINITY {
            serializer.serialize_str("inf")
        } else if *value == f64::NEG_INFINITY {
            serializer.serialize_str("-inf")
        } else {
            serializer.serialize_f64(*value)
        }
    }

    /// `deserialize_any`, as `Raw::Value` already needs: `Raw` reads only from self-describing
    /// formats (JSON, MessagePack).
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        deserializer.deserialize_any(FloatVisitor)
    }

    struct FloatVisitor;

    impl Visitor<'_> for FloatVisitor {
        type Value = f64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(r#"a number, "NaN", "inf" or "-inf""#)
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<f64, E> {
            Ok(value)
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<f64, E> {
            Ok(value as f64)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<f64, E> {
            Ok(value as f64)
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<f64, E> {
            match value {
                "NaN" => Ok(f64::NAN),
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                _ => Err(E::invalid_value(Unexpected::Str(value), &self)),
            }
        }
    }
}

/// CSV column names, shared (cheaply cloned) by all rows of one feed.
///
/// ```
/// use mqsync::integrate::CsvHeader;
/// let header = CsvHeader::parse("id,\"full name\"").unwrap();
/// assert_eq!(header.columns(), ["id", "full name"]);
/// assert_eq!(CsvHeader::new(["a", "b"]).columns().len(), 2);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CsvHeader(Arc<[String]>);

impl CsvHeader {
    /// A header from column names.
    ///
    /// ```
    /// let header = mqsync::integrate::CsvHeader::new(["id", "name"]);
    /// assert_eq!(header.columns()[1], "name");
    /// ```
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        CsvHeader(columns.into_iter().map(Into::into).collect())
    }

    /// Reads a header line with the csv crate (quoting as in RFC 4180).
    ///
    /// ```
    /// let header = mqsync::integrate::CsvHeader::parse("a,\"b,c\"").unwrap();
    /// assert_eq!(header.columns(), ["a", "b,c"]);
    /// ```
    pub fn parse(line: &str) -> Result<Self, csv::Error> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes());
        let mut record = csv::StringRecord::new();
        reader.read_record(&mut record)?;
        Ok(CsvHeader::new(record.iter()))
    }

    /// The column names, in order.
    ///
    /// ```
    /// assert_eq!(mqsync::integrate::CsvHeader::new(["x"]).columns(), ["x"]);
    /// ```
    pub fn columns(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Debug for CsvHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

impl Serialize for CsvHeader {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CsvHeader {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<String>::deserialize(deserializer).map(CsvHeader::new)
    }
}

/// A [`Raw`] payload together with the system it came from and its transport headers.
///
/// The source name picks the rules that apply; headers pass through to the
/// [`Message`](super::Message) unchanged. A bare `Raw` converts into an `Input` from
/// [`DEFAULT_SOURCE`].
///
/// ```
/// use mqsync::integrate::{Input, Raw};
/// let input = Input::new("billing", Raw::Int(3)).with_header("trace", "abc");
/// assert_eq!(input.source, "billing");
/// assert_eq!(Input::from(Raw::Int(3)).source, "default");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Input {
    /// The source system's name; selects the rules.
    pub source: String,
    /// Transport headers, copied into the message.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The payload.
    pub raw: Raw,
}

impl Input {
    /// An input from `source` with no headers.
    ///
    /// ```
    /// let input = mqsync::integrate::Input::new("crm", mqsync::integrate::Raw::Text("hi".into()));
    /// assert!(input.headers.is_empty());
    /// ```
    pub fn new(source: impl Into<String>, raw: Raw) -> Self {
        Input {
            source: source.into(),
            headers: BTreeMap::new(),
            raw,
        }
    }

    /// Adds one header.
    ///
    /// ```
    /// let input = mqsync::integrate::Input::new("crm", mqsync::integrate::Raw::Int(1)).with_header("trace", "t1");
    /// assert_eq!(input.headers["trace"], "t1");
    /// ```
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }
}

impl From<Raw> for Input {
    fn from(raw: Raw) -> Self {
        Input::new(DEFAULT_SOURCE, raw)
    }
}

/// Unboxes a [`Rejection`](super::Rejection)'s input, so a dead letter replays as it is.
impl From<Box<Input>> for Input {
    fn from(input: Box<Input>) -> Self {
        *input
    }
}
