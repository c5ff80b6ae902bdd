#![cfg(mqsync_loom)]
//! loom models of the MPMC channel (`mqsync::channel`) over its real queues: the close mark in
//! the claim word (nothing accepted is lost, nothing refused is received), the wake protocol of
//! `waiters.rs` (a sleeper is never left asleep: loom reports a deadlock if every thread parks),
//! the last receiver's discard racing a send (every value dropped exactly once), `Select`
//! (one waiter on several lists: no lost wake-up, and a wake-up it does not use is passed on),
//! and the asynchronous waits (`recv_async`/`send_async`: a task's registration is woken).
//!
//! The models named `ring_…` and `list_…` run over the bare flavors (`LoomQueue`, built only
//! under loom): the channel's loom-only SeqCst fences would acquire what a Relaxed
//! load saw and hide a missing Acquire from a model that goes through the channel.
//!
//! Run with `.ci/loom --test channel`. Every racing operation runs in a spawned thread; the
//! model's main thread only sets up, joins and checks (loom 0.7.3 does not explore the main
//! thread's interleavings, see ring_buffer.rs).

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use mqsync::channel::{
    bounded, unbounded, LoomQueue, Receiver, RecvError, Select, Sender, TryRecvError,
};

/// Both flavors, as small as loom needs (the list flavor has 3-slot blocks under loom).
fn each_flavor(model: fn(Sender<u32>, Receiver<u32>)) {
    both_flavors(model, |body| loom::model(body));
}

/// Runs `model` over each flavor with `run` (a loom checker).
fn both_flavors(model: fn(Sender<u32>, Receiver<u32>), run: fn(Box<dyn Fn() + Sync + Send>)) {
    run(Box::new(move || {
        let (tx, rx) = bounded(1);
        model(tx, rx);
    }));
    run(Box::new(move || {
        let (tx, rx) = unbounded();
        model(tx, rx);
    }));
}

#[test]
fn channel_close_in_the_claim_loses_nothing() {
    // A send racing a close: if it returned Ok the value is received; if Err it is not.
    each_flavor(|tx, rx| {
        let closer = tx.clone();
        let sender = thread::spawn(move || tx.try_send(1).is_ok());
        let close = thread::spawn(move || closer.close());
        let accepted = sender.join().unwrap();
        assert!(close.join().unwrap());
        let mut got = Vec::new();
        loop {
            match rx.try_recv() {
                Ok(v) => got.push(v),
                Err(TryRecvError::Disconnected) => break,
                Err(e) => panic!("closed and drained must say Disconnected, not {e:?}"),
            }
        }
        assert_eq!(got, if accepted { vec![1] } else { vec![] });
    });
}

/// A receive (`recv`, or `recv_async` under `block_on`) waiting on an empty channel, woken by a
/// send.
fn receive_woken_by_a_send(
    tx: Sender<u32>,
    rx: Receiver<u32>,
    receive: fn(&Receiver<u32>) -> Result<u32, RecvError>,
) {
    let receiver = thread::spawn(move || receive(&rx));
    let sender = thread::spawn(move || {
        tx.send(7).unwrap();
        tx // keep the channel open until the receive is done
    });
    assert_eq!(receiver.join().unwrap(), Ok(7));
    drop(sender.join().unwrap());
}

#[test]
fn channel_receiver_asleep_is_woken_by_a_send() {
    each_flavor(|tx, rx| receive_woken_by_a_send(tx, rx, |rx| rx.recv()));
}

#[test]
fn channel_receiver_asleep_is_woken_by_close() {
    each_flavor(|tx, rx| {
        let receiver = thread::spawn(move || rx.recv().is_err());
        let closer = thread::spawn(move || {
            tx.close();
            tx
        });
        assert!(receiver.join().unwrap());
        drop(closer.join().unwrap());
    });
}

#[test]
fn channel_sender_asleep_on_full_is_woken_by_a_receive() {
    loom::model(|| {
        let (tx, rx) = bounded::<u32>(1);
        tx.send(1).unwrap();
        let rx2 = rx.clone();
        let sender = thread::spawn(move || tx.send(2).is_ok());
        let receiver = thread::spawn(move || rx2.recv());
        assert_eq!(receiver.join().unwrap(), Ok(1));
        assert!(sender.join().unwrap());
        assert_eq!(rx.recv(), Ok(2));
    });
}

#[test]
fn channel_two_receivers_asleep_two_sends_wake_both() {
    // Receivers that wake and find the other took the value go back to sleep: more branches
    // than loom's default allows.
    // With two preemptions the model does not finish in 15 minutes; one covers a send landing
    // between any receiver's registration and its re-check.
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 100_000;
    builder.preemption_bound = Some(1);
    builder.check(|| {
        let (tx, rx) = bounded::<u32>(2);
        let r1 = rx.clone();
        let a = thread::spawn(move || r1.recv());
        let b = thread::spawn(move || rx.recv());
        let s = thread::spawn(move || {
            tx.send(1).unwrap();
            tx.send(2).unwrap();
            tx
        });
        let mut got = [a.join().unwrap().unwrap(), b.join().unwrap().unwrap()];
        got.sort();
        assert_eq!(got, [1, 2]);
        drop(s.join().unwrap());
    });
}

// The asynchronous waits (`recv_async`, `send_async`): a task registers on the same lists
// through `Registration` (handoff/mpmc/registration.rs) and is woken through its waker.
// `loom::future::block_on` parks the thread while the future is pending and resumes it only when
// the waker is woken, so a lost wake-up is a deadlock loom reports.

/// As `each_flavor`, with one preemption and a larger branch budget: `block_on` polls again at
/// every wake-up, which multiplies the schedules (with two preemptions a three-thread model of a
/// dropped future ran for more than ten minutes); one preemption still puts a send or a close
/// between the task's registration and its re-check, and the model of a receive woken by a send
/// fails (deadlock) when the send's N1 notification is removed.
fn each_flavor_async(model: fn(Sender<u32>, Receiver<u32>)) {
    both_flavors(model, |body| model_async(body));
}

/// A model run with one preemption and a larger branch budget (see `each_flavor_async`).
fn model_async(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 100_000;
    builder.preemption_bound = Some(1);
    builder.check(model);
}

#[test]
fn channel_async_receiver_is_woken_by_a_send() {
    each_flavor_async(|tx, rx| {
        receive_woken_by_a_send(tx, rx, |rx| loom::future::block_on(rx.recv_async()))
    });
}

#[test]
fn channel_async_receiver_is_woken_by_the_last_sender_leaving() {
    each_flavor_async(|tx, rx| {
        let receiver = thread::spawn(move || loom::future::block_on(rx.recv_async()).is_err());
        let sender = thread::spawn(move || drop(tx));
        assert!(receiver.join().unwrap());
        sender.join().unwrap();
    });
}

#[test]
fn channel_async_sender_on_full_is_woken_by_a_receive() {
    model_async(|| {
        let (tx, rx) = bounded::<u32>(1);
        tx.send(1).unwrap();
        let rx2 = rx.clone();
        let sender = thread::spawn(move || loom::future::block_on(tx.send_async(2)).is_ok());
        let receiver = thread::spawn(move || rx2.recv());
        assert_eq!(receiver.join().unwrap(), Ok(1));
        assert!(sender.join().unwrap());
        assert_eq!(rx.recv(), Ok(2));
    });
}

struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn channel_last_receiver_dropped_racing_a_send_drops_once() {
    for bounded_flavor in [true, false] {
        loom::model(move || {
            let drops = Arc::new(AtomicUsize::new(0));
            let (tx, rx) = if bounded_flavor {
                bounded(1)
            } else {
                unbounded()
            };
            let d = drops.clone();
            let sender = thread::spawn(move || match tx.send(Counted(d)) {
                Ok(()) => true,
                Err(back) => {
                    drop(back.into_inner());
                    false
                }
            });
            let dropper = thread::spawn(move || drop(rx));
            sender.join().unwrap();
            dropper.join().unwrap();
            // Every handle is gone: the value was dropped exactly once, by the discard, the
            // channel's own drop, or the failed send's caller.
            assert_eq!(drops.load(Ordering::Relaxed), 1);
        });
    }
}

#[test]
fn channel_unbounded_block_change_racing_receivers() {
    // The list has 3-slot blocks under loom. Two values go through first, so the next send
    // claims a block's last slot and installs the next block while two receivers race for it
    // and a second send lands in the new block: both values are received exactly once, the
    // retired block is kept as a spare, freed or left in the limbo (loom reports a leak or a
    // use after free).
    // The waits at the boundary spin (yield under loom): more branches than the default, and
    // one preemption to finish in CI time.
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 100_000;
    builder.preemption_bound = Some(1);
    builder.check(|| {
        let (tx, rx) = unbounded::<u32>();
        for i in 0..2 {
            tx.send(i).unwrap();
            assert_eq!(rx.try_recv(), Ok(i));
        }
        let tx2 = tx.clone();
        let rx2 = rx.clone();
        let a = thread::spawn(move || tx.send(10).unwrap());
        let b = thread::spawn(move || rx2.recv().unwrap());
        let c = thread::spawn(move || tx2.send(11).unwrap());
        a.join().unwrap();
        c.join().unwrap();
        let first = b.join().unwrap();
        let second = rx.try_recv().unwrap();
        let mut got = [first, second];
        got.sort();
        assert_eq!(got, [10, 11]);
        assert!(rx.try_recv().is_err());
    });
}

#[test]
fn channel_unbounded_block_retired_under_a_reading_receiver() {
    // A receiver releases its slot with a plain store, and the receiver of a block's last slot
    // recycles the block only if every slot is released; if not, the block waits on the limbo
    // stack until a later block change finds it released (list.rs, "Freeing a block"). Here
    // receiver `a` takes one value while `b` takes the rest of blocks 0 and 1 (3-slot blocks
    // under loom; either may retire a block), and then `b` sends enough to take the one spare
    // for a new block and write into it. If `b` could reuse block 0 while `a` still read from it, loom would
    // report `b`'s write racing `a`'s read of the same cell: planting a Relaxed release store,
    // or a retirement that skips the check, makes this model fail (a Relaxed load in the
    // check does not: loom did not find that one).
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 100_000;
    builder.preemption_bound = Some(2);
    builder.check(|| {
        let (tx, rx) = unbounded::<u32>();
        for i in 0..6 {
            tx.send(i).unwrap();
        }
        assert_eq!(rx.try_recv(), Ok(0));
        let rx_a = rx.clone();
        let a = thread::spawn(move || rx_a.try_recv().unwrap());
        let rx_b = rx.clone();
        let tx_b = tx.clone();
        let b = thread::spawn(move || {
            let mut got = Vec::new();
            while got.len() < 4 {
                match rx_b.try_recv() {
                    Ok(v) => got.push(v),
                    Err(_) => thread::yield_now(),
                }
            }
            for i in 6..11 {
                tx_b.send(i).unwrap();
            }
            got
        });
        let mut got = b.join().unwrap();
        got.push(a.join().unwrap());
        got.sort();
        assert_eq!(got, [1, 2, 3, 4, 5]);
        for i in 6..11 {
            assert_eq!(rx.try_recv(), Ok(i));
        }
        assert!(rx.try_recv().is_err());
    });
}

/// Receives `n` values from a bare flavor, yielding while it is empty.
fn take(queue: &LoomQueue, n: usize) -> Vec<u32> {
    let mut got = Vec::new();
    while got.len() < n {
        match queue.try_recv() {
            Some(v) => got.push(v),
            None => thread::yield_now(),
        }
    }
    got
}

#[test]
fn ring_slot_is_reused_only_after_its_receiver_moved_the_value_out() {
    // Over the bare bounded ring (`LoomQueue::bounded(1)`): through the channel, its SeqCst
    // fences would acquire what a Relaxed stamp load saw. The sender sends 1 then 2, so its
    // second write reuses the slot that the receiver's first receive freed; the receiver takes
    // both. The stamps' Release stores and Acquire loads order each cell write after the
    // previous read and each read after its write; loom reports a cell accessed by two threads
    // without that order: planting a Relaxed stamp load in either claim, or a Relaxed stamp
    // store after either access, makes this model fail.
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 100_000;
    builder.preemption_bound = Some(1);
    builder.check(|| {
        let ring = Arc::new(LoomQueue::bounded(1));
        let r = Arc::clone(&ring);
        let sender = thread::spawn(move || {
            for v in [1, 2] {
                while !r.try_send(v) {
                    thread::yield_now();
                }
            }
        });
        let r = Arc::clone(&ring);
        let receiver = thread::spawn(move || take(&r, 2));
        sender.join().unwrap();
        assert_eq!(receiver.join().unwrap(), [1, 2]);
        assert_eq!(ring.try_recv(), None);
    });
}

#[test]
fn ring_guessed_claims_that_went_stale_fall_back() {
    // Over the bare bounded ring: the two senders share one hint (so does the receiver side,
    // with the main thread's receives), so a sender's guess goes stale whenever the other
    // sender or a lap of the ring got there first (array.rs [6]). A claim from a stale guess
    // must fail and fall back, never write a slot another claim owns or one still holding an
    // unread value: every value arrives once. Skipping the guessed claim's stamp check, or
    // planting a Relaxed stamp load in it, makes this model or the one above fail.
    // One preemption: with two the model runs for more than ten minutes.
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 100_000;
    builder.preemption_bound = Some(1);
    builder.check(|| {
        let ring = Arc::new(LoomQueue::bounded(1));
        let senders: Vec<_> = [1, 2]
            .into_iter()
            .map(|v| {
                let r = Arc::clone(&ring);
                thread::spawn(move || {
                    while !r.try_send(v) {
                        thread::yield_now();
                    }
                })
            })
            .collect();
        let r = Arc::clone(&ring);
        let receiver = thread::spawn(move || take(&r, 2));
        for sender in senders {
            sender.join().unwrap();
        }
        let mut got = receiver.join().unwrap();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        assert_eq!(ring.try_recv(), None);
    });
}

#[test]
fn list_block_is_reused_only_after_its_last_reader_released_it() {
    // Over the bare list (`LoomQueue::unbounded()`): through the channel, its SeqCst fences
    // would acquire what a Relaxed load saw and hide the bug this model is for. Block 0 holds
    // 0..3 (3-slot blocks under loom). `a` takes one value of it, `b` the other two: whichever
    // takes the last slot retires block 0, perhaps while the other still reads (then into the
    // limbo). `b` then fills block 1; `c`, once `a` and `b` have their values, empties it, so
    // its retirement reaps the limbo (a block another thread pushed), and sends six more, the
    // third of which takes the one spare (block 0, if it was recycled) whose cells the rest
    // write.
    // `c` learns that `a` and `b` are done through a Relaxed counter, which orders nothing. A
    // recycling that did not wait for every reader lets a write race a read of the same cell,
    // which loom reports: planting a Relaxed release store, or a Relaxed load in the check,
    // makes this model fail.
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 100_000;
    builder.preemption_bound = Some(1);
    builder.check(|| {
        let list = Arc::new(LoomQueue::unbounded());
        for i in 0..3 {
            assert!(list.try_send(i));
        }
        let done = Arc::new(AtomicUsize::new(0));
        let (l, d) = (Arc::clone(&list), Arc::clone(&done));
        let a = thread::spawn(move || {
            let got = take(&l, 1);
            // Relaxed: a signal that orders nothing (see above).
            d.fetch_add(1, Ordering::Relaxed);
            got
        });
        let (l, d) = (Arc::clone(&list), Arc::clone(&done));
        let b = thread::spawn(move || {
            let got = take(&l, 2);
            d.fetch_add(1, Ordering::Relaxed);
            for i in 10..13 {
                assert!(l.try_send(i));
            }
            got
        });
        let (l, d) = (Arc::clone(&list), Arc::clone(&done));
        let c = thread::spawn(move || {
            while d.load(Ordering::Relaxed) < 2 {
                thread::yield_now();
            }
            let got = take(&l, 3);
            for i in 20..26 {
                assert!(l.try_send(i));
            }
            got
        });
        let mut first = a.join().unwrap();
        first.extend(b.join().unwrap());
        first.sort();
        assert_eq!(first, [0, 1, 2]);
        assert_eq!(c.join().unwrap(), [10, 11, 12]);
        assert_eq!(take(&list, 6), [20, 21, 22, 23, 24, 25]);
    });
}

#[test]
fn channel_unbounded_head_never_passes_a_tail_on_the_sentinel() {
    const PERMUTATIONS: usize = 20_000;
    // The send that claims a block's last slot moves the tail off the sentinel *before* it
    // links the next block (list.rs, "Positions"). Linked first, a receiver of the last slot
    // could move the head into the next block while the tail still sat on the sentinel, and a
    // second receiver would see a head in a later lap than the tail, claim a position no
    // sender had, and wait for its value for ever (found by review). Here nothing is sent
    // after the last slot, so that receiver would never return: loom reports it (branch limit).
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 20_000;
    builder.preemption_bound = Some(2);
    // Two preemptions explore for hours (the waits at the boundary spin, and every spin is a
    // yield loom branches at); the first interleavings in loom's order hold the bug's (found
    // in 0.3 s with the bug planted), so the exploration stops after this many.
    builder.max_permutations = Some(PERMUTATIONS);
    builder.check(|| {
        let (tx, rx) = unbounded::<u32>();
        for i in 0..2 {
            tx.send(i).unwrap();
            assert_eq!(rx.try_recv(), Ok(i));
        }
        let rx2 = rx.clone();
        let rx3 = rx.clone();
        let a = thread::spawn(move || tx.send(10).unwrap()); // the block's last slot
        let b = thread::spawn(move || rx2.try_recv().ok());
        let c = thread::spawn(move || rx3.try_recv().ok());
        a.join().unwrap();
        let got: Vec<u32> = [b.join().unwrap(), c.join().unwrap(), rx.try_recv().ok()]
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(got, [10], "the value is received exactly once");
    });
}

// ---- the rendezvous flavor, `bounded(0)` (zero.rs) ----

#[test]
fn rendezvous_send_and_recv_meet_once() {
    // A blocking send racing a blocking receive: they meet, the send returns Ok only with the
    // value received, and neither sleeps for ever (loom reports a deadlock otherwise).
    loom::model(|| {
        let (tx, rx) = bounded::<u32>(0);
        let sender = thread::spawn(move || {
            let sent = tx.send(1);
            (sent, tx)
        });
        let receiver = thread::spawn(move || rx.recv());
        assert_eq!(receiver.join().unwrap(), Ok(1));
        let (sent, tx) = sender.join().unwrap();
        assert_eq!(sent, Ok(()));
        drop(tx);
    });
}

#[test]
fn rendezvous_close_racing_a_waiting_send() {
    // A send racing a try_recv and a close: the value is received, or given back, never both
    // nor neither.
    loom::model(|| {
        let (tx, rx) = bounded::<u32>(0);
        let closer = tx.clone();
        let sender = thread::spawn(move || tx.send(1).err().map(|e| e.into_inner()));
        let receiver = thread::spawn(move || {
            let got = rx.try_recv().ok();
            (got, rx)
        });
        let close = thread::spawn(move || closer.close());
        close.join().unwrap();
        let back = sender.join().unwrap();
        let (got, rx) = receiver.join().unwrap();
        assert!(
            got.is_some() != back.is_some(),
            "received {got:?}, given back {back:?}"
        );
        drop(rx);
    });
}

#[test]
fn rendezvous_timed_out_send_racing_a_receive() {
    // Under loom the deadline passes at the sender's first wait (zero.rs `park_until`), so the
    // give-up races the receive. A send that timed out has its value back and nobody received
    // it; an Ok send's value was received.
    loom::model(|| {
        let (tx, rx) = bounded::<u32>(0);
        let sender = thread::spawn(move || {
            let sent = tx.send_timeout(1, std::time::Duration::from_millis(1));
            (sent, tx)
        });
        let receiver = thread::spawn(move || {
            let got = rx.try_recv().ok();
            (got, rx)
        });
        let (sent, tx) = sender.join().unwrap();
        let (got, rx) = receiver.join().unwrap();
        match sent {
            Ok(()) => assert_eq!(got, Some(1)),
            Err(e) => {
                assert_eq!(e.into_inner(), 1);
                assert_eq!(got, None);
            }
        }
        drop((tx, rx));
    });
}

// ---- `Select` (select.rs, waiters.rs "Select") ----

/// A select over `a` and `b` (in that order of arms), returning the winning arm and value.
fn select_once(a: &Receiver<u32>, b: &Receiver<u32>) -> (usize, Option<u32>) {
    let mut select = Select::new();
    select.recv(a, |r| r.ok());
    select.recv(b, |r| r.ok());
    select.select()
}

#[test]
fn select_asleep_on_two_channels_is_woken_by_a_send_on_one() {
    // The select joins both lists, re-checks both, sleeps; the send on B lands anywhere in
    // that. A lost wake-up leaves every thread parked: loom reports the deadlock. Each pair
    // of flavors: the ring, the list, and the rendezvous (whose sender notifies the watchers).
    for flavor in ["bounded(1)", "unbounded", "bounded(0)"] {
        loom::model(move || {
            let make = || match flavor {
                "bounded(1)" => bounded::<u32>(1),
                "unbounded" => unbounded(),
                _ => bounded(0),
            };
            let ((tx_a, a), (tx_b, b)) = (make(), make());
            let selector = thread::spawn(move || (select_once(&a, &b), a, b));
            let sender = thread::spawn(move || {
                tx_b.send(7).unwrap();
                tx_b
            });
            let (got, a, b) = selector.join().unwrap();
            assert_eq!(got, (1, Some(7)), "{flavor}");
            drop((sender.join().unwrap(), tx_a, a, b));
        });
    }
}

#[test]
fn select_passes_on_a_wake_up_it_does_not_use() {
    // P sleeps in `a.recv()`, S selects over [b, a] (B scanned first). Q sends on B, then on A.
    // If A's wake-up goes to S (S joined A's list before P) and S returns B's value, S must
    // pass A's wake-up on to P, or P sleeps beside A's value for ever (loom: deadlock). When S
    // takes A's value instead, it sends P another.
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 100_000;
    builder.check(|| {
        let (tx_a, a) = unbounded::<u32>();
        let (tx_b, b) = unbounded::<u32>();
        let a2 = a.clone();
        let tx_a2 = tx_a.clone();
        let plain = thread::spawn(move || a2.recv().unwrap());
        let selector = thread::spawn(move || {
            let got = select_once(&b, &a);
            if got.0 == 1 {
                tx_a2.send(2).unwrap();
            }
            (got, a, b)
        });
        let sender = thread::spawn(move || {
            tx_b.send(10).unwrap();
            tx_a.send(1).unwrap();
            (tx_a, tx_b)
        });
        let (got, a, _b) = selector.join().unwrap();
        let p = plain.join().unwrap();
        match got {
            (0, Some(10)) => assert_eq!(p, 1),
            (1, Some(1)) => assert_eq!(p, 2),
            other => panic!("select returned {other:?}"),
        }
        assert!(a.try_recv().is_err(), "A holds one value, received once");
        drop(sender.join().unwrap());
    });
}

#[test]
fn select_that_lost_the_value_is_woken_by_the_next_send() {
    // S selects over [a] (one arm, or the same channel twice), P sleeps in `a.recv()`, Q sends
    // two values. A send may wake S and P may take its value first: S then scans, finds
    // nothing, joins the list again, and the second send must wake whichever still sleeps
    // (loom: deadlock otherwise). With two arms on one channel the waiter sits on one list
    // twice, and leaving the list must take both entries out.
    for arms in [1, 2] {
        let mut builder = loom::model::Builder::new();
        builder.max_branches = 100_000;
        builder.check(move || {
            let (tx, a) = unbounded::<u32>();
            let a2 = a.clone();
            let plain = thread::spawn(move || a2.recv().unwrap());
            let selector = thread::spawn(move || {
                let got = {
                    let mut select = Select::new();
                    for _ in 0..arms {
                        select.recv(&a, |r| r.ok());
                    }
                    select.select().1
                };
                (got, a)
            });
            let sender = thread::spawn(move || {
                tx.send(1).unwrap();
                tx.send(2).unwrap();
                tx
            });
            let (got, a) = selector.join().unwrap();
            let p = plain.join().unwrap();
            let mut both = [got.expect("a value, not a disconnect"), p];
            both.sort_unstable();
            assert_eq!(both, [1, 2], "{arms} arm(s)");
            assert!(a.try_recv().is_err());
            drop(sender.join().unwrap());
        });
    }
}

#[test]
fn timed_select_that_gives_up_passes_its_wake_up_on() {
    // S waits on [a] with a timeout (under loom the deadline passes at the first wait), P
    // sleeps in `a.recv()`, Q sends one value: whoever gets it, nobody is left asleep beside
    // it (loom: deadlock) and nothing is received twice (when S gets it, S sends P another).
    // S's last scan follows its leaving the lists, so a wake-up it holds when it gives up has
    // no value behind it; its pass-on there is a margin this model cannot tell from none.
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 100_000;
    builder.check(|| {
        let (tx, a) = unbounded::<u32>();
        let a2 = a.clone();
        let tx2 = tx.clone();
        let plain = thread::spawn(move || a2.recv().unwrap());
        let selector = thread::spawn(move || {
            let got = {
                let mut select = Select::new();
                select.recv(&a, |r| r.ok());
                select.select_timeout(std::time::Duration::from_secs(1))
            };
            if got.is_ok() {
                tx2.send(2).unwrap();
            }
            (got.ok().and_then(|(_, v)| v), a)
        });
        let sender = thread::spawn(move || {
            tx.send(1).unwrap();
            tx
        });
        let (got, a) = selector.join().unwrap();
        let p = plain.join().unwrap();
        match got {
            Some(v) => assert_eq!((v, p), (1, 2)),
            None => assert_eq!(p, 1),
        }
        assert!(a.try_recv().is_err());
        drop(sender.join().unwrap());
    });
}
