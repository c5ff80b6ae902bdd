//! [`Sink`]: where the engine applies changes, and [`IntoSink`], how a builder takes one.

use super::change::Change;
use super::error::SinkError;
use std::sync::Arc;

/// A target that applies batches of changes. Implementations must be idempotent per change
/// (applying a change again, or an older version, leaves the target unchanged): the engine
/// delivers at least once. The engine's workers call `apply` concurrently (each with the
/// changes of different keys), so a sink is `Sync` and handles its own locking.
///
/// ```
/// use mqsync::sync::{Change, Sink, SinkError};
///
/// struct Log(std::sync::Mutex<Vec<String>>);
/// impl Sink for Log {
///     fn name(&self) -> &str { "log" }
///     fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
///         self.0.lock().unwrap().extend(batch.iter().map(|c| c.id.clone()));
///         Ok(())
///     }
/// }
/// let log = Log(Default::default());
/// log.apply(&[Change::delete("k", 1)]).unwrap();
/// assert_eq!(*log.0.lock().unwrap(), ["k@1"]);
/// ```
pub trait Sink: Send + Sync {
    /// A name for reports and dead letters.
    fn name(&self) -> &str;

    /// Applies `batch` in order. On error, says which items failed (the rest must have been
    /// applied) or that the whole batch failed (none applied).
    fn apply(&self, batch: &[Change]) -> Result<(), SinkError>;

    /// Applies `batch` in order, owning the changes: a sink that keeps them (an in-memory
    /// target, a buffer it sends later) takes them out of `batch` instead of copying them.
    ///
    /// The engine calls this instead of [`apply`](Self::apply) when nothing after the sink needs
    /// the batch: for its last sink, when no observer listens and no earlier sink gave up on a
    /// change of the batch. The default lends the batch to `apply` and, once applied, moves it
    /// into `spent`.
    ///
    /// The contract, so that a failure or a panic loses nothing:
    ///
    /// * Take changes from the front of `batch` ([`Iterator::next`]) only as you apply them.
    /// * `Ok(())`: the whole batch is applied, whether or not you took every change.
    /// * `Err` or a panic: the changes taken count as applied; those still in `batch` as not
    ///   applied, and the engine retries them as it retries a failed [`apply`](Self::apply) (an
    ///   [`SinkError::Items`] index counts from the first change still in `batch`).
    /// * `spent` takes what you took and no longer need (a change you applied by copying, or
    ///   what is left of one after you moved its key or value out): the engine drops it away
    ///   from the worker thread, so that freeing memory stays off the apply path. Dropping it
    ///   yourself is correct too, only slower for the engine.
    ///
    /// ```
    /// use mqsync::sync::{Change, Sink, SinkError};
    /// use std::sync::Mutex;
    ///
    /// /// Keeps every change, moved rather than copied.
    /// struct Keep(Mutex<Vec<Change>>);
    /// impl Sink for Keep {
    ///     fn name(&self) -> &str { "keep" }
    ///     fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
    ///         self.0.lock().unwrap().extend_from_slice(batch);
    ///         Ok(())
    ///     }
    ///     fn apply_owned(
    ///         &self,
    ///         batch: &mut std::vec::IntoIter<Change>,
    ///         _spent: &mut Vec<Change>,
    ///     ) -> Result<(), SinkError> {
    ///         self.0.lock().unwrap().extend(batch);
    ///         Ok(())
    ///     }
    /// }
    /// let keep = Keep(Mutex::new(Vec::new()));
    /// let mut spent = Vec::new();
    /// keep.apply_owned(&mut vec![Change::delete("k", 1)].into_iter(), &mut spent).unwrap();
    /// assert_eq!(keep.0.lock().unwrap()[0].id, "k@1");
    /// assert!(spent.is_empty());
    /// ```
    fn apply_owned(
        &self,
        batch: &mut std::vec::IntoIter<Change>,
        spent: &mut Vec<Change>,
    ) -> Result<(), SinkError> {
        self.apply(batch.as_slice())?;
        spent.extend(batch);
        Ok(())
    }
}

/// What [`DataSyncBuilder::sink`](super::DataSyncBuilder::sink) takes: a sink by value, or an
/// `Arc` of one (`Arc<YourSink>`, `Arc<dyn Sink>`) when you keep a handle to read the target.
///
/// ```
/// use mqsync::sync::{IntoSink, Replica};
/// use std::sync::Arc;
///
/// let replica = Arc::new(Replica::new());
/// let shared = Arc::clone(&replica).into_sink();
/// let owned = Replica::new().into_sink();
/// assert_eq!(shared.name(), owned.name());
/// ```
pub trait IntoSink {
    /// The sink, shared.
    fn into_sink(self) -> Arc<dyn Sink>;
}

impl<S: Sink + 'static> IntoSink for S {
    fn into_sink(self) -> Arc<dyn Sink> {
        Arc::new(self)
    }
}

impl<S: Sink + 'static> IntoSink for Arc<S> {
    fn into_sink(self) -> Arc<dyn Sink> {
        self
    }
}

impl IntoSink for Arc<dyn Sink> {
    fn into_sink(self) -> Arc<dyn Sink> {
        self
    }
}
