//! Hazard pointers (Michael, *Hazard Pointers: Safe Memory Reclamation for Lock-Free Objects*,
//! IEEE TPDS 2004) for [`MsQueue`](super::MsQueue)'s segments, with a per-thread cache that
//! takes the publication off the fast path.
//
// The protocol
// ============
//
// Every thread that touches an `MsQueue` owns one `Record` from a process-wide registry (a
// linked list of records that are never freed; a record is reused by a later thread once its
// owner exits). A record holds `SLOTS` hazard words, written only by the owner: the address of
// a segment the owner may dereference.
//
// Protecting a segment that a shared pointer `src` (the queue's `head` or `tail`) points at:
//
//   H1 p = src.load()
//   H2 if the slot already holds p (the owner's cached copy says so): done, p is protected
//   H3 slot.store(p)                       (Release)
//   H4 fence(SeqCst)                       F1
//   H5 if src.load() == p: done; else p = that value, go to H2
//
// Reclaiming a segment s (ms_queue.rs, `reclaim`), after s was unlinked (`head` moved past it,
// and `tail` before that) by a SeqCst CAS, and handed to the reclaimer through the SeqCst
// retire stack:
//
//   R1 fence(SeqCst)                       F2
//   R2 for every record and slot: if slot.load() == s (Acquire), keep s for later
//   R3 otherwise nobody can reach s: reuse or free it
//
// Why R3 is safe. Take a thread T whose check at H5 (or an earlier one, see H2) succeeded for s,
// so that T dereferences s after H5. The unlink U, F1 and F2 are all in the SeqCst total order
// S, and U comes before F2 there (U is sequenced before the retire push, which synchronizes
// with the reclaimer's take, which is sequenced before F2; all SeqCst, so S follows them).
// * If F1 is before F2 in S: T's store H3 is sequenced before F1, and R2 is sequenced after F2,
//   so R2 reads T's store or a later one: the slot says s until T moves it elsewhere, and T
//   moves it only after it stopped using s (the Release store at H3 then pairs with R2's
//   Acquire, so T's accesses to s happen before R3).
// * If F2 is before F1: U is before F1 in S, so T's load at H5 (sequenced after F1) reads U's
//   value or a later one: `src` no longer points at s, and T did not validate s. (A later
//   value that is s again means s was reclaimed, reused and relinked before T's load; then T
//   protects the reused segment, which is what it wanted.)
// H2 skips H3..H5 when the slot already holds p: that store and its fence were made by an
// earlier protect, and the slot has held p ever since, so the argument above applies with that
// earlier F1. A segment whose address is in some slot is never reclaimed by a live queue. (A
// dropped queue frees its segments whatever the slots say; a slot that names such an address is
// stale, and H1 comes after that slot's F1, so a matching address names either a live segment
// the slot has protected since, or a later reuse of that address, protected from before the
// load.) The only cost of a stale slot is that the segment
// it names waits to be reclaimed until the owner moves the slot or exits; this is what makes
// steady-state pushes and pops free of stores and fences here: a thread publishes a hazard once
// per segment it moves to, not once per operation.
//
// Slots: `WAYS` for head-side work and `WAYS` for tail-side work, and a queue uses the pair its
// address selects, so a thread that alternates between up to `WAYS` queues (say, a priority
// lane per queue) keeps each protected instead of republishing on every call.
//
// Reentrancy: push, pop and len never run user code while a segment is protected. peek and
// snapshot do (`T::clone`), so they do not use hazards: they pin crossbeam-epoch instead, and
// the reclaimer defers segments through the epoch collector while a peek is in flight
// (ms_queue.rs).

use crate::primitive::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::cell::Cell;
use std::ptr;

/// Hazard slots per side of a queue (head-side work, tail-side work) in each record. One under
/// loom, where a record lives for one operation on one queue.
const WAYS: usize = if cfg!(mqsync_loom) { 1 } else { 4 };

/// Hazard slots in one record.
const SLOTS: usize = 2 * WAYS;

/// Which end of a queue a protected pointer was read from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Side {
    /// `head`: poppers and `len`.
    Head,
    /// `tail`: pushers and `len`.
    Tail,
}

/// The hazard slot that the queue at `queue` uses for `side`.
#[inline(always)]
pub(crate) fn slot(queue: *const (), side: Side) -> usize {
    // Queues are cache-line aligned (their atomics are `CachePadded`), so the bits above the
    // line offset tell neighbouring queues apart.
    // Under loom WAYS is 1: an address-dependent choice would differ between executions.
    let way = (queue as usize >> 7) % WAYS;
    match side {
        Side::Head => way,
        Side::Tail => WAYS + way,
    }
}

/// One thread's hazard slots, on cache lines of their own (only the owner writes them).
#[repr(align(128))]
struct Record {
    /// Segment addresses (0 for none). Written by the owning thread only (H3, and zeroed when
    /// the owner exits); read by reclaimers (R2).
    hazards: [AtomicUsize; SLOTS],
    /// True while a thread owns the record. Set by a CAS in `Registry::acquire`, cleared by the
    /// owner's `Local::drop`.
    in_use: AtomicBool,
    /// The next record in the registry. Written before the record is published, then never.
    next: *const Record,
}

/// The list of records. Records are pushed at the front and never removed.
///
/// In a normal build there is one registry for the process (`REGISTRY`), and each thread keeps
/// its record in a thread-local `Local` across operations. Under loom, statics and thread-locals
/// outlive or straddle the model's executions, so each queue owns a registry instead
/// (`MsQueue::registry`) and every operation takes a record for its own duration: the protocol
/// H1–H5 and R1–R3 is the same, only the caching across operations (H2 between calls) is not
/// exercised by the models.
pub(crate) struct Registry {
    head: AtomicPtr<Record>,
}

#[cfg(not(mqsync_loom))]
static REGISTRY: Registry = Registry::new();

/// What a queue keeps for its hazards: nothing in a normal build (the registry is the
/// process's), its own registry under loom.
#[cfg(not(mqsync_loom))]
#[derive(Debug, Default)]
pub(crate) struct Own;

#[cfg(not(mqsync_loom))]
impl Own {
    pub(crate) const fn new() -> Self {
        Own
    }
}

/// What a queue keeps for its hazards: its own registry under loom.
#[cfg(mqsync_loom)]
pub(crate) type Own = Registry;

/// The registry that `with` and `is_protected` use for a queue that keeps `_own`.
#[inline(always)]
fn registry(_own: &Own) -> &Registry {
    #[cfg(not(mqsync_loom))]
    {
        &REGISTRY
    }
    #[cfg(mqsync_loom)]
    {
        _own
    }
}

// SAFETY: `next` is written before the record is published (Release CAS in `acquire`) and
// never again, so sharing it is sharing an immutable pointer; the rest are atomics.
unsafe impl Sync for Registry {}
// SAFETY: as above.
unsafe impl Send for Registry {}

impl Registry {
    /// An empty registry.
    #[cfg(not(mqsync_loom))]
    const fn new() -> Self {
        Registry {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// An empty registry (loom's atomics have no `const` constructor).
    #[cfg(mqsync_loom)]
    pub(crate) fn new() -> Self {
        Registry {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Takes a free record, or adds a new one.
    fn acquire(&self) -> &Record {
        // Acquire: pairs with the Release CAS below, so a published record's fields are seen.
        let mut current = self.head.load(Ordering::Acquire).cast_const();
        // SAFETY: records are freed only when their registry is dropped (under loom, with
        // its queue), so every published pointer stays valid while the registry is in use.
        while let Some(record) = unsafe { current.as_ref() } {
            // Acquire on success: pairs with the Release store in `Local::drop`, so the previous
            // owner's zeroed slots are what we start from.
            if !record.in_use.load(Ordering::Relaxed)
                && record
                    .in_use
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return record;
            }
            current = record.next;
        }
        let fresh = Box::into_raw(Box::new(Record {
            hazards: std::array::from_fn(|_| AtomicUsize::new(0)),
            in_use: AtomicBool::new(true),
            next: ptr::null(),
        }));
        // Relaxed: the CAS below is what publishes.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `fresh` is not published yet, so this thread has it alone.
            unsafe { (*fresh).next = head };
            // Release: pairs with the Acquire loads in this function and in `is_protected`.
            match self
                .head
                .compare_exchange_weak(head, fresh, Ordering::Release, Ordering::Relaxed)
            {
                // SAFETY: records live as long as their registry (see `acquire`).
                Ok(_) => return unsafe { &*fresh },
                Err(now) => head = now,
            }
        }
    }
}

/// True if some thread's hazard slot holds `address` (R2). The caller has issued F2
/// (`fence(SeqCst)`) after the segment was unlinked and before calling this.
pub(crate) fn is_protected(own: &Own, address: usize) -> bool {
    // Acquire: as in `acquire`.
    let mut current = registry(own).head.load(Ordering::Acquire).cast_const();
    // SAFETY: records live as long as their registry (see `acquire`).
    while let Some(record) = unsafe { current.as_ref() } {
        for hazard in &record.hazards {
            // Acquire: pairs with the Release store at H3 that moved the slot away from this
            // segment, so the owner's last accesses to it happen before it is reused or freed.
            if hazard.load(Ordering::Acquire) == address {
                return true;
            }
        }
        current = record.next;
    }
    false
}

/// A thread's handle on its record, with a private copy of its slots (read without atomics).
pub(crate) struct Local {
    /// Where the record comes from.
    registry: *const Registry,
    /// This thread's record; null until the first `protect`.
    record: Cell<*const Record>,
    /// What each slot of the record holds (only this thread writes the slots).
    cached: [Cell<usize>; SLOTS],
}

impl Local {
    const fn new(registry: &Registry) -> Self {
        Local {
            registry,
            record: Cell::new(ptr::null()),
            cached: [const { Cell::new(0) }; SLOTS],
        }
    }

    fn record(&self) -> &Record {
        let record = self.record.get();
        if !record.is_null() {
            // SAFETY: records live as long as their registry (see `acquire`).
            return unsafe { &*record };
        }
        // SAFETY: the registry is the process's (a static), or under loom the queue's, which
        // outlives the operation that made this `Local`.
        let record = unsafe { &*self.registry }.acquire();
        self.record.set(record);
        record
    }

    /// Loads `src` and protects the segment it points at; returns that pointer (H1–H5).
    ///
    /// The segment stays protected until this thread protects another segment in the same
    /// slot, or exits.
    #[inline]
    pub(crate) fn protect<T>(&self, slot: usize, src: &AtomicPtr<T>) -> *mut T {
        debug_assert!(slot < SLOTS);
        // Acquire: pairs with the Release (or SeqCst) stores that set `src`, so the segment's
        // initialisation is visible.
        let mut pointer = src.load(Ordering::Acquire);
        loop {
            // H2: the slot already holds it.
            if self.cached[slot].get() == pointer as usize {
                return pointer;
            }
            // H3. Release: pairs with the Acquire load in `is_protected`.
            self.record().hazards[slot].store(pointer as usize, Ordering::Release);
            self.cached[slot].set(pointer as usize);
            // H4, F1: pairs with F2 in the reclaimer (see the protocol above).
            fence(Ordering::SeqCst);
            // H5. Acquire: as above.
            let again = src.load(Ordering::Acquire);
            if again == pointer {
                return pointer;
            }
            pointer = again;
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let record = self.record.get();
        if record.is_null() {
            return;
        }
        // SAFETY: records live as long as their registry (see `acquire`).
        let record = unsafe { &*record };
        for (hazard, cached) in record.hazards.iter().zip(&self.cached) {
            if cached.get() != 0 {
                // Release: as at H3 (this thread is done with every segment it protected).
                hazard.store(0, Ordering::Release);
            }
        }
        // Release: pairs with the Acquire CAS in `Registry::acquire`.
        record.in_use.store(false, Ordering::Release);
    }
}

#[cfg(not(mqsync_loom))]
std::thread_local! {
    static LOCAL: Local = const { Local::new(&REGISTRY) };
}

/// Runs `f` with this thread's [`Local`] (whose records come from `registry(own)`). While a
/// thread-local destructor runs after this thread's own `Local` was dropped, `f` gets a record
/// for this call only.
#[cfg(not(mqsync_loom))]
#[inline]
pub(crate) fn with<R, F: FnOnce(&Local) -> R>(own: &Own, f: F) -> R {
    let mut f = Some(f);
    // `f` runs at one call site on the common path, so the compiler inlines it there; the rare
    // path (no `Local` any more) calls it from a cold function of its own. (With two call sites
    // in one function, `f` stayed out of line: one more call per push or pop, measured in
    // docs/benchmarks.md.)
    match LOCAL.try_with(|local| f.take().map(|f| f(local))) {
        Ok(Some(result)) => result,
        _ => without_local(own, f),
    }
}

/// How many calls took `without_local` (tests check that the path runs).
#[cfg(all(test, not(mqsync_loom)))]
pub(crate) static WITHOUT_LOCAL: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// `with` for a thread whose `Local` is gone (or, never, whose `f` already ran): a record for
/// this call only.
#[cfg(not(mqsync_loom))]
#[cold]
#[inline(never)]
fn without_local<R, F: FnOnce(&Local) -> R>(own: &Own, f: Option<F>) -> R {
    // Relaxed: a count for tests; nothing is published through it.
    #[cfg(test)]
    WITHOUT_LOCAL.fetch_add(1, Ordering::Relaxed);
    match f {
        Some(f) => f(&Local::new(registry(own))),
        None => unreachable!("`f` ran, so `try_with` returned its result"),
    }
}

/// Under loom: a record for this call only, from the queue's own registry (see `Registry`).
#[cfg(mqsync_loom)]
pub(crate) fn with<R>(own: &Own, f: impl FnOnce(&Local) -> R) -> R {
    f(&Local::new(own))
}

#[cfg(mqsync_loom)]
impl Drop for Registry {
    fn drop(&mut self) {
        // Relaxed: `&mut self`, and every record was released by its operation.
        let mut current = self.head.load(Ordering::Relaxed);
        while !current.is_null() {
            // SAFETY: records were made by `Box::into_raw` in `acquire` and nobody else holds
            // this registry any more.
            let record = unsafe { Box::from_raw(current) };
            current = record.next.cast_mut();
        }
    }
}
