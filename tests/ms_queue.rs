//! Release-mode stress tests of `MsQueue`: no loss, no duplication, per-producer order, exact
//! drop counts, and peek/snapshot against concurrent pops of heap values.

use mqsync::MsQueue;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use stress::DropCounter;

mod stress;

const PRODUCERS: usize = 4;
const CONSUMERS: usize = 4;

/// Values each producer pushes: 250,000 (1M in all), shrunk under miri and the sanitizers.
fn per_producer() -> usize {
    if cfg!(miri) {
        100
    } else {
        stress::scaled(250_000, 100)
    }
}

#[test]
fn four_by_four_million_no_loss_no_duplicate_in_order() {
    let (per_producer, total) = (per_producer(), PRODUCERS * per_producer());
    let q = Arc::new(MsQueue::new());
    let live = DropCounter::new();
    let consumed = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(PRODUCERS + CONSUMERS));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (q, live, start) = (q.clone(), live.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let mut seq = 0;
                while seq < per_producer {
                    // Mix single pushes and batches.
                    if seq % 100 < 64 {
                        let end = (seq + 64).min(per_producer);
                        q.push_batch((seq..end).map(|s| live.make((p, s))));
                        seq = end;
                    } else {
                        q.push(live.make((p, seq)));
                        seq += 1;
                    }
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let (q, consumed, start) = (q.clone(), consumed.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let mut seen = vec![Vec::new(); PRODUCERS];
                let mut last = [None::<usize>; PRODUCERS];
                let mut batch = Vec::new();
                while consumed.load(Ordering::Relaxed) < total {
                    let got = if c % 2 == 0 {
                        q.pop().map(|t| batch.push(t)).map_or(0, |_| 1)
                    } else {
                        q.pop_many(&mut batch, 32)
                    };
                    if got == 0 {
                        thread::yield_now();
                        continue;
                    }
                    consumed.fetch_add(got, Ordering::Relaxed);
                    for t in batch.drain(..) {
                        let (producer, seq) = t.payload;
                        assert!(
                            last[producer].is_none_or(|l| seq > l),
                            "producer {} order broken: {} after {:?}",
                            producer,
                            seq,
                            last[producer]
                        );
                        last[producer] = Some(seq);
                        seen[producer].push(seq);
                    }
                }
                seen
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut received = vec![Vec::new(); PRODUCERS];
    for c in consumers {
        for (p, seqs) in c.join().unwrap().into_iter().enumerate() {
            received[p].extend(seqs);
        }
    }
    for (p, mut seqs) in received.into_iter().enumerate() {
        seqs.sort_unstable();
        assert_eq!(seqs.len(), per_producer, "producer {p}: lost or duplicated");
        assert!(
            seqs.iter().copied().eq(0..per_producer),
            "producer {p}: wrong values"
        );
    }
    assert!(q.is_empty());
    assert_eq!(live.live(), 0, "every value dropped exactly once");
}

#[test]
fn dropping_a_full_queue_drops_everything_once() {
    let total = PRODUCERS * per_producer();
    let live = DropCounter::new();
    let q = MsQueue::new();
    q.push_batch((0..total / 10).map(|i| live.make((0, i))));
    for _ in 0..total / 40 {
        drop(q.pop());
    }
    assert_eq!(live.live(), total / 10 - total / 40);
    drop(q);
    assert_eq!(live.live(), 0);
}

#[test]
fn peek_and_snapshot_race_pops_of_strings() {
    let n = if cfg!(miri) {
        100
    } else {
        stress::scaled(200_000, 100)
    };
    let q = Arc::new(MsQueue::new());
    let done = Arc::new(AtomicUsize::new(0));
    let producer = {
        let q = q.clone();
        thread::spawn(move || {
            for i in 0..n {
                q.push(format!("msg-{i:08}"));
            }
        })
    };
    let poppers: Vec<_> = (0..2)
        .map(|_| {
            let (q, done) = (q.clone(), done.clone());
            thread::spawn(move || {
                let mut count = 0;
                while done.load(Ordering::Relaxed) < n {
                    if let Some(s) = q.pop() {
                        assert_eq!(s.len(), 12);
                        count += 1;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
                count
            })
        })
        .collect();
    let watchers: Vec<_> = (0..2)
        .map(|w| {
            let (q, done) = (q.clone(), done.clone());
            thread::spawn(move || {
                let mut checks = 0usize;
                while done.load(Ordering::Relaxed) < n {
                    if w == 0 {
                        if let Some(s) = q.peek() {
                            let i: usize = s["msg-".len()..].parse().expect("well-formed");
                            assert!(i < n);
                            checks += 1;
                        }
                    } else {
                        let snap = q.snapshot();
                        // One producer: the snapshot must be strictly increasing.
                        assert!(
                            snap.windows(2).all(|w| w[0] < w[1]),
                            "snapshot out of order"
                        );
                        checks += snap.len();
                    }
                }
                checks
            })
        })
        .collect();
    producer.join().unwrap();
    let popped: usize = poppers.into_iter().map(|h| h.join().unwrap()).sum();
    for w in watchers {
        w.join().unwrap();
    }
    assert_eq!(popped, n);
    assert_eq!(q.pop(), None);
}
