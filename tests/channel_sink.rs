//! The channel's futures `Sink` (`Sender::into_sink`) and async `recv_many_async`: what a
//! flush promises, values given back on close, waits on full and on rendezvous, drop counts.

use futures::executor::block_on;
use futures::task::noop_waker;
use futures::{Sink, SinkExt, StreamExt};
use mqsync::channel::{bounded, unbounded, Receiver, SendError, Sender};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

/// Every flavor: rendezvous, tiny and large bounds, unbounded.
fn flavors<T>() -> Vec<(&'static str, Sender<T>, Receiver<T>)> {
    let mut all = Vec::new();
    for (name, (tx, rx)) in [
        ("bounded(0)", bounded(0)),
        ("bounded(1)", bounded(1)),
        ("bounded(64)", bounded(64)),
        ("unbounded", unbounded()),
    ] {
        all.push((name, tx, rx));
    }
    all
}

const NAP: Duration = Duration::from_millis(if cfg!(miri) { 1 } else { 20 });

#[test]
fn send_all_delivers_everything_in_order() {
    for (name, tx, rx) in flavors::<u32>() {
        let n = if cfg!(miri) { 40 } else { 5_000 };
        let consumer = thread::spawn(move || rx.iter().collect::<Vec<_>>());
        let mut sink = tx.into_sink();
        block_on(sink.send_all(&mut futures::stream::iter(0..n).map(Ok))).unwrap();
        drop(sink);
        assert_eq!(
            consumer.join().unwrap(),
            (0..n).collect::<Vec<_>>(),
            "{name}"
        );
    }
}

#[test]
fn flush_means_the_value_is_in_the_channel() {
    let (tx, rx) = bounded::<u32>(1);
    let mut sink = tx.sink();
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    tx.send(0).unwrap(); // full
    assert!(Pin::new(&mut sink).poll_ready(&mut cx).is_ready());
    Pin::new(&mut sink).start_send(1).unwrap(); // accepted, in flight
    assert!(Pin::new(&mut sink).poll_flush(&mut cx).is_pending());
    assert!(Pin::new(&mut sink).poll_ready(&mut cx).is_pending());
    assert_eq!(rx.recv(), Ok(0));
    assert_eq!(Pin::new(&mut sink).poll_flush(&mut cx), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(1));
}

#[test]
fn a_blocked_flush_is_woken_by_a_receive() {
    let (tx, rx) = bounded::<u32>(1);
    tx.send(0).unwrap();
    let flusher = thread::spawn(move || {
        let mut sink = tx.into_sink();
        block_on(sink.send(1))
    });
    thread::sleep(NAP);
    assert_eq!(rx.recv(), Ok(0));
    assert_eq!(flusher.join().unwrap(), Ok(()));
    assert_eq!(rx.recv(), Ok(1));
}

#[test]
fn close_gives_the_value_back() {
    // Closed before `start_send`: the value comes back from `start_send`.
    let (tx, rx) = unbounded::<u32>();
    let mut sink = tx.into_sink();
    rx.close();
    assert_eq!(block_on(sink.send(5)), Err(SendError(5)));

    // Closed while the value is in flight: it comes back from the flush.
    let (tx, rx) = bounded::<u32>(1);
    tx.send(0).unwrap();
    let mut sink = tx.sink();
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    Pin::new(&mut sink).start_send(6).unwrap();
    assert!(Pin::new(&mut sink).poll_flush(&mut cx).is_pending());
    assert!(tx.close());
    assert_eq!(
        Pin::new(&mut sink).poll_flush(&mut cx),
        Poll::Ready(Err(SendError(6)))
    );
    assert_eq!(rx.recv(), Ok(0));
    assert!(rx.recv().is_err());
}

#[test]
fn rendezvous_flush_waits_for_a_receiver() {
    let (tx, rx) = bounded::<u32>(0);
    let mut sink = tx.into_sink();
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    Pin::new(&mut sink).start_send(3).unwrap(); // nobody waiting: in flight
    assert!(Pin::new(&mut sink).poll_flush(&mut cx).is_pending());
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(3));
    assert_eq!(Pin::new(&mut sink).poll_flush(&mut cx), Poll::Ready(Ok(())));
    // `poll_close` flushes and leaves the channel open for other senders.
    assert_eq!(Pin::new(&mut sink).poll_close(&mut cx), Poll::Ready(Ok(())));
    assert!(!sink.sender().is_closed());
}

struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_dropped_sink_drops_its_value_in_flight_once() {
    for (name, (tx, rx)) in [("bounded(1)", bounded(1)), ("bounded(0)", bounded(0))] {
        let drops = Arc::new(AtomicUsize::new(0));
        if name == "bounded(1)" {
            tx.send(Counted(drops.clone())).unwrap();
        }
        let mut sink = tx.sink();
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        Pin::new(&mut sink)
            .start_send(Counted(drops.clone()))
            .unwrap();
        assert!(Pin::new(&mut sink).poll_flush(&mut cx).is_pending());
        drop(sink);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "{name}: in-flight value dropped"
        );
        drop((tx, rx));
        let expected = if name == "bounded(1)" { 2 } else { 1 };
        assert_eq!(drops.load(Ordering::SeqCst), expected, "{name}");
    }
}

#[test]
fn recv_many_async_waits_then_takes_what_is_there() {
    for (name, tx, rx) in flavors::<u32>() {
        let mut out = Vec::new();
        assert_eq!(block_on(rx.recv_many_async(&mut out, 0)), 0, "{name}");
        let t = tx.clone();
        let producer = thread::spawn(move || {
            thread::sleep(NAP);
            for i in 0..3 {
                t.send(i).unwrap();
            }
        });
        let mut total = 0;
        while total < 3 {
            let moved = block_on(rx.recv_many_async(&mut out, 2));
            assert!((1..=2).contains(&moved), "{name}: moved {moved}");
            total += moved;
        }
        producer.join().unwrap();
        assert_eq!(out, [0, 1, 2], "{name}");
        drop(tx);
        assert_eq!(block_on(rx.recv_many_async(&mut out, 5)), 0, "{name}");
    }
}

#[test]
fn a_dropped_recv_many_future_takes_nothing_and_passes_its_wake_on() {
    let (tx, rx) = unbounded::<u32>();
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut out = Vec::new();
    let mut fut = Box::pin(rx.recv_many_async(&mut out, 4));
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    let r = rx.clone();
    let sleeper = thread::spawn(move || r.recv_timeout(Duration::from_secs(60)));
    thread::sleep(NAP);
    tx.send(1).unwrap(); // notifies the future, registered first
    drop(fut); // passes the wake-up on
    assert_eq!(sleeper.join().unwrap(), Ok(1));
    assert!(out.is_empty());
}
