//! A wait-free single-producer single-consumer ring: [`spsc`] gives a [`Producer`] and a
//! [`Consumer`].
//!
//! # Algorithm
//!
//! Lamport's ring (L. Lamport, "Specifying concurrent program modules", TOPLAS 1983): the
//! producer alone writes `tail`, the consumer alone writes `head`; a slot is written only while
//! it lies in `[tail, head + capacity)` and read only while it lies in `[head, tail)`, so the two
//! sides never touch the same slot at the same time and need no read-modify-write (here, only
//! the close handshake below makes one, on its rare path).
//!
//! Departures from the textbook ring, all borrowed as ideas from rtrb and from
//! E. Rigtorp's `SPSCQueue`:
//!
//! * **Cached indices.** Each side keeps a private copy of the other's index (the producer caches
//!   `head`, as `limit = head + capacity`; the consumer caches `tail`) and reloads it only when the
//!   copy says full / empty. The other side's index only moves forward, so a stale copy
//!   understates the room or the data, never overstates it. In steady state a push or pop touches
//!   no cache line the other side writes, and tests fullness / emptiness with one comparison.
//! * **Positions are wrapping counts; the slots are a power of two.** `head` and `tail` count
//!   pops and pushes modulo `2^usize::BITS`, so `head == tail` means empty and
//!   `tail - head == capacity` (wrapping) means full, for any capacity and without a spare
//!   slot. The slot array is `capacity` rounded up to a power of two, so a position's slot is
//!   `pos & mask`: a push or pop steps its position with one add and finds its slot with one
//!   AND. (rtrb keeps positions in `[0, 2 * capacity)` and exactly `capacity` slots, which costs a
//!   compare and a conditional move for each; this ring did so until issue 14.) The price is up
//!   to twice the slot memory for a capacity just above a power of two.
//! * `head`, `tail` and the read-mostly state each sit on their own cache line
//!   ([`CachePadded`](crossbeam_utils::CachePadded)).
//! * **Batches** ([`Producer::push_slice`], [`Consumer::pop_many`]) publish their index once.
//! * **Close and abandonment** ride on a third word, `state`, written only on close / drop.
//! * **Close against a push in flight.** A consumer-side close can land between a push's check
//!   of `state` and its publication of `tail`; the push is then accepted, and the consumer must
//!   not report `Disconnected` without it. So a push checks `state` again *after* publishing,
//!   behind the light half of `primitive::barrier`, and a consumer that finds the ring closed and
//!   empty issues the heavy half before its last reload of `tail` (a Dekker pair: one of the two
//!   sees the other). The rare push whose second check sees `CLOSED` arbitrates with one RMW on
//!   `state` (`LATE_PUSH`); the consumer concludes with a CAS that sets `FINISHED` only if
//!   `state` did not change since it looked. If the push's RMW comes first, the consumer's CAS
//!   fails and its reload finds the value; if the CAS comes first, the push sees `FINISHED`,
//!   takes its value back and reports `Disconnected` (the consumer never reads a slot again).
//!   The common push pays a compiler fence and a second load of `state` (a `SeqCst` fence where
//!   `membarrier` is unavailable), no store; the `membarrier` is paid only by a consumer that
//!   finds its ring closed and empty. The check before the write stays: a push that starts after
//!   a close (the producer's own, or one that happened before it by other means) must fail, and
//!   the check after publishing cannot tell that push from one in flight, whose value the
//!   consumer may already have popped.
//! * **Waking.** With a parking [`WaitStrategy`] (the default), every publication ends with the
//!   wake check of `handoff/signal.rs`: one load while nobody sleeps, behind a fence that is only a
//!   compiler fence where Linux `membarrier` is available and a `SeqCst` fence elsewhere (and
//!   under miri). A push shares that fence with its close check (one light barrier, then `state`,
//!   then the sleeper count: `Signal::notify_one_after_light`); both heavy halves it pairs with
//!   use the ring's one `asymmetric` value. Rings built with a non-parking strategy skip the
//!   wake check.
//!
//! # Progress
//!
//! Every operation of both halves is **wait-free**: it finishes in a bounded number of its own
//! steps whatever the other thread does (a batch is bounded by its length). The only RMWs are on
//! the close path: a push that finds the ring closed after publishing makes one `fetch_or`, and
//! a consumer that concludes `Disconnected` makes one CAS, retried only when a bit of `state` was
//! set meanwhile (bits are only ever set, so at most once per bit). That conclusion also makes one
//! `membarrier` system call on Linux (skipped when the producer is already gone), which waits
//! for the kernel to interrupt the CPUs running this process and may take a kernel lock: once
//! per ring, on the consumer's side, at the end. The
//! one exception is waking a *sleeping* peer: that takes event-listener's internal lock and
//! unparks a thread, which only happens when the peer chose to block.
//!
//! The blocking, timed and async operations (in `wait.rs`) wait by design.
//!
//! # Files
//!
//! `shared.rs` holds the memory both halves share (indices, `state`, signals, slots);
//! `producer.rs` and `consumer.rs` the two halves and their wait-free operations; `wait.rs` their
//! blocking, timed and async operations; this file the constructors. Each file uses only those
//! listed before it.

mod consumer;
mod producer;
mod shared;
mod wait;

pub use consumer::Consumer;
pub use producer::Producer;
#[cfg(not(mqsync_loom))]
pub use wait::ConsumerPop;

use super::wait::WaitStrategy;
use crate::primitive::sync::Arc;
use shared::Shared;

#[cfg(test)]
mod tests;

/// Creates a wait-free SPSC ring of `capacity` slots with the default
/// [`WaitStrategy::SpinThenPark`].
///
/// # Panics
///
/// If `capacity` is 0 or above `usize::MAX / 4`.
///
/// # Examples
///
/// ```
/// use mqsync::handoff::spsc;
///
/// let (mut tx, mut rx) = spsc::<u32>(1024);
/// let producer = std::thread::spawn(move || {
///     for i in 0..10_000 {
///         tx.push_blocking(i).unwrap();
///     }
/// });
/// let mut expected = 0;
/// while let Ok(i) = rx.pop_blocking() {
///     assert_eq!(i, expected);
///     expected += 1;
/// }
/// assert_eq!(expected, 10_000); // the producer's drop closed the ring after the last push
/// producer.join().unwrap();
/// ```
pub fn spsc<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    spsc_with(capacity, WaitStrategy::default())
}

/// Creates a wait-free SPSC ring of `capacity` slots whose blocking operations wait with
/// `strategy`. A strategy that never parks also removes the wake check from every push and pop.
///
/// # Panics
///
/// If `capacity` is 0 or above `usize::MAX / 4`.
///
/// # Examples
///
/// ```
/// use mqsync::handoff::{spsc_with, WaitStrategy};
///
/// let (mut tx, mut rx) = spsc_with::<u8>(2, WaitStrategy::SpinThenYield);
/// tx.push(1).unwrap();
/// assert_eq!(rx.pop_blocking(), Ok(1));
/// ```
pub fn spsc_with<T>(capacity: usize, strategy: WaitStrategy) -> (Producer<T>, Consumer<T>) {
    match try_spsc_with(capacity, strategy) {
        Ok(pair) => pair,
        Err(err) => panic!("spsc: {err}"),
    }
}

/// Like [`spsc`], but a capacity of 0 or above `usize::MAX / 4` comes back as a
/// [`ConfigError`](crate::ConfigError) instead of a panic.
///
/// # Examples
///
/// ```
/// use mqsync::handoff::try_spsc;
/// use mqsync::ConfigError;
///
/// let (mut tx, mut rx) = try_spsc::<u8>(4).unwrap();
/// tx.push(1).unwrap();
/// assert_eq!(rx.pop(), Ok(1));
/// assert!(matches!(try_spsc::<u8>(0), Err(ConfigError::TooSmall { field: "capacity", .. })));
/// ```
pub fn try_spsc<T>(capacity: usize) -> Result<(Producer<T>, Consumer<T>), crate::ConfigError> {
    try_spsc_with(capacity, WaitStrategy::default())
}

/// Like [`spsc_with`], but a capacity of 0 or above `usize::MAX / 4` comes back as a
/// [`ConfigError`](crate::ConfigError) instead of a panic.
///
/// # Examples
///
/// ```
/// use mqsync::handoff::{try_spsc_with, WaitStrategy};
/// use mqsync::ConfigError;
///
/// let err = try_spsc_with::<u8>(usize::MAX, WaitStrategy::SpinThenYield).unwrap_err();
/// assert!(matches!(err, ConfigError::TooLarge { field: "capacity", .. }));
/// ```
pub fn try_spsc_with<T>(
    capacity: usize,
    strategy: WaitStrategy,
) -> Result<(Producer<T>, Consumer<T>), crate::ConfigError> {
    if capacity == 0 {
        return Err(crate::ConfigError::TooSmall {
            field: "capacity",
            value: 0,
            min: 1,
        });
    }
    if capacity > usize::MAX / 4 {
        return Err(crate::ConfigError::TooLarge {
            field: "capacity",
            value: capacity as u64,
            max: (usize::MAX / 4) as u64,
        });
    }
    Ok(halves(Shared::new(capacity, strategy.parks()), strategy))
}

fn halves<T>(shared: Shared<T>, strategy: WaitStrategy) -> (Producer<T>, Consumer<T>) {
    let shared = Arc::new(shared);
    (
        Producer::new(Arc::clone(&shared), strategy),
        Consumer::new(shared, strategy),
    )
}

/// A ring whose positions start at `start` instead of 0 (see `Shared::starting_at`).
#[cfg(test)]
fn spsc_starting_at<T>(capacity: usize, start: usize) -> (Producer<T>, Consumer<T>) {
    halves(
        Shared::starting_at(capacity, true, start),
        WaitStrategy::default(),
    )
}
