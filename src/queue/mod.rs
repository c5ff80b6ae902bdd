//! Layer 1: the lock-free FIFO core.
//!
//! * [`MsQueue`]: an unbounded MPMC queue, a Michael–Scott linked list whose nodes are
//!   fixed-size segments of slots, claimed with fetch-and-add; memory reclaimed with
//!   crossbeam-epoch.
//! * [`RingBuffer`]: a bounded MPMC ring of any capacity ≥ 1.
//!
//! Both offer `push`, `pop`, `peek` (a clone of the head, sound against concurrent pops for any
//! `T: Clone`), `len`, batches and a `snapshot`. Both implement [`Fifo`], so the layers above
//! (waiting, delivery, sync) can be generic over them. `docs/queue.md` holds the algorithms and
//! their proofs.

mod full;
mod hazard;
mod ms_queue;
mod peek;
mod ring_buffer;
mod segment;

pub use full::Full;
pub use ms_queue::MsQueue;
pub use ring_buffer::RingBuffer;

/// A concurrent FIFO queue: the common surface of [`MsQueue`] and [`RingBuffer`].
///
/// Every method takes `&self`; implementations are safe to share between threads.
///
/// # Examples
///
/// ```
/// use mqsync::queue::{Fifo, MsQueue, RingBuffer};
///
/// fn roundtrip<Q: Fifo<u32>>(q: &Q) -> Option<u32> {
///     q.push(7).ok()?;
///     q.pop()
/// }
///
/// assert_eq!(roundtrip(&MsQueue::new()), Some(7));
/// assert_eq!(roundtrip(&RingBuffer::with_capacity(2)), Some(7));
/// ```
pub trait Fifo<T> {
    /// Appends `value` at the tail, or gives it back inside [`Full`] when a bounded queue is full.
    fn push(&self, value: T) -> Result<(), Full<T>>;

    /// Removes and returns the element at the head, or `None` when the queue is empty.
    fn pop(&self) -> Option<T>;

    /// Pops up to `limit` elements into `out` in FIFO order; returns how many. `MsQueue` and
    /// `RingBuffer` claim a run of slots at once, which is cheaper per element than `pop`.
    fn pop_many(&self, out: &mut Vec<T>, limit: usize) -> usize {
        let mut popped = 0;
        while popped < limit {
            match self.pop() {
                Some(value) => out.push(value),
                None => break,
            }
            popped += 1;
        }
        popped
    }

    /// The number of elements; exact when no operation is in flight.
    fn len(&self) -> usize;

    /// True when the queue holds no element (a snapshot under concurrency).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most elements the queue can hold, or `None` when it is unbounded.
    fn capacity(&self) -> Option<usize> {
        None
    }
}
