//! The peek protocol shared by [`MsQueue`](super::MsQueue) and
//! [`RingBuffer`](super::RingBuffer): how a peeker clones the head element while poppers run,
//! without a popper ever moving out (or a pusher overwriting) a value that is being cloned.
//
// The protocol (docs/queue.md has the long form)
// ==============================================
//
// Two pieces of state:
//
// * `PeekGate` (one per queue): the number of peeks and snapshots in flight.
// * `SlotLatch` (one per slot): bit 0 is TAKEN ("a popper owns this slot's value; do not start
//   cloning it"), the bits above count the peekers cloning the slot right now.
//
// Peeker                                     Popper (after claiming slot k)
// -------                                    ------------------------------
// P1 gate.enter()   (SeqCst RMW on gate)     Q1 claim k     (SeqCst RMW on the head index)
// P2 load the head index (SeqCst)            Q2 gate.is_open() (SeqCst load of gate)
// P3 pick a written slot k ≥ head            Q3 if open: latch.take(): fetch_or(TAKEN), then
// P4 latch.try_pin(): fetch_add(ONE);           wait until the peek count is 0
//    give up on k if TAKEN was set           Q4 move the value out
// P5 validate (slot still holds k), clone,
//    latch.unpin()
//
// `SlotLatch` is MsQueue's latch (a segment's slots are reused only after the segment was retired
// and no hazard or in-flight peek can reach it, ms_queue.rs `reclaim`). `RingBuffer` keeps the same
// TAKEN bit and pin count in its slots' stamp words instead, where one CAS validates the slot's
// position and pins it, and the store that frees the slot clears TAKEN (ring_buffer.rs, essay
// [3], [4]); the gate below serves both.
//
// Why a popper that sees a closed gate at Q2 may skip Q3 (the store-buffering pair): P1 and P2,
// Q1 and Q2 are SeqCst, so they sit in one total order S. If Q2 reads 0, then P1 is after Q2 in
// S, hence P2 is after Q1 and reads a head index past k: that peeker never picks k at P3. Any
// peeker that could pick k has P1 before Q2 and makes the gate open. (loom models SeqCst
// accesses as AcqRel, loom issue #180, so under `mqsync_loom` a SeqCst fence is added after P1
// and before Q2; loom models SeqCst fences exactly. The fence is redundant in the real build.)
//
// Why an open gate is enough: P4 and Q3 are RMWs on the same latch, so one is first in its
// modification order. If P4 is first, Q3's fetch_or sees the count and the popper waits for P5's
// Release `unpin`, which its Acquire load pairs with: the clone happens before the move. If Q3 is
// first, P4 sees TAKEN and the peeker never reads the value.
//
// Cost to a popper when nobody peeks: one SeqCst load of a cache line that only peekers write
// (a plain `mov` on x86, since the claiming RMW already is a full barrier).

use crate::primitive::sync::atomic::{AtomicUsize, Ordering};
use crate::primitive::Backoff;
use crossbeam_utils::CachePadded;

/// The count of peeks and snapshots in flight on one queue.
#[derive(Debug, Default)]
pub(crate) struct PeekGate {
    /// Written by peekers only (P1 and the guard's drop); read by every popper at Q2.
    active: CachePadded<AtomicUsize>,
}

impl PeekGate {
    pub(crate) fn new() -> Self {
        PeekGate {
            active: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    /// P1: announces a peeker. Must come before the peeker's SeqCst load of the head index.
    pub(crate) fn enter(&self) -> GateGuard<'_> {
        // SeqCst: in the total order with the poppers' claim RMW and their load in `is_open`.
        self.active.fetch_add(1, Ordering::SeqCst);
        #[cfg(mqsync_loom)]
        crate::primitive::sync::atomic::fence(Ordering::SeqCst);
        GateGuard { gate: self }
    }

    /// Q2: true when a peeker may be looking at the slot the caller just claimed. Must come right
    /// after the caller's SeqCst RMW that claimed the slot.
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        #[cfg(mqsync_loom)]
        crate::primitive::sync::atomic::fence(Ordering::SeqCst);
        // SeqCst: pairs with the SeqCst fetch_add in `enter` (store-buffering, see above); its
        // Acquire half pairs with the Release fetch_sub in `GateGuard::drop`.
        self.active.load(Ordering::SeqCst) != 0
    }
}

/// Leaves the gate when dropped (also when the clone panics).
#[derive(Debug)]
pub(crate) struct GateGuard<'a> {
    gate: &'a PeekGate,
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        // Not Relaxed, for two reasons (both found by miri's weak-memory emulation, on the
        // MsQueue and on the RingBuffer peek-vs-pop tests):
        // * Release: a popper whose Q2 reads the count this exit leaves (0) skips the latch, so
        //   this store, read by the SeqCst (hence Acquire) load in `is_open`, is the only edge
        //   that orders this peeker's clones before that popper's move out and drop.
        // * SeqCst: the store-buffering argument wants every write of the gate in the total
        //   order S, so that no Q2 that follows a P1 in S can read a count from before it.
        // The cost falls on peekers only.
        self.gate.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The per-slot latch between peekers (cloning) and the popper (moving out).
#[derive(Debug, Default)]
pub(crate) struct SlotLatch {
    /// Bit 0: TAKEN. Bits 1–2 ([`OWNER_BITS`]): the owning structure's own slot state, which it
    /// changes with [`SlotLatch::compare_exchange`] (MsQueue keeps EMPTY/WRITTEN/POISONED there,
    /// so a slot costs one word beside its value). Bits 3..: the number of peekers inside
    /// `try_pin`..`unpin`.
    state: AtomicUsize,
}

const TAKEN: usize = 1;
/// The bits of the latch word that belong to the slot's owner.
pub(crate) const OWNER_BITS: usize = 0b110;
const ONE_PEEKER: usize = 8;

// `new` serves the loom build of MsQueue (zeroed allocation elsewhere).
#[allow(dead_code)]
impl SlotLatch {
    pub(crate) fn new() -> Self {
        SlotLatch {
            state: AtomicUsize::new(0),
        }
    }

    /// Returns a slot of a private (unreachable) segment to the all-zero state, for reuse.
    #[inline]
    pub(crate) fn clear(&self) {
        // Relaxed: the segment is private; the Release that publishes it again orders this.
        self.state.store(0, Ordering::Relaxed);
    }

    /// Loads the whole latch word (owner bits, TAKEN and the peek count).
    #[inline]
    pub(crate) fn load(&self, order: Ordering) -> usize {
        self.state.load(order)
    }

    /// Stores the whole word, for an owner transition that no other thread can race with.
    #[inline]
    pub(crate) fn store(&self, word: usize, order: Ordering) {
        self.state.store(word, order);
    }

    /// Compare-and-swap on the whole word, for the owner's state transitions.
    #[inline]
    pub(crate) fn compare_exchange(
        &self,
        current: usize,
        new: usize,
        success: Ordering,
        failure: Ordering,
    ) -> Result<usize, usize> {
        self.state.compare_exchange(current, new, success, failure)
    }

    /// True if a popper has taken (or is taking) the value.
    #[inline]
    pub(crate) fn is_taken(word: usize) -> bool {
        word & TAKEN != 0
    }

    /// P4: registers a peeker; false (and nothing registered) when a popper owns the slot.
    #[inline]
    pub(crate) fn try_pin(&self) -> bool {
        // Acquire: not needed by MsQueue (its caller's Acquire load of the latch word already
        // pairs with the publish); kept so that a pin orders like a lock acquisition.
        let prev = self.state.fetch_add(ONE_PEEKER, Ordering::Acquire);
        if prev & TAKEN != 0 {
            // Relaxed: nothing was read under this pin.
            self.state.fetch_sub(ONE_PEEKER, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// P5: the peeker is done reading the value.
    #[inline]
    pub(crate) fn unpin(&self) {
        // Release: the clone's reads happen before the popper's move (pairs with the Acquire
        // loads in `take`).
        self.state.fetch_sub(ONE_PEEKER, Ordering::Release);
    }

    /// Q3: claims the value for the popper, then waits for the peekers already cloning it.
    ///
    /// The wait is bounded by the peekers' clones: a popper waits only for peeks of its own
    /// element, and only when a peek is in flight.
    #[inline]
    pub(crate) fn take(&self) {
        // AcqRel: Acquire pairs with the peekers' Release `unpin` when the count is already 0.
        let prev = self.state.fetch_or(TAKEN, Ordering::AcqRel);
        if prev >= ONE_PEEKER {
            let mut backoff = Backoff::new();
            // Acquire: pairs with the Release fetch_sub in `unpin`.
            while self.state.load(Ordering::Acquire) >= ONE_PEEKER {
                backoff.snooze();
            }
        }
    }
}
