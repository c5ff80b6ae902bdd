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
    /// Unique id: taken from the input by the `id` rule, or a UUIDv7 (time-ordered: ids made
    /// later in this process sort higher).
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
    pub headers: BTreeMap<String, String>,
    /// The payload, always a JSON object.
    pub body: Map<String, Value>,
}

impl Message {
    /// A message from `source` with a fresh time-ordered id, the current time, no key, no
    /// version and no headers.
    pub fn new(source: impl Into<String>, body: Map<String, Value>) -> Self {
        Message {
            id: new_id(),
            source: source.into(),
            key: None,
            version: None,
            timestamp: Utc::now(),
            headers: BTreeMap::new(),
            body,
        }
    }
}

/// A new UUIDv7 in its hyphenated form; monotonic within this process.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
