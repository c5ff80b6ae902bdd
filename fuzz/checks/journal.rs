//! A journal segment of arbitrary bytes: opening it (both recovery modes) and reading it back
//! never panics; it opens, or fails with `Corrupt` naming the segment (with quarantine, only for
//! a damaged header or a whole record above the limit); whatever opens reads back whole records to its end; opening again finds
//! the same end (the repair is idempotent); and an append after the repair reads back.
//!
//! Input layout: byte 0 picks the form (`selector % 3`): 0 the bytes are the whole segment
//! file; 1 a valid header, then the bytes; 2 a valid header, one valid record, then the bytes
//! (damage after a good record). The segment is the journal's only one, based at 0.
//!
//! `cargo +nightly fuzz run journal`

use mqsync::journal::{FlushPolicy, Journal, JournalError, JournalOptions, Recovery};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh directory per input, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("mqsync-fuzz-journal-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const SEGMENT: &str = "00000000000000000000.seg";

fn header() -> Vec<u8> {
    let mut out = b"MQSJRNL1".to_vec();
    out.extend_from_slice(&0u64.to_le_bytes());
    out
}

fn valid_record(payload: &[u8]) -> Vec<u8> {
    // Written by a journal, so the frame is the real one.
    let scratch = Scratch::new();
    let journal = Journal::open(&scratch.0, options(Recovery::Strict)).expect("a fresh journal");
    journal.append(payload).expect("an append");
    drop(journal);
    std::fs::read(scratch.0.join(SEGMENT)).expect("the segment")[16..].to_vec()
}

fn options(recovery: Recovery) -> JournalOptions {
    JournalOptions::default()
        .flush(FlushPolicy::Never)
        .max_record_bytes(1 << 16)
        .recovery(recovery)
}

/// Checks the property on one input; panics where it does not hold.
pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let file = match selector % 3 {
        0 => rest.to_vec(),
        1 => [header(), rest.to_vec()].concat(),
        _ => [header(), valid_record(b"good"), rest.to_vec()].concat(),
    };
    for recovery in [Recovery::Strict, Recovery::QuarantineDamagedTail] {
        let scratch = Scratch::new();
        std::fs::write(scratch.0.join(SEGMENT), &file).expect("write the segment");
        let journal = match Journal::open(&scratch.0, options(recovery)) {
            Ok(journal) => journal,
            Err(JournalError::Corrupt {
                segment,
                offset,
                reason,
            }) => {
                // Quarantine repairs damaged records, not a damaged header, nor a whole record
                // above the record limit (a setting to fix, not damage).
                assert!(
                    recovery == Recovery::Strict || offset == 0 || reason.contains("record limit"),
                    "quarantine refused damage at {offset}: {reason}"
                );
                assert!(segment.ends_with(SEGMENT));
                continue;
            }
            Err(other) => panic!("unexpected error: {other}"),
        };
        let end = journal.end();
        let mut count = 0;
        for record in journal.reader(0).expect("a reader from 0") {
            let record = record.expect("an opened last segment reads back whole");
            assert_eq!(record.position, count);
            count += 1;
        }
        assert_eq!(count, end);
        if selector % 3 == 2 && recovery == Recovery::QuarantineDamagedTail {
            assert!(end >= 1, "the good record was lost");
        }
        drop(journal);
        // Idempotent: the repaired segment opens to the same end, strictly.
        let journal = Journal::open(&scratch.0, options(Recovery::Strict)).expect("reopen");
        assert_eq!(journal.end(), end);
        assert_eq!(journal.append(b"after").expect("append after repair"), end);
        let last = journal
            .reader(end)
            .expect("reader")
            .next()
            .expect("one")
            .expect("whole");
        assert_eq!(last.data, b"after");
    }
}
