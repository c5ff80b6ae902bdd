//! Fault-injection tests of the sync engine: flaky, poisoned, panicking and slow sinks; several
//! producers updating keys out of order; shutdown in the middle of a burst; observers;
//! reconciliation; pause and resume. In every case the target ends equal to the source's final
//! state, every change is applied or dead-lettered with a reason, and the counts add up.

use mqsync::delivery::DeliveryQueue;
use mqsync::sync::{
    Change, DataSync, DeliverySource, FullPolicy, IterSource, Observer, ObserverMode, QueueSource,
    Replica, RetryPolicy, Sink, SinkError, SyncEvent,
};
use mqsync::MsQueue;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

mod stress;
use stress::Rng;

/// A sink in front of a replica that fails at random, always fails some keys, sometimes
/// panics, and sometimes is slow.
struct Faulty {
    inner: Replica,
    rng: Mutex<Rng>,
    poison: HashSet<String>,
}

impl Sink for Faulty {
    fn name(&self) -> &str {
        "faulty"
    }
    fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
        let roll = self
            .rng
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .u64(..100);
        match roll {
            0..=2 => panic!("faulty sink panics"),
            3..=7 => return Err(SinkError::batch("transient outage")),
            8 => thread::sleep(Duration::from_millis(2)),
            _ => {}
        }
        let mut failed = Vec::new();
        for (i, change) in batch.iter().enumerate() {
            let flaky = self.rng.lock().unwrap_or_else(|p| p.into_inner()).u64(..20) == 0;
            if self.poison.contains(&change.key) || flaky {
                failed.push((i, format!("rejected {}", change.id)));
            } else {
                self.inner.apply(change);
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(SinkError::Items(failed))
        }
    }
}

fn quiet_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}

#[test]
fn faulty_sinks_and_out_of_order_producers_converge_and_account_for_everything() {
    quiet_panics();
    const PRODUCERS: u64 = 3;
    const KEYS: u64 = 300;
    const VERSIONS: u64 = 30;
    let queue = Arc::new(MsQueue::new());
    let replica = Arc::new(Replica::new());
    let poison: HashSet<String> = ["key-7", "key-101"].iter().map(|s| s.to_string()).collect();
    let faulty = Arc::new(Faulty {
        inner: Replica::new(),
        rng: Mutex::new(Rng::with_seed(42)),
        poison: poison.clone(),
    });
    let observer = Observer::new(ObserverMode::BoundedLag(64));
    let engine = DataSync::builder()
        .source(QueueSource::new("queue", queue.clone()))
        .sink(replica.clone())
        .sink(faulty.clone())
        .workers(2)
        .batch_size(32)
        .retry(RetryPolicy::new(
            8,
            Duration::from_micros(50),
            Duration::from_millis(1),
        ))
        .observe(&observer)
        .start()
        .unwrap();

    // Each producer owns versions v ≡ p (mod PRODUCERS) of every key and pushes them in a
    // shuffled order: keys are updated out of order across and within producers.
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let queue = queue.clone();
            thread::spawn(move || {
                let mut rng = Rng::with_seed(7 + p);
                let mut mine: Vec<(u64, u64)> = (0..KEYS)
                    .flat_map(|k| {
                        (1..=VERSIONS)
                            .filter(move |v| v % PRODUCERS == p)
                            .map(move |v| (k, v))
                    })
                    .collect();
                rng.shuffle(&mut mine);
                for (k, v) in mine {
                    queue.push(Change::upsert(
                        format!("key-{k}"),
                        v,
                        json!({"k": k, "v": v}),
                    ));
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    assert!(
        engine.wait_idle(Duration::from_secs(120)),
        "engine did not catch up"
    );
    let report = engine.shutdown();
    let m = &report.metrics;
    let total = KEYS * VERSIONS;
    assert_eq!(m.pulled, total);
    assert_eq!(m.applied + m.dead_lettered, total, "{m:?}");
    assert_eq!(report.dead_letters.len() as u64, m.dead_lettered);
    assert!(report
        .dead_letters
        .iter()
        .all(|d| !d.reason.is_empty() && d.sink == "faulty"));
    for key in &poison {
        assert!(
            report.dead_letters.iter().any(|d| &d.change.key == key),
            "{key} dead-lettered"
        );
    }
    assert!(m.retries > 0);

    // The healthy replica equals the source's final state.
    let expected: BTreeMap<String, serde_json::Value> = (0..KEYS)
        .map(|k| (format!("key-{k}"), json!({"k": k, "v": VERSIONS})))
        .collect();
    assert_eq!(replica.snapshot(), expected);
    // The faulty sink too, except where its final version was dead-lettered.
    let dead_final: HashSet<&str> = report
        .dead_letters
        .iter()
        .filter(|d| d.change.version == Some(VERSIONS))
        .map(|d| d.change.key.as_str())
        .collect();
    for (key, value) in &expected {
        if !dead_final.contains(key.as_str()) {
            assert_eq!(faulty.inner.get(key).as_ref(), Some(value), "{key}");
        }
    }
    // The bounded-lag observer saw some events and counted what it missed.
    let seen = observer.drain().len() as u64;
    assert!(
        seen > 0 && seen + observer.missed() >= m.applied,
        "seen {seen} missed {}",
        observer.missed()
    );
}

#[test]
fn shutdown_mid_burst_loses_nothing_and_commits_what_was_applied() {
    let queue: DeliveryQueue<Change> = DeliveryQueue::builder().build().unwrap();
    let replica = Arc::new(Replica::new());
    let engine = DataSync::builder()
        .source(DeliverySource::new("orders", &queue))
        .sink(replica.clone())
        .workers(2)
        .start()
        .unwrap();
    let published = Arc::new(AtomicU64::new(0));
    let publisher = {
        let (queue, published) = (queue.clone(), published.clone());
        thread::spawn(move || {
            for i in 0..50_000u64 {
                queue
                    .publish(Change::upsert(format!("o{}", i % 1000), i, json!(i)))
                    .unwrap();
                published.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    thread::sleep(Duration::from_millis(20));
    let report = engine.shutdown(); // in the middle of the burst
    publisher.join().unwrap();
    let m = &report.metrics;
    assert_eq!(
        m.applied + m.dead_lettered,
        m.pulled,
        "everything pulled was finished"
    );
    assert_eq!(m.committed, m.pulled, "everything finished was committed");
    let s = queue.stats();
    assert_eq!(s.unacked, 0, "no delivery left hanging");
    assert_eq!(s.acked, m.pulled, "acked exactly what was applied");
    assert_eq!(
        s.acked + s.ready as u64,
        published.load(Ordering::Relaxed),
        "the rest waits in the queue"
    );
}

#[test]
fn reject_policy_dead_letters_instead_of_dropping() {
    /// A sink slow enough to fill a tiny handoff ring.
    struct Slow(Replica);
    impl Sink for Slow {
        fn name(&self) -> &str {
            "slow"
        }
        fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
            thread::sleep(Duration::from_millis(1));
            Sink::apply(&self.0, batch)
        }
    }
    let changes = (0..2_000u64).map(|i| Change::upsert(format!("k{i}"), 1, json!(i)));
    let engine = DataSync::builder()
        .source(IterSource::new("burst", changes))
        .sink(Slow(Replica::new()))
        .workers(1)
        .batch_size(4)
        .handoff_capacity(8)
        .full_buffer(FullPolicy::Reject)
        .start()
        .unwrap();
    assert!(engine.wait_idle(Duration::from_secs(60)));
    let report = engine.shutdown();
    let m = &report.metrics;
    assert_eq!(m.pulled, 2_000);
    assert_eq!(m.applied + m.dead_lettered, 2_000);
    assert!(m.dead_lettered > 0, "a tiny ring must overflow");
    assert!(report
        .dead_letters
        .iter()
        .all(|d| d.sink == "engine" && d.reason == "handoff buffer full"));
}

#[test]
fn lossless_observer_sees_every_applied_change() {
    let changes: Vec<Change> = (0..500u64)
        .map(|i| Change::upsert(format!("k{}", i % 50), i, json!(i)))
        .collect();
    let observer = Observer::new(ObserverMode::Lossless(16));
    let engine = DataSync::builder()
        .source(IterSource::new("seed", changes))
        .sink(Replica::new())
        .observe(&observer)
        .start()
        .unwrap();
    let mut applied = 0;
    let mut committed = None;
    while applied < 500 {
        match observer
            .next_timeout(Duration::from_secs(30))
            .expect("events keep coming")
        {
            SyncEvent::Applied(_) => applied += 1,
            SyncEvent::Committed { through, .. } => committed = Some(through),
            _ => {}
        }
    }
    assert!(engine.wait_idle(Duration::from_secs(30)));
    let report = engine.shutdown();
    assert_eq!(report.metrics.applied, 500);
    assert_eq!(observer.missed(), 0);
    assert_eq!(report.committed, [("seed".to_string(), Some(499))]);
    let _ = committed;
}

#[test]
fn reconciliation_repairs_drift() {
    let source_state: Arc<Mutex<BTreeMap<String, (u64, serde_json::Value)>>> = Arc::default();
    {
        let mut s = source_state.lock().unwrap();
        for k in 0..20u64 {
            s.insert(format!("k{k}"), (3, json!(k)));
        }
    }
    let replica = Arc::new(Replica::new());
    // Drift: the target lost some keys, holds old versions of others, and has an extra key.
    for k in 0..20u64 {
        if k % 4 != 0 {
            replica.apply(&Change::upsert(
                format!("k{k}"),
                if k % 4 == 1 { 2 } else { 3 },
                json!(k),
            ));
        }
    }
    replica.apply(&Change::upsert("ghost", 1, json!("extra")));
    let snapshot = {
        let s = source_state.clone();
        move || {
            s.lock()
                .unwrap()
                .iter()
                .map(|(k, (v, val))| Change::upsert(k.clone(), *v, val.clone()))
                .collect()
        }
    };
    let engine = DataSync::builder()
        .source(IterSource::new("none", std::iter::empty()))
        .sink(replica.clone())
        .reconcile(snapshot, replica.clone(), None)
        .start()
        .unwrap();
    let report = engine.reconcile_now().unwrap();
    assert_eq!((report.missing, report.stale, report.extra), (5, 5, 1));
    assert!(engine.wait_idle(Duration::from_secs(30)));
    let final_report = engine.shutdown();
    assert_eq!(final_report.metrics.applied, 11);
    let expected: BTreeMap<String, serde_json::Value> =
        (0..20u64).map(|k| (format!("k{k}"), json!(k))).collect();
    assert_eq!(replica.snapshot(), expected);
}

#[test]
fn pause_stops_intake_and_resume_restarts_it() {
    let queue = Arc::new(MsQueue::new());
    let engine = DataSync::builder()
        .source(QueueSource::new("q", queue.clone()))
        .sink(Replica::new())
        .start()
        .unwrap();
    engine.pause();
    thread::sleep(Duration::from_millis(10)); // let the reader see it
    queue.push_batch((0..100u64).map(|i| Change::upsert("k", i, json!(i))));
    thread::sleep(Duration::from_millis(30));
    assert_eq!(engine.metrics().pulled, 0, "paused: nothing pulled");
    engine.resume();
    assert!(engine.wait_idle(Duration::from_secs(30)));
    let report = engine.shutdown();
    assert_eq!(report.metrics.applied, 100);
    assert!(report.metrics.latency_p50.is_some() && report.metrics.latency_p99.is_some());
}

#[test]
fn bad_configuration_is_refused_before_anything_starts() {
    use mqsync::ConfigError;
    assert_eq!(
        DataSync::builder()
            .sink(Replica::new())
            .start()
            .unwrap_err(),
        ConfigError::Missing("source")
    );
    let no_sink = DataSync::builder()
        .source(IterSource::new("s", std::iter::empty()))
        .start();
    assert_eq!(no_sink.unwrap_err(), ConfigError::Missing("sink"));
    let zero = DataSync::builder()
        .source(IterSource::new("s", std::iter::empty()))
        .sink(Replica::new())
        .workers(0)
        .start();
    assert_eq!(
        zero.unwrap_err(),
        ConfigError::TooSmall {
            field: "workers",
            value: 0,
            min: 1
        }
    );
    let forever = DataSync::builder()
        .source(IterSource::new("s", std::iter::empty()))
        .sink(Replica::new())
        .linger(Duration::MAX)
        .start();
    assert_eq!(
        forever.unwrap_err(),
        ConfigError::Duration {
            field: "linger",
            value: Duration::MAX,
            reason: "too long to add to the current time"
        },
        "refused, not a panic in the worker"
    );
    let no_attempts = DataSync::builder()
        .source(IterSource::new("s", std::iter::empty()))
        .sink(Replica::new())
        .retry(RetryPolicy::default().attempts(0))
        .start();
    assert_eq!(no_attempts.unwrap_err().field(), "retry.attempts");
    // Values that used to panic later (in `spsc`, or doubling a backoff) are refused by start.
    let huge_handoff = DataSync::builder()
        .source(IterSource::new("s", std::iter::empty()))
        .sink(Replica::new())
        .handoff_capacity(usize::MAX)
        .start();
    assert!(matches!(
        huge_handoff.unwrap_err(),
        ConfigError::TooLarge {
            field: "handoff_capacity",
            ..
        }
    ));
    let huge_backoff = DataSync::builder()
        .source(IterSource::new("s", std::iter::empty()))
        .sink(Replica::new())
        .retry(RetryPolicy::new(3, Duration::MAX, Duration::MAX))
        .start();
    assert_eq!(huge_backoff.unwrap_err().field(), "retry.initial_backoff");
    // A timeout too long for the clock waits without a deadline instead of panicking.
    let idle = DataSync::builder()
        .source(IterSource::new("s", std::iter::empty()))
        .sink(Replica::new())
        .start()
        .unwrap();
    assert!(idle.wait_idle(Duration::MAX));
    idle.shutdown();
    // An observer listens to one engine: the second builder that is given it refuses to start
    // (rather than leave it silently deaf).
    let observer = Observer::new(ObserverMode::Lossless(4));
    let first = DataSync::builder()
        .source(IterSource::new("s", std::iter::empty()))
        .sink(Replica::new())
        .observe(&observer)
        .start()
        .unwrap();
    let second = DataSync::builder()
        .source(IterSource::new("s", std::iter::empty()))
        .sink(Replica::new())
        .observe(&observer)
        .start();
    assert_eq!(second.unwrap_err().field(), "observe");
    first.shutdown();
}

/// A sink that refuses every batch and whose `name` panics (after saying so): the worker that
/// dead-letters a change calls `name` outside `deliver`'s panic guard, and dies.
struct NamePanics(Arc<std::sync::atomic::AtomicBool>);

impl Sink for NamePanics {
    fn name(&self) -> &str {
        self.0.store(true, Ordering::SeqCst);
        panic!("name panics")
    }
    fn apply(&self, _: &[Change]) -> Result<(), SinkError> {
        Err(SinkError::batch("refused"))
    }
}

#[test]
fn shutdown_returns_when_a_worker_died_outside_the_sinks() {
    quiet_panics();
    let died = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let engine = DataSync::builder()
        .source(IterSource::new("one", [Change::upsert("k", 1, json!(1))]))
        .sink(NamePanics(died.clone()))
        .workers(1)
        .retry(RetryPolicy::new(1, Duration::ZERO, Duration::ZERO))
        .start()
        .unwrap();
    while !died.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(1));
    }
    // The change is pulled and will never be confirmed. Shutdown must still return once no
    // worker is left to confirm anything, not wait for the dead one forever.
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || tx.send(engine.shutdown()).unwrap());
    let report = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("shutdown hung: the dead worker was still counted as live");
    assert_eq!(report.metrics.pulled, 1);
    assert_eq!(report.metrics.applied + report.metrics.dead_lettered, 0);
    // Nothing past the lost change is committed: the source will deliver it again.
    assert_eq!(report.committed, [("one".to_owned(), None)]);
}

/// A sink that takes its batches (`apply_owned`), applying them to a replica by value; every
/// few batches it takes part of a batch and then fails or panics, leaving the rest in the batch.
struct Taker {
    inner: Replica,
    calls: AtomicU64,
    owned_calls: AtomicU64,
    lent_calls: AtomicU64,
}

impl Sink for Taker {
    fn name(&self) -> &str {
        "taker"
    }
    fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
        self.lent_calls.fetch_add(1, Ordering::SeqCst);
        Sink::apply(&self.inner, batch)
    }
    fn apply_owned(
        &self,
        batch: &mut std::vec::IntoIter<Change>,
        spent: &mut Vec<Change>,
    ) -> Result<(), SinkError> {
        self.owned_calls.fetch_add(1, Ordering::SeqCst);
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        // Take (and apply) half, then fail or panic on every third and fifth call.
        let half = batch.len() / 2;
        let taken: Vec<Change> = batch.by_ref().take(half).collect();
        self.inner
            .apply_owned(&mut taken.into_iter(), spent)
            .unwrap();
        match call % 15 {
            3 | 6 | 9 | 12 => return Err(SinkError::batch("connection reset")),
            5 | 10 => panic!("taker panics after taking half"),
            _ => {}
        }
        self.inner.apply_owned(batch, spent)
    }
}

#[test]
fn a_sink_that_takes_its_batches_loses_nothing_to_failures_or_panics() {
    quiet_panics();
    let changes: Vec<Change> = (0..5_000u64)
        .map(|i| Change::upsert(format!("k{}", i % 97), i, json!(i)))
        .collect();
    let taker = Arc::new(Taker {
        inner: Replica::new(),
        calls: AtomicU64::new(0),
        owned_calls: AtomicU64::new(0),
        lent_calls: AtomicU64::new(0),
    });
    let engine = DataSync::builder()
        .source(IterSource::new("seed", changes.clone()))
        .sink(Arc::clone(&taker))
        .workers(2)
        .batch_size(64)
        .retry(RetryPolicy::new(3, Duration::ZERO, Duration::ZERO))
        .start()
        .unwrap();
    assert!(engine.wait_idle(Duration::from_secs(60)));
    let report = engine.shutdown();
    let m = &report.metrics;
    assert_eq!((m.pulled, m.applied, m.dead_lettered), (5_000, 5_000, 0));
    assert!(m.retries > 0, "the failures were retried");
    assert_eq!(report.committed, [("seed".to_string(), Some(4_999))]);
    assert!(
        taker.owned_calls.load(Ordering::SeqCst) > 0,
        "the engine lent no batch"
    );
    assert!(
        taker.lent_calls.load(Ordering::SeqCst) > 0,
        "what a failed take left was retried through apply"
    );
    // Every key holds its last version: nothing taken before a failure was lost.
    for key in 0..97u64 {
        let last = (0..5_000u64).filter(|i| i % 97 == key).max().unwrap();
        assert_eq!(taker.inner.get(&format!("k{key}")), Some(json!(last)));
    }
}

#[test]
fn an_observed_engine_lends_batches_instead() {
    let taker = Arc::new(Taker {
        inner: Replica::new(),
        calls: AtomicU64::new(1), // never fails
        owned_calls: AtomicU64::new(0),
        lent_calls: AtomicU64::new(0),
    });
    let observer = Observer::new(ObserverMode::BoundedLag(1024));
    let engine = DataSync::builder()
        .source(IterSource::new("seed", [Change::upsert("k", 1, json!(1))]))
        .sink(Arc::clone(&taker))
        .observe(&observer)
        .start()
        .unwrap();
    assert!(engine.wait_idle(Duration::from_secs(30)));
    assert_eq!(engine.shutdown().metrics.applied, 1);
    // The observer needs the applied change: the sink is lent the batch.
    assert_eq!(taker.owned_calls.load(Ordering::SeqCst), 0);
    assert_eq!(taker.lent_calls.load(Ordering::SeqCst), 1);
}

/// Rejects (fatally) every change whose key starts with "bad".
struct Refuses(Replica);

impl Sink for Refuses {
    fn name(&self) -> &str {
        "refuses"
    }
    fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
        let mut rejected = Vec::new();
        for (i, change) in batch.iter().enumerate() {
            if change.key.starts_with("bad") {
                rejected.push((i, format!("{} is malformed", change.key)));
            } else {
                self.0.apply(change);
            }
        }
        if rejected.is_empty() {
            Ok(())
        } else {
            Err(SinkError::Rejected(rejected))
        }
    }
}

#[test]
fn fatal_failures_are_dead_lettered_without_retries() {
    let changes: Vec<Change> = (0..200u64)
        .map(|i| {
            let key = if i % 10 == 0 {
                format!("bad{i}")
            } else {
                format!("k{i}")
            };
            Change::upsert(key, 1, json!(i))
        })
        .collect();
    let engine = DataSync::builder()
        .source(IterSource::new("seed", changes))
        .sink(Refuses(Replica::new()))
        .retry(RetryPolicy::new(
            5,
            Duration::from_millis(50),
            Duration::from_millis(50),
        ))
        .start()
        .unwrap();
    assert!(engine.wait_idle(Duration::from_secs(30)));
    let report = engine.shutdown();
    let m = &report.metrics;
    assert_eq!((m.applied, m.dead_lettered, m.retries), (180, 20, 0));
    assert!(report
        .dead_letters
        .iter()
        .all(|d| d.sink == "refuses" && d.reason == format!("{} is malformed", d.change.key)));
}
