//! Dead letters: messages that will not be delivered again, with the reason, and where they go.

use crate::queue::Fifo;
use std::fmt;
// The target is a user-supplied `Arc<dyn Fifo>`: std's `Arc`, part of the public API (loom's
// `Arc` cannot hold a trait object), not a primitive the queue synchronizes through.
use std::sync::Arc;

/// Why a message was dead-lettered.
///
/// Non-exhaustive: new reasons may be added in a minor release, so a `match` needs a `_` arm.
///
/// ```
/// use mqsync::delivery::DeadReason;
/// assert_eq!(DeadReason::DeliveryLimit(3).to_string(), "delivered 3 times without an ack");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
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
/// Only the queue makes dead letters; it is `#[non_exhaustive]` so that fields can be added in a
/// minor release. Read its fields, or take them apart with `..`:
///
/// ```
/// use mqsync::delivery::{DeadLetter, DeadReason, DeliveryQueue};
///
/// let q = DeliveryQueue::builder().build().unwrap();
/// q.publish("bad input").unwrap();
/// q.consumer().try_receive().unwrap().reject();
/// let dead = q.dead_letters().pop().unwrap();
/// assert_eq!((dead.reason, dead.deliveries, dead.priority), (DeadReason::Rejected, 1, 0));
/// let DeadLetter { message, .. } = dead;
/// assert_eq!(message, "bad input");
/// ```
///
/// With the `serde` feature it serializes (and deserializes, to replay letters kept elsewhere)
/// as a struct of its fields.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
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

/// An observer of dead letters.
pub(super) type DeadLetterFn<T> = Box<dyn Fn(&DeadLetter<T>) + Send + Sync>;

/// Where dead letters are routed when not to the queue's own dead-letter queue.
pub(super) type DeadLetterTarget<T> = Arc<dyn Fifo<DeadLetter<T>> + Send + Sync>;

#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::{DeadLetter, DeadReason};

    #[test]
    fn a_dead_letter_survives_a_json_round_trip() {
        let dead = DeadLetter {
            message: String::from("order 42"),
            reason: DeadReason::DeliveryLimit(5),
            deliveries: 5,
            priority: 3,
        };
        let json = serde_json::to_string(&dead).unwrap();
        assert_eq!(
            json,
            r#"{"message":"order 42","reason":{"delivery_limit":5},"deliveries":5,"priority":3}"#
        );
        let back: DeadLetter<String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, dead);
        for (reason, json) in [
            (DeadReason::Rejected, r#""rejected""#),
            (DeadReason::Expired, r#""expired""#),
        ] {
            assert_eq!(serde_json::to_string(&reason).unwrap(), json);
            assert_eq!(serde_json::from_str::<DeadReason>(json).unwrap(), reason);
        }
    }
}
