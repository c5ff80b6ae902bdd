//! The rule language: declarative, serde-loadable mapping and validation rules per source.
//!
//! A [`RuleSet`] holds [`SourceRules`] for each source system and a `default` for the rest. It
//! is plain data: build it in code with the chained methods, or load it from JSON or TOML. The
//! [`Integrator`](super::Integrator) compiles it once (paths split, patterns compiled) and
//! reports a bad rule by its place, e.g. `sources.orders.validate[2].pattern`.
//!
//! Rules apply in a fixed order: `max_size` → decode and `place` → `max_depth` → `rename` →
//! `convert` → `defaults` → `drop` → `validate` → `schema` → derive `id`, `key`, `version`,
//! `timestamp`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Default `max_depth`: deeper bodies are rejected (serde_json's own parser stops at 128).
///
/// ```
/// assert_eq!(mqsync::integrate::SourceRules::new().max_depth, mqsync::integrate::DEFAULT_MAX_DEPTH);
/// ```
pub const DEFAULT_MAX_DEPTH: usize = 64;
/// The highest `max_depth` a rule set may set; a higher one fails to build.
///
/// Decoding, encoding and dropping a value recurse once per level, so an unbounded limit would
/// let one hostile MessagePack payload of a few kilobytes overflow the 2 MiB stack of a rayon
/// or std thread (`tests/fuzz_regressions.rs` keeps such an input). serde_json reads at most
/// 128 levels, and a body stored in a [`Message`](super::Message) (one level more) or a sync
/// `Change` (two more) must still read back, so the ceiling leaves room below 128.
///
/// ```
/// use mqsync::integrate::{Integrator, SourceRules, MAX_DEPTH_CEILING};
/// let rules = SourceRules::new().max_depth(MAX_DEPTH_CEILING + 1);
/// assert!(Integrator::builder().default_rules(rules).build().is_err());
/// ```
pub const MAX_DEPTH_CEILING: usize = 100;
/// Default `max_size` in bytes of one payload (1 MiB).
///
/// ```
/// assert_eq!(mqsync::integrate::SourceRules::new().max_size, mqsync::integrate::DEFAULT_MAX_SIZE);
/// ```
pub const DEFAULT_MAX_SIZE: usize = 1 << 20;

/// All rules: one [`SourceRules`] per source name, and `default` for any other source.
///
/// ```
/// use mqsync::integrate::RuleSet;
/// let rules = RuleSet::from_toml_str(r#"
///     [sources.orders]
///     id = "order_id"
///     rename = [{ from = "cust", to = "customer.name" }]
///     convert = [{ field = "amount", to = "number" }]
///     validate = [{ field = "amount", required = true, type = "number", min = 0 }]
/// "#).unwrap();
/// assert_eq!(rules.sources["orders"].id.as_deref(), Some("order_id"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RuleSet {
    /// Rules for inputs whose source has no entry in `sources`.
    pub default: SourceRules,
    /// Rules by source name. A source's rules replace `default`; they do not add to it.
    pub sources: BTreeMap<String, SourceRules>,
}

/// Why rules could not be loaded or compiled; each names the file position or the rule.
///
/// ```
/// use mqsync::integrate::{Integrator, RuleSet};
/// let err = RuleSet::from_json_str(r#"{"sources": {"a": {"convert": [{"field": "x", "to": "nubmer"}]}}}"#)
///     .unwrap_err();
/// assert!(err.to_string().contains("sources.a.convert[0].to"), "{err}");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The rules file could not be read.
    #[error("cannot read rules file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file name ends in neither `.json` nor `.toml`.
    #[error("rules file {} is neither .json nor .toml", .0.display())]
    UnknownFormat(PathBuf),
    /// JSON that does not describe a [`RuleSet`]; `at` is the path to the bad rule.
    #[error("invalid rules at {at}: {message}")]
    Json {
        /// Where in the document, e.g. `sources.orders.validate[1].min`.
        at: String,
        /// serde_json's message, with line and column.
        message: String,
    },
    /// TOML that does not describe a [`RuleSet`]; the message shows the line and the key.
    #[error("invalid rules: {0}")]
    Toml(String),
    /// A rule that parses but cannot work (bad path, bad regex, `min` above `max`).
    #[error("rule {rule}: {message}")]
    Invalid {
        /// Where the rule is, e.g. `sources.orders.validate[2].pattern`.
        rule: String,
        /// What is wrong with it.
        message: String,
    },
}

impl RuleSet {
    /// Parses rules from JSON; errors name the path to the bad rule.
    ///
    /// ```
    /// let rules = mqsync::integrate::RuleSet::from_json_str(r#"{"default": {"drop": ["tmp"]}}"#).unwrap();
    /// assert_eq!(rules.default.drop, ["tmp"]);
    /// assert!(mqsync::integrate::RuleSet::from_json_str(r#"{"defualt": {}}"#).is_err());
    /// ```
    pub fn from_json_str(text: &str) -> Result<Self, RuleError> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut deserializer).map_err(|e| RuleError::Json {
            at: e.path().to_string(),
            message: e.into_inner().to_string(),
        })
    }

    /// Parses rules from TOML; errors show the line and the key.
    ///
    /// ```
    /// let rules = mqsync::integrate::RuleSet::from_toml_str("[default]\nkey = \"user\"").unwrap();
    /// assert_eq!(rules.default.key.as_deref(), Some("user"));
    /// ```
    pub fn from_toml_str(text: &str) -> Result<Self, RuleError> {
        toml::from_str(text).map_err(|e| RuleError::Toml(e.to_string()))
    }

    /// Reads a `.json` or `.toml` rules file.
    ///
    /// ```no_run
    /// let rules = mqsync::integrate::RuleSet::from_path("rules.toml").unwrap();
    /// ```
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, RuleError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| RuleError::Io {
            path: path.to_owned(),
            source,
        })?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Self::from_json_str(&text),
            Some("toml") => Self::from_toml_str(&text),
            _ => Err(RuleError::UnknownFormat(path.to_owned())),
        }
    }
}

/// The rules for one source system. Every part is optional; the default is the classic
/// convention (objects pass, text → `{"text": ..}`, numbers → `{"number": ..}`).
///
/// ```
/// use mqsync::integrate::{Conversion, FieldCheck, JsonType, SourceRules};
/// let rules = SourceRules::new()
///     .rename("cust", "customer.name")
///     .convert("amount", Conversion::Number)
///     .default_value("currency", "EUR".into())
///     .drop_field("debug")
///     .id_from("order_id")
///     .check(FieldCheck::new("amount").required().kind(JsonType::Number).range(0.0, 1e6));
/// assert_eq!(rules.rename.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SourceRules {
    /// Where non-object payloads go in the body.
    pub place: Placement,
    /// Moves, applied in order.
    pub rename: Vec<Rename>,
    /// Type conversions, applied in order; a missing or null field is left alone.
    pub convert: Vec<Convert>,
    /// Values set where the field is missing or null (keys are field paths).
    pub defaults: BTreeMap<String, Value>,
    /// Fields removed from the body.
    pub drop: Vec<String>,
    /// The field whose value becomes the message id; without it, a time-ordered id is made.
    pub id: Option<String>,
    /// The field whose value becomes the entity key.
    pub key: Option<String>,
    /// The field whose value (a non-negative integer) becomes the entity version.
    pub version: Option<String>,
    /// The field whose value (a timestamp in a common format) becomes the message time;
    /// without it, the time of integration.
    pub timestamp: Option<String>,
    /// Checks on the final body.
    pub validate: Vec<FieldCheck>,
    /// A JSON Schema the final body must satisfy, checked after `validate`. Needs the `schema`
    /// cargo feature; without it, a rule set that uses it does not build.
    pub schema: Option<Value>,
    /// Deepest nesting allowed in the body ([`DEFAULT_MAX_DEPTH`]); from 1 to
    /// [`MAX_DEPTH_CEILING`].
    pub max_depth: usize,
    /// Largest payload allowed, in bytes ([`DEFAULT_MAX_SIZE`]).
    pub max_size: usize,
}

impl Default for SourceRules {
    fn default() -> Self {
        SourceRules {
            place: Placement::default(),
            rename: Vec::new(),
            convert: Vec::new(),
            defaults: BTreeMap::new(),
            drop: Vec::new(),
            id: None,
            key: None,
            version: None,
            timestamp: None,
            validate: Vec::new(),
            schema: None,
            max_depth: DEFAULT_MAX_DEPTH,
            max_size: DEFAULT_MAX_SIZE,
        }
    }
}

impl SourceRules {
    /// The classic convention, no rules.
    ///
    /// ```
    /// assert_eq!(mqsync::integrate::SourceRules::new(), Default::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets where non-object payloads go.
    ///
    /// ```
    /// use mqsync::integrate::{Placement, SourceRules};
    /// let rules = SourceRules::new().place(Placement::default().bool(Some("on")));
    /// assert_eq!(rules.place.bool.as_deref(), Some("on"));
    /// ```
    pub fn place(mut self, place: Placement) -> Self {
        self.place = place;
        self
    }

    /// Moves the value at path `from` to path `to`.
    ///
    /// ```
    /// let rules = mqsync::integrate::SourceRules::new().rename("usr", "user.name");
    /// assert_eq!(rules.rename[0].to, "user.name");
    /// ```
    pub fn rename(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.rename.push(Rename {
            from: from.into(),
            to: to.into(),
        });
        self
    }

    /// Converts the value at `field`.
    ///
    /// ```
    /// use mqsync::integrate::{Conversion, SourceRules};
    /// assert_eq!(SourceRules::new().convert("n", Conversion::Integer).convert[0].to, Conversion::Integer);
    /// ```
    pub fn convert(mut self, field: impl Into<String>, to: Conversion) -> Self {
        self.convert.push(Convert {
            field: field.into(),
            to,
        });
        self
    }

    /// Sets `field` to `value` where it is missing or null.
    ///
    /// ```
    /// let rules = mqsync::integrate::SourceRules::new().default_value("tier", "basic".into());
    /// assert_eq!(rules.defaults["tier"], "basic");
    /// ```
    pub fn default_value(mut self, field: impl Into<String>, value: Value) -> Self {
        self.defaults.insert(field.into(), value);
        self
    }

    /// Removes `field` from the body.
    ///
    /// ```
    /// assert_eq!(mqsync::integrate::SourceRules::new().drop_field("tmp").drop, ["tmp"]);
    /// ```
    pub fn drop_field(mut self, field: impl Into<String>) -> Self {
        self.drop.push(field.into());
        self
    }

    /// Takes the message id from `field`.
    ///
    /// ```
    /// assert_eq!(mqsync::integrate::SourceRules::new().id_from("event_id").id.as_deref(), Some("event_id"));
    /// ```
    pub fn id_from(mut self, field: impl Into<String>) -> Self {
        self.id = Some(field.into());
        self
    }

    /// Takes the entity key from `field`.
    ///
    /// ```
    /// assert_eq!(mqsync::integrate::SourceRules::new().key_from("user.id").key.as_deref(), Some("user.id"));
    /// ```
    pub fn key_from(mut self, field: impl Into<String>) -> Self {
        self.key = Some(field.into());
        self
    }

    /// Takes the entity version from `field`.
    ///
    /// ```
    /// assert_eq!(mqsync::integrate::SourceRules::new().version_from("rev").version.as_deref(), Some("rev"));
    /// ```
    pub fn version_from(mut self, field: impl Into<String>) -> Self {
        self.version = Some(field.into());
        self
    }

    /// Takes the message time from `field`.
    ///
    /// ```
    /// assert_eq!(mqsync::integrate::SourceRules::new().timestamp_from("at").timestamp.as_deref(), Some("at"));
    /// ```
    pub fn timestamp_from(mut self, field: impl Into<String>) -> Self {
        self.timestamp = Some(field.into());
        self
    }

    /// Adds a validation check.
    ///
    /// ```
    /// use mqsync::integrate::{FieldCheck, SourceRules};
    /// assert_eq!(SourceRules::new().check(FieldCheck::new("a").required()).validate.len(), 1);
    /// ```
    pub fn check(mut self, check: FieldCheck) -> Self {
        self.validate.push(check);
        self
    }

    /// Requires the final body to satisfy this JSON Schema (cargo feature `schema`).
    ///
    /// ```
    /// let rules = mqsync::integrate::SourceRules::new().schema(serde_json::json!({"required": ["id"]}));
    /// assert!(rules.schema.is_some());
    /// ```
    pub fn schema(mut self, schema: Value) -> Self {
        self.schema = Some(schema);
        self
    }

    /// Sets the deepest nesting allowed, from 1 to [`MAX_DEPTH_CEILING`].
    ///
    /// ```
    /// assert_eq!(mqsync::integrate::SourceRules::new().max_depth(8).max_depth, 8);
    /// ```
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Sets the largest payload allowed, in bytes.
    ///
    /// ```
    /// assert_eq!(mqsync::integrate::SourceRules::new().max_size(4096).max_size, 4096);
    /// ```
    pub fn max_size(mut self, bytes: usize) -> Self {
        self.max_size = bytes;
        self
    }
}

/// The body field each kind of non-object payload is placed under; `None` rejects that kind
/// as "unsupported message type".
///
/// The default is the classic convention: `text` and `number` placed, the rest rejected.
///
/// ```
/// use mqsync::integrate::{Integrator, Placement, Raw, SourceRules};
/// let place = Placement::default().array(Some("items"));
/// let integrator = Integrator::builder().default_rules(SourceRules::new().place(place)).build().unwrap();
/// let message = integrator.integrate(Raw::Json(b"[1,2]".to_vec())).unwrap();
/// assert_eq!(message.body["items"], serde_json::json!([1, 2]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Placement {
    /// Field for text (`Raw::Text`, a JSON string); default `"text"`.
    pub text: Option<String>,
    /// Field for numbers (`Raw::Int`, `Raw::Float`, a JSON number); default `"number"`.
    pub number: Option<String>,
    /// Field for booleans; default `None` (rejected).
    pub bool: Option<String>,
    /// Field for a top-level array; default `None` (rejected).
    pub array: Option<String>,
    /// Field for bytes that are not a JSON object, stored as a lowercase hex string; default
    /// `None` (rejected).
    pub bytes: Option<String>,
}

impl Default for Placement {
    fn default() -> Self {
        Placement {
            text: Some("text".to_owned()),
            number: Some("number".to_owned()),
            bool: None,
            array: None,
            bytes: None,
        }
    }
}

impl Placement {
    /// The field that holds bare text (`None`: reject them).
    ///
    /// ```
    /// let p = mqsync::integrate::Placement::default().text(Some("v"));
    /// assert_eq!(p.text.as_deref(), Some("v"));
    /// ```
    pub fn text(mut self, field: Option<&str>) -> Self {
        self.text = field.map(str::to_owned);
        self
    }

    /// The field that holds numbers (`None`: reject them).
    ///
    /// ```
    /// let p = mqsync::integrate::Placement::default().number(Some("v"));
    /// assert_eq!(p.number.as_deref(), Some("v"));
    /// ```
    pub fn number(mut self, field: Option<&str>) -> Self {
        self.number = field.map(str::to_owned);
        self
    }

    /// The field that holds booleans (`None`: reject them).
    ///
    /// ```
    /// let p = mqsync::integrate::Placement::default().bool(Some("v"));
    /// assert_eq!(p.bool.as_deref(), Some("v"));
    /// ```
    pub fn bool(mut self, field: Option<&str>) -> Self {
        self.bool = field.map(str::to_owned);
        self
    }

    /// The field that holds a top-level array (`None`: reject them).
    ///
    /// ```
    /// let p = mqsync::integrate::Placement::default().array(Some("v"));
    /// assert_eq!(p.array.as_deref(), Some("v"));
    /// ```
    pub fn array(mut self, field: Option<&str>) -> Self {
        self.array = field.map(str::to_owned);
        self
    }

    /// The field that holds bytes that are not a JSON object (`None`: reject them).
    ///
    /// ```
    /// let p = mqsync::integrate::Placement::default().bytes(Some("v"));
    /// assert_eq!(p.bytes.as_deref(), Some("v"));
    /// ```
    pub fn bytes(mut self, field: Option<&str>) -> Self {
        self.bytes = field.map(str::to_owned);
        self
    }
}

/// Move the value at `from` to `to` (both dotted paths); nothing happens when `from` is absent.
///
/// ```
/// let r = mqsync::integrate::Rename::new("a.b", "c");
/// assert_eq!(r.to, "c");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Rename {
    /// The path the value is taken from.
    pub from: String,
    /// The path it is put at; missing parent objects are created.
    pub to: String,
}

impl Rename {
    /// Move the value at `from` to `to`.
    ///
    /// ```
    /// assert_eq!(mqsync::integrate::Rename::new("a", "b").from, "a");
    /// ```
    pub fn new(from: impl Into<String>, to: impl Into<String>) -> Self {
        Rename {
            from: from.into(),
            to: to.into(),
        }
    }
}

/// Convert the value at `field` to another type.
///
/// ```
/// use mqsync::integrate::{Conversion, Convert};
/// let c = Convert::new("amount", Conversion::Number);
/// assert_eq!(c.to, Conversion::Number);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Convert {
    /// The field path.
    pub field: String,
    /// The target type.
    pub to: Conversion,
}

impl Convert {
    /// Convert the value at `field` to `to`.
    ///
    /// ```
    /// use mqsync::integrate::{Conversion, Convert};
    /// assert_eq!(Convert::new("n", Conversion::Integer).field, "n");
    /// ```
    pub fn new(field: impl Into<String>, to: Conversion) -> Self {
        Convert {
            field: field.into(),
            to,
        }
    }
}

/// A type conversion. Each fails with a reason rather than guess: `"12abc"` is not a number,
/// `1e20` does not fit an integer, NaN is not a float.
///
/// ```
/// use mqsync::integrate::Conversion;
/// let c: Conversion = serde_json::from_str("\"timestamp\"").unwrap();
/// assert_eq!(c, Conversion::Timestamp);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Conversion {
    /// A string holding a number → that number (integer when it is one, else float).
    Number,
    /// A string or number → a 64-bit integer; fractions and overflow fail.
    Integer,
    /// A string or number → a finite float.
    Float,
    /// A number or bool → its decimal text.
    String,
    /// `true/false/yes/no/on/off/1/0` (any case) or the numbers 0 and 1 → a bool.
    Bool,
    /// A timestamp (RFC 3339, RFC 2822, `YYYY-MM-DD[ HH:MM:SS[.f]]`, `YYYY/MM/DD HH:MM:SS`,
    /// Apache log time, or Unix seconds / milliseconds) → an RFC 3339 UTC string.
    Timestamp,
}

/// The JSON types a [`FieldCheck`] can require.
///
/// ```
/// let t: mqsync::integrate::JsonType = serde_json::from_str("\"integer\"").unwrap();
/// assert_eq!(t, mqsync::integrate::JsonType::Integer);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum JsonType {
    /// A string.
    String,
    /// Any number.
    Number,
    /// A number without fraction that fits in 64 bits.
    Integer,
    /// `true` or `false`.
    Bool,
    /// An object.
    Object,
    /// An array.
    Array,
    /// `null`.
    Null,
}

/// Validation of one field of the final body. Absent checks pass; a missing field passes every
/// check but `required`.
///
/// `min`/`max` apply to numbers, `min_len`/`max_len` to strings (in characters) and arrays,
/// `pattern` (a [regex](https://docs.rs/regex) that must match somewhere; anchor it with `^…$`)
/// to strings, `allowed` to any value.
///
/// ```
/// use mqsync::integrate::{FieldCheck, JsonType};
/// let check = FieldCheck::new("email").required().kind(JsonType::String).length(3, 254).pattern("^[^@]+@[^@]+$");
/// assert!(check.required);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct FieldCheck {
    /// The field path.
    pub field: String,
    /// The field must be present (null counts as present).
    pub required: bool,
    /// The field's JSON type.
    #[serde(rename = "type")]
    pub kind: Option<JsonType>,
    /// Smallest number allowed.
    pub min: Option<f64>,
    /// Largest number allowed.
    pub max: Option<f64>,
    /// Shortest string or array allowed.
    pub min_len: Option<usize>,
    /// Longest string or array allowed.
    pub max_len: Option<usize>,
    /// A regex the string must match.
    pub pattern: Option<String>,
    /// The only values allowed.
    pub allowed: Option<Vec<Value>>,
}

impl FieldCheck {
    /// A check on `field` that checks nothing yet.
    ///
    /// ```
    /// assert_eq!(mqsync::integrate::FieldCheck::new("a").field, "a");
    /// ```
    pub fn new(field: impl Into<String>) -> Self {
        FieldCheck {
            field: field.into(),
            ..Self::default()
        }
    }

    /// The field must be present.
    ///
    /// ```
    /// assert!(mqsync::integrate::FieldCheck::new("a").required().required);
    /// ```
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The field must have this type.
    ///
    /// ```
    /// use mqsync::integrate::{FieldCheck, JsonType};
    /// assert_eq!(FieldCheck::new("a").kind(JsonType::Bool).kind, Some(JsonType::Bool));
    /// ```
    pub fn kind(mut self, kind: JsonType) -> Self {
        self.kind = Some(kind);
        self
    }

    /// The number must lie in `min..=max`.
    ///
    /// ```
    /// let check = mqsync::integrate::FieldCheck::new("a").range(0.0, 1.0);
    /// assert_eq!((check.min, check.max), (Some(0.0), Some(1.0)));
    /// ```
    pub fn range(mut self, min: f64, max: f64) -> Self {
        self.min = Some(min);
        self.max = Some(max);
        self
    }

    /// The string or array length must lie in `min..=max`.
    ///
    /// ```
    /// let check = mqsync::integrate::FieldCheck::new("a").length(1, 8);
    /// assert_eq!((check.min_len, check.max_len), (Some(1), Some(8)));
    /// ```
    pub fn length(mut self, min: usize, max: usize) -> Self {
        self.min_len = Some(min);
        self.max_len = Some(max);
        self
    }

    /// The string must match this regex.
    ///
    /// ```
    /// assert_eq!(mqsync::integrate::FieldCheck::new("a").pattern("^x").pattern.as_deref(), Some("^x"));
    /// ```
    pub fn pattern(mut self, regex: impl Into<String>) -> Self {
        self.pattern = Some(regex.into());
        self
    }

    /// The value must be one of these.
    ///
    /// ```
    /// let check = mqsync::integrate::FieldCheck::new("a").allowed(vec!["x".into()]);
    /// assert_eq!(check.allowed.unwrap().len(), 1);
    /// ```
    pub fn allowed(mut self, values: Vec<Value>) -> Self {
        self.allowed = Some(values);
        self
    }
}
