//! [`DataSync`]: the engine — a reader thread that pulls from the sources and hands changes to
//! worker threads over wait-free SPSC rings, partitioned by key; workers that apply batches to
//! every sink; commit-after-confirm back to the sources.
//
// Threads and what they own
// =========================
//
//   reader ──(SPSC ring of parcels per worker, partitioned by hash(key))──▶ worker 0..n ──▶ sinks
//     ▲                                                                         │
//     └──────────(MsQueue of confirmations: (source, ticket, count))────────────┘
//
// * The reader owns the sources and one `Ledger` per source. Each pull gets a ticket and its
//   changes consecutive numbers; the reader splits the pull by the worker that owns each key
//   and hands each worker its share as one parcel (a `Vec<Change>`): one handoff per worker
//   per pull, not per change, and with one worker the pulled vector goes through untouched.
//   A source is committed only through the last change of the last pull before which every
//   change is confirmed. A confirmation means "applied by every sink, or dead-lettered with a
//   reason", so a committed position never skips a change.
// * `handoff_capacity` bounds the changes in a worker's ring (`Shared::queued`): the reader
//   waits for room, or dead-letters what does not fit (`FullPolicy`).
// * Each worker owns the consumer half of its ring and gathers parcels into batches of up to
//   `batch_size`. One key always maps to one worker, so the changes of a key reach the sinks in
//   pull order (a retried change may land after a later one of the same key; the sinks'
//   version check makes the end state the same). Bookkeeping is per parcel: one latency record,
//   one confirmation. The last sink may take the batch (`Sink::apply_owned`) when nothing needs
//   it afterwards; what it leaves after a failure is retried and dead-lettered as before.
// * Shutdown: the reader stops pulling, closes the rings (workers drain what is inside, then
//   exit), waits for every confirmation, commits, and returns. Nothing pulled is lost.

use super::change::Change;
use super::event::{DeadChange, Observer, Subscription, SyncEvent};
use super::metrics::{Counters, LatencySnapshot, Metrics};
use super::reconcile::{ReconcileReport, Reconciler};
use super::replica::Replica;
use super::sink::{deliver, deliver_owned, error_chain, IntoSink, RetryPolicy, Sink};
use super::source::Source;
use crate::handoff::{self, Consumer, Producer, PushError};
use crate::observe;
use crate::queue::MsQueue;
use crate::ConfigError;
use crossbeam_utils::CachePadded;
use std::collections::VecDeque;
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

/// Changes of one pull on their way from the reader to the worker that owns their keys: one
/// handoff for many changes.
struct Parcel {
    source: usize,
    /// The pull's ticket in its source's [`Ledger`].
    ticket: u64,
    /// When the pull left its source.
    pulled_at: Instant,
    /// In pull order; never empty.
    changes: Vec<Change>,
}

/// A worker's word to the reader: `count` changes of pull `ticket` of `source` are applied by
/// every sink, or dead-lettered.
struct Confirm {
    source: usize,
    ticket: u64,
    count: usize,
}

/// State shared by the reader, the workers and the handle.
struct Shared {
    counters: Counters,
    dead: MsQueue<DeadChange>,
    confirms: MsQueue<Confirm>,
    /// What the workers' batches left behind (applied changes, the values they replaced), for
    /// the reader to drop: freeing stays off the workers' apply path, on a thread that mostly
    /// waits for its sources.
    spent: MsQueue<Vec<Change>>,
    /// Batches in `spent`: a worker drops its own leftovers instead once the reader is
    /// [`SPENT_BACKLOG`] behind, so that neither thread waits for the other. Relaxed: it only
    /// decides who frees; the queue publishes the batches.
    spent_backlog: AtomicUsize,
    /// Per worker, the changes in its ring and not yet taken into a batch: the reader adds
    /// before it pushes a parcel and waits (or dead-letters) when the sum would pass
    /// `handoff_capacity`; the worker subtracts as it takes a parcel. Relaxed everywhere: the
    /// count only paces the reader (a stale reading makes it wait a little longer or push a
    /// little earlier, never lose a change); the ring itself publishes the parcels.
    queued: Box<[CachePadded<AtomicUsize>]>,
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
            spent: MsQueue::new(),
            spent_backlog: AtomicUsize::new(0),
            queued: (0..worker_count)
                .map(|_| CachePadded::new(AtomicUsize::new(0)))
                .collect(),
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
                index,
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
            ledgers: vec![Ledger::default(); self.sources.len() + 1],
            committed: vec![None; self.sources.len()],
            sources: self.sources,
            producers,
            shared: Arc::clone(&shared),
            batch_size,
            capacity: handoff_capacity,
            full: full_buffer,
            idle_wait: self.idle_wait,
            routed: vec![Vec::new(); worker_count],
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
    ledgers: Vec<Ledger>,
    committed: Vec<Option<u64>>,
    producers: Vec<Producer<Parcel>>,
    shared: Arc<Shared>,
    batch_size: usize,
    /// The most changes a worker's ring may hold (`handoff_capacity`).
    capacity: usize,
    full: FullPolicy,
    idle_wait: Duration,
    /// Per worker, the changes of the pull being routed (kept to reuse their allocation).
    routed: Vec<Vec<Change>>,
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
            let fixes: Vec<Change> = match &self.shared.reconciler {
                Some(reconciler) => std::iter::from_fn(|| reconciler.repairs.pop()).collect(),
                None => Vec::new(),
            };
            routed += fixes.len();
            self.route(repairs, fixes, Instant::now());
            for index in 0..self.sources.len() {
                match self.sources[index].pull(self.batch_size) {
                    Ok(changes) => {
                        // One clock read per pull: the changes of a pull left their source
                        // together.
                        let pulled_at = Instant::now();
                        observe::sync_pulled(
                            self.sources[index].name(),
                            changes.len(),
                            self.ledgers[index].in_flight(),
                        );
                        routed += changes.len();
                        self.route(index, changes, pulled_at);
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
            let idle = routed == 0 && self.ledgers.iter().all(|l| l.in_flight() == 0);
            // Release: the counters read after `wait_idle` sees this are settled.
            self.shared.idle.store(idle, Ordering::Release);
            // Release: pairs with the Acquire loads in `wait_idle`. Acquire: pairs with the RMW
            // that starts `wait_idle`, so the waiter's earlier writes are visible to the next pass.
            self.shared.passes.fetch_add(1, Ordering::AcqRel);
            if routed == 0 && !self.recycle() {
                thread::sleep(self.idle_wait);
            }
        }
        // Shutdown: close the rings; workers drain them and exit.
        self.producers.clear();
        while self.ledgers.iter().any(|l| l.in_flight() > 0) {
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

    /// Numbers the changes of one pull (one ticket in the source's ledger) and hands them to
    /// the workers that own their keys: one parcel per worker, not one handoff per change.
    fn route(&mut self, source: usize, changes: Vec<Change>, pulled_at: Instant) {
        if changes.is_empty() {
            return;
        }
        Counters::add(&self.shared.counters.pulled, changes.len() as u64);
        let ticket = self.ledgers[source].issue(changes.len());
        if self.producers.len() == 1 {
            // One worker owns every key: the pull is its parcel as it came.
            self.hand_off(0, source, ticket, changes, pulled_at);
            return;
        }
        let workers = self.producers.len() as u64;
        let mut routed = std::mem::take(&mut self.routed);
        for change in changes {
            let worker = (partition_hash(&change.key) % workers) as usize;
            routed[worker].push(change);
        }
        for (worker, part) in routed.iter_mut().enumerate() {
            if !part.is_empty() {
                let parcel = std::mem::replace(part, Vec::with_capacity(part.capacity()));
                self.hand_off(worker, source, ticket, parcel, pulled_at);
            }
        }
        self.routed = routed;
    }

    /// Pushes `changes` (of one ticket) into `worker`'s ring, in parcels that fit its capacity,
    /// waiting for room or dead-lettering what does not fit, as the [`FullPolicy`] says.
    fn hand_off(
        &mut self,
        worker: usize,
        source: usize,
        ticket: u64,
        mut changes: Vec<Change>,
        pulled_at: Instant,
    ) {
        while !changes.is_empty() {
            // Relaxed: see `Shared::queued`; the ring itself publishes the parcels.
            let queued = self.shared.queued[worker].load(Ordering::Relaxed);
            let room = self.capacity.saturating_sub(queued);
            let fits = room.min(changes.len());
            if fits == 0 {
                match self.full {
                    FullPolicy::Reject => {
                        self.dead_letter(source, ticket, changes, "handoff buffer full");
                        return;
                    }
                    // A ring whose worker is gone never makes room: the push below reports it.
                    FullPolicy::Block if !self.producers[worker].is_abandoned() => {
                        // The worker takes a whole batch at a time: wait for it, settling
                        // what it confirms and freeing what it left meanwhile.
                        self.settle();
                        if !self.recycle() {
                            thread::sleep(self.idle_wait);
                        }
                        continue;
                    }
                    FullPolicy::Block => {}
                }
            }
            let rest = if fits > 0 && fits < changes.len() {
                changes.split_off(fits)
            } else {
                Vec::new()
            };
            let len = changes.len();
            // Relaxed: as above; the worker subtracts once it takes the parcel.
            self.shared.queued[worker].fetch_add(len, Ordering::Relaxed);
            let parcel = Parcel {
                source,
                ticket,
                pulled_at,
                changes,
            };
            if let Err(refused) = self.producers[worker].push(parcel) {
                self.shared.queued[worker].fetch_sub(len, Ordering::Relaxed);
                let reason = match &refused {
                    PushError::Full(_) => "handoff buffer full",
                    PushError::Closed(_) => "worker stopped",
                };
                let parcel = refused.into_inner();
                self.dead_letter(source, ticket, parcel.changes, reason);
            }
            changes = rest;
        }
    }

    /// Dead-letters changes the engine itself could not hand to a worker, and confirms them.
    fn dead_letter(&mut self, source: usize, ticket: u64, changes: Vec<Change>, reason: &str) {
        let count = changes.len();
        Counters::add(&self.shared.counters.dead_lettered, count as u64);
        for change in changes {
            let dead = DeadChange::new(change, "engine", reason);
            observe::sync_dead_letter(&dead.sink, &dead.change.key, &dead.reason);
            let event = dead.clone();
            self.shared.emit(|| SyncEvent::DeadLettered(event));
            self.shared.dead.push(dead);
        }
        self.ledgers[source].confirm(ticket, count);
    }

    /// Drops one batch of what the workers left behind; false if there was none.
    fn recycle(&mut self) -> bool {
        let Some(spent) = self.shared.spent.pop() else {
            return false;
        };
        // Relaxed: see `Shared::spent_backlog`.
        self.shared.spent_backlog.fetch_sub(1, Ordering::Relaxed);
        drop(spent);
        true
    }

    /// Takes the workers' confirmations and commits each source as far as it may.
    fn settle(&mut self) {
        let mut confirmed = Vec::new();
        while self.shared.confirms.pop_many(&mut confirmed, 1024) > 0 {
            for confirm in confirmed.drain(..) {
                self.ledgers[confirm.source].confirm(confirm.ticket, confirm.count);
            }
        }
        for index in 0..self.sources.len() {
            let Some(through) = self.ledgers[index].committable() else {
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
                        self.ledgers[index].in_flight(),
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

/// How many batches of leftovers may wait for the reader to drop them (`Shared::spent`).
const SPENT_BACKLOG: usize = 4;

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
    /// Which worker this is (its slot in `Shared::queued`).
    index: usize,
    consumer: Consumer<Parcel>,
    sinks: Vec<Arc<dyn Sink>>,
    shared: Arc<Shared>,
    retry: RetryPolicy,
    batch_size: usize,
    linger: Duration,
}

/// The part of a batch that one parcel brought: `len` changes of one ticket, pulled together.
struct Span {
    source: usize,
    ticket: u64,
    len: usize,
    pulled_at: Instant,
}

impl Worker {
    fn run(mut self) {
        // Counted out however the thread ends, unwinding included: at shutdown the reader stops
        // waiting for confirmations once no worker is live, and a worker that died without
        // counting itself out (a panic outside the sinks' guard) would keep it waiting forever.
        let _live = LiveWorker(Arc::clone(&self.shared));
        // Parcels popped from the ring and not yet in a batch (they did not fit the last one).
        let mut waiting: VecDeque<Parcel> = VecDeque::new();
        let mut popped = Vec::new();
        let mut spans = Vec::new();
        loop {
            let first = match waiting.pop_front() {
                Some(parcel) => parcel,
                None => match self.consumer.pop_blocking() {
                    Ok(parcel) => parcel,
                    Err(_) => break, // closed and drained
                },
            };
            let mut changes = self.take(first, &mut spans, Vec::new());
            let mut deadline = None;
            while changes.len() < self.batch_size {
                if waiting.is_empty() {
                    if self.consumer.pop_many(&mut popped, 64) == 0 {
                        let deadline = *deadline.get_or_insert_with(|| Instant::now() + self.linger);
                        match self.consumer.pop_deadline(deadline) {
                            Ok(parcel) => popped.push(parcel),
                            Err(_) => break,
                        }
                    }
                    waiting.extend(popped.drain(..));
                }
                match waiting.front() {
                    Some(next) if changes.len() + next.changes.len() <= self.batch_size => {}
                    _ => break, // the next parcel starts the next batch
                }
                if let Some(parcel) = waiting.pop_front() {
                    changes = self.take(parcel, &mut spans, changes);
                }
            }
            self.apply(changes, &spans);
            spans.clear();
        }
    }

    /// Adds `parcel` to the batch being gathered (`changes`), and counts it out of the ring.
    fn take(&self, parcel: Parcel, spans: &mut Vec<Span>, mut changes: Vec<Change>) -> Vec<Change> {
        let len = parcel.changes.len();
        // Relaxed: see `Shared::queued`.
        self.shared.queued[self.index].fetch_sub(len, Ordering::Relaxed);
        spans.push(Span {
            source: parcel.source,
            ticket: parcel.ticket,
            len,
            pulled_at: parcel.pulled_at,
        });
        if changes.is_empty() {
            parcel.changes
        } else {
            changes.extend(parcel.changes);
            changes
        }
    }

    /// Applies one batch to every sink, then confirms each change (applied or dead-lettered).
    fn apply(&self, mut changes: Vec<Change>, spans: &[Span]) {
        let _batch = observe::sync_batch(changes.len());
        let observed = !self.shared.subscriptions.is_empty();
        // Per change, the sink that gave up on it and why (the first one that did).
        let mut refused: Vec<Option<(String, String)>> = Vec::new();
        let mut dead: Vec<(usize, DeadChange)> = Vec::new();
        let mut spent = Vec::new();
        let Some((last, others)) = self.sinks.split_last() else {
            return;
        };
        for sink in others {
            let delivering = observe::sync_deliver(sink.name(), changes.len());
            let report = deliver(sink.as_ref(), &changes, &self.retry);
            observe::sync_delivered(delivering, sink.name(), report.retries);
            self.retried(sink.as_ref(), report.retries);
            for (index, reason) in report.dead {
                if refused.is_empty() {
                    refused.resize(changes.len(), None);
                }
                refused[index].get_or_insert_with(|| (sink.name().to_owned(), reason));
            }
        }
        let delivering = observe::sync_deliver(last.name(), changes.len());
        if !observed && refused.is_empty() {
            // Nothing needs the changes after the last sink: it may take them.
            let report = deliver_owned(last.as_ref(), changes, &self.retry, &mut spent);
            observe::sync_delivered(delivering, last.name(), report.retries);
            self.retried(last.as_ref(), report.retries);
            for (index, change, reason) in report.dead {
                dead.push((index, DeadChange::new(change, last.name(), reason)));
            }
            changes = Vec::new();
        } else {
            let report = deliver(last.as_ref(), &changes, &self.retry);
            observe::sync_delivered(delivering, last.name(), report.retries);
            self.retried(last.as_ref(), report.retries);
            if !report.dead.is_empty() && refused.is_empty() {
                refused.resize(changes.len(), None);
            }
            for (index, reason) in report.dead {
                refused[index].get_or_insert_with(|| (last.name().to_owned(), reason));
            }
        }
        // What is left of `changes`: the borrowed path's batch, split into dead and applied.
        let mut applied_changes = Vec::new();
        for (index, change) in changes.into_iter().enumerate() {
            match refused.get_mut(index).and_then(Option::take) {
                Some((sink, reason)) => dead.push((index, DeadChange::new(change, sink, reason))),
                None => applied_changes.push(change),
            }
        }
        if observed {
            self.finish(spans, dead, applied_changes, spent);
        } else {
            spent.append(&mut applied_changes);
            self.finish(spans, dead, Vec::new(), spent);
        }
    }

    /// Counts and reports the retries a sink needed for a batch.
    fn retried(&self, sink: &dyn Sink, retries: u64) {
        if retries > 0 {
            Counters::add(&self.shared.counters.retries, retries);
            let name = sink.name().to_owned();
            self.shared.emit(|| SyncEvent::Retried {
                sink: name,
                attempts: retries,
            });
        }
    }

    /// Records a delivered batch: latency per span, events, dead letters, counters, and last
    /// the confirmations. `dead` holds batch indices in increasing order.
    fn finish(
        &self,
        spans: &[Span],
        dead: Vec<(usize, DeadChange)>,
        applied: Vec<Change>,
        spent: Vec<Change>,
    ) {
        let now = Instant::now();
        let mut dead = dead;
        dead.sort_unstable_by_key(|(index, _)| *index);
        let mut start = 0;
        let mut dead_at = dead.iter().map(|(index, _)| *index).peekable();
        let mut applied_total = 0u64;
        for span in spans {
            let end = start + span.len;
            let mut gave_up = 0;
            while dead_at.next_if(|&index| index < end).is_some() {
                gave_up += 1;
            }
            let count = span.len - gave_up;
            // Every change of a span left its source at `pulled_at` and is applied now.
            let latency = now.saturating_duration_since(span.pulled_at);
            self.shared.counters.latency.record_many(latency, count as u64);
            observe::sync_applied(latency, count);
            applied_total += count as u64;
            start = end;
        }
        for change in applied {
            self.shared.emit(|| SyncEvent::Applied(change));
        }
        let dead_total = dead.len() as u64;
        for (_, dead) in dead {
            observe::sync_dead_letter(&dead.sink, &dead.change.key, &dead.reason);
            let event = dead.clone();
            self.shared.emit(|| SyncEvent::DeadLettered(event));
            self.shared.dead.push(dead);
        }
        // Relaxed: see `Shared::spent_backlog`.
        if !spent.is_empty() && self.shared.spent_backlog.load(Ordering::Relaxed) < SPENT_BACKLOG
        {
            self.shared.spent_backlog.fetch_add(1, Ordering::Relaxed);
            self.shared.spent.push(spent);
        } else {
            drop(spent);
        }
        // Counters first, then the confirmations: once the reader has every confirmation, the
        // counters are final.
        Counters::add(&self.shared.counters.applied, applied_total);
        Counters::add(&self.shared.counters.dead_lettered, dead_total);
        self.shared
            .confirms
            .push_batch(spans.iter().map(|span| Confirm {
                source: span.source,
                ticket: span.ticket,
                count: span.len,
            }));
    }
}

/// The reader's record of one source's pulls, a ticket per pull: which changes are still in
/// flight, and up to which change number the source may be committed.
///
/// Batch-granular commit-after-confirm ([`Watermark`](super::Watermark) does the same per
/// change): workers confirm whole parcels, `count` changes of one ticket at a time, in any
/// order; a pull is done once all its changes are confirmed, and the source may be committed
/// through the last change of the last pull before which every pull is done. So a commit never
/// passes an unconfirmed change, and lands on pull boundaries.
#[derive(Debug, Default, Clone)]
struct Ledger {
    /// The ticket of `pulls[0]`.
    first_ticket: u64,
    /// Per pull not yet done (and not yet below the commit point), oldest first: one past its
    /// last change number, and how many of its changes are unconfirmed. The front is never done.
    pulls: VecDeque<Pull>,
    /// One past the last change number issued.
    next_seq: u64,
    /// One past the last change number every earlier one of which is confirmed.
    done_through: u64,
    /// Issued and not yet confirmed.
    in_flight: usize,
}

#[derive(Debug, Clone)]
struct Pull {
    end: u64,
    unconfirmed: usize,
}

impl Ledger {
    /// Numbers a pull of `count` changes (at least 1) and returns its ticket.
    fn issue(&mut self, count: usize) -> u64 {
        debug_assert!(count > 0);
        self.next_seq += count as u64;
        self.in_flight += count;
        self.pulls.push_back(Pull {
            end: self.next_seq,
            unconfirmed: count,
        });
        self.first_ticket + self.pulls.len() as u64 - 1
    }

    /// Confirms `count` changes of the pull `ticket` (applied by every sink, or dead-lettered).
    fn confirm(&mut self, ticket: u64, count: usize) {
        let Some(pull) = ticket
            .checked_sub(self.first_ticket)
            .and_then(|offset| usize::try_from(offset).ok())
            .and_then(|offset| self.pulls.get_mut(offset))
        else {
            debug_assert!(false, "confirmation of unknown ticket {ticket}");
            return;
        };
        debug_assert!(count <= pull.unconfirmed);
        let count = count.min(pull.unconfirmed);
        pull.unconfirmed -= count;
        self.in_flight -= count;
        while self.pulls.front().is_some_and(|pull| pull.unconfirmed == 0) {
            if let Some(pull) = self.pulls.pop_front() {
                self.done_through = pull.end;
                self.first_ticket += 1;
            }
        }
    }

    /// The highest change number through which everything is confirmed, or `None`.
    fn committable(&self) -> Option<u64> {
        self.done_through.checked_sub(1)
    }

    /// Changes issued and not yet confirmed.
    fn in_flight(&self) -> usize {
        self.in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::Ledger;

    #[test]
    fn ledger_commits_only_past_whole_pulls_confirmed_in_any_order() {
        let mut ledger = Ledger::default();
        let a = ledger.issue(3); // changes 0..3
        let b = ledger.issue(2); // 3..5
        let c = ledger.issue(4); // 5..9
        assert_eq!((ledger.in_flight(), ledger.committable()), (9, None));
        ledger.confirm(b, 2);
        ledger.confirm(a, 1);
        assert_eq!(ledger.committable(), None, "pull a is not done");
        ledger.confirm(c, 4);
        ledger.confirm(a, 2);
        assert_eq!((ledger.in_flight(), ledger.committable()), (0, Some(8)));
        let d = ledger.issue(1);
        assert_eq!(ledger.committable(), Some(8));
        ledger.confirm(d, 1);
        assert_eq!(ledger.committable(), Some(9));
    }
}
