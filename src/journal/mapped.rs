//! The memory-mapped write path ([`JournalOptions::memory_mapped`](super::JournalOptions)):
//! the active segment is preallocated and mapped, and an append copies its frames into the
//! mapping instead of calling `write`.
//
// Why it is as safe against a process crash as `write`: a shared file mapping *is* the page
// cache of the file. Once the copy is done, the bytes belong to the kernel, which writes them
// back whether or not the process lives (exactly as for bytes handed over by `write`). A power
// loss is covered, as in write mode, only by a sync: `fdatasync` on the segment's descriptor
// writes back the mapping's dirty pages too (Linux).
//
// The file is preallocated with `fallocate`, so that the blocks exist before any page is
// touched: a full disk shows up as an error from the roll that allocates the segment, never as
// a SIGBUS on a write fault. What the mapping cannot survive is someone else truncating the
// file under it (the same as any mapped database); the directory lock keeps other journals
// out, not other programs.
//
// Paging work at each sync, done by the leader outside the journal's lock
// (`Mapping::pages_at_sync` → `SyncPages::run`):
//
// - It drops this process's page-table entries for the whole pages below the end of what is
//   written (`madvise(MADV_DONTNEED)`): appends never write there again, and a sync of a page
//   that is still mapped writable must write-protect it first, one TLB shootdown (an
//   interrupt to every CPU running the process) per page, where a release flushes the whole
//   range at once. For a shared file mapping MADV_DONTNEED keeps the data: the pages stay in
//   the page cache, dirty until written back, and readers read them through the file.
// - It reads ahead the pages past the written end that the next interval will likely fill
//   (twice as many bytes as the last one wrote, from 64 KiB to 8 MiB; `MADV_POPULATE_READ`,
//   Linux 5.14): the page cache pages are allocated and zeroed (the preallocated blocks read as
//   zeros) and mapped read-only here, on the syncing thread, so that an append's first write
//   to a page costs a write-protect fault instead of a fault that allocates and zeroes the
//   page. The pages stay clean, so a sync writes nothing for them. Where the kernel lacks
//   the call, it fails and the appends fault as before.
//
// The preallocated tail is zeros. Opening reads zeros after the last record as a torn tail
// (`open::repair_last`) and cuts them, so a crashed mapped journal reopens like a crashed
// written one; a clean close cuts the tail itself (`Mapping::seal`).

use super::JournalError;
use std::fs::File;
use std::path::Path;

/// The mapping of the active segment: `len` bytes of `file` from offset 0.
pub(super) struct Mapping {
    ptr: *mut u8,
    len: usize,
    /// The pages below this offset are released (see the essay above); a multiple of `page`,
    /// only grows. Written under the journal's lock.
    released: usize,
    /// The kernel's page size (`sysconf(_SC_PAGESIZE)`, read once in `new`): every range
    /// handed to `madvise` starts and ends on it. A hard-coded 4 KiB would be wrong on a
    /// 16 or 64 KiB-page kernel, where `madvise` rounds the length up and a release could cover
    /// the page that appends are still writing.
    page: usize,
}

/// The paging work of one sync (see the essay above): the written whole pages to release,
/// and the pages after them to read ahead; done without the journal's lock.
#[derive(Debug)]
pub(super) struct SyncPages {
    /// The mapping's start.
    base: *mut u8,
    /// Release `released..written_end`, read ahead `written_end..ahead_end` (offsets, page
    /// multiples, within the mapping).
    released: usize,
    written_end: usize,
    ahead_end: usize,
}

/// The read-ahead's bounds (see the essay above).
const AHEAD_MIN: usize = 64 << 10;
const AHEAD_MAX: usize = 8 << 20;

/// The page size used when `sysconf(_SC_PAGESIZE)` gives no answer: 4 KiB, the smallest on
/// Linux.
#[cfg(target_os = "linux")]
const FALLBACK_PAGE: usize = 4096;

// SAFETY: the mapping is plain memory owned by this value (unmapped in `drop`); it is only
// written through `&mut self` (`write_at`), and the journal keeps it inside its state mutex.
// The one use without the lock, a leader's `SyncPages::run`, changes page-table entries of
// pages no append writes again, and reads ahead from the write position's page on (that first
// page is partly written, and may be written concurrently by an append under the lock:
// harmless, as MADV_POPULATE_READ only faults pages in); it never changes a byte.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Preallocates `file` to `len` bytes and maps all of them, shared and writable.
    #[cfg(target_os = "linux")]
    pub(super) fn new(file: &File, len: u64, path: &Path) -> Result<Self, JournalError> {
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        let off_len = libc::off_t::try_from(len).map_err(|_| {
            JournalError::io(
                "allocate",
                path,
                std::io::Error::from(std::io::ErrorKind::InvalidInput),
            )
        })?;
        // SAFETY: `fallocate` on a descriptor we own; no memory is passed. Mode 0 allocates
        // and extends the file to `len`, zero-filled.
        let rc = unsafe { libc::fallocate(fd, 0, 0, off_len) };
        if rc != 0 {
            return Err(JournalError::io(
                "allocate",
                path,
                std::io::Error::last_os_error(),
            ));
        }
        let len = usize::try_from(len).expect("a segment fits in the address space");
        // SAFETY: a new shared mapping of `len` bytes of a file we hold open, at an address the
        // kernel chooses; the file is `len` bytes long (allocated above), so every mapped page
        // is backed. The result is checked against MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(JournalError::io(
                "map",
                path,
                std::io::Error::last_os_error(),
            ));
        }
        // SAFETY: `sysconf` reads a system constant; no memory is passed.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let page = usize::try_from(page)
            .ok()
            .filter(|p| p.is_power_of_two())
            .unwrap_or(FALLBACK_PAGE);
        Ok(Mapping {
            ptr: ptr.cast(),
            len,
            released: 0,
            page,
        })
    }

    /// Mapping is Linux-only: elsewhere the option falls back to `write`.
    #[cfg(not(target_os = "linux"))]
    pub(super) fn new(_file: &File, _len: u64, path: &Path) -> Result<Self, JournalError> {
        Err(JournalError::io(
            "map",
            path,
            std::io::Error::from(std::io::ErrorKind::Unsupported),
        ))
    }

    /// The mapped length.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Copies `bytes` into the mapping at `offset`.
    ///
    /// # Panics
    ///
    /// If they do not fit (the caller checks first).
    pub(super) fn write_at(&mut self, offset: usize, bytes: &[u8]) {
        assert!(
            offset
                .checked_add(bytes.len())
                .is_some_and(|end| end <= self.len),
            "a write past the mapped segment"
        );
        // SAFETY: `offset + bytes.len() ≤ len` (asserted above), so the destination lies inside
        // the mapping, which stays mapped while `self` lives; `bytes` is a Rust slice and
        // cannot overlap memory only this value hands out; `&mut self` makes this the only
        // writer.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(offset), bytes.len());
        }
    }

    /// The paging work of a sync with `written` bytes appended so far: the whole pages from
    /// the last release up to `written`, counted released, and twice as many bytes after them
    /// as they span (within the read-ahead's bounds and the mapping); `None` when no whole
    /// page was completed since the last.
    pub(super) fn pages_at_sync(&mut self, written: usize) -> Option<SyncPages> {
        let page = self.page;
        let written_end = (written.min(self.len) / page) * page;
        if written_end <= self.released {
            return None;
        }
        let ahead = (2 * (written_end - self.released)).clamp(AHEAD_MIN, AHEAD_MAX);
        let ahead_end = written_end + ahead.min(self.len - written_end) / page * page;
        debug_assert!(self.released % page == 0 && ahead_end <= self.len);
        let pages = SyncPages {
            base: self.ptr,
            released: self.released,
            written_end,
            ahead_end,
        };
        self.released = written_end;
        Some(pages)
    }

    /// Unmaps, then cuts the file to `used` bytes (the preallocated zeros go).
    pub(super) fn seal(self, file: &File, used: u64, path: &Path) -> Result<(), JournalError> {
        drop(self);
        file.set_len(used)
            .map_err(|e| JournalError::io("truncate", path, e))
    }
}

impl SyncPages {
    /// Releases the written pages and reads ahead the next ones (see the essay above). Errors
    /// are ignored: both are optimisations, not duties.
    ///
    /// # Safety
    ///
    /// The mapping these pages came from must still be mapped (the journal keeps it while a
    /// leader, the only caller, does its I/O: a roll waits for it, and the journal's drop
    /// joins the syncer and runs with no append in flight before it unmaps), and
    /// no one may hold a reference into these pages (appends copy in and return).
    pub(super) unsafe fn run(self) {
        #[cfg(target_os = "linux")]
        // SAFETY: by the caller's contract, the mapping is live with no references into it;
        // both ranges lie inside it (`pages_at_sync`) and start and end on a page boundary
        // (the mapping starts on one, and the offsets are multiples of the kernel's page size,
        // `Mapping::page`), so the release covers only whole pages below the write position.
        // MADV_DONTNEED on a shared file mapping discards no data; MADV_POPULATE_READ only
        // faults pages in for reading (its first page is the write position's, partly written
        // and perhaps being written by an append: it changes no byte of it).
        unsafe {
            libc::madvise(
                self.base.add(self.released).cast(),
                self.written_end - self.released,
                libc::MADV_DONTNEED,
            );
            if self.ahead_end > self.written_end {
                libc::madvise(
                    self.base.add(self.written_end).cast(),
                    self.ahead_end - self.written_end,
                    libc::MADV_POPULATE_READ,
                );
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = self;
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        // SAFETY: `ptr`/`len` are exactly what `mmap` returned in `new`, unmapped once, here;
        // no reference into the mapping outlives `self` (`write_at` copies in and returns).
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping").field("len", &self.len).finish()
    }
}
