//! How a [`Change`] travels in a RabbitMQ message, and how many times a message was delivered.
//!
//! The body is the change as JSON, the same serde form as a Redis Streams entry's `change` field
//! (`serde_json::to_vec(&change)`: `key`, `version`, `id`, `op`, `value`, and `position` when
//! set), with content type `application/json`, the change's `id` as the message ID, and
//! delivery mode 2 (persistent). A body that is not such JSON is malformed and goes to the
//! dead-letter queue with the reason.

use crate::sync::change::Change;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;

/// The content type of a message the sink publishes.
pub(super) const CONTENT_TYPE: &str = "application/json";
/// The header in which quorum queues count earlier deliveries.
pub(super) const DELIVERY_COUNT_HEADER: &str = "x-delivery-count";

/// The body of `change`'s message.
pub(super) fn encode(change: &Change) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(change)
}

/// The change a message body holds, or why it holds none.
pub(super) fn decode(body: &[u8]) -> Result<Change, serde_json::Error> {
    serde_json::from_slice(body)
}

/// Persistent (delivery mode 2) JSON with `message_id` as the message ID.
pub(super) fn properties(message_id: &str) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(ShortString::from(CONTENT_TYPE))
        .with_message_id(ShortString::from(message_id))
}

/// The earlier deliveries a quorum queue counted in the `x-delivery-count` header, if present.
pub(super) fn header_delivery_count(properties: &BasicProperties) -> Option<u64> {
    let headers = properties.headers().as_ref()?;
    let value = headers.inner().get(DELIVERY_COUNT_HEADER)?;
    match value {
        AMQPValue::ShortShortInt(n) => u64::try_from(*n).ok(),
        AMQPValue::ShortShortUInt(n) => Some(u64::from(*n)),
        AMQPValue::ShortInt(n) => u64::try_from(*n).ok(),
        AMQPValue::ShortUInt(n) => Some(u64::from(*n)),
        AMQPValue::LongInt(n) => u64::try_from(*n).ok(),
        AMQPValue::LongUInt(n) => Some(u64::from(*n)),
        AMQPValue::LongLongInt(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// A dead letter's properties: persistent, the original's content type and message ID kept,
/// and the headers `x-mqsync-reason`, `x-mqsync-queue`, `x-mqsync-deliveries` added to the
/// original's.
pub(super) fn dead_letter_properties(
    original: &BasicProperties,
    reason: &str,
    queue: &str,
    deliveries: u64,
) -> BasicProperties {
    let mut headers = original.headers().clone().unwrap_or_default();
    headers.insert(
        "x-mqsync-reason".into(),
        AMQPValue::LongString(LongString::from(reason)),
    );
    headers.insert(
        "x-mqsync-queue".into(),
        AMQPValue::LongString(LongString::from(queue)),
    );
    headers.insert(
        "x-mqsync-deliveries".into(),
        AMQPValue::LongLongInt(i64::try_from(deliveries).unwrap_or(i64::MAX)),
    );
    let mut properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_headers(headers);
    if let Some(content_type) = original.content_type() {
        properties = properties.with_content_type(content_type.clone());
    }
    if let Some(id) = original.message_id() {
        properties = properties.with_message_id(id.clone());
    }
    properties
}

/// `x-queue-type` for a declare.
pub(super) fn queue_arguments(quorum: bool) -> FieldTable {
    let mut arguments = FieldTable::default();
    let kind = if quorum { "quorum" } else { "classic" };
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from(kind)),
    );
    arguments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_headers() {
        let change = Change::delete("k", 3);
        let body = encode(&change).unwrap();
        assert_eq!(decode(&body).unwrap(), change);
        assert!(decode(b"not json").is_err());
        let props = properties("k@3");
        assert_eq!(props.delivery_mode(), &Some(2));
        assert_eq!(header_delivery_count(&props), None);
        let mut headers = FieldTable::default();
        headers.insert(DELIVERY_COUNT_HEADER.into(), AMQPValue::LongLongInt(2));
        assert_eq!(
            header_delivery_count(&props.clone().with_headers(headers)),
            Some(2)
        );
        let dead = dead_letter_properties(&props, "bad", "q", 4);
        let h = dead.headers().as_ref().unwrap().inner();
        assert_eq!(
            h.get("x-mqsync-deliveries"),
            Some(&AMQPValue::LongLongInt(4))
        );
        assert_eq!(dead.message_id().as_ref().map(|s| s.as_str()), Some("k@3"));
    }
}
