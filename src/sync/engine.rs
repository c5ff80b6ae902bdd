//! [`DataSync`]: the engine — a reader thread that pulls from the sources and hands changes to
//! worker threads over wait-free SPSC rings, partitioned by key; workers that apply batches to
//! every sink; commit-after-confirm back to the sources.
//
// Threads and what they own
// =========================
//
//   reader ──(SPSC ring per worker, partitioned by hash(key))──▶ worker 0..n ──▶ sinks
//     ▲                                                             │
//     └──────────────(MsQueue of confirmations: (source, seq))──────┘
//
// * The reader owns the sources and one `Watermark` per source. It numbers each pulled change
//   (`seq`), routes it to the worker that owns its key, and commits a source only up to the
//   highest `seq` below which every change is confirmed. A confirmation means "applied by every
//   sink, or dead-lettered with a reason", so a committed position never skips a change.
// * Each worker owns the consumer half of its ring. One key always maps to one worker, so the
//   changes of a key reach the sinks in pull order (a retried change may land after a later one
//   of the same key; the sinks' version check makes the end state the same).
// * Shutdown: the reader stops pulling, closes the rings (workers drain what is inside, then
//   exit), waits for every confirmation, commits, and returns. Nothing pulled is lost.

use super::change::Change;
use super::event::{DeadChange, Observer, Subscription, SyncEvent};
use super::metrics::{Counters, LatencySnapshot, Metrics};
use super::reconcile::{ReconcileReport, Reconciler};
use super::replica::Replica;
use super::sink::{deliver, error_chain, IntoSink, RetryPolicy, Sink};
use super::source::Source;
use super::watermark::Watermark;
use crate::handoff::{self, Consumer, Producer, PushError};
use crate::observe;
use crate::queue::MsQueue;
use crate::ConfigError;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// What the reader does when a worker's ring is full. In a configuration file: `"block"` or
/// `"reject"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FullPolicy {
    /// Wait for room (backpressure reaches the sources). The default.
    #[default]
    Block,
    /// Dead-letter the change with the reason "handoff buffer full" (never a silent drop).
    Reject,
}

/// The engine's tunable settings, loadable from a configuration file (TOML, JSON, ...): what
/// [`DataSyncBuilder::settings`] takes and the builder's setters change one at a time. Sources,
/// sinks, observers and reconciliation are code, not settings.
///
/// Missing fields keep their defaults; durations are written `"200us"`, `"5ms"`, `"1s"` (or a
/// number of milliseconds). `#[non_exhaustive]`: start from [`SyncSettings::default`].
///
/// ```
/// use mqsync::sync::{FullPolicy, SyncSettings};
/// use std::time::Duration;
///
/// let settings: SyncSettings = toml::from_str(r#"
///     workers = 4
///     linger = "1ms"
///     full_buffer = "reject"
///     [retry]
///     attempts = 3
/// "#).unwrap();
/// assert_eq!(settings.workers, 4);
/// assert_eq!(settings.linger, Duration::from_millis(1));
/// assert_eq!(settings.full_buffer, FullPolicy::Reject);
/// assert_eq!(settings.retry.attempts, 3);
/// assert_eq!(settings.batch_size, SyncSettings::default().batch_size);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SyncSettings {
    /// Worker threads (default 2); keys are partitioned among them. At least 1.
    pub workers: usize,
    /// The most changes a worker applies in one batch (default 256). At least 1.
    pub batch_size: usize,
    /// How long a worker waits to fill a batch once it has one change (default 200 µs).
    #[serde(with = "super::duration_serde")]
    pub linger: Duration,
    /// How failing sinks are retried.
    pub retry: RetryPolicy,
    /// Capacity of each worker's handoff ring (default 4096). At least 1.
    pub handoff_capacity: usize,
    /// What to do when a worker's ring is full (default: block).
    pub full_buffer: FullPolicy,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            workers: 2,
            batch_size: 256,
            linger: Duration::from_micros(200),
            retry: RetryPolicy::default(),
            handoff_capacity: 4096,
            full_buffer: FullPolicy::Block,
        }
    }
}

impl SyncSettings {
    /// Checks what [`DataSyncBuilder::start`] checks before it builds anything (the handoff
    /// rings check their own capacity, `try_spsc`): sizes of at least 1, a linger that can be added to the current time, retry
    /// backoffs of at most a year.
    fn check(&self) -> Result<(), ConfigError> {
        for (field, value) in [
            ("workers", self.workers),
            ("batch_size", self.batch_size),
            ("handoff_capacity", self.handoff_capacity),
        ] {
            if value == 0 {
                return Err(ConfigError::TooSmall {
                    field,
                    value: 0,
                    min: 1,
                });
            }
        }
        if self.retry.attempts == 0 {
            return Err(ConfigError::TooSmall {
                field: "retry.attempts",
                value: 0,
                min: 1,
            });
        }
        // With a margin of a day: a worker adds the linger to a later `now` than this one.
        let day = Duration::from_secs(86_400);
        if Instant::now()
            .checked_add(self.linger.saturating_add(day))
            .is_none()
        {
            return Err(ConfigError::Duration {
                field: "linger",
                value: self.linger,
                reason: "too long to add to the current time",
            });
        }
        // A worker sleeps each backoff and doubles it up to the maximum: both must be durations
        // a thread can sleep and double without overflow.
        for (field, value) in [
            ("retry.initial_backoff", self.retry.initial_backoff),
            ("retry.max_backoff", self.retry.max_backoff),
        ] {
            if value > day * 365 {
                return Err(ConfigError::Duration {
                    field,
                    value,
                    reason: "longer than a year",
                });
            }
        }
        Ok(())
    }
}

/// One change on its way from the reader to a worker.
struct Item {
    source: usize,
    seq: u64,
    change: Change,
    pulled_at: Instant,
}

/// State shared by the reader, the workers and the handle.
struct Shared {
    counters: Counters,
    dead: MsQueue<DeadChange>,
    confirms: MsQueue<(usize, u64)>,
    stop: AtomicBool,
    paused: AtomicBool,
    /// True while the reader found nothing to pull and nothing is in flight.
    idle: AtomicBool,
    /// Reader passes completed (so `wait_idle` can insist on a pass that began after it).
    passes: AtomicU64,
    /// Workers whose thread has not ended; each counts itself out on exit, panics included
    /// (`LiveWorker`). Read by the reader at shutdown.
    live_workers: AtomicUsize,
    subscriptions: Vec<Subscription>,
    reconciler: Option<Reconciler>,
}

impl Shared {
    fn emit(&self, event: impl FnOnce() -> SyncEvent) {
        if let Some((last, rest)) = self.subscriptions.split_last() {
            let event = event();
            for s in rest {
                s.send(event.clone());
            }
            last.send(event);
        }
    }
}

/// Builds and starts a [`DataSync`].
///
/// Setters are infallible and chain by value; [`start`](Self::start) checks everything at once
/// and names the setting it refuses ([`ConfigError`]).
///
/// ```
/// use mqsync::sync::{Change, DataSync, IterSource, Replica};
/// use serde_json::json;
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let replica = Arc::new(Replica::new());
/// let changes = (0..100).map(|i| Change::upsert(format!("k{}", i % 10), i, json!(i)));
/// let engine = DataSync::builder()
///     .source(IterSource::new("seed", changes))
///     .sink(Arc::clone(&replica)) // an Arc keeps a handle to read the replica
///     .workers(2)
///     .start()?;
/// assert!(engine.wait_idle(Duration::from_secs(30)));
/// let report = engine.shutdown();
/// assert_eq!(report.metrics.applied, 100);
/// assert_eq!(replica.get("k3"), Some(json!(93)));
///
/// let err = DataSync::builder().sink(Replica::new()).start().unwrap_err();
/// assert_eq!(err, mqsync::ConfigError::Missing("source"));
/// # Ok::<(), mqsync::ConfigError>(())
/// ```
pub struct DataSyncBuilder {
    sources: Vec<Box<dyn Source>>,
    sinks: Vec<Arc<dyn Sink>>,
    settings: SyncSettings,
    idle_wait: Duration,
    subscriptions: Vec<Subscription>,
    /// An observer given here was already taken by another builder.
    observer_reused: bool,
    reconciler: Option<Reconciler>,
}

impl Default for DataSyncBuilder {
    fn default() -> Self {
        DataSyncBuilder {
            sources: Vec::new(),
            sinks: Vec::new(),
            settings: SyncSettings::default(),
            idle_wait: Duration::from_micros(100),
            subscriptions: Vec::new(),
            observer_reused: false,
            reconciler: None,
        }
    }
}

impl DataSyncBuilder {
    /// Adds a source.
    ///
    /// ```
    /// use mqsync::sync::{Change, DataSync, IterSource};
    /// let builder = DataSync::builder().source(IterSource::new("seed", [Change::delete("k", 1)]));
    /// ```
    pub fn source(mut self, source: impl Source + 'static) -> Self {
        self.sources.push(Box::new(source));
        self
    }

    /// Adds a sink: by value, or as an `Arc<YourSink>` (or `Arc<dyn Sink>`) to keep a handle to
    /// it (a [`Replica`] to read, say). See [`IntoSink`].
    ///
    /// ```
    /// use mqsync::sync::{DataSync, Replica};
    /// use std::sync::Arc;
    ///
    /// let replica = Arc::new(Replica::new());
    /// let builder = DataSync::builder().sink(Arc::clone(&replica)).sink(Replica::new());
    /// ```
    pub fn sink(mut self, sink: impl IntoSink) -> Self {
        self.sinks.push(sink.into_sink());
        self
    }

    /// Replaces every tunable setting at once (loaded from a configuration file, say); the
    /// setters below change one each.
    ///
    /// ```
    /// use mqsync::sync::{DataSync, SyncSettings};
    /// let settings: SyncSettings = toml::from_str("workers = 8").unwrap();
    /// let builder = DataSync::builder().settings(settings);
    /// ```
    pub fn settings(mut self, settings: SyncSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Worker threads (default 2); keys are partitioned among them.
    ///
    /// ```
    /// let builder = mqsync::sync::DataSync::builder().workers(4);
    /// ```
    pub fn workers(mut self, workers: usize) -> Self {
        self.settings.workers = workers;
        self
    }

    /// The most changes a worker applies in one batch (default 256).
    ///
    /// ```
    /// let builder = mqsync::sync::DataSync::builder().batch_size(64);
    /// ```
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.settings.batch_size = batch_size;
        self
    }

    /// How long a worker waits to fill a batch once it has one change (default 200 µs).
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = mqsync::sync::DataSync::builder().linger(Duration::from_millis(1));
    /// ```
    pub fn linger(mut self, linger: Duration) -> Self {
        self.settings.linger = linger;
        self
    }

    /// How failing sinks are retried.
    ///
    /// ```
    /// use mqsync::sync::{DataSync, RetryPolicy};
    /// let builder = DataSync::builder().retry(RetryPolicy::default().attempts(3));
    /// ```
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.settings.retry = retry;
        self
    }

    /// Capacity of each worker's handoff ring (default 4096).
    ///
    /// ```
    /// let builder = mqsync::sync::DataSync::builder().handoff_capacity(1024);
    /// ```
    pub fn handoff_capacity(mut self, capacity: usize) -> Self {
        self.settings.handoff_capacity = capacity;
        self
    }

    /// What to do when a worker's ring is full (default: block).
    ///
    /// ```
    /// use mqsync::sync::{DataSync, FullPolicy};
    /// let builder = DataSync::builder().full_buffer(FullPolicy::Reject);
    /// ```
    pub fn full_buffer(mut self, policy: FullPolicy) -> Self {
        self.settings.full_buffer = policy;
        self
    }

    /// Sends the engine's events to `observer` (made with [`Observer::new`]). An observer
    /// listens to one engine: giving it to a second builder makes that one's
    /// [`start`](Self::start) fail with [`ConfigError::Invalid`] for `observe`.
    ///
    /// ```
    /// use mqsync::sync::{DataSync, Observer, ObserverMode};
    /// let observer = Observer::new(ObserverMode::Lossless(1024));
    /// let builder = DataSync::builder().observe(&observer);
    /// ```
    pub fn observe(mut self, observer: &Observer) -> Self {
        match observer.take_subscription() {
            Some(subscription) => self.subscriptions.push(subscription),
            None => self.observer_reused = true,
        }
        self
    }

    /// Reconciles `target` against the source state that `snapshot` returns (one upsert per
    /// live key), every `every` (or only on [`DataSync::reconcile_now`] when `None`). Repairs
    /// travel through the engine like pulled changes, so every sink gets them.
    ///
    /// ```
    /// use mqsync::sync::{DataSync, Replica};
    /// use std::sync::Arc;
    /// let target = Arc::new(Replica::new());
    /// let builder = DataSync::builder().reconcile(Vec::new, target, None);
    /// ```
    pub fn reconcile(
        mut self,
        snapshot: impl FnMut() -> Vec<Change> + Send + 'static,
        target: Arc<Replica>,
        every: Option<Duration>,
    ) -> Self {
        self.reconciler = Some(Reconciler::new(Box::new(snapshot), target, every));
        self
    }

    /// Checks the configuration and starts the reader and worker threads.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Missing`] without a source or a sink, [`ConfigError::TooSmall`] for a
    /// `workers`, `batch_size`, `handoff_capacity` or `retry.attempts` of 0, [`ConfigError::Duration`] for a
    /// `linger` too long to add to the current time, [`ConfigError::Invalid`] for an observer
    /// already given to another engine, [`ConfigError::Os`] when a thread cannot be started.
    ///
    /// ```
    /// use mqsync::sync::{Change, DataSync, IterSource, Replica};
    /// use mqsync::ConfigError;
    ///
    /// let err = DataSync::builder()
    ///     .source(IterSource::new("seed", [Change::delete("k", 1)]))
    ///     .sink(Replica::new())
    ///     .workers(0)
    ///     .start()
    ///     .unwrap_err();
    /// assert_eq!(err, ConfigError::TooSmall { field: "workers", value: 0, min: 1 });
    /// ```
    pub fn start(self) -> Result<DataSync, ConfigError> {
        if self.sources.is_empty() {
            return Err(ConfigError::Missing("source"));
        }
        if self.sinks.is_empty() {
            return Err(ConfigError::Missing("sink"));
        }
        if self.observer_reused {
            return Err(ConfigError::Invalid {
                field: "observe",
                value: "Observer".into(),
                reason: "this observer already listens to another engine".into(),
            });
        }
        observe::started();
        self.settings.check()?;
        let SyncSettings {
            workers: worker_count,
            batch_size,
            linger,
            retry,
            handoff_capacity,
            full_buffer,
        } = self.settings;
        let shared = Arc::new(Shared {
            counters: Counters::new(),
            dead: MsQueue::new(),
            confirms: MsQueue::new(),
            stop: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            idle: AtomicBool::new(false),
            passes: AtomicU64::new(0),
            live_workers: AtomicUsize::new(worker_count),
            subscriptions: self.subscriptions,
            reconciler: self.reconciler,
        });
        let mut producers = Vec::with_capacity(worker_count);
        let mut workers = Vec::with_capacity(worker_count);
        for index in 0..worker_count {
            // Every ring has the same capacity: a refusal comes at index 0, before any thread
            // is spawned. The ring names its setting `capacity`; here it is `handoff_capacity`.
            let (producer, consumer) =
                handoff::try_spsc(handoff_capacity).map_err(|err| match err {
                    ConfigError::TooLarge { value, max, .. } => ConfigError::TooLarge {
                        field: "handoff_capacity",
                        value,
                        max,
                    },
                    other => other,
                })?;
            producers.push(producer);
            let worker = Worker {
                consumer,
                sinks: self.sinks.clone(),
                shared: Arc::clone(&shared),
                retry: retry.clone(),
                batch_size,
                linger,
            };
            let handle = thread::Builder::new()
                .name(format!("mqsync-sync-worker-{index}"))
                .spawn(move || worker.run())
                .map_err(|e| ConfigError::os("sync worker thread", &e))?;
            workers.push(handle);
        }
        let names = self.sources.iter().map(|s| s.name().to_owned()).collect();
        let reader = Reader {
            marks: vec![Watermark::new(); self.sources.len() + 1],
            committed: vec![None; self.sources.len()],
            sources: self.sources,
            producers,
            shared: Arc::clone(&shared),
            batch_size,
            full: full_buffer,
            idle_wait: self.idle_wait,
        };
        let reader = thread::Builder::new()
            .name("mqsync-sync-reader".into())
            .spawn(move || reader.run())
            .map_err(|e| ConfigError::os("sync reader thread", &e))?;
        Ok(DataSync {
            shared,
            reader: Some(reader),
            workers,
            names,
        })
    }
}

impl fmt::Debug for DataSyncBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataSyncBuilder")
            .field("sources", &self.sources.len())
            .field("sinks", &self.sinks.len())
            .field("settings", &self.settings)
            .field("observers", &self.subscriptions.len())
            .finish_non_exhaustive()
    }
}

/// A running sync engine. Dropping it shuts it down gracefully (as [`shutdown`](Self::shutdown)).
pub struct DataSync {
    shared: Arc<Shared>,
    reader: Option<JoinHandle<Vec<Option<u64>>>>,
    workers: Vec<JoinHandle<()>>,
    names: Vec<String>,
}

/// What a finished engine did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SyncReport {
    /// The final counters (`pulled = applied + dead_lettered`).
    pub metrics: Metrics,
    /// Dead letters not taken out of [`DataSync::dead_letters`] before the shutdown.
    pub dead_letters: Vec<DeadChange>,
    /// Per source: its name and the last change number committed to it.
    pub committed: Vec<(String, Option<u64>)>,
}

impl DataSync {
    /// Starts a builder (2 workers, batches of 256, 200 µs linger, blocking handoff).
    pub fn builder() -> DataSyncBuilder {
        DataSyncBuilder::default()
    }

    /// The counters right now.
    pub fn metrics(&self) -> Metrics {
        self.shared.counters.read()
    }

    /// The source-to-apply latency since the previous call (or the start), and a new interval
    /// begins: for a dashboard that wants this minute's p99, not the p99 since the start
    /// ([`Metrics::latency`]). Example at [`LatencySnapshot`].
    pub fn take_latency(&self) -> LatencySnapshot {
        self.shared.counters.latency.take()
    }

    /// The changes that could not be applied, with reasons (take them out to replay them).
    pub fn dead_letters(&self) -> &MsQueue<DeadChange> {
        &self.shared.dead
    }

    /// Stops pulling from the sources; changes already pulled are still applied.
    pub fn pause(&self) {
        // Relaxed: a request the reader polls; nothing is published with it.
        self.shared.paused.store(true, Ordering::Relaxed);
    }

    /// Resumes pulling.
    pub fn resume(&self) {
        self.shared.paused.store(false, Ordering::Relaxed);
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.shared.paused.load(Ordering::Relaxed)
    }

    /// Runs reconciliation now (if configured): compares, queues repairs, returns what it found.
    pub fn reconcile_now(&self) -> Option<ReconcileReport> {
        let report = self.shared.reconciler.as_ref()?.run();
        let event = report.clone();
        self.shared.emit(|| SyncEvent::Reconciled(event));
        Some(report)
    }

    /// Waits until the engine is idle — a reader pass that began after this call found nothing
    /// to pull and nothing in flight — or `timeout` passes. True if idle. Call it after your
    /// producers are done to wait for the engine to catch up.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        // A timeout too long for the clock waits without a deadline.
        let deadline = Instant::now().checked_add(timeout);
        // AcqRel RMW that adds nothing, not a load: it joins `passes`' release sequence, so the
        // reader's next (AcqRel) increment synchronizes with it, and everything this thread did
        // before the call (pushes into a source, `reconcile_now`'s repairs) happens-before the
        // passes counted below. With a plain load nothing orders those writes for the reader,
        // which may then keep reading a stale, empty queue and report idle (miri's weak-memory
        // emulation did: reconciliation repairs left unrouted, .ci/miri's sync engine run).
        // Acquire: pairs with the reader's Release increment.
        let start = self.shared.passes.fetch_add(0, Ordering::AcqRel);
        loop {
            // Acquire: pairs with the reader's Release stores (its counters are then settled).
            let passes = self.shared.passes.load(Ordering::Acquire);
            if passes >= start + 2 && self.shared.idle.load(Ordering::Acquire) {
                return true;
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return false;
            }
            thread::sleep(Duration::from_micros(200));
        }
    }

    /// Stops intake, drains everything in flight through the sinks, commits the sources, joins
    /// the threads and reports. Nothing pulled is lost. (If a worker thread died, from a panic
    /// outside the sinks' guard, the changes it never confirmed are not committed: a durable
    /// source delivers them again.)
    pub fn shutdown(mut self) -> SyncReport {
        self.stop()
    }

    fn stop(&mut self) -> SyncReport {
        // Release: pairs with the reader's Acquire load.
        self.shared.stop.store(true, Ordering::Release);
        let committed = match self.reader.take() {
            Some(reader) => reader.join().unwrap_or_default(),
            None => Vec::new(),
        };
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        SyncReport {
            metrics: self.shared.counters.read(),
            dead_letters: std::iter::from_fn(|| self.shared.dead.pop()).collect(),
            committed: self.names.iter().cloned().zip(committed).collect(),
        }
    }
}

impl Drop for DataSync {
    fn drop(&mut self) {
        if self.reader.is_some() {
            let _ = self.stop();
        }
    }
}

impl fmt::Debug for DataSync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataSync")
            .field("sources", &self.names)
            .field("workers", &self.workers.len())
            .field("metrics", &self.metrics())
            .finish()
    }
}

/// The reader thread's state.
struct Reader {
    sources: Vec<Box<dyn Source>>,
    /// One per source, plus the last one for reconciliation repairs.
    marks: Vec<Watermark>,
    committed: Vec<Option<u64>>,
    producers: Vec<Producer<Item>>,
    shared: Arc<Shared>,
    batch_size: usize,
    full: FullPolicy,
    idle_wait: Duration,
}

impl Reader {
    fn run(mut self) -> Vec<Option<u64>> {
        let repairs = self.sources.len();
        let mut last_reconcile = Instant::now();
        loop {
            self.settle();
            // Acquire: pairs with the Release store in `DataSync::stop`.
            if self.shared.stop.load(Ordering::Acquire) {
                break;
            }
            if self.shared.paused.load(Ordering::Relaxed) {
                thread::sleep(self.idle_wait);
                continue;
            }
            let mut routed = 0;
            if let Some(reconciler) = &self.shared.reconciler {
                if reconciler
                    .every
                    .is_some_and(|every| last_reconcile.elapsed() >= every)
                {
                    let report = reconciler.run();
                    self.shared.emit(|| SyncEvent::Reconciled(report));
                    last_reconcile = Instant::now();
                }
            }
            while let Some(change) = self
                .shared
                .reconciler
                .as_ref()
                .and_then(|r| r.repairs.pop())
            {
                self.route(repairs, change, Instant::now());
                routed += 1;
            }
            for index in 0..self.sources.len() {
                match self.sources[index].pull(self.batch_size) {
                    Ok(changes) => {
                        // One clock read per pull: the changes of a pull left their source
                        // together.
                        let pulled_at = Instant::now();
                        observe::sync_pulled(
                            self.sources[index].name(),
                            changes.len(),
                            self.marks[index].in_flight(),
                        );
                        routed += changes.len();
                        for change in changes {
                            self.route(index, change, pulled_at);
                        }
                    }
                    Err(error) => {
                        let source = self.sources[index].name().to_owned();
                        observe::sync_source_error(&source, "pull", &error);
                        self.shared.emit(|| SyncEvent::SourceError {
                            source,
                            error: error_chain(&error),
                        });
                    }
                }
            }
            let idle = routed == 0 && self.marks.iter().all(|m| m.in_flight() == 0);
            // Release: the counters read after `wait_idle` sees this are settled.
            self.shared.idle.store(idle, Ordering::Release);
            // Release: pairs with the Acquire loads in `wait_idle`. Acquire: pairs with the RMW
            // that starts `wait_idle`, so the waiter's earlier writes are visible to the next pass.
            self.shared.passes.fetch_add(1, Ordering::AcqRel);
            if routed == 0 {
                thread::sleep(self.idle_wait);
            }
        }
        // Shutdown: close the rings; workers drain them and exit.
        self.producers.clear();
        while self.marks.iter().any(|m| m.in_flight() > 0) {
            self.settle();
            // Acquire: pairs with the Release decrement of a worker that exits.
            if self.shared.live_workers.load(Ordering::Acquire) == 0 {
                self.settle();
                break; // only a worker that panicked outside the sinks can leave work behind
            }
            thread::sleep(self.idle_wait);
        }
        self.committed
    }

    /// Numbers a change and hands it to the worker that owns its key.
    fn route(&mut self, source: usize, change: Change, pulled_at: Instant) {
        let seq = self.marks[source].issue();
        Counters::add(&self.shared.counters.pulled, 1);
        let worker = (partition_hash(&change.key) % self.producers.len() as u64) as usize;
        let item = Item {
            source,
            seq,
            change,
            pulled_at,
        };
        let producer = &mut self.producers[worker];
        let refused = match self.full {
            FullPolicy::Block => producer.push_blocking(item).err(),
            FullPolicy::Reject => producer.push(item).err(),
        };
        if let Some(refused) = refused {
            let reason = match &refused {
                PushError::Full(_) => "handoff buffer full",
                PushError::Closed(_) => "worker stopped",
            };
            let item = refused.into_inner();
            let dead = DeadChange::new(item.change, "engine", reason);
            Counters::add(&self.shared.counters.dead_lettered, 1);
            observe::sync_dead_letter(&dead.sink, &dead.change.key, &dead.reason);
            let event = dead.clone();
            self.shared.emit(|| SyncEvent::DeadLettered(event));
            self.shared.dead.push(dead);
            self.marks[source].confirm(seq);
        }
    }

    /// Takes the workers' confirmations and commits each source as far as it may.
    fn settle(&mut self) {
        let mut confirmed = Vec::new();
        while self.shared.confirms.pop_many(&mut confirmed, 1024) > 0 {
            for (source, seq) in confirmed.drain(..) {
                self.marks[source].confirm(seq);
            }
        }
        for index in 0..self.sources.len() {
            let Some(through) = self.marks[index].committable() else {
                continue;
            };
            if self.committed[index] == Some(through) {
                continue;
            }
            match self.sources[index].commit(through) {
                Ok(()) => {
                    let newly = through + 1 - self.committed[index].map_or(0, |c| c + 1);
                    Counters::add(&self.shared.counters.committed, newly);
                    observe::sync_committed(self.sources[index].name(), newly, through);
                    observe::sync_in_flight(
                        self.sources[index].name(),
                        self.marks[index].in_flight(),
                    );
                    self.committed[index] = Some(through);
                    let source = self.sources[index].name().to_owned();
                    self.shared
                        .emit(|| SyncEvent::Committed { source, through });
                }
                Err(error) => {
                    let source = self.sources[index].name().to_owned();
                    observe::sync_source_error(&source, "commit", &error);
                    self.shared.emit(|| SyncEvent::SourceError {
                        source,
                        error: error_chain(&error),
                    });
                }
            }
        }
    }
}

/// FNV-1a over the key's bytes: stable, fast for short keys, and good enough to spread keys
/// over a handful of workers (SipHash's flooding resistance buys nothing here).
fn partition_hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Counts a worker out of `Shared::live_workers` when dropped: at the end of `Worker::run`, or
/// while its thread unwinds.
struct LiveWorker(Arc<Shared>);

impl Drop for LiveWorker {
    fn drop(&mut self) {
        // Release: pairs with the reader's Acquire load at shutdown (every confirmation this
        // worker pushed is visible once the count reads 0).
        self.0.live_workers.fetch_sub(1, Ordering::Release);
    }
}

/// A worker thread's state.
struct Worker {
    consumer: Consumer<Item>,
    sinks: Vec<Arc<dyn Sink>>,
    shared: Arc<Shared>,
    retry: RetryPolicy,
    batch_size: usize,
    linger: Duration,
}

impl Worker {
    fn run(mut self) {
        // Counted out however the thread ends, unwinding included: at shutdown the reader stops
        // waiting for confirmations once no worker is live, and a worker that died without
        // counting itself out (a panic outside the sinks' guard) would keep it waiting forever.
        let _live = LiveWorker(Arc::clone(&self.shared));
        let mut items = Vec::with_capacity(self.batch_size);
        while let Ok(first) = self.consumer.pop_blocking() {
            items.push(first);
            let deadline = Instant::now() + self.linger;
            while items.len() < self.batch_size {
                let room = self.batch_size - items.len();
                if self.consumer.pop_many(&mut items, room) > 0 {
                    continue;
                }
                match self.consumer.pop_deadline(deadline) {
                    Ok(item) => items.push(item),
                    Err(_) => break,
                }
            }
            self.apply(&mut items);
        }
    }

    /// Applies one batch to every sink, then confirms each change (applied or dead-lettered).
    fn apply(&self, items: &mut Vec<Item>) {
        let mut meta = Vec::with_capacity(items.len());
        let mut changes = Vec::with_capacity(items.len());
        for item in items.drain(..) {
            meta.push((item.source, item.seq, item.pulled_at));
            changes.push(item.change);
        }
        let _batch = observe::sync_batch(changes.len());
        let mut dead: Vec<Option<(String, String)>> = vec![None; changes.len()];
        for sink in &self.sinks {
            let delivering = observe::sync_deliver(sink.name(), changes.len());
            let report = deliver(sink.as_ref(), &changes, &self.retry);
            observe::sync_delivered(delivering, sink.name(), report.retries);
            if report.retries > 0 {
                Counters::add(&self.shared.counters.retries, report.retries);
                let name = sink.name().to_owned();
                self.shared.emit(|| SyncEvent::Retried {
                    sink: name,
                    attempts: report.retries,
                });
            }
            for (index, reason) in report.dead {
                dead[index].get_or_insert_with(|| (sink.name().to_owned(), reason));
            }
        }
        let now = Instant::now();
        let mut confirms = Vec::with_capacity(changes.len());
        let (mut applied, mut dead_lettered) = (0, 0);
        for ((change, fate), (source, seq, pulled_at)) in changes.into_iter().zip(dead).zip(meta) {
            match fate {
                None => {
                    applied += 1;
                    self.shared.counters.latency.record(now - pulled_at);
                    observe::sync_applied(now - pulled_at);
                    self.shared.emit(|| SyncEvent::Applied(change));
                }
                Some((sink, reason)) => {
                    dead_lettered += 1;
                    let dead = DeadChange::new(change, sink, reason);
                    observe::sync_dead_letter(&dead.sink, &dead.change.key, &dead.reason);
                    let event = dead.clone();
                    self.shared.emit(|| SyncEvent::DeadLettered(event));
                    self.shared.dead.push(dead);
                }
            }
            confirms.push((source, seq));
        }
        // Counters first, then the confirmations: once the reader has every confirmation, the
        // counters are final.
        Counters::add(&self.shared.counters.applied, applied);
        Counters::add(&self.shared.counters.dead_lettered, dead_lettered);
        self.shared.confirms.push_batch(confirms);
    }
}
