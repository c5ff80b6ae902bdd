//! [`JournalSource`]: changes kept in a [`Journal`] on disk, read back as a streaming source.

use super::change::Change;
use super::source::{Source, SourceError};
use crate::journal::{Journal, JournalError, JournalReader};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// A [`Source`] over a [`Journal`] whose records are [`Change`]s (as JSON; write them with
/// [`JournalSource::append`]), from position `from` on.
///
/// The journal is the durable record: every change pulled carries its journal position as
/// [`position`](Change::position), which a checkpointing sink such as the
/// [`SqliteSink`](super::SqliteSink) stores with the data; after a crash, restart with
/// `from = sink.checkpoint()`. Reading streams through a [`JournalReader`] (one segment file and
/// a 64 KiB buffer open, never the log in memory) and follows appends made while the sync runs.
///
/// With [`retain_committed`](Self::retain_committed)`(false)`, a [`commit`](Source::commit)
/// deletes the journal's segments that hold only committed changes
/// ([`Journal::remove_before`]); by default the journal keeps everything.
///
/// A record that is not a JSON `Change` fails the pull with [`SourceError::Other`] naming its
/// position (a journal written by [`append`](Self::append) holds none); damage on disk is
/// [`SourceError::Journal`]. Neither is skipped: the changes before it are returned, and from
/// then on every pull fails with the same reason (the source stops there; fix the journal and
/// start a new source from the sink's checkpoint).
///
/// Retention (`retain_committed(false)`) deletes what the engine's sinks confirmed. With a sink
/// whose checkpoint may roll back on a power loss (`SqliteSink` with
/// `Durability::ProcessCrash`), a restart from that checkpoint may then find its start deleted
/// ([`JournalError::OutOfRange`]); keep the segments (the default) or use a power-loss-safe
/// sink. Two sources that remove on one journal remove under each other.
///
/// ```
/// use mqsync::journal::{Journal, JournalOptions};
/// use mqsync::sync::{Change, JournalSource, Source};
/// use std::sync::Arc;
///
/// let dir = tempfile::tempdir().unwrap();
/// let journal = Arc::new(Journal::open(dir.path(), JournalOptions::default()).unwrap());
/// JournalSource::append(&journal, &[Change::delete("a", 1), Change::delete("b", 1)]).unwrap();
///
/// let mut source = JournalSource::new("log", Arc::clone(&journal), 1).unwrap();
/// let pulled = source.pull(10).unwrap();
/// assert_eq!(pulled.len(), 1);
/// assert_eq!((pulled[0].key.as_str(), pulled[0].position), ("b", Some(1)));
/// assert!(source.pull(10).unwrap().is_empty()); // caught up; later appends come next
/// ```
pub struct JournalSource {
    name: String,
    journal: Arc<Journal>,
    reader: JournalReader,
    /// The position of the change pulled as number 0 (the engine numbers pulls from 0).
    start: u64,
    /// Delete committed segments on commit.
    remove_committed: bool,
    /// Set once a pull fails: the same failure on every later pull, so nothing after it is
    /// read past (the engine keeps pulling after an error).
    stuck: Option<(u64, String)>,
    /// A failure met after some changes were read in the same pull: those are returned first,
    /// the failure on the next pull.
    deferred: Option<SourceError>,
}

impl JournalSource {
    /// A source named `name` over `journal`, starting at position `from`.
    ///
    /// # Errors
    ///
    /// [`JournalError::OutOfRange`] when `from` is below the journal's first position or past
    /// its end.
    pub fn new(
        name: impl Into<String>,
        journal: Arc<Journal>,
        from: u64,
    ) -> Result<Self, JournalError> {
        let reader = journal.reader(from)?;
        Ok(JournalSource {
            name: name.into(),
            journal,
            reader,
            start: from,
            remove_committed: false,
            stuck: None,
            deferred: None,
        })
    }

    /// Whether the journal keeps committed changes (`true`, the default) or a commit deletes
    /// the segments that hold only committed changes (`false`).
    ///
    /// ```
    /// use mqsync::journal::{Journal, JournalOptions};
    /// use mqsync::sync::JournalSource;
    /// use std::sync::Arc;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let journal = Arc::new(Journal::open(dir.path(), JournalOptions::default()).unwrap());
    /// let source = JournalSource::new("log", journal, 0).unwrap().retain_committed(false);
    /// assert_eq!(source.position(), 0);
    /// ```
    pub fn retain_committed(mut self, retain: bool) -> Self {
        self.remove_committed = !retain;
        self
    }

    /// Appends `changes` to `journal` as one batch, in this source's record format (the
    /// change as JSON; a `position` it carries is stored but ignored: reading gives each change
    /// its journal position); returns their positions once durable per the journal's policy.
    ///
    /// # Errors
    ///
    /// As [`Journal::append_batch`].
    ///
    /// ```
    /// use mqsync::journal::{Journal, JournalOptions};
    /// use mqsync::sync::{Change, JournalSource};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    /// assert_eq!(JournalSource::append(&journal, &[Change::delete("k", 1)]).unwrap(), 0..1);
    /// ```
    pub fn append<'a>(
        journal: &Journal,
        changes: impl IntoIterator<Item = &'a Change>,
    ) -> Result<Range<u64>, JournalError> {
        // Serialized in place (no clone of the change and its body); `append_batch` frames each
        // record once, before its lock.
        journal.append_batch(
            changes.into_iter().map(|change| {
                serde_json::to_vec(change).expect("a Change always serializes to JSON")
            }),
        )
    }

    /// The position of the next change this source returns (once a pull failed, the position
    /// of the record it failed on).
    pub fn position(&self) -> u64 {
        match &self.stuck {
            Some((at, _)) => *at,
            None => self.reader.position(),
        }
    }
}

impl Source for JournalSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn pull(&mut self, max: usize) -> Result<Vec<Change>, SourceError> {
        if let Some(err) = self.deferred.take() {
            return Err(err);
        }
        if let Some((_, reason)) = &self.stuck {
            return Err(SourceError::other(reason.clone()));
        }
        let mut out = Vec::new();
        while out.len() < max {
            let Some(record) = self.reader.next() else {
                break;
            };
            let (at, failure) = match record {
                Ok(record) => match serde_json::from_slice::<Change>(&record.data) {
                    Ok(change) => {
                        out.push(change.at_position(record.position));
                        continue;
                    }
                    Err(e) => (
                        record.position,
                        SourceError::other(format!(
                            "journal record {} is not a change: {e}",
                            record.position
                        )),
                    ),
                },
                Err(e) => (self.reader.position(), SourceError::Journal(e)),
            };
            // Stop here for good: every later pull fails the same way, so the engine's
            // numbering never runs past the record that failed, and retention never removes
            // it. The changes read before it in this pull are returned first.
            self.stuck = Some((at, chain(&failure)));
            if out.is_empty() {
                return Err(failure);
            }
            self.deferred = Some(failure);
            break;
        }
        Ok(out)
    }

    fn commit(&mut self, through: u64) -> Result<(), SourceError> {
        if self.remove_committed {
            let committed_end = self.start.saturating_add(through).saturating_add(1);
            self.journal.remove_before(committed_end)?;
        }
        Ok(())
    }
}

/// An error and its causes, `: `-separated (the `Display` of `SourceError::Journal` alone does
/// not name the segment or the offset; its source does).
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

impl fmt::Debug for JournalSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JournalSource")
            .field("name", &self.name)
            .field("journal", &self.journal.dir())
            .field("position", &self.reader.position())
            .finish()
    }
}
