//! The data model of synchronization: a [`Change`] is an upsert or a delete of an entity key,
//! optionally at a version, and applying changes is idempotent.

use crate::primitive::hint::prefetch;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// What a change does to its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", content = "value", rename_all = "snake_case")]
pub enum Op {
    /// Insert or replace the entity's value.
    Upsert(serde_json::Value),
    /// Remove the entity (a tombstone keeps its version, so older upserts cannot resurrect it).
    Delete,
}

/// One change of one entity, as the sync engine moves it from a source to its sinks.
///
/// ```
/// use mqsync::sync::{Change, Op};
/// use serde_json::json;
///
/// let c = Change::upsert("order-7", 3, json!({"total": 12}));
/// assert_eq!(c.key, "order-7");
/// assert_eq!(c.version, Some(3));
/// assert!(matches!(c.op, Op::Upsert(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The entity key; changes of one key are applied in order.
    pub key: String,
    /// The entity version: a higher version wins. `None`: deduplicate by `id` instead.
    pub version: Option<u64>,
    /// A unique id of this change (deduplication of versionless changes, dead letters, tracing).
    pub id: String,
    /// The operation.
    pub op: Op,
    /// Where this change sits in its source's durable log (0, 1, 2, ... without gaps), when the
    /// source has one. A sink that stores the position with the data in one transaction (the
    /// [`SqliteSink`](super::SqliteSink)) can say where a restarted source must resume. `None`
    /// for changes that come from no replayable log; absent in JSON means `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
}

impl Change {
    /// An upsert of `key` at `version`; the id is `key@version`.
    pub fn upsert(key: impl Into<String>, version: u64, value: serde_json::Value) -> Self {
        let key = key.into();
        Change {
            id: format!("{key}@{version}"),
            key,
            version: Some(version),
            op: Op::Upsert(value),
            position: None,
        }
    }

    /// A delete of `key` at `version`; the id is `key@version`.
    ///
    /// ```
    /// let c = mqsync::sync::Change::delete("k", 9);
    /// assert_eq!(c.id, "k@9");
    /// ```
    pub fn delete(key: impl Into<String>, version: u64) -> Self {
        let key = key.into();
        Change {
            id: format!("{key}@{version}"),
            key,
            version: Some(version),
            op: Op::Delete,
            position: None,
        }
    }

    /// This change, at `position` in its source's durable log.
    ///
    /// ```
    /// let c = mqsync::sync::Change::delete("k", 9).at_position(41);
    /// assert_eq!(c.position, Some(41));
    /// ```
    pub fn at_position(mut self, position: u64) -> Self {
        self.position = Some(position);
        self
    }

    /// Whether applying `self` over a target that holds `current` (the version and op last
    /// applied to this key) changes it: a higher version wins; at equal versions the tie is
    /// broken deterministically — a delete beats an upsert, and between upserts the greater
    /// serialized value wins — so replicas that see the same changes in any order converge.
    /// Versionless changes always apply (they are deduplicated by id elsewhere).
    ///
    /// ```
    /// use mqsync::sync::Change;
    /// use serde_json::json;
    ///
    /// let old = Change::upsert("k", 1, json!(1));
    /// let new = Change::upsert("k", 2, json!(2));
    /// assert!(new.supersedes(Some((&old.version.unwrap(), &old.op))));
    /// assert!(!old.supersedes(Some((&new.version.unwrap(), &new.op))));
    /// assert!(!new.supersedes(Some((&2, &new.op)))); // replaying is harmless
    /// ```
    pub fn supersedes(&self, current: Option<(&u64, &Op)>) -> bool {
        let (Some(version), Some((current_version, current_op))) = (self.version, current) else {
            return true;
        };
        match version.cmp(current_version) {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => tie_break(&self.op, current_op) == Ordering::Greater,
        }
    }
}

/// How many changes ahead of the one being dropped [`drop_changes`] prefetches.
const DROP_AHEAD: usize = 8;

/// Drops `changes`, as `drop` would, but first asks for the memory of the change
/// [`DROP_AHEAD`] places further on.
///
/// Freeing a heap block reads its allocator header; the engine drops changes built long ago on
/// another thread, so each header is a cache miss, and a plain `drop` of a batch waits for them
/// one after another. Prefetched ahead, the misses overlap: dropping the engine bench's 100k
/// spent changes took a third of the time of a plain `drop` (docs/benchmarks.md).
pub(crate) fn drop_changes(changes: Vec<Change>) {
    let mut rest = changes.into_iter();
    while let Some(change) = rest.next() {
        if let Some(ahead) = rest.as_slice().get(DROP_AHEAD) {
            ahead.prefetch_heap();
        }
        drop(change);
    }
}

impl Change {
    /// Asks for the cache lines that dropping this change will read first: the allocator
    /// headers just below the key's and the id's bytes, and the value's first heap block.
    fn prefetch_heap(&self) {
        /// The allocator keeps a block's size in the word right below it; an empty string or
        /// vector has no block.
        fn header(block: *const u8, capacity: usize) {
            if capacity != 0 {
                prefetch(block.wrapping_sub(std::mem::size_of::<usize>()));
            }
        }
        header(self.key.as_ptr(), self.key.capacity());
        header(self.id.as_ptr(), self.id.capacity());
        if let Op::Upsert(value) = &self.op {
            match value {
                serde_json::Value::String(s) => header(s.as_ptr(), s.capacity()),
                // Reading the first key touches the map's first node (a load the CPU overlaps
                // with the drops before it); the key's own block follows.
                serde_json::Value::Object(map) => {
                    if let Some((key, _)) = map.iter().next() {
                        header(key.as_ptr(), key.capacity());
                    }
                }
                serde_json::Value::Array(items) => header(items.as_ptr().cast(), items.capacity()),
                _ => {}
            }
        }
    }
}

impl From<crate::integrate::Message> for Change {
    /// An integrated message as an upsert: its key (or, without one, its id) names the entity,
    /// its version orders the changes (without one, the change is deduplicated by id), and its
    /// body is the value.
    ///
    /// ```
    /// use mqsync::integrate::{Integrator, Raw};
    /// use mqsync::sync::{Change, Op};
    ///
    /// let message = Integrator::default().integrate(Raw::Text("hello".into())).unwrap();
    /// let change = Change::from(message.clone());
    /// assert_eq!((change.key, change.version), (message.id.clone(), None));
    /// assert!(matches!(change.op, Op::Upsert(body) if body["text"] == "hello"));
    /// ```
    fn from(message: crate::integrate::Message) -> Self {
        Change {
            key: message.key.unwrap_or_else(|| message.id.clone()),
            version: message.version,
            id: message.id,
            op: Op::Upsert(serde_json::Value::Object(message.body)),
            position: None,
        }
    }
}

/// A total order on ops of the same version: Delete > Upsert; upserts by serialized value.
fn tie_break(a: &Op, b: &Op) -> Ordering {
    match (a, b) {
        (Op::Delete, Op::Delete) => Ordering::Equal,
        (Op::Delete, Op::Upsert(_)) => Ordering::Greater,
        (Op::Upsert(_), Op::Delete) => Ordering::Less,
        (Op::Upsert(x), Op::Upsert(y)) => x.to_string().cmp(&y.to_string()),
    }
}

/// A `Change` in a durable [`DeliveryQueue`](crate::delivery::DeliveryQueue) is kept as JSON
/// (feature `journal`).
///
/// ```
/// use mqsync::delivery::Persist;
/// use mqsync::sync::Change;
///
/// let change = Change::upsert("k", 3, serde_json::json!({"n": 1}));
/// let mut bytes = Vec::new();
/// change.encode(&mut bytes);
/// assert_eq!(Change::decode(&bytes).unwrap(), change);
/// ```
#[cfg(feature = "journal")]
impl crate::delivery::Persist for Change {
    fn encode(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(out, self).expect("a Change always serializes to JSON");
    }

    fn decode(bytes: &[u8]) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ties_are_broken_the_same_way_in_both_orders() {
        let a = Change::upsert("k", 5, json!({"a": 1}));
        let b = Change::upsert("k", 5, json!({"a": 2}));
        let d = Change::delete("k", 5);
        let held = |c: &Change| (c.version.unwrap(), c.op.clone());
        for (x, y) in [(&a, &b), (&a, &d), (&b, &d)] {
            let (xv, xo) = held(x);
            let (yv, yo) = held(y);
            assert_ne!(
                x.supersedes(Some((&yv, &yo))),
                y.supersedes(Some((&xv, &xo))),
                "exactly one of two different same-version changes wins"
            );
        }
        let (av, ao) = held(&a);
        assert!(!a.supersedes(Some((&av, &ao))), "a replay does not win");
    }

    #[test]
    fn serde_round_trip() {
        let c = Change::upsert("k", 1, json!({"x": [1, 2]}));
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Change>(&text).unwrap(), c);
        let d = Change::delete("k", 2);
        assert_eq!(
            serde_json::from_str::<Change>(&serde_json::to_string(&d).unwrap()).unwrap(),
            d
        );
    }

    #[test]
    fn position_is_optional_in_json() {
        let c = Change::upsert("k", 1, json!(1));
        let text = serde_json::to_string(&c).unwrap();
        assert!(!text.contains("position"), "{text}");
        let p = c.clone().at_position(7);
        let back: Change = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        assert_eq!(
            serde_json::from_str::<Change>(&text).unwrap().position,
            None
        );
    }
}
