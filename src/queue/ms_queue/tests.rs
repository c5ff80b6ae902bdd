//! Unit tests of `MsQueue`, small enough for miri (`SEG` is 4 there).

use super::*;
use crate::queue::segment::SEG;
use crate::test_support::DropCounter;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::sync::Arc;
use std::thread;

const MANY: usize = if cfg!(miri) {
    3 * SEG + 1
} else {
    10 * SEG + 3
};

#[test]
fn fifo_across_segments() {
    let q = MsQueue::new();
    for i in 0..MANY {
        q.push(i);
        assert_eq!(q.len(), i + 1);
    }
    for i in 0..MANY {
        assert_eq!(q.peek(), Some(i));
        assert_eq!(q.pop(), Some(i));
    }
    assert_eq!(q.pop(), None);
    assert_eq!(q.len(), 0);
    assert!(q.is_empty());
    // Reusable after draining.
    q.push(7);
    assert_eq!(q.pop(), Some(7));
}

#[test]
fn batches_across_segments() {
    let q = MsQueue::new();
    q.push_batch(0..MANY);
    q.push_batch(std::iter::empty());
    assert_eq!(q.len(), MANY);
    assert_eq!(q.snapshot(), (0..MANY).collect::<Vec<_>>());
    let mut out = Vec::new();
    assert_eq!(q.pop_many(&mut out, 0), 0);
    assert_eq!(q.pop_many(&mut out, SEG + 1), SEG + 1);
    assert_eq!(q.pop_many(&mut out, usize::MAX), MANY - SEG - 1);
    assert_eq!(out, (0..MANY).collect::<Vec<_>>());
    assert_eq!(q.pop_many(&mut out, 5), 0);
}

/// An iterator whose `size_hint` promises more than it yields.
struct Liar(std::ops::Range<usize>);

impl Iterator for Liar {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        self.0.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.0.len() + 3, None)
    }
}

#[test]
fn batch_with_lying_size_hint_gives_back_its_unused_claims() {
    let q = MsQueue::new();
    q.push_batch(Liar(0..1));
    assert_eq!(q.len(), 1, "the unused claims were given back");
    assert_eq!(q.pop(), Some(0));
    assert!(q.is_empty());
    assert_eq!(q.peek(), None);
    q.push_batch(Liar(0..2));
    q.push(2);
    assert_eq!(q.snapshot(), [0, 1, 2]);
    let mut out = Vec::new();
    while q.pop_many(&mut out, 10) > 0 {}
    assert_eq!(out, [0, 1, 2]);
    assert_eq!(q.len(), 0);
}

#[test]
fn popper_skips_a_stalled_pusher() {
    let q = MsQueue::new();
    // A pusher claims slot 0 and stalls before publishing.
    // SAFETY: one thread, and the queue outlives the reference.
    let segment = unsafe { &*q.tail.load(Ordering::Acquire) };
    let stalled = segment.enq.fetch_add(1, Ordering::Relaxed);
    assert_eq!(stalled, 0);
    q.push("later");
    // The popper waits a bounded time, poisons slot 0, and takes the next element.
    assert_eq!(q.pop(), Some("later"));
    assert_eq!(q.pop(), None);
    // The stalled pusher finds its slot poisoned and gets its value back to retry.
    // SAFETY: index 0 was claimed by the fetch-and-add above.
    let back = unsafe { segment.publish(stalled, "stalled", q.asymmetric) };
    assert_eq!(back, Err("stalled"));
    q.push("stalled");
    assert_eq!(q.pop(), Some("stalled"));
}

#[test]
fn drop_counts_are_exact() {
    let drops = DropCounter::new();
    let q = MsQueue::new();
    for i in 0..MANY {
        q.push(drops.make(i));
    }
    let popped = MANY / 2;
    for _ in 0..popped {
        drop(q.pop().unwrap());
    }
    assert_eq!(drops.dropped(), popped);
    drop(q);
    assert_eq!(drops.dropped(), MANY);
}

#[test]
fn peek_snapshot_do_not_consume_or_double_drop() {
    let drops = DropCounter::new();
    let q = MsQueue::new();
    q.push(Arc::new(drops.make(0)));
    q.push(Arc::new(drops.make(1)));
    let peeked = q.peek().unwrap();
    let all = q.snapshot();
    assert_eq!(all.len(), 2);
    assert!(Arc::ptr_eq(&peeked, &all[0]));
    drop((peeked, all));
    assert_eq!(drops.dropped(), 0);
    drop(q);
    assert_eq!(drops.dropped(), 2);
}

#[test]
fn peek_against_pop_with_strings() {
    let n = if cfg!(miri) { 3 * SEG } else { 10_000 };
    let q = Arc::new(MsQueue::new());
    for i in 0..n {
        q.push(format!("value-{i}"));
    }
    let peeker = {
        let q = Arc::clone(&q);
        thread::spawn(move || {
            let mut last = None;
            while let Some(s) = q.peek() {
                let i: usize = s.strip_prefix("value-").unwrap().parse().unwrap();
                assert!(last.is_none_or(|l| i >= l), "peek went backwards");
                last = Some(i);
                let snap = q.snapshot();
                assert!(snap
                    .windows(2)
                    .all(|w| w[0] < w[1] || w[0].len() < w[1].len()));
            }
        })
    };
    for i in 0..n {
        assert_eq!(q.pop(), Some(format!("value-{i}")));
    }
    peeker.join().unwrap();
}

#[test]
fn mpmc_no_loss_no_duplicate() {
    let per = if cfg!(miri) { 2 * SEG } else { 20_000 };
    let q = Arc::new(MsQueue::new());
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                for i in 0..per {
                    if i % 3 == 0 {
                        q.push_batch([(p, i)]);
                    } else {
                        q.push((p, i));
                    }
                }
            })
        })
        .collect();
    let consumed = Arc::new(StdAtomicUsize::new(0));
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let q = Arc::clone(&q);
            let consumed = Arc::clone(&consumed);
            thread::spawn(move || {
                let mut got = Vec::new();
                let mut last = [None::<usize>; 2];
                while consumed.load(StdOrdering::Relaxed) < 2 * per {
                    let mut batch = Vec::new();
                    if q.pop_many(&mut batch, 3) == 0 {
                        thread::yield_now();
                    }
                    consumed.fetch_add(batch.len(), StdOrdering::Relaxed);
                    for (p, i) in batch {
                        assert!(last[p].is_none_or(|l| i > l), "per-producer order broken");
                        last[p] = Some(i);
                        got.push((p, i));
                    }
                }
                got
            })
        })
        .collect();
    producers.into_iter().for_each(|h| h.join().unwrap());
    let mut all: Vec<_> = consumers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_unstable();
    let expected: Vec<_> = (0..2).flat_map(|p| (0..per).map(move |i| (p, i))).collect();
    assert_eq!(all, expected);
    assert!(q.is_empty());
}

#[test]
fn a_panicking_batch_iterator_strands_no_slot() {
    let q = MsQueue::new();
    let items = (0..3).inspect(|&i| {
        if i == 2 {
            panic!("iterator failure");
        }
    });
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.push_batch(items)));
    assert!(outcome.is_err());
    // The iterator runs before any slot is claimed (push_batch collects first), so its panic
    // pushes nothing and strands no claimed slot: len is exact and pops do not wait.
    assert_eq!(q.len(), 0);
    assert_eq!(q.pop(), None);
    q.push(9);
    assert_eq!(q.pop(), Some(9));
}

#[test]
fn a_run_that_cannot_be_given_back_is_poisoned() {
    let q = MsQueue::new();
    // SAFETY: one thread, and the queue outlives the reference.
    let segment = unsafe { &*q.tail.load(Ordering::Acquire) };
    // Our run claims 0..3 but fills only slot 0; another pusher claims after us.
    let first = segment.enq.fetch_add(3, Ordering::Relaxed);
    // SAFETY: slot 0 was claimed by the fetch-and-add above.
    assert!(unsafe { segment.publish(first, "mine", q.asymmetric) }.is_ok());
    q.push("theirs");
    drop(Run {
        segment,
        next: first + 1,
        end: first + 3,
        claimed_to: first + 3,
    });
    assert_eq!(q.pop(), Some("mine"));
    assert_eq!(q.pop(), Some("theirs"), "poisoned slots are skipped");
    assert_eq!(q.pop(), None);
}

/// A queue used by a thread-local destructor that runs after this thread's hazard record
/// (`hazard::LOCAL`) was destroyed: the operations take the record-per-call path and still
/// work. On Linux, thread-local destructors run in the reverse order of their registration, so
/// a guard registered before the thread's first queue operation is dropped after `LOCAL`.
#[test]
fn a_thread_local_destructor_can_still_use_a_queue() {
    struct Guard(Option<Arc<MsQueue<usize>>>);
    impl Drop for Guard {
        // No assertion here: a panic in a thread-local destructor aborts the test binary.
        // The destructor leaves its findings in the queue for the test to check.
        fn drop(&mut self) {
            if let Some(q) = self.0.take() {
                q.push(2);
                let first = q.pop(); // Some(1), pushed before the thread ended
                q.push(first.map_or(0, |v| v + 10));
            }
        }
    }
    thread_local! {
        static GUARD: std::cell::RefCell<Guard> = const { std::cell::RefCell::new(Guard(None)) };
    }
    let q = Arc::new(MsQueue::new());
    let before = crate::queue::hazard::WITHOUT_LOCAL.load(StdOrdering::Relaxed);
    let q2 = q.clone();
    thread::spawn(move || {
        // Registered first, so (on Linux) destroyed last.
        GUARD.with(|g| g.borrow_mut().0 = Some(q2.clone()));
        q2.push(1); // registers this thread's `LOCAL`
    })
    .join()
    .expect("the thread ran");
    assert_eq!(q.pop(), Some(2));
    assert_eq!(
        q.pop(),
        Some(11),
        "the destructor popped the value pushed before it"
    );
    assert_eq!(q.pop(), None);
    if cfg!(target_os = "linux") {
        assert!(crate::queue::hazard::WITHOUT_LOCAL.load(StdOrdering::Relaxed) > before);
    }
}
