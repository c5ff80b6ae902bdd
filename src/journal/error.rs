//! [`JournalError`]: what can go wrong opening, appending to and reading a journal.

use std::io;
use std::path::PathBuf;

/// An error from a [`Journal`](super::Journal) or a [`JournalReader`](super::JournalReader).
///
/// Every variant names the file or the position involved; none carries record contents.
///
/// # Examples
///
/// ```
/// use mqsync::journal::{Journal, JournalError, JournalOptions};
///
/// let dir = tempfile::tempdir().unwrap();
/// let journal = Journal::open(dir.path(), JournalOptions::default().max_record_bytes(4)).unwrap();
/// let err = journal.append(b"too long").unwrap_err();
/// assert!(matches!(err, JournalError::RecordTooLarge { len: 8, max: 4 }));
/// assert_eq!(err.to_string(), "record of 8 bytes is above the journal's limit of 4 bytes");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// A file operation failed (a full disk, a read-only directory, permissions, ...).
    #[error("journal {op} failed on {}: {source}", path.display())]
    Io {
        /// What the journal was doing: "create", "open", "read", "write", "sync", "remove", ...
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A segment holds bytes that are not a valid record where a record must be: not a torn
    /// tail, which opening repairs, but damage before the end of the log.
    #[error("journal segment {} is corrupt at byte {offset}: {reason}", segment.display())]
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// The byte offset in the file of the first damaged frame.
        offset: u64,
        /// What is wrong there.
        reason: &'static str,
    },
    /// A record is longer than the journal's limit
    /// ([`JournalOptions::max_record_bytes`](super::JournalOptions::max_record_bytes)).
    /// Nothing of the batch it was in was appended.
    #[error("record of {len} bytes is above the journal's limit of {max} bytes")]
    RecordTooLarge {
        /// The record's length.
        len: usize,
        /// The limit.
        max: u32,
    },
    /// An earlier write or sync failed; the journal accepts no more appends until it is opened
    /// again (which finds the log as far as it reached the disk). Appends that returned `Ok`
    /// before the failure are not affected.
    #[error("journal stopped after an earlier failure ({reason}); open it again")]
    Stopped {
        /// The earlier failure.
        reason: String,
    },
    /// Another [`Journal`](super::Journal), in this process or another, has the directory open.
    #[error("journal directory {} is in use by another Journal", dir.display())]
    Locked {
        /// The directory.
        dir: PathBuf,
    },
    /// A read asked for a position the journal does not hold: removed by
    /// [`remove_before`](super::Journal::remove_before), or not yet appended.
    #[error("journal position {position} is outside the log ({first}..{end})")]
    OutOfRange {
        /// The position asked for.
        position: u64,
        /// The first position held.
        first: u64,
        /// The position the next append will get.
        end: u64,
    },
}

impl JournalError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        JournalError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
