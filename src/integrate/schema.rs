//! The optional `schema` rule: JSON Schema validation of the final body, by the jsonschema
//! crate (cargo feature `schema`, jsonschema's default features off: no remote references).
//!
//! Without the feature a `schema` rule does not compile, so rules never pass silently
//! unchecked.

use super::rejection::Reason;
use serde_json::{Map, Value};

/// A compiled JSON Schema.
#[cfg(feature = "schema")]
pub(crate) struct CompiledSchema(jsonschema::Validator);

/// Stands in for a compiled schema in builds without the `schema` feature; never made.
#[cfg(not(feature = "schema"))]
pub(crate) struct CompiledSchema(std::convert::Infallible);

impl std::fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompiledSchema(..)")
    }
}

impl CompiledSchema {
    /// Compiles `schema`; the error is the rule error's message.
    #[cfg(feature = "schema")]
    pub(crate) fn compile(schema: &Value) -> Result<Self, String> {
        jsonschema::validator_for(schema)
            .map(CompiledSchema)
            .map_err(|e| e.to_string())
    }

    /// Always fails: the feature is off.
    #[cfg(not(feature = "schema"))]
    pub(crate) fn compile(_schema: &Value) -> Result<Self, String> {
        Err("the `schema` rule needs mqsync's `schema` cargo feature".to_owned())
    }

    /// Validates the body; the first error becomes the reason, its instance path the field.
    #[cfg(feature = "schema")]
    pub(crate) fn check(&self, body: &mut Map<String, Value>) -> Result<(), Reason> {
        // The validator reads a `Value`; move the map in and back out rather than clone it.
        let value = Value::Object(std::mem::take(body));
        let failure = self.0.iter_errors(&value).next().map(|error| {
            let pointer = error.instance_path().to_string();
            let field = pointer.trim_start_matches('/').replace('/', ".");
            (
                if field.is_empty() {
                    "(body)".to_owned()
                } else {
                    field
                },
                error.to_string(),
            )
        });
        if let Value::Object(map) = value {
            *body = map;
        }
        match failure {
            Some((field, detail)) => Err(Reason::Rule {
                field,
                rule: "schema",
                detail,
            }),
            None => Ok(()),
        }
    }

    /// Never called: no `CompiledSchema` exists without the feature.
    #[cfg(not(feature = "schema"))]
    pub(crate) fn check(&self, _body: &mut Map<String, Value>) -> Result<(), Reason> {
        match self.0 {}
    }
}
