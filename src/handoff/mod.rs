//! Layer 2: wait-free handoff and waiting.
//!
//! * [`spsc`] builds a **wait-free single-producer single-consumer ring** ([`Producer`],
//!   [`Consumer`]): Lamport's ring (TOPLAS 1983) with cached indices on separate cache lines,
//!   batch push / pop with one index publication per batch, close and abandonment detection.
//! * [`mpmc`] (also reached as `mqsync::channel`) builds **multi-producer multi-consumer
//!   channels**: `bounded(cap)` and `unbounded()`, with the std / crossbeam-channel API, async
//!   waits, a lossless `close`, and the close mark folded into each queue's claim word.
//! * [`channel`] (deprecated) wraps **any [`Fifo`](crate::queue::Fifo)** in a [`Sender`] /
//!   [`Receiver`] pair; it stays for a channel over a queue of your own, at the cost of two RMWs
//!   per push on an in-flight count.
//!
//! The SPSC ring and the deprecated generic channel offer the same waiting surface:
//! `pop_blocking`, `pop_timeout`, `pop_deadline`, `pop_async` (a future that runs on any
//! executor), a [`Stream`](futures_core::Stream) impl, `push_blocking`, `push_timeout`,
//! `push_deadline`, and `close`. How a blocked caller waits is a [`WaitStrategy`]: busy-spin, spin-then-yield or
//! spin-then-park (the default).
//!
//! # Waking
//!
//! Waiters use the classic *register → re-check → sleep* protocol (the essay is in
//! `signal.rs`), so no wake-up is lost. While nobody sleeps, a push or pop pays one load of a
//! read-mostly counter for it: on Linux the store→load barrier the protocol needs is split
//! asymmetrically, a compiler fence for the publisher and a `membarrier` system call for the
//! waiter about to sleep; elsewhere it is a `SeqCst` fence on both sides. Rings and channels
//! built with a strategy that never parks pay nothing. Sleeping is `event_listener` (thread
//! parking, or an async waker).
//!
//! # Errors
//!
//! The SPSC halves report with the channel's error types, re-exported here: [`TrySendError`]
//! (`push`), [`SendError`] (`push_blocking`), [`SendTimeoutError`] (`push_timeout`,
//! `push_deadline`), [`TryRecvError`] (`pop`), [`RecvError`] (`pop_blocking`, `pop_async`,
//! `poll_pop`) and [`RecvTimeoutError`] (`pop_timeout`, `pop_deadline`). A timeout is
//! `Timeout`, never `Full` or `Empty`. The deprecated generic channel keeps [`PushError`] and
//! [`PopError`].
//!
//! # Close without loss
//!
//! After `close` (on either half) or when the other half is dropped, SPSC pushes fail with
//! `Disconnected`, which carries the value back. The consumer first drains every value accepted
//! before the close and only then sees `Disconnected`; a blocked consumer is woken. The
//! deprecated generic channel behaves the same with [`PushError::Closed`] and
//! [`PopError::Closed`].
//!
//! # Files
//!
//! | path | holds |
//! |---|---|
//! | `spsc/` | the SPSC ring: `mod.rs` (the algorithm and its proofs, the constructors), `shared.rs` (the memory both halves share), `producer.rs`, `consumer.rs`, `wait.rs` (their blocking, timed and async operations), `tests.rs` |
//! | `mpmc/` | the MPMC channel (`mqsync::channel`), its flavors, waiters and errors |
//! | `generic/` | the deprecated channel over any `Fifo`: `channel.rs`, `channel_async.rs`, `error.rs` ([`PushError`], [`PopError`]), `tests.rs` |
//! | `signal.rs` | the wake-up signal of the SPSC ring and the generic channel, and the register → re-check → sleep essay |
//! | `wait.rs` | [`WaitStrategy`] and the blocking / polling loops built on `signal.rs` |
//!
//! Imports go one way: `spsc/` and `generic/` use `wait.rs` and `signal.rs` (and `spsc/` the
//! error types of `mpmc/`); `wait.rs` uses `signal.rs`; nothing here uses `spsc/` or `generic/`.
//! Inside `spsc/`, `shared.rs` ← `producer.rs`, `consumer.rs` ← `wait.rs` ← `mod.rs`.
//!
//! `docs/handoff.md` holds the algorithms, the wait-freedom argument, the wake protocol and the
//! guarantees of each answer under concurrency.
//!
//! # Examples
//!
//! ```
//! use mqsync::handoff::{spsc, RecvError};
//!
//! let (mut tx, mut rx) = spsc::<String>(64);
//! let producer = std::thread::spawn(move || {
//!     for i in 0..1000 {
//!         tx.push_blocking(i.to_string()).unwrap();
//!     }
//! }); // dropping `tx` closes the ring
//! let mut n = 0;
//! loop {
//!     match rx.pop_blocking() {
//!         Ok(s) => assert_eq!(s, n.to_string()),
//!         Err(RecvError) => break, // closed, and everything pushed was received
//!     }
//!     n += 1;
//! }
//! assert_eq!(n, 1000);
//! producer.join().unwrap();
//! ```

mod generic;
pub mod mpmc;
mod signal;
mod spsc;
mod wait;

#[allow(deprecated)]
pub use generic::{channel, channel_with, PopError, PushError, Receiver, Sender};
pub use mpmc::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
pub use spsc::{spsc, spsc_with, try_spsc, try_spsc_with, Consumer, Producer};
pub use wait::WaitStrategy;

#[cfg(not(mqsync_loom))]
pub use generic::ReceiverPop;
#[cfg(not(mqsync_loom))]
pub use spsc::ConsumerPop;

#[cfg(test)]
mod tests;
