//! `Select`: wait on several receivers at once (of different element types, too) and take one
//! value from whichever is ready first, as crossbeam-channel's `Select` and Go's `select`.
//!
//! It waits as one blocking receive does (`waiters.rs`), on every channel's receiver list at
//! once, and it claims a value only with the channel's own `try_recv`, so it never takes a
//! value it does not return.
//
// # Protocol
//
// An *arm* is one receiver and the closure that maps what it yields. `select` runs:
//
//   L1. scan: `try_recv` on each arm in turn, starting after the arm that won the previous
//       select (round robin); the first `Ok` or `Disconnected` is claimed into that arm's
//       `claimed` slot and wins. No value is taken from any other arm.
//   L2. nothing: spin and yield a little (the `Pace` shape of chan.rs), scanning again between
//       steps; then sleep with `wait_any` (S0–S4 of waiters.rs): join every arm's receiver list,
//       re-check every channel (`Chan::can_recv`), park, leave every list. Then L1 again.
//   L3. a win on arm j: every *other* list whose notifier took the waiter in the last S4 gets
//       its wake-up passed on (`notify_one`), then arm j's closure runs on its value, outside
//       every list and lock.
//   L4. nothing by the deadline (after the L1 that follows the last wait): the wake-ups still
//       held are passed on, and the select reports a timeout.
//
// Lossless: a value leaves a channel only through that channel's `try_recv` in L1, and the
// claimed value is returned by the same call (the closure gets it). A `try_recv` that loses the
// race to another receiver says `Empty`, and the select scans on or sleeps again.
//
// No stranded sleeper: a wake-up the select used (it returns that channel's value) was the
// wake-up's purpose; one it did not use is passed on when it returns (L3, L4), as a dropped
// future does. A scan that finds nothing after a wake-up means the value the wake-up was for is
// gone (the scan follows S4, which follows the notifier's claim): the select waits again and
// passes nothing on (waiters.rs, "Select"). The rendezvous flavor is watched the same way: a
// sender that is about to wait notifies the channel's receiver list, and the select takes its
// value with `try_recv` (zero.rs, "Selects").
//
// A single-channel send or receive pays nothing for this: a select is one more entry on the
// lists their one-load wake check (N1) already reads.

use super::error::{RecvError, SelectTimeoutError, TryRecvError, TrySelectError};
use super::receiver::Receiver;
use super::waiters::{wait_any, Waiters};
use crate::primitive::Backoff;
use std::fmt;
use std::time::{Duration, Instant};

/// Waits on several [`Receiver`]s at once and receives one value from the first that is ready.
///
/// Add each receiver with [`recv`](Self::recv) and a closure that turns what it yields (a value,
/// or [`RecvError`] once that channel is closed and drained) into the select's output type `O`:
/// receivers of different element types meet in one `O`, typically an enum. `recv` returns the
/// arm's index. Then [`select`](Self::select) waits until some receiver has a value or is
/// disconnected, receives it, and returns that arm's index with its closure's output;
/// [`try_select`](Self::try_select) does not wait, and
/// [`select_timeout`](Self::select_timeout) / [`select_deadline`](Self::select_deadline) wait
/// at most so long. A `Select` is reusable: call `select` in a loop.
///
/// * **Lossless**: a select takes a value from a channel only with that channel's own
///   `try_recv`, and only from the arm it returns. It never takes a value it does not return.
/// * **Fair**: each select starts looking at the arm after the one that won the previous time,
///   so a receiver that always has values cannot starve the others: a ready arm wins within as
///   many selects as there are arms.
/// * **Disconnection**: a receiver whose channel is closed and drained is ready at once and
///   yields `Err(RecvError)` every time; [`remove`](Self::remove) it to wait on the rest.
/// * **Rendezvous** (`bounded(0)`): a sender waiting in `send` hands its value to a select, but a
///   `try_send` meets only a receiver blocked in `recv`: a select is not offered values, it
///   takes them (so `try_send` says `Full` while only selects wait).
/// * **Wake-ups**: a select sleeps on every channel's list of waiting receivers at once. A
///   wake-up it was given for one channel and did not use (it returned another's value, or timed
///   out) is passed on to the next receiver asleep on that channel, so another receiver is never
///   left asleep beside a value. A blocking `recv` on the same channels may run at the same time.
///
/// `Select` borrows its receivers and holds their closures, so it is built and used on one
/// thread (it is not `Send`).
///
/// # Progress
///
/// Blocking: a select that finds nothing sleeps until a send, a close or a disconnection on one
/// of its channels, taking each channel's sleeper-list lock to join and to leave it. The scan
/// itself is the channels' `try_recv`s (see [`channel`](super)'s progress notes).
///
/// # Examples
///
/// ```
/// use mqsync::channel::{bounded, unbounded, RecvError, Select};
/// use std::thread;
///
/// enum Event {
///     Number(Result<u64, RecvError>),
///     Word(Result<String, RecvError>),
/// }
///
/// let (numbers_tx, numbers) = bounded(4);
/// let (words_tx, words) = unbounded();
/// thread::spawn(move || numbers_tx.send(7u64).unwrap());
/// thread::spawn(move || words_tx.send("seven".to_string()).unwrap());
///
/// let mut select = Select::new();
/// let n = select.recv(&numbers, Event::Number);
/// let w = select.recv(&words, Event::Word);
/// let (mut got_number, mut got_word) = (false, false);
/// while !(got_number && got_word) {
///     match select.select() {
///         (i, Event::Number(Ok(v))) => {
///             assert_eq!((i, v), (n, 7));
///             got_number = true;
///         }
///         (i, Event::Word(Ok(v))) => {
///             assert_eq!((i, v.as_str()), (w, "seven"));
///             got_word = true;
///         }
///         // A sender already finished and dropped its handle: remove the arm.
///         (i, _) => select.remove(i),
///     }
/// }
/// ```
pub struct Select<'a, O> {
    /// The arms, in the order they were added (removed ones taken out). `lists[p]` and
    /// `taken[p]` belong to `arms[p]`.
    arms: Vec<Entry<'a, O>>,
    /// Each arm's receiver sleeper list, for `wait_any`.
    lists: Vec<&'a Waiters>,
    /// Written by `wait_any` (S4): the list's notifier took our waiter off, and the wake-up is
    /// ours to use or pass on. All false between calls (`pass_on` and `forget` clear them).
    taken: Vec<bool>,
    /// The position in `arms` the next scan starts at: one past the last winner.
    next: usize,
    /// Indices handed out by `recv` so far (an arm's index is stable across `remove`).
    added: usize,
}

/// One arm and its public index.
struct Entry<'a, O> {
    index: usize,
    arm: Box<dyn Arm<O> + 'a>,
}

/// A receiver of any element type, seen through its closure.
trait Arm<O> {
    /// L1 for this arm: `try_recv`; a value or `Disconnected` is kept in the arm and true is
    /// returned; `Empty` returns false and takes nothing.
    fn try_claim(&mut self) -> bool;
    /// S2: whether `try_claim` would now find something (a value, or closed).
    fn can_recv(&self) -> bool;
    /// Runs the closure on what `try_claim` kept.
    fn deliver(&mut self) -> O;
}

/// The `Arm` of one `Receiver<T>` with its closure `F`.
struct RecvArm<'a, T, F> {
    receiver: &'a Receiver<T>,
    map: F,
    /// What `try_claim` received, until `deliver` hands it to `map`.
    claimed: Option<Result<T, RecvError>>,
}

impl<T, O, F: FnMut(Result<T, RecvError>) -> O> Arm<O> for RecvArm<'_, T, F> {
    fn try_claim(&mut self) -> bool {
        debug_assert!(self.claimed.is_none(), "a claimed value was not delivered");
        self.claimed = match self.receiver.chan.try_recv(Some(&self.receiver.hint)) {
            Ok(value) => Some(Ok(value)),
            Err(TryRecvError::Disconnected) => Some(Err(RecvError)),
            Err(TryRecvError::Empty) => return false,
        };
        true
    }

    fn can_recv(&self) -> bool {
        self.receiver.chan.can_recv()
    }

    fn deliver(&mut self) -> O {
        let claimed = self
            .claimed
            .take()
            .expect("deliver after a successful try_claim");
        (self.map)(claimed)
    }
}

impl<'a, O> Select<'a, O> {
    /// A select with no receivers yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let select = mqsync::channel::Select::<u8>::new();
    /// # drop(select);
    /// ```
    pub fn new() -> Self {
        Select {
            arms: Vec::new(),
            lists: Vec::new(),
            taken: Vec::new(),
            next: 0,
            added: 0,
        }
    }

    /// Adds `receiver`, whose values (or, once its channel is closed and drained,
    /// `Err(RecvError)`) the select passes through `map`. Returns the arm's index, which the
    /// select returns when this arm wins. Indices count up from 0 and are never reused.
    ///
    /// The same channel may be added more than once; each arm then competes for its values as
    /// a separate receiver would.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::channel::{unbounded, Select};
    ///
    /// let (tx, rx) = unbounded::<u32>();
    /// let mut select = Select::new();
    /// let index = select.recv(&rx, |r| r.map(|v| v * 2));
    /// tx.send(21).unwrap();
    /// assert_eq!(select.select(), (index, Ok(42)));
    /// ```
    pub fn recv<T>(
        &mut self,
        receiver: &'a Receiver<T>,
        map: impl FnMut(Result<T, RecvError>) -> O + 'a,
    ) -> usize {
        let index = self.added;
        self.added += 1;
        self.arms.push(Entry {
            index,
            arm: Box::new(RecvArm {
                receiver,
                map,
                claimed: None,
            }),
        });
        self.lists.push(receiver.chan.recv_waiters());
        self.taken.push(false);
        index
    }

    /// Removes the arm `index` (typically one whose channel is disconnected).
    ///
    /// # Panics
    ///
    /// If no arm has that index (never added, or removed already).
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::channel::{unbounded, RecvError, Select};
    ///
    /// let (tx_a, a) = unbounded::<u8>();
    /// let (tx_b, b) = unbounded::<u8>();
    /// let mut select = Select::new();
    /// let ia = select.recv(&a, |r| r);
    /// let ib = select.recv(&b, |r| r);
    /// drop(tx_a);
    /// assert_eq!(select.select(), (ia, Err(RecvError)));
    /// select.remove(ia);
    /// tx_b.send(1).unwrap();
    /// assert_eq!(select.select(), (ib, Ok(1)));
    /// ```
    pub fn remove(&mut self, index: usize) {
        let pos = self
            .arms
            .iter()
            .position(|entry| entry.index == index)
            .unwrap_or_else(|| panic!("Select::remove: no arm with index {index}"));
        self.arms.remove(pos);
        self.lists.remove(pos);
        self.taken.remove(pos);
        if pos < self.next {
            self.next -= 1;
        }
    }

    /// Receives from the first ready receiver if one is ready now; never waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::channel::{bounded, RecvError, Select, TrySelectError};
    ///
    /// let (tx, rx) = bounded::<&str>(1);
    /// let mut select = Select::new();
    /// let i = select.recv(&rx, |r: Result<&str, RecvError>| r);
    /// assert_eq!(select.try_select(), Err(TrySelectError));
    /// tx.send("hi").unwrap();
    /// assert_eq!(select.try_select(), Ok((i, Ok("hi"))));
    /// ```
    pub fn try_select(&mut self) -> Result<(usize, O), TrySelectError> {
        match self.scan() {
            Some(pos) => Ok(self.finish(pos)),
            None => Err(TrySelectError),
        }
    }

    /// Waits until a receiver is ready, receives from it, and returns its index and its
    /// closure's output.
    ///
    /// # Panics
    ///
    /// If the select has no receivers (it would wait for ever).
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::channel::{bounded, Select};
    ///
    /// let (tx_a, a) = bounded::<u8>(0);
    /// let (_tx_b, b) = bounded::<u8>(0);
    /// let sender = std::thread::spawn(move || tx_a.send(5));
    /// let mut select = Select::new();
    /// let ia = select.recv(&a, |r| r);
    /// select.recv(&b, |r| r);
    /// assert_eq!(select.select(), (ia, Ok(5)));
    /// assert_eq!(sender.join().unwrap(), Ok(()));
    /// ```
    pub fn select(&mut self) -> (usize, O) {
        assert!(
            !self.arms.is_empty(),
            "Select::select with no receivers would wait for ever"
        );
        self.run(None).expect("no deadline")
    }

    /// As [`select`](Self::select), waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::channel::{unbounded, Select, SelectTimeoutError};
    /// use std::time::Duration;
    ///
    /// let (tx, rx) = unbounded::<u8>();
    /// let mut select = Select::new();
    /// let i = select.recv(&rx, |r| r);
    /// let wait = Duration::from_millis(5);
    /// assert_eq!(select.select_timeout(wait), Err(SelectTimeoutError));
    /// tx.send(3).unwrap();
    /// assert_eq!(select.select_timeout(wait), Ok((i, Ok(3))));
    /// ```
    pub fn select_timeout(&mut self, timeout: Duration) -> Result<(usize, O), SelectTimeoutError> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.select_deadline(deadline),
            // A timeout past the clock's range: no deadline, so as `select` (which panics with
            // no receivers rather than sleep for ever).
            None => Ok(self.select()),
        }
    }

    /// As [`select`](Self::select), waiting until `deadline` at most. With no receivers it
    /// sleeps until the deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use mqsync::channel::{unbounded, Select};
    /// use std::time::{Duration, Instant};
    ///
    /// let (tx, rx) = unbounded::<u8>();
    /// tx.send(4).unwrap();
    /// let mut select = Select::new();
    /// let i = select.recv(&rx, |r| r);
    /// let deadline = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(select.select_deadline(deadline), Ok((i, Ok(4))));
    /// ```
    pub fn select_deadline(&mut self, deadline: Instant) -> Result<(usize, O), SelectTimeoutError> {
        self.run(Some(deadline)).ok_or(SelectTimeoutError)
    }

    /// L1–L4 of the protocol. `None`: the deadline passed.
    fn run(&mut self, deadline: Option<Instant>) -> Option<(usize, O)> {
        let mut backoff = Backoff::new();
        // Under loom a deadline passes at the first wait (as in `wait_any` and zero.rs): loom
        // has no wall clock, and waiting for the real one would only spin.
        let mut waited = false;
        loop {
            if let Some(pos) = self.scan() {
                return Some(self.finish(pos)); // L3
            }
            if deadline.is_some_and(|d| (cfg!(mqsync_loom) && waited) || Instant::now() >= d) {
                self.pass_on(None); // L4
                return None;
            }
            // The scan found every channel empty after the last wait's S4: the wake-ups of
            // that wait are spent (module essay).
            self.forget();
            // L2. Under loom a select sleeps at once: loom runs the other threads to completion
            // at every yield, so spinning first would hide the races of registration.
            if !cfg!(mqsync_loom) && !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            let arms = &self.arms;
            let ready = || arms.iter().any(|entry| entry.arm.can_recv());
            wait_any(&self.lists, &mut self.taken, ready, deadline);
            waited = true;
            // As `Pace`: after a wake-up the spin starts afresh before sleeping again.
            backoff = Backoff::new();
        }
    }

    /// L1: the position of the first arm, from `next` on, whose `try_claim` succeeds.
    fn scan(&mut self) -> Option<usize> {
        let n = self.arms.len();
        for k in 0..n {
            let pos = (self.next + k) % n;
            if self.arms[pos].arm.try_claim() {
                return Some(pos);
            }
        }
        None
    }

    /// L3: passes on the other lists' wake-ups, moves the round robin past the winner, and
    /// delivers the winner's claim.
    fn finish(&mut self, pos: usize) -> (usize, O) {
        self.pass_on(Some(pos));
        self.next = (pos + 1) % self.arms.len();
        let entry = &mut self.arms[pos];
        (entry.index, entry.arm.deliver())
    }

    /// Hands every wake-up we hold, except arm `keep`'s, to the next sleeper of its list.
    fn pass_on(&mut self, keep: Option<usize>) {
        for (pos, taken) in self.taken.iter_mut().enumerate() {
            if std::mem::take(taken) && Some(pos) != keep {
                self.lists[pos].notify_one();
            }
        }
    }

    /// Drops the wake-ups of the last wait, spent by a scan that found nothing.
    fn forget(&mut self) {
        self.taken.iter_mut().for_each(|taken| *taken = false);
    }
}

impl<O> Default for Select<'_, O> {
    fn default() -> Self {
        Select::new()
    }
}

impl<O> fmt::Debug for Select<'_, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("receivers", &self.arms.len())
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}
