//! [`MsQueue`]: an unbounded lock-free MPMC FIFO.
//!
//! The link level is Michael & Scott's queue (*Simple, Fast, and Practical Non-Blocking and
//! Blocking Concurrent Queue Algorithms*, PODC 1996): a singly linked list with a `head` and a
//! `tail` pointer, both advanced by compare-and-swap, where whoever sees a lagging tail swings it
//! forward (helping), and `head` never passes `tail`.
//!
//! Where it departs from the paper:
//! * A node is a *segment* of slots rather than one element, as in LCRQ (Morrison & Afek,
//!   PPoPP 2013) and LPRQ (Romanov & Koval, PPoPP 2023). Inside a segment, pushers and poppers
//!   claim slots (pushers by fetch-and-add, poppers by a CAS from an index they saw a pusher
//!   reach, after a plain-load check that the segment is not empty); a pusher publishes with a
//!   plain store. A popper that claims a slot whose pusher has not written yet waits a bounded
//!   time (spinning, then yielding to let a preempted pusher run) and then *abandons* the slot
//!   through an asymmetric Dekker handshake (segment.rs), so the pusher retries elsewhere. That keeps push and pop lock-free: no thread waits
//!   unboundedly for a preempted pusher (unlike crossbeam's `SegQueue` and Vyukov's ring,
//!   crossbeam issue 675).
//! * Segments are reclaimed with hazard pointers (Michael 2004, `hazard.rs`) whose publication
//!   is cached per thread, so a push or pop that stays in the segment it used last publishes
//!   nothing and fences nothing; a thread pays one store and one fence when it moves to another
//!   segment. A reclaimed segment is reset and kept as the queue's spare, so a queue in steady
//!   state allocates nothing.
//! * Only one pusher allocates per boundary: the one whose claim crossed the end of the full
//!   segment. The others wait a bounded time for its link and then allocate too (lock-free).
//!
//! `peek` and `snapshot` clone elements in place while other threads pop: see `peek.rs` for the
//! protocol that keeps a popper from moving out a value that a peeker is cloning. They run user
//! code (`T::clone`), so instead of hazards they pin crossbeam-epoch, and a segment retired
//! while one is in flight is freed through the epoch collector instead of being reused.

use super::hazard::{self, Local, Side};
use super::peek::PeekGate;
use super::segment::{Segment, Taken};
use super::{Fifo, Full};
use crate::primitive::sync::atomic::{fence, AtomicPtr, Ordering};
use crate::primitive::{barrier, hint, BoundedWait};
use crossbeam_epoch as epoch;
use crossbeam_utils::CachePadded;
use std::fmt;
use std::marker::PhantomData;
use std::ptr;

/// An unbounded lock-free multi-producer multi-consumer FIFO queue.
///
/// `push`, `pop` and their batch forms are **lock-free**: a pusher that is preempted or dies
/// between claiming a slot and publishing it never keeps the others from completing theirs (its
/// popper gives up on it after a bounded wait, and the push is retried at a later slot; a push
/// that keeps being slower than that wait can be retried again and again, so push is not
/// starvation-free). The one wait is the peek latch: a pop waits for peeks that are cloning its
/// own element at that moment (so `T::clone` must not pop from the same queue), and so does a
/// push whose slot was given up on, before it takes its value back; so `push` and `pop` are
/// lock-free only while no `peek` or `snapshot` is in flight.
///
/// A push claims its slot with one fetch-and-add and publishes it with a plain store; a pop
/// checks with plain loads that there is something to claim and then claims it with one
/// compare-and-swap (retried when another popper claims that element first). Memory is one segment of slots (512 for a small `T`, fewer for a large one: a
/// segment's slots take about 8 KiB, at least 2 slots) per that many elements, plus the
/// segments that threads still protect, plus one spare kept for reuse; a queue that stays
/// within a few segments allocates nothing after warming up.
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
    head: CachePadded<AtomicPtr<Segment<T>>>,
    /// The newest segment, or its predecessor while a link is being completed. Never null.
    tail: CachePadded<AtomicPtr<Segment<T>>>,
    /// The rare-path state: retired segments and the spare.
    reclaim: CachePadded<Reclaim<T>>,
    /// Peeks in flight (see `peek.rs`).
    gate: PeekGate,
    /// Hazard-pointer state of our own (only under loom, see hazard.rs `Registry`).
    hazards: hazard::Own,
    /// Whether the abandon handshake (segment.rs) uses the asymmetric barrier pair; asked once,
    /// so pushers and poppers always agree.
    asymmetric: bool,
    /// The queue owns `T`s (for the drop check).
    _owns: PhantomData<T>,
}

/// What `MsQueue` keeps for reclaiming segments.
struct Reclaim<T> {
    /// Segments that `head` has moved past and that may still be protected: a stack linked
    /// through `Segment::retired_next`, pushed by CAS and emptied whole by `swap`, so it has no
    /// ABA problem.
    retired: AtomicPtr<Segment<T>>,
    /// A reclaimed segment (not yet reset) for the next append, or null.
    spare: AtomicPtr<Segment<T>>,
}

// SAFETY: the queue owns its elements and hands each to exactly one thread (a popper or the
// destructor), so sending the queue or sharing it between threads moves `T`s between threads:
// `T: Send` is needed and enough. Shared access to one `T` from several threads happens only in
// `peek`/`snapshot`, which require `T: Sync` themselves. The segments behind the raw pointers
// are owned by the queue and shared only under the hazard-pointer protocol (hazard.rs).
unsafe impl<T: Send> Send for MsQueue<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for MsQueue<T> {}

/// What a popper did with the head segment when it was exhausted.
enum Advance<T> {
    /// There is no next segment: the queue is empty.
    Empty,
    /// `head` moved on (by us, in which case the old segment is ours to retire, or by another
    /// thread).
    Moved(Option<*mut Segment<T>>),
}

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
        let first = Segment::alloc();
        MsQueue {
            head: CachePadded::new(AtomicPtr::new(first)),
            tail: CachePadded::new(AtomicPtr::new(first)),
            reclaim: CachePadded::new(Reclaim {
                retired: AtomicPtr::new(ptr::null_mut()),
                spare: AtomicPtr::new(ptr::null_mut()),
            }),
            gate: PeekGate::new(),
            hazards: hazard::Own::new(),
            asymmetric: barrier::asymmetric(),
            _owns: PhantomData,
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
        hazard::with(&self.hazards, |local| self.push_in(local, value));
    }

    #[inline]
    fn push_in(&self, local: &Local, mut value: T) {
        let slot = self.slot(Side::Tail);
        loop {
            let tail = local.protect(slot, &self.tail);
            // SAFETY: `tail` is never null, and it is protected (hazard.rs), so it stays
            // allocated and is not reused while we use it.
            let segment = unsafe { &*tail };
            // Relaxed: the claim needs atomicity only; the value travels through the slot's own
            // Release/Acquire pair, and `enq` publishes nothing else.
            let index = segment.enq.fetch_add(1, Ordering::Relaxed);
            if index < Segment::<T>::LEN {
                // SAFETY: the fetch-and-add gave us this index alone.
                match unsafe { segment.publish(index, value, self.asymmetric) } {
                    Ok(()) => return,
                    Err(back) => value = back, // abandoned: a popper gave up on us; retry
                }
            } else {
                match self.append(tail, index == Segment::<T>::LEN, value) {
                    Ok(()) => {
                        // Move our slot off the full segment now, so that it can be reused as
                        // soon as the poppers are done with it (not only at our next push).
                        local.protect(slot, &self.tail);
                        return;
                    }
                    Err(back) => value = back,
                }
            }
        }
    }

    /// Appends every item of `items` in order, claiming runs of slots with one fetch-and-add per
    /// run (as many items as are left, up to the end of a segment), which makes large batches
    /// several times cheaper per element than single pushes. Lock-free.
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
        // and abandon them. The Vec's exact size hint also makes every run claim exactly.
        let items: Vec<T> = items.into_iter().collect();
        if items.is_empty() {
            return;
        }
        hazard::with(&self.hazards, |local| self.push_batch_in(local, items));
    }

    // Out of line: a batch pays one call for many elements, and inlined into `hazard::with`
    // this loop measured slower (docs/benchmarks.md).
    #[inline(never)]
    fn push_batch_in(&self, local: &Local, items: Vec<T>) {
        let len = Segment::<T>::LEN;
        let slot = self.slot(Side::Tail);
        let mut items = items.into_iter();
        let Some(mut value) = items.next() else {
            return;
        };
        // Whether one of our runs reached the end of the tail segment: then linking the next
        // one is our job, as for the single pusher whose claim is exactly `LEN`.
        let mut crossed = false;
        'claim: loop {
            let tail = local.protect(slot, &self.tail);
            // SAFETY: as in `push_in`.
            let segment = unsafe { &*tail };
            let want = items.len().saturating_add(1).min(len);
            // Relaxed: as in `push_in`.
            let first = segment.enq.fetch_add(want, Ordering::Relaxed);
            if first >= len {
                let designated = crossed || first == len;
                match self.append(tail, designated, value) {
                    Ok(()) => match items.next() {
                        Some(next) => value = next,
                        None => {
                            // As in `push_in`: off the full segment.
                            local.protect(slot, &self.tail);
                            return;
                        }
                    },
                    Err(back) => value = back,
                }
                crossed = false;
                continue;
            }
            // Our claim covered index `len`, the one whose claimant links the next segment.
            // (Kept if a slot of this run was abandoned: at worst two pushers link, and the
            // loser keeps its segment as the spare.)
            crossed = first + want > len;
            // The run's unfilled part is given back (or poisoned) when `run` drops, so no
            // claimed slot stays EMPTY for poppers to wait on.
            let mut run = Run {
                segment,
                next: first,
                end: (first + want).min(len),
                claimed_to: first + want,
            };
            while run.next < run.end {
                // SAFETY: indices first..end were claimed by our fetch-and-add alone, and `run`
                // hands each out once.
                match unsafe { segment.publish(run.next, value, self.asymmetric) } {
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
    /// Lock-free (while no peek runs, see the type's docs). `None` means the queue was empty at
    /// some moment during the call: every push that completed before it had been popped.
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
        hazard::with(&self.hazards, |local| self.pop_in(local))
    }

    #[inline]
    fn pop_in(&self, local: &Local) -> Option<T> {
        let len = Segment::<T>::LEN;
        let slot = self.slot(Side::Head);
        let mut unlinked = None;
        loop {
            let head = local.protect(slot, &self.head);
            if let Some(old) = unlinked.take() {
                // Our slot has moved off it, so we no longer keep it alive ourselves.
                self.retire(old);
                // `retire` may pin crossbeam-epoch, whose collection runs other users' deferred
                // destructors: user code that may use a queue on this thread and move our hazard
                // slot. Protect again (free when the slot still holds `head`).
                continue;
            }
            // SAFETY: `head` is never null, and protected (hazard.rs).
            let segment = unsafe { &*head };
            // Relaxed, all three loads: a hint that decides whether to claim; the claim is the
            // CAS below.
            let claimed = segment.deq.load(Ordering::Relaxed);
            if claimed < len {
                // A settled slot at `claimed` proves that a pusher reached that index, so the
                // line of `enq`, which every pusher writes, is read only when the queue looks
                // empty.
                if !segment.slot(claimed).is_settled()
                    && claimed >= segment.enq.load(Ordering::Relaxed)
                {
                    return None; // every claimed push has been claimed by a pop
                }
                // Claim exactly the index we saw a pusher reach, by CAS from the observed count:
                // unlike a fetch-and-add, this never claims an index that no pusher has claimed,
                // which would have to be abandoned (a heavy barrier, segment.rs). A failure means
                // another popper claimed it; the retry reloads (measured as fast as fetch-and-add
                // at 1P1C–4P4C, docs/benchmarks.md).
                // SeqCst: Q1 of the peek protocol (peek.rs); `is_open` is Q2.
                if segment
                    .deq
                    .compare_exchange(claimed, claimed + 1, Ordering::SeqCst, Ordering::Relaxed)
                    .is_err()
                {
                    hint::spin_loop();
                    continue;
                }
                let peeking = self.gate.is_open();
                // Relaxed: as above. Only a batch's given-back claim (`Run`) can leave an index
                // we claimed without a pusher; then we abandon it at once.
                let pushed = || segment.enq.load(Ordering::Relaxed) > claimed;
                // SAFETY: our CAS gave us this index alone.
                match unsafe { segment.take(claimed, pushed, peeking, self.asymmetric) } {
                    Taken::Value(value) => return Some(value),
                    Taken::Skipped => continue,
                }
            }
            match self.advance_head(head) {
                Advance::Empty => return None,
                Advance::Moved(old) => unlinked = old,
            }
        }
    }

    /// Pops up to `limit` elements into `out` (appended in FIFO order), claiming runs of slots
    /// with one compare-and-swap per run (retried when another popper claims first). Returns
    /// how many were popped; 0 means the queue was empty (or `limit` was 0). Lock-free (while
    /// no peek runs).
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
        if limit == 0 {
            return 0;
        }
        hazard::with(&self.hazards, |local| self.pop_many_in(local, out, limit))
    }

    // Out of line: a batch pays one call for many elements, and inlined into `hazard::with`
    // this loop measured slower (docs/benchmarks.md).
    #[inline(never)]
    fn pop_many_in(&self, local: &Local, out: &mut Vec<T>, limit: usize) -> usize {
        let len = Segment::<T>::LEN;
        let slot = self.slot(Side::Head);
        let mut unlinked = None;
        let mut popped = 0;
        while popped < limit {
            let head = local.protect(slot, &self.head);
            if let Some(old) = unlinked.take() {
                // As in `pop_in`: retire, then protect again.
                self.retire(old);
                continue;
            }
            // SAFETY: as in `pop_in`.
            let segment = unsafe { &*head };
            // Relaxed: a hint, as in `pop_in`.
            let claimed = segment.deq.load(Ordering::Relaxed);
            if claimed < len {
                let available = segment.enq.load(Ordering::Relaxed).min(len);
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
                for index in claimed..claimed + want {
                    // Relaxed: as in `pop_in` (a batch's given-back claim can lower `enq`).
                    let pushed = || segment.enq.load(Ordering::Relaxed) > index;
                    // SAFETY: our CAS gave us indices claimed..claimed + want alone.
                    let taken = unsafe { segment.take(index, pushed, peeking, self.asymmetric) };
                    if let Taken::Value(value) = taken {
                        out.push(value);
                        popped += 1;
                    }
                }
                continue;
            }
            match self.advance_head(head) {
                Advance::Empty => break,
                Advance::Moved(old) => unlinked = old,
            }
        }
        // A move of `head` never ends the loop (nothing was popped in that round), so every
        // unlinked segment was retired above.
        debug_assert!(unlinked.is_none());
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
    /// One exception to "queue order": a push that stalled between claiming its slot and
    /// writing it for longer than its popper's bounded wait is retried at a later slot (see
    /// the type's docs), and a snapshot that cloned the value in the instant between the write
    /// and the retry can hold it twice (at both places). `peek` can likewise return such an
    /// element ahead of elements pushed before its retry.
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
    /// batch push had to poison (see `push_batch`) and slots whose popper abandoned them are
    /// counted until a pop passes them.
    ///
    /// Under concurrency it is an estimate that never underflows or panics: it counts pushes
    /// that have claimed a slot but not finished, and can miss the elements of a segment that
    /// is being linked. Lock-free (it retries only when `head` or `tail` moves).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = mqsync::MsQueue::new();
    /// q.push_batch(0..2000);
    /// assert_eq!(q.len(), 2000);
    /// ```
    pub fn len(&self) -> usize {
        let len = Segment::<T>::LEN;
        hazard::with(&self.hazards, |local| {
            let head = local.protect(self.slot(Side::Head), &self.head);
            // SAFETY: never null, and protected.
            let head = unsafe { &*head };
            let front = head.base() + head.deq.load(Ordering::Relaxed).min(len) as u64;
            let tail = local.protect(self.slot(Side::Tail), &self.tail);
            // SAFETY: as above.
            let tail = unsafe { &*tail };
            let back = tail.base() + tail.enq.load(Ordering::Relaxed).min(len) as u64;
            usize::try_from(back.saturating_sub(front)).unwrap_or(usize::MAX)
        })
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

    /// This queue's hazard slot for `side`.
    #[inline(always)]
    fn slot(&self, side: Side) -> usize {
        hazard::slot(ptr::from_ref(self).cast(), side)
    }

    /// The tail segment is full: links a new segment that holds `value` in its first slot, or
    /// helps the pusher that linked one first (then gives `value` back to retry).
    ///
    /// `designated`: our claim was the one that reached the end of the segment, so linking is
    /// our job. Other pushers wait a bounded time for the designated one's link before they
    /// allocate a segment themselves, so a boundary usually costs one allocation (or none,
    /// with a spare) however many pushers race over it.
    fn append(&self, tail: *mut Segment<T>, designated: bool, value: T) -> Result<(), T> {
        // SAFETY: `tail` is protected by the caller.
        let segment = unsafe { &*tail };
        let mut wait = BoundedWait::new(APPEND_SPIN_ROUNDS, APPEND_WAIT_ROUNDS);
        loop {
            // Acquire: pairs with the Release CAS below (in whichever thread linked `next`).
            let next = segment.next.load(Ordering::Acquire);
            if !next.is_null() {
                self.swing_tail(tail, next);
                return Err(value);
            }
            if designated || !wait.wait() {
                break;
            }
        }
        let fresh = self.fresh_segment();
        // SAFETY: fresh (or reset) and private.
        unsafe { Segment::init(fresh, segment.base() + Segment::<T>::LEN as u64, value) };
        // Release: publishes the fresh segment's initialisation (and its first value) to every
        // thread that reaches it through `next` or `tail` with Acquire.
        match segment.next.compare_exchange(
            ptr::null_mut(),
            fresh,
            Ordering::Release,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                self.swing_tail(tail, fresh);
                Ok(())
            }
            Err(current) => {
                self.swing_tail(tail, current);
                // SAFETY: the CAS failed, so `fresh` never became reachable.
                let value = unsafe { Segment::take_first(fresh) };
                // SAFETY: as above; its only value was taken back.
                unsafe { self.recycle(fresh) };
                Err(value)
            }
        }
    }

    /// A private, empty segment: the spare if there is one, else a new one.
    fn fresh_segment(&self) -> *mut Segment<T> {
        // Acquire: pairs with the AcqRel swap in `recycle`, so every access by the segment's
        // earlier users happens before we reset it.
        let spare = self.reclaim.spare.swap(ptr::null_mut(), Ordering::Acquire);
        if spare.is_null() {
            return Segment::alloc();
        }
        // SAFETY: the swap gave us the spare alone; spares are unreachable and hold no values.
        unsafe { Segment::reset(spare) };
        spare
    }

    /// Keeps `segment` as the spare (freeing the one it displaces).
    ///
    /// # Safety
    ///
    /// No other thread can reach `segment`, and it holds no values.
    unsafe fn recycle(&self, segment: *mut Segment<T>) {
        // AcqRel: Release hands our view of the segment to whoever takes the spare; Acquire
        // takes the displaced spare's history from whoever recycled it.
        let displaced = self.reclaim.spare.swap(segment, Ordering::AcqRel);
        if !displaced.is_null() {
            // SAFETY: the swap gave us the displaced spare alone.
            unsafe { Segment::free(displaced) };
        }
    }

    /// Michael–Scott helping: moves `tail` from `from` to its successor `to` unless someone did.
    fn swing_tail(&self, from: *mut Segment<T>, to: *mut Segment<T>) {
        // SeqCst: in the total order that hazard.rs's argument uses (a retired segment was
        // swung past before `head` moved past it); its Release half pairs with the Acquire loads
        // of `tail`. Failure means another thread already moved it; nothing to read.
        let _ = self
            .tail
            .compare_exchange(from, to, Ordering::SeqCst, Ordering::Relaxed);
    }

    /// The head segment is exhausted (every slot claimed by a popper): moves `head` to the next
    /// segment. If this thread moved it, the old segment is returned for the caller to retire
    /// once its own hazard slot has moved on.
    fn advance_head(&self, head: *mut Segment<T>) -> Advance<T> {
        // SAFETY: `head` is protected by the caller.
        let segment = unsafe { &*head };
        // Acquire: pairs with the Release CAS in `append` that linked it.
        let next = segment.next.load(Ordering::Acquire);
        if next.is_null() {
            return Advance::Empty;
        }
        // Never let head pass tail: a retired segment must not stay reachable through `tail`.
        // SeqCst: the tail swing we read is then before our head CAS in the total order
        // (hazard.rs).
        if self.tail.load(Ordering::SeqCst) == head {
            self.swing_tail(head, next);
        }
        // SeqCst: the unlink U of hazard.rs's argument; its Release half pairs with the
        // Acquire loads of `head`.
        let moved = self
            .head
            .compare_exchange(head, next, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok();
        Advance::Moved(moved.then_some(head))
    }

    /// Hands a segment that `head` has moved past to reclamation, then reclaims what it can.
    fn retire(&self, segment: *mut Segment<T>) {
        self.push_retired(segment);
        self.reclaim();
    }

    /// Pushes onto the retired stack.
    fn push_retired(&self, segment: *mut Segment<T>) {
        // SAFETY: a retired segment stays allocated until a reclaim takes it off this stack.
        let link = unsafe { &(*segment).retired_next };
        // Relaxed: the CAS below publishes.
        let mut top = self.reclaim.retired.load(Ordering::Relaxed);
        loop {
            // Relaxed: published by the CAS.
            link.store(top, Ordering::Relaxed);
            // SeqCst: in the total order of hazard.rs (between the unlink and F2); its Release
            // half pairs with the swap in `reclaim`.
            match self.reclaim.retired.compare_exchange_weak(
                top,
                segment,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => top = now,
            }
        }
    }

    /// Takes the retired stack and reuses (or frees) every segment no thread protects; the
    /// protected ones go back on the stack for a later reclaim.
    fn reclaim(&self) {
        // SeqCst: pairs with the CAS in `push_retired` (see there).
        let mut list = self.reclaim.retired.swap(ptr::null_mut(), Ordering::SeqCst);
        if list.is_null() {
            return;
        }
        // F2 of hazard.rs.
        fence(Ordering::SeqCst);
        // Whether a peek or snapshot may be walking the segments (they pin crossbeam-epoch
        // instead of using hazards). `is_open` is a SeqCst load after F2, in the store-buffering
        // pair with the peeker's SeqCst `enter` and its SeqCst load of `head`: a peeker that
        // entered after it cannot reach a segment that `head` had moved past.
        let peeking = self.gate.is_open();
        while !list.is_null() {
            let segment = list;
            // SAFETY: retired segments stay allocated while on the stack (we took it whole).
            // Relaxed: ordered by the swap above.
            list = unsafe { (*segment).retired_next.load(Ordering::Relaxed) };
            if hazard::is_protected(&self.hazards, segment as usize) {
                self.push_retired(segment);
            } else if peeking {
                let segment = SendSegment(segment);
                // SAFETY: unreachable from the queue (retired) and unprotected by hazards; the
                // only threads that can still read it are peekers, which are pinned, so the
                // collector runs this after they are done. It holds no values (every slot was
                // claimed by a popper, whose hazard was clear by now).
                unsafe {
                    epoch::pin().defer_unchecked(move || {
                        let segment = segment;
                        Segment::free(segment.0);
                    });
                }
            } else {
                // SAFETY: unreachable and unprotected (R3 of hazard.rs), and no peeker can
                // reach it; every value was moved out by its popper.
                unsafe { self.recycle(segment) };
            }
        }
    }

    /// Calls `visit` with clones of the elements in queue order until it returns false.
    fn scan(&self, mut visit: impl FnMut(T) -> bool)
    where
        T: Clone + Sync,
    {
        let len = Segment::<T>::LEN;
        // Pinned before entering the gate, so that a segment a reclaimer sees us for is freed
        // only after we unpin (see `reclaim`).
        let _guard = epoch::pin();
        let _gate = self.gate.enter();
        // SeqCst: after the SeqCst `enter`, so that `reclaim`'s gate check covers every segment
        // we can reach from here (its Acquire half pairs with the Release CASes moving `head`).
        let mut current = self.head.load(Ordering::SeqCst);
        loop {
            // SAFETY: loaded from `head` or a `next` link after entering the gate, so not freed
            // or reused before we leave (see `reclaim`); never null here.
            let segment = unsafe { &*current };
            // SeqCst: P2 of the peek protocol (peek.rs): slots from here on have no popper that
            // could have skipped the latch.
            let first = segment.deq.load(Ordering::SeqCst).min(len);
            let end = segment.enq.load(Ordering::Relaxed).min(len);
            for slot in segment.slots(first..end.max(first)) {
                // SAFETY: we are inside the gate and read `deq` ≤ this index after entering,
                // and the segment is kept as said above.
                if let Some(value) = unsafe { slot.try_clone() } {
                    if !visit(value) {
                        return;
                    }
                }
            }
            if end < len {
                return;
            }
            // Acquire: pairs with the Release CAS in `append`.
            current = segment.next.load(Ordering::Acquire);
            if current.is_null() {
                return;
            }
        }
    }
}

/// Spinning rounds (1, 2, 4, 8 PAUSEs) and then yields that a pusher who is not the designated
/// appender waits for the designated one's link before allocating itself.
const APPEND_SPIN_ROUNDS: u32 = if cfg!(mqsync_loom) { 0 } else { 4 };
const APPEND_WAIT_ROUNDS: u32 = APPEND_SPIN_ROUNDS + if cfg!(mqsync_loom) { 1 } else { 4 };

/// A retired segment on its way to the epoch collector.
struct SendSegment<T>(*mut Segment<T>);

// SAFETY: the segment holds no values and no thread but the collector will touch it; freeing it
// from another thread frees only memory.
unsafe impl<T> Send for SendSegment<T> {}

/// A batch push's claimed run of slots; whatever is still unfilled when it drops is released.
struct Run<'a, T> {
    segment: &'a Segment<T>,
    /// The next slot to fill.
    next: usize,
    /// One past the last claimed slot inside the segment.
    end: usize,
    /// The value our fetch-and-add left in `enq` (may exceed the segment's length).
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
        // slots meanwhile sees `enq` at or below its index and abandons it without waiting.
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
            for slot in self.segment.slots(self.next..self.end) {
                slot.poison();
            }
        }
    }
}

impl<T> Drop for MsQueue<T> {
    fn drop(&mut self) {
        let len = Segment::<T>::LEN;
        // `&mut self`: no other thread can access the queue, so nothing is protected any more
        // (hazard slots that still name our segments are stale and never dereferenced).
        // Relaxed loads throughout: `&mut self` was handed to us with the needed ordering.
        let mut current = self.head.load(Ordering::Relaxed);
        while !current.is_null() {
            // SAFETY: reachable segments are allocated and, with `&mut self`, exclusively ours.
            let segment = unsafe { &*current };
            let next = segment.next.load(Ordering::Relaxed);
            // Slots before `deq` were taken (or abandoned) by completed pops; slots from `enq` on
            // were never claimed.
            let first = segment.deq.load(Ordering::Relaxed).min(len);
            let end = segment.enq.load(Ordering::Relaxed).min(len);
            for slot in segment.slots(first..end.max(first)) {
                // SAFETY: no other thread, and no popper claimed these slots.
                unsafe { slot.drop_value() };
            }
            // SAFETY: exclusively ours (above); not touched again.
            unsafe { Segment::free(current) };
            current = next;
        }
        let mut retired = self.reclaim.retired.load(Ordering::Relaxed);
        while !retired.is_null() {
            // SAFETY: retired segments are allocated until reclaimed, and ours alone now.
            let next = unsafe { (*retired).retired_next.load(Ordering::Relaxed) };
            // SAFETY: as above; they hold no values.
            unsafe { Segment::free(retired) };
            retired = next;
        }
        let spare = self.reclaim.spare.load(Ordering::Relaxed);
        if !spare.is_null() {
            // SAFETY: the spare is ours alone and holds no values.
            unsafe { Segment::free(spare) };
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
