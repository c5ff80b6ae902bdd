//! Tests of the sync building blocks: idempotent, order-insensitive replica; delivery to
//! failing, panicking and flaky sinks with every change accounted for.

use mqsync::sync::{deliver, Applied, Change, Replica, RetryPolicy, Sink, SinkError};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

mod stress;
use stress::Rng;

#[test]
fn replica_converges_whatever_the_order_and_replays() {
    // 4 producers each apply every change of 200 keys × 20 versions in their own shuffled
    // order, with replays; the replica ends at the newest version of each key.
    let keys = 200u64;
    let versions = 20u64;
    let mut changes = Vec::new();
    for k in 0..keys {
        for v in 1..=versions {
            let key = format!("key-{k}");
            changes.push(if v == versions && k % 5 == 0 {
                Change::delete(key, v)
            } else {
                Change::upsert(key, v, json!({"k": k, "v": v}))
            });
        }
    }
    let changes = Arc::new(changes);
    let replica = Arc::new(Replica::new());
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (changes, replica) = (changes.clone(), replica.clone());
            thread::spawn(move || {
                let mut rng = Rng::with_seed(0xDEAD_BEEF ^ (t + 1));
                let mut order: Vec<usize> = (0..changes.len()).collect();
                rng.shuffle(&mut order);
                for i in order {
                    replica.apply(&changes[i]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let expected: BTreeMap<String, serde_json::Value> = (0..keys)
        .filter(|k| k % 5 != 0)
        .map(|k| (format!("key-{k}"), json!({"k": k, "v": versions})))
        .collect();
    assert_eq!(replica.snapshot(), expected);
    for k in (0..keys).step_by(5) {
        assert_eq!(
            replica.version(&format!("key-{k}")),
            Some(versions),
            "tombstone kept"
        );
    }
    // Replaying everything once more changes nothing.
    assert!(changes.iter().all(|c| replica.apply(c) == Applied::Stale));
}

#[test]
fn versionless_changes_are_deduplicated_by_id() {
    let replica = Replica::new();
    let mut c = Change::upsert("k", 0, json!(1));
    c.version = None;
    c.id = "evt-1".into();
    assert_eq!(replica.apply(&c), Applied::Changed);
    assert_eq!(replica.apply(&c), Applied::Duplicate);
    let mut d = c.clone();
    d.id = "evt-2".into();
    d.op = mqsync::sync::Op::Upsert(json!(2));
    assert_eq!(replica.apply(&d), Applied::Changed);
    assert_eq!(replica.get("k"), Some(json!(2)));
}

/// A sink that fails at random, fails some keys forever, fails whole batches and panics.
struct Chaos {
    state: std::sync::Mutex<(Rng, Vec<String>)>,
    poison: HashSet<String>,
}

impl Sink for Chaos {
    fn name(&self) -> &str {
        "chaos"
    }
    fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (rng, applied) = &mut *guard;
        match rng.u64(..10) {
            0 => panic!("chaos sink panics"),
            1 => return Err(SinkError::batch("connection reset")),
            _ => {}
        }
        if batch.len() > 1
            && batch.iter().any(|c| self.poison.contains(&c.key))
            && rng.u64(..2) == 0
        {
            return Err(SinkError::batch("poison in batch"));
        }
        let mut failed = Vec::new();
        for (i, c) in batch.iter().enumerate() {
            if self.poison.contains(&c.key) || rng.u64(..7) == 0 {
                failed.push((i, format!("cannot apply {}", c.key)));
            } else {
                applied.push(c.id.clone());
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(SinkError::Items(failed))
        }
    }
}

#[test]
fn every_change_is_applied_or_dead_lettered_exactly_once() {
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let policy = RetryPolicy::new(6, Duration::ZERO, Duration::ZERO);
    for seed in 1..=20u64 {
        let batch: Vec<Change> = (0..64)
            .map(|i| Change::upsert(format!("k{i}"), 1, json!(i)))
            .collect();
        let poison: HashSet<String> = ["k3", "k40", "k41"].iter().map(|s| s.to_string()).collect();
        let sink = Chaos {
            state: std::sync::Mutex::new((Rng::with_seed(seed * 0x9E37_79B9), Vec::new())),
            poison: poison.clone(),
        };
        let report = deliver(&sink, &batch, &policy);
        let applied: HashSet<usize> = report.applied.iter().copied().collect();
        let dead: HashSet<usize> = report.dead.iter().map(|(i, _)| *i).collect();
        assert_eq!(
            applied.len(),
            report.applied.len(),
            "seed {seed}: applied twice"
        );
        assert!(applied.is_disjoint(&dead), "seed {seed}: applied and dead");
        assert_eq!(applied.len() + dead.len(), batch.len(), "seed {seed}: lost");
        for p in &poison {
            let i: usize = p[1..].parse().unwrap();
            assert!(
                dead.contains(&i),
                "seed {seed}: poison {p} must be dead-lettered"
            );
        }
        // What the report calls applied, the sink did apply.
        let state = sink.state.lock().unwrap_or_else(|p| p.into_inner());
        let sink_applied: HashSet<&str> = state.1.iter().map(String::as_str).collect();
        for &i in &applied {
            assert!(
                sink_applied.contains(batch[i].id.as_str()),
                "seed {seed}: {i}"
            );
        }
        assert!(report.dead.iter().all(|(_, reason)| !reason.is_empty()));
    }
    std::panic::set_hook(quiet);
}

/// Fails any batch holding the key "poison" with a fatal or a retriable whole-batch error, and
/// rejects (fatally) or fails (retriably) the key "bad" alone; counts the calls per key.
struct Strict {
    fatal: bool,
    applied: std::sync::Mutex<Vec<String>>,
    tries: std::sync::Mutex<std::collections::HashMap<String, u32>>,
}

impl Sink for Strict {
    fn name(&self) -> &str {
        "strict"
    }
    fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
        let mut tries = self.tries.lock().unwrap();
        for change in batch {
            *tries.entry(change.key.clone()).or_default() += 1;
        }
        if batch.iter().any(|c| c.key == "poison") {
            return Err(if self.fatal {
                SinkError::fatal("poison refused")
            } else {
                SinkError::batch("poison timed out")
            });
        }
        let mut failed = Vec::new();
        for (i, change) in batch.iter().enumerate() {
            if change.key == "bad" {
                failed.push((i, "bad value".to_owned()));
            } else {
                self.applied.lock().unwrap().push(change.key.clone());
            }
        }
        match (failed.is_empty(), self.fatal) {
            (true, _) => Ok(()),
            (false, true) => Err(SinkError::Rejected(failed)),
            (false, false) => Err(SinkError::Items(failed)),
        }
    }
}

#[test]
fn fatal_failures_are_dead_lettered_at_once_and_retriable_ones_retried() {
    let batch: Vec<Change> = ["a", "poison", "b", "bad", "c"]
        .iter()
        .map(|k| Change::delete(*k, 1))
        .collect();
    let policy = RetryPolicy::new(4, Duration::ZERO, Duration::ZERO);
    for fatal in [true, false] {
        let sink = Strict {
            fatal,
            applied: Default::default(),
            tries: Default::default(),
        };
        let report = deliver(&sink, &batch, &policy);
        let mut dead: Vec<_> = report.dead.iter().map(|(i, r)| (*i, r.as_str())).collect();
        dead.sort_unstable();
        let tries = sink.tries.lock().unwrap();
        let mut applied = sink.applied.lock().unwrap().clone();
        applied.sort_unstable();
        assert_eq!(applied, ["a", "b", "c"], "fatal: {fatal}");
        assert_eq!(report.applied, [0, 2, 4]);
        if fatal {
            // Split until "poison" stands alone, then dead-lettered without a retry; "bad" is
            // rejected on its first try.
            assert_eq!(dead, [(1, "poison refused"), (3, "bad value")]);
            assert_eq!(
                tries["bad"], 2,
                "tried in the whole batch and in its half, no retry"
            );
            assert_eq!(
                tries["poison"], 3,
                "whole, half, alone: no retry once alone"
            );
        } else {
            assert_eq!(dead, [(1, "poison timed out"), (3, "bad value")]);
            assert_eq!(
                tries["bad"], 5,
                "tried in the whole batch, then 4 attempts in its half"
            );
            assert_eq!(tries["poison"], 6, "whole, half, then 4 attempts alone");
        }
    }
}
