//! The close protocol of a [`DeliveryQueue`](super::DeliveryQueue): which publishes a close
//! lets in, and when a closed queue is drained.
//
// Protocol.
//
// One word, `publishes`, holds the closed flag in bit 0 and, above it, the number of publishes
// that have started. A publish starts with one `fetch_add(2)` on it — the claim — and the value
// it gets back decides its fate: flag clear, the publish is *accepted* and goes on to push into
// its lane; flag set, it is refused with `PublishError::Closed` before touching anything else.
// `close` sets the flag with one `fetch_or(1)`; the count in the value it gets back is exactly
// the number of publishes accepted before the close, `accepted_at_close`, which it then stores
// for the drained check. Because the claim and the close are read-modify-writes of the same
// word, they are totally ordered: every publish is either counted in `accepted_at_close` or sees
// the flag. There is no window in which a publish checks "open", a close happens, and the push
// lands unseen — the check-then-act that used to strand a message (issue 13) cannot occur,
// because the check *is* the claim.
//
// Drained. A closed queue is drained when every accepted message has reached its end:
// acknowledged, dead-lettered (rejected, delivery limit, expired), or never entered a lane
// because its bounded lane was full (`refused_full`, counted only for accepted claims: after the
// close nothing reaches the lane check). All three are monotone counters, so
//
//     drained  ⇔  closed  ∧  acked + dead_lettered + refused_full = accepted_at_close
//
// and the check reads no lane and no in-flight count. Reading the three counters one after
// another is still exact: each only grows and their sum never exceeds `accepted_at_close`, so
// if the sum of the values read equals it, the true sum did at the last read, and stays there.
// A message in a lane, in a publisher's hands between claim and push, held by a consumer, or
// being requeued is not at its end, so the sum is short of `accepted_at_close` and consumers are
// told `Empty`, never `Closed`, while it exists.
//
// The hot paths (every receive that finds nothing, every ack) ask "drained?" first through
// `accepted_at_close`, a word written once, not through the claim word that every publish
// writes: reading that one would move its cache line to the consumer on every empty poll.
//
// Who wakes the waiters: `close` (after storing `accepted_at_close`), and whoever moves the
// sum — an ack, a dead letter, a full refusal — checks `is_drained` afterwards and wakes every
// waiting consumer when it holds, so the last settlement after a close releases them all.
//
// Each of them writes one word and then reads the others: the store-buffering pattern. With
// Release increments and Acquire loads, two settlements that race to be the last (an ack and a
// full refusal, say) may each read the other's counter from before its increment, both find the
// sum one short, and neither wake anyone: consumers already asleep then sleep on a drained
// queue (miri found this interleaving). So every write of the check's words (the three counters
// and `accepted_at_close`) and every read of them in the check is SeqCst: all of them lie in
// one total order, the later of two racing settlements reads the earlier one's write, and it
// wakes the waiters. On x86 this costs nothing (the increments are locked RMWs either way and
// SeqCst loads are plain loads); only `close`'s one store becomes an exchange.
//
// Cost: the claim replaces the closed-flag load and the `published` counter increment of the
// old publish path, so a publish still pays one read-modify-write beyond its lane's push.

use crate::primitive::sync::atomic::{AtomicU64, Ordering};
use crossbeam_utils::CachePadded;

/// The closed flag in [`Closing::publishes`].
const CLOSED: u64 = 1;
/// One started publish in [`Closing::publishes`].
const ONE_PUBLISH: u64 = 2;
/// `accepted_at_close` before a close has stored it.
const OPEN: u64 = u64::MAX;

/// The closed flag and publish counts of one delivery queue.
#[derive(Debug)]
pub(super) struct Closing {
    /// Bit 0: closed. Bits 1..: publishes started (accepted or refused). Written by every
    /// publish (`fetch_add`) and by `close` (`fetch_or`); only ever grows.
    publishes: CachePadded<AtomicU64>,
    /// The number of publishes accepted before the close; `OPEN` until the first `close` has
    /// stored it (a reader that sees `OPEN` treats the queue as not yet drained). Written once,
    /// so the drained check that every empty receive and every ack makes reads a line nobody
    /// writes; `CachePadded` keeps it off the claim word's line and the counters'.
    accepted_at_close: CachePadded<AtomicU64>,
    /// Accepted publishes whose bounded lane was full: they never entered the queue.
    refused_full: CachePadded<AtomicU64>,
}

impl Default for Closing {
    fn default() -> Self {
        Closing {
            publishes: CachePadded::new(AtomicU64::new(0)),
            accepted_at_close: CachePadded::new(AtomicU64::new(OPEN)),
            refused_full: CachePadded::new(AtomicU64::new(0)),
        }
    }
}

impl Closing {
    /// The claim of one publish: true if it is accepted (the queue was open), false if the
    /// queue is closed and the publish must be refused.
    #[inline]
    pub(super) fn claim_publish(&self) -> bool {
        // Relaxed: the claim and `close` are RMWs of this one word, so their order is the word's
        // modification order whatever the ordering; nothing else is published through it (the
        // drained check learns of the message through the settlement counters, which are
        // Release/Acquire).
        self.publishes.fetch_add(ONE_PUBLISH, Ordering::Relaxed) & CLOSED == 0
    }

    /// Counts `n` messages recovered from a durable queue's journal as accepted publishes, before
    /// the queue is shared (so before any close).
    #[cfg(feature = "journal")]
    pub(super) fn count_recovered(&self, n: u64) {
        // Relaxed: the queue is not shared yet; sharing it (an `Arc` handed to another thread)
        // publishes this.
        self.publishes.fetch_add(n * ONE_PUBLISH, Ordering::Relaxed);
    }

    /// An accepted publish found its bounded lane full (or its journal refused it, or it
    /// panicked before its message reached a lane): it will never be settled.
    pub(super) fn refused_full(&self) {
        // SeqCst: pairs with the SeqCst load in `settled_all` (see "Who wakes the waiters").
        self.refused_full.fetch_add(1, Ordering::SeqCst);
    }

    /// Closes; true for the first call. Publishes claimed from now on are refused.
    pub(super) fn close(&self) -> bool {
        // Relaxed: ordered against claims by the word's modification order (see `claim_publish`).
        let before = self.publishes.fetch_or(CLOSED, Ordering::Relaxed);
        if before & CLOSED != 0 {
            return false;
        }
        // SeqCst: pairs with the SeqCst load in `accepted_at_close` (see "Who wakes the
        // waiters"); the count is final.
        self.accepted_at_close
            .store(before / ONE_PUBLISH, Ordering::SeqCst);
        true
    }

    /// True once `close` has run (its flag may be visible a moment before `accepted_at_close`).
    pub(super) fn is_closed(&self) -> bool {
        // Acquire: a reader that sees the flag also sees what the closer did before closing.
        self.publishes.load(Ordering::Acquire) & CLOSED != 0
    }

    /// The number of publishes accepted before the close, once `close` has stored it; `None`
    /// while the queue is open (and for a moment after the flag is set). This is the fast
    /// check of the hot paths: the word is written once, so reading it costs no cache-line
    /// transfer, unlike the claim word every publish writes.
    #[inline]
    pub(super) fn accepted_at_close(&self) -> Option<u64> {
        // SeqCst: pairs with the SeqCst store in `close` (see "Who wakes the waiters").
        match self.accepted_at_close.load(Ordering::SeqCst) {
            OPEN => None,
            accepted => Some(accepted),
        }
    }

    /// True when `settled` (acks plus dead letters, read with Acquire by the caller) and the
    /// full refusals account for every one of the `accepted` publishes.
    pub(super) fn settled_all(&self, accepted: u64, settled: u64) -> bool {
        // SeqCst: pairs with the SeqCst increment in `refused_full` (see "Who wakes the waiters").
        settled + self.refused_full.load(Ordering::SeqCst) == accepted
    }

    /// Messages accepted by `publish` and not refused as full: the accepted claims (only those
    /// before the close, once it is known), less the full refusals. Includes publishes still on
    /// their way into a lane.
    pub(super) fn published(&self) -> u64 {
        // Relaxed: a reading for statistics.
        let started = self.publishes.load(Ordering::Relaxed) / ONE_PUBLISH;
        let accepted = match self.accepted_at_close.load(Ordering::Relaxed) {
            OPEN => started,
            at_close => at_close,
        };
        accepted.saturating_sub(self.refused_full.load(Ordering::Relaxed))
    }
}

#[cfg(all(test, not(mqsync_loom)))]
mod tests {
    use super::Closing;

    #[test]
    fn close_counts_the_claims_before_it_and_refuses_the_rest() {
        let c = Closing::default();
        assert!(c.claim_publish() && c.claim_publish() && c.claim_publish());
        c.refused_full();
        assert_eq!(c.published(), 2);
        assert_eq!(c.accepted_at_close(), None, "open: never drained");
        assert!(c.close());
        assert!(!c.close(), "the second close changes nothing");
        assert!(c.is_closed());
        assert!(!c.claim_publish(), "refused after the close");
        assert_eq!(c.published(), 2, "refused claims are not published");
        assert_eq!(
            c.accepted_at_close(),
            Some(3),
            "three claims came before the close"
        );
        assert!(!c.settled_all(3, 1));
        assert!(c.settled_all(3, 2), "two settled and one refused as full");
    }
}
