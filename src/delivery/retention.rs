//! Retention for durable delivery queues: which journal segments no live message needs.
//
// Segments are deleted once no live message has its PUBLISH in them. Ids are counted
// in buckets of `BUCKET` consecutive ids. Each bucket has a *bound*: a position at or below the
// PUBLISH of every id from the bucket's first on (this bucket's and every later one's). The cut
// is the bound of the lowest bucket that still has a live id; segments entirely below it hold
// only settled messages and go (`Journal::remove_before`, which returns without the journal's
// lock when no segment is below the cut). Only settlements count, under the retention lock
// (`Durable::forget`, in durable.rs, holds it and does the steps below);
// a publish takes no lock of retention's except once per bucket, to store the bound:
//
//   [1] Every publish reads the journal's active segment base (`Journal::active_base`, an
//       Acquire load of a value a roll stores under the journal's lock; it changes once a
//       segment, so the read stays in the reader's cache) *before* it takes its id; the
//       publish whose id starts a bucket stores what it read as the bucket's bound.
//   [2] A bound is at or below the PUBLISH of every later id. Say publish P has a later id
//       than the starter S, but appended before the roll R whose base S read in [1]. Then
//       P's id fetch_add → P's journal lock → R's lock → R's Release store → S's Acquire
//       load → S's fetch_add is a happens-before chain, so P's fetch_add comes first in the
//       counter's modification order: P's id is the smaller. Contradiction; so P appended
//       after R, at or above the base S read. (The id counter itself can stay Relaxed.)
//   [3] A bucket is done when all `BUCKET` of its ids are settled (a publish that failed,
//       or panicked in its message's `encode`, counts as settled). The cut is the bound of
//       the first bucket not done; when its bound is not stored yet (its starter is between
//       [1] and the store), the cut waits.
//   [4] Nothing live: `Durable::forget` reads the active base (v), then the id counter (n); if the ids
//       settled so far are exactly the n taken, every id below n is settled, and every later
//       id's PUBLISH is at or above v (the argument of [2], with `forget`'s load of the counter
//       in S's place), so the cut is v. Every settlement counted was counted under the lock
//       `forget` holds, after its id was taken, so all of them are below n.
//   [5] `remove_before` never deletes the active segment, so a cut at or above the active
//       base has deleted all it can: until the next roll, `Durable::forget` stops there, reading
//       neither the id counter (which the publishers write) nor the journal's lock.
//
// After a restart, the recovered ids keep their buckets (a bucket's settled count includes
// the ids settled before the restart), and each bucket's bound is the lowest position of the
// recovered PUBLISHes from it on (ids are taken before the journal's lock, so a later bucket's
// PUBLISH can precede an earlier one's), or the journal's end at the open when there are none.
// A message that is never settled keeps its segment and every later one; a restart rewrites
// the live messages to the end of the log and deletes the rest, once the copies are synced
// (`durable::recover`).

use std::collections::VecDeque;

/// Consecutive ids counted together for retention.
pub(super) const BUCKET: u64 = 1024;

/// The settlement counts behind retention (see the protocol above).
///
/// Memory: the buckets are stored densely, one 16-byte [`Bucket`] per `BUCKET` (1,024) ids
/// from the oldest bucket not done to the bucket of the next id, done ones in between
/// included. One message that is never settled therefore keeps every later bucket: followed by
/// 10^10 more messages, about 10^7 buckets, 160 MB, until it is settled (a reopen keeps the
/// ids, so it rebuilds the same span: `recovered`).
pub(super) struct Retention {
    /// The bucket number (id / BUCKET) of `buckets[0]`: every bucket below it is done.
    base: u64,
    /// Buckets `base..base + len`; the first is not done, later ones may be (they stay until
    /// every bucket before them is done: see the memory bound above). A bucket past the end
    /// has no settlement and no bound yet.
    buckets: VecDeque<Bucket>,
    /// Ids settled (or never published: a failed publish, an id settled before a restart) in
    /// total since id 0.
    pub(super) settled: u64,
    /// The last cut handed to `remove_before` (lowered back when that call failed, so that a
    /// later settlement tries again).
    pub(super) cut: u64,
}

#[derive(Clone, Copy)]
struct Bucket {
    /// Its ids settled so far; `BUCKET` when done.
    settled: u64,
    /// A position at or below the PUBLISH of every id from the bucket's first on;
    /// `u64::MAX` until stored.
    bound: u64,
}

impl Bucket {
    const EMPTY: Bucket = Bucket {
        settled: 0,
        bound: u64::MAX,
    };
}

impl Retention {
    /// The bucket `number`, made if needed; `None` if it is done.
    fn bucket(&mut self, number: u64) -> Option<&mut Bucket> {
        let index = usize::try_from(number.checked_sub(self.base)?).ok()?;
        if index >= self.buckets.len() {
            self.buckets.resize(index + 1, Bucket::EMPTY);
        }
        debug_assert!(index < self.buckets.len());
        Some(&mut self.buckets[index])
    }

    /// Stores the bound of bucket `number` ([1]).
    pub(super) fn bound(&mut self, number: u64, bound: u64) {
        if let Some(bucket) = self.bucket(number) {
            bucket.bound = bucket.bound.min(bound);
        }
    }

    /// Counts id `id` settled; drops the buckets that are done from the front.
    pub(super) fn settle(&mut self, id: u64) {
        self.settled += 1;
        if let Some(bucket) = self.bucket(id / BUCKET) {
            bucket.settled += 1;
        }
        while self.buckets.front().is_some_and(|b| b.settled >= BUCKET) {
            self.buckets.pop_front();
            self.base += 1;
        }
    }

    /// The bound of the first bucket not done ([3]), if stored.
    pub(super) fn first_bound(&self) -> Option<u64> {
        self.buckets
            .front()
            .map(|b| b.bound)
            .filter(|&b| b != u64::MAX)
    }

    /// The counts of a reopened queue: its live messages as (id, position of the PUBLISH), ids
    /// ascending; the next id; the journal's end.
    pub(super) fn recovered(live: &[(u64, u64)], next_id: u64, end: u64) -> Retention {
        let base = live.first().map_or(next_id, |&(id, _)| id) / BUCKET;
        let last = next_id / BUCKET;
        // Lossless: one bucket per 1,024 ids below `next_id`, or one.
        let len = (last - base + 1) as usize;
        let mut buckets = vec![
            Bucket {
                settled: BUCKET,
                bound: u64::MAX,
            };
            len
        ];
        // The last bucket's ids from `next_id` on are not taken yet: only those below are settled.
        buckets[len - 1].settled = next_id % BUCKET;
        for &(id, position) in live {
            // Lossless: at most `len - 1`.
            let bucket = &mut buckets[(id / BUCKET - base) as usize];
            bucket.settled -= 1;
            bucket.bound = bucket.bound.min(position);
        }
        // Every bound covers the later buckets too, and the ids still to come (at or above `end`).
        let mut low = end;
        for bucket in buckets.iter_mut().rev() {
            low = low.min(bucket.bound);
            bucket.bound = low;
        }
        Retention {
            base,
            buckets: buckets.into(),
            settled: next_id - live.len() as u64,
            cut: 0,
        }
    }
}

#[cfg(all(test, not(mqsync_loom)))]
mod tests {
    use super::{Retention, BUCKET};

    #[test]
    fn recovered_buckets_count_the_settled_ids_and_bound_every_later_publish() {
        // Ids 3, 1500 and 2050 live; 1500's PUBLISH before 3's (ids are taken before the
        // journal's lock); the next id is 2100 and the journal ends at 100.
        let mut r = Retention::recovered(&[(3, 10), (1500, 5), (2050, 40)], 2100, 100);
        assert_eq!((r.base, r.buckets.len(), r.settled), (0, 3, 2097));
        let counts: Vec<(u64, u64)> = r.buckets.iter().map(|b| (b.settled, b.bound)).collect();
        assert_eq!(
            counts,
            [(BUCKET - 1, 5), (BUCKET - 1, 5), (2100 % BUCKET - 1, 40)]
        );
        // Settling 3 finishes bucket 0; the cut stays at 1500's PUBLISH.
        r.settle(3);
        assert_eq!((r.base, r.first_bound()), (1, Some(5)));
        r.settle(1500);
        assert_eq!((r.base, r.first_bound()), (2, Some(40)));
        // The ids to come in bucket 2 and the last live one.
        for id in 2100..2 * BUCKET + BUCKET {
            if id == 3 * BUCKET - 1 {
                // The starter of bucket 3 stores its bound before the last of bucket 2 settles.
                r.bound(3, 120);
            }
            r.settle(id);
        }
        assert_eq!((r.base, r.first_bound()), (2, Some(40)), "2050 is live");
        r.settle(2050);
        assert_eq!((r.base, r.first_bound()), (3, Some(120)));
        assert_eq!(r.settled, 3 * BUCKET);
    }

    #[test]
    fn an_empty_journal_starts_with_one_open_bucket() {
        let mut r = Retention::recovered(&[], 0, 0);
        assert_eq!((r.base, r.buckets.len(), r.settled), (0, 1, 0));
        assert_eq!(r.first_bound(), Some(0));
        // A settlement in a later bucket, before its starter stored a bound: it waits.
        for id in 0..BUCKET {
            r.settle(id);
        }
        r.settle(BUCKET + 5);
        assert_eq!((r.base, r.first_bound()), (1, None));
        r.bound(1, 77);
        assert_eq!(r.first_bound(), Some(77));
        // A bound for a bucket already done is ignored.
        r.bound(0, 1);
        assert_eq!(r.first_bound(), Some(77));
    }
}
