#![cfg(mqsync_loom)]
//! loom models of the sync engine's protocols, built from the same parts the engine uses: the
//! reader → worker handoff over an SPSC ring, and commit-after-confirm through an `MsQueue` of
//! confirmations and a `Watermark`.
//!
//! Run with `.ci/loom --test sync`.

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use mqsync::handoff::spsc;
use mqsync::sync::Watermark;
use mqsync::MsQueue;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

#[test]
fn commit_never_passes_an_unapplied_change() {
    model(|| {
        let applied: Arc<[AtomicBool; 2]> = Arc::new(Default::default());
        let confirms = Arc::new(MsQueue::new());
        let mut marks = Watermark::new();
        let (first, second) = (marks.issue(), marks.issue());
        // A worker applies and confirms out of order (second, then first).
        let worker = {
            let (applied, confirms) = (applied.clone(), confirms.clone());
            thread::spawn(move || {
                for seq in [second, first] {
                    // Release: the apply happens before the confirmation is seen.
                    applied[seq as usize].store(true, Ordering::Release);
                    confirms.push(seq);
                }
            })
        };
        // The reader settles while it runs, and once more after.
        let settle = |marks: &mut Watermark| {
            while let Some(seq) = confirms.pop() {
                marks.confirm(seq);
            }
            if let Some(through) = marks.committable() {
                for seq in 0..=through {
                    assert!(
                        applied[seq as usize].load(Ordering::Acquire),
                        "committed past {seq}"
                    );
                }
            }
        };
        settle(&mut marks);
        worker.join().unwrap();
        settle(&mut marks);
        assert_eq!(marks.committable(), Some(second));
    });
}

#[test]
fn handoff_to_a_worker_and_back_loses_nothing_at_shutdown() {
    model(|| {
        let (mut to_worker, mut from_reader) = spsc::<u64>(2);
        let confirms = Arc::new(MsQueue::new());
        let worker = {
            let confirms = confirms.clone();
            thread::spawn(move || {
                // Drain until the reader closes the ring (shutdown), as engine workers do.
                while let Ok(seq) = from_reader.pop_blocking() {
                    confirms.push(seq);
                }
            })
        };
        let mut marks = Watermark::new();
        for _ in 0..2 {
            let seq = marks.issue();
            to_worker.push(seq).unwrap();
        }
        drop(to_worker); // shutdown: close the ring
        worker.join().unwrap();
        while let Some(seq) = confirms.pop() {
            marks.confirm(seq);
        }
        assert_eq!(marks.in_flight(), 0);
        assert_eq!(marks.committable(), Some(1));
    });
}
