//! Unit tests of the SPSC ring, small enough for miri.

use super::*;
use crate::handoff::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
use crate::test_support::DropCounter;
use std::pin::Pin;
use std::thread;
use std::time::{Duration, Instant};

const N: usize = if cfg!(miri) { 200 } else { 20_000 };

#[test]
fn spsc_push_pop_wraps_around() {
    let (mut tx, mut rx) = spsc(3);
    for round in 0..10 {
        assert!(rx.is_empty());
        for i in 0..3 {
            tx.push(round * 3 + i).unwrap();
        }
        assert!(tx.is_full() && rx.is_full());
        assert_eq!(tx.len(), 3);
        assert!(tx.push(99).unwrap_err().is_full());
        assert_eq!(rx.peek(), Some(&(round * 3)));
        for i in 0..3 {
            assert_eq!(rx.pop(), Ok(round * 3 + i));
        }
        assert_eq!(rx.pop(), Err(TryRecvError::Empty));
    }
}

#[test]
fn spsc_capacity_one_and_zst() {
    let (mut tx, mut rx) = spsc::<()>(1);
    for _ in 0..5 {
        tx.push(()).unwrap();
        assert!(tx.push(()).is_err());
        rx.pop().unwrap();
    }
}

#[test]
#[should_panic(expected = "at least 1")]
fn spsc_capacity_zero_panics() {
    let _ = spsc::<u8>(0);
}

#[test]
fn spsc_batches_cross_the_wrap() {
    let (mut tx, mut rx) = spsc(5);
    let mut out = Vec::new();
    let mut next = 0u32;
    let mut expected = 0u32;
    for _ in 0..20 {
        let batch: Vec<u32> = (next..next + 4).collect();
        let pushed = tx.push_slice(&batch);
        next += pushed as u32;
        rx.pop_many(&mut out, 3);
        for v in out.drain(..) {
            assert_eq!(v, expected);
            expected += 1;
        }
    }
    rx.pop_many(&mut out, usize::MAX);
    for v in out.drain(..) {
        assert_eq!(v, expected);
        expected += 1;
    }
    assert_eq!(expected, next);
    assert_eq!(tx.push_slice(&[]), 0);
    assert_eq!(rx.pop_many(&mut out, 0), 0);
}

#[test]
fn spsc_close_drains_then_reports_closed() {
    let (mut tx, mut rx) = spsc(4);
    tx.push(1).unwrap();
    tx.push(2).unwrap();
    rx.close();
    assert!(tx.is_closed() && !tx.is_abandoned());
    assert_eq!(tx.push(3), Err(TrySendError::Disconnected(3)));
    assert_eq!(tx.push_slice(&[4]), 0);
    assert_eq!(rx.pop(), Ok(1));
    assert_eq!(rx.pop_blocking(), Ok(2));
    assert_eq!(rx.pop(), Err(TryRecvError::Disconnected));
    assert_eq!(rx.pop_blocking(), Err(RecvError));
    drop(tx);
    assert!(rx.is_abandoned());
}

#[test]
fn spsc_drops_every_value_exactly_once() {
    let drops = DropCounter::new();
    let (mut tx, mut rx) = spsc(8);
    for _ in 0..12 {
        let _ = tx.push(drops.make(()));
    }
    assert_eq!(
        drops.dropped(),
        4,
        "the 4 refused values come back and drop"
    );
    drop(rx.pop().unwrap());
    let mut out = Vec::new();
    rx.pop_many(&mut out, 2);
    drop(out);
    assert_eq!(drops.dropped(), 7);
    drop(tx);
    assert_eq!(drops.dropped(), 7, "the consumer still holds 5");
    drop(rx);
    assert_eq!(drops.dropped(), 12);
}

/// Positions are counts that wrap at `usize::MAX`; a slot is `position & mask`. Start just
/// below the wrap, with a capacity that is not a power of two (3 values in 4 slots), and cross it
/// with single items, batches, a close and the drops.
#[test]
fn spsc_positions_wrap_around_usize() {
    for start in [usize::MAX - 6, usize::MAX - 1, usize::MAX] {
        let (mut tx, mut rx) = spsc_starting_at::<u32>(3, start);
        let mut next = 0u32;
        let mut expected = 0u32;
        let mut out = Vec::new();
        for round in 0..8 {
            if round % 2 == 0 {
                while tx.push(next).is_ok() {
                    next += 1;
                }
            } else {
                next += tx.push_slice(&[next, next + 1, next + 2, next + 3]) as u32;
            }
            assert!(tx.is_full() && rx.is_full());
            assert_eq!((tx.len(), rx.len()), (3, 3));
            assert!(tx.push(99).unwrap_err().is_full());
            assert_eq!(rx.peek(), Some(&expected));
            if round % 2 == 0 {
                for _ in 0..2 {
                    assert_eq!(rx.pop(), Ok(expected));
                    expected += 1;
                }
            } else {
                assert_eq!(rx.pop_many(&mut out, 2), 2);
                for v in out.drain(..) {
                    assert_eq!(v, expected);
                    expected += 1;
                }
            }
        }
        tx.close();
        assert!(tx.push(7).unwrap_err().is_disconnected());
        assert_eq!(rx.pop_many(&mut out, 10), 1);
        assert_eq!(out, [expected]);
        assert_eq!(rx.pop(), Err(TryRecvError::Disconnected));
    }
    let drops = DropCounter::new();
    let (mut tx, mut rx) = spsc_starting_at(3, usize::MAX - 1);
    for _ in 0..3 {
        tx.push(drops.make(())).unwrap();
    }
    drop(rx.pop().unwrap());
    tx.push(drops.make(())).unwrap();
    drop((tx, rx));
    assert_eq!(
        drops.dropped(),
        4,
        "the ring drops the 3 left across the wrap"
    );
}

#[test]
fn spsc_threads_keep_order() {
    let (mut tx, mut rx) = spsc(16);
    let producer = thread::spawn(move || {
        for i in 0..N {
            tx.push_blocking(i).unwrap();
        }
    });
    for i in 0..N {
        assert_eq!(rx.pop_blocking(), Ok(i));
    }
    assert_eq!(rx.pop_blocking(), Err(RecvError));
    producer.join().unwrap();
}

#[test]
fn spsc_every_strategy_transfers() {
    for strategy in [
        WaitStrategy::BusySpin,
        WaitStrategy::SpinThenYield,
        WaitStrategy::SpinThenPark,
    ] {
        let (mut tx, mut rx) = spsc_with(4, strategy);
        let consumer = thread::spawn(move || {
            let mut sum = 0;
            while let Ok(v) = rx.pop_blocking() {
                sum += v;
            }
            sum
        });
        for i in 0..N / 10 {
            tx.push_blocking(i).unwrap();
        }
        drop(tx);
        assert_eq!(consumer.join().unwrap(), (0..N / 10).sum::<usize>());
    }
}

#[test]
fn spsc_timeouts_give_timeout_not_empty_or_full() {
    let (mut tx, mut rx) = spsc(1);
    let start = Instant::now();
    assert_eq!(
        rx.pop_timeout(Duration::from_millis(20)),
        Err(RecvTimeoutError::Timeout)
    );
    assert!(start.elapsed() >= Duration::from_millis(20));
    tx.push(1).unwrap();
    let start = Instant::now();
    assert_eq!(
        tx.push_timeout(2, Duration::from_millis(20)),
        Err(SendTimeoutError::Timeout(2))
    );
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert_eq!(
        tx.push_deadline(3, Instant::now()),
        Err(SendTimeoutError::Timeout(3))
    );
    assert_eq!(rx.pop_deadline(Instant::now()), Ok(1));
    assert_eq!(
        rx.pop_deadline(Instant::now()),
        Err(RecvTimeoutError::Timeout)
    );
}

#[test]
fn spsc_timed_calls_report_disconnection() {
    let (mut tx, mut rx) = spsc(2);
    tx.push(1).unwrap();
    rx.close();
    // The value comes back from every push, timed or not.
    assert_eq!(
        tx.push_timeout(2, Duration::from_secs(5)),
        Err(SendTimeoutError::Disconnected(2))
    );
    assert_eq!(
        tx.push_deadline(3, Instant::now()),
        Err(SendTimeoutError::Disconnected(3))
    );
    assert_eq!(tx.push_blocking(4), Err(SendError(4)));
    // What was accepted before the close still comes out first.
    assert_eq!(rx.pop_timeout(Duration::from_secs(5)), Ok(1));
    assert_eq!(
        rx.pop_timeout(Duration::from_secs(5)),
        Err(RecvTimeoutError::Disconnected)
    );
    assert_eq!(
        rx.pop_deadline(Instant::now()),
        Err(RecvTimeoutError::Disconnected)
    );
    assert_eq!(rx.pop(), Err(TryRecvError::Disconnected));
}

#[test]
fn spsc_blocked_consumer_wakes_on_drop_of_producer() {
    let (tx, mut rx) = spsc::<u8>(2);
    let consumer = thread::spawn(move || rx.pop_blocking());
    thread::sleep(Duration::from_millis(10));
    drop(tx);
    assert_eq!(consumer.join().unwrap(), Err(RecvError));
}

#[test]
fn spsc_async_and_stream() {
    use futures::StreamExt;
    let (mut tx, mut rx) = spsc(2);
    let producer = thread::spawn(move || {
        for i in 0..N / 10 {
            tx.push_blocking(i).unwrap();
        }
    });
    let first = futures::executor::block_on(rx.pop_async());
    assert_eq!(first, Ok(0));
    let rest: Vec<usize> = futures::executor::block_on(rx.collect());
    assert_eq!(rest, (1..N / 10).collect::<Vec<_>>());
    producer.join().unwrap();
}

#[test]
fn spsc_dropped_future_unregisters() {
    use std::future::Future;
    use std::task::Context;
    let (mut tx, mut rx) = spsc(2);
    {
        let mut fut = rx.pop_async();
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut fut).poll(&mut cx).is_pending());
    }
    tx.push(5).unwrap();
    assert_eq!(rx.pop(), Ok(5));
}

#[test]
fn spsc_errors_print_without_debug() {
    struct Opaque;
    let (mut tx, rx) = spsc(1);
    tx.push(Opaque).unwrap();
    let err = tx.push(Opaque).unwrap_err();
    assert_eq!(
        format!("{err:?} {err}"),
        "Full(..) sending on a full channel"
    );
    drop(rx);
    let err = tx.push_timeout(Opaque, Duration::ZERO).unwrap_err();
    assert_eq!(format!("{err:?}"), "Disconnected(..)");
}
