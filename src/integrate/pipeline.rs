//! One source's compiled rules, and the fixed order they run in.
//!
//! `max_size` → decode and place → `max_depth` → `rename` → `convert` → `defaults` → `drop` →
//! `validate` → `schema` → derive `id`, `key`, `version`, `timestamp`. The first failure stops the run and
//! becomes the [`Reason`].

use super::check::CompiledCheck;
use super::convert::{convert, to_timestamp};
use super::decode::Decoder;
use super::message::new_id;
use super::path::{kind_of, FieldPath};
use super::rejection::Reason;
use super::rules::{Conversion, RuleError, SourceRules, MAX_DEPTH_CEILING};
use super::schema::CompiledSchema;
use super::{Input, Message, Raw};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// [`SourceRules`] with every path split and every pattern compiled.
#[derive(Debug)]
pub(crate) struct Pipeline {
    decoder: Decoder,
    renames: Vec<(FieldPath, FieldPath)>,
    converts: Vec<(FieldPath, Conversion)>,
    defaults: Vec<(FieldPath, Value)>,
    drops: Vec<FieldPath>,
    id: Option<FieldPath>,
    key: Option<FieldPath>,
    version: Option<FieldPath>,
    timestamp: Option<FieldPath>,
    checks: Vec<CompiledCheck>,
    schema: Option<CompiledSchema>,
}

/// A message, or the input handed back whole with the reason it was rejected.
pub(crate) type Accepted = Result<Message, (Box<Input>, Reason)>;

impl Pipeline {
    /// Compiles `rules`; `at` is where they sit in the rule set (`sources.orders`), for errors.
    pub(crate) fn compile(at: &str, rules: &SourceRules) -> Result<Self, RuleError> {
        let invalid = |rule: String, message: String| RuleError::Invalid {
            rule: format!("{at}.{rule}"),
            message,
        };
        let path = |rule: String, text: &str| FieldPath::parse(text).map_err(|m| invalid(rule, m));
        let optional = |rule: &str, text: &Option<String>| {
            text.as_deref()
                .map(|t| path(rule.to_owned(), t))
                .transpose()
        };
        let mut renames = Vec::with_capacity(rules.rename.len());
        for (i, r) in rules.rename.iter().enumerate() {
            renames.push((
                path(format!("rename[{i}].from"), &r.from)?,
                path(format!("rename[{i}].to"), &r.to)?,
            ));
        }
        let mut converts = Vec::with_capacity(rules.convert.len());
        for (i, c) in rules.convert.iter().enumerate() {
            converts.push((path(format!("convert[{i}].field"), &c.field)?, c.to));
        }
        let mut defaults = Vec::with_capacity(rules.defaults.len());
        for (field, value) in &rules.defaults {
            defaults.push((path(format!("defaults.{field}"), field)?, value.clone()));
        }
        let mut drops = Vec::with_capacity(rules.drop.len());
        for (i, field) in rules.drop.iter().enumerate() {
            drops.push(path(format!("drop[{i}]"), field)?);
        }
        let mut checks = Vec::with_capacity(rules.validate.len());
        for (i, check) in rules.validate.iter().enumerate() {
            checks.push(
                CompiledCheck::compile(check)
                    .map_err(|(part, m)| invalid(format!("validate[{i}].{part}"), m))?,
            );
        }
        let schema = match &rules.schema {
            Some(schema) => {
                Some(CompiledSchema::compile(schema).map_err(|m| invalid("schema".into(), m))?)
            }
            None => None,
        };
        if rules.max_size == 0 {
            return Err(invalid("max_size".into(), "must be at least 1".into()));
        }
        if rules.max_depth == 0 {
            return Err(invalid("max_depth".into(), "must be at least 1".into()));
        }
        if rules.max_depth > MAX_DEPTH_CEILING {
            return Err(invalid(
                "max_depth".into(),
                format!(
                    "{} is above the ceiling {MAX_DEPTH_CEILING}: deeper input could overflow \
                     a thread's stack",
                    rules.max_depth
                ),
            ));
        }
        Ok(Pipeline {
            decoder: Decoder {
                place: rules.place.clone(),
                max_depth: rules.max_depth,
                max_size: rules.max_size,
            },
            renames,
            converts,
            defaults,
            drops,
            id: optional("id", &rules.id)?,
            key: optional("key", &rules.key)?,
            version: optional("version", &rules.version)?,
            timestamp: optional("timestamp", &rules.timestamp)?,
            checks,
            schema,
        })
    }

    /// Runs every rule on `input`. The input is only borrowed until it is accepted, so a
    /// rejection can hand it back whole.
    ///
    /// An accepted input's payload is handed back rather than dropped, so that a batch can free
    /// it on the thread that allocated it.
    pub(crate) fn run_keeping_payload(&self, input: Input) -> (Accepted, Option<Raw>) {
        match self.shape(&input) {
            Ok(derived) => {
                let Input {
                    source,
                    headers,
                    raw,
                } = input;
                let message = Message {
                    id: derived.id,
                    source,
                    key: derived.key,
                    version: derived.version,
                    timestamp: derived.timestamp,
                    headers,
                    body: derived.body,
                };
                (Ok(message), Some(raw))
            }
            Err(reason) => (Err((Box::new(input), reason)), None),
        }
    }

    fn shape(&self, input: &Input) -> Result<Derived, Reason> {
        let mut body = self.decoder.decode(&input.raw)?;
        for (from, to) in &self.renames {
            if let Some(value) = from.remove(&mut body) {
                to.insert(&mut body, value)
                    .map_err(|detail| Reason::rule_failed(to.as_str(), "rename", detail))?;
            }
        }
        for (field, to) in &self.converts {
            if let Some(slot) = field.get_mut(&mut body).filter(|v| !v.is_null()) {
                *slot = convert(slot, *to)
                    .map_err(|detail| Reason::rule_failed(field.as_str(), "convert", detail))?;
            }
        }
        for (field, value) in &self.defaults {
            if field.get(&body).is_none_or(Value::is_null) {
                field
                    .insert(&mut body, value.clone())
                    .map_err(|detail| Reason::rule_failed(field.as_str(), "defaults", detail))?;
            }
        }
        for field in &self.drops {
            field.remove(&mut body);
        }
        for check in &self.checks {
            check.check(&body)?;
        }
        if let Some(schema) = &self.schema {
            schema.check(&mut body)?;
        }
        let now = Utc::now();
        let id = match &self.id {
            Some(field) => scalar_text(field, "id", &body)?,
            None => new_id(now),
        };
        let key = self
            .key
            .as_ref()
            .map(|field| scalar_text(field, "key", &body))
            .transpose()?;
        let version = self
            .version
            .as_ref()
            .map(|field| version(field, &body))
            .transpose()?;
        let timestamp = match &self.timestamp {
            Some(field) => {
                let value = present(field, "timestamp", &body)?;
                to_timestamp(value)
                    .map_err(|detail| Reason::rule_failed(field.as_str(), "timestamp", detail))?
            }
            None => now,
        };
        Ok(Derived {
            id,
            key,
            version,
            timestamp,
            body,
        })
    }
}

/// The envelope parts a pipeline derives, before the input's own parts join them.
struct Derived {
    id: String,
    key: Option<String>,
    version: Option<u64>,
    timestamp: DateTime<Utc>,
    body: Map<String, Value>,
}

fn present<'a>(
    field: &FieldPath,
    rule: &'static str,
    body: &'a Map<String, Value>,
) -> Result<&'a Value, Reason> {
    field
        .get(body)
        .filter(|v| !v.is_null())
        .ok_or_else(|| Reason::rule_failed(field.as_str(), rule, "the field is missing"))
}

/// A non-empty string, or a number as its text.
fn scalar_text(
    field: &FieldPath,
    rule: &'static str,
    body: &Map<String, Value>,
) -> Result<String, Reason> {
    match present(field, rule, body)? {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(Reason::rule_failed(
            field.as_str(),
            rule,
            format!(
                "expected a non-empty string or a number, found {}",
                kind_of(other)
            ),
        )),
    }
}

/// A non-negative integer, or a string holding one.
fn version(field: &FieldPath, body: &Map<String, Value>) -> Result<u64, Reason> {
    let value = present(field, "version", body)?;
    let parsed = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        let found = match value {
            Value::Number(n) => n.to_string(),
            other => kind_of(other).to_owned(),
        };
        Reason::rule_failed(
            field.as_str(),
            "version",
            format!("expected a non-negative integer, found {found}"),
        )
    })
}
