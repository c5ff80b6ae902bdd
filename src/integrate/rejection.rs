//! Why an input was turned away ([`Reason`]), the dead letter itself ([`Rejection`]), and the
//! result of a batch ([`BatchOutcome`]).

use super::{Input, Message};

/// Why an input did not become a [`Message`]. Each reason names the rule, and the field where
/// there is one ([`Reason::field`], [`Reason::rule`]).
///
/// ```
/// use mqsync::integrate::{Integrator, Raw};
/// let reason = Integrator::default().integrate(Raw::Json(b"[1, 2]".to_vec())).unwrap_err().reason;
/// assert_eq!(reason.to_string(), "unsupported message type: json array");
/// assert_eq!(reason.rule(), "place");
/// assert_eq!(reason.field(), None);
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Reason {
    /// The payload decoded, but no placement rule puts its kind into an object body.
    #[error("unsupported message type: {kind}")]
    UnsupportedType {
        /// What the payload was (`"json array"`, `"binary"`, ...).
        kind: &'static str,
    },
    /// The payload does not parse as its format.
    #[error("malformed {format}: {detail}")]
    Malformed {
        /// The format ([`Raw::format`](super::Raw::format)).
        format: &'static str,
        /// The parser's message.
        detail: String,
    },
    /// The payload is larger than the source's `max_size`.
    #[error("input of {size} bytes exceeds max_size {limit}")]
    TooLarge {
        /// The payload's size in bytes.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The payload nests deeper than the source's `max_depth`.
    #[error("nesting exceeds max_depth {limit}")]
    TooDeep {
        /// The limit in force.
        limit: usize,
    },
    /// A mapping or validation rule failed on one field.
    #[error("field `{field}` fails rule `{rule}`: {detail}")]
    Rule {
        /// The field path as the rule names it.
        field: String,
        /// The rule (`"required"`, `"convert"`, `"max"`, `"pattern"`, ...).
        rule: &'static str,
        /// What was wrong.
        detail: String,
    },
}

impl Reason {
    /// The field the failing rule names, if the rule is about one field.
    ///
    /// ```
    /// use mqsync::integrate::{Integrator, Raw, SourceRules};
    /// let integrator = Integrator::builder().default_rules(SourceRules::new().version_from("v")).build().unwrap();
    /// let reason = integrator.integrate(Raw::Logfmt("v=x".into())).unwrap_err().reason;
    /// assert_eq!(reason.field(), Some("v"));
    /// ```
    pub fn field(&self) -> Option<&str> {
        match self {
            Reason::Rule { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The name of the rule that failed (`"place"`, `"decode"`, `"max_size"`, `"max_depth"`,
    /// or a field rule's name).
    ///
    /// ```
    /// use mqsync::integrate::{Integrator, Raw};
    /// let reason = Integrator::default().integrate(Raw::Float(f64::NAN)).unwrap_err().reason;
    /// assert_eq!(reason.rule(), "decode");
    /// ```
    pub fn rule(&self) -> &'static str {
        match self {
            Reason::UnsupportedType { .. } => "place",
            Reason::Malformed { .. } => "decode",
            Reason::TooLarge { .. } => "max_size",
            Reason::TooDeep { .. } => "max_depth",
            Reason::Rule { rule, .. } => rule,
        }
    }

    pub(crate) fn rule_failed(field: &str, rule: &'static str, detail: impl Into<String>) -> Self {
        Reason::Rule {
            field: field.to_owned(),
            rule,
            detail: detail.into(),
        }
    }
}

/// A dead letter: the input that was turned away, where it stood in its batch, and why.
///
/// The input is kept whole, so it can be stored and replayed once the cause is fixed.
///
/// ```
/// use mqsync::integrate::{Integrator, Raw};
/// let integrator = Integrator::default();
/// let rejection = integrator.integrate(Raw::Bool(true)).unwrap_err();
/// assert_eq!(rejection.index, 0);
/// assert_eq!(rejection.input.raw, Raw::Bool(true));
/// // Replay: the same input, same answer.
/// assert!(integrator.integrate(rejection.input).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("input {index} rejected: {reason}")]
pub struct Rejection {
    /// The input's position in its batch (or stream); 0 for a single `integrate`.
    pub index: usize,
    /// The input, unchanged; boxed so that a `Result<Message, Rejection>` stays small.
    /// `Input: From<Box<Input>>`, so it replays as it is.
    pub input: Box<Input>,
    /// Why it was rejected.
    pub reason: Reason,
}

/// What a batch became: messages in input order, and the rejected inputs.
///
/// `messages.len() + rejected.len()` always equals the number of inputs.
///
/// ```
/// use mqsync::integrate::{Integrator, Raw};
/// let out = Integrator::default().integrate_batch(vec![Raw::Int(1), Raw::Bool(false), Raw::Int(2)]);
/// assert_eq!(out.messages.len(), 2);
/// assert_eq!(out.rejected[0].index, 1);
/// assert_eq!(out.len(), 3);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchOutcome {
    /// The accepted inputs, as messages, in input order.
    pub messages: Vec<Message>,
    /// The rejected inputs, in input order.
    pub rejected: Vec<Rejection>,
}

impl BatchOutcome {
    /// An empty outcome with room for `messages` messages (rejections are rare).
    pub(crate) fn with_capacity(messages: usize) -> Self {
        BatchOutcome {
            messages: Vec::with_capacity(messages),
            rejected: Vec::new(),
        }
    }

    /// Files one result under messages or rejections.
    pub(crate) fn add(&mut self, result: Result<Message, Rejection>) {
        match result {
            Ok(message) => self.messages.push(message),
            Err(rejection) => self.rejected.push(rejection),
        }
    }

    /// How many inputs the batch had.
    ///
    /// ```
    /// let out = mqsync::integrate::Integrator::default().integrate_batch(vec![mqsync::integrate::Raw::Bool(true)]);
    /// assert_eq!(out.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.messages.len() + self.rejected.len()
    }

    /// Whether the batch had no inputs.
    ///
    /// ```
    /// assert!(mqsync::integrate::BatchOutcome::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
