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
//! * **Rendezvous**: `bounded(0)` holds nothing; a send completes when a receiver takes the
//!   value, and a close gives every waiting sender its value back.
//! * **Select**: [`Select`] waits on several receivers (of any element types) and receives one
//!   value from the first that is ready, losing none: [`select`](Select::select),
//!   [`try_select`](Select::try_select), [`select_timeout`](Select::select_timeout),
//!   [`select_deadline`](Select::select_deadline).
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
//! (`list.rs`), a rendezvous one lists of waiting senders and receivers under a lock
//! (`zero.rs`). In the ring and the list, `close` sets a mark bit in the tail word that every
//! send claims with its one compare-and-swap, so a send after the close fails in that same claim
//! and a send before it is a value receivers wait for: the close is lossless and costs a send
//! nothing.
//! Waiting (`waiters.rs`) is register → re-check → sleep on a list per side; a send or receive
//! checks for sleepers on the other side with one load, ordered by its claim (both `SeqCst`), so
//! nothing is paid while nobody sleeps and no wake-up is lost. Blocked threads park on a waiter
//! that each thread reuses (no allocation per wait; a rendezvous wait yields a while first);
//! futures allocate theirs once.
//! A [`Select`] (`select.rs`) joins the receiver lists of all its channels with one waiter,
//! re-checks them all, sleeps, then claims a value only with a channel's own `try_recv`; a
//! wake-up it took for a channel whose value it did not return is passed on to that channel's
//! next sleeper.
//!
//! # Progress
//!
//! `try_send` and `try_recv` never block on a lock, and a failed claim means another thread's
//! claim succeeded. The rendezvous flavor (`zero.rs`) is blocking throughout: one lock guards
//! its lists of waiting senders and receivers. They are not lock-free in one place: a receive whose slot was claimed by a
//! sender that has not yet written it waits for that sender (spinning, then yielding), as in
//! Vyukov's ring and crossbeam-channel; a bounded send likewise waits for a receiver that
//! claimed the slot it needs. Waking a *sleeping* peer takes the sleeper list's lock.
//! [`Select`] is blocking: it sleeps on every channel's sleeper list, joining and leaving each
//! under its lock; its non-waiting [`try_select`](Select::try_select) is the channels'
//! `try_recv`s.
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
//! assert_eq!(total, (0..400u64).sum::<u64>());
//! producers.into_iter().for_each(|p| p.join().unwrap());
//! ```

mod array;
mod chan;
mod error;
mod list;
mod receiver;
mod registration;
mod select;
mod sender;
mod sink;
mod waiters;
mod zero;

#[cfg(mqsync_loom)]
#[doc(hidden)]
pub use chan::LoomQueue;
pub use error::{
    RecvError, RecvTimeoutError, SelectTimeoutError, SendError, SendTimeoutError, TryRecvError,
    TrySelectError, TrySendError,
};
pub use receiver::{IntoIter, Iter, Receiver, RecvFuture, RecvManyFuture, TryIter};
pub use select::Select;
pub use sender::{SendFuture, Sender};
pub use sink::SendSink;

use crate::primitive::sync::Arc;
use chan::{Chan, Flavor};

/// A channel that holds at most `cap` values; `send` waits while it is full.
///
/// `bounded(0)` is a *rendezvous* channel (crossbeam-channel's zero-capacity channel): it holds
/// nothing, `send` returns `Ok` only once a receiver has taken the value, `try_send` succeeds
/// only if a receiver is waiting at that moment (else `Full`), and `try_recv` only if a sender
/// is. A timed-out or closed-out send gives its value back and was never received. Its waiting
/// lists sit under one lock, so every rendezvous operation is blocking (it takes the lock);
/// `capacity()` is `Some(0)`, `is_full()` is always true and `len()` is 0 (except for a value
/// handed to a receive future that was dropped before returning it: that value waits for the
/// next receiver, which gets it first).
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
///
/// // A rendezvous: nothing is accepted unless a receiver takes it.
/// let (tx, rx) = bounded(0);
/// assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
/// let sender = std::thread::spawn(move || tx.send(2));
/// assert_eq!(rx.recv(), Ok(2));
/// assert_eq!(sender.join().unwrap(), Ok(()));
/// ```
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    if cap == 0 {
        return pair(Flavor::Zero(zero::Zero::new()));
    }
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
            hint: array::Hint::default(),
        },
        Receiver::new(chan),
    )
}
