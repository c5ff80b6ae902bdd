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
// updates, SETTLE removes. `next_id` resumes above the largest id of a retained PUBLISH, so ids
// are unique among retained PUBLISH records, not for the life of the log: once retention has
// deleted the segment with the largest PUBLISH and nothing is live, a restart can give again an
// id that a retained SETTLE or REQUEUE names. That is harmless, because replay is sequential:
// those old records come before the new PUBLISH and act on the old message (or on nothing), so
// a SETTLE never removes a later message. The survivors go back into their lanes in id
// (publish) order, ahead of anything published after the restart.
//
// Retention (which segments no live message needs) is counted in `retention.rs`, which has
// its own protocol essay: a publish reads the journal's active segment base before it takes
// its id, the settlements count, and the cut never passes a live PUBLISH.
//
// The costs per message (mapped journal, `Interval`): the PUBLISH and the SETTLE are framed in
// the journal's per-thread buffer (`Journal::append_with`, no allocation) and copied into the
// mapping under one short hold of the journal's lock each; the retention lock is taken by the
// settlement only (and by one publish in `BUCKET`), and never around the journal's lock.

use super::lane::Envelope;
use super::retention::{Retention, BUCKET};
use crate::journal::{Journal, JournalError};
use crate::primitive::sync::atomic::{AtomicU64, Ordering};
use crate::primitive::sync::{Mutex, MutexGuard, PoisonError};
use crate::ConfigError;
use std::collections::BTreeMap;
use std::error::Error;
use std::fmt;
use std::mem;
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
        // A panic from here to `append_with`'s return (the message's `encode` runs inside it)
        // appends nothing: `append_with` runs the writer before it takes the journal's lock.
        // The id must still count as settled, or retention's `settled == taken` never holds
        // again and its bucket is never done: no segment from its bound on would ever go.
        let unsettled = ForgetOnUnwind { durable: self, id };
        if id % BUCKET == 0 {
            self.lock_retention().bound(id / BUCKET, bound);
        }
        let deadline = to_wall(expires_at);
        let written = self.journal.append_with(|out| {
            publish_record(out, id, priority, 0, deadline, 0, |out| {
                (self.encode)(message, out)
            })
        });
        // Returned: the id is settled below on an error, or lives on in the queue.
        mem::forget(unsettled);
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
        let (cut, previous) = {
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
            let previous = retention.cut;
            retention.cut = cut;
            (cut, previous)
        };
        if let Err(error) = self.journal.remove_before(cut) {
            // Deleting is housekeeping: a failure costs disk space, not messages. The cut goes
            // back down so that a later settlement tries again (`min`: a racing call may have
            // recorded a higher cut meanwhile, or lowered it after its own failure; a lower
            // recorded cut only costs a `remove_before` that finds less to do).
            let mut retention = self.lock_retention();
            retention.cut = retention.cut.min(previous);
            drop(retention);
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

/// Counts an id settled when a publish unwinds before its PUBLISH was appended (see
/// `Durable::publish`); `mem::forget` disarms it once the append has returned.
struct ForgetOnUnwind<'a, T> {
    durable: &'a Durable<T>,
    id: u64,
}

impl<T> Drop for ForgetOnUnwind<'_, T> {
    fn drop(&mut self) {
        self.durable.forget(&[self.id]);
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

    let positions: Vec<(u64, u64)> = live.iter().map(|(&id, e)| (id, e.position)).collect();
    let retention = Retention::recovered(&positions, next_id, journal.end());
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
#[cfg(all(test, not(mqsync_loom)))]
mod tests {
    use super::{from_wall, to_wall};
    use std::time::{Duration, Instant};

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
