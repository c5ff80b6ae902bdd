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
/// Layout of the 74 bits after the 48-bit Unix millisecond: a 26-bit counter, then 48 random
/// bits drawn once per thread. Within a thread ids strictly increase (RFC 9562 "method 1": the
/// counter counts within a millisecond; when it wraps, or the clock steps back, the stored
/// millisecond moves forward instead). Across threads ids are ordered by millisecond and kept
/// apart by the random bits.
///
/// Departs from `uuid::Uuid::now_v7` on purpose: that draws fresh OS randomness for every id
/// (a `getrandom` system call), which cost more than parsing a small JSON message.
pub(crate) fn new_id(now: DateTime<Utc>) -> String {
    use std::cell::Cell;
    use std::hash::{BuildHasher, Hasher};

    const COUNTER_BITS: u32 = 26;
    const NODE_BITS: u32 = 48;
    thread_local! {
        /// (last millisecond used, counter within it); written only by this thread.
        static LAST: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
        /// Random bits for this thread, from std's per-process random hash keys.
        static NODE: u64 = {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(0x6d71_7379_6e63); // any constant: the keys carry the randomness
            hasher.finish() & ((1 << NODE_BITS) - 1)
        };
    }
    // Before 1970 counts as 1970: the field is unsigned.
    let now = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    let (millis, counter) = LAST.with(|last| {
        let (last_millis, last_counter) = last.get();
        let next = if now > last_millis {
            (now, 0)
        } else if last_counter + 1 < 1 << COUNTER_BITS {
            (last_millis, last_counter + 1)
        } else {
            (last_millis + 1, 0)
        };
        last.set(next);
        next
    });
    let payload = (u128::from(counter) << NODE_BITS) | u128::from(NODE.with(|n| *n));
    // Builder overwrites the version and variant bits: spread the 74 payload bits around them.
    let rand_a = (payload >> 62) & 0xfff;
    let rand_b = payload & ((1 << 62) - 1);
    let bytes = ((rand_a << 64) | rand_b).to_be_bytes();
    let mut tail = [0u8; 10];
    tail.copy_from_slice(&bytes[6..]);
    let id = uuid::Builder::from_unix_timestamp_millis(millis, &tail).into_uuid();
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
