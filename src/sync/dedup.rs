//! A bounded, time-limited window of recently seen change ids, for changes without versions.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Remembers ids for `ttl`, at most `capacity` of them (the oldest are forgotten first).
///
/// An id seen again inside the window is a duplicate; after it, the id is new again — the
/// window bounds memory, so exactly-once for versionless changes holds only within it.
///
/// ```
/// use mqsync::sync::DedupWindow;
/// use std::time::Duration;
///
/// let mut w = DedupWindow::new(2, Duration::from_secs(60));
/// assert!(w.insert("a"));
/// assert!(!w.insert("a")); // duplicate
/// assert!(w.insert("b"));
/// assert!(w.insert("c")); // evicts "a"
/// assert!(w.insert("a"));
/// ```
#[derive(Debug)]
pub struct DedupWindow {
    seen: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
    capacity: usize,
    ttl: Duration,
}

impl DedupWindow {
    /// A window of at most `capacity` ids, each remembered for `ttl`.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        assert!(
            capacity > 0,
            "a dedup window needs a capacity of at least 1"
        );
        DedupWindow {
            seen: HashMap::new(),
            order: VecDeque::new(),
            capacity,
            ttl,
        }
    }

    /// Records `id`; true if it was not in the window (apply the change), false if it is a
    /// duplicate (skip it).
    pub fn insert(&mut self, id: &str) -> bool {
        let now = Instant::now();
        self.evict(now);
        if self.seen.contains_key(id) {
            return false;
        }
        if self.seen.len() == self.capacity {
            if let Some((_, oldest)) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        self.seen.insert(id.to_owned(), now);
        self.order.push_back((now, id.to_owned()));
        true
    }

    /// Ids currently remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// True if no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    fn evict(&mut self, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) < self.ttl {
                break;
            }
            if let Some((_, id)) = self.order.pop_front() {
                self.seen.remove(&id);
            }
        }
    }
}
