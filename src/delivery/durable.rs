//! Durable delivery queues: a [`Journal`] under a [`DeliveryQueue`](super::DeliveryQueue), so
//! that a published message survives a crash until it is acknowledged or dead-lettered.
//
// The protocol. The queue keeps its messages in memory exactly as an in-memory queue does; the
// journal is a log of what happened to them, written before the event takes effect in memory:
//
//   PUBLISH  id, priority, delivery count, TTL deadline, due time, payload
//            written before the message enters its lane (publish returns after the write, so
//            a returned publish is as durable as the journal's flush policy promises);
//   REQUEUE  id, delivery count, due time
//            written when a delivery is returned (nack, drop, visibility timeout, backoff)
//            before it is back in its lane or held for its delay;
//   SETTLE   ids
//            written when messages leave the queue for good: acknowledged (before the ack is
//            counted, so an ack that returned is never redelivered after a restart), handed to
//            the dead letters (after the hand-off, so a crash in between dead-letters again
//            rather than losing the letter), or refused by a full lane after the PUBLISH.
//
// A receive writes nothing: receiving stays off the disk. The price: a delivery that was in
// flight when the process died comes back with the delivery count of its last REQUEUE (or 0),
// not counting the delivery the crash interrupted.
//
// Recovery (`recover`) reads the log from its first retained record and replays it into a map
// id → state: PUBLISH inserts (a later copy of the same id replaces the earlier one), REQUEUE
// updates, SETTLE removes; ids are unique for the life of the log (`next_id` resumes above the
// largest seen), so a SETTLE can never hit a later message. The survivors go back into their
// lanes in id (publish) order, ahead of anything published after the restart.
//
// Retention. Segments are deleted once no live message has its PUBLISH in them. Ids are counted
// in buckets of `BUCKET` consecutive ids. Each bucket has a *bound*: a position at or below the
// PUBLISH of every id from the bucket's first on (this bucket's and every later one's). The cut
// is the bound of the lowest bucket that still has a live id; segments entirely below it hold
// only settled messages and go (`Journal::remove_before`, which returns without the journal's
// lock when no segment is below the cut). Only settlements count, under the retention lock;
// a publish takes no lock of retention's except once per bucket, to store the bound:
//
//   [1] Every publish reads the journal's active segment base (`Journal::active_base`, an
//       Acquire load of a value a roll stores under the journal's lock; it changes once a
//       segment, so the read stays in the reader's cache) *before* it takes its id; the
//       publish whose id starts a bucket stores what it read as the bucket's bound.
//   [2] A bound is at or below the PUBLISH of every later id. Say publish P has a later id
//       than the starter S, but appended before the roll R whose base S read in [1]. Then
//       P's id fetch_add → P's journal lock → R's lock → R's Release store → S's Acquire
//       load → S's fetch_add is a happens-before chain, so P's fetch_add comes first in the
//       counter's modification order: P's id is the smaller. Contradiction; so P appended
//       after R, at or above the base S read. (The id counter itself can stay Relaxed.)
//   [3] A bucket is done when all `BUCKET` of its ids are settled (a publish that failed
//       counts as settled). The cut is the bound of the first bucket not done; when its bound
//       is not stored yet (its starter is between [1] and the store), the cut waits.
//   [4] Nothing live: `forget` reads the active base (v), then the id counter (n); if the ids
//       settled so far are exactly the n taken, every id below n is settled, and every later
//       id's PUBLISH is at or above v (the argument of [2], with `forget`'s load of the counter
//       in S's place), so the cut is v. Every settlement counted was counted under the lock
//       `forget` holds, after its id was taken, so all of them are below n.
//   [5] `remove_before` never deletes the active segment, so a cut at or above the active
//       base has deleted all it can: until the next roll, `forget` stops there, reading
//       neither the id counter (which the publishers write) nor the journal's lock.
//
// After a restart, the recovered ids keep their buckets (a bucket's settled count includes
// the ids settled before the restart), and each bucket's bound is the lowest position of the
// recovered PUBLISHes from it on (ids are taken before the journal's lock, so a later bucket's
// PUBLISH can precede an earlier one's), or the journal's end at the open when there are none.
// A message that is never settled keeps its segment and every later one; a restart rewrites
// the live messages to the end of the log (`compact`) and deletes the rest, once the copies
// are synced.
//
// The costs per message (mapped journal, `Interval`): the PUBLISH and the SETTLE are framed in
// the journal's per-thread buffer (`Journal::append_with`, no allocation) and copied into the
// mapping under one short hold of the journal's lock each; the retention lock is taken by the
// settlement only (and by one publish in `BUCKET`), and never around the journal's lock.

use super::lane::Envelope;
use crate::journal::{Journal, JournalError};
use crate::primitive::sync::atomic::{AtomicU64, Ordering};
use crate::primitive::sync::{Mutex, MutexGuard, PoisonError};
use crate::ConfigError;
use std::collections::{BTreeMap, VecDeque};
use std::error::Error;
use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How a message type is written to and read back from a durable queue's journal.
///
/// Implemented for `Vec<u8>`, `Box<[u8]>`, `String` and `u64` (8 bytes, little-endian); with the `sync` feature, for
/// [`sync::Change`](crate::sync::Change). Implement it for your own message type with any
/// encoding (serde with a format of your choice, a hand-written layout); `decode` must accept
/// what `encode` wrote.
///
/// # Examples
///
/// ```
/// use mqsync::delivery::Persist;
///
/// struct Order { id: u32 }
///
/// impl Persist for Order {
///     fn encode(&self, out: &mut Vec<u8>) {
///         out.extend_from_slice(&self.id.to_le_bytes());
///     }
///     fn decode(bytes: &[u8]) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
///         let id = bytes.try_into().map_err(|_| "an order is 4 bytes")?;
///         Ok(Order { id: u32::from_le_bytes(id) })
///     }
/// }
///
/// let mut bytes = Vec::new();
/// Order { id: 7 }.encode(&mut bytes);
/// assert_eq!(Order::decode(&bytes).unwrap().id, 7);
/// ```
pub trait Persist: Sized {
    /// Appends the message's bytes to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// The message `encode` wrote as `bytes`.
    ///
    /// # Errors
    ///
    /// Any reason the bytes are not a message; recovery stops with
    /// [`DurableError::Decode`] naming the record.
    fn decode(bytes: &[u8]) -> Result<Self, Box<dyn Error + Send + Sync>>;
}

impl Persist for Vec<u8> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }

    fn decode(bytes: &[u8]) -> Result<Self, Box<dyn Error + Send + Sync>> {
        Ok(bytes.to_vec())
    }
}

impl Persist for Box<[u8]> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }

    fn decode(bytes: &[u8]) -> Result<Self, Box<dyn Error + Send + Sync>> {
        Ok(bytes.into())
    }
}

impl Persist for u64 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }

    fn decode(bytes: &[u8]) -> Result<Self, Box<dyn Error + Send + Sync>> {
        Ok(u64::from_le_bytes(bytes.try_into()?))
    }
}

impl Persist for String {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }

    fn decode(bytes: &[u8]) -> Result<Self, Box<dyn Error + Send + Sync>> {
        Ok(std::str::from_utf8(bytes)?.to_owned())
    }
}

/// Why a durable queue could not be opened.
///
/// # Examples
///
/// ```
/// use mqsync::delivery::{DeliveryQueue, DurableError};
/// use mqsync::journal::{Journal, JournalOptions};
///
/// let dir = tempfile::tempdir().unwrap();
/// let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
/// journal.append(b"not a queue record").unwrap();
/// let err = DeliveryQueue::<String>::builder().open_durable(journal).unwrap_err();
/// assert!(matches!(err, DurableError::Record { position: 0, .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DurableError {
    /// A setting of the builder was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The journal could not be read or written.
    #[error("the delivery queue's journal failed")]
    Journal(
        #[from]
        #[source]
        JournalError,
    ),
    /// A record is not one a delivery queue writes (another program's journal, or a newer
    /// format).
    #[error("journal record {position} is not a delivery-queue record: {reason}")]
    Record {
        /// The record's position.
        position: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A message's bytes were refused by [`Persist::decode`].
    #[error("message {id} (journal record {position}) cannot be decoded")]
    Decode {
        /// The message's id in the journal.
        id: u64,
        /// The position of its record.
        position: u64,
        /// What `decode` said.
        #[source]
        source: Box<dyn Error + Send + Sync>,
    },
}

const PUBLISH: u8 = 1;
const REQUEUE: u8 = 2;
const SETTLE: u8 = 3;
/// PUBLISH: tag, id, priority, deliveries, deadline (ms since the epoch, 0 = none), due (same).
const PUBLISH_HEADER: usize = 1 + 8 + 1 + 4 + 8 + 8;
/// REQUEUE: tag, id, deliveries, due.
const REQUEUE_LEN: usize = 1 + 8 + 4 + 8;
/// Consecutive ids counted together for retention.
const BUCKET: u64 = 1024;

/// A point in time as milliseconds since the Unix epoch (0 for none), and back: `Instant`s do
/// not survive the process.
fn to_wall(at: Option<Instant>) -> u64 {
    let Some(at) = at else { return 0 };
    let now = Instant::now();
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let wall = match at.checked_duration_since(now) {
        Some(ahead) => wall.saturating_add(ahead),
        None => wall.saturating_sub(now.duration_since(at)),
    };
    // Never 0 (that means none), never past u64.
    u64::try_from(wall.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn from_wall(ms: u64) -> Option<Instant> {
    if ms == 0 {
        return None;
    }
    let now = Instant::now();
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let at = Duration::from_millis(ms);
    match at.checked_sub(wall) {
        // Ahead. A time too far to represent never comes, as a publish's TTL too long to add
        // to the current time.
        Some(ahead) => now.checked_add(ahead),
        // Passed while the process was down: due (or expired) now.
        None => Some(now),
    }
}

fn publish_record(
    out: &mut Vec<u8>,
    id: u64,
    priority: u8,
    deliveries: u32,
    deadline: u64,
    due: u64,
    payload: impl FnOnce(&mut Vec<u8>),
) {
    // The header in one copy (a push per field costs a capacity check each).
    let mut header = [0u8; PUBLISH_HEADER];
    header[0] = PUBLISH;
    header[1..9].copy_from_slice(&id.to_le_bytes());
    header[9] = priority;
    header[10..14].copy_from_slice(&deliveries.to_le_bytes());
    header[14..22].copy_from_slice(&deadline.to_le_bytes());
    header[22..30].copy_from_slice(&due.to_le_bytes());
    out.extend_from_slice(&header);
    payload(out);
}

/// SETTLE: tag, count (u32), ids.
fn settle_record(out: &mut Vec<u8>, ids: &[u64]) {
    debug_assert!(u32::try_from(ids.len()).is_ok());
    out.reserve(5 + 8 * ids.len());
    out.push(SETTLE);
    // Lossless: the caller's chunks fit the record limit (a u32 of bytes, 8 per id).
    out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    for id in ids {
        out.extend_from_slice(&id.to_le_bytes());
    }
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// The settlement counts behind retention (see the protocol above).
struct Retention {
    /// The bucket number (id / BUCKET) of `buckets[0]`: every bucket below it is done.
    base: u64,
    /// Buckets `base..base + len`, not done; a bucket past the end has no settlement and no
    /// bound yet.
    buckets: VecDeque<Bucket>,
    /// Ids settled (or never published: a failed publish, an id settled before a restart) in
    /// total since id 0.
    settled: u64,
    /// The last cut handed to `remove_before`.
    cut: u64,
}

#[derive(Clone, Copy)]
struct Bucket {
    /// Its ids settled so far; `BUCKET` when done.
    settled: u64,
    /// A position at or below the PUBLISH of every id from the bucket's first on;
    /// `u64::MAX` until stored.
    bound: u64,
}

impl Bucket {
    const EMPTY: Bucket = Bucket {
        settled: 0,
        bound: u64::MAX,
    };
}

impl Retention {
    /// The bucket `number`, made if needed; `None` if it is done.
    fn bucket(&mut self, number: u64) -> Option<&mut Bucket> {
        let index = usize::try_from(number.checked_sub(self.base)?).ok()?;
        if index >= self.buckets.len() {
            self.buckets.resize(index + 1, Bucket::EMPTY);
        }
        debug_assert!(index < self.buckets.len());
        Some(&mut self.buckets[index])
    }

    /// Stores the bound of bucket `number` ([1]).
    fn bound(&mut self, number: u64, bound: u64) {
        if let Some(bucket) = self.bucket(number) {
            bucket.bound = bucket.bound.min(bound);
        }
    }

    /// Counts id `id` settled; drops the buckets that are done from the front.
    fn settle(&mut self, id: u64) {
        self.settled += 1;
        if let Some(bucket) = self.bucket(id / BUCKET) {
            bucket.settled += 1;
        }
        while self.buckets.front().is_some_and(|b| b.settled >= BUCKET) {
            self.buckets.pop_front();
            self.base += 1;
        }
    }

    /// The bound of the first bucket not done ([3]), if stored.
    fn first_bound(&self) -> Option<u64> {
        self.buckets
            .front()
            .map(|b| b.bound)
            .filter(|&b| b != u64::MAX)
    }
}

/// The journal side of a durable queue; `Shared` holds one when the queue is durable.
pub(super) struct Durable<T> {
    journal: Journal,
    encode: fn(&T, &mut Vec<u8>),
    /// The id the next publish takes. Relaxed increments: ids need only be unique.
    next_id: AtomicU64,
    retention: Mutex<Retention>,
    /// The first failure to write (the journal refuses every append after one).
    failure: Mutex<Option<String>>,
}

/// Why a publish could not be written.
pub(super) enum WriteError {
    /// The message is larger than the journal's record limit; nothing changed.
    TooLarge,
    /// The journal failed (and refuses every write from now on).
    Failed,
}

impl<T> Durable<T> {
    fn lock_retention(&self) -> MutexGuard<'_, Retention> {
        self.retention
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn fail(&self, error: &JournalError) {
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        if failure.is_none() {
            *failure = Some(error.to_string());
        }
    }

    /// The first write failure, if any.
    pub(super) fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Writes the PUBLISH of a new message; returns its id. A failed write counts the id as
    /// settled (for retention).
    pub(super) fn publish(
        &self,
        message: &T,
        priority: u8,
        expires_at: Option<Instant>,
    ) -> Result<u64, WriteError> {
        // [1]: the active segment's base before the id.
        let bound = self.journal.active_base();
        // Relaxed: ids need only be unique; the bound's argument ([2]) needs no more.
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if id % BUCKET == 0 {
            self.lock_retention().bound(id / BUCKET, bound);
        }
        let deadline = to_wall(expires_at);
        let written = self.journal.append_with(|out| {
            publish_record(out, id, priority, 0, deadline, 0, |out| {
                (self.encode)(message, out)
            })
        });
        match written {
            Ok(_) => Ok(id),
            Err(error) => {
                self.forget(&[id]);
                Err(match error {
                    JournalError::RecordTooLarge { .. } => WriteError::TooLarge,
                    error => {
                        self.fail(&error);
                        WriteError::Failed
                    }
                })
            }
        }
    }

    /// Writes that `ids` left the queue (acknowledged, dead-lettered or refused), then lets
    /// retention delete the segments no live message needs. A failed write is recorded (see
    /// [`failure`](Self::failure)); the messages are settled in memory all the same.
    pub(super) fn settle(&self, ids: &[u64]) {
        if ids.is_empty() {
            return;
        }
        // As few records as the journal's record limit allows (one, unless it is tiny).
        let limit = self.journal.options().max_record() as usize;
        let per_record = (limit.saturating_sub(5) / 8).max(1);
        if ids.len() <= per_record {
            // One record, framed in place: no allocation.
            let result = self.journal.append_with(|out| settle_record(out, ids));
            if let Err(error) = result {
                self.fail(&error);
            }
            self.forget(ids);
            return;
        }
        let records = ids.chunks(per_record).map(|chunk| {
            let mut record = Vec::with_capacity(5 + 8 * chunk.len());
            settle_record(&mut record, chunk);
            record
        });
        let result = self.journal.append_batch(records);
        if let Err(error) = result {
            self.fail(&error);
        }
        self.forget(ids);
    }

    /// Counts `ids` settled and deletes the segments below the new cut.
    fn forget(&self, ids: &[u64]) {
        let cut = {
            let mut retention = self.lock_retention();
            for &id in ids {
                retention.settle(id);
            }
            // [4]: the active base first, then the ids taken.
            let active = self.journal.active_base();
            if retention.cut >= active {
                // [5]: every segment below the active one is already gone.
                return;
            }
            // Relaxed: the argument of [4] needs only the happens-before chain through the
            // journal's lock and `active_base`'s Acquire load, and coherence on this counter.
            let taken = self.next_id.load(Ordering::Relaxed);
            let cut = if retention.settled == taken {
                active
            } else {
                match retention.first_bound() {
                    Some(bound) => bound,
                    None => return,
                }
            };
            if cut <= retention.cut {
                return;
            }
            retention.cut = cut;
            cut
        };
        if let Err(error) = self.journal.remove_before(cut) {
            // Deleting is housekeeping: a failure costs disk space, not messages.
            self.fail(&error);
        }
    }

    /// Writes that a delivery was returned with `deliveries` so far, due again at `due`.
    pub(super) fn requeue(&self, id: u64, deliveries: u32, due: Option<Instant>) {
        let mut record = [0u8; REQUEUE_LEN];
        record[0] = REQUEUE;
        record[1..9].copy_from_slice(&id.to_le_bytes());
        record[9..13].copy_from_slice(&deliveries.to_le_bytes());
        record[13..21].copy_from_slice(&to_wall(due).to_le_bytes());
        if let Err(error) = self.journal.append(&record) {
            self.fail(&error);
        }
    }
}

impl<T> fmt::Debug for Durable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Durable")
            .field("journal", &self.journal.dir())
            .field("failure", &self.failure())
            .finish()
    }
}

/// A message brought back from the journal.
pub(super) struct Recovered<T> {
    pub(super) envelope: Envelope<T>,
    /// When a delayed redelivery is due again, if it was delayed at the crash.
    pub(super) due: Option<Instant>,
}

/// One live message while the log is replayed.
struct Live {
    position: u64,
    priority: u8,
    deliveries: u32,
    deadline: u64,
    due: u64,
    payload: Vec<u8>,
}

/// Replays `journal` and returns the journal side of the queue and its live messages in
/// publish order. Rewrites the live messages to the end of the log and deletes the rest when
/// the log holds mostly settled records.
pub(super) fn recover<T: Persist>(
    journal: Journal,
    priorities: u8,
) -> Result<(Durable<T>, Vec<Recovered<T>>), DurableError> {
    let first = journal.first();
    let end = journal.end();
    let mut live: BTreeMap<u64, Live> = BTreeMap::new();
    let mut next_id = 0u64;
    for record in journal.reader(first)? {
        let record = record?;
        let (position, data) = (record.position, record.data);
        let bad = |reason| DurableError::Record { position, reason };
        match data.first() {
            Some(&PUBLISH) if data.len() >= PUBLISH_HEADER => {
                let id = u64_at(&data, 1);
                next_id = next_id.max(id + 1);
                let entry = Live {
                    position,
                    priority: data[9],
                    deliveries: u32_at(&data, 10),
                    deadline: u64_at(&data, 14),
                    due: u64_at(&data, 22),
                    payload: data[PUBLISH_HEADER..].to_vec(),
                };
                live.insert(id, entry);
            }
            Some(&REQUEUE) if data.len() == REQUEUE_LEN => {
                if let Some(entry) = live.get_mut(&u64_at(&data, 1)) {
                    entry.deliveries = u32_at(&data, 9);
                    entry.due = u64_at(&data, 13);
                }
            }
            Some(&SETTLE) if data.len() >= 5 => {
                let count = u32_at(&data, 1) as usize;
                if data.len() != 5 + 8 * count {
                    return Err(bad("a settle record's length does not match its count"));
                }
                for i in 0..count {
                    live.remove(&u64_at(&data, 5 + 8 * i));
                }
            }
            Some(&(PUBLISH | REQUEUE | SETTLE)) => return Err(bad("the record is too short")),
            Some(_) => return Err(bad("unknown record type")),
            None => return Err(bad("the record is empty")),
        }
    }

    // Garbage dominates: copy the live messages to the end, sync them, delete the rest.
    let total = end - first;
    if total > 2 * live.len() as u64 + BUCKET {
        let copies_start = journal.end();
        let copies = live.iter().map(|(&id, entry)| {
            let mut record = Vec::with_capacity(PUBLISH_HEADER + entry.payload.len());
            publish_record(
                &mut record,
                id,
                entry.priority,
                entry.deliveries,
                entry.deadline,
                entry.due,
                |out| out.extend_from_slice(&entry.payload),
            );
            record
        });
        let range = journal.append_batch(copies)?;
        // The originals may go only once the copies are on the disk, whatever the policy.
        journal.sync()?;
        for (entry, position) in live.values_mut().zip(range) {
            entry.position = position;
        }
        journal.remove_before(copies_start)?;
    }

    let retention = recovered_retention(&live, next_id, journal.end());
    let mut recovered = Vec::with_capacity(live.len());
    for (id, entry) in live {
        let message = T::decode(&entry.payload).map_err(|source| DurableError::Decode {
            id,
            position: entry.position,
            source,
        })?;
        recovered.push(Recovered {
            envelope: Envelope {
                message,
                // A queue reopened with fewer levels puts the top ones in its top level.
                priority: entry.priority.min(priorities - 1),
                deliveries: entry.deliveries,
                expires_at: from_wall(entry.deadline),
                id,
            },
            due: from_wall(entry.due),
        });
    }
    let durable = Durable {
        journal,
        encode: <T as Persist>::encode,
        next_id: AtomicU64::new(next_id),
        retention: Mutex::new(retention),
        failure: Mutex::new(None),
    };
    Ok((durable, recovered))
}

/// The retention counts of a reopened queue: its live messages, the next id, the journal's end.
fn recovered_retention(live: &BTreeMap<u64, Live>, next_id: u64, end: u64) -> Retention {
    let base = live.keys().next().copied().unwrap_or(next_id) / BUCKET;
    let last = next_id / BUCKET;
    // Lossless: one bucket per 1,024 ids below `next_id`, or one.
    let len = (last - base + 1) as usize;
    let mut buckets = vec![
        Bucket {
            settled: BUCKET,
            bound: u64::MAX,
        };
        len
    ];
    // The last bucket's ids from `next_id` on are not taken yet: only those below are settled.
    buckets[len - 1].settled = next_id % BUCKET;
    for (&id, entry) in live {
        // Lossless: at most `len - 1`.
        let bucket = &mut buckets[(id / BUCKET - base) as usize];
        bucket.settled -= 1;
        bucket.bound = bucket.bound.min(entry.position);
    }
    // Every bound covers the later buckets too, and the ids still to come (at or above `end`).
    let mut low = end;
    for bucket in buckets.iter_mut().rev() {
        low = low.min(bucket.bound);
        bucket.bound = low;
    }
    Retention {
        base,
        buckets: buckets.into(),
        settled: next_id - live.len() as u64,
        cut: 0,
    }
}

#[cfg(all(test, not(mqsync_loom)))]
mod tests {
    use super::{from_wall, recovered_retention, to_wall, Live, BUCKET};
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    fn live(position: u64) -> Live {
        Live {
            position,
            priority: 0,
            deliveries: 0,
            deadline: 0,
            due: 0,
            payload: Vec::new(),
        }
    }

    #[test]
    fn recovered_buckets_count_the_settled_ids_and_bound_every_later_publish() {
        // Ids 3, 1500 and 2050 live; 1500's PUBLISH before 3's (ids are taken before the
        // journal's lock); the next id is 2100 and the journal ends at 100.
        let map: BTreeMap<u64, Live> = [(3, live(10)), (1500, live(5)), (2050, live(40))].into();
        let mut r = recovered_retention(&map, 2100, 100);
        assert_eq!((r.base, r.buckets.len(), r.settled), (0, 3, 2097));
        let counts: Vec<(u64, u64)> = r.buckets.iter().map(|b| (b.settled, b.bound)).collect();
        assert_eq!(
            counts,
            [(BUCKET - 1, 5), (BUCKET - 1, 5), (2100 % BUCKET - 1, 40)]
        );
        // Settling 3 finishes bucket 0; the cut stays at 1500's PUBLISH.
        r.settle(3);
        assert_eq!((r.base, r.first_bound()), (1, Some(5)));
        r.settle(1500);
        assert_eq!((r.base, r.first_bound()), (2, Some(40)));
        // The ids to come in bucket 2 and the last live one.
        for id in 2100..2 * BUCKET + BUCKET {
            if id == 3 * BUCKET - 1 {
                // The starter of bucket 3 stores its bound before the last of bucket 2 settles.
                r.bound(3, 120);
            }
            r.settle(id);
        }
        assert_eq!((r.base, r.first_bound()), (2, Some(40)), "2050 is live");
        r.settle(2050);
        assert_eq!((r.base, r.first_bound()), (3, Some(120)));
        assert_eq!(r.settled, 3 * BUCKET);
    }

    #[test]
    fn an_empty_journal_starts_with_one_open_bucket() {
        let mut r = recovered_retention(&BTreeMap::new(), 0, 0);
        assert_eq!((r.base, r.buckets.len(), r.settled), (0, 1, 0));
        assert_eq!(r.first_bound(), Some(0));
        // A settlement in a later bucket, before its starter stored a bound: it waits.
        for id in 0..BUCKET {
            r.settle(id);
        }
        r.settle(BUCKET + 5);
        assert_eq!((r.base, r.first_bound()), (1, None));
        r.bound(1, 77);
        assert_eq!(r.first_bound(), Some(77));
        // A bound for a bucket already done is ignored.
        r.bound(0, 1);
        assert_eq!(r.first_bound(), Some(77));
    }

    #[test]
    fn wall_clock_round_trip_keeps_the_remaining_time() {
        assert_eq!(to_wall(None), 0);
        assert_eq!(from_wall(0), None);
        let at = Instant::now() + Duration::from_secs(60);
        let back = from_wall(to_wall(Some(at))).unwrap();
        let diff = if back > at { back - at } else { at - back };
        assert!(diff < Duration::from_millis(50), "{diff:?}");
        // A deadline in the past comes back as due now.
        let past = Instant::now() - Duration::from_secs(5);
        assert!(from_wall(to_wall(Some(past))).unwrap() <= Instant::now());
    }
}
