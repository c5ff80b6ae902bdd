//! Multi-producer multi-consumer channels: [`bounded`] and [`unbounded`], with the names and
//! semantics of `std::sync::mpsc` and crossbeam-channel, async waits, and a lossless `close`.
//! Reached as `mqsync::channel`.
//!
//! * **Sending**: [`Sender::send`] waits while a bounded channel is full; [`try_send`],
//!   [`send_timeout`], [`send_deadline`], [`send_async`].
//! * **Receiving**: [`Receiver::recv`] waits while the channel is empty; [`try_recv`],
//!   [`recv_timeout`], [`recv_deadline`], [`recv_async`], [`recv_many`], [`iter`], [`try_iter`],
//!   `for v in &rx`, and `Receiver` is a `Stream`.
//! * **Ending**: when the last `Sender` is dropped, or on [`close`](Sender::close) from either
//!   side, sends fail with the value given back and receivers get everything sent before, then
//!   `Disconnected`. When the last `Receiver` is dropped, sends fail and the values still queued
//!   are dropped at once.
//!
//! [`try_send`]: Sender::try_send
//! [`send_timeout`]: Sender::send_timeout
//! [`send_deadline`]: Sender::send_deadline
//! [`send_async`]: Sender::send_async
//! [`try_recv`]: Receiver::try_recv
//! [`recv_timeout`]: Receiver::recv_timeout
//! [`recv_deadline`]: Receiver::recv_deadline
//! [`recv_async`]: Receiver::recv_async
//! [`recv_many`]: Receiver::recv_many
//! [`iter`]: Receiver::iter
//! [`try_iter`]: Receiver::try_iter
//!
//! # How it works
//!
//! A bounded channel is Vyukov's ring (`array.rs`), an unbounded one a list of blocks
//! (`list.rs`). In both, `close` sets a mark bit in the tail word that every send claims with
//! its one compare-and-swap, so a send after the close fails in that same claim and a send
//! before it is a value receivers wait for: the close is lossless and costs a send nothing.
//! Waiting (`waiters.rs`) is register → re-check → sleep on a list per side; a send or receive
//! checks for sleepers on the other side with one load, ordered by its claim (both `SeqCst`), so
//! nothing is paid while nobody sleeps and no wake-up is lost. Blocked threads park on a waiter
//! that each thread reuses (no allocation per wait); futures allocate theirs once.
//!
//! # Progress
//!
//! `try_send` and `try_recv` never block on a lock, and a failed claim means another thread's
//! claim succeeded. They are not lock-free in one place: a receive whose slot was claimed by a
//! sender that has not yet written it waits for that sender (spinning, then yielding), as in
//! Vyukov's ring and crossbeam-channel; a bounded send likewise waits for a receiver that
//! claimed the slot it needs. Waking a *sleeping* peer takes the sleeper list's lock.
//!
//! # Examples
//!
//! ```
//! use mqsync::channel;
//! use std::thread;
//!
//! let (tx, rx) = channel::bounded(16);
//! let producers: Vec<_> = (0..4)
//!     .map(|p| {
//!         let tx = tx.clone();
//!         thread::spawn(move || (0..100).for_each(|i| tx.send(p * 100 + i).unwrap()))
//!     })
//!     .collect();
//! drop(tx); // the channel ends when the producers' clones are gone
//! let total: u64 = rx.iter().sum();
//! assert_eq!(total, (0..400).sum());
//! producers.into_iter().for_each(|p| p.join().unwrap());
//! ```

mod array;
mod chan;
mod error;
mod list;
mod receiver;
mod registration;
mod sender;
mod waiters;

pub use error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
pub use receiver::{IntoIter, Iter, Receiver, RecvFuture, TryIter};
pub use sender::{SendFuture, Sender};

use crate::primitive::sync::Arc;
use chan::{Chan, Flavor};

/// A channel that holds at most `cap` values; `send` waits while it is full.
///
/// # Panics
///
/// When `cap` is 0: rendezvous channels are not built yet.
///
/// # Examples
///
/// ```
/// use mqsync::channel::{bounded, TrySendError};
///
/// let (tx, rx) = bounded(2);
/// tx.send(1).unwrap();
/// tx.send(2).unwrap();
/// assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
/// assert_eq!(rx.recv(), Ok(1));
/// ```
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        cap > 0,
        "bounded(0) (a rendezvous channel) is not supported yet"
    );
    pair(Flavor::Array(array::Array::with_capacity(cap)))
}

/// A channel without a bound; `send` never waits.
///
/// # Examples
///
/// ```
/// let (tx, rx) = mqsync::channel::unbounded();
/// for i in 0..1000 {
///     tx.send(i).unwrap();
/// }
/// assert_eq!(rx.len(), 1000);
/// assert_eq!(rx.recv(), Ok(0));
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    pair(Flavor::List(list::List::new()))
}

fn pair<T>(flavor: Flavor<T>) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(flavor));
    (
        Sender {
            chan: Arc::clone(&chan),
        },
        Receiver::new(chan),
    )
}
