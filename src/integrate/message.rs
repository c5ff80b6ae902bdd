//! The unified envelope every input becomes: [`Message`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One integrated message: where it came from, who it is about, and an object body.
///
/// `key` and `version` are what the sync engine uses for idempotency: a message for a key is
/// applied once per version. Encode it with [`Message::to_json`], [`Message::to_msgpack`] or
/// [`Message::to_csv_row`]; JSON and MessagePack decode back to an equal message.
///
/// ```
/// use mqsync::integrate::Message;
/// use serde_json::json;
///
/// let body = json!({"sku": "A-1", "qty": 2}).as_object().cloned().unwrap();
/// let message = Message::new("shop", body);
/// assert_eq!(message.source, "shop");
/// assert_eq!(message.id.len(), 36);
/// let later = Message::new("shop", Default::default());
/// assert!(later.id > message.id, "ids are time-ordered");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Unique id: taken from the input by the `id` rule, or a fresh UUIDv7, time-ordered: ids
    /// sort by the millisecond they were made in, and strictly increase within one thread.
    pub id: String,
    /// The source system's name.
    pub source: String,
    /// The entity this message is about, if the `key` rule names one.
    pub key: Option<String>,
    /// The entity's version, if the `version` rule names one.
    pub version: Option<u64>,
    /// When the event happened (the `timestamp` rule) or else when it was integrated.
    pub timestamp: DateTime<Utc>,
    /// Transport headers from the [`Input`](super::Input).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The payload, always a JSON object.
    pub body: Map<String, Value>,
}

impl Message {
    /// A message from `source` with a fresh time-ordered id, the current time, no key, no
    /// version and no headers.
    ///
    /// ```
    /// let message = mqsync::integrate::Message::new("app", serde_json::Map::new());
    /// assert_eq!((message.key, message.version), (None, None));
    /// ```
    pub fn new(source: impl Into<String>, body: Map<String, Value>) -> Self {
        let now = Utc::now();
        Message {
            id: new_id(now),
            source: source.into(),
            key: None,
            version: None,
            timestamp: now,
            headers: BTreeMap::new(),
            body,
        }
    }
}

/// A new UUIDv7 (RFC 9562, section 5.7) in its hyphenated form, for a message made at `now`.
///
/// Made by the `uuid` crate: `Uuid::new_v7` over a per-thread [`uuid::ContextV7`], whose
/// 42-bit counter is reseeded at random each millisecond and counts up within it (RFC 9562
/// "method 1"; when it wraps, or the clock steps back, the context moves the millisecond
/// forward instead), so ids strictly increase within a thread. The remaining random bits come
/// from the `rand` thread-local generator (the crate's `fast-rng` feature), so no id costs a
/// system call. The context is per thread rather than `Uuid::now_v7`'s process-wide one, which
/// sits behind a mutex that rayon's workers would take turns on; across threads, ids are
/// ordered by millisecond and kept apart by their random bits.
pub(crate) fn new_id(now: DateTime<Utc>) -> String {
    thread_local! {
        /// This thread's v7 clock sequence; a `Cell`-based context, used by this thread only.
        static CONTEXT: uuid::ContextV7 = const { uuid::ContextV7::new() };
    }
    // Before 1970 counts as 1970: the field is unsigned.
    let seconds = u64::try_from(now.timestamp()).unwrap_or(0);
    let nanos = if now.timestamp() < 0 {
        0
    } else {
        now.timestamp_subsec_nanos()
    };
    let id = CONTEXT
        .with(|context| uuid::Uuid::new_v7(uuid::Timestamp::from_unix(context, seconds, nanos)));
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    id.hyphenated().encode_lower(&mut text).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_7_and_increase_within_a_thread() {
        let ids: Vec<String> = (0..10_000).map(|_| new_id(Utc::now())).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let parsed = uuid::Uuid::parse_str(&ids[0]).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        let (secs, _) = parsed.get_timestamp().unwrap().to_unix();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(secs.abs_diff(now) < 5);
        let other = std::thread::spawn(|| new_id(Utc::now())).join().unwrap();
        assert_ne!(
            other[24..],
            ids[0][24..],
            "threads draw their own random bits"
        );
    }
}
