//! Commit-after-confirm: which source position may be committed, given out-of-order
//! confirmations from parallel workers.

/// Tracks the changes handed out and confirmed, by sequence number, and says up to where the
/// source may commit: the highest position whose every change (and every earlier one) has been
/// confirmed by every sink.
///
/// Sequence numbers are issued in order (0, 1, 2, ...); confirmations may come in any order,
/// since workers apply different keys in parallel.
///
/// ```
/// use mqsync::sync::Watermark;
///
/// let mut w = Watermark::new();
/// let (a, b, c) = (w.issue(), w.issue(), w.issue());
/// w.confirm(b);
/// assert_eq!(w.committable(), None); // `a` is still in flight
/// w.confirm(a);
/// assert_eq!(w.committable(), Some(b));
/// w.confirm(c);
/// assert_eq!(w.committable(), Some(c));
/// assert_eq!(w.in_flight(), 0);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Watermark {
    /// The first number not yet confirmed (everything below is confirmed).
    base: u64,
    /// Confirmation flags for `base..base + window.len()`, i.e. every number issued and not
    /// yet below `base`. The front is always unconfirmed (or the window is empty).
    window: std::collections::VecDeque<bool>,
    /// Issued and not yet confirmed.
    pending: usize,
}

impl Watermark {
    /// An empty tracker.
    pub fn new() -> Self {
        Watermark::default()
    }

    /// Issues the next sequence number.
    pub fn issue(&mut self) -> u64 {
        let seq = self.base + self.window.len() as u64;
        self.window.push_back(false);
        self.pending += 1;
        seq
    }

    /// Confirms `seq` (applied by every sink, or dead-lettered). Confirming twice, or a number
    /// never issued, is ignored. Amortized O(1).
    pub fn confirm(&mut self, seq: u64) {
        let Some(offset) = seq.checked_sub(self.base) else {
            return; // already below the watermark
        };
        let Some(flag) = usize::try_from(offset)
            .ok()
            .and_then(|o| self.window.get_mut(o))
        else {
            return; // never issued
        };
        if !*flag {
            *flag = true;
            self.pending -= 1;
        }
        while self.window.front() == Some(&true) {
            self.window.pop_front();
            self.base += 1;
        }
    }

    /// The highest sequence number below which everything is confirmed (inclusive), or `None`
    /// if nothing is.
    pub fn committable(&self) -> Option<u64> {
        self.base.checked_sub(1)
    }

    /// How many issued changes await confirmation.
    pub fn in_flight(&self) -> usize {
        self.pending
    }
}

#[cfg(test)]
mod tests {
    use super::Watermark;

    #[test]
    fn committable_never_passes_an_unconfirmed_change() {
        // Confirm in a scrambled order and check the invariant after each step.
        let mut w = Watermark::new();
        let seqs: Vec<u64> = (0..50).map(|_| w.issue()).collect();
        let mut order = seqs.clone();
        order.sort_by_key(|s| (s * 37) % 50);
        let mut confirmed = std::collections::BTreeSet::new();
        for s in order {
            w.confirm(s);
            confirmed.insert(s);
            if let Some(c) = w.committable() {
                assert!((0..=c).all(|x| confirmed.contains(&x)));
            }
            let expected = (0..50).take_while(|x| confirmed.contains(x)).last();
            assert_eq!(w.committable(), expected);
        }
        assert_eq!(w.committable(), Some(49));
        w.confirm(7); // repeated
        assert_eq!(w.committable(), Some(49));
    }
}
