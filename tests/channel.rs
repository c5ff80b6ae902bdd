//! The MPMC channel (`mqsync::channel`): semantics, close and disconnection without loss, drop
//! counts, every blocking call's wake-ups, async, and threaded no-loss / no-duplicate stress.

use futures::executor::block_on;
use futures::StreamExt;
use mqsync::channel::{
    bounded, unbounded, Receiver, RecvError, RecvTimeoutError, SendTimeoutError, Sender,
    TryRecvError, TrySendError,
};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

mod stress;

/// Both flavors, small and large bounds.
fn flavors<T>() -> Vec<(&'static str, Sender<T>, Receiver<T>)> {
    let mut all = Vec::new();
    for (name, (tx, rx)) in [
        ("bounded(1)", bounded(1)),
        ("bounded(1024)", bounded(1024)),
        ("unbounded", unbounded()),
    ] {
        all.push((name, tx, rx));
    }
    all
}

/// Long enough that a sleeper is asleep when the other thread acts (no assertion depends on
/// it: a sleeper that is not yet asleep takes the fast path and the test still passes).
const NAP: Duration = Duration::from_millis(if cfg!(miri) { 1 } else { 20 });

struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn fifo_and_queries() {
    for (name, tx, rx) in flavors::<u32>() {
        assert!(tx.is_empty() && rx.is_empty(), "{name}");
        tx.send(1).unwrap();
        tx.try_send(2)
            .or_else(|e| e.is_full().then_some(()).ok_or(e))
            .unwrap();
        assert!(!rx.is_empty(), "{name}");
        assert_eq!(rx.recv(), Ok(1), "{name}");
        assert!(tx.same_channel(&tx.clone()) && rx.same_channel(&rx.clone()));
        assert!(!tx.is_closed());
        let _ = rx.try_iter().count();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{name}");
    }
}

#[test]
fn bounded_full_gives_the_value_back() {
    let (tx, rx) = bounded(2);
    tx.send("a").unwrap();
    tx.send("b").unwrap();
    assert!(tx.is_full());
    assert_eq!(tx.len(), 2);
    assert_eq!(tx.capacity(), Some(2));
    assert_eq!(tx.try_send("c"), Err(TrySendError::Full("c")));
    assert_eq!(
        tx.send_timeout("c", Duration::from_millis(1)),
        Err(SendTimeoutError::Timeout("c"))
    );
    assert_eq!(rx.recv(), Ok("a"));
    tx.send("c").unwrap();
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), ["b", "c"]);
}

#[test]
fn close_from_either_side_loses_nothing() {
    for side in ["sender", "receiver"] {
        for (name, tx, rx) in flavors::<u32>() {
            let sent: u32 = if tx.capacity() == Some(1) { 1 } else { 10 };
            for i in 0..sent {
                tx.send(i).unwrap();
            }
            let closed = if side == "sender" {
                tx.close()
            } else {
                rx.close()
            };
            assert!(closed, "{name}");
            assert!(!tx.close() && !rx.close(), "{name}: closed twice");
            assert!(tx.is_closed() && rx.is_closed());
            assert_eq!(tx.send(99).unwrap_err().into_inner(), 99, "{name}");
            assert_eq!(tx.try_send(98), Err(TrySendError::Disconnected(98)));
            assert_eq!(rx.iter().collect::<Vec<_>>(), (0..sent).collect::<Vec<_>>());
            assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected), "{name}");
            assert_eq!(rx.recv(), Err(RecvError));
        }
    }
}

#[test]
fn last_sender_gone_receivers_drain_then_disconnect() {
    for (name, tx, rx) in flavors::<u32>() {
        let tx2 = tx.clone();
        tx.send(7).unwrap();
        drop(tx);
        assert!(!rx.is_closed(), "{name}: one sender is left");
        drop(tx2);
        assert!(rx.is_closed());
        assert_eq!(rx.recv(), Ok(7), "{name}");
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(RecvTimeoutError::Disconnected)
        );
    }
}

#[test]
fn last_receiver_gone_drops_queued_values_at_once() {
    for (name, tx, rx) in flavors::<Counted>() {
        let drops = Arc::new(AtomicUsize::new(0));
        let n = tx.capacity().unwrap_or(100).min(100);
        for _ in 0..n {
            assert!(tx.send(Counted(drops.clone())).is_ok());
        }
        let rx2 = rx.clone();
        drop(rx);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "{name}: a receiver is left"
        );
        drop(rx2);
        assert_eq!(drops.load(Ordering::SeqCst), n, "{name}: dropped at once");
        let back = tx.send(Counted(drops.clone())).unwrap_err().into_inner();
        drop(back);
        assert_eq!(drops.load(Ordering::SeqCst), n + 1);
        drop(tx);
        assert_eq!(drops.load(Ordering::SeqCst), n + 1, "{name}: dropped twice");
    }
}

#[test]
fn values_left_in_a_dropped_channel_drop_once() {
    for (name, tx, rx) in flavors::<Counted>() {
        let drops = Arc::new(AtomicUsize::new(0));
        let n = tx.capacity().unwrap_or(77).min(77);
        for _ in 0..n {
            assert!(tx.send(Counted(drops.clone())).is_ok());
        }
        drop(rx.recv().unwrap());
        drop(tx);
        drop(rx);
        assert_eq!(drops.load(Ordering::SeqCst), n, "{name}");
    }
}

/// Runs `block` on a thread, `act` on this one after a nap, and returns `block`'s result.
fn wakes<R: Send + 'static>(block: impl FnOnce() -> R + Send + 'static, act: impl FnOnce()) -> R {
    let t = thread::spawn(block);
    thread::sleep(NAP);
    act();
    t.join().unwrap()
}

#[test]
fn recv_wakes_on_send_close_and_disconnect() {
    for (name, tx, rx) in flavors::<u32>() {
        let r = rx.clone();
        assert_eq!(
            wakes(move || r.recv(), || tx.send(5).unwrap()),
            Ok(5),
            "{name}"
        );
        let r = rx.clone();
        let deadline = Instant::now() + Duration::from_secs(60);
        assert_eq!(
            wakes(move || r.recv_deadline(deadline), || tx.send(6).unwrap()),
            Ok(6)
        );
        let r = rx.clone();
        assert_eq!(
            wakes(move || r.recv_timeout(NAP / 4), || {}),
            Err(RecvTimeoutError::Timeout)
        );
        let r = rx.clone();
        let t = tx.clone();
        assert_eq!(
            wakes(move || r.recv(), move || drop((tx, t))),
            Err(RecvError)
        );
        let _ = rx;
    }
    for (name, tx, rx) in flavors::<u32>() {
        let r = rx.clone();
        assert_eq!(
            wakes(move || r.recv(), || assert!(tx.close())),
            Err(RecvError),
            "{name}"
        );
    }
}

#[test]
fn send_wakes_on_recv_close_and_disconnect() {
    let (tx, rx) = bounded(1);
    tx.send(0u32).unwrap();
    let t = tx.clone();
    wakes(move || t.send(1).unwrap(), || assert_eq!(rx.recv(), Ok(0)));
    assert_eq!(rx.recv(), Ok(1));
    tx.send(2).unwrap();
    let t = tx.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    wakes(
        move || t.send_deadline(3, deadline).unwrap(),
        || assert_eq!(rx.recv(), Ok(2)),
    );
    let t = tx.clone();
    assert_eq!(
        wakes(move || t.send_timeout(4, NAP / 4), || {}),
        Err(SendTimeoutError::Timeout(4))
    );
    let t = tx.clone();
    assert_eq!(
        wakes(
            move || t.send(5).unwrap_err().into_inner(),
            || assert!(rx.close())
        ),
        5
    );
    let (tx, rx) = bounded(1);
    tx.send(0u32).unwrap();
    assert_eq!(
        wakes(
            move || tx.send(1).unwrap_err().into_inner(),
            move || drop(rx)
        ),
        1
    );
}

#[test]
fn async_send_and_recv() {
    for (name, tx, rx) in flavors::<u32>() {
        let n = if cfg!(miri) { 50 } else { 5_000 };
        let producer = thread::spawn(move || {
            block_on(async {
                for i in 0..n {
                    tx.send_async(i).await.unwrap();
                }
            })
        });
        let got: Vec<u32> = block_on(async {
            let mut got = Vec::new();
            while let Ok(v) = rx.recv_async().await {
                got.push(v);
            }
            got
        });
        producer.join().unwrap();
        assert_eq!(got, (0..n).collect::<Vec<_>>(), "{name}");
    }
}

#[test]
fn stream_ends_when_closed_and_drained() {
    let (tx, mut rx) = bounded(4);
    let producer = thread::spawn(move || {
        for i in 0..100u32 {
            tx.send(i).unwrap();
        }
    });
    let got: Vec<u32> = block_on((&mut rx).collect());
    producer.join().unwrap();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    use futures::stream::FusedStream;
    assert!(rx.is_terminated());
    assert_eq!(block_on(rx.next()), None);
}

#[test]
fn a_dropped_recv_future_takes_nothing() {
    let (tx, rx) = unbounded::<u32>();
    {
        let fut = rx.recv_async();
        let mut fut = Box::pin(fut);
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        tx.send(1).unwrap();
        // Dropped notified, before it polled again: the value stays queued.
    }
    assert_eq!(rx.try_recv(), Ok(1));
    use std::future::Future;
}

#[test]
fn a_wake_given_to_a_dropped_future_passes_on() {
    // Two receivers asleep: a future (notified first) and a thread. The future is dropped
    // without polling again; the thread must still get the value.
    let (tx, rx) = unbounded::<u32>();
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut fut = Box::pin(rx.recv_async());
    assert!(std::future::Future::poll(fut.as_mut(), &mut cx).is_pending());
    let r = rx.clone();
    let sleeper = thread::spawn(move || r.recv_timeout(Duration::from_secs(60)));
    thread::sleep(NAP);
    tx.send(1).unwrap(); // notifies the future, registered first
    drop(fut); // passes the wake-up on
    assert_eq!(sleeper.join().unwrap(), Ok(1));
}

#[test]
fn recv_many_moves_what_is_there() {
    let (tx, rx) = bounded(8);
    for i in 0..8 {
        tx.send(i).unwrap();
    }
    let mut out = Vec::new();
    assert_eq!(rx.recv_many(&mut out, 0), 0);
    assert_eq!(rx.recv_many(&mut out, 5), 5);
    assert_eq!(rx.recv_many(&mut out, 5), 3);
    assert_eq!(out, (0..8).collect::<Vec<_>>());
    let t = tx.clone();
    let got = wakes(
        move || {
            let mut out = Vec::new();
            (rx.recv_many(&mut out, 4), out)
        },
        move || t.send(8).unwrap(),
    );
    assert_eq!(got.0, got.1.len());
    assert_eq!(got.1[0], 8);
    drop(tx);
}

/// `producers` × `consumers` threads move `per_producer` values each; a closer (when
/// `close_at` is set) closes the channel after that many receives. Every value is received at
/// most once, in order per producer; every send that returned `Ok` is received.
fn stress(
    make: fn() -> (Sender<u64>, Receiver<u64>),
    producers: u64,
    consumers: usize,
    per_producer: u64,
    close_at: Option<usize>,
) {
    let (tx, rx) = make();
    let start = Arc::new(Barrier::new(producers as usize + consumers));
    let received = Arc::new(AtomicUsize::new(0));
    let mut sent_threads = Vec::new();
    for p in 0..producers {
        let tx = tx.clone();
        let start = start.clone();
        sent_threads.push(thread::spawn(move || {
            start.wait();
            let mut accepted = Vec::new();
            for i in 0..per_producer {
                let v = p << 32 | i;
                if tx.send(v).is_err() {
                    break;
                }
                accepted.push(v);
            }
            accepted
        }));
    }
    drop(tx);
    let mut recv_threads = Vec::new();
    for _ in 0..consumers {
        let rx = rx.clone();
        let start = start.clone();
        let received = received.clone();
        recv_threads.push(thread::spawn(move || {
            start.wait();
            let mut got = Vec::new();
            let mut last = vec![None::<u64>; producers as usize];
            while let Ok(v) = rx.recv() {
                let (p, i) = ((v >> 32) as usize, v & 0xffff_ffff);
                assert!(
                    last[p].is_none_or(|l| l < i),
                    "producer {p}: {i} after {last:?}"
                );
                last[p] = Some(i);
                got.push(v);
                let n = received.fetch_add(1, Ordering::Relaxed) + 1;
                if Some(n) == close_at {
                    rx.close();
                }
            }
            got
        }));
    }
    drop(rx);
    let accepted: Vec<u64> = sent_threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let got: Vec<u64> = recv_threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let unique: HashSet<u64> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len(), "a value was received twice");
    let accepted: HashSet<u64> = accepted.into_iter().collect();
    assert_eq!(unique, accepted, "received ≠ accepted");
    if close_at.is_none() {
        assert_eq!(got.len() as u64, producers * per_producer);
    }
}

/// Values per producer: 100,000, scaled by `MQSYNC_STRESS_SCALE` (the sanitizers run smaller).
fn per() -> u64 {
    if cfg!(miri) {
        60
    } else {
        stress::scaled(100_000, 400) as u64
    }
}

#[test]
fn stress_bounded_1() {
    stress(|| bounded(1), 4, 4, per() / 4, None);
}

#[test]
fn stress_bounded_1024() {
    stress(|| bounded(1024), 4, 4, per(), None);
}

#[test]
fn stress_unbounded() {
    stress(unbounded, 4, 4, per(), None);
}

#[test]
fn stress_close_in_the_middle() {
    for make in [|| bounded(1), || bounded(1024), unbounded as fn() -> _] {
        stress(make, 4, 4, per(), Some((per() as usize) / 2));
    }
}

#[test]
fn stress_rendezvous() {
    // Every rendezvous parks one side: fewer values.
    let per = (per() / 20).max(20);
    stress(|| bounded(0), 4, 4, per, None);
    stress(|| bounded(0), 4, 4, per, Some(per as usize / 2));
}

// ---- the rendezvous flavor, `bounded(0)` ----

#[test]
fn rendezvous_queries_and_try_ops() {
    let (tx, rx) = bounded::<u32>(0);
    assert_eq!(tx.capacity(), Some(0));
    assert_eq!(rx.len(), 0);
    assert!(tx.is_empty() && tx.is_full());
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(
        tx.send_timeout(2, Duration::from_millis(5)),
        Err(SendTimeoutError::Timeout(2))
    );
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(5)),
        Err(RecvTimeoutError::Timeout)
    );
    // A receiver waiting: try_send meets it.
    let r = rx.clone();
    let receiver = thread::spawn(move || r.recv());
    let start = Instant::now();
    while tx.try_send(3).is_err() {
        assert!(start.elapsed() < Duration::from_secs(60));
        thread::yield_now();
    }
    assert_eq!(receiver.join().unwrap(), Ok(3));
    // A sender waiting: try_recv meets it.
    let t = tx.clone();
    let sender = thread::spawn(move || t.send(4));
    let got = loop {
        if let Ok(v) = rx.try_recv() {
            break v;
        }
        thread::yield_now();
    };
    assert_eq!(got, 4);
    assert_eq!(sender.join().unwrap(), Ok(()));
}

#[test]
fn rendezvous_send_waits_for_the_receiver() {
    let (tx, rx) = bounded::<u32>(0);
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let sender = thread::spawn(move || {
        tx.send(1).unwrap();
        d.store(1, Ordering::SeqCst);
    });
    thread::sleep(NAP);
    assert_eq!(
        done.load(Ordering::SeqCst),
        0,
        "send returned with no receiver"
    );
    assert_eq!(rx.recv(), Ok(1));
    sender.join().unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 1);
}

#[test]
fn rendezvous_ping_pong() {
    let n = if cfg!(miri) { 20 } else { 2_000 };
    let (ping_tx, ping_rx) = bounded::<u32>(0);
    let (pong_tx, pong_rx) = bounded::<u32>(0);
    let echo = thread::spawn(move || {
        for v in &ping_rx {
            pong_tx.send(v + 1).unwrap();
        }
    });
    for i in 0..n {
        ping_tx.send(i).unwrap();
        assert_eq!(pong_rx.recv(), Ok(i + 1));
    }
    drop(ping_tx);
    echo.join().unwrap();
    assert_eq!(pong_rx.recv(), Err(RecvError));
}

#[test]
fn rendezvous_timeouts_never_lose_or_duplicate() {
    // Senders with short timeouts racing a slow receiver: a value is received iff its send
    // returned Ok; a timed-out send has its value back.
    let rounds = if cfg!(miri) { 10 } else { 300 };
    let (tx, rx) = bounded::<u32>(0);
    let sender = thread::spawn(move || {
        let mut accepted = Vec::new();
        for i in 0..rounds {
            match tx.send_timeout(i, Duration::from_micros(50)) {
                Ok(()) => accepted.push(i),
                Err(SendTimeoutError::Timeout(v)) => assert_eq!(v, i),
                Err(e) => panic!("{e:?}"),
            }
        }
        accepted
    });
    let mut got = Vec::new();
    while let Ok(v) = rx.recv() {
        got.push(v);
    }
    assert_eq!(sender.join().unwrap(), got);
}

#[test]
fn rendezvous_close_wakes_both_sides() {
    for side in ["sender", "receiver"] {
        let (tx, rx) = bounded::<u32>(0);
        let t = tx.clone();
        let waiting_send = thread::spawn(move || t.send(1));
        thread::sleep(NAP);
        if side == "sender" {
            tx.close();
        } else {
            rx.close();
        }
        // Either the close gave the value back, or (never here: nobody received) it went.
        assert_eq!(waiting_send.join().unwrap().unwrap_err().into_inner(), 1);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(tx.try_send(2), Err(TrySendError::Disconnected(2)));

        let (tx, rx) = bounded::<u32>(0);
        let waiting_recv = thread::spawn(move || rx.recv());
        thread::sleep(NAP);
        tx.close();
        assert_eq!(waiting_recv.join().unwrap(), Err(RecvError));
    }
}

#[test]
fn rendezvous_last_handle_gone() {
    // The last receiver gone: a waiting sender gets its value back, once.
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = bounded::<Counted>(0);
    let c = Counted(drops.clone());
    let waiting = thread::spawn(move || tx.send(c).map_err(|e| e.into_inner()));
    thread::sleep(NAP);
    drop(rx);
    let back = waiting.join().unwrap().expect_err("no receiver took it");
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(back);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    // The last sender gone: a waiting receiver sees Disconnected.
    let (tx, rx) = bounded::<u32>(0);
    let waiting = thread::spawn(move || rx.recv());
    thread::sleep(NAP);
    drop(tx);
    assert_eq!(waiting.join().unwrap(), Err(RecvError));
}

#[test]
fn rendezvous_async() {
    let n = if cfg!(miri) { 30 } else { 2_000 };
    let (tx, rx) = bounded::<u32>(0);
    let producer = thread::spawn(move || {
        block_on(async {
            for i in 0..n {
                tx.send_async(i).await.unwrap();
            }
        })
    });
    let got: Vec<u32> = block_on(async {
        let mut got = Vec::new();
        while let Ok(v) = rx.recv_async().await {
            got.push(v);
        }
        got
    });
    producer.join().unwrap();
    assert_eq!(got, (0..n).collect::<Vec<_>>());

    // Async receiver, blocking sender; and the Stream.
    let (tx, mut rx) = bounded::<u32>(0);
    let producer = thread::spawn(move || (0..n).for_each(|i| tx.send(i).unwrap()));
    let got: Vec<u32> = block_on((&mut rx).collect());
    producer.join().unwrap();
    assert_eq!(got, (0..n).collect::<Vec<_>>());
}

#[test]
fn rendezvous_dropped_futures_lose_nothing() {
    use std::future::Future;
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let drops = Arc::new(AtomicUsize::new(0));

    // A dropped send future withdraws its value and drops it: nobody receives it.
    let (tx, rx) = bounded::<Counted>(0);
    let mut fut = Box::pin(tx.send_async(Counted(drops.clone())));
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    drop(fut);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert!(rx.try_recv().is_err());

    // A send future taken by a receiver completes Ok when polled again.
    let (tx, rx) = bounded::<u32>(0);
    let mut fut = Box::pin(tx.send_async(5));
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert_eq!(rx.try_recv(), Ok(5));
    assert!(matches!(
        fut.as_mut().poll(&mut cx),
        std::task::Poll::Ready(Ok(()))
    ));

    // A value handed to a receive future that is then dropped goes to the next receiver.
    let (tx, rx) = bounded::<u32>(0);
    let mut fut = Box::pin(rx.recv_async());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert_eq!(tx.try_send(6), Ok(())); // handed to the waiting future
    drop(fut);
    assert_eq!(rx.len(), 1);
    assert_eq!(rx.try_recv(), Ok(6));
    assert_eq!(rx.len(), 0);

    // ... to another waiting receiver directly, if there is one.
    let (tx, rx) = bounded::<u32>(0);
    let mut first = Box::pin(rx.recv_async());
    let mut second = Box::pin(rx.recv_async());
    assert!(first.as_mut().poll(&mut cx).is_pending());
    assert!(second.as_mut().poll(&mut cx).is_pending());
    assert_eq!(tx.try_send(7), Ok(()));
    drop(first);
    assert_eq!(second.as_mut().poll(&mut cx), std::task::Poll::Ready(Ok(7)));

    // A dropped receive future that got nothing leaves no trace: a later try_send is Full.
    let (tx, rx) = bounded::<u32>(0);
    let mut fut = Box::pin(rx.recv_async());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    drop(fut);
    assert_eq!(tx.try_send(8), Err(TrySendError::Full(8)));

    // An orphan left when the last receiver goes is dropped once.
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = bounded::<Counted>(0);
    let mut fut = Box::pin(rx.recv_async());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert!(tx.try_send(Counted(drops.clone())).is_ok());
    drop(fut);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(rx);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn errors_print_without_debug_and_give_values_back() {
    struct NoDebug;
    let (tx, rx) = bounded(1);
    tx.send(NoDebug).unwrap();
    let full = tx.try_send(NoDebug).unwrap_err();
    assert_eq!(
        format!("{full:?} / {full}"),
        "Full(..) / sending on a full channel"
    );
    drop(rx);
    let err = tx.send(NoDebug).unwrap_err();
    assert_eq!(format!("{err:?}"), "SendError(..)");
    let _value: NoDebug = err.into_inner();
    assert_eq!(
        RecvTimeoutError::Timeout.to_string(),
        "timed out waiting on receive operation"
    );
}
