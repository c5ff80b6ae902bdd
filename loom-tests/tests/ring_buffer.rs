#![cfg(mqsync_loom)]
//! loom models of `RingBuffer`: capacity 1–2, two or three threads.
//!
//! Run with `.ci/loom ring_buffer` (release, LOOM_MAX_PREEMPTIONS=2). Every model checks values
//! and counts, so a lost, duplicated or torn element fails it; loom itself fails a model on any
//! unsynchronized access to a slot (a popper moves out with a write access, so a peeker cloning
//! at the same time is caught).
//!
//! Every racing operation runs in a spawned thread; the model's main thread only sets up, joins
//! and checks. loom 0.7.3's DPOR does not explore the interleavings of the main thread's
//! operations with a thread it spawned when that thread starts with a non-conflicting load (a
//! push racing the main thread's pop was only ever run after it), so races in the main thread
//! would go unchecked.
//!
//! The ring's waits (a pop waiting for a claimed-but-unwritten slot, a push for a slot still being
//! vacated, a peek for an unwritten head) are spin-and-yield loops. When two threads can be in
//! such loops at once, loom explores unfair schedules in which the two yielding threads run in
//! turn forever and the thread they wait for never does ("Model exceeded maximum number of
//! branches"). So each model lets at most one thread wait at a time: peeks race one other
//! thread; with three threads the observers are `snapshot`s, which never wait. Even so, in the
//! three-thread models a popper can wait in its latch for a snapshot while a pusher waits
//! for that popper; with two preemptions loom again finds the unfair schedule, so those
//! models run with a preemption bound of 1 (`model_3`).
//!
//! The latch lives in the stamp word (ring_buffer.rs, essay [3], [4]): a pin is one CAS that
//! checks the slot's position and TAKEN, and the store that frees a slot clears TAKEN. The
//! interleaving the old two-word latch needed a DRAINING state for (a lap-0 pop preempted
//! between freeing its slot and clearing TAKEN while lap 1 is pushed, popped and peeked) has
//! no gap to fall into any more; `snapshot_against_pop_and_reuse` and
//! `peek_against_pop_and_reuse` run the reuse, `two_snapshots_against_pop` two pins at once.

/// Named so that `.ci/loom ring_buffer` selects these models.
mod ring_buffer {
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;
    use loom::thread::{self, JoinHandle};
    use mqsync::RingBuffer;

    /// Runs `f` on a clone of `q` in a new thread.
    fn on<T: Send + 'static, R: Send + 'static>(
        q: &Arc<RingBuffer<T>>,
        f: impl FnOnce(&RingBuffer<T>) -> R + Send + 'static,
    ) -> JoinHandle<R> {
        let q = Arc::clone(q);
        thread::spawn(move || f(&q))
    }

    /// `loom::model` with at most one preemption, for the three-thread models (see the module
    /// doc).
    fn model_3(f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(1);
        builder.check(f);
    }

    /// Sorts and compares: every value exactly once.
    fn assert_exactly(mut got: Vec<u32>, want: &[u32]) {
        got.sort_unstable();
        assert_eq!(got, want);
    }

    #[test]
    fn push_pop_concurrent() {
        loom::model(|| {
            let q = Arc::new(RingBuffer::with_capacity(2));
            let producer = on(&q, |q| {
                q.push(1).unwrap();
                q.push(2).unwrap();
            });
            let consumer = on(&q, |q| {
                let mut got: Vec<u32> = q.pop().into_iter().collect();
                got.extend(q.pop());
                got
            });
            producer.join().unwrap();
            let mut got = consumer.join().unwrap();
            // FIFO: whatever the consumer saw, it saw in order, and the rest is still there.
            got.extend(q.pop());
            got.extend(q.pop());
            assert_eq!(got, [1, 2]);
            assert!(q.is_empty());
            assert_eq!(q.len(), 0);
        });
    }

    #[test]
    fn two_producers_next_lap_capacity_one() {
        loom::model(|| {
            let q = Arc::new(RingBuffer::with_capacity(1));
            // Start a lap in: the positions wrap.
            q.push(0).unwrap();
            assert_eq!(q.pop(), Some(0));
            let a = on(&q, |q| q.push(10).map_err(|e| e.into_inner()));
            let b = on(&q, |q| q.push(20).map_err(|e| e.into_inner()));
            let (a, b) = (a.join().unwrap(), b.join().unwrap());
            // Exactly one fits; the other is handed back.
            assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
            let mut all: Vec<u32> = [a.err(), b.err(), q.pop()].into_iter().flatten().collect();
            assert_eq!(q.pop(), None);
            all.sort_unstable();
            assert_eq!(all, [10, 20]);
        });
    }

    #[test]
    fn full_boundary_push_vs_pop() {
        loom::model(|| {
            let q = Arc::new(RingBuffer::with_capacity(1));
            q.push(1).unwrap();
            let pusher = on(&q, |q| q.push(2).map_err(|e| e.into_inner()));
            let popper = on(&q, |q| q.pop());
            let pushed = pusher.join().unwrap();
            // The pop always finds 1: it was there before both started.
            assert_eq!(popper.join().unwrap(), Some(1));
            match pushed {
                Ok(()) => assert_eq!(q.pop(), Some(2)),
                Err(v) => assert_eq!(v, 2),
            }
            assert!(q.is_empty());
        });
    }

    #[test]
    fn empty_boundary_pop_vs_push() {
        loom::model(|| {
            let q = Arc::new(RingBuffer::with_capacity(2));
            let popper = on(&q, |q| q.pop());
            let pusher = on(&q, |q| q.push(7).unwrap());
            pusher.join().unwrap();
            let popped = popper.join().unwrap();
            let left = q.pop();
            // Exactly one of them has it.
            assert!(popped.is_some() != left.is_some());
            assert_eq!(popped.or(left), Some(7));
            assert!(q.is_empty());
        });
    }

    #[test]
    fn peek_against_pop_strings() {
        loom::model(|| {
            let q = Arc::new(RingBuffer::with_capacity(2));
            q.push(String::from("a")).unwrap();
            q.push(String::from("b")).unwrap();
            let peeker = on(&q, |q| q.peek());
            let popper = on(&q, |q| q.pop());
            let peeked = peeker.join().unwrap().expect("never empty during the peek");
            assert_eq!(popper.join().unwrap().as_deref(), Some("a"));
            assert!(peeked == "a" || peeked == "b", "peeked {peeked:?}");
            assert_eq!(q.pop().as_deref(), Some("b"));
        });
    }

    /// The slot-reuse race (essay [3], [4] in ring_buffer.rs): a latched pop of lap 0 by one thread,
    /// the slot pushed and popped again for lap 1 by another, and a snapshot cloning in place
    /// throughout.
    #[test]
    fn snapshot_against_pop_and_reuse() {
        model_3(|| {
            let q = Arc::new(RingBuffer::with_capacity(1));
            q.push(String::from("old")).unwrap();
            let observer = on(&q, |q| q.snapshot());
            let popper = on(&q, |q| q.pop());
            let reuser = on(&q, |q| match q.push(String::from("new")) {
                Ok(()) => q.pop(),
                Err(full) => Some(full.into_inner()),
            });
            let snap = observer.join().unwrap();
            let mut all: Vec<String> = popper.join().unwrap().into_iter().collect();
            all.extend(reuser.join().unwrap());
            all.extend(q.pop());
            all.sort();
            assert_eq!(all, ["new", "old"]);
            assert!(snap.len() <= 1, "snapshot {snap:?}");
            for s in snap {
                assert!(s == "old" || s == "new", "snapshot held {s:?}");
            }
        });
    }

    /// A peek while one thread pops lap 0 and pushes lap 1 into the same slot.
    #[test]
    fn peek_against_pop_and_reuse() {
        loom::model(|| {
            let q = Arc::new(RingBuffer::with_capacity(1));
            q.push(String::from("old")).unwrap();
            let peeker = on(&q, |q| q.peek());
            let other = on(&q, |q| {
                let old = q.pop();
                q.push(String::from("new")).unwrap();
                old
            });
            let peeked = peeker.join().unwrap();
            assert_eq!(other.join().unwrap().as_deref(), Some("old"));
            assert_eq!(q.pop().as_deref(), Some("new"));
            // None is right too: the ring is empty between the pop and the push.
            if let Some(p) = peeked {
                assert!(p == "old" || p == "new", "peeked {p:?}");
            }
        });
    }

    #[test]
    fn snapshot_against_pop() {
        loom::model(|| {
            let q = Arc::new(RingBuffer::with_capacity(2));
            q.push(String::from("x")).unwrap();
            q.push(String::from("y")).unwrap();
            let snapper = on(&q, |q| q.snapshot());
            let popper = on(&q, |q| q.pop());
            let snap = snapper.join().unwrap();
            assert_eq!(popper.join().unwrap().as_deref(), Some("x"));
            // "y" is present for the whole call; "x" may or may not be; order is kept.
            assert!(snap == ["x", "y"] || snap == ["y"], "snapshot {snap:?}");
            assert_eq!(q.pop().as_deref(), Some("y"));
        });
    }

    #[test]
    fn force_push_against_pop() {
        model_3(|| {
            let q = Arc::new(RingBuffer::with_capacity(1));
            q.push(String::from("1")).unwrap();
            let observer = on(&q, |q| q.snapshot());
            let evictor = on(&q, |q| q.force_push(String::from("2")));
            let popper = on(&q, |q| q.pop());
            let evicted = evictor.join().unwrap();
            let popped = popper.join().unwrap();
            let snap = observer.join().unwrap();
            let left = q.pop();
            assert_eq!(q.pop(), None);
            // "1" leaves exactly once (popped or evicted); "2" is popped or left.
            assert_eq!(evicted.as_deref(), evicted.as_ref().map(|_| "1"));
            let mut all: Vec<String> = [popped, evicted, left].into_iter().flatten().collect();
            all.sort();
            assert_eq!(all, ["1", "2"]);
            assert!(snap.len() <= 1, "snapshot {snap:?}");
            for s in snap {
                assert!(s == "1" || s == "2", "snapshot held {s:?}");
            }
        });
    }

    #[test]
    fn batches_against_each_other() {
        loom::model(|| {
            let q = Arc::new(RingBuffer::with_capacity(2));
            let producer = on(&q, |q| match q.push_batch([1, 2, 3]) {
                Ok(()) => Vec::new(),
                Err(full) => full.into_inner(),
            });
            let consumer = on(&q, |q| {
                let mut got = Vec::new();
                q.pop_many(&mut got, 2);
                got
            });
            let rest = producer.join().unwrap();
            let mut got = consumer.join().unwrap();
            q.pop_many(&mut got, 3);
            // Popped values come out in order; what did not fit is a suffix, handed back.
            assert!(got.len() >= 2, "got {got:?}");
            got.extend(&rest);
            assert_eq!(got, [1, 2, 3]);
        });
    }

    #[test]
    fn drop_of_non_empty_ring() {
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        loom::model(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            let q = Arc::new(RingBuffer::with_capacity(2));
            q.push(Counted(Arc::clone(&drops))).unwrap();
            let d = Arc::clone(&drops);
            let a = on(&q, move |q| {
                drop(q.pop());
                drop(q.force_push(Counted(d)));
            });
            let d = Arc::clone(&drops);
            let b = on(&q, move |q| drop(q.push(Counted(d))));
            a.join().unwrap();
            b.join().unwrap();
            let inside = q.len();
            assert_eq!(drops.load(Ordering::Relaxed) + inside, 3);
            drop(q);
            assert_eq!(drops.load(Ordering::Relaxed), 3);
        });
    }

    /// A producer and a consumer run a capacity-1 ring through three laps.
    #[test]
    fn wrap_around_spsc_capacity_one() {
        loom::model(|| {
            let q = Arc::new(RingBuffer::with_capacity(1));
            let producer = on(&q, |q| {
                for v in 1..=3u32 {
                    let mut v = v;
                    while let Err(full) = q.push(v) {
                        v = full.into_inner();
                        thread::yield_now();
                    }
                }
            });
            let consumer = on(&q, |q| {
                let mut got = Vec::new();
                while got.len() < 3 {
                    match q.pop() {
                        Some(v) => got.push(v),
                        None => thread::yield_now(),
                    }
                }
                got
            });
            producer.join().unwrap();
            assert_eq!(consumer.join().unwrap(), [1, 2, 3]);
            assert!(q.is_empty());
        });
    }

    /// A batch pop and a single pop compete for the same two elements.
    #[test]
    fn pop_many_against_pop() {
        loom::model(|| {
            let q = Arc::new(RingBuffer::with_capacity(2));
            q.push_batch([1, 2]).unwrap();
            let batch = on(&q, |q| {
                let mut got = Vec::new();
                q.pop_many(&mut got, 2);
                got
            });
            let single = on(&q, |q| q.pop());
            let mut got = batch.join().unwrap();
            let one = single.join().unwrap();
            // The batch's run is in order; together they took each element once.
            assert!(got.windows(2).all(|w| w[0] < w[1]), "batch {got:?}");
            got.extend(one);
            assert_exactly(got, &[1, 2]);
            assert!(q.is_empty());
        });
    }

    /// A peek against an eviction of the element it clones (capacity 1: same slot).
    #[test]
    fn peek_against_force_push() {
        loom::model(|| {
            let q = Arc::new(RingBuffer::with_capacity(1));
            q.push(String::from("old")).unwrap();
            let peeker = on(&q, |q| q.peek());
            let evictor = on(&q, |q| q.force_push(String::from("new")));
            let peeked = peeker
                .join()
                .unwrap()
                .expect("never empty: force_push keeps it full");
            assert!(peeked == "old" || peeked == "new", "peeked {peeked:?}");
            assert_eq!(evictor.join().unwrap().as_deref(), Some("old"));
            assert_eq!(q.pop().as_deref(), Some("new"));
        });
    }

    /// Two snapshots pin the same element while a pop takes it: the pin count goes to two and
    /// back, and the pop's move out waits for both clones (loom fails on a racing access).
    #[test]
    fn two_snapshots_against_pop() {
        model_3(|| {
            let q = Arc::new(RingBuffer::with_capacity(1));
            q.push(String::from("only")).unwrap();
            let a = on(&q, |q| q.snapshot());
            let b = on(&q, |q| q.snapshot());
            let popper = on(&q, |q| q.pop());
            assert_eq!(popper.join().unwrap().as_deref(), Some("only"));
            for snap in [a.join().unwrap(), b.join().unwrap()] {
                assert!(snap.is_empty() || snap == ["only"], "snapshot {snap:?}");
            }
            assert!(q.is_empty());
            assert_eq!(q.snapshot(), Vec::<String>::new());
        });
    }
}
