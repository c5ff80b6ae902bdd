//! [`JournalReader`]: the records of a journal from a position on, with bounded memory.

use super::format::{self, segment_path, FRAME_LEN, HEADER_LEN};
use super::{JournalError, Shared};
use std::fs::File;
use std::io::{BufReader, ErrorKind, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

/// One record read back: its position and its bytes.
///
/// # Examples
///
/// ```
/// use mqsync::journal::{Journal, JournalOptions};
///
/// let dir = tempfile::tempdir().unwrap();
/// let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
/// journal.append(b"hello").unwrap();
/// let record = journal.reader(0).unwrap().next().unwrap().unwrap();
/// assert_eq!((record.position, record.data.as_slice()), (0, &b"hello"[..]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The record's position in the journal.
    pub position: u64,
    /// The record's bytes, as appended.
    pub data: Vec<u8>,
}

/// Reads a journal's records in order from a position on; an `Iterator` of
/// `Result<Record, JournalError>`.
///
/// It holds one segment file open and a read buffer (64 KiB plus the record being read), never
/// the log. It yields only records whose appends are done — written, and under
/// [`FlushPolicy::EveryBatch`](super::FlushPolicy::EveryBatch) synced — and follows appends that
/// happen while it reads: `None` means "nothing more for now"; call `next` again later for
/// records appended since. After an error (a damaged record, a segment removed under it) it
/// yields `None` for good.
///
/// Every record's CRC is checked; damage is [`JournalError::Corrupt`] naming the segment and
/// the byte offset, never a skipped record.
///
/// # Examples
///
/// ```
/// use mqsync::journal::{Journal, JournalOptions};
///
/// let dir = tempfile::tempdir().unwrap();
/// let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
/// journal.append_batch([b"a", b"b", b"c"]).unwrap();
/// let data: Vec<Vec<u8>> = journal.reader(1).unwrap().map(|r| r.unwrap().data).collect();
/// assert_eq!(data, [b"b".to_vec(), b"c".to_vec()]);
/// ```
pub struct JournalReader {
    shared: Arc<Shared>,
    /// The position of the next record to yield.
    position: u64,
    /// Records below this may be read (a cached copy of the journal's readable end: written, or
    /// synced under `EveryBatch`; refreshed when `position` reaches it).
    limit: u64,
    /// The open segment, if any.
    segment: Option<Segment>,
    /// Set after an error: the reader is done.
    failed: bool,
}

/// The segment a reader is in.
struct Segment {
    path: PathBuf,
    /// The position of its first record.
    base: u64,
    file: BufReader<File>,
    /// Byte offset in the file of the next frame.
    offset: u64,
    /// The base of the following segment, once one exists: where this one's records end.
    next_base: Option<u64>,
}

impl std::fmt::Debug for JournalReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalReader")
            .field("position", &self.position)
            .field("segment", &self.segment.as_ref().map(|s| &s.path))
            .finish()
    }
}

impl JournalReader {
    pub(super) fn new(shared: Arc<Shared>, from: u64) -> Result<Self, JournalError> {
        let (first, end, limit) = {
            let state = shared.lock();
            (state.segments[0], state.next, shared.readable(&state))
        };
        if from < first || from > end {
            return Err(JournalError::OutOfRange {
                position: from,
                first,
                end,
            });
        }
        Ok(JournalReader {
            shared,
            position: from,
            limit,
            segment: None,
            failed: false,
        })
    }

    /// The position of the next record this reader yields.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::journal::{Journal, JournalOptions};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    /// journal.append(b"x").unwrap();
    /// let mut reader = journal.reader(0).unwrap();
    /// reader.next();
    /// assert_eq!(reader.position(), 1);
    /// ```
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The next record, `Ok(None)` when the reader has caught up with the appends.
    fn read_next(&mut self) -> Result<Option<Record>, JournalError> {
        if self.position >= self.limit {
            let state = self.shared.lock();
            self.limit = self.shared.readable(&state);
            let next_base = self.segment.as_ref().and_then(|segment| {
                let base = segment.base;
                segment
                    .next_base
                    .or_else(|| state.segments.iter().copied().find(|&b| b > base))
            });
            drop(state);
            if let Some(segment) = &mut self.segment {
                segment.next_base = next_base;
                // Drop what the buffer read past the records we had: it may hold the first
                // bytes of a write that was in progress then (correct bytes in an append-only
                // file, but there is no need to rely on it).
                let offset = segment.offset;
                segment
                    .file
                    .seek(SeekFrom::Start(offset))
                    .map_err(|e| JournalError::io("seek", &segment.path, e))?;
            }
            if self.position >= self.limit {
                return Ok(None);
            }
        }
        if self
            .segment
            .as_ref()
            .is_some_and(|s| s.next_base == Some(self.position))
        {
            self.segment = None;
        }
        if self.segment.is_none() {
            self.segment = Some(self.open_segment()?);
        }
        let max = self.shared.options.max_record_bytes;
        let segment = self.segment.as_mut().expect("opened above");
        let data = read_record(segment, max)?;
        let record = Record {
            position: self.position,
            data,
        };
        self.position += 1;
        Ok(Some(record))
    }

    /// Opens the segment that holds `self.position` and reads up to that record.
    fn open_segment(&self) -> Result<Segment, JournalError> {
        let (base, next_base) = {
            let state = self.shared.lock();
            let index = state.segments.partition_point(|&b| b <= self.position);
            if index == 0 {
                return Err(JournalError::OutOfRange {
                    position: self.position,
                    first: state.segments[0],
                    end: state.next,
                });
            }
            (
                state.segments[index - 1],
                state.segments.get(index).copied(),
            )
        };
        let path = segment_path(&self.shared.dir, base);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let state = self.shared.lock();
                return Err(JournalError::OutOfRange {
                    position: self.position,
                    first: state.segments[0],
                    end: state.next,
                });
            }
            Err(e) => return Err(JournalError::io("open", &path, e)),
        };
        let mut segment = Segment {
            path,
            base,
            file: BufReader::with_capacity(64 << 10, file),
            offset: 0,
            next_base,
        };
        let mut header = [0; HEADER_LEN as usize];
        read_exact(&mut segment, &mut header)?;
        format::check_header(&header, base).map_err(|reason| JournalError::Corrupt {
            segment: segment.path.clone(),
            offset: 0,
            reason,
        })?;
        let max = self.shared.options.max_record_bytes;
        for _ in base..self.position {
            read_record(&mut segment, max)?;
        }
        Ok(segment)
    }
}

/// Reads exactly `buf.len()` bytes; running out is damage (the caller reads only records that
/// were written).
fn read_exact(segment: &mut Segment, buf: &mut [u8]) -> Result<(), JournalError> {
    match segment.file.read_exact(buf) {
        Ok(()) => {
            segment.offset += buf.len() as u64;
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => Err(JournalError::Corrupt {
            segment: segment.path.clone(),
            offset: segment.offset,
            reason: "segment ends before the records the journal holds",
        }),
        Err(e) => Err(JournalError::io("read", &segment.path, e)),
    }
}

/// Reads and checks one record.
fn read_record(segment: &mut Segment, max: u32) -> Result<Vec<u8>, JournalError> {
    let at = segment.offset;
    let mut frame = [0; FRAME_LEN as usize];
    read_exact(segment, &mut frame)?;
    let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
    let corrupt = |reason| JournalError::Corrupt {
        segment: segment.path.clone(),
        offset: at,
        reason,
    };
    if len > max {
        return Err(corrupt(
            "record length is above the record limit (damage, or written with a larger max_record_bytes)",
        ));
    }
    // The frame and payload together, so `format::decode` does the one check of the format.
    // Lossless: u32 into usize.
    let mut whole = vec![0; FRAME_LEN as usize + len as usize];
    whole[..FRAME_LEN as usize].copy_from_slice(&frame);
    read_exact(segment, &mut whole[FRAME_LEN as usize..])?;
    match format::decode(&whole, max) {
        format::Frame::Record(..) => {
            whole.drain(..FRAME_LEN as usize);
            Ok(whole)
        }
        format::Frame::Bad(reason) => Err(JournalError::Corrupt {
            segment: segment.path.clone(),
            offset: at,
            reason,
        }),
        format::Frame::TooLong(_) | format::Frame::Zeros | format::Frame::Incomplete => {
            Err(JournalError::Corrupt {
                segment: segment.path.clone(),
                offset: at,
                reason: "no whole record where one must be",
            })
        }
    }
}

impl Iterator for JournalReader {
    type Item = Result<Record, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.read_next() {
            Ok(record) => record.map(Ok),
            Err(err) => {
                self.failed = true;
                Some(Err(err))
            }
        }
    }
}
