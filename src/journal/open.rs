//! Opening a journal directory: the lock, the segment list, and the repair of a torn tail.

use super::format::{self, segment_path, Frame, FRAME_LEN, HEADER_LEN};
use super::{JournalError, JournalOptions, Recovery};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// What [`open`] found and prepared.
pub(super) struct Opened {
    /// The last segment, open for appending at its valid end.
    pub(super) file: File,
    /// Every segment's base position, ascending.
    pub(super) segments: Vec<u64>,
    /// The valid length of the last segment in bytes, header included.
    pub(super) active_len: u64,
    /// The position the next record gets.
    pub(super) end: u64,
    /// The locked `LOCK` file.
    pub(super) lock: File,
}

/// Opens (or creates) the journal in `dir`; see [`Journal::open`](super::Journal::open).
pub(super) fn open(dir: &Path, options: &JournalOptions) -> Result<Opened, JournalError> {
    let existed = dir.is_dir();
    fs::create_dir_all(dir).map_err(|e| JournalError::io("create", dir, e))?;
    if !existed {
        // The new directory's entry in its parent, so that the journal survives a power loss.
        // (A relative name of one component has the parent "": the current directory. Only
        // the last level is synced when several were created.)
        let parent = dir.parent().unwrap_or_else(|| Path::new("."));
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        sync_dir(parent)?;
    }
    let lock = lock(dir)?;
    let mut segments = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| JournalError::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io("list", dir, e))?;
        if let Some(base) = entry
            .file_name()
            .to_str()
            .and_then(format::parse_segment_name)
        {
            segments.push(base);
        }
    }
    segments.sort_unstable();
    let Some(&last) = segments.last() else {
        let file = create_segment(dir, 0, true)?;
        return Ok(Opened {
            file,
            segments: vec![0],
            active_len: HEADER_LEN,
            end: 0,
            lock,
        });
    };
    for &base in &segments[..segments.len() - 1] {
        check_sealed(dir, base)?;
    }
    let (file, active_len, count) = repair_last(dir, last, options)?;
    Ok(Opened {
        file,
        segments,
        active_len,
        end: last + count,
        lock,
    })
}

/// Creates the segment at `base` with its header; with `sync`, syncs it and the directory so
/// the new file survives a power loss.
pub(super) fn create_segment(dir: &Path, base: u64, sync: bool) -> Result<File, JournalError> {
    let path = segment_path(dir, base);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .read(true)
        .open(&path)
        .map_err(|e| JournalError::io("create", &path, e))?;
    file.write_all(&format::header(base))
        .map_err(|e| JournalError::io("write", &path, e))?;
    if sync {
        file.sync_all()
            .map_err(|e| JournalError::io("sync", &path, e))?;
        sync_dir(dir)?;
    }
    Ok(file)
}

/// Syncs the directory entry list (new or removed files).
fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    #[cfg(unix)]
    {
        let handle = File::open(dir).map_err(|e| JournalError::io("open", dir, e))?;
        handle
            .sync_all()
            .map_err(|e| JournalError::io("sync", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Takes the advisory lock on `dir/LOCK` (Linux: `flock`, released when the file is closed,
/// also by a crash), waiting up to 200 ms for a holder to let go. On other systems the file is
/// created but not locked.
fn lock(dir: &Path) -> Result<File, JournalError> {
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| JournalError::io("open", &path, e))?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // A lock held elsewhere is retried for a moment before it counts: a child process that
        // another thread of this process is starting (fork, then exec) holds a copy of every
        // descriptor, this lock's included, until its exec closes them, so a journal dropped
        // and reopened meanwhile would find its own lock still taken.
        let patience = std::time::Instant::now() + std::time::Duration::from_millis(200);
        loop {
            // SAFETY: `flock` on a descriptor we own and keep open; no memory is passed.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::WouldBlock {
                return Err(JournalError::io("lock", &path, err));
            }
            if std::time::Instant::now() >= patience {
                return Err(JournalError::Locked {
                    dir: dir.to_path_buf(),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    Ok(file)
}

/// Checks the header of a segment that is not the last one.
fn check_sealed(dir: &Path, base: u64) -> Result<(), JournalError> {
    let path = segment_path(dir, base);
    let mut file = File::open(&path).map_err(|e| JournalError::io("open", &path, e))?;
    let mut header = Vec::with_capacity(HEADER_LEN as usize);
    (&mut file)
        .take(HEADER_LEN)
        .read_to_end(&mut header)
        .map_err(|e| JournalError::io("read", &path, e))?;
    format::check_header(&header, base).map_err(|reason| JournalError::Corrupt {
        segment: path,
        offset: 0,
        reason,
    })
}

/// Reads the last segment through, cuts a torn tail (or quarantines damage, if asked), and
/// returns the file open at its valid end, the valid length, and the record count.
fn repair_last(
    dir: &Path,
    base: u64,
    options: &JournalOptions,
) -> Result<(File, u64, u64), JournalError> {
    let path = segment_path(dir, base);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| JournalError::io("open", &path, e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| JournalError::io("read", &path, e))?;
    let corrupt = |offset: u64, reason| JournalError::Corrupt {
        segment: path.clone(),
        offset,
        reason,
    };

    // A header that is short, or all zeros, with nothing after it: the segment's creation was
    // torn (its records never existed). Write the header again.
    let header_len = HEADER_LEN as usize;
    let all_zero = bytes.iter().all(|&b| b == 0);
    let torn_creation = if bytes.len() < header_len {
        all_zero || format::header(base).starts_with(&bytes)
    } else {
        all_zero
    };
    if torn_creation {
        file.set_len(0)
            .map_err(|e| JournalError::io("truncate", &path, e))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| JournalError::io("seek", &path, e))?;
        file.write_all(&format::header(base))
            .map_err(|e| JournalError::io("write", &path, e))?;
        file.sync_all()
            .map_err(|e| JournalError::io("sync", &path, e))?;
        sync_dir(dir)?;
        return Ok((file, HEADER_LEN, 0));
    }
    format::check_header(&bytes, base).map_err(|reason| corrupt(0, reason))?;

    let max = options.max_record_bytes;
    let mut offset = header_len;
    let mut count = 0u64;
    let cut = loop {
        let rest = &bytes[offset..];
        if rest.is_empty() {
            break None;
        }
        match format::decode(rest, max) {
            Frame::Record(_, len) => {
                offset += len;
                count += 1;
            }
            // A valid record written under a larger limit: a setting to fix, not damage.
            Frame::TooLong(_) => {
                return Err(corrupt(
                    offset as u64,
                    "a whole record is above the record limit (written with a larger max_record_bytes?)",
                ))
            }
            // A frame that looks cut short, but claims more than an append could have written, or
            // would be followed by a whole record if one bit of its length were different: its
            // length is damaged, not its record torn.
            Frame::Incomplete
                if claimed_end(rest).is_some_and(|end| end - FRAME_LEN as usize > max as usize)
                    || format::whole_frame_after(rest) =>
            {
                return damaged(
                    &mut file,
                    &path,
                    &bytes,
                    offset,
                    count,
                    options,
                    "a frame runs past the end of the file with a length no append wrote, or one bit from a length that a whole record follows (a damaged length?)",
                );
            }
            // Cut short by a crash: the tail of the last write.
            Frame::Incomplete => break Some(offset),
            // Never written (a file system that extended the file but lost the data).
            Frame::Zeros if rest.iter().all(|&b| b == 0) => break Some(offset),
            // The last record, whole in length but not in content: a torn page at the end.
            Frame::Bad(_) if claimed_end(rest) == Some(rest.len()) => break Some(offset),
            // A memory-mapped segment's last copy, cut short or written back in part (see
            // `mapped.rs`): damage within one record's span, zeros after it to the end.
            Frame::Bad(_) | Frame::Zeros if mapped_torn(rest, max) => break Some(offset),
            Frame::Zeros => {
                return damaged(
                    &mut file,
                    &path,
                    &bytes,
                    offset,
                    count,
                    options,
                    "zero bytes before the end of the log",
                )
            }
            Frame::Bad(reason) => {
                return damaged(&mut file, &path, &bytes, offset, count, options, reason)
            }
        }
    };
    let valid = offset as u64;
    if let Some(at) = cut {
        file.set_len(at as u64)
            .map_err(|e| JournalError::io("truncate", &path, e))?;
    }
    // Always: what an earlier process wrote may still be only in the page cache (it ran under
    // `Never`, or died before its `Interval` sync); from here on, the journal counts it synced.
    file.sync_all()
        .map_err(|e| JournalError::io("sync", &path, e))?;
    sync_dir(dir)?;
    file.seek(SeekFrom::Start(valid))
        .map_err(|e| JournalError::io("seek", &path, e))?;
    Ok((file, valid, count))
}

/// True if the damaged frame at the front of `rest` is the torn last copy of a preallocated
/// (memory-mapped) segment: zeros run from the end of the data to the end of the file, the data
/// after the frame's start spans at most one record, and no whole record follows the frame.
fn mapped_torn(rest: &[u8], max: u32) -> bool {
    let data_end = rest.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let preallocated = data_end < rest.len();
    let one_record = data_end <= FRAME_LEN as usize + max as usize;
    let record_follows = claimed_end(rest)
        .filter(|&end| end > FRAME_LEN as usize && end < data_end)
        .is_some_and(|end| matches!(format::decode(&rest[end..], max), Frame::Record(..)));
    preallocated && one_record && !record_follows
}

/// The end of the frame at the front of `rest`, as its length field says, if the field is
/// there.
fn claimed_end(rest: &[u8]) -> Option<usize> {
    let len = rest.get(..4)?;
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
    // Lossless: u32 into usize on 32- and 64-bit targets.
    (FRAME_LEN as usize).checked_add(len as usize)
}

/// Damage at `offset` of the last segment that is not a torn tail: an error, or with
/// [`Recovery::QuarantineDamagedTail`] the bytes from there moved aside and the segment cut.
fn damaged(
    file: &mut File,
    path: &Path,
    bytes: &[u8],
    offset: usize,
    count: u64,
    options: &JournalOptions,
    reason: &'static str,
) -> Result<(File, u64, u64), JournalError> {
    if options.recovery == Recovery::Strict {
        return Err(JournalError::Corrupt {
            segment: path.to_path_buf(),
            offset: offset as u64,
            reason,
        });
    }
    // `<segment>.damaged-<offset>`, or with `.2`, `.3`, ... if a crash during an earlier
    // quarantine left that name behind.
    let mut n = 1;
    let (aside, mut out) = loop {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".damaged-{offset}"));
        if n > 1 {
            name.push(format!(".{n}"));
        }
        let aside = std::path::PathBuf::from(name);
        match OpenOptions::new().create_new(true).write(true).open(&aside) {
            Ok(out) => break (aside, out),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(JournalError::io("create", &aside, e)),
        }
    };
    out.write_all(&bytes[offset..])
        .and_then(|()| out.sync_all())
        .map_err(|e| JournalError::io("write", &aside, e))?;
    // The moved bytes are on disk, under a name that survives, before the segment loses them.
    sync_dir(path.parent().unwrap_or_else(|| Path::new(".")))?;
    file.set_len(offset as u64)
        .and_then(|()| file.sync_all())
        .map_err(|e| JournalError::io("truncate", path, e))?;
    file.seek(SeekFrom::Start(offset as u64))
        .map_err(|e| JournalError::io("seek", path, e))?;
    let file = file
        .try_clone()
        .map_err(|e| JournalError::io("open", path, e))?;
    Ok((file, offset as u64, count))
}
