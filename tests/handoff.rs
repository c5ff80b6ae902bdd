//! Stress tests of the handoff layer (run in release: `cargo test --release --test handoff`).
//! Each finishes in well under 10 s on two cores.
#![allow(deprecated)] // the generic channel over any `Fifo` stays tested while it exists

use mqsync::handoff::{
    channel, spsc, spsc_with, PopError, PushError, RecvError, RecvTimeoutError, TryRecvError,
    TrySendError, WaitStrategy,
};
use mqsync::{Fifo, MsQueue, RingBuffer};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};
use stress::DropCounter;

mod stress;

/// Items of the SPSC stress tests: 1M in release, 100,000 in debug, shrunk by the sanitizer jobs
/// and under miri.
fn million() -> usize {
    if cfg!(miri) {
        return 300;
    }
    stress::scaled(
        if cfg!(debug_assertions) {
            100_000
        } else {
            1_000_000
        },
        1_000,
    )
}

#[test]
fn spsc_million_items_in_order_no_loss() {
    let million = million();
    for strategy in [WaitStrategy::SpinThenPark, WaitStrategy::SpinThenYield] {
        let (mut tx, mut rx) = spsc_with(1024, strategy);
        let producer = thread::spawn(move || {
            for i in 0..million {
                tx.push_blocking(i).unwrap();
            }
        });
        let mut expected = 0;
        while let Ok(v) = rx.pop_blocking() {
            assert_eq!(v, expected);
            expected += 1;
        }
        assert_eq!(expected, million);
        producer.join().unwrap();
    }
}

#[test]
fn spsc_million_items_in_batches() {
    let million = million();
    let (mut tx, mut rx) = spsc(1024);
    let producer = thread::spawn(move || {
        let mut sent = 0;
        while sent < million {
            let n = (million - sent).min(64);
            let batch: Vec<usize> = (sent..sent + n).collect();
            let mut done = 0;
            while done < n {
                done += tx.push_slice(&batch[done..]);
                if done < n {
                    thread::yield_now();
                }
            }
            sent += n;
        }
    });
    let mut out = Vec::with_capacity(256);
    let mut expected = 0;
    loop {
        if rx.pop_many(&mut out, 256) == 0 {
            match rx.pop_blocking() {
                Ok(v) => out.push(v),
                Err(RecvError) => break,
            }
        }
        for v in out.drain(..) {
            assert_eq!(v, expected);
            expected += 1;
        }
    }
    assert_eq!(expected, million);
    producer.join().unwrap();
}

#[test]
fn spsc_drop_counting_under_concurrency() {
    let drops = DropCounter::new();
    let made = if cfg!(miri) {
        300
    } else {
        stress::scaled(100_000, 1_000)
    };
    let (mut tx, mut rx) = spsc(64);
    let d = drops.clone();
    let producer = thread::spawn(move || {
        for _ in 0..made {
            // Values refused as Full come back inside the error and drop here: still counted.
            let _ = tx.push(d.make(()));
        }
    });
    for _ in 0..made / 2 {
        let _ = rx.pop();
    }
    producer.join().unwrap();
    drop(rx); // the values still inside drop with the last half
    assert_eq!(drops.made(), made);
    assert_eq!(drops.dropped(), made);
}

/// A consumer-side close racing a producer that keeps pushing (issue 15's B3): every push
/// that returned `Ok` is received before the consumer sees `Disconnected`, and nothing else is.
#[test]
fn spsc_consumer_close_racing_pushes_loses_nothing_accepted() {
    let rounds = if cfg!(miri) {
        20
    } else {
        stress::scaled(2_000, 50)
    };
    for round in 0..rounds {
        let (mut tx, mut rx) = spsc::<usize>(4);
        let producer = thread::spawn(move || {
            // Pushes 0, 1, 2, ... (a value refused as Full is pushed again) until refused as
            // Disconnected; returns how many were accepted.
            let mut accepted = 0;
            loop {
                match tx.push(accepted) {
                    Ok(()) => accepted += 1,
                    Err(TrySendError::Full(_)) => thread::yield_now(),
                    Err(TrySendError::Disconnected(_)) => return accepted,
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
        });
        // Let the producer get going (more or less, by round), then close from this side.
        for _ in 0..round % 7 {
            thread::yield_now();
        }
        let mut received = 0;
        // What is popped before the close counts too; values arrive in push order from 0.
        let mut expect_next = 0;
        while let Ok(v) = rx.pop() {
            assert_eq!(v, expect_next);
            expect_next += 1;
            received += 1;
            if received > round % 5 {
                break;
            }
        }
        rx.close();
        loop {
            match rx.pop() {
                Ok(v) => {
                    assert_eq!(v, expect_next, "round {round}: out of order");
                    expect_next += 1;
                }
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(TryRecvError::Disconnected) => break,
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        let accepted = producer.join().unwrap();
        assert_eq!(
            expect_next, accepted,
            "round {round}: {accepted} pushes accepted, {expect_next} received"
        );
    }
}

#[test]
fn spsc_blocked_consumer_wakes_on_push() {
    let (mut tx, mut rx) = spsc(4);
    let consumer = thread::spawn(move || rx.pop_blocking());
    thread::sleep(Duration::from_millis(50)); // long enough for the consumer to park
    tx.push(42).unwrap();
    assert_eq!(consumer.join().unwrap(), Ok(42));
}

#[test]
fn spsc_blocked_consumer_times_out() {
    let (_tx, mut rx) = spsc::<u8>(4);
    let start = Instant::now();
    assert_eq!(
        rx.pop_timeout(Duration::from_millis(100)),
        Err(RecvTimeoutError::Timeout)
    );
    assert!(start.elapsed() >= Duration::from_millis(100));
}

#[test]
fn spsc_blocked_consumer_wakes_on_close() {
    let (tx, mut rx) = spsc::<u8>(4);
    let consumer = thread::spawn(move || rx.pop_blocking());
    thread::sleep(Duration::from_millis(50));
    tx.close();
    assert_eq!(consumer.join().unwrap(), Err(RecvError));
}

#[test]
fn spsc_async_consumer_wakes_on_push_and_close() {
    let (mut tx, mut rx) = spsc(4);
    let consumer = thread::spawn(move || {
        let first = futures::executor::block_on(rx.pop_async());
        let second = futures::executor::block_on(rx.pop_async());
        (first, second)
    });
    thread::sleep(Duration::from_millis(50));
    tx.push(1).unwrap();
    thread::sleep(Duration::from_millis(50));
    drop(tx);
    assert_eq!(consumer.join().unwrap(), (Ok(1), Err(RecvError)));
}

#[test]
fn spsc_ping_pong_never_loses_a_wake_up() {
    let rounds = if cfg!(miri) {
        50
    } else {
        stress::scaled(
            if cfg!(debug_assertions) {
                2_000
            } else {
                20_000
            },
            100,
        )
    };
    let (mut ping_tx, mut ping_rx) = spsc(1);
    let (mut pong_tx, mut pong_rx) = spsc(1);
    let echo = thread::spawn(move || {
        while let Ok(v) = ping_rx.pop_blocking() {
            pong_tx.push_blocking(v + 1).unwrap();
        }
    });
    for i in 0..rounds {
        ping_tx.push_blocking(i).unwrap();
        assert_eq!(pong_rx.pop_blocking(), Ok(i + 1));
    }
    drop(ping_tx);
    echo.join().unwrap();
}

/// 4 producers × 4 consumers; a producer closes the channel mid-stream. Every value whose push
/// returned Ok is popped exactly once, in push order per producer; each refused value came back.
fn close_without_loss<Q: Fifo<(usize, usize)> + Send + Sync + 'static>(queue: Q) {
    const PRODUCERS: usize = 4;
    let per_producer = if cfg!(miri) {
        60
    } else {
        stress::scaled(
            if cfg!(debug_assertions) {
                20_000
            } else {
                100_000
            },
            200,
        )
    };
    let (tx, rx) = channel(queue);
    let start = Arc::new(Barrier::new(PRODUCERS + 4));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                let mut accepted = 0;
                for i in 0..per_producer {
                    if p == 0 && i == per_producer / 2 {
                        tx.close();
                    }
                    match tx.push_blocking((p, i)) {
                        Ok(()) => accepted += 1,
                        Err(PushError::Closed(back)) => {
                            assert_eq!(back, (p, i), "the refused value comes back");
                            break;
                        }
                        Err(_) => unreachable!("push_blocking waits for room"),
                    }
                }
                accepted
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let rx = rx.clone();
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                let mut got = Vec::new();
                while let Ok(v) = rx.pop_blocking() {
                    got.push(v);
                }
                got
            })
        })
        .collect();
    let accepted: usize = producers.into_iter().map(|p| p.join().unwrap()).sum();
    let per_consumer: Vec<Vec<(usize, usize)>> =
        consumers.into_iter().map(|c| c.join().unwrap()).collect();
    for got in &per_consumer {
        let mut last = [None::<usize>; PRODUCERS];
        for &(p, i) in got {
            assert!(
                last[p].is_none_or(|l| l < i),
                "out of order for producer {p}"
            );
            last[p] = Some(i);
        }
    }
    let mut all: Vec<(usize, usize)> = per_consumer.into_iter().flatten().collect();
    assert_eq!(all.len(), accepted, "accepted values lost or duplicated");
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), accepted, "a value was popped twice");
    assert_eq!(rx.pop(), Err(PopError::Closed));
}

#[test]
fn channel_close_without_loss_4p4c_ms_queue() {
    close_without_loss(MsQueue::new());
}

#[test]
fn channel_close_without_loss_4p4c_ring_buffer() {
    close_without_loss(RingBuffer::with_capacity(64));
}

#[test]
fn channel_blocked_receivers_wake_on_push_timeout_and_close() {
    let (tx, rx) = channel::<u32, _>(RingBuffer::with_capacity(8));
    let start = Instant::now();
    assert_eq!(
        rx.pop_timeout(Duration::from_millis(100)),
        Err(PopError::Empty)
    );
    assert!(start.elapsed() >= Duration::from_millis(100));

    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || rx.pop_blocking())
        })
        .collect();
    thread::sleep(Duration::from_millis(50));
    tx.push(1).unwrap();
    thread::sleep(Duration::from_millis(50));
    drop(tx); // the last sender: closes, wakes the other two
    let mut results: Vec<_> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
    results.sort_by_key(|r| r.is_err());
    assert_eq!(
        results,
        [Ok(1), Err(PopError::Closed), Err(PopError::Closed)]
    );
}

/// Memory written by a thread before it drops one half of an SPSC ring, without a join.
struct Written(std::cell::UnsafeCell<u64>);

// SAFETY: one thread writes it, then drops its half of the ring; the other reads it only after
// `is_abandoned` said true. That handoff is the synchronization the test checks (under TSan a
// Relaxed `is_abandoned` is reported as a data race here).
unsafe impl Sync for Written {}

/// `is_abandoned` synchronizes with the other half's drop (Acquire against the drop's Release),
/// in both directions: what a thread wrote before dropping its half is visible once the other
/// half sees it abandoned.
#[test]
fn is_abandoned_synchronizes_with_the_other_halfs_drop() {
    for producer_leaves in [true, false] {
        let data = Arc::new(Written(std::cell::UnsafeCell::new(0)));
        let (tx, rx) = spsc::<u8>(1);
        let (leaving_tx, staying_rx, leaving_rx, staying_tx) = if producer_leaves {
            (Some(tx), Some(rx), None, None)
        } else {
            (None, None, Some(rx), Some(tx))
        };
        let leaver = {
            let data = Arc::clone(&data);
            thread::spawn(move || {
                // SAFETY: the only access until this thread drops its half (see `Written`).
                unsafe { *data.0.get() = 42 };
                drop(leaving_tx);
                drop(leaving_rx);
            })
        };
        loop {
            let gone = match (&staying_rx, &staying_tx) {
                (Some(rx), _) => rx.is_abandoned(),
                (_, Some(tx)) => tx.is_abandoned(),
                _ => unreachable!(),
            };
            if gone {
                break;
            }
            thread::yield_now();
        }
        // SAFETY: `is_abandoned` returned true after the writer's drop; its Acquire pairs with
        // the drop's Release, so the write happens before this read.
        assert_eq!(unsafe { *data.0.get() }, 42);
        leaver.join().unwrap();
    }
}
