//! Unit tests of the deprecated generic channel, small enough for miri.
#![allow(deprecated)] // the generic channel over any `Fifo` stays tested while it exists

use super::*;
use crate::test_support::DropCounter;
use crate::{MsQueue, RingBuffer};
use std::thread;
use std::time::Duration;

const N: usize = if cfg!(miri) { 200 } else { 20_000 };

fn channel_roundtrip<Q: crate::Fifo<usize> + Send + Sync + 'static>(queue: Q) {
    let (tx, rx) = channel(queue);
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || (0..N / 10).for_each(|i| tx.push_blocking(p * N + i).unwrap()))
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(v) = rx.pop_blocking() {
                    got.push(v);
                }
                got
            })
        })
        .collect();
    producers.into_iter().for_each(|p| p.join().unwrap());
    let mut all: Vec<usize> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert_eq!(rx.pop(), Err(PopError::Closed));
    all.sort_unstable();
    let mut expected: Vec<usize> = (0..2)
        .flat_map(|p| (0..N / 10).map(move |i| p * N + i))
        .collect();
    expected.sort_unstable();
    assert_eq!(all, expected);
}

#[test]
fn channel_over_ms_queue_and_ring_buffer() {
    channel_roundtrip(MsQueue::new());
    channel_roundtrip(RingBuffer::with_capacity(4));
}

#[test]
fn channel_close_keeps_accepted_values() {
    let drops = DropCounter::new();
    let (tx, rx) = channel(RingBuffer::with_capacity(2));
    tx.push(drops.make(())).unwrap();
    tx.push(drops.make(())).unwrap();
    assert!(tx.push(drops.make(())).unwrap_err().is_full());
    rx.close();
    assert!(tx.push(drops.make(())).unwrap_err().is_closed());
    assert_eq!(drops.dropped(), 2);
    assert!(rx.pop().is_ok());
    assert_eq!(drops.dropped(), 3);
    drop((tx, rx));
    assert_eq!(drops.dropped(), 4);
}

#[test]
fn channel_blocked_sender_wakes_on_close() {
    let (tx, rx) = channel(RingBuffer::with_capacity(1));
    tx.push(1).unwrap();
    let sender = thread::spawn(move || tx.push_blocking(2));
    thread::sleep(Duration::from_millis(10));
    rx.close();
    assert!(matches!(sender.join().unwrap(), Err(PushError::Closed(2))));
    assert_eq!(rx.pop(), Ok(1));
    assert_eq!(rx.pop(), Err(PopError::Closed));
}

#[test]
fn channel_async_and_timeout() {
    use futures::StreamExt;
    let (tx, mut rx) = channel(MsQueue::new());
    assert_eq!(
        rx.pop_timeout(Duration::from_millis(5)),
        Err(PopError::Empty)
    );
    let producer = thread::spawn(move || (0..50).for_each(|i| tx.push(i).unwrap()));
    assert_eq!(futures::executor::block_on(rx.pop_async()), Ok(0));
    let rest: Vec<i32> = futures::executor::block_on(rx.collect());
    assert_eq!(rest, (1..50).collect::<Vec<_>>());
    producer.join().unwrap();
}

#[test]
fn channel_errors_print_without_debug() {
    struct Opaque;
    let err = PushError::Closed(Opaque);
    assert_eq!(format!("{err:?} {err}"), "Closed(..) queue is closed");
    assert_eq!(PopError::Empty.to_string(), "queue is empty");
}

#[test]
fn channel_push_that_panics_does_not_block_close() {
    /// A queue whose push panics.
    struct Panicky;
    impl crate::Fifo<u8> for Panicky {
        fn push(&self, _: u8) -> Result<(), crate::Full<u8>> {
            panic!("push failed")
        }
        fn pop(&self) -> Option<u8> {
            None
        }
        fn len(&self) -> usize {
            0
        }
    }
    let (tx, rx) = channel(Panicky);
    let tx2 = tx.clone();
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tx2.push(1))).is_err());
    drop((tx, tx2));
    assert_eq!(rx.pop_blocking(), Err(PopError::Closed));
}
