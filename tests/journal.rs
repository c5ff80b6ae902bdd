//! The journal: round trips under every flush policy, segments and retention, group commit
//! under concurrent appenders, the repair of a torn tail at every byte offset, damage reported
//! with its segment and offset, a full disk, the directory lock, and a child process killed
//! with SIGKILL at random moments.

use mqsync::journal::{FlushPolicy, Journal, JournalError, JournalOptions, Recovery};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod crash;
use crash::crash_copy;

fn policies() -> [FlushPolicy; 3] {
    [
        FlushPolicy::Never,
        FlushPolicy::Interval(Duration::from_millis(5)),
        FlushPolicy::EveryBatch,
    ]
}

fn record(i: u64) -> Vec<u8> {
    // Lengths vary from 0 to 299 bytes, contents depend on the position.
    let len = (i * 37 % 300) as usize;
    (0..len).map(|k| (i as usize + k) as u8).collect()
}

fn read_all(journal: &Journal, from: u64) -> Vec<(u64, Vec<u8>)> {
    journal
        .reader(from)
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.position, r.data)
        })
        .collect()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    out.sort();
    out
}

fn round_trip_and_reopen_under_every_policy_with(mapped: bool) {
    for policy in policies() {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions::default()
            .memory_mapped(mapped)
            .flush(policy);
        {
            let journal = Journal::open(dir.path(), options.clone()).unwrap();
            for i in 0..200 {
                assert_eq!(journal.append(&record(i)).unwrap(), i);
            }
            let range = journal.append_batch((200..300).map(record)).unwrap();
            assert_eq!(range, 200..300);
            assert_eq!(
                journal.append_batch(Vec::<Vec<u8>>::new()).unwrap(),
                300..300
            );
        }
        let journal = Journal::open(dir.path(), options).unwrap();
        assert_eq!(journal.end(), 300, "{policy:?} mapped {mapped}");
        let all = read_all(&journal, 0);
        assert_eq!(all.len(), 300);
        for (i, (position, data)) in all.into_iter().enumerate() {
            assert_eq!(position, i as u64);
            assert_eq!(
                data,
                record(i as u64),
                "{policy:?} mapped {mapped} record {i}"
            );
        }
        assert_eq!(read_all(&journal, 300), []);
        assert_eq!(read_all(&journal, 299)[0].0, 299);
        assert!(matches!(
            journal.reader(301),
            Err(JournalError::OutOfRange {
                position: 301,
                first: 0,
                end: 300
            })
        ));
        // Appends continue after the reopened tail.
        assert_eq!(journal.append(b"more").unwrap(), 300);
        assert_eq!(read_all(&journal, 300), [(300, b"more".to_vec())]);
    }
}

#[test]
fn round_trip_and_reopen_under_every_policy() {
    round_trip_and_reopen_under_every_policy_with(false);
    round_trip_and_reopen_under_every_policy_with(true);
}

fn segments_roll_and_retention_removes_whole_segments_with(mapped: bool) {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions::default()
        .memory_mapped(mapped)
        .segment_bytes(4096)
        .flush(FlushPolicy::Never);
    let journal = Journal::open(dir.path(), options.clone()).unwrap();
    for i in 0..1000 {
        journal.append(&record(i)).unwrap();
    }
    let files = segments(dir.path());
    assert!(files.len() > 10, "{} segments", files.len());
    // A reader started early follows the rolls.
    let all = read_all(&journal, 0);
    assert_eq!(all.len(), 1000);
    assert!(all.iter().all(|(p, d)| *d == record(*p)));

    let mut reader = journal.reader(0).unwrap();
    let removed = journal.remove_before(500).unwrap();
    assert!(removed > 0);
    let first = journal.first();
    assert!(first > 0 && first <= 500, "first {first}");
    assert_eq!(segments(dir.path()).len(), files.len() - removed);
    // Removing again below the same point removes nothing; the active segment always stays.
    assert_eq!(journal.remove_before(first).unwrap(), 0);
    assert!(matches!(
        journal.reader(first - 1),
        Err(JournalError::OutOfRange { .. })
    ));
    // The early reader reaches the removed segment: a clear error, then nothing.
    assert!(matches!(
        reader.next(),
        Some(Err(JournalError::OutOfRange { position: 0, .. }))
    ));
    assert!(reader.next().is_none());
    assert_eq!(read_all(&journal, 500).len(), 500);
    // Readers share the directory lock: it goes with the last of them and the journal.
    drop(journal);
    assert!(matches!(
        Journal::open(dir.path(), options.clone()),
        Err(JournalError::Locked { .. })
    ));
    drop(reader);

    // Reopened, the journal starts at the first kept segment.
    let journal = Journal::open(dir.path(), options).unwrap();
    assert_eq!(journal.first(), first);
    assert_eq!(journal.end(), 1000);
    let kept = read_all(&journal, first);
    assert_eq!(kept.len() as u64, 1000 - first);
    assert!(kept.iter().all(|(p, d)| *d == record(*p)));
    let before = segments(dir.path()).len();
    assert_eq!(journal.remove_before(u64::MAX).unwrap(), before - 1);
    assert_eq!(segments(dir.path()).len(), 1);
    assert_eq!(journal.end(), 1000);
}

#[test]
fn segments_roll_and_retention_removes_whole_segments() {
    segments_roll_and_retention_removes_whole_segments_with(false);
    segments_roll_and_retention_removes_whole_segments_with(true);
}

fn concurrent_appenders_get_distinct_positions_and_lose_nothing_with(mapped: bool) {
    const THREADS: u64 = 4;
    const EACH: u64 = if cfg!(miri) { 20 } else { 2000 };
    for policy in [FlushPolicy::EveryBatch, FlushPolicy::Never] {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions::default()
            .memory_mapped(mapped)
            .flush(policy)
            .segment_bytes(64 << 10);
        let journal = Arc::new(Journal::open(dir.path(), options.clone()).unwrap());
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let journal = Arc::clone(&journal);
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..EACH {
                        let data = format!("t{t}-{i}").into_bytes();
                        let position = if i % 3 == 0 {
                            journal.append_batch([&data]).unwrap().start
                        } else {
                            journal.append(&data).unwrap()
                        };
                        mine.push((position, data));
                    }
                    mine
                })
            })
            .collect();
        let mut acked: HashMap<u64, Vec<u8>> = HashMap::new();
        for handle in handles {
            for (position, data) in handle.join().unwrap() {
                assert!(
                    acked.insert(position, data).is_none(),
                    "position given twice"
                );
            }
        }
        assert_eq!(acked.len() as u64, THREADS * EACH);
        drop(journal);
        let journal = Journal::open(dir.path(), options).unwrap();
        let all = read_all(&journal, 0);
        assert_eq!(all.len() as u64, THREADS * EACH);
        // Each thread's records are in its own order, and every record is the acked one.
        let mut last_seen = HashMap::new();
        for (position, data) in all {
            assert_eq!(acked[&position], data);
            let text = String::from_utf8(data).unwrap();
            let (t, i) = text[1..].split_once('-').unwrap();
            let i: u64 = i.parse().unwrap();
            if let Some(prev) = last_seen.insert(t.to_string(), i) {
                assert!(prev < i, "thread {t}: {i} after {prev}");
            }
        }
    }
}

#[test]
fn concurrent_appenders_get_distinct_positions_and_lose_nothing() {
    concurrent_appenders_get_distinct_positions_and_lose_nothing_with(false);
    concurrent_appenders_get_distinct_positions_and_lose_nothing_with(true);
}

/// `append_with` (framed in place, in the thread's buffer) against `append` and
/// `append_batch` (framed from a slice): the same positions and the same bytes in every
/// segment file, in both write modes, across segment rolls.
fn append_with_writes_the_same_bytes_as_append_with(mapped: bool) {
    let options = JournalOptions::default()
        .memory_mapped(mapped)
        .segment_bytes(8192)
        .flush(FlushPolicy::Never);
    let (copied, in_place) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    {
        let a = Journal::open(copied.path(), options.clone()).unwrap();
        let b = Journal::open(in_place.path(), options.clone()).unwrap();
        for i in 0..300 {
            let payload = record(i);
            let position = if i % 3 == 0 {
                a.append_batch([&payload]).unwrap().start
            } else {
                a.append(&payload).unwrap()
            };
            assert_eq!(position, i);
            let position = b
                .append_with(|out| {
                    // Written in two parts, as a caller's header and payload would be.
                    let (head, tail) = payload.split_at(payload.len() / 2);
                    out.extend_from_slice(head);
                    out.extend_from_slice(tail);
                })
                .unwrap();
            assert_eq!(position, i);
            assert_eq!(a.end(), i + 1);
            assert_eq!(b.end(), i + 1);
        }
        assert_eq!(read_all(&a, 0), read_all(&b, 0));
    }
    let (a, b) = (segments(copied.path()), segments(in_place.path()));
    assert!(a.len() > 2, "rolled: {}", a.len());
    assert_eq!(a.len(), b.len());
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(a.file_name(), b.file_name());
        assert!(
            fs::read(a).unwrap() == fs::read(b).unwrap(),
            "{a:?} differs"
        );
    }
}

#[test]
fn append_with_writes_the_same_bytes_as_append() {
    append_with_writes_the_same_bytes_as_append_with(false);
    append_with_writes_the_same_bytes_as_append_with(true);
}

#[test]
fn append_with_refuses_a_large_record_and_survives_a_panicking_writer() {
    for mapped in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions::default()
            .memory_mapped(mapped)
            .max_record_bytes(16);
        let journal = Journal::open(dir.path(), options).unwrap();
        let err = journal.append_with(|out| out.extend_from_slice(&[1; 17]));
        assert!(matches!(
            err,
            Err(JournalError::RecordTooLarge { len: 17, max: 16 })
        ));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            journal.append_with(|out| {
                out.extend_from_slice(b"half");
                panic!("the writer failed");
            })
        }));
        assert!(panicked.is_err());
        // A writer that takes bytes away is refused before anything is appended.
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            journal.append_with(|out| out.clear())
        }));
        assert!(panicked.is_err());
        assert_eq!(journal.end(), 0);
        // An append from inside a writer gets a buffer of its own.
        let outer = journal
            .append_with(|out| {
                out.extend_from_slice(b"outer");
                journal
                    .append_with(|inner| inner.extend_from_slice(b"inner"))
                    .unwrap();
            })
            .unwrap();
        assert_eq!(outer, 1);
        let records: Vec<Vec<u8>> = read_all(&journal, 0).into_iter().map(|r| r.1).collect();
        assert_eq!(records, [b"inner".to_vec(), b"outer".to_vec()]);
    }
}

/// `active_base` and `end`, read before an append, are at or below its position, whoever else
/// appends and rolls meanwhile; `remove_before(active_base())` keeps the active segment.
#[test]
fn active_base_and_end_bound_every_later_append() {
    for mapped in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions::default()
            .memory_mapped(mapped)
            .segment_bytes(4096)
            .flush(FlushPolicy::Interval(Duration::from_millis(1)));
        let journal = Journal::open(dir.path(), options).unwrap();
        std::thread::scope(|s| {
            for t in 0..3u64 {
                let journal = &journal;
                s.spawn(move || {
                    for i in 0..500 {
                        let (base, end) = (journal.active_base(), journal.end());
                        let position = journal.append(&record(t * 1000 + i)).unwrap();
                        assert!(
                            base <= position && end <= position,
                            "{base} {end} {position}"
                        );
                        if i % 50 == 0 {
                            journal.remove_before(journal.active_base()).unwrap();
                        }
                    }
                });
            }
        });
        assert_eq!(journal.end(), 1500);
        let base = journal.active_base();
        journal.remove_before(base).unwrap();
        assert_eq!(journal.first(), base);
        assert_eq!(read_all(&journal, base).len() as u64, 1500 - base);
    }
}

/// A mapped journal syncing as it goes (each sync releases the pages it is done with) keeps
/// every record, in the file and through readers, and reopens whole.
#[test]
fn a_mapped_journal_keeps_every_record_across_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions::default()
        .memory_mapped(true)
        .segment_bytes(256 << 10)
        .flush(FlushPolicy::Interval(Duration::from_millis(1)));
    let expected: Vec<(u64, Vec<u8>)> = (0..5000).map(|i| (i, record(i))).collect();
    {
        let journal = Journal::open(dir.path(), options.clone()).unwrap();
        for (i, payload) in &expected {
            assert_eq!(journal.append(payload).unwrap(), *i);
            if i % 97 == 0 {
                journal.sync().unwrap();
            }
        }
        assert_eq!(read_all(&journal, 0), expected);
        assert!(segments(dir.path()).len() > 2);
    }
    let crashed = crash_copy(dir.path());
    let journal = Journal::open(crashed.path(), options).unwrap();
    assert_eq!(read_all(&journal, 0), expected);
}

#[test]
fn a_torn_tail_is_cut_at_every_byte_offset() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions::default().flush(FlushPolicy::Never);
    let journal = Journal::open(dir.path(), options.clone()).unwrap();
    for i in 0..10 {
        journal.append(&record(i)).unwrap();
    }
    let before_last = fs::metadata(&segments(dir.path())[0]).unwrap().len();
    journal.append(b"the last record, torn").unwrap();
    drop(journal);
    let seg = segments(dir.path())[0].clone();
    let full = fs::read(&seg).unwrap();
    for cut in before_last..full.len() as u64 {
        let copy = crash_copy(dir.path());
        let path = copy.path().join(seg.file_name().unwrap());
        fs::write(&path, &full[..cut as usize]).unwrap();
        let journal = Journal::open(copy.path(), options.clone()).unwrap();
        assert_eq!(journal.end(), 10, "cut at {cut}");
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            before_last,
            "cut at {cut}"
        );
        let all = read_all(&journal, 0);
        assert_eq!(all.len(), 10);
        assert!(all.iter().all(|(p, d)| *d == record(*p)));
        // And the log goes on from there.
        assert_eq!(journal.append(b"again").unwrap(), 10);
        assert_eq!(read_all(&journal, 10), [(10, b"again".to_vec())]);
    }
    // Zero bytes at the end (a file system that extended the file but lost the data), and a
    // last record whose content is damaged to the end of the file: both a torn tail.
    for damage in [vec![0u8; 100], {
        let mut last = full[before_last as usize..].to_vec();
        let n = last.len();
        last[n - 1] ^= 0xff;
        last
    }] {
        let copy = crash_copy(dir.path());
        let path = copy.path().join(seg.file_name().unwrap());
        let mut bytes = full[..before_last as usize].to_vec();
        bytes.extend_from_slice(&damage);
        fs::write(&path, &bytes).unwrap();
        let journal = Journal::open(copy.path(), options.clone()).unwrap();
        assert_eq!(journal.end(), 10);
        assert_eq!(read_all(&journal, 0).len(), 10);
    }
    // A torn segment creation (a header cut short): the segment is started again.
    let copy = crash_copy(dir.path());
    fs::write(copy.path().join("00000000000000000011.seg"), b"MQSJ").unwrap();
    let journal = Journal::open(copy.path(), options.clone()).unwrap();
    assert_eq!(journal.end(), 11);
    assert_eq!(read_all(&journal, 0).len(), 11);
}

#[test]
fn damage_before_the_end_is_an_error_naming_the_segment_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions::default().flush(FlushPolicy::Never);
    let journal = Journal::open(dir.path(), options.clone()).unwrap();
    for i in 0..20 {
        journal.append(&record(i)).unwrap();
    }
    drop(journal);
    let seg = segments(dir.path())[0].clone();
    let full = fs::read(&seg).unwrap();
    // Record 0 is empty (8 bytes at offset 16); damage a byte inside record 1's payload.
    let offset_of_1 = 16 + 8;
    let mut bytes = full.clone();
    bytes[offset_of_1 + 8 + 3] ^= 0x40;
    fs::write(&seg, &bytes).unwrap();
    match Journal::open(dir.path(), options.clone()) {
        Err(JournalError::Corrupt {
            segment,
            offset,
            reason,
        }) => {
            assert_eq!(segment, seg);
            assert_eq!(offset, offset_of_1 as u64);
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let message = Journal::open(dir.path(), options.clone())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("00000000000000000000.seg") && message.contains("byte 24"),
        "{message}"
    );

    // The opt-in quarantine keeps record 0, moves the rest aside, and opens.
    let options = options.recovery(Recovery::QuarantineDamagedTail);
    let journal = Journal::open(dir.path(), options).unwrap();
    assert_eq!(journal.end(), 1);
    assert_eq!(read_all(&journal, 0), [(0, record(0))]);
    let aside = dir.path().join("00000000000000000000.seg.damaged-24");
    assert_eq!(fs::read(aside).unwrap(), bytes[offset_of_1..]);
}

/// Review findings: a whole record above a smaller limit given at reopen is an error, not a torn
/// tail to cut; a damaged length whose frame runs past the end while whole records follow is
/// damage, not a torn tail.
#[test]
fn a_smaller_limit_or_a_damaged_length_never_cuts_records() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions::default().flush(FlushPolicy::EveryBatch);
    let journal = Journal::open(dir.path(), options.clone()).unwrap();
    journal.append(&[1; 10]).unwrap();
    journal.append(&[2; 1000]).unwrap();
    drop(journal);
    let seg = segments(dir.path())[0].clone();
    let before = fs::read(&seg).unwrap();
    match Journal::open(dir.path(), options.clone().max_record_bytes(100)) {
        Err(JournalError::Corrupt { offset, reason, .. }) => {
            assert_eq!(offset, 16 + 8 + 10);
            assert!(reason.contains("limit"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(fs::read(&seg).unwrap(), before, "the segment was changed");
    let journal = Journal::open(dir.path(), options.clone()).unwrap();
    assert_eq!(journal.end(), 2);
    journal.append(b"third").unwrap();
    drop(journal);

    // Record 1's length gets a high bit: its frame now runs past the end of the file.
    let mut bytes = fs::read(&seg).unwrap();
    bytes[16 + 8 + 10 + 2] ^= 0x80;
    fs::write(&seg, &bytes).unwrap();
    match Journal::open(dir.path(), options.clone()) {
        Err(JournalError::Corrupt { offset, reason, .. }) => {
            assert_eq!(offset, 16 + 8 + 10);
            assert!(reason.contains("damaged length"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(fs::read(&seg).unwrap(), bytes, "the segment was changed");

    // The last record's length gets its top bit: more than any append wrote, so damage even
    // though nothing follows it.
    let mut bytes = before.clone();
    let last = 16 + 8 + 10;
    bytes[last + 3] ^= 0x80;
    fs::write(&seg, &bytes).unwrap();
    assert!(matches!(
        Journal::open(dir.path(), options.clone()),
        Err(JournalError::Corrupt { offset, .. }) if offset == last as u64
    ));
    assert_eq!(fs::read(&seg).unwrap(), bytes, "the segment was changed");
}

#[test]
fn damage_in_an_earlier_segment_fails_the_reader_there() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions::default()
        .segment_bytes(4096)
        .flush(FlushPolicy::Never);
    let journal = Journal::open(dir.path(), options.clone()).unwrap();
    for i in 0..200 {
        journal.append(&record(i)).unwrap();
    }
    drop(journal);
    let first = segments(dir.path())[0].clone();
    let mut bytes = fs::read(&first).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 1;
    fs::write(&first, &bytes).unwrap();
    // Opening checks only the sealed segments' headers; the reader finds the damage.
    let journal = Journal::open(dir.path(), options).unwrap();
    let mut reader = journal.reader(0).unwrap();
    let mut good = 0;
    let err = loop {
        match reader.next() {
            Some(Ok(r)) => {
                assert_eq!(r.data, record(r.position));
                good += 1;
            }
            Some(Err(e)) => break e,
            None => panic!("damage not found"),
        }
    };
    assert!(good > 0);
    match err {
        JournalError::Corrupt { segment, .. } => assert_eq!(segment, first),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(reader.next().is_none());
}

#[test]
fn a_second_journal_on_one_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    assert!(matches!(
        Journal::open(dir.path(), JournalOptions::default()),
        Err(JournalError::Locked { .. })
    ));
    drop(journal);
    Journal::open(dir.path(), JournalOptions::default()).unwrap();
}

#[test]
fn a_path_that_cannot_be_a_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    fs::write(&file, b"x").unwrap();
    let err = Journal::open(file.join("journal"), JournalOptions::default()).unwrap_err();
    assert!(
        matches!(err, JournalError::Io { op: "create", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("plain-file"), "{err}");
}

/// A full disk: the next segment is a link to `/dev/full`, so the roll's header write fails
/// with ENOSPC. The append gets the error, the journal stops, and a reopen (with the link gone)
/// has every record whose append returned `Ok`.
#[cfg(target_os = "linux")]
fn a_full_disk_fails_the_append_and_loses_nothing_committed_with(mapped: bool) {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions::default()
        .memory_mapped(mapped)
        .segment_bytes(4096)
        .flush(FlushPolicy::EveryBatch);
    let journal = Journal::open(dir.path(), options.clone()).unwrap();
    let mut committed = 0;
    let mut failure = None;
    let mut planted = false;
    for i in 0..200 {
        if !planted && i == 20 {
            // Plant the full disk where the next roll will create its segment: every position
            // from here to 200 could start it, so plant them all.
            for base in 20..200u64 {
                std::os::unix::fs::symlink("/dev/full", dir.path().join(format!("{base:020}.seg")))
                    .unwrap();
            }
            planted = true;
        }
        match journal.append(&[i as u8; 100]) {
            Ok(position) => {
                assert_eq!(position, i);
                committed += 1;
            }
            Err(err) => {
                failure = Some(err);
                break;
            }
        }
    }
    let failure = failure.expect("the roll into /dev/full fails");
    assert!(
        matches!(&failure, JournalError::Io { op: "write", .. }),
        "{failure:?}"
    );
    assert!(failure.to_string().contains("No space left"), "{failure}");
    assert!(matches!(
        journal.append(b"x"),
        Err(JournalError::Stopped { .. })
    ));
    drop(journal);
    for entry in fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink()
        {
            fs::remove_file(path).unwrap();
        }
    }
    let journal = Journal::open(dir.path(), options).unwrap();
    let all = read_all(&journal, 0);
    assert!(all.len() >= committed, "{} < {committed}", all.len());
    for (position, data) in all {
        assert_eq!(data, vec![position as u8; 100]);
    }
}

#[test]
fn a_full_disk_fails_the_append_and_loses_nothing_committed() {
    a_full_disk_fails_the_append_and_loses_nothing_committed_with(false);
    a_full_disk_fails_the_append_and_loses_nothing_committed_with(true);
}

/// Mapped mode: a copy of the files taken while the journal is open (what a crash leaves: the
/// active segment preallocated, zeros after the last record) reopens with every record, in
/// either mode; records larger than a segment get a segment of their own size; a clean close
/// leaves no zeros behind.
#[test]
fn a_mapped_journal_reopens_from_its_preallocated_segment() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions::default()
        .segment_bytes(8192)
        .flush(FlushPolicy::Never)
        .memory_mapped(true);
    let journal = Journal::open(dir.path(), options.clone()).unwrap();
    let big = vec![0xab; 20_000];
    for i in 0..300 {
        journal.append(&record(i)).unwrap();
    }
    assert_eq!(journal.append(&big).unwrap(), 300);
    journal.append(b"after").unwrap();
    let crashed = crash_copy(dir.path());
    if options.is_memory_mapped() {
        let last = segments(crashed.path()).pop().unwrap();
        assert_eq!(
            fs::metadata(&last).unwrap().len(),
            8192,
            "the active segment is preallocated"
        );
    }
    for mapped in [false, true] {
        let copy = crash_copy(crashed.path());
        let reopened = Journal::open(copy.path(), options.clone().memory_mapped(mapped)).unwrap();
        assert_eq!(reopened.end(), 302, "mapped {mapped}");
        let all = read_all(&reopened, 0);
        assert!(all[..300].iter().all(|(p, d)| *d == record(*p)));
        assert_eq!(all[300].1, big);
        assert_eq!(all[301].1, b"after");
        assert_eq!(reopened.append(b"more").unwrap(), 302);
    }
    // The last copy cut short (kill -9 in the middle of the memcpy, or part of its pages lost
    // with the power): its tail, or its length word, still zero. A torn tail, not damage.
    if options.is_memory_mapped() {
        let last = segments(crashed.path()).pop().unwrap();
        let bytes = fs::read(&last).unwrap();
        let data_end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
        let record_start = data_end - (8 + b"after".len());
        for damage in [data_end - 2..data_end, record_start..record_start + 4] {
            let copy = crash_copy(crashed.path());
            let path = copy.path().join(last.file_name().unwrap());
            let mut torn = bytes.clone();
            torn[damage.clone()].fill(0);
            fs::write(&path, &torn).unwrap();
            let reopened = Journal::open(copy.path(), options.clone()).unwrap();
            assert_eq!(reopened.end(), 301, "{damage:?}");
            assert_eq!(read_all(&reopened, 300)[0].1, big);
        }
    }
    drop(journal);
    let last = segments(dir.path()).pop().unwrap();
    let len = fs::metadata(&last).unwrap().len();
    assert!(len < 8192, "a closed segment keeps no zeros ({len} bytes)");
}

/// The child side of the crash test: appends until killed, printing each acknowledged
/// position. Runs only when the parent starts it (`--ignored` plus the environment variable).
#[test]
#[ignore = "the crash test's child process; the parent test runs it"]
fn crash_child() {
    use std::io::Write;
    let Ok(dir) = std::env::var("MQSYNC_JOURNAL_CRASH_DIR") else {
        return;
    };
    let policy = match std::env::var("MQSYNC_JOURNAL_CRASH_POLICY").as_deref() {
        Ok("never") => FlushPolicy::Never,
        _ => FlushPolicy::EveryBatch,
    };
    let mapped = std::env::var("MQSYNC_JOURNAL_CRASH_MAPPED").is_ok_and(|v| v == "1");
    let options = JournalOptions::default()
        .segment_bytes(16 << 10)
        .flush(policy)
        .memory_mapped(mapped);
    let journal = Arc::new(Journal::open(&dir, options).unwrap());
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let journal = Arc::clone(&journal);
            let out = Arc::clone(&out);
            std::thread::spawn(move || {
                for i in 0.. {
                    let data = format!("t{t}-{i}-{}", "x".repeat(i % 50));
                    let position = journal.append(data.as_bytes()).unwrap();
                    let mut out = out.lock().unwrap();
                    writeln!(out, "ack {position} {data}").unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Kills a child that appends from three threads with SIGKILL at random moments, five times
/// per policy, and checks after each kill that every acknowledged record is in the log with
/// its bytes, and that the log holds nothing else than whole records.
#[cfg(unix)]
#[test]
fn a_killed_process_loses_no_acknowledged_record() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    for (policy, mapped) in [
        ("every-batch", false),
        ("never", false),
        ("every-batch", true),
        ("never", true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut acked: HashMap<u64, String> = HashMap::new();
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        for round in 0..5 {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "crash_child",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("MQSYNC_JOURNAL_CRASH_DIR", dir.path())
                .env("MQSYNC_JOURNAL_CRASH_POLICY", policy)
                .env(
                    "MQSYNC_JOURNAL_CRASH_MAPPED",
                    if mapped { "1" } else { "0" },
                )
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            let reader = std::thread::spawn(move || {
                let mut lines = Vec::new();
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line.strip_prefix("ack ") {
                        let (position, data) = rest.split_once(' ').unwrap();
                        lines.push((position.parse::<u64>().unwrap(), data.to_string()));
                    }
                }
                lines
            });
            std::thread::sleep(Duration::from_millis(rng.u64(30..150)));
            child.kill().unwrap();
            child.wait().unwrap();
            for (position, data) in reader.join().unwrap() {
                assert!(
                    acked.insert(position, data).is_none(),
                    "position {position} acked twice"
                );
            }
            let journal = Journal::open(dir.path(), JournalOptions::default())
                .unwrap_or_else(|e| panic!("{policy}, round {round}: reopen: {e}"));
            let all = read_all(&journal, 0);
            assert_eq!(all.len() as u64, journal.end());
            for (position, data) in &all {
                let text = std::str::from_utf8(data).unwrap();
                assert!(text.starts_with('t'), "garbage record at {position}");
                if let Some(expected) = acked.get(position) {
                    assert_eq!(
                        text, expected,
                        "{policy}, round {round}, position {position}"
                    );
                }
            }
            let missing = acked.keys().filter(|&&p| p >= journal.end()).count();
            assert_eq!(
                missing, 0,
                "{policy}, round {round}: acknowledged records lost"
            );
        }
        assert!(
            acked.len() > 100,
            "{policy}: only {} appends acknowledged",
            acked.len()
        );
    }
}

/// The sync engine over a `JournalSource`: every change reaches the replica with its journal
/// position; a second run from a later position applies only what follows; with retention
/// off, commits delete the committed segments.
#[cfg(feature = "sync")]
#[test]
fn the_sync_engine_reads_changes_from_a_journal() {
    use mqsync::sync::{Change, DataSync, JournalSource, Replica, Source};
    use serde_json::json;

    const KEYS: u64 = 50;
    const CHANGES: u64 = 3000;
    let dir = tempfile::tempdir().unwrap();
    let journal = Arc::new(
        Journal::open(
            dir.path(),
            JournalOptions::default()
                .segment_bytes(8192)
                .flush(FlushPolicy::Never),
        )
        .unwrap(),
    );
    let changes: Vec<Change> = (0..CHANGES)
        .map(|i| Change::upsert(format!("k{}", i % KEYS), 1 + i / KEYS, json!({ "i": i })))
        .collect();
    for chunk in changes.chunks(100) {
        JournalSource::append(&journal, chunk).unwrap();
    }
    let segments_before = segments(dir.path()).len();
    assert!(segments_before > 5);

    let replica = Arc::new(Replica::new());
    let source = JournalSource::new("journal", Arc::clone(&journal), 0)
        .unwrap()
        .retain_committed(false);
    let engine = DataSync::builder()
        .source(source)
        .sink(replica.clone())
        .workers(2)
        .batch_size(64)
        .start()
        .unwrap();
    assert!(engine.wait_idle(Duration::from_secs(30)));
    let report = engine.shutdown();
    assert_eq!(report.metrics.applied, CHANGES, "{report:?}");
    assert_eq!(report.metrics.dead_lettered, 0);
    assert_eq!(report.metrics.committed, CHANGES);
    for k in 0..KEYS {
        let last = CHANGES - KEYS + k;
        assert_eq!(replica.get(&format!("k{k}")), Some(json!({ "i": last })));
    }
    // Commits removed the segments below the committed position (not the active one).
    assert!(journal.first() > 0);
    assert!(segments(dir.path()).len() < segments_before);

    // Positions are the journal's; a source from the first kept position reads on from there.
    let mut again = JournalSource::new("journal", Arc::clone(&journal), journal.first()).unwrap();
    let pulled = again.pull(5).unwrap();
    assert_eq!(pulled[0].position, Some(journal.first()));
    assert_eq!(pulled[0].key, changes[journal.first() as usize].key);

    // A record that is not a change: the changes before it come first, then the pull fails
    // with its position, on every later pull too (never read past).
    let from = journal.end();
    JournalSource::append(&journal, &changes[..2]).unwrap();
    let bad = journal.append(b"not json").unwrap();
    JournalSource::append(&journal, &changes[2..3]).unwrap();
    let mut tail = JournalSource::new("journal", Arc::clone(&journal), from).unwrap();
    let pulled = tail.pull(10).unwrap();
    assert_eq!(pulled.len(), 2);
    for _ in 0..3 {
        let err = tail.pull(10).unwrap_err();
        assert!(err.to_string().contains(&format!("record {bad}")), "{err}");
    }
    assert_eq!(tail.position(), bad);
    // A reader may start at the end while appends go on.
    assert!(journal.reader(journal.end()).unwrap().next().is_none());
}
