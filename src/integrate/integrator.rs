//! The [`Integrator`]: compiled rules per source, applied to one input, a batch in parallel on
//! rayon, or a stream of inputs moved from one [`MsQueue`] to another.

use super::pipeline::Pipeline;
use super::rejection::{BatchOutcome, Rejection};
use super::rules::{RuleError, RuleSet, SourceRules};
use super::{Input, Message, Raw};
use crate::queue::MsQueue;
use crate::ConfigError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

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
        self.integrate_keeping_payload(index, input).0
    }

    /// [`integrate_at`](Self::integrate_at), handing an accepted input's payload back.
    fn integrate_keeping_payload(
        &self,
        index: usize,
        input: Input,
    ) -> (Result<Message, Rejection>, Option<Raw>) {
        let pipeline = if self.sources.is_empty() {
            &self.default
        } else {
            self.sources.get(&input.source).unwrap_or(&self.default)
        };
        let (result, payload) = pipeline.run_keeping_payload(input);
        let result = result.map_err(|(input, reason)| Rejection {
            index,
            input,
            reason,
        });
        (result, payload)
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
        // A batch under two chunks stays on the calling thread: splitting it would cost more
        // than it saves.
        let outcome = if count < self.chunk_size.saturating_mul(2) || self.threads() < 2 {
            let mut outcome = BatchOutcome::with_capacity(count);
            for (i, input) in inputs.into_iter().enumerate() {
                outcome.add(self.integrate_at(offset + i, input.into()));
            }
            outcome
        } else {
            self.integrate_together(offset, inputs)
        };
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
    /// A batch of at least two chunks, shared by the calling thread and all but one of the
    /// pool's threads: each takes the next chunk nobody has taken until none is left, so as
    /// many threads work as the pool has, and fast ones take more chunks. Results keep input
    /// order: chunk `k` holds inputs `k * chunk_size ..`.
    ///
    /// Memory stays with the thread that made it where the library can arrange it, because
    /// glibc's malloc is slow at re-using memory that another thread freed into its arena:
    /// - the calling thread works rather than waits: it allocated the inputs, and most likely
    ///   frees the messages, so what it integrates is allocated and freed on one thread;
    /// - a pool thread hands the payloads of the inputs it accepted back, and the calling
    ///   thread frees them after the scope.
    ///
    /// docs/integrate.md#batches has the measurements.
    fn integrate_together<I: Into<Input> + Send>(
        &self,
        offset: usize,
        inputs: Vec<I>,
    ) -> BatchOutcome {
        let size = self.chunk_size;
        let count = inputs.len();
        let mut chunks = Vec::with_capacity(count.div_ceil(size));
        let mut rest = inputs.into_iter();
        loop {
            let chunk: Vec<I> = rest.by_ref().take(size).collect();
            if chunk.is_empty() {
                break;
            }
            chunks.push(Mutex::new(Some(chunk)));
        }
        let done: Vec<OnceLock<Done>> = chunks.iter().map(|_| OnceLock::new()).collect();
        // The next chunk to take. Relaxed: the counter only hands out indexes, each once (the
        // RMW's atomicity is all that matters); the chunk itself is passed through its mutex,
        // and the results back through their `OnceLock`s and the scope's join.
        let next = AtomicUsize::new(0);
        // `helper`: on a pool thread, which hands the payloads of the inputs it accepted back
        // for the calling thread, which allocated them, to free.
        let work = |helper: bool| loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = chunks.get(k) else { return };
            let chunk = slot
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .unwrap_or_default();
            let first = offset + k * size;
            let mut outcome = BatchOutcome::with_capacity(chunk.len());
            let mut payloads = Vec::with_capacity(if helper { chunk.len() } else { 0 });
            for (i, input) in chunk.into_iter().enumerate() {
                let (result, payload) = self.integrate_keeping_payload(first + i, input.into());
                outcome.add(result);
                if helper {
                    payloads.extend(payload);
                }
            }
            // Chunk `k` is handed out once, so its results are set once.
            let _ = done[k].set(Done { outcome, payloads });
        };
        let helpers = self.threads().saturating_sub(1);
        match &self.pool {
            Some(pool) => pool.in_place_scope(|scope| together(scope, helpers, &work)),
            None => rayon::in_place_scope(|scope| together(scope, helpers, &work)),
        }
        let mut outcome = BatchOutcome::with_capacity(count);
        for chunk in done {
            let chunk = chunk.into_inner().unwrap_or_else(|| {
                unreachable!("the scope joins every worker, and every chunk was taken")
            });
            outcome.messages.extend(chunk.outcome.messages);
            outcome.rejected.extend(chunk.outcome.rejected);
            drop(chunk.payloads);
        }
        outcome
    }

    /// The number of threads batches run on.
    fn threads(&self) -> usize {
        match &self.pool {
            Some(pool) => pool.current_num_threads(),
            None => rayon::current_num_threads(),
        }
    }
}

/// Runs `work(false)` on the calling thread and `work(true)` on `helpers` tasks spawned into
/// `scope`'s pool.
fn together<'scope>(
    scope: &rayon::Scope<'scope>,
    helpers: usize,
    work: &'scope (dyn Fn(bool) + Sync),
) {
    for _ in 0..helpers {
        scope.spawn(move |_| work(true));
    }
    work(false);
}

/// One chunk's messages and rejections, in input order, and the payloads its pool thread
/// handed back.
struct Done {
    outcome: BatchOutcome,
    payloads: Vec<Raw>,
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
