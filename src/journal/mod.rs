//! [`Journal`]: a crash-safe, append-only, segmented log of byte records on disk.
//!
//! A journal is a directory of segment files. Each record gets a position (0, 1, 2, ... without
//! gaps) and a CRC-32; appends from many threads are grouped into one `write` (and one `fsync`
//! where the [`FlushPolicy`] asks) by a leader among the waiting appenders — group commit, as
//! database logs do. Opening a journal repairs a torn tail (a record cut short by a crash) and
//! reports damage anywhere else as [`JournalError::Corrupt`], naming the segment and the byte
//! offset; it never skips a record silently. A [`JournalReader`] reads from any position with
//! bounded memory, following appends as they happen; [`Journal::remove_before`] deletes whole
//! segments below a position the application no longer needs.
//!
//! The storage layer of mqsync: it uses nothing else of the crate, and the durable parts of
//! the layers above build on it. docs/durability.md has the on-disk format, the flush
//! policies, and exactly what each survives (a process crash, a power loss).
//!
//! # Examples
//!
//! ```
//! use mqsync::journal::{FlushPolicy, Journal, JournalOptions};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let options = JournalOptions::default().flush(FlushPolicy::EveryBatch);
//! {
//!     let journal = Journal::open(dir.path(), options.clone()).unwrap();
//!     assert_eq!(journal.append(b"first").unwrap(), 0);
//!     assert_eq!(journal.append_batch([&b"second"[..], b"third"]).unwrap(), 1..3);
//! } // dropped, or the process killed: the records are on disk either way
//!
//! let journal = Journal::open(dir.path(), options).unwrap();
//! let records: Vec<_> = journal.reader(1).unwrap().map(|r| r.unwrap()).collect();
//! assert_eq!(records[0].position, 1);
//! assert_eq!(records[1].data, b"third");
//! assert_eq!(journal.end(), 3);
//! ```

mod error;
mod format;
mod frames;
mod mapped;
mod open;
mod reader;

pub use error::JournalError;
pub use reader::{JournalReader, Record};

use crate::primitive::sync::atomic::{AtomicU64, Ordering};
use crate::primitive::thread::yield_now;
use crossbeam_utils::CachePadded;
use format::{segment_path, HEADER_LEN};
use mapped::Mapping;
use std::fs::File;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The shortest `Interval` the syncer thread waits (a shorter one, zero included, is this).
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// How many times an appender checks whether its batch is written before it sleeps: half
/// spins, half `yield_now`s (see `Shared::wait_durable`).
const SPIN_ROUNDS: u32 = 64;

/// When appended records are forced to the disk with `fsync` (`fdatasync` on Linux).
///
/// Every policy hands each append to the operating system (`write`) before the append returns,
/// so a record whose append returned survives the *process* crashing or being killed. They
/// differ in what survives a *power loss or kernel crash*:
///
/// | policy | an append returns after | a power loss may lose |
/// |---|---|---|
/// | `Never` | `write` | whatever the OS had not written back (Redis's `appendfsync no`) |
/// | `Interval(d)` | `write`; a background thread syncs `d` after the last sync | the appends of the last `d` or so (Redis's `everysec`, Kafka's `flush.ms`) |
/// | `EveryBatch` | `write` and `fsync` of its batch | nothing that returned (Redis's `always`, Kafka's `flush.messages=1`) |
///
/// With `EveryBatch`, appends that arrive while a sync is under way share the next one (group
/// commit), so throughput grows with the number of appending threads. Under every policy a new
/// segment starts only after the previous one is synced (one sync per segment), and opening a
/// journal syncs its last segment. Under `Interval`, an appender that leads a write when the
/// interval has passed also does the sync; an interval under 1 ms is 1 ms.
///
/// # Examples
///
/// ```
/// use mqsync::journal::{FlushPolicy, JournalOptions};
/// use std::time::Duration;
///
/// let options = JournalOptions::default().flush(FlushPolicy::Interval(Duration::from_millis(100)));
/// assert_eq!(options.flush_policy(), FlushPolicy::Interval(Duration::from_millis(100)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlushPolicy {
    /// Never sync; the operating system writes back when it chooses.
    Never,
    /// Sync this long after the last sync, from a background thread (or inline, by an appender
    /// that writes when the interval has passed).
    Interval(Duration),
    /// Sync every batch before its appends return.
    EveryBatch,
}

/// What opening a journal does with damage in its last segment that is not a torn tail.
///
/// # Examples
///
/// ```
/// use mqsync::journal::{JournalOptions, Recovery};
///
/// let options = JournalOptions::default().recovery(Recovery::QuarantineDamagedTail);
/// assert_eq!(options.recovery_mode(), Recovery::QuarantineDamagedTail);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Recovery {
    /// Refuse to open with [`JournalError::Corrupt`] (the default): the operator decides.
    #[default]
    Strict,
    /// Cut the last segment at its first damaged record, moving the bytes from there to a file
    /// beside it named `<segment>.seg.damaged-<offset>`, and open. For a log on a disk that may
    /// lose power under `Never` or `Interval`, where a batch can reach the disk with a page
    /// missing in its middle. Records before the damage are kept; the records in the moved
    /// bytes are lost to the journal (still on disk for inspection).
    QuarantineDamagedTail,
}

/// How a [`Journal`] is opened: flush policy, segment size, record limit, recovery.
///
/// # Examples
///
/// ```
/// use mqsync::journal::{FlushPolicy, JournalOptions};
///
/// let options = JournalOptions::default()
///     .flush(FlushPolicy::EveryBatch)
///     .segment_bytes(8 << 20)
///     .max_record_bytes(1 << 20);
/// assert_eq!(options.max_record(), 1 << 20);
/// ```
#[derive(Clone, Debug)]
pub struct JournalOptions {
    flush: FlushPolicy,
    segment_bytes: u64,
    max_record_bytes: u32,
    recovery: Recovery,
    memory_mapped: bool,
}

impl Default for JournalOptions {
    /// `Interval(1 s)`, 64 MiB segments, records up to 16 MiB, [`Recovery::Strict`].
    fn default() -> Self {
        JournalOptions {
            flush: FlushPolicy::Interval(Duration::from_secs(1)),
            segment_bytes: 64 << 20,
            max_record_bytes: 16 << 20,
            recovery: Recovery::Strict,
            memory_mapped: false,
        }
    }
}

impl JournalOptions {
    /// Sets the flush policy (default `Interval(1 s)`).
    pub fn flush(mut self, policy: FlushPolicy) -> Self {
        self.flush = policy;
        self
    }

    /// Starts a new segment once the current one holds at least this many bytes (default
    /// 64 MiB; at least 4 KiB). A segment ends at a batch boundary, so it may pass the size by
    /// one batch. Retention deletes whole segments.
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes.max(4096);
        self
    }

    /// The longest record accepted (default 16 MiB). Opening also treats a frame that claims
    /// more as damage, so keep the limit when reopening a journal.
    pub fn max_record_bytes(mut self, bytes: u32) -> Self {
        self.max_record_bytes = bytes;
        self
    }

    /// What opening does with damage in the last segment (default [`Recovery::Strict`]).
    pub fn recovery(mut self, recovery: Recovery) -> Self {
        self.recovery = recovery;
        self
    }

    /// Appends by copying into a memory mapping of the active segment instead of calling
    /// `write` (default off; Linux only, elsewhere it falls back to `write`). An append then
    /// makes no system call under `Never` and `Interval`, and survives a process crash as a
    /// written one does: the mapping is the file's page cache, which the kernel writes back
    /// whether or not the process lives. Power loss: the same as in write mode, per the flush
    /// policy. The segment is preallocated (`fallocate`), so a full disk fails the roll that
    /// allocates it with an error; nothing else may truncate the files while the journal is
    /// open (as for any mapped database). docs/durability.md has the details.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::journal::{Journal, JournalOptions};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let journal = Journal::open(dir.path(), JournalOptions::default().memory_mapped(true)).unwrap();
    /// assert_eq!(journal.append(b"copied, not written").unwrap(), 0);
    /// assert_eq!(journal.reader(0).unwrap().next().unwrap().unwrap().data, b"copied, not written");
    /// ```
    pub fn memory_mapped(mut self, on: bool) -> Self {
        self.memory_mapped = on;
        self
    }

    /// True if appends go through a memory mapping (see
    /// [`memory_mapped`](Self::memory_mapped)): asked for, and on Linux.
    pub fn is_memory_mapped(&self) -> bool {
        self.memory_mapped && cfg!(target_os = "linux")
    }

    /// The flush policy.
    pub fn flush_policy(&self) -> FlushPolicy {
        self.flush
    }

    /// The record limit in bytes.
    pub fn max_record(&self) -> u32 {
        self.max_record_bytes
    }

    /// The recovery mode.
    pub fn recovery_mode(&self) -> Recovery {
        self.recovery
    }
}

/// An append-only log of byte records on disk; see the [module docs](self).
///
/// `Journal` is `Send + Sync`: share it in an `Arc` and append from any number of threads.
/// Appends are linearizable: positions are given in the order records enter the log, and a
/// record's position is final when its append returns.
///
/// Progress: blocking. An append waits for the write (and sync) of its batch; one appender at a
/// time does the file I/O for everyone waiting.
pub struct Journal {
    shared: Arc<Shared>,
    /// The `Interval` policy's background syncer.
    syncer: Option<JoinHandle<()>>,
}

/// What the journal, its readers and its syncer share.
struct Shared {
    dir: PathBuf,
    options: JournalOptions,
    state: Mutex<State>,
    /// Signalled when `written`/`synced` advance, the leader steps down, or the journal stops.
    progress: Condvar,
    /// Signalled when the journal is dropped: wakes the `Interval` syncer to end.
    closing: Condvar,
    /// Copies of `State::written` and `State::synced`, stored by the leader after it updates
    /// them, so that an appender can watch its batch finish without the lock (see
    /// `wait_durable`). Never ahead of the state.
    written_hint: AtomicU64,
    synced_hint: AtomicU64,
    /// A copy of `State::next`, stored under the lock each time it grows, so that
    /// [`Journal::end`] reads it without the lock. Never ahead of the state.
    end_hint: AtomicU64,
    /// Copies of the segment list read without the lock, on a cache line of their own: they
    /// change once a segment, while `end_hint` and `written_hint` are stored on every append.
    segment_hints: CachePadded<SegmentHints>,
    /// Held for the journal's life: the advisory lock on the directory (see `open.rs`).
    _lock: File,
}

/// The copies of the segment list that [`Journal::remove_before`] and
/// [`Journal::active_base`] read without the lock; stored together by
/// `Shared::store_segments`, under the lock, `removable_below` first.
struct SegmentHints {
    /// A copy of `State::segments[1]` (`u64::MAX` while there is one segment), stored under the
    /// lock when the segments change, so that a [`Journal::remove_before`] that has nothing to
    /// delete returns without the lock. A stale copy is lower (a `remove_before` then takes
    /// the lock and finds out) or `u64::MAX` (a roll not seen yet: the call deletes nothing,
    /// as it would have a moment earlier). Stored before `active_base`, which retention's
    /// fast path depends on (see `Shared::store_segments`).
    removable_below: AtomicU64,
    /// A copy of the active segment's base (`State::segments`' last), stored under the lock
    /// when a roll adds a segment: every record appended after the store is at or above it.
    active_base: AtomicU64,
}

/// The mutable part, under `Shared::state`.
struct State {
    /// The active segment, or `None` while the leader writes to it.
    file: Option<File>,
    /// Base positions of every segment, ascending; the last is the active one.
    segments: Vec<u64>,
    /// Bytes in the active segment, header included (as far as written).
    active_len: u64,
    /// The position the next record gets.
    next: u64,
    /// Records below this position are written to the OS; readers may read them.
    written: u64,
    /// Records below this position are synced to the disk.
    synced: u64,
    /// Frames of records `written..next`, waiting for the leader.
    pending: Vec<u8>,
    /// A cleared buffer to swap in for `pending` (keeps its capacity).
    spare: Vec<u8>,
    /// An appender is doing the file I/O.
    leader: bool,
    /// When the last sync ended.
    last_sync: Instant,
    /// Set when a write or sync failed: no more appends.
    stopped: Option<String>,
    /// The journal handle is being dropped (stops the syncer).
    closing: bool,
    /// Appenders blocked on `progress`: the leader signals only when there are some.
    sleepers: usize,
    /// Memory-mapped mode: the active segment's mapping (`None` in write mode, and until the
    /// first append when the segment opened full).
    map: Option<Mapping>,
}

impl std::fmt::Debug for Journal {
    /// The directory and the position range; no record contents.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.shared.dir)
            .field("first", &self.first())
            .field("end", &self.end())
            .field("flush", &self.shared.options.flush)
            .finish()
    }
}

impl Journal {
    /// Opens the journal in `dir`, creating the directory and an empty journal if needed.
    ///
    /// Checks every segment's header and reads the last segment through: a torn tail (a last
    /// record cut short, or never-written zero bytes at the end) is cut off and the file synced;
    /// other damage in it fails with [`JournalError::Corrupt`] unless
    /// [`Recovery::QuarantineDamagedTail`] is set. Earlier segments are checked record by record
    /// when read. Holds an advisory lock on the directory (Linux: `flock`) until it and every
    /// [`JournalReader`] made from it are dropped, so a second `Journal` on it fails with
    /// [`JournalError::Locked`] meanwhile (after waiting up to 200 ms for the lock: a child
    /// process being started by another thread holds a copy of it until it runs its program).
    ///
    /// # Errors
    ///
    /// [`JournalError::Io`] when the directory cannot be created, listed or written (a
    /// read-only directory gives this, naming the path), `Corrupt`, `Locked`.
    pub fn open(dir: impl AsRef<Path>, options: JournalOptions) -> Result<Self, JournalError> {
        let dir = dir.as_ref().to_path_buf();
        let opened = open::open(&dir, &options)?;
        let end = opened.end;
        let shared = Arc::new(Shared {
            dir,
            options,
            state: Mutex::new(State {
                file: Some(opened.file),
                segments: opened.segments,
                active_len: opened.active_len,
                next: end,
                written: end,
                synced: end,
                pending: Vec::new(),
                spare: Vec::new(),
                leader: false,
                last_sync: Instant::now(),
                stopped: None,
                closing: false,
                sleepers: 0,
                map: None,
            }),
            progress: Condvar::new(),
            closing: Condvar::new(),
            written_hint: AtomicU64::new(end),
            synced_hint: AtomicU64::new(end),
            end_hint: AtomicU64::new(end),
            segment_hints: CachePadded::new(SegmentHints {
                removable_below: AtomicU64::new(u64::MAX),
                active_base: AtomicU64::new(0),
            }),
            _lock: opened.lock,
        });
        shared.store_segments(&shared.lock());
        if shared.options.is_memory_mapped() {
            let mut state = shared.lock();
            if state.active_len < shared.options.segment_bytes {
                let base = *state.segments.last().expect("at least one segment");
                let file = state.file.as_ref().expect("no leader yet");
                let map = Mapping::new(
                    file,
                    shared.options.segment_bytes,
                    &segment_path(&shared.dir, base),
                )?;
                state.map = Some(map);
            }
        }
        let syncer = match shared.options.flush {
            FlushPolicy::Interval(every) => {
                let every = every.max(MIN_INTERVAL);
                let for_thread = Arc::clone(&shared);
                let handle = std::thread::Builder::new()
                    .name("mqsync-journal-sync".into())
                    .spawn(move || for_thread.sync_every(every))
                    .map_err(|e| JournalError::io("start the sync thread", &shared.dir, e))?;
                Some(handle)
            }
            FlushPolicy::Never | FlushPolicy::EveryBatch => None,
        };
        Ok(Journal { shared, syncer })
    }

    /// Appends one record; returns its position once it is as durable as the
    /// [`FlushPolicy`] promises.
    ///
    /// # Errors
    ///
    /// [`JournalError::RecordTooLarge`] (nothing appended), [`JournalError::Io`] when the write
    /// or sync of its batch failed (the record may or may not be in the log after a reopen; the
    /// journal stops), [`JournalError::Stopped`] after an earlier failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::journal::{Journal, JournalOptions};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    /// assert_eq!(journal.append(b"a").unwrap(), 0);
    /// assert_eq!(journal.append(b"b").unwrap(), 1);
    /// ```
    pub fn append(&self, record: &[u8]) -> Result<u64, JournalError> {
        self.append_batch(std::iter::once(record))
            .map(|range| range.start)
    }

    /// Appends `records` as one batch, in order, at consecutive positions; returns their range
    /// once they are as durable as the [`FlushPolicy`] promises. All or nothing on a limit
    /// error: if any record is too large, none is appended. An empty batch returns an empty
    /// range at the end of the log.
    ///
    /// # Errors
    ///
    /// As [`append`](Self::append).
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::journal::{Journal, JournalOptions};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    /// let range = journal.append_batch(["x", "y", "z"].iter().map(|s| s.as_bytes())).unwrap();
    /// assert_eq!(range, 0..3);
    /// ```
    pub fn append_batch<I>(&self, records: I) -> Result<Range<u64>, JournalError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let max = self.shared.options.max_record_bytes;
        // Framed here, before the lock: the caller's `as_ref` runs once per record and never
        // under the lock (a panic in it leaves the journal as it was), and so does the CRC.
        frames::with_frames(|frames| {
            let mut count = 0u64;
            for record in records {
                let record = record.as_ref();
                if record.len() > max as usize {
                    return Err(JournalError::RecordTooLarge {
                        len: record.len(),
                        max,
                    });
                }
                format::encode(record, frames);
                count += 1;
            }
            self.append_frames(frames, count)
        })
    }

    /// Appends one record that `write` appends to the vector it is given (which holds the
    /// record's frame before it: `write` must only append); returns its position once it is as
    /// durable as the [`FlushPolicy`] promises.
    ///
    /// The same record as [`append`](Self::append) of the same bytes, byte for byte on disk,
    /// without building it in a buffer of the caller's first: the record is framed in place in
    /// a buffer of the calling thread's that the journal keeps between appends, so that an
    /// append allocates nothing (after the thread's first of its size). `write` runs on the
    /// calling thread before the journal's lock is taken; if it panics, nothing is appended.
    ///
    /// # Errors
    ///
    /// As [`append`](Self::append); a record above the limit is refused after `write` ran.
    ///
    /// `write` must only append: it must not remove, overwrite or shift the bytes already in
    /// the buffer (the frame reserved for this record).
    ///
    /// # Panics
    ///
    /// If `write` removes bytes it did not append (the journal is not changed). A writer that
    /// overwrites or shifts bytes without shortening the buffer is not caught (the check sees
    /// only the length): whatever bytes follow the frame are appended as the record.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::journal::{Journal, JournalOptions};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    /// let id = 7u64;
    /// let position = journal
    ///     .append_with(|out| {
    ///         out.push(b'T');
    ///         out.extend_from_slice(&id.to_le_bytes());
    ///     })
    ///     .unwrap();
    /// assert_eq!(position, 0);
    /// let record = journal.reader(0).unwrap().next().unwrap().unwrap();
    /// assert_eq!(record.data, [b'T', 7, 0, 0, 0, 0, 0, 0, 0]);
    /// ```
    pub fn append_with(&self, write: impl FnOnce(&mut Vec<u8>)) -> Result<u64, JournalError> {
        let max = self.shared.options.max_record_bytes;
        frames::with_frames(|frames| {
            let len = format::encode_with(frames, write);
            if len > max as usize {
                return Err(JournalError::RecordTooLarge { len, max });
            }
            self.append_frames(frames, 1).map(|range| range.start)
        })
    }

    /// Appends `count` records framed in `frames`; returns their range when done.
    fn append_frames(&self, frames: &[u8], count: u64) -> Result<Range<u64>, JournalError> {
        let mut state = self.shared.lock();
        if let Some(reason) = &state.stopped {
            return Err(JournalError::Stopped {
                reason: reason.clone(),
            });
        }
        if self.shared.options.is_memory_mapped() {
            return self.shared.append_mapped(state, frames, count);
        }
        let start = state.next;
        state.pending.extend_from_slice(frames);
        state.next += count;
        let end = state.next;
        // Release: pairs with the Acquire load in `end`.
        self.shared.end_hint.store(end, Ordering::Release);
        self.shared.wait_durable(state, end)?;
        Ok(start..end)
    }

    /// Forces every record appended so far to the disk, whatever the policy.
    ///
    /// # Errors
    ///
    /// [`JournalError::Io`] if the sync fails (the journal stops), `Stopped`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::journal::{FlushPolicy, Journal, JournalOptions};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let journal = Journal::open(dir.path(), JournalOptions::default().flush(FlushPolicy::Never)).unwrap();
    /// journal.append(b"a").unwrap();
    /// journal.sync().unwrap(); // now it survives a power loss too
    /// ```
    pub fn sync(&self) -> Result<(), JournalError> {
        let state = self.shared.lock();
        let end = state.next;
        self.shared.sync_through(state, end)
    }

    /// A reader of the records from position `from` on, in order, following appends as they
    /// happen (it reads what was appended before each of its reads).
    ///
    /// # Errors
    ///
    /// [`JournalError::OutOfRange`] when `from` is below the first retained position or past
    /// [`end`](Self::end).
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::journal::{Journal, JournalOptions};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    /// let mut reader = journal.reader(0).unwrap();
    /// assert!(reader.next().is_none());
    /// journal.append(b"late").unwrap();
    /// assert_eq!(reader.next().unwrap().unwrap().data, b"late");
    /// ```
    pub fn reader(&self, from: u64) -> Result<JournalReader, JournalError> {
        JournalReader::new(Arc::clone(&self.shared), from)
    }

    /// The first position the journal holds (0 until [`remove_before`](Self::remove_before)
    /// deletes segments).
    pub fn first(&self) -> u64 {
        let state = self.shared.lock();
        state.segments[0]
    }

    /// The position the next append will get: one past the last record. Lock-free; under
    /// concurrent appends, the end at some moment during the call (an append that returned
    /// before the call is below it).
    pub fn end(&self) -> u64 {
        // Acquire: pairs with the Release stores where appends move `State::next`; only the
        // number matters, and the store that made it happens before any return of its append.
        self.shared.end_hint.load(Ordering::Acquire)
    }

    /// The first position of the active segment (the last, the one appends go to), read
    /// without the lock: at or below the position of every record appended after this call
    /// returns. As a bound for [`remove_before`](Self::remove_before), which never deletes the
    /// active segment, it deletes exactly what [`end`](Self::end) would; and it changes once a
    /// segment, so threads that read it often share it in their caches, where `end` changes
    /// with every append. The durable delivery queue's retention bounds use it
    /// (`src/delivery/retention.rs` has the argument; the load is Acquire and pairs with the
    /// Release store a roll makes under the lock).
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::journal::{Journal, JournalOptions};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let journal = Journal::open(dir.path(), JournalOptions::default().segment_bytes(4096)).unwrap();
    /// assert_eq!(journal.active_base(), 0);
    /// for _ in 0..100 {
    ///     journal.append(&[7; 100]).unwrap();
    /// }
    /// let base = journal.active_base();
    /// assert!(base > 0 && base < journal.end());
    /// journal.remove_before(base).unwrap();
    /// assert_eq!(journal.first(), base); // every segment but the active one is gone
    /// ```
    pub fn active_base(&self) -> u64 {
        // Acquire: pairs with the Release store in `Shared::store_segments`.
        self.shared
            .segment_hints
            .active_base
            .load(Ordering::Acquire)
    }

    /// The options the journal was opened with.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::journal::{FlushPolicy, Journal, JournalOptions};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let options = JournalOptions::default().flush(FlushPolicy::EveryBatch);
    /// let journal = Journal::open(dir.path(), options).unwrap();
    /// assert_eq!(journal.options().flush_policy(), FlushPolicy::EveryBatch);
    /// ```
    pub fn options(&self) -> &JournalOptions {
        &self.shared.options
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Deletes every segment all of whose records are below `position` (never the active
    /// segment); returns how many. The positions of the records kept do not change. Readers
    /// already past the deleted segments are not affected; one that reaches a deleted segment
    /// gets [`JournalError::OutOfRange`].
    ///
    /// # Errors
    ///
    /// [`JournalError::Io`] if a file cannot be deleted (the segments before it are gone, the
    /// rest kept).
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::journal::{Journal, JournalOptions};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let journal = Journal::open(dir.path(), JournalOptions::default().segment_bytes(4096)).unwrap();
    /// for _ in 0..100 {
    ///     journal.append(&[7; 100]).unwrap();
    /// }
    /// let removed = journal.remove_before(90).unwrap();
    /// assert!(removed >= 1);
    /// assert!(journal.first() > 0 && journal.first() <= 90);
    /// assert_eq!(journal.reader(90).unwrap().count(), 10);
    /// ```
    pub fn remove_before(&self, position: u64) -> Result<usize, JournalError> {
        // Acquire: pairs with the Release store in `store_segments`. Nothing to delete: done
        // without the lock (see `removable_below` on why a stale value is harmless; a caller
        // that read `active_base` first sees a value at least as new, by the store order
        // that `store_segments` keeps).
        if position
            < self
                .shared
                .segment_hints
                .removable_below
                .load(Ordering::Acquire)
        {
            return Ok(0);
        }
        let mut state = self.shared.lock();
        let mut removed = 0;
        // Segment i holds segments[i]..segments[i + 1]; it can go when segments[i + 1] ≤ position.
        while state.segments.len() > 1 && state.segments[1] <= position {
            let path = segment_path(&self.shared.dir, state.segments[0]);
            match std::fs::remove_file(&path) {
                // Already gone (removed by hand): as good as removed.
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(JournalError::io("remove", &path, e));
                }
                _ => {}
            }
            state.segments.remove(0);
            removed += 1;
            self.shared.store_segments(&state);
        }
        Ok(removed)
    }
}

impl Drop for Journal {
    /// Syncs what was appended (unless the policy is `Never`) and stops the syncer thread.
    /// Errors are ignored here: the appends that returned `Ok` were already as durable as
    /// their policy promised; call [`sync`](Journal::sync) first to see a final error.
    fn drop(&mut self) {
        if self.shared.options.flush != FlushPolicy::Never {
            let _ = self.sync();
        }
        self.shared.lock().closing = true;
        self.shared.closing.notify_all();
        // The syncer may be leading, with its `SyncPages` running on the mapping: it must end
        // before the map is taken below (`&mut self` rules out every other leader).
        if let Some(syncer) = self.syncer.take() {
            let _ = syncer.join();
        }
        // Mapped mode: cut the preallocated zeros (a reopen would, but a tidy file is smaller).
        let mut state = self.shared.lock();
        if let (Some(map), Some(file)) = (state.map.take(), state.file.as_ref()) {
            let base = *state.segments.last().expect("at least one segment");
            let _ = map.seal(
                file,
                state.active_len,
                &segment_path(&self.shared.dir, base),
            );
        }
    }
}

impl Shared {
    /// The end of what readers may read: records written, and under `EveryBatch` synced (an
    /// append there is done only when synced, and a reader must not see a record whose append
    /// may yet fail).
    fn readable(&self, state: &State) -> u64 {
        if self.options.flush == FlushPolicy::EveryBatch {
            state.synced
        } else {
            state.written
        }
    }

    /// Locks the state. A panic while it was held cannot leave it inconsistent (the leader's
    /// I/O runs without the lock and every update is a plain assignment), so a poisoned lock
    /// is taken as is.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until records below `end` are written (and synced, for `EveryBatch`), leading
    /// the I/O when no one else does.
    fn wait_durable<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        end: u64,
    ) -> Result<(), JournalError> {
        let every_batch = self.options.flush == FlushPolicy::EveryBatch;
        if state.leader {
            // Someone is writing: its `write` takes about a microsecond and ours is likely in
            // the next round, so watch the hints a little before sleeping on the condvar (a
            // futex wait and wake cost more than that).
            drop(state);
            let hint = if every_batch {
                &self.synced_hint
            } else {
                &self.written_hint
            };
            for round in 0..SPIN_ROUNDS {
                // Acquire: pairs with the leader's Release store after its update; only the
                // number matters (the caller reads nothing the leader wrote).
                if hint.load(Ordering::Acquire) >= end {
                    return Ok(());
                }
                if round < SPIN_ROUNDS / 2 {
                    std::hint::spin_loop();
                } else {
                    yield_now();
                }
            }
            state = self.lock();
        }
        self.wait_done(state, end, every_batch)
    }

    /// Syncs records below `end` (writing pending ones first), leading if no one else does.
    fn sync_through<'a>(
        &'a self,
        state: MutexGuard<'a, State>,
        end: u64,
    ) -> Result<(), JournalError> {
        self.wait_done(state, end, true)
    }

    /// Waits, under the lock, until records below `end` are written (and synced, with `sync`),
    /// leading the I/O when no one else does.
    fn wait_done<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        end: u64,
        sync: bool,
    ) -> Result<(), JournalError> {
        // `synced ≤ written` always, so with `sync` this is `synced >= end`.
        let done = |state: &State| state.written >= end && (!sync || state.synced >= end);
        loop {
            if done(&state) {
                return Ok(());
            }
            if let Some(reason) = &state.stopped {
                return Err(JournalError::Stopped {
                    reason: reason.clone(),
                });
            }
            if state.leader {
                state.sleepers += 1;
                state = self.progress.wait(state).unwrap_or_else(|e| e.into_inner());
                state.sleepers -= 1;
            } else {
                state = match self.lead(state, sync) {
                    Ok(state) => state,
                    // The failing round may have been for later appenders: ours may be done.
                    Err(_) if done(&self.lock()) => return Ok(()),
                    Err(err) => return Err(err),
                };
            }
        }
    }

    /// Becomes the leader: writes everything pending (rolling to a new segment first when the
    /// active one is full) and syncs if `sync` is set or the policy's interval has passed,
    /// repeating while new records arrive, then steps down. Returns the relocked state; on an
    /// I/O failure, stops the journal and returns the error.
    fn lead<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        sync: bool,
    ) -> Result<MutexGuard<'a, State>, JournalError> {
        state.leader = true;
        let mut file = state
            .file
            .take()
            .expect("the active segment is here while no one leads");
        // At most a few rounds, so the leader's own caller is not kept forever.
        for _round in 0..4 {
            let want_sync = sync
                || matches!(self.options.flush, FlushPolicy::Interval(every)
                    if state.last_sync.elapsed() >= every.max(MIN_INTERVAL));
            if state.pending.is_empty() && !(want_sync && state.synced < state.written) {
                break;
            }
            let spare = std::mem::take(&mut state.spare);
            let batch = std::mem::replace(&mut state.pending, spare);
            let batch_end = state.next;
            let roll = !batch.is_empty() && state.active_len >= self.options.segment_bytes;
            let base = state.written;
            let active_base = *state.segments.last().expect("at least one segment");
            // Mapped mode: the pages appends are done with, to release before the sync, and
            // the next ones, to read ahead (see `mapped.rs`).
            let active_len = state.active_len as usize;
            let sync_pages = match state.map.as_mut() {
                Some(map) if want_sync => map.pages_at_sync(active_len),
                _ => None,
            };
            drop(state);

            if let Some(pages) = sync_pages {
                // SAFETY: this thread leads, so the mapping stays: a roll (`roll_mapped`)
                // waits while `state.leader` is set. The journal's drop does not check
                // `state.leader`; it is safe because it has `&mut Journal`, so no append (and
                // no append's leader) is in flight, and it joins the syncer thread, the only
                // other leader, before `state.map.take()`: keep that join before the take.
                // Appends copy in and return, holding no reference into the mapping.
                unsafe { pages.run() };
            }
            let result = self.write_batch(&mut file, active_base, base, roll, &batch, want_sync);

            state = self.lock();
            match result {
                Ok(new_segment) => {
                    if let Some(new_file) = new_segment {
                        file = new_file;
                        state.segments.push(base);
                        state.active_len = HEADER_LEN;
                        self.store_segments(&state);
                    }
                    state.active_len += batch.len() as u64;
                    // (In mapped mode appends move `written` themselves, and the leader only
                    // syncs: never move it back.)
                    if batch_end > state.written {
                        state.written = batch_end;
                        // Release: pairs with the Acquire loads in `wait_durable`.
                        self.written_hint.store(batch_end, Ordering::Release);
                    }
                    if want_sync {
                        state.synced = batch_end;
                        state.last_sync = Instant::now();
                        self.synced_hint.store(batch_end, Ordering::Release);
                    }
                    let mut batch = batch;
                    batch.clear();
                    state.spare = batch;
                    self.wake(&state);
                }
                Err(err) => {
                    state.stopped = Some(err.to_string());
                    state.file = Some(file);
                    state.leader = false;
                    self.wake(&state);
                    return Err(err);
                }
            }
        }
        state.file = Some(file);
        state.leader = false;
        self.wake(&state);
        Ok(state)
    }

    /// The mapped-mode append, under the lock: copies `frames` into the active segment's
    /// mapping (rolling to a new segment when they do not fit), then, under `EveryBatch`,
    /// syncs. No `write` and, under `Never` and `Interval`, no system call at all.
    fn append_mapped<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        frames: &[u8],
        count: u64,
    ) -> Result<Range<u64>, JournalError> {
        loop {
            let fits = state
                .map
                .as_ref()
                .is_some_and(|map| state.active_len as usize + frames.len() <= map.len());
            if fits {
                break;
            }
            if state.leader {
                // A leader is syncing with the segment's file in hand; the roll needs it.
                state.sleepers += 1;
                state = self.progress.wait(state).unwrap_or_else(|e| e.into_inner());
                state.sleepers -= 1;
                if let Some(reason) = &state.stopped {
                    return Err(JournalError::Stopped {
                        reason: reason.clone(),
                    });
                }
                continue;
            }
            if let Err(err) = self.roll_mapped(&mut state, frames.len() as u64) {
                state.stopped = Some(err.to_string());
                self.wake(&state);
                return Err(err);
            }
        }
        let offset = state.active_len as usize;
        state
            .map
            .as_mut()
            .expect("checked above")
            .write_at(offset, frames);
        state.active_len += frames.len() as u64;
        let start = state.next;
        state.next += count;
        state.written = state.next;
        let end = state.next;
        // Release: pairs with the Acquire loads in `wait_durable` (a syncing appender watching)
        // and in `Journal::end`.
        self.written_hint.store(end, Ordering::Release);
        self.end_hint.store(end, Ordering::Release);
        if self.options.flush == FlushPolicy::EveryBatch {
            self.wait_done(state, end, true)?;
        }
        Ok(start..end)
    }

    /// Mapped mode: seals the active segment (unmaps it, cuts its preallocated tail, syncs it,
    /// as write mode syncs a segment it leaves) and maps a new one big enough for `need` more
    /// bytes; when the active segment holds no record yet, maps it bigger instead. Called
    /// under the lock with no leader (the leader holds the file).
    fn roll_mapped(&self, state: &mut State, need: u64) -> Result<(), JournalError> {
        let base = *state.segments.last().expect("at least one segment");
        let len = self.options.segment_bytes.max(HEADER_LEN + need);
        let old_path = segment_path(&self.dir, base);
        let file = state.file.as_ref().expect("no leader holds the file");
        if state.next == base {
            // Empty: the record is larger than the segment size; grow this one.
            state.map = None;
            state.map = Some(Mapping::new(file, len, &old_path)?);
            return Ok(());
        }
        if let Some(map) = state.map.take() {
            map.seal(file, state.active_len, &old_path)?;
        }
        file.sync_data()
            .map_err(|e| JournalError::io("sync", &old_path, e))?;
        let new_base = state.next;
        let new_file = open::create_segment(&self.dir, new_base, true)?;
        let map = Mapping::new(&new_file, len, &segment_path(&self.dir, new_base))?;
        state.file = Some(new_file);
        state.segments.push(new_base);
        state.active_len = HEADER_LEN;
        self.store_segments(state);
        state.map = Some(map);
        Ok(())
    }

    /// Stores `removable_below` and `active_base` from the segments; called under the lock
    /// whenever they change.
    ///
    /// The order matters: `removable_below` first, then `active_base`. A caller that cuts at
    /// the `active_base` it read (the durable queue's retention, `Durable::forget`) relies on
    /// it: its Acquire load of the new base synchronizes with the second store, so its
    /// `remove_before` then sees this `removable_below` (or a later one), never the
    /// `u64::MAX` from before the roll. Stored the other way round, that fast path could
    /// return 0 for a cut that should delete a segment, and retention, which records the cut
    /// as done, would keep the segment until the next roll.
    fn store_segments(&self, state: &State) {
        let hints = &self.segment_hints;
        let below = state.segments.get(1).copied().unwrap_or(u64::MAX);
        // Release: pairs with the Acquire load in `Journal::remove_before`.
        hints.removable_below.store(below, Ordering::Release);
        let active = *state.segments.last().expect("at least one segment");
        // Release: pairs with the Acquire load in `Journal::active_base` (and, through it, makes
        // the store above visible to its reader; see above).
        hints.active_base.store(active, Ordering::Release);
    }

    /// Wakes the appenders blocked on `progress`, if any (called with the lock held, so a
    /// sleeper counted there cannot be missed: it waits on the condvar before the lock is
    /// released).
    fn wake(&self, state: &State) {
        if state.sleepers > 0 {
            self.progress.notify_all();
        }
    }

    /// The leader's I/O, without the lock: optionally starts a new segment at `base` (syncing
    /// the old one first unless the policy is `Never`), writes `batch`, optionally syncs.
    /// Returns the new segment's file when it rolled.
    fn write_batch(
        &self,
        file: &mut File,
        active_base: u64,
        base: u64,
        roll: bool,
        batch: &[u8],
        sync: bool,
    ) -> Result<Option<File>, JournalError> {
        let mut new_file = None;
        if roll {
            // Under every policy, `Never` included: a sealed segment and the new one's name are
            // on disk before the first record goes into the new one, so `sync` and a reopen need
            // only look at the active segment. One sync per segment (64 MiB by default).
            let old = segment_path(&self.dir, active_base);
            file.sync_data()
                .map_err(|e| JournalError::io("sync", old, e))?;
            new_file = Some(open::create_segment(&self.dir, base, true)?);
        }
        let (target, target_base) = match new_file.as_mut() {
            Some(f) => (f, base),
            None => (file, active_base),
        };
        let path = || segment_path(&self.dir, target_base);
        if let Err(e) = target.write_all(batch) {
            return Err(JournalError::io("write", path(), e));
        }
        if sync {
            target
                .sync_data()
                .map_err(|e| JournalError::io("sync", path(), e))?;
        }
        Ok(new_file)
    }

    /// The `Interval` policy's background loop: every `every`, syncs what was written and not
    /// yet synced; ends when the journal is dropped.
    fn sync_every(&self, every: Duration) {
        let mut state = self.lock();
        loop {
            // Until `every` after the last sync (a leader may have synced meanwhile), or until
            // the journal closes: `wait_timeout_while` checks `closing` before it sleeps, so a
            // close signalled while this thread was syncing is not missed.
            let wait = every.saturating_sub(state.last_sync.elapsed());
            let (next, _) = self
                .closing
                .wait_timeout_while(state, wait, |s| !s.closing && s.stopped.is_none())
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            if state.closing || state.stopped.is_some() {
                return;
            }
            if state.last_sync.elapsed() < every {
                continue;
            }
            if state.synced < state.written {
                let end = state.written;
                if self.sync_through(state, end).is_err() {
                    return;
                }
                state = self.lock();
            } else {
                // Nothing to sync: count the next interval from now.
                state.last_sync = Instant::now();
            }
        }
    }
}
