//! [`Replica`]: an in-memory target that applies changes idempotently and can be read while
//! syncing.

use super::change::{Change, Op};
use super::dedup::DedupWindow;
use super::error::SinkError;
use super::sink::Sink;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError, RwLock, RwLockWriteGuard};
use std::time::Duration;

/// What applying one change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Applied {
    /// The replica changed.
    Changed,
    /// The replica already holds a version that wins over this change (an older or replayed
    /// change): nothing changed.
    Stale,
    /// A versionless change whose id was already applied within the dedup window.
    Duplicate,
}

/// What the replica holds for one key: the last winning version and operation (a delete is
/// kept as a tombstone with its version).
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    version: Option<u64>,
    op: Op,
}

/// A concurrent in-memory replica: sharded `RwLock`ed maps, so readers run in parallel with the
/// writers of other shards and with each other.
///
/// Applying is idempotent: applying a change twice, or an older version after a newer one,
/// leaves the replica unchanged (see [`Change::supersedes`]); versionless changes are
/// deduplicated by id in a bounded window.
///
/// ```
/// use mqsync::sync::{Applied, Change, Replica};
/// use serde_json::json;
///
/// let r = Replica::new();
/// assert_eq!(r.apply(&Change::upsert("k", 2, json!("new"))), Applied::Changed);
/// assert_eq!(r.apply(&Change::upsert("k", 1, json!("old"))), Applied::Stale);
/// assert_eq!(r.get("k"), Some(json!("new")));
/// assert_eq!(r.apply(&Change::delete("k", 3)), Applied::Changed);
/// assert_eq!(r.get("k"), None);
/// assert_eq!(r.apply(&Change::upsert("k", 2, json!("again"))), Applied::Stale); // no resurrection
/// ```
#[derive(Debug)]
pub struct Replica {
    shards: Box<[RwLock<HashMap<String, Entry>>]>,
    dedup: Mutex<DedupWindow>,
}

impl Default for Replica {
    fn default() -> Self {
        Replica::new()
    }
}

impl Replica {
    /// A replica with 16 shards and a dedup window of 100,000 ids for 10 minutes.
    pub fn new() -> Self {
        Replica::with_shards(16, DedupWindow::new(100_000, Duration::from_secs(600)))
    }

    /// A replica with `shards` shards (at least 1) and the given dedup window.
    pub fn with_shards(shards: usize, dedup: DedupWindow) -> Self {
        Replica {
            shards: (0..shards.max(1)).map(|_| RwLock::default()).collect(),
            dedup: Mutex::new(dedup),
        }
    }

    /// The shard of `key`, by FNV-1a over its bytes: cheap for short keys, and all a shard
    /// choice needs (each shard's map hashes keys with `RandomState` against flooding).
    fn shard(&self, key: &str) -> &RwLock<HashMap<String, Entry>> {
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
        &self.shards[(hash % self.shards.len() as u64) as usize]
    }

    /// Applies one change idempotently.
    pub fn apply(&self, change: &Change) -> Applied {
        if !self.fresh(change) {
            return Applied::Duplicate;
        }
        let mut shard = self.write_shard(&change.key);
        match shard.get_mut(&change.key) {
            None => {
                let entry = Entry {
                    version: change.version,
                    op: change.op.clone(),
                };
                shard.insert(change.key.clone(), entry);
            }
            // Copy the value only once the change is known to win: stale replays cost no clone.
            Some(current) if wins(change, current) => {
                current.version = change.version;
                current.op = change.op.clone();
            }
            Some(_) => return Applied::Stale,
        }
        Applied::Changed
    }

    /// Applies one change idempotently, moving its key and value in, and gives back what is
    /// left to drop: the change with the value it replaced (or the whole change, if it did not
    /// win; or only its id, if its key was new).
    fn apply_moved(&self, mut change: Change) -> (Applied, Change) {
        if !self.fresh(&change) {
            return (Applied::Duplicate, change);
        }
        let mut shard = self.write_shard(&change.key);
        let applied = match shard.get_mut(&change.key) {
            None => {
                let entry = Entry {
                    version: change.version,
                    op: std::mem::replace(&mut change.op, Op::Delete),
                };
                shard.insert(std::mem::take(&mut change.key), entry);
                Applied::Changed
            }
            Some(current) if wins(&change, current) => {
                current.version = change.version;
                std::mem::swap(&mut current.op, &mut change.op);
                Applied::Changed
            }
            Some(_) => Applied::Stale,
        };
        (applied, change)
    }

    /// False for a versionless change whose id was already applied within the dedup window.
    fn fresh(&self, change: &Change) -> bool {
        if change.version.is_some() {
            return true;
        }
        // No user code runs under these locks, so a poisoned lock is still consistent.
        self.dedup
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(&change.id)
    }

    fn write_shard(&self, key: &str) -> RwLockWriteGuard<'_, HashMap<String, Entry>> {
        // No user code runs under these locks, so a poisoned lock is still consistent.
        self.shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The live value of `key` (`None` if absent or deleted).
    pub fn get(&self, key: &str) -> Option<serde_json::Value> {
        let shard = self
            .shard(key)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match &shard.get(key)?.op {
            Op::Upsert(value) => Some(value.clone()),
            Op::Delete => None,
        }
    }

    /// The version last applied to `key`, deletes included.
    ///
    /// ```
    /// let r = mqsync::sync::Replica::new();
    /// r.apply(&mqsync::sync::Change::delete("k", 4));
    /// assert_eq!(r.version("k"), Some(4));
    /// ```
    pub fn version(&self, key: &str) -> Option<u64> {
        let shard = self
            .shard(key)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        shard.get(key)?.version
    }

    /// The number of live (not deleted) keys.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .values()
                    .filter(|e| matches!(e.op, Op::Upsert(_)))
                    .count()
            })
            .sum()
    }

    /// True if no key is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live keys with their versions (each shard read at its own moment).
    pub fn live_versions(&self) -> Vec<(String, Option<u64>)> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.read().unwrap_or_else(PoisonError::into_inner);
            all.extend(
                shard
                    .iter()
                    .filter(|(_, e)| matches!(e.op, Op::Upsert(_)))
                    .map(|(k, e)| (k.clone(), e.version)),
            );
        }
        all
    }

    /// The live keys and values, sorted by key (each shard read at its own moment).
    ///
    /// ```
    /// use serde_json::json;
    /// let r = mqsync::sync::Replica::new();
    /// r.apply(&mqsync::sync::Change::upsert("b", 1, json!(2)));
    /// r.apply(&mqsync::sync::Change::upsert("a", 1, json!(1)));
    /// assert_eq!(r.snapshot().into_iter().collect::<Vec<_>>(), [("a".into(), json!(1)), ("b".into(), json!(2))]);
    /// ```
    pub fn snapshot(&self) -> BTreeMap<String, serde_json::Value> {
        let mut all = BTreeMap::new();
        for shard in self.shards.iter() {
            let shard = shard.read().unwrap_or_else(PoisonError::into_inner);
            for (key, entry) in shard.iter() {
                if let Op::Upsert(value) = &entry.op {
                    all.insert(key.clone(), value.clone());
                }
            }
        }
        all
    }
}

/// Whether `change` wins over what the replica holds for its key ([`Change::supersedes`]).
fn wins(change: &Change, current: &Entry) -> bool {
    match current.version {
        Some(v) => change.supersedes(Some((&v, &current.op))),
        None => true,
    }
}

impl Sink for Replica {
    fn name(&self) -> &str {
        "replica"
    }

    /// Applies each change idempotently; a replica never fails.
    fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
        for change in batch {
            Replica::apply(self, change);
        }
        Ok(())
    }

    /// Moves each change in (no copy of keys or values) and leaves what it replaced, or what
    /// lost, in `spent`; a replica never fails.
    fn apply_owned(
        &self,
        batch: &mut std::vec::IntoIter<Change>,
        spent: &mut Vec<Change>,
    ) -> Result<(), SinkError> {
        spent.reserve(batch.len());
        for change in batch {
            let (_, rest) = self.apply_moved(change);
            spent.push(rest);
        }
        Ok(())
    }
}
