//! The [`Integrator`]: compiled rules per source, applied to one input, a batch in parallel on
//! rayon, or a stream of inputs moved from one [`MsQueue`] to another.

use super::pipeline::Pipeline;
use super::rejection::{BatchOutcome, Rejection};
use super::rules::{RuleError, RuleSet, SourceRules};
use super::{Input, Message};
use crate::queue::MsQueue;
use crate::ConfigError;
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

/// Default number of inputs one rayon task handles at least; batches of fewer than two chunks
/// run on the calling thread, because splitting them costs more than it saves (and a batch that
/// cannot be split would only move to another thread).
///
/// ```
/// assert_eq!(mqsync::integrate::DEFAULT_CHUNK_SIZE, 256);
/// ```
pub const DEFAULT_CHUNK_SIZE: usize = 256;

/// Turns [`Input`]s from many source systems into validated [`Message`]s.
///
/// `Integrator::default()` applies the classic convention to every source: a JSON object is the
/// body, text becomes `{"text": ..}`, a number `{"number": ..}`, anything else is rejected as
/// "unsupported message type". [`Integrator::builder`] adds rules per source.
///
/// An `Integrator` is immutable and `Sync`: share it by reference or `Arc` across threads.
/// Nothing it is given makes it panic; every input comes back as a message or a [`Rejection`].
///
/// ```
/// use mqsync::integrate::{Input, Integrator, Raw};
/// use serde_json::json;
///
/// let integrator = Integrator::default();
/// let message = integrator.integrate(Raw::Json(br#"{"user": "ada"}"#.to_vec())).unwrap();
/// assert_eq!(message.body["user"], json!("ada"));
/// assert_eq!(integrator.integrate(Raw::Text("hi".into())).unwrap().body["text"], json!("hi"));
/// assert_eq!(integrator.integrate(Input::new("meter", Raw::Int(7))).unwrap().source, "meter");
/// ```
#[derive(Debug)]
pub struct Integrator {
    /// For sources without an entry in `sources`.
    default: Pipeline,
    sources: HashMap<String, Pipeline>,
    /// Where batches run; the global rayon pool when `None`.
    pool: Option<Arc<rayon::ThreadPool>>,
    /// Inputs per rayon task; at least 1.
    chunk_size: usize,
}

impl Default for Integrator {
    fn default() -> Self {
        Integrator {
            default: Pipeline::compile("default", &SourceRules::default())
                .unwrap_or_else(|e| unreachable!("the default rules compile: {e}")),
            sources: HashMap::new(),
            pool: None,
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }
}

impl Integrator {
    /// A builder for rules per source, a thread pool and a chunk size.
    ///
    /// ```
    /// let integrator = mqsync::integrate::Integrator::builder().build().unwrap();
    /// assert!(integrator.integrate(mqsync::integrate::Raw::Int(1)).is_ok());
    /// ```
    pub fn builder() -> IntegratorBuilder {
        IntegratorBuilder::default()
    }

    /// Integrates one input (a [`Raw`](super::Raw) counts as one from the default source).
    ///
    /// A rejection has index 0 and carries the input back.
    ///
    /// ```
    /// use mqsync::integrate::{Integrator, Raw};
    /// let integrator = Integrator::default();
    /// assert_eq!(integrator.integrate(Raw::Int(5)).unwrap().body["number"], 5);
    /// let rejection = integrator.integrate(Raw::Json(b"{oops".to_vec())).unwrap_err();
    /// assert_eq!(rejection.reason.rule(), "decode");
    /// ```
    pub fn integrate(&self, input: impl Into<Input>) -> Result<Message, Rejection> {
        self.integrate_at(0, input.into())
    }

    fn integrate_at(&self, index: usize, input: Input) -> Result<Message, Rejection> {
        let pipeline = if self.sources.is_empty() {
            &self.default
        } else {
            self.sources.get(&input.source).unwrap_or(&self.default)
        };
        pipeline.run(input).map_err(|(input, reason)| Rejection {
            index,
            input,
            reason,
        })
    }

    /// Integrates a batch, in parallel when it holds at least two chunks and the pool has more
    /// than one thread; otherwise on the calling thread, as a loop of
    /// [`integrate`](Self::integrate) would.
    ///
    /// Messages keep input order; each rejection carries its input's index. Every input is
    /// accounted for: `messages.len() + rejected.len() == inputs.len()`.
    ///
    /// ```
    /// use mqsync::integrate::{Integrator, Raw};
    /// let inputs: Vec<Raw> = (0..1000).map(|i| if i % 100 == 0 { Raw::Bool(true) } else { Raw::Int(i) }).collect();
    /// let out = Integrator::default().integrate_batch(inputs);
    /// assert_eq!((out.messages.len(), out.rejected.len()), (990, 10));
    /// assert_eq!(out.messages[0].body["number"], 1);
    /// assert_eq!(out.rejected[1].index, 100);
    /// ```
    pub fn integrate_batch<I: Into<Input> + Send>(&self, inputs: Vec<I>) -> BatchOutcome {
        self.integrate_batch_from(0, inputs)
    }

    /// [`integrate_batch`](Self::integrate_batch) with indexes counted from `offset`.
    fn integrate_batch_from<I: Into<Input> + Send>(
        &self,
        offset: usize,
        inputs: Vec<I>,
    ) -> BatchOutcome {
        let count = inputs.len();
        // A blocking call gains nothing from handing all its work to one other thread, and
        // with glibc malloc it loses: inputs and messages would cross malloc arenas. Under two
        // chunks `with_min_len` could not split the batch, so it too would be one task on
        // another thread.
        let results: Vec<Result<Message, Rejection>> =
            if count < self.chunk_size.saturating_mul(2) || self.threads() < 2 {
                inputs
                    .into_iter()
                    .enumerate()
                    .map(|(i, input)| self.integrate_at(offset + i, input.into()))
                    .collect()
            } else {
                let parallel = || {
                    inputs
                        .into_par_iter()
                        .enumerate()
                        .with_min_len(self.chunk_size)
                        .map(|(i, input)| self.integrate_at(offset + i, input.into()))
                        .collect()
                };
                match &self.pool {
                    Some(pool) => pool.install(parallel),
                    None => parallel(),
                }
            };
        let mut outcome = BatchOutcome {
            messages: Vec::with_capacity(count),
            rejected: Vec::new(),
        };
        for result in results {
            match result {
                Ok(message) => outcome.messages.push(message),
                Err(rejection) => outcome.rejected.push(rejection),
            }
        }
        debug_assert_eq!(outcome.len(), count);
        outcome
    }

    /// Moves everything now in `inputs` into `messages` or `rejected`, in parallel chunks,
    /// until `inputs` is found empty. Returns how many of each it moved.
    ///
    /// Inputs are taken with [`MsQueue::pop_many`], a few chunks per worker thread at a time, so
    /// producers may keep pushing while this runs; it returns when a take finds nothing.
    /// Messages are pushed in the order their inputs were taken. A rejection's index counts
    /// inputs taken by this call, from 0.
    ///
    /// ```
    /// use mqsync::integrate::{Integrator, Raw};
    /// use mqsync::MsQueue;
    ///
    /// let (inputs, messages, rejected) = (MsQueue::new(), MsQueue::new(), MsQueue::new());
    /// for i in 0..2000 {
    ///     inputs.push(if i == 5 { Raw::Json(b"[]".to_vec()) } else { Raw::Int(i) });
    /// }
    /// let moved = Integrator::default().integrate_queue(&inputs, &messages, &rejected);
    /// assert_eq!((moved.messages, moved.rejected), (1999, 1));
    /// assert_eq!(messages.len(), 1999);
    /// assert_eq!(rejected.pop().unwrap().index, 5);
    /// ```
    pub fn integrate_queue<I: Into<Input> + Send>(
        &self,
        inputs: &MsQueue<I>,
        messages: &MsQueue<Message>,
        rejected: &MsQueue<Rejection>,
    ) -> QueueReport {
        let take = self
            .chunk_size
            .saturating_mul(self.threads().max(1))
            .saturating_mul(4);
        let mut report = QueueReport::default();
        let mut buffer = Vec::with_capacity(take);
        loop {
            let taken = inputs.pop_many(&mut buffer, take);
            if taken == 0 {
                return report;
            }
            let offset = report.messages + report.rejected;
            let outcome = self.integrate_batch_from(
                offset,
                std::mem::replace(&mut buffer, Vec::with_capacity(take)),
            );
            report.messages += outcome.messages.len();
            report.rejected += outcome.rejected.len();
            outcome.messages.into_iter().for_each(|m| messages.push(m));
            outcome.rejected.into_iter().for_each(|r| rejected.push(r));
        }
    }
}

impl Integrator {
    /// The number of threads batches run on.
    fn threads(&self) -> usize {
        match &self.pool {
            Some(pool) => pool.current_num_threads(),
            None => rayon::current_num_threads(),
        }
    }
}

/// How many inputs [`Integrator::integrate_queue`] moved, by destination.
///
/// ```
/// let report = mqsync::integrate::QueueReport::default();
/// assert_eq!(report.messages + report.rejected, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueReport {
    /// Inputs that became messages.
    pub messages: usize,
    /// Inputs that were rejected.
    pub rejected: usize,
}

/// Collects rules, a thread pool and a chunk size, then compiles them into an [`Integrator`].
///
/// ```
/// use mqsync::integrate::{Conversion, FieldCheck, Input, Integrator, JsonType, Raw, SourceRules};
///
/// let integrator = Integrator::builder()
///     .source(
///         "orders",
///         SourceRules::new()
///             .convert("amount", Conversion::Number)
///             .key_from("customer")
///             .version_from("rev")
///             .check(FieldCheck::new("amount").required().kind(JsonType::Number).range(0.0, 1e6)),
///     )
///     .chunk_size(512)
///     .build()
///     .unwrap();
/// let order = Input::new("orders", Raw::Json(br#"{"amount": "19.5", "customer": "c1", "rev": 3}"#.to_vec()));
/// let message = integrator.integrate(order).unwrap();
/// assert_eq!((message.key.as_deref(), message.version), (Some("c1"), Some(3)));
/// assert_eq!(message.body["amount"], 19.5);
/// ```
#[derive(Debug, Default)]
pub struct IntegratorBuilder {
    rules: RuleSet,
    pool: Option<Arc<rayon::ThreadPool>>,
    chunk_size: Option<usize>,
}

impl IntegratorBuilder {
    /// Rules for inputs from `source` (replacing any given before for it).
    ///
    /// ```
    /// use mqsync::integrate::{Input, Integrator, Raw, SourceRules};
    /// let integrator = Integrator::builder().source("s", SourceRules::new().key_from("k")).build().unwrap();
    /// let message = integrator.integrate(Input::new("s", Raw::Logfmt("k=a1".into()))).unwrap();
    /// assert_eq!(message.key.as_deref(), Some("a1"));
    /// ```
    pub fn source(mut self, source: impl Into<String>, rules: SourceRules) -> Self {
        self.rules.sources.insert(source.into(), rules);
        self
    }

    /// Rules for inputs from sources that have none of their own.
    ///
    /// ```
    /// use mqsync::integrate::{Integrator, Raw, SourceRules};
    /// let integrator = Integrator::builder().default_rules(SourceRules::new().drop_field("x")).build().unwrap();
    /// assert!(integrator.integrate(Raw::Logfmt("x=1 y=2".into())).unwrap().body.get("x").is_none());
    /// ```
    pub fn default_rules(mut self, rules: SourceRules) -> Self {
        self.rules.default = rules;
        self
    }

    /// Takes a loaded [`RuleSet`]: its default replaces the default rules, its sources are
    /// added (replacing same-named ones).
    ///
    /// ```
    /// use mqsync::integrate::{Integrator, RuleSet};
    /// let rules = RuleSet::from_json_str(r#"{"sources": {"s": {"id": "n"}}}"#).unwrap();
    /// assert!(Integrator::builder().rules(rules).build().is_ok());
    /// ```
    pub fn rules(mut self, rules: RuleSet) -> Self {
        self.rules.default = rules.default;
        self.rules.sources.extend(rules.sources);
        self
    }

    /// Runs batches on this pool instead of rayon's global one.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let pool = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap());
    /// let integrator = mqsync::integrate::Integrator::builder().pool(pool).build().unwrap();
    /// assert_eq!(integrator.integrate_batch(vec![mqsync::integrate::Raw::Int(1); 1000]).messages.len(), 1000);
    /// ```
    pub fn pool(mut self, pool: Arc<rayon::ThreadPool>) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Inputs per rayon task ([`DEFAULT_CHUNK_SIZE`]); at least 1, checked by
    /// [`build`](Self::build).
    ///
    /// ```
    /// let integrator = mqsync::integrate::Integrator::builder().chunk_size(64).build().unwrap();
    /// assert_eq!(integrator.integrate_batch(vec![mqsync::integrate::Raw::Int(1); 100]).len(), 100);
    /// ```
    pub fn chunk_size(mut self, inputs: usize) -> Self {
        self.chunk_size = Some(inputs);
        self
    }

    /// Compiles the rules and checks the settings.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for the field `rules`, whose value is the first bad rule's place
    /// (`sources.orders.validate[2].pattern`) and whose reason says what is wrong with it;
    /// [`ConfigError::TooSmall`] for a `chunk_size` of 0.
    ///
    /// ```
    /// use mqsync::integrate::{Integrator, SourceRules};
    /// use mqsync::ConfigError;
    ///
    /// let err = Integrator::builder().source("s", SourceRules::new().id_from("a..b")).build().unwrap_err();
    /// assert!(matches!(&err, ConfigError::Invalid { field: "rules", value, .. } if value == "sources.s.id"));
    /// let err = Integrator::builder().chunk_size(0).build().unwrap_err();
    /// assert_eq!(err, ConfigError::TooSmall { field: "chunk_size", value: 0, min: 1 });
    /// ```
    pub fn build(self) -> Result<Integrator, ConfigError> {
        if self.chunk_size == Some(0) {
            return Err(ConfigError::TooSmall {
                field: "chunk_size",
                value: 0,
                min: 1,
            });
        }
        let mut sources = HashMap::with_capacity(self.rules.sources.len());
        for (name, rules) in &self.rules.sources {
            sources.insert(
                name.clone(),
                Pipeline::compile(&format!("sources.{name}"), rules).map_err(rule_error)?,
            );
        }
        Ok(Integrator {
            default: Pipeline::compile("default", &self.rules.default).map_err(rule_error)?,
            sources,
            pool: self.pool,
            chunk_size: self.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE),
        })
    }
}

/// A rule that does not compile, as the builder convention's [`ConfigError`].
fn rule_error(error: RuleError) -> ConfigError {
    match error {
        RuleError::Invalid { rule, message } => ConfigError::Invalid {
            field: "rules",
            value: rule,
            reason: message,
        },
        other => ConfigError::Invalid {
            field: "rules",
            value: String::new(),
            reason: other.to_string(),
        },
    }
}
