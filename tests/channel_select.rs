//! `mqsync::channel::Select`: the ready arm wins, disconnection and timeouts are reported,
//! every flavor (rendezvous included) wakes a sleeping select, a wake-up the select does not use
//! is passed on, and threaded stress with selecting and plain consumers receives every value
//! exactly once with nothing left asleep.

use mqsync::channel::{
    bounded, unbounded, Receiver, RecvError, Select, SelectTimeoutError, Sender, TrySelectError,
    TrySendError,
};
use std::collections::HashMap;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

mod stress;

/// Every flavor: the ring at its smallest and larger, the list, the rendezvous.
fn flavors<T>() -> Vec<(&'static str, Sender<T>, Receiver<T>)> {
    let mut all = Vec::new();
    for (name, (tx, rx)) in [
        ("bounded(1)", bounded(1)),
        ("bounded(16)", bounded(16)),
        ("unbounded", unbounded()),
        ("bounded(0)", bounded(0)),
    ] {
        all.push((name, tx, rx));
    }
    all
}

/// Long enough that the select is asleep when the other thread acts (no assertion depends on
/// it: a select that is not yet asleep finds the value in its scan).
const NAP: Duration = Duration::from_millis(if cfg!(miri) { 1 } else { 20 });

/// Sends `value` on a thread (a rendezvous send waits for the receiver there) and returns it.
fn send_later<T: Send + 'static>(tx: &Sender<T>, value: T) -> thread::JoinHandle<()> {
    let tx = tx.clone();
    thread::spawn(move || {
        thread::sleep(NAP);
        tx.send(value).unwrap();
    })
}

#[test]
fn the_ready_receiver_is_chosen() {
    let (_tx_a, a) = unbounded::<u32>();
    let (tx_b, b) = bounded::<u32>(2);
    let (_tx_c, c) = bounded::<u32>(0);
    let mut select = Select::new();
    let ia = select.recv(&a, |r| r);
    let ib = select.recv(&b, |r| r);
    let ic = select.recv(&c, |r| r);
    assert_eq!((ia, ib, ic), (0, 1, 2));
    assert_eq!(select.try_select(), Err(TrySelectError));
    tx_b.send(1).unwrap();
    tx_b.send(2).unwrap();
    assert_eq!(select.try_select(), Ok((ib, Ok(1))));
    assert_eq!(select.select(), (ib, Ok(2)));
    assert_eq!(select.try_select(), Err(TrySelectError));
    // Nothing was taken from the others.
    assert!(a.is_empty() && b.is_empty());
}

#[test]
fn different_element_types_meet_in_one_output() {
    #[derive(Debug, PartialEq)]
    enum Event {
        Number(u64),
        Word(String),
        Gone(&'static str),
    }
    let (tx_n, numbers) = bounded(1);
    let (tx_w, words) = unbounded();
    let mut select = Select::new();
    select.recv(&numbers, |r: Result<u64, RecvError>| {
        r.map_or(Event::Gone("numbers"), Event::Number)
    });
    select.recv(&words, |r: Result<String, RecvError>| {
        r.map_or(Event::Gone("words"), Event::Word)
    });
    tx_n.send(7).unwrap();
    tx_w.send("seven".to_string()).unwrap();
    let mut got = vec![select.select().1, select.select().1];
    drop(tx_n);
    got.push(select.select().1);
    assert_eq!(
        got,
        [
            Event::Number(7),
            Event::Word("seven".into()),
            Event::Gone("numbers")
        ]
    );
}

#[test]
fn a_disconnected_receiver_is_reported_after_its_values() {
    for (name, tx, rx) in flavors::<u32>() {
        let (_keep, other) = unbounded::<u32>();
        let mut select = Select::new();
        select.recv(&other, |r| r);
        let i = select.recv(&rx, |r| r);
        if rx.capacity() != Some(0) {
            tx.send(1).unwrap();
            drop(tx);
            assert_eq!(select.select(), (i, Ok(1)), "{name}: values first");
        } else {
            drop(tx);
        }
        assert_eq!(select.select(), (i, Err(RecvError)), "{name}");
        assert_eq!(select.try_select(), Ok((i, Err(RecvError))), "{name}");
        select.remove(i);
        assert_eq!(select.try_select(), Err(TrySelectError), "{name}");
    }
}

#[test]
fn a_timeout_is_reported_as_a_timeout() {
    for (name, _tx, rx) in flavors::<u32>() {
        let (_tx2, rx2) = unbounded::<u32>();
        let mut select = Select::new();
        select.recv(&rx, |r| r);
        select.recv(&rx2, |r| r);
        let start = Instant::now();
        assert_eq!(
            select.select_timeout(NAP / 4),
            Err(SelectTimeoutError),
            "{name}"
        );
        assert!(start.elapsed() >= NAP / 4, "{name}: returned early");
        assert_eq!(
            select.select_deadline(Instant::now()),
            Err(SelectTimeoutError),
            "{name}: a deadline already passed"
        );
    }
    // No receivers: sleeps until the deadline.
    let mut empty = Select::<()>::new();
    assert_eq!(empty.select_timeout(NAP / 4), Err(SelectTimeoutError));
    assert_eq!(empty.try_select(), Err(TrySelectError));
}

#[test]
#[should_panic(expected = "no receivers")]
fn select_without_receivers_panics() {
    Select::<()>::new().select();
}

#[test]
fn a_sleeping_select_is_woken_by_a_send_on_any_receiver() {
    for position in 0..4 {
        let mut txs = Vec::new();
        let mut rxs = Vec::new();
        for (_, tx, rx) in flavors::<u32>() {
            txs.push(tx);
            rxs.push(rx);
        }
        let mut select = Select::new();
        for rx in &rxs {
            select.recv(rx, |r| r);
        }
        let sender = send_later(&txs[position], 40 + position as u32);
        assert_eq!(select.select(), (position, Ok(40 + position as u32)));
        sender.join().unwrap();
        // Timed waits too.
        let sender = send_later(&txs[position], 50);
        let got = select.select_timeout(Duration::from_secs(60));
        assert_eq!(got, Ok((position, Ok(50))));
        sender.join().unwrap();
    }
}

#[test]
fn a_sleeping_select_is_woken_by_close_and_by_disconnect() {
    for how in ["close", "disconnect"] {
        for (name, tx, rx) in flavors::<u32>() {
            let (_keep, other) = unbounded::<u32>();
            let actor = thread::spawn(move || {
                thread::sleep(NAP);
                if how == "close" {
                    assert!(tx.close());
                } else {
                    drop(tx); // the last sender
                }
            });
            let mut select = Select::new();
            select.recv(&other, |r| r);
            let i = select.recv(&rx, |r| r);
            assert_eq!(select.select(), (i, Err(RecvError)), "{name}: {how}");
            actor.join().unwrap();
        }
    }
}

#[test]
fn rendezvous_sender_hands_its_value_to_a_select() {
    let (tx, rx) = bounded::<u32>(0);
    let (_tx2, rx2) = bounded::<u32>(0);
    let mut select = Select::new();
    let i = select.recv(&rx, |r| r);
    select.recv(&rx2, |r| r);
    // A select is not offered values: `try_send` meets only a receiver blocked in `recv`.
    let probe = {
        let tx = tx.clone();
        thread::spawn(move || {
            thread::sleep(NAP);
            tx.try_send(0)
        })
    };
    assert_eq!(
        select.select_timeout(NAP * 3),
        Err(SelectTimeoutError),
        "try_send must not hand a value to a select"
    );
    assert_eq!(probe.join().unwrap(), Err(TrySendError::Full(0)));
    // A waiting sender: the select takes its value, and the send returns Ok.
    let sender = {
        let tx = tx.clone();
        thread::spawn(move || tx.send(9))
    };
    assert_eq!(select.select(), (i, Ok(9)));
    assert_eq!(sender.join().unwrap(), Ok(()));
    // The select sleeping first, the sender arriving later.
    let sender = send_later(&tx, 10);
    assert_eq!(select.select(), (i, Ok(10)));
    sender.join().unwrap();
    // A timed-out send is never received.
    assert!(tx.send_timeout(11, Duration::from_millis(1)).is_err());
    assert_eq!(select.try_select(), Err(TrySelectError));
}

#[test]
fn rendezvous_async_senders_and_orphans_wake_a_select() {
    // The rendezvous flavor's other ways in: a waiting `send_async` future, a `SendSink` whose
    // flush waits, and an orphan (a value handed to a `recv_async` future that was dropped
    // before it returned it). Each must wake a select asleep on the channel; without the
    // watcher notification the select below would sleep for ever (it has no deadline).
    use futures::SinkExt;
    let (tx, rx) = bounded::<u32>(0);
    let mut select = Select::new();
    let i = select.recv(&rx, |r| r);

    let sender = {
        let tx = tx.clone();
        thread::spawn(move || {
            thread::sleep(NAP);
            futures::executor::block_on(tx.send_async(1))
        })
    };
    assert_eq!(select.select(), (i, Ok(1)));
    assert_eq!(sender.join().unwrap(), Ok(()));

    let sender = {
        let mut sink = tx.sink();
        thread::spawn(move || {
            thread::sleep(NAP);
            futures::executor::block_on(sink.send(2))
        })
    };
    assert_eq!(select.select(), (i, Ok(2)));
    assert_eq!(sender.join().unwrap(), Ok(()));

    // The orphan: a receive future takes the value from a blocked send, then is dropped.
    let orphan = {
        let (tx, rx) = (tx.clone(), rx.clone());
        thread::spawn(move || {
            thread::sleep(NAP);
            let waker = futures::task::noop_waker();
            let mut cx = std::task::Context::from_waker(&waker);
            let mut fut = Box::pin(rx.recv_async());
            assert!(std::future::Future::poll(fut.as_mut(), &mut cx).is_pending());
            tx.send(3).unwrap(); // handed to the waiting future: returns at once
            drop(fut); // never polled again: the value is left for the next receiver
        })
    };
    assert_eq!(select.select(), (i, Ok(3)));
    orphan.join().unwrap();
}

#[test]
fn round_robin_serves_every_ready_receiver() {
    let (tx_a, a) = unbounded::<u8>();
    let (tx_b, b) = unbounded::<u8>();
    let (tx_c, c) = bounded::<u8>(64);
    for _ in 0..30 {
        tx_a.send(0).unwrap();
        tx_b.send(1).unwrap();
        tx_c.send(2).unwrap();
    }
    let mut select = Select::new();
    for rx in [&a, &b, &c] {
        select.recv(rx, |r| r.unwrap());
    }
    let order: Vec<u8> = (0..30).map(|_| select.select().1).collect();
    // Every arm ready: they take turns.
    for window in order.chunks(3) {
        let mut sorted = window.to_vec();
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2], "{order:?}");
    }
}

#[test]
fn removing_arms_keeps_indices() {
    let (tx_a, a) = unbounded::<u8>();
    let (tx_b, b) = unbounded::<u8>();
    let (tx_c, c) = unbounded::<u8>();
    let mut select = Select::new();
    let ia = select.recv(&a, |r| r);
    let ib = select.recv(&b, |r| r);
    let ic = select.recv(&c, |r| r);
    select.remove(ib);
    tx_b.send(1).unwrap();
    assert_eq!(select.try_select(), Err(TrySelectError));
    tx_c.send(2).unwrap();
    assert_eq!(select.select(), (ic, Ok(2)));
    tx_a.send(3).unwrap();
    assert_eq!(select.select(), (ia, Ok(3)));
    let id = select.recv(&b, |r| r);
    assert_eq!(id, 3);
    assert_eq!(select.select(), (id, Ok(1)));
}

#[test]
#[should_panic(expected = "no arm with index 1")]
fn removing_an_unknown_arm_panics() {
    let (_tx, rx) = unbounded::<u8>();
    let mut select = Select::new();
    select.recv(&rx, |r| r);
    select.remove(1);
}

#[test]
fn a_wake_up_the_select_does_not_use_is_passed_on() {
    // A plain receiver P and a select S sleep on A (S also on B, which it scans first). A
    // send on B, then one on A: if A's wake-up goes to S and S returns B's value, S must pass
    // it on, or P sleeps beside a value. Each round checks P gets A's value in time.
    let rounds = if cfg!(miri) { 3 } else { 100 };
    for round in 0..rounds {
        let (tx_a, a) = bounded::<u32>(1);
        let (tx_b, b) = unbounded::<u32>();
        let (report, reports) = std::sync::mpsc::channel();
        let plain = {
            let a = a.clone();
            thread::spawn(move || report.send(a.recv()).unwrap())
        };
        let selecting = {
            let tx_a = tx_a.clone();
            thread::spawn(move || {
                let mut select = Select::new();
                select.recv(&b, |r| r);
                select.recv(&a, |r| r);
                let got = select.select();
                if got.0 == 1 {
                    // S took A's value: give P another.
                    tx_a.send(2).unwrap();
                }
                got
            })
        };
        if round % 4 != 3 {
            thread::sleep(NAP / 4); // both asleep, mostly
        }
        tx_b.send(10).unwrap();
        tx_a.send(1).unwrap();
        let got = selecting.join().unwrap();
        // recv_timeout's last try would find the value: wait for P's report instead.
        let p = reports.recv_timeout(Duration::from_secs(10));
        assert!(
            p.is_ok(),
            "round {round}: the plain receiver was left asleep"
        );
        plain.join().unwrap();
        match got {
            (0, Ok(10)) => assert_eq!(p, Ok(Ok(1))),
            (1, Ok(1)) => assert_eq!(p, Ok(Ok(2))),
            other => panic!("round {round}: {other:?}"),
        }
    }
}

#[test]
fn values_are_dropped_exactly_once() {
    let counter = stress::DropCounter::new();
    {
        let (tx_a, a) = bounded(4);
        let (tx_b, b) = unbounded();
        let (tx_z, z) = bounded(0);
        for i in 0..3 {
            tx_a.send(counter.make(i)).unwrap();
            tx_b.send(counter.make(i)).unwrap();
        }
        let waiting = {
            let c = counter.clone();
            thread::spawn(move || tx_z.send(c.make(99)).map_err(|e| e.into_inner().payload))
        };
        let mut select = Select::new();
        select.recv(&a, |r| r.map(|v| v.payload));
        select.recv(&b, |r| r.map(|v| v.payload));
        let iz = select.recv(&z, |r| r.map(|v| v.payload));
        // Values from the ring and the list until the rendezvous value comes (the select takes
        // turns, so it comes within a few).
        let mut taken = 0;
        let from_z = loop {
            let (i, v) = select.select();
            if i == iz {
                break Some(v);
            }
            assert!(v.is_ok());
            taken += 1;
        };
        assert_eq!(from_z, Some(Ok(99)));
        assert_eq!(waiting.join().unwrap(), Ok(()));
        drop(select);
        // The values not taken are still queued (dropped with the channels, below); the taken
        // ones were dropped by the closures.
        drop((tx_a, tx_b));
        assert_eq!(counter.live(), 6 - taken);
    }
    assert_eq!(counter.made(), 7);
    assert_eq!(counter.live(), 0, "a value was leaked or dropped twice");
}

/// How a stress consumer receives.
#[derive(Clone, Copy, Debug)]
enum Consumer {
    Select,
    SelectTimeout,
    Plain,
}

/// Values per producer: 25,000 (100,000 in all), scaled by `MQSYNC_STRESS_SCALE`.
fn per_producer() -> u64 {
    if cfg!(miri) {
        40
    } else {
        stress::scaled(25_000, 200) as u64
    }
}

#[test]
fn stress_selects_and_a_plain_receiver_lose_nothing() {
    for consumers in [
        &[Consumer::Select, Consumer::Select, Consumer::Plain][..],
        &[
            Consumer::Select,
            Consumer::SelectTimeout,
            Consumer::Select,
            Consumer::SelectTimeout,
            Consumer::Plain,
        ][..],
    ] {
        stress_run(consumers, per_producer());
    }
}

/// 4 producers send `per` values each, round robin over bounded(1), bounded(16), unbounded and
/// bounded(0); the `consumers` select over all four (`Plain` receives from bounded(1) only).
/// Every value is received exactly once, in order per (producer, channel) for each consumer.
fn stress_run(consumers: &[Consumer], per: u64) {
    const PRODUCERS: u64 = 4;
    let channels: Vec<(Sender<u64>, Receiver<u64>)> =
        vec![bounded(1), bounded(16), unbounded(), bounded(0)];
    let start = Arc::new(Barrier::new(PRODUCERS as usize + consumers.len()));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let txs: Vec<Sender<u64>> = channels.iter().map(|(tx, _)| tx.clone()).collect();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                for i in 0..per {
                    txs[(i % 4) as usize].send(p << 32 | i).unwrap();
                }
            })
        })
        .collect();
    let receivers: Vec<Receiver<u64>> = channels.into_iter().map(|(_, rx)| rx).collect();
    let threads: Vec<_> = consumers
        .iter()
        .map(|&kind| {
            let rxs = receivers.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                consume(kind, &rxs)
            })
        })
        .collect();
    drop(receivers);
    producers.into_iter().for_each(|t| t.join().unwrap());
    let mut seen = HashMap::new();
    for (c, t) in threads.into_iter().enumerate() {
        for (_, v) in t.join().unwrap() {
            if let Some(other) = seen.insert(v, c) {
                panic!("{v:#x} received twice (consumers {other} and {c})");
            }
        }
    }
    assert_eq!(seen.len() as u64, PRODUCERS * per, "values lost");
}

/// Receives until every channel is disconnected; returns (channel, value) in receive order,
/// checking order per (producer, channel).
fn consume(kind: Consumer, rxs: &[Receiver<u64>]) -> Vec<(usize, u64)> {
    let mut got = Vec::new();
    let mut last: HashMap<(u64, usize), u64> = HashMap::new();
    let mut record = |channel: usize, v: u64| {
        let key = (v >> 32, channel);
        let i = v & 0xffff_ffff;
        assert_eq!(
            i % 4,
            channel as u64,
            "value {v:#x} came out of channel {channel}"
        );
        if let Some(&prev) = last.get(&key) {
            assert!(prev < i, "{key:?}: {i} after {prev}");
        }
        last.insert(key, i);
        got.push((channel, v));
    };
    if let Consumer::Plain = kind {
        while let Ok(v) = rxs[0].recv() {
            record(0, v);
        }
        return got;
    }
    let mut select = Select::new();
    for rx in rxs {
        select.recv(rx, |r| r);
    }
    let mut open = rxs.len();
    while open > 0 {
        let (i, r) = match kind {
            Consumer::SelectTimeout => match select.select_timeout(Duration::from_micros(50)) {
                Ok(got) => got,
                Err(SelectTimeoutError) => continue,
            },
            _ => select.select(),
        };
        match r {
            Ok(v) => record(i, v),
            Err(RecvError) => {
                select.remove(i);
                open -= 1;
            }
        }
    }
    got
}
