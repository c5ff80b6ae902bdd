//! What a crash leaves on disk, for the tests of the journal and of the durable queue.
//!
//! Shared by the integration tests as `mod crash;` (a folder, so that cargo does not build it
//! as a test of its own).

use std::fs;
use std::path::Path;

/// What a `kill -9` at this moment would leave of the directory `dir`: a copy of its files in
/// a fresh temporary directory. Everything written is in them, as in the page cache a killed
/// process leaves behind; a journal still open on `dir` keeps its directory lock (the copied
/// `LOCK` is a plain empty file), and whatever it has not settled stays unsettled in the copy.
pub fn crash_copy(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    copy
}
