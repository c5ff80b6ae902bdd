#![cfg(mqsync_loom)]
//! loom models of `MsQueue` (segments of 2 slots under loom, so boundaries come quickly).
//!
//! Run with `.ci/loom ms_queue`.

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use mqsync::MsQueue;

/// Counts drops, to check that every value is dropped exactly once.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

#[test]
fn push_pop_concurrent_keeps_order_and_loses_nothing() {
    model(|| {
        let q = Arc::new(MsQueue::new());
        let producer = {
            let q = q.clone();
            thread::spawn(move || {
                q.push(1);
                q.push(2);
            })
        };
        let mut got = Vec::new();
        for _ in 0..2 {
            if let Some(v) = q.pop() {
                got.push(v);
            }
        }
        producer.join().unwrap();
        while let Some(v) = q.pop() {
            got.push(v);
        }
        assert_eq!(got, [1, 2]);
    });
}

#[test]
fn two_pushers_race_to_link_a_segment() {
    model(|| {
        let q = Arc::new(MsQueue::new());
        q.push(0);
        q.push(1); // the first segment (2 slots) is now full
        let pushers: Vec<_> = [10, 20]
            .into_iter()
            .map(|v| {
                let q = q.clone();
                thread::spawn(move || q.push(v))
            })
            .collect();
        let first = q.pop();
        for p in pushers {
            p.join().unwrap();
        }
        assert_eq!(first, Some(0));
        let mut rest = Vec::new();
        while let Some(v) = q.pop() {
            rest.push(v);
        }
        rest.sort_unstable();
        assert_eq!(rest, [1, 10, 20]);
        assert_eq!(q.len(), 0);
    });
}

#[test]
fn two_poppers_race_over_a_segment_boundary() {
    model(|| {
        let q = Arc::new(MsQueue::new());
        q.push_batch([1, 2, 3]);
        let other = {
            let q = q.clone();
            thread::spawn(move || (q.pop(), q.pop()))
        };
        let mine = q.pop();
        let (a, b) = other.join().unwrap();
        let mut all: Vec<_> = [mine, a, b].into_iter().flatten().collect();
        all.sort_unstable();
        assert_eq!(all, [1, 2, 3]);
        assert_eq!(q.pop(), None);
    });
}

#[test]
fn pop_racing_an_unfinished_push_never_loses_it() {
    // The popper may give up on the pusher's slot and poison it; the push must then land later.
    model(|| {
        let q = Arc::new(MsQueue::new());
        let pusher = {
            let q = q.clone();
            thread::spawn(move || q.push(String::from("x")))
        };
        let early = q.pop();
        pusher.join().unwrap();
        let late = q.pop();
        let got: Vec<_> = [early, late].into_iter().flatten().collect();
        assert_eq!(got, ["x"]);
        assert!(q.is_empty());
    });
}

#[test]
fn peek_against_pop_never_reads_a_moved_value() {
    model(|| {
        let q = Arc::new(MsQueue::new());
        q.push(String::from("a"));
        q.push(String::from("b"));
        let peeker = {
            let q = q.clone();
            thread::spawn(move || q.peek())
        };
        let popped = q.pop();
        let peeked = peeker.join().unwrap();
        assert_eq!(popped.as_deref(), Some("a"));
        assert!(
            matches!(peeked.as_deref(), Some("a") | Some("b")),
            "{peeked:?}"
        );
        assert_eq!(q.peek().as_deref(), Some("b"));
    });
}

#[test]
fn snapshot_against_pop() {
    model(|| {
        let q = Arc::new(MsQueue::new());
        q.push_batch([String::from("a"), String::from("b"), String::from("c")]);
        let snapshotter = {
            let q = q.clone();
            thread::spawn(move || q.snapshot())
        };
        let popped = q.pop();
        let snap = snapshotter.join().unwrap();
        assert_eq!(popped.as_deref(), Some("a"));
        // "b" and "c" were present for the whole call; "a" may or may not be seen.
        assert!(snap == ["a", "b", "c"] || snap == ["b", "c"], "{snap:?}");
    });
}

#[test]
fn batches_against_each_other() {
    model(|| {
        let q = Arc::new(MsQueue::new());
        let pusher = {
            let q = q.clone();
            thread::spawn(move || q.push_batch([1, 2, 3]))
        };
        let mut out = Vec::new();
        q.pop_many(&mut out, 2);
        pusher.join().unwrap();
        while q.pop_many(&mut out, 2) > 0 {}
        assert_eq!(out, [1, 2, 3]);
    });
}

#[test]
fn drop_of_a_non_empty_queue_drops_each_value_once() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let q = Arc::new(MsQueue::new());
        let pusher = {
            let (q, drops) = (q.clone(), drops.clone());
            thread::spawn(move || {
                for _ in 0..3 {
                    q.push(Counted(drops.clone()));
                }
            })
        };
        let popped = q.pop();
        pusher.join().unwrap();
        let popped_count = usize::from(popped.is_some());
        drop(popped);
        assert_eq!(drops.load(Ordering::Relaxed), popped_count);
        drop(q);
        assert_eq!(drops.load(Ordering::Relaxed), 3);
    });
}

/// An iterator that promises more items than it yields, so a batch claims too many slots.
struct Liar(std::ops::Range<u32>);

impl Iterator for Liar {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        self.0.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.0.len() + 3, None)
    }
}

#[test]
fn unfilled_batch_claims_are_given_back_or_poisoned_against_a_racing_push() {
    model(|| {
        let q = Arc::new(MsQueue::new());
        let batch = {
            let q = q.clone();
            thread::spawn(move || q.push_batch(Liar(0..1)))
        };
        let single = {
            let q = q.clone();
            thread::spawn(move || q.push(5))
        };
        batch.join().unwrap();
        single.join().unwrap();
        let mut got = Vec::new();
        while let Some(v) = q.pop() {
            got.push(v);
        }
        got.sort_unstable();
        assert_eq!(got, [0, 5]);
        assert_eq!(q.len(), 0);
    });
}

/// Segment reclamation (hazard.rs) against a popper that still protects the retired segment:
/// the other popper may have loaded `head` (the first segment) and be preempted when the main
/// thread pops past that segment (retiring it) and then pushes into a new segment, for which
/// the spare is reused if the first segment was reclaimed. Reusing it while the stalled popper
/// protects it would let that popper claim in the reused segment and take 4 while 3 is still
/// queued; the hazard keeps it from being reused (removing the check in `reclaim` makes this
/// model fail).
#[test]
fn retired_segments_are_reused_only_when_unprotected() {
    model(|| {
        let q = Arc::new(MsQueue::new());
        q.push(0);
        q.push(1); // segment 0 is full
        q.push(2);
        let popper = {
            let q = q.clone();
            thread::spawn(move || q.pop())
        };
        let mut mine = Vec::new();
        for _ in 0..3 {
            mine.extend(q.pop());
        }
        q.push(3);
        q.push(4); // links a third segment: the spare, if segment 0 was reclaimed by now
        let theirs = popper.join().unwrap();
        let mut rest = Vec::new();
        while let Some(v) = q.pop() {
            rest.push(v);
        }
        // FIFO: whatever was still queued after the other popper's pop is younger than what it
        // got; each popper's own pops are in order; every value comes out exactly once.
        if let Some(t) = theirs {
            assert!(rest.iter().all(|&r| r > t), "took {t} before {rest:?}");
        }
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "{mine:?}");
        let mut all: Vec<_> = mine.iter().chain(&rest).copied().chain(theirs).collect();
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3, 4]);
    });
}

/// A reclaim that runs while a snapshot walks the segments: the snapshot is pinned and inside
/// the gate, so the retired segment goes to the epoch collector instead of being reused, and
/// the snapshot never reads a slot of a reset segment.
#[test]
fn reclaim_during_a_snapshot_defers_the_segment() {
    model(|| {
        let q = Arc::new(MsQueue::new());
        q.push(String::from("a"));
        q.push(String::from("b")); // segment 0 is full
        q.push(String::from("c"));
        let snapshotter = {
            let q = q.clone();
            thread::spawn(move || q.snapshot())
        };
        assert_eq!(q.pop().as_deref(), Some("a"));
        assert_eq!(q.pop().as_deref(), Some("b"));
        assert_eq!(q.pop().as_deref(), Some("c")); // moves head past segment 0 and reclaims it
        q.push(String::from("d")); // may link the spare
        let snap = snapshotter.join().unwrap();
        // Whatever the snapshot saw is in queue order and made only of values pushed.
        let order = ["a", "b", "c", "d"];
        let positions: Vec<_> = snap
            .iter()
            .map(|s| order.iter().position(|o| o == s).expect("a pushed value"))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{snap:?}");
    });
}
