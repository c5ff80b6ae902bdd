//! Dead letters: messages that will not be delivered again, with the reason.

use std::fmt;

/// Why a message was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadReason {
    /// A consumer rejected it (`reject()`, or `nack(requeue = false)`).
    Rejected,
    /// It was delivered this many times (the queue's delivery limit) without an ack.
    DeliveryLimit(u32),
    /// Its time to live passed before a consumer received it.
    Expired,
}

impl fmt::Display for DeadReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeadReason::Rejected => f.write_str("rejected by a consumer"),
            DeadReason::DeliveryLimit(n) => write!(f, "delivered {n} times without an ack"),
            DeadReason::Expired => f.write_str("time to live expired"),
        }
    }
}

/// A message that left the queue without being acknowledged, and why.
///
/// ```
/// use mqsync::delivery::{DeadReason, DeliveryQueue};
///
/// let q = DeliveryQueue::builder().build();
/// q.publish("bad input").unwrap();
/// q.consumer().try_receive().unwrap().reject();
/// let dead = q.dead_letters().pop().unwrap();
/// assert_eq!((dead.message, dead.reason, dead.deliveries), ("bad input", DeadReason::Rejected, 1));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter<T> {
    /// The message itself, so that it can be inspected or replayed.
    pub message: T,
    /// Why it was dead-lettered.
    pub reason: DeadReason,
    /// How many times it was delivered.
    pub deliveries: u32,
    /// The priority it was published with.
    pub priority: u8,
}
