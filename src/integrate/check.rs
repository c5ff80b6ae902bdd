//! Compiled [`FieldCheck`]s: validation of one field of the final body.

use super::path::{kind_of, FieldPath};
use super::rejection::Reason;
use super::rules::{FieldCheck, JsonType};
use regex::Regex;
use serde_json::{Map, Value};

/// A [`FieldCheck`] with its path split and its pattern compiled.
#[derive(Debug)]
pub(crate) struct CompiledCheck {
    path: FieldPath,
    required: bool,
    kind: Option<JsonType>,
    min: Option<f64>,
    max: Option<f64>,
    min_len: Option<usize>,
    max_len: Option<usize>,
    pattern: Option<Regex>,
    allowed: Option<Vec<Value>>,
}

impl CompiledCheck {
    /// Compiles `check`; the error names the offending part (`"pattern"`, `"min"`, ...).
    pub(crate) fn compile(check: &FieldCheck) -> Result<Self, (&'static str, String)> {
        let path = FieldPath::parse(&check.field).map_err(|e| ("field", e))?;
        let pattern = match &check.pattern {
            Some(p) => Some(Regex::new(p).map_err(|e| ("pattern", e.to_string()))?),
            None => None,
        };
        if let (Some(min), Some(max)) = (check.min, check.max) {
            if min.is_nan() || max.is_nan() || min > max {
                return Err(("min", format!("min {min} is not at most max {max}")));
            }
        }
        if let (Some(min), Some(max)) = (check.min_len, check.max_len) {
            if min > max {
                return Err(("min_len", format!("min_len {min} is above max_len {max}")));
            }
        }
        Ok(CompiledCheck {
            path,
            required: check.required,
            kind: check.kind,
            min: check.min,
            max: check.max,
            min_len: check.min_len,
            max_len: check.max_len,
            pattern,
            allowed: check.allowed.clone(),
        })
    }

    /// Checks the body; the first failing part becomes the reason.
    pub(crate) fn check(&self, body: &Map<String, Value>) -> Result<(), Reason> {
        let field = self.path.as_str();
        let fail = |rule, detail: String| Err(Reason::rule_failed(field, rule, detail));
        let Some(value) = self.path.get(body) else {
            return if self.required {
                fail("required", "the field is missing".into())
            } else {
                Ok(())
            };
        };
        if let Some(kind) = self.kind {
            if !has_type(value, kind) {
                return fail(
                    "type",
                    format!("expected {kind:?}, found {}", kind_of(value)).to_lowercase(),
                );
            }
        }
        if self.min.is_some() || self.max.is_some() {
            let Some(n) = value.as_f64() else {
                return fail(
                    "min",
                    format!("expected a number, found {}", kind_of(value)),
                );
            };
            if let Some(min) = self.min.filter(|&min| n < min) {
                return fail("min", format!("{n} is below {min}"));
            }
            if let Some(max) = self.max.filter(|&max| n > max) {
                return fail("max", format!("{n} is above {max}"));
            }
        }
        if self.min_len.is_some() || self.max_len.is_some() {
            let len = match value {
                Value::String(s) => s.chars().count(),
                Value::Array(a) => a.len(),
                other => {
                    return fail(
                        "min_len",
                        format!("expected a string or array, found {}", kind_of(other)),
                    )
                }
            };
            if let Some(min) = self.min_len.filter(|&min| len < min) {
                return fail("min_len", format!("length {len} is below {min}"));
            }
            if let Some(max) = self.max_len.filter(|&max| len > max) {
                return fail("max_len", format!("length {len} is above {max}"));
            }
        }
        if let Some(pattern) = &self.pattern {
            match value {
                Value::String(s) if pattern.is_match(s) => {}
                Value::String(_) => return fail("pattern", format!("does not match `{pattern}`")),
                other => {
                    return fail(
                        "pattern",
                        format!("expected a string, found {}", kind_of(other)),
                    )
                }
            }
        }
        if let Some(allowed) = &self.allowed {
            if !allowed.contains(value) {
                return fail(
                    "allowed",
                    "the value is not one of the allowed values".into(),
                );
            }
        }
        Ok(())
    }
}

fn has_type(value: &Value, kind: JsonType) -> bool {
    match kind {
        JsonType::String => value.is_string(),
        JsonType::Number => value.is_number(),
        JsonType::Integer => value.is_i64() || value.is_u64(),
        JsonType::Bool => value.is_boolean(),
        JsonType::Object => value.is_object(),
        JsonType::Array => value.is_array(),
        JsonType::Null => value.is_null(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(check: FieldCheck, body: Value) -> Result<(), &'static str> {
        let compiled = CompiledCheck::compile(&check).unwrap();
        compiled
            .check(body.as_object().unwrap())
            .map_err(|r| r.rule())
    }

    #[test]
    fn each_part_names_its_rule() {
        let c = || FieldCheck::new("a.b");
        assert_eq!(run(c().required(), json!({})), Err("required"));
        assert_eq!(run(c(), json!({})), Ok(()));
        assert_eq!(
            run(c().kind(JsonType::Integer), json!({"a": {"b": 1.5}})),
            Err("type")
        );
        assert_eq!(
            run(c().kind(JsonType::Integer), json!({"a": {"b": 2}})),
            Ok(())
        );
        assert_eq!(
            run(c().range(0.0, 10.0), json!({"a": {"b": -1}})),
            Err("min")
        );
        assert_eq!(
            run(c().range(0.0, 10.0), json!({"a": {"b": 11}})),
            Err("max")
        );
        assert_eq!(
            run(c().range(0.0, 10.0), json!({"a": {"b": "5"}})),
            Err("min")
        );
        assert_eq!(
            run(c().length(2, 3), json!({"a": {"b": "é"}})),
            Err("min_len")
        );
        assert_eq!(
            run(c().length(2, 3), json!({"a": {"b": [1, 2, 3, 4]}})),
            Err("max_len")
        );
        assert_eq!(
            run(c().pattern("^x+$"), json!({"a": {"b": "xy"}})),
            Err("pattern")
        );
        assert_eq!(run(c().pattern("^x+$"), json!({"a": {"b": "xx"}})), Ok(()));
        assert_eq!(
            run(c().allowed(vec![json!("eu")]), json!({"a": {"b": "us"}})),
            Err("allowed")
        );
    }

    #[test]
    fn bad_checks_do_not_compile() {
        assert_eq!(
            CompiledCheck::compile(&FieldCheck::new("")).unwrap_err().0,
            "field"
        );
        assert_eq!(
            CompiledCheck::compile(&FieldCheck::new("a").pattern("("))
                .unwrap_err()
                .0,
            "pattern"
        );
        assert_eq!(
            CompiledCheck::compile(&FieldCheck::new("a").range(2.0, 1.0))
                .unwrap_err()
                .0,
            "min"
        );
    }
}
