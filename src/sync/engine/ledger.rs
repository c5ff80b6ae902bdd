//! [`Ledger`]: batch-granular commit-after-confirm, the reader's record of each source's pulls.

use std::collections::VecDeque;

/// The reader's record of one source's pulls, a ticket per pull: which changes are still in
/// flight, and up to which change number the source may be committed.
///
/// Batch-granular commit-after-confirm ([`Watermark`](crate::sync::Watermark) does the same per
/// change): workers confirm whole parcels, `count` changes of one ticket at a time, in any
/// order; a pull is done once all its changes are confirmed, and the source may be committed
/// through the last change of the last pull before which every pull is done. So a commit never
/// passes an unconfirmed change, and lands on pull boundaries.
#[derive(Debug, Default, Clone)]
pub(super) struct Ledger {
    /// The ticket of `pulls[0]`.
    first_ticket: u64,
    /// Per pull not yet done (and not yet below the commit point), oldest first: one past its
    /// last change number, and how many of its changes are unconfirmed. The front is never done.
    pulls: VecDeque<Pull>,
    /// One past the last change number issued.
    next_seq: u64,
    /// One past the last change number every earlier one of which is confirmed.
    done_through: u64,
    /// Issued and not yet confirmed.
    in_flight: usize,
}

#[derive(Debug, Clone)]
struct Pull {
    end: u64,
    unconfirmed: usize,
}

impl Ledger {
    /// Numbers a pull of `count` changes (at least 1) and returns its ticket.
    pub(super) fn issue(&mut self, count: usize) -> u64 {
        debug_assert!(count > 0);
        self.next_seq += count as u64;
        self.in_flight += count;
        self.pulls.push_back(Pull {
            end: self.next_seq,
            unconfirmed: count,
        });
        self.first_ticket + self.pulls.len() as u64 - 1
    }

    /// Confirms `count` changes of the pull `ticket` (applied by every sink, or dead-lettered).
    pub(super) fn confirm(&mut self, ticket: u64, count: usize) {
        let Some(pull) = ticket
            .checked_sub(self.first_ticket)
            .and_then(|offset| usize::try_from(offset).ok())
            .and_then(|offset| self.pulls.get_mut(offset))
        else {
            debug_assert!(false, "confirmation of unknown ticket {ticket}");
            return;
        };
        debug_assert!(count <= pull.unconfirmed);
        let count = count.min(pull.unconfirmed);
        pull.unconfirmed -= count;
        self.in_flight -= count;
        while self.pulls.front().is_some_and(|pull| pull.unconfirmed == 0) {
            if let Some(pull) = self.pulls.pop_front() {
                self.done_through = pull.end;
                self.first_ticket += 1;
            }
        }
    }

    /// The highest change number through which everything is confirmed, or `None`.
    pub(super) fn committable(&self) -> Option<u64> {
        self.done_through.checked_sub(1)
    }

    /// Changes issued and not yet confirmed.
    pub(super) fn in_flight(&self) -> usize {
        self.in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::Ledger;

    #[test]
    fn ledger_commits_only_past_whole_pulls_confirmed_in_any_order() {
        let mut ledger = Ledger::default();
        let a = ledger.issue(3); // changes 0..3
        let b = ledger.issue(2); // 3..5
        let c = ledger.issue(4); // 5..9
        assert_eq!((ledger.in_flight(), ledger.committable()), (9, None));
        ledger.confirm(b, 2);
        ledger.confirm(a, 1);
        assert_eq!(ledger.committable(), None, "pull a is not done");
        ledger.confirm(c, 4);
        ledger.confirm(a, 2);
        assert_eq!((ledger.in_flight(), ledger.committable()), (0, Some(8)));
        let d = ledger.issue(1);
        assert_eq!(ledger.committable(), Some(8));
        ledger.confirm(d, 1);
        assert_eq!(ledger.committable(), Some(9));
    }
}
