//! [`ReplaySource`]: a source over a durable log of changes that can start at any position, so
//! that a sync restarted after a crash resumes where its target's checkpoint says.

use super::change::Change;
use super::source::{Source, SourceError};
use std::fmt;
use std::sync::Arc;

/// A [`Source`] over a log of changes (a file read back, a table, a `Vec`), from position
/// `from` on. Each change it returns carries its index in the log as
/// [`position`](Change::position), which a checkpointing sink such as the
/// [`SqliteSink`](super::SqliteSink) stores with the data; restart with
/// `from = sink.checkpoint()` after a crash.
///
/// The log itself is the durable record, so [`commit`](Source::commit) has nothing to do.
///
/// ```
/// use mqsync::sync::{Change, ReplaySource, Source};
/// use std::sync::Arc;
///
/// let log: Arc<[Change]> = (0..5).map(|v| Change::delete("k", v)).collect();
/// let mut source = ReplaySource::new("log", log, 3);
/// let pulled = source.pull(10).unwrap();
/// assert_eq!(pulled.iter().map(|c| c.position).collect::<Vec<_>>(), [Some(3), Some(4)]);
/// assert!(source.is_exhausted());
/// ```
pub struct ReplaySource {
    name: String,
    log: Arc<[Change]>,
    /// The next position to return; only grows.
    next: usize,
}

impl ReplaySource {
    /// A source named `name` over `log`, starting at position `from` (past the end: empty).
    pub fn new(name: impl Into<String>, log: Arc<[Change]>, from: u64) -> Self {
        let next = usize::try_from(from).unwrap_or(usize::MAX).min(log.len());
        ReplaySource {
            name: name.into(),
            log,
            next,
        }
    }

    /// The next position this source will return.
    ///
    /// ```
    /// use mqsync::sync::{Change, ReplaySource};
    ///
    /// let source = ReplaySource::new("log", vec![Change::delete("k", 1)].into(), 0);
    /// assert_eq!(source.position(), 0);
    /// ```
    pub fn position(&self) -> u64 {
        self.next as u64
    }
}

impl Source for ReplaySource {
    fn name(&self) -> &str {
        &self.name
    }

    fn pull(&mut self, max: usize) -> Result<Vec<Change>, SourceError> {
        let end = self.next.saturating_add(max).min(self.log.len());
        let pulled = self.log[self.next..end]
            .iter()
            .zip(self.next as u64..)
            .map(|(change, position)| change.clone().at_position(position))
            .collect();
        self.next = end;
        Ok(pulled)
    }

    fn is_exhausted(&self) -> bool {
        self.next >= self.log.len()
    }
}

impl fmt::Debug for ReplaySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplaySource")
            .field("name", &self.name)
            .field("next", &self.next)
            .field("len", &self.log.len())
            .finish()
    }
}
