//! The deprecated generic channel: waiting and close without loss around any
//! [`Fifo`](crate::queue::Fifo), reached as `mqsync::handoff::{channel, channel_with, Sender,
//! Receiver, ReceiverPop, PushError, PopError}`. Prefer `mqsync::channel` (`handoff/mpmc/`).
//!
//! `channel.rs` holds the wrapper, its close protocol and the blocking calls; `channel_async.rs`
//! its async waits; `error.rs` the two error types, which the SPSC ring no longer uses. Each file
//! uses only those listed after it.

mod channel;
#[cfg(not(mqsync_loom))]
mod channel_async;
mod error;

#[allow(deprecated)]
pub use channel::{channel, channel_with, Receiver, Sender};
#[cfg(not(mqsync_loom))]
pub use channel_async::ReceiverPop;
pub use error::{PopError, PushError};

#[cfg(test)]
mod tests;
