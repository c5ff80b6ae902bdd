//! [`DataSyncBuilder`]: checks the configuration, then starts the reader and the workers.

use super::super::change::Change;
use super::super::event::{Observer, Subscription};
use super::super::metrics::Counters;
use super::super::reconcile::Reconciler;
use super::super::replica::Replica;
use super::super::retry::RetryPolicy;
use super::super::sink::{IntoSink, Sink};
use super::super::source::Source;
use super::handle::DataSync;
use super::ledger::Ledger;
use super::reader::Reader;
use super::settings::{FullPolicy, SyncSettings};
use super::shared::Shared;
use super::worker::Worker;
use crate::handoff;
use crate::observe;
use crate::queue::MsQueue;
use crate::ConfigError;
use crossbeam_utils::CachePadded;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

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

    /// The most changes waiting in each worker's handoff ring (default 4096).
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

impl DataSync {
    /// Starts a builder (2 workers, batches of 256, 200 µs linger, blocking handoff).
    ///
    /// ```
    /// let builder = mqsync::sync::DataSync::builder().workers(1);
    /// ```
    pub fn builder() -> DataSyncBuilder {
        DataSyncBuilder::default()
    }
}
