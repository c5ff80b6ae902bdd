//! [`MsQueue`]: an unbounded lock-free MPMC FIFO.
//!
//! The link level is Michael & Scott's queue (*Simple, Fast, and Practical Non-Blocking and
//! Blocking Concurrent Queue Algorithms*, PODC 1996): a singly linked list with a `head` and a
//! `tail` pointer, both advanced by compare-and-swap, where whoever sees a lagging tail swings it
//! forward (helping), and `head` never passes `tail`. Memory is reclaimed with crossbeam-epoch, so
//! a node is freed only once no thread can still hold a pointer to it (no ABA, no use after
//! free).
//!
//! Where it departs from the paper: a node is a *segment* of slots rather than one element, as in
//! LCRQ (Morrison & Afek, PPoPP 2013) and LPRQ (Romanov & Koval, PPoPP 2023). Inside a segment,
//! pushers and poppers claim slots with fetch-and-add on two counters instead of CAS loops, which
//! is what holds up under contention; a popper that claims a slot whose pusher has not written
//! yet waits a bounded time and then *poisons* the slot, so the pusher retries elsewhere. That
//! keeps push and pop lock-free: no thread waits unboundedly for a preempted pusher (unlike
//! crossbeam's `SegQueue` and Vyukov's ring, crossbeam issue 675). Segments are not recycled into
//! rings as LCRQ's are: a full segment is retired through the epoch collector and a new one
//! appended. `docs/queue.md` has the full argument.
//!
//! `peek` and `snapshot` clone elements in place while other threads pop: see `peek.rs` for the
//! protocol that keeps a popper from moving out a value that a peeker is cloning.

use super::peek::PeekGate;
use super::segment::{Segment, Taken, SEG};
use super::{Fifo, Full};
use crate::primitive::sync::atomic::Ordering;
use crossbeam_epoch::{self as epoch, Atomic, Guard, Shared};
use crossbeam_utils::CachePadded;
use std::fmt;

/// Below this many unclaimed elements, poppers claim with CAS instead of fetch-and-add (see `pop`).
const CAS_MARGIN: usize = if cfg!(any(mqsync_loom, miri)) { 1 } else { 8 };

/// An unbounded lock-free multi-producer multi-consumer FIFO queue.
///
/// `push`, `pop` and their batch forms are **lock-free**: a pusher that is preempted or dies
/// between claiming a slot and publishing it never keeps the others from completing theirs. The
/// one wait is the peek latch: a pop waits for peeks that are cloning its own element at that
/// moment (so `T::clone` must not pop from the same queue), and only while one runs.
///
/// A push claims its slot with one fetch-and-add. A pop claims with fetch-and-add while more
/// than 8 elements are unclaimed in the head segment, and with a compare-and-swap retry loop
/// (no backoff) below that, which is the steady state of a balanced workload. Memory is one
/// segment of 128 slots (128 × `size_of::<T>()` plus a state word each) per 128 elements, plus
/// one more allocated and freed again by every pusher that loses the race to link the next
/// segment; segments are reclaimed with crossbeam-epoch.
///
/// `MsQueue<T>` is `Send` and `Sync` exactly when `T: Send`.
///
/// # Examples
///
/// ```
/// use mqsync::MsQueue;
///
/// let q = MsQueue::new();
/// q.push("a");
/// q.push_batch(["b", "c"]);
/// assert_eq!(q.peek(), Some("a"));
/// assert_eq!(q.snapshot(), ["a", "b", "c"]);
/// assert_eq!(q.pop(), Some("a"));
///
/// let mut out = Vec::new();
/// assert_eq!(q.pop_many(&mut out, 10), 2);
/// assert_eq!(out, ["b", "c"]);
/// assert!(q.is_empty());
/// ```
pub struct MsQueue<T> {
    /// The oldest segment that may still hold elements. Never null; moves forward only, and
    /// never past `tail` (poppers swing a lagging `tail` first).
    head: CachePadded<Atomic<Segment<T>>>,
    /// The newest segment, or its predecessor while a link is being completed. Never null.
    tail: CachePadded<Atomic<Segment<T>>>,
    /// Peeks in flight (see `peek.rs`).
    gate: PeekGate,
}

// SAFETY: the queue owns its elements and hands each to exactly one thread (a popper or the
// destructor), so sending the queue or sharing it between threads moves `T`s between threads:
// `T: Send` is needed and enough. Shared access to one `T` from several threads happens only in
// `peek`/`snapshot`, which require `T: Sync` themselves.
unsafe impl<T: Send> Send for MsQueue<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for MsQueue<T> {}

impl<T> MsQueue<T> {
    /// Creates an empty queue (one segment is allocated).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = mqsync::MsQueue::<String>::new();
    /// assert!(q.is_empty());
    /// ```
    pub fn new() -> Self {
        let first = Segment::new(0).into_shared(
            // SAFETY: the segment is not shared yet; an unprotected guard only converts it.
            unsafe { epoch::unprotected() },
        );
        MsQueue {
            head: CachePadded::new(Atomic::from(first)),
            tail: CachePadded::new(Atomic::from(first)),
            gate: PeekGate::new(),
        }
    }

    /// Appends `value` at the tail. Lock-free; never fails (the queue is unbounded).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = mqsync::MsQueue::new();
    /// q.push(1);
    /// assert_eq!(q.pop(), Some(1));
    /// ```
    pub fn push(&self, value: T) {
        let guard = &epoch::pin();
        let mut value = value;
        loop {
            let (tail, segment) = self.tail_segment(guard);
            // Relaxed: the claim needs atomicity only; the value travels through the slot's own
            // Release/Acquire pair, and `enq` publishes nothing else.
            let index = segment.enq.fetch_add(1, Ordering::Relaxed);
            if index < SEG {
                // SAFETY: the fetch-and-add gave us this index alone.
                match unsafe { segment.slots[index].publish(value) } {
                    Ok(()) => return,
                    Err(back) => value = back, // poisoned: a popper gave up on us; retry
                }
            } else {
                match self.append(tail, value, guard) {
                    Ok(()) => return,
                    Err(back) => value = back,
                }
            }
        }
    }

    /// Appends every item of `items` in order, claiming runs of slots with one fetch-and-add per
    /// run (as many items as are left, up to the end of a segment), which makes large batches several
    /// times cheaper per element than single pushes. Lock-free.
    ///
    /// Items of one batch stay in order relative to each other, but pushes from other threads
    /// may land between them. The items are collected into a `Vec` first (one allocation), so
    /// the iterator never runs while slots are claimed; if it panics, nothing is pushed.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = mqsync::MsQueue::new();
    /// q.push_batch(0..100);
    /// assert_eq!(q.len(), 100);
    /// assert_eq!(q.pop(), Some(0));
    /// ```
    pub fn push_batch(&self, items: impl IntoIterator<Item = T>) {
        // Collect first: the caller's iterator never runs while this thread holds claimed,
        // unwritten slots, so a slow (or panicking) iterator cannot make poppers wait on them
        // and poison them. The Vec's exact size hint also makes every run claim exactly.
        let items: Vec<T> = items.into_iter().collect();
        let guard = &epoch::pin();
        let mut items = items.into_iter();
        let Some(mut value) = items.next() else {
            return;
        };
        'claim: loop {
            let (tail, segment) = self.tail_segment(guard);
            let want = items.size_hint().0.saturating_add(1).min(SEG);
            // Relaxed: as in `push`.
            let first = segment.enq.fetch_add(want, Ordering::Relaxed);
            if first >= SEG {
                match self.append(tail, value, guard) {
                    Ok(()) => match items.next() {
                        Some(next) => value = next,
                        None => return,
                    },
                    Err(back) => value = back,
                }
                continue;
            }
            // The run's unfilled part is given back (or poisoned) when `run` drops, also if
            // `items.next()` panics, so no claimed slot stays EMPTY for poppers to wait on.
            let mut run = Run {
                segment,
                next: first,
                end: (first + want).min(SEG),
                claimed_to: first + want,
            };
            while run.next < run.end {
                // SAFETY: indices first..end were claimed by our fetch-and-add alone, and `run`
                // hands each out once.
                match unsafe { segment.slots[run.next].publish(value) } {
                    Ok(()) => {
                        run.next += 1;
                        match items.next() {
                            Some(next) => value = next,
                            None => return,
                        }
                    }
                    Err(back) => {
                        // A popper gave up on this slot. The rest of our run is after it, so
                        // filling it would put later items before this one: give the run up.
                        value = back;
                        run.next += 1;
                        continue 'claim;
                    }
                }
            }
        }
    }

    /// Removes and returns the element at the head, or `None` if the queue is empty.
    ///
    /// Lock-free. `None` means the queue was empty at some moment during the call: every push
    /// that completed before it had been popped.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = mqsync::MsQueue::new();
    /// assert_eq!(q.pop(), None);
    /// q.push('x');
    /// assert_eq!(q.pop(), Some('x'));
    /// ```
    pub fn pop(&self) -> Option<T> {
        let guard = &epoch::pin();
        loop {
            let head = self.head.load(Ordering::Acquire, guard);
            // SAFETY: `head` is never null, and we are pinned, so the segment stays allocated
            // (it is retired only after `head` moves past it, and freed only after we unpin).
            let segment = unsafe { head.deref() };
            // Relaxed: a hint that decides whether to claim; the claim below is the RMW.
            let claimed = segment.deq.load(Ordering::Relaxed);
            if claimed < SEG {
                let pushed = segment.enq.load(Ordering::Relaxed);
                if claimed >= pushed {
                    return None; // every claimed push has been claimed by a pop
                }
                // Claim one slot. Near the tail, poppers racing with fetch-and-add would claim
                // slots no pusher has claimed yet and burn them (poisoning); a CAS from the
                // observed count never passes `enq`. With elements to spare, fetch-and-add never
                // fails. Both are SeqCst: Q1 of the peek protocol (peek.rs); `is_open` is Q2.
                let index = if pushed - claimed > CAS_MARGIN {
                    segment.deq.fetch_add(1, Ordering::SeqCst)
                } else {
                    match segment.deq.compare_exchange_weak(
                        claimed,
                        claimed + 1,
                        Ordering::SeqCst,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => claimed,
                        Err(_) => continue,
                    }
                };
                if index < SEG {
                    let peeking = self.gate.is_open();
                    let slot = &segment.slots[index];
                    let pushed = || segment.enq.load(Ordering::Relaxed) > index;
                    // SAFETY: our fetch-and-add gave us this index alone.
                    match unsafe { slot.take(pushed, peeking) } {
                        Taken::Value(value) => return Some(value),
                        Taken::Skipped => continue,
                    }
                }
            }
            if !self.advance_head(head, guard) {
                return None;
            }
        }
    }

    /// Pops up to `limit` elements into `out` (appended in FIFO order), claiming runs of slots
    /// with one compare-and-swap per run (retried when another popper claims first). Returns how many were popped; 0 means the queue was empty
    /// (or `limit` was 0). Lock-free.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = mqsync::MsQueue::new();
    /// q.push_batch(1..=5);
    /// let mut out = vec![0];
    /// assert_eq!(q.pop_many(&mut out, 3), 3);
    /// assert_eq!(out, [0, 1, 2, 3]);
    /// ```
    pub fn pop_many(&self, out: &mut Vec<T>, limit: usize) -> usize {
        let guard = &epoch::pin();
        let mut popped = 0;
        while popped < limit {
            let head = self.head.load(Ordering::Acquire, guard);
            // SAFETY: as in `pop`.
            let segment = unsafe { head.deref() };
            // Relaxed: a hint, as in `pop`.
            let claimed = segment.deq.load(Ordering::Relaxed);
            if claimed < SEG {
                let available = segment.enq.load(Ordering::Relaxed).min(SEG);
                if claimed >= available {
                    break;
                }
                let want = (available - claimed).min(limit - popped);
                // Reserve before claiming: a panic here must not strand claimed slots.
                out.reserve(want);
                // A CAS from the observed count claims exactly `claimed..claimed + want`, all
                // below `enq`: a run never overshoots into slots no pusher has claimed.
                // SeqCst: Q1 of the peek protocol, once for the whole run.
                if segment
                    .deq
                    .compare_exchange(claimed, claimed + want, Ordering::SeqCst, Ordering::Relaxed)
                    .is_err()
                {
                    continue;
                }
                let peeking = self.gate.is_open();
                let (first, end) = (claimed, claimed + want);
                for index in first..end {
                    let pushed = || segment.enq.load(Ordering::Relaxed) > index;
                    let slot = &segment.slots[index];
                    // SAFETY: our CAS gave us indices first..end alone.
                    let taken = unsafe { slot.take(pushed, peeking) };
                    if let Taken::Value(value) = taken {
                        out.push(value);
                        popped += 1;
                    }
                }
                continue;
            }
            if !self.advance_head(head, guard) {
                break;
            }
        }
        popped
    }

    /// Returns a clone of the element at the head without removing it, or `None` if the queue
    /// is empty.
    ///
    /// Lock-free, and safe against concurrent pops for any `T`: a popper never moves out a
    /// value that is being cloned (it waits for that clone alone). When no push or pop is in
    /// flight, the result is exactly what the next `pop` would return. Under concurrency it is
    /// an element that was in the queue during the call; elements whose push is still in flight
    /// are skipped, even one that a later `pop` returns before the result. `T: Sync` is required
    /// because several peekers may clone the same element at once; `T::clone` must not pop from
    /// this queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = mqsync::MsQueue::new();
    /// q.push(String::from("head"));
    /// q.push(String::from("next"));
    /// assert_eq!(q.peek().as_deref(), Some("head"));
    /// assert_eq!(q.len(), 2);
    /// ```
    pub fn peek(&self) -> Option<T>
    where
        T: Clone + Sync,
    {
        let mut found = None;
        self.scan(|value| {
            found = Some(value);
            false
        });
        found
    }

    /// Returns clones of the elements, oldest first, without removing them. Lock-free.
    ///
    /// Consistency under concurrency: every included element was in the queue at some moment
    /// during the call, and the order is queue order (so each producer's elements keep their
    /// push order). Every element that was in the queue for the whole call is included, except
    /// that an element whose push was still in flight when the snapshot passed its slot is
    /// skipped. With no concurrent operations it is exactly the contents.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = mqsync::MsQueue::new();
    /// q.push_batch([3, 1, 2]);
    /// assert_eq!(q.snapshot(), [3, 1, 2]);
    /// assert_eq!(q.len(), 3);
    /// ```
    pub fn snapshot(&self) -> Vec<T>
    where
        T: Clone + Sync,
    {
        let mut all = Vec::new();
        self.scan(|value| {
            all.push(value);
            true
        });
        all
    }

    /// The number of elements. Exact when no operation is in flight, except that slots a
    /// batch push had to poison (see `push_batch`) are counted until a pop passes them.
    ///
    /// Under concurrency it is an estimate that never underflows or panics: it counts pushes
    /// that have claimed a slot but not finished, and can miss the elements of a segment that
    /// is being linked. Wait-free apart from the epoch pin.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = mqsync::MsQueue::new();
    /// q.push_batch(0..200);
    /// assert_eq!(q.len(), 200);
    /// ```
    pub fn len(&self) -> usize {
        let guard = &epoch::pin();
        // Acquire: pairs with the Release CASes that move `head`.
        let head = self.head.load(Ordering::Acquire, guard);
        // SAFETY: as in `pop`.
        let head = unsafe { head.deref() };
        let front = head.base + head.deq.load(Ordering::Relaxed).min(SEG) as u64;
        let (_, tail) = self.tail_segment(guard);
        let back = tail.base + tail.enq.load(Ordering::Relaxed).min(SEG) as u64;
        usize::try_from(back.saturating_sub(front)).unwrap_or(usize::MAX)
    }

    /// True if the queue holds no element (`len() == 0`, with the same caveats).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = mqsync::MsQueue::new();
    /// assert!(q.is_empty());
    /// q.push(());
    /// assert!(!q.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loads `tail` and dereferences it.
    fn tail_segment<'g>(&self, guard: &'g Guard) -> (Shared<'g, Segment<T>>, &'g Segment<T>) {
        // Acquire: pairs with the Release CASes that move `tail` (and the one that linked the
        // segment), so the segment's initialisation is visible.
        let tail = self.tail.load(Ordering::Acquire, guard);
        // SAFETY: `tail` is never null; we are pinned, and a segment is retired only after both
        // `head` and `tail` have moved past it, so it stays allocated while we hold the guard.
        (tail, unsafe { tail.deref() })
    }

    /// The tail segment is full: links a new segment that holds `value` in its first slot, or
    /// helps the pusher that linked one first (then gives `value` back to retry).
    fn append(&self, tail: Shared<'_, Segment<T>>, value: T, guard: &Guard) -> Result<(), T> {
        // SAFETY: `tail` came from `tail_segment` under the same guard.
        let segment = unsafe { tail.deref() };
        // Acquire: pairs with the Release CAS below (in whichever thread linked `next`).
        let next = segment.next.load(Ordering::Acquire, guard);
        if !next.is_null() {
            self.swing_tail(tail, next, guard);
            return Err(value);
        }
        let fresh = Segment::with_first(segment.base + SEG as u64, value);
        // Release: publishes the fresh segment's initialisation (and its first value) to every
        // thread that reaches it through `next` or `tail` with Acquire.
        match segment.next.compare_exchange(
            Shared::null(),
            fresh,
            Ordering::Release,
            Ordering::Acquire,
            guard,
        ) {
            Ok(linked) => {
                self.swing_tail(tail, linked, guard);
                Ok(())
            }
            Err(lost) => {
                self.swing_tail(tail, lost.current, guard);
                Err(Segment::into_first(lost.new))
            }
        }
    }

    /// Michael–Scott helping: moves `tail` from `from` to its successor `to` unless someone did.
    fn swing_tail(&self, from: Shared<'_, Segment<T>>, to: Shared<'_, Segment<T>>, guard: &Guard) {
        // Release: pairs with the Acquire load in `tail_segment`. Failure means another thread
        // already moved it; nothing to read.
        let _ = self
            .tail
            .compare_exchange(from, to, Ordering::Release, Ordering::Relaxed, guard);
    }

    /// The head segment is exhausted (every slot claimed by a popper): moves `head` to the next
    /// segment and retires the old one. Returns false if there is no next segment (empty).
    fn advance_head(&self, head: Shared<'_, Segment<T>>, guard: &Guard) -> bool {
        // SAFETY: `head` was loaded under `guard`.
        let segment = unsafe { head.deref() };
        // Acquire: pairs with the Release CAS in `append` that linked it.
        let next = segment.next.load(Ordering::Acquire, guard);
        if next.is_null() {
            return false;
        }
        // Never let head pass tail: a retired segment must not stay reachable through `tail`.
        // Acquire: as in `tail_segment`.
        if self.tail.load(Ordering::Acquire, guard) == head {
            self.swing_tail(head, next, guard);
        }
        // Release: pairs with the Acquire loads of `head`.
        if self
            .head
            .compare_exchange(head, next, Ordering::Release, Ordering::Relaxed, guard)
            .is_ok()
        {
            // SAFETY: the segment is unlinked from `head`, and `tail` moved past it above (tail
            // only moves forward, to the successor), so no new reference to it can be made;
            // every slot's value has been or will be moved out by its own claimant, and those
            // claimants are pinned, so the epoch collector frees it only after they are done.
            unsafe { guard.defer_destroy(head) };
        }
        true
    }

    /// Calls `visit` with clones of the elements in queue order until it returns false.
    fn scan(&self, mut visit: impl FnMut(T) -> bool)
    where
        T: Clone + Sync,
    {
        let guard = &epoch::pin();
        let _gate = self.gate.enter();
        // Acquire: pairs with the Release CASes that move `head`.
        let mut current = self.head.load(Ordering::Acquire, guard);
        loop {
            // SAFETY: loaded under `guard` from `head` or a `next` link; never null here.
            let segment = unsafe { current.deref() };
            // SeqCst: P2 of the peek protocol (peek.rs): slots from here on have no popper that
            // could have skipped the latch.
            let first = segment.deq.load(Ordering::SeqCst).min(SEG);
            let end = segment.enq.load(Ordering::Relaxed).min(SEG);
            for slot in &segment.slots[first..end.max(first)] {
                // SAFETY: we are inside the gate and read `deq` ≤ this index after entering.
                if let Some(value) = unsafe { slot.try_clone() } {
                    if !visit(value) {
                        return;
                    }
                }
            }
            if end < SEG {
                return;
            }
            // Acquire: pairs with the Release CAS in `append`.
            current = segment.next.load(Ordering::Acquire, guard);
            if current.is_null() {
                return;
            }
        }
    }
}

/// A batch push's claimed run of slots; whatever is still unfilled when it drops is released.
struct Run<'a, T> {
    segment: &'a Segment<T>,
    /// The next slot to fill.
    next: usize,
    /// One past the last claimed slot inside the segment.
    end: usize,
    /// The value our fetch-and-add left in `enq` (may exceed `SEG`).
    claimed_to: usize,
}

impl<T> Drop for Run<'_, T> {
    fn drop(&mut self) {
        if self.next >= self.end {
            return;
        }
        // Give the unfilled slots back if nobody claimed after us (so `len` stays exact and
        // the slots stay usable); otherwise poison them, so poppers skip them at once. Any
        // other claim after ours is a fetch-and-add on `enq`, which makes this CAS fail; so a
        // successful give-back cannot undo a claim that made someone link the next segment.
        // Relaxed: `enq` carries no data (see `push`); a popper that claimed one of these
        // slots meanwhile sees `enq` at or below its index and poisons it without waiting.
        let given_back = self
            .segment
            .enq
            .compare_exchange(
                self.claimed_to,
                self.next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok();
        if !given_back {
            for slot in &self.segment.slots[self.next..self.end] {
                slot.poison();
            }
        }
    }
}

impl<T> Drop for MsQueue<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no other thread can access the queue, so no guard is needed.
        let guard = unsafe { epoch::unprotected() };
        let mut current = self.head.load(Ordering::Relaxed, guard);
        while !current.is_null() {
            // SAFETY: reachable segments are allocated and, with `&mut self`, exclusively ours.
            let mut segment = unsafe { current.into_owned() };
            let next = segment.next.load(Ordering::Relaxed, guard);
            // Slots before `deq` were taken (or poisoned) by completed pops; slots from `enq` on
            // were never claimed.
            let first = segment.deq.load(Ordering::Relaxed).min(SEG);
            let end = segment.enq.load(Ordering::Relaxed).min(SEG);
            for slot in &mut segment.slots[first..end.max(first)] {
                // SAFETY: no other thread, and no popper claimed these slots.
                unsafe { slot.drop_value() };
            }
            current = next;
        }
    }
}

impl<T> Default for MsQueue<T> {
    fn default() -> Self {
        MsQueue::new()
    }
}

impl<T> fmt::Debug for MsQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsQueue")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl<T> Fifo<T> for MsQueue<T> {
    /// Always succeeds: the queue is unbounded.
    fn push(&self, value: T) -> Result<(), Full<T>> {
        MsQueue::push(self, value);
        Ok(())
    }

    fn pop(&self) -> Option<T> {
        MsQueue::pop(self)
    }

    fn pop_many(&self, out: &mut Vec<T>, limit: usize) -> usize {
        MsQueue::pop_many(self, out, limit)
    }

    fn len(&self) -> usize {
        MsQueue::len(self)
    }
}

#[cfg(all(test, not(mqsync_loom)))]
mod tests;
