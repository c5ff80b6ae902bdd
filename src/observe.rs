//! Every `tracing` span and event and every `metrics` series the crate emits, in one place.
//!
//! The rest of the crate calls these helpers in one line where something happens (a batch
//! delivered, a retry, a dead letter, a reconnect). With the `tracing` and `metrics` features
//! off, every helper is an empty `#[inline(always)]` function and the calls compile to nothing;
//! their arguments are plain values and borrows already at hand, so nothing is computed for
//! them either.
//!
//! Names, types, units and labels are listed in `docs/observability.md`; keep that file true
//! when a series or event changes. Rules the names follow, so that `metrics-exporter-prometheus`
//! exports them unchanged:
//!
//! * snake case, prefixed `mqsync_<layer>_`; counters end in `_total`, durations are seconds
//!   and end in `_seconds`;
//! * labels carry names the application chose (a source, a sink, a stream), never a URL or
//!   anything read from a connection string, so a credential can never reach a label;
//! * events are under the target `mqsync::<layer>`; warn for what loses a message for good (a
//!   dead letter) or breaks a connection, info for recoveries, debug for routine retries,
//!   redeliveries and expirations, trace for per-batch detail.
//
// Cost with the features on: an event or span whose level is disabled costs one relaxed load
// (tracing's callsite interest cache). A `metrics` call looks the series up in the installed
// recorder (a hash of name and labels); the crate calls them once per batch, per pull, per
// settlement, never per byte. Label values are copied (`to_owned`) only when the `metrics`
// feature is on.

#![allow(unused_variables)] // every parameter is unused with both features off

#[cfg(feature = "delivery")]
use crate::delivery::DeadReason;
#[cfg(feature = "sync")]
use std::fmt::Display;
#[cfg(feature = "sync")]
use std::time::Duration;

/// Series names: one constant per series, used by the helpers below and by the tests.
#[cfg(feature = "metrics")]
pub(crate) mod names {
    pub(crate) const SYNC_PULLED: &str = "mqsync_sync_pulled_total";
    pub(crate) const SYNC_APPLIED: &str = "mqsync_sync_applied_total";
    pub(crate) const SYNC_DEAD_LETTERED: &str = "mqsync_sync_dead_lettered_total";
    pub(crate) const SYNC_RETRIES: &str = "mqsync_sync_retries_total";
    pub(crate) const SYNC_SPLITS: &str = "mqsync_sync_batch_splits_total";
    pub(crate) const SYNC_COMMITTED: &str = "mqsync_sync_committed_total";
    pub(crate) const SYNC_SOURCE_ERRORS: &str = "mqsync_sync_source_errors_total";
    pub(crate) const SYNC_IN_FLIGHT: &str = "mqsync_sync_in_flight";
    pub(crate) const SYNC_APPLY_LATENCY: &str = "mqsync_sync_apply_latency_seconds";
    pub(crate) const SYNC_BATCH_SIZE: &str = "mqsync_sync_batch_size";
    pub(crate) const SYNC_SINK_BATCH_DURATION: &str = "mqsync_sync_sink_batch_duration_seconds";
    pub(crate) const REDIS_CONNECTION_LOST: &str = "mqsync_redis_connection_lost_total";
    pub(crate) const REDIS_CONNECT_FAILURES: &str = "mqsync_redis_connect_failures_total";
    pub(crate) const REDIS_RECONNECTS: &str = "mqsync_redis_reconnects_total";
    pub(crate) const RABBITMQ_CONNECTION_LOST: &str = "mqsync_rabbitmq_connection_lost_total";
    pub(crate) const RABBITMQ_CONNECT_FAILURES: &str = "mqsync_rabbitmq_connect_failures_total";
    pub(crate) const RABBITMQ_RECONNECTS: &str = "mqsync_rabbitmq_reconnects_total";
    pub(crate) const RABBITMQ_DEAD_LETTERED: &str = "mqsync_rabbitmq_dead_lettered_total";
    pub(crate) const DELIVERY_PUBLISHED: &str = "mqsync_delivery_published_total";
    pub(crate) const DELIVERY_DELIVERED: &str = "mqsync_delivery_delivered_total";
    pub(crate) const DELIVERY_ACKED: &str = "mqsync_delivery_acked_total";
    pub(crate) const DELIVERY_REDELIVERED: &str = "mqsync_delivery_redelivered_total";
    pub(crate) const DELIVERY_DEAD_LETTERED: &str = "mqsync_delivery_dead_lettered_total";
    pub(crate) const DELIVERY_EXPIRED: &str = "mqsync_delivery_expired_total";
    pub(crate) const DELIVERY_TIMED_OUT: &str = "mqsync_delivery_timed_out_total";
    pub(crate) const DELIVERY_READY: &str = "mqsync_delivery_ready";
    pub(crate) const DELIVERY_UNACKED: &str = "mqsync_delivery_unacked";
}

#[cfg(feature = "metrics")]
use names::*;

/// Registers every series' unit and description with the installed recorder (exporters print
/// them as `# HELP` and `# TYPE` lines). Called once, the first time any engine or queue starts.
#[cfg(feature = "metrics")]
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        describe_counter!(SYNC_PULLED, Unit::Count, "Changes pulled from a source.");
        describe_counter!(SYNC_APPLIED, Unit::Count, "Changes applied by every sink.");
        describe_counter!(SYNC_DEAD_LETTERED, Unit::Count, "Changes dead-lettered.");
        describe_counter!(SYNC_RETRIES, Unit::Count, "Failed sink attempts retried.");
        describe_counter!(SYNC_SPLITS, Unit::Count, "Failed batches split in halves.");
        describe_counter!(
            SYNC_COMMITTED,
            Unit::Count,
            "Changes committed to a source."
        );
        describe_counter!(SYNC_SOURCE_ERRORS, Unit::Count, "Failed pulls and commits.");
        describe_gauge!(
            SYNC_IN_FLIGHT,
            Unit::Count,
            "Pulled, not yet applied or dead."
        );
        describe_histogram!(SYNC_APPLY_LATENCY, Unit::Seconds, "Pull to apply latency.");
        describe_histogram!(SYNC_BATCH_SIZE, Unit::Count, "Changes per worker batch.");
        describe_histogram!(
            SYNC_SINK_BATCH_DURATION,
            Unit::Seconds,
            "Delivery of one batch to one sink, retries included."
        );
        describe_counter!(
            REDIS_CONNECTION_LOST,
            Unit::Count,
            "Redis connections lost."
        );
        describe_counter!(REDIS_CONNECT_FAILURES, Unit::Count, "Failed connects.");
        describe_counter!(REDIS_RECONNECTS, Unit::Count, "Reconnects after a loss.");
        describe_counter!(
            RABBITMQ_CONNECTION_LOST,
            Unit::Count,
            "RabbitMQ connections closed after a failure."
        );
        describe_counter!(RABBITMQ_CONNECT_FAILURES, Unit::Count, "Failed connects.");
        describe_counter!(RABBITMQ_RECONNECTS, Unit::Count, "Reconnects after a loss.");
        describe_counter!(
            RABBITMQ_DEAD_LETTERED,
            Unit::Count,
            "Messages moved to the dead-letter queue."
        );
        describe_counter!(DELIVERY_PUBLISHED, Unit::Count, "Messages published.");
        describe_counter!(DELIVERY_DELIVERED, Unit::Count, "Deliveries handed out.");
        describe_counter!(DELIVERY_ACKED, Unit::Count, "Messages acknowledged.");
        describe_counter!(DELIVERY_REDELIVERED, Unit::Count, "Messages requeued.");
        describe_counter!(
            DELIVERY_DEAD_LETTERED,
            Unit::Count,
            "Messages dead-lettered."
        );
        describe_counter!(DELIVERY_EXPIRED, Unit::Count, "Messages past their TTL.");
        describe_counter!(DELIVERY_TIMED_OUT, Unit::Count, "Visibility timeouts.");
        describe_gauge!(
            DELIVERY_READY,
            Unit::Count,
            "Messages waiting for a consumer."
        );
        describe_gauge!(DELIVERY_UNACKED, Unit::Count, "Deliveries out, unsettled.");
    });
}

/// Registers the series descriptions; called when an engine or a delivery queue is built.
#[inline(always)]
pub(crate) fn started() {
    #[cfg(feature = "metrics")]
    describe();
}

/// Entered for as long as a batch is processed; empty without the `tracing` feature.
#[cfg(feature = "sync")]
#[must_use = "the span ends when the guard is dropped"]
pub(crate) struct SpanGuard {
    #[cfg(feature = "tracing")]
    _span: tracing::span::EnteredSpan,
    /// When the span began, for the duration histograms.
    #[cfg(feature = "metrics")]
    started: std::time::Instant,
}

// ---------------------------------------------------------------------------------------------
// The sync engine (src/sync/engine/, src/sync/retry.rs).

/// A worker starts on a batch of `size` changes: the span `mqsync.sync.batch` around the
/// delivery to every sink, and the batch size histogram.
#[cfg(feature = "sync")]
#[inline(always)]
pub(crate) fn sync_batch(size: usize) -> SpanGuard {
    #[cfg(feature = "metrics")]
    metrics::histogram!(SYNC_BATCH_SIZE).record(size as f64);
    SpanGuard {
        #[cfg(feature = "tracing")]
        _span: tracing::debug_span!(target: "mqsync::sync", "mqsync.sync.batch", size).entered(),
        #[cfg(feature = "metrics")]
        started: std::time::Instant::now(),
    }
}

/// A batch goes to one sink: the span `mqsync.sync.deliver`, a child of the batch's.
#[cfg(feature = "sync")]
#[inline(always)]
pub(crate) fn sync_deliver(sink: &str, size: usize) -> SpanGuard {
    SpanGuard {
        #[cfg(feature = "tracing")]
        _span: tracing::debug_span!(target: "mqsync::sync", "mqsync.sync.deliver", sink, size)
            .entered(),
        #[cfg(feature = "metrics")]
        started: std::time::Instant::now(),
    }
}

/// A sink finished the batch that `delivering` (from [`sync_deliver`]) spans, after `retries`
/// failed attempts; ends the span.
#[cfg(feature = "sync")]
#[inline(always)]
pub(crate) fn sync_delivered(delivering: SpanGuard, sink: &str, retries: u64) {
    #[cfg(feature = "metrics")]
    {
        metrics::histogram!(SYNC_SINK_BATCH_DURATION, "sink" => sink.to_owned())
            .record(delivering.started.elapsed().as_secs_f64());
        if retries > 0 {
            metrics::counter!(SYNC_RETRIES, "sink" => sink.to_owned()).increment(retries);
        }
    }
}

/// A sink failed `failed` changes of a part of a batch, and they will be tried again after
/// attempt number `attempt`.
#[cfg(feature = "sync")]
#[inline(always)]
pub(crate) fn sync_retry(sink: &str, attempt: u32, failed: usize, reason: &dyn Display) {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "mqsync::sync", sink, attempt, failed, reason = %reason, "sink failed; retrying");
}

/// A sink failed a whole part of `size` changes, which is split in halves to isolate the
/// poison.
#[cfg(feature = "sync")]
#[inline(always)]
pub(crate) fn sync_split(sink: &str, size: usize, reason: &dyn Display) {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "mqsync::sync", sink, size, reason = %reason, "batch failed; splitting");
    #[cfg(feature = "metrics")]
    metrics::counter!(SYNC_SPLITS, "sink" => sink.to_owned()).increment(1);
}

/// A change is dead-lettered: `sink` gave up on it (or `"engine"` refused it).
#[cfg(feature = "sync")]
#[inline(always)]
pub(crate) fn sync_dead_letter(sink: &str, key: &str, reason: &dyn Display) {
    #[cfg(feature = "tracing")]
    tracing::warn!(target: "mqsync::sync", sink, key, reason = %reason, "change dead-lettered");
    #[cfg(feature = "metrics")]
    metrics::counter!(SYNC_DEAD_LETTERED, "sink" => sink.to_owned()).increment(1);
}

/// `count` changes, pulled together, were applied by every sink `latency` after they were
/// pulled.
#[cfg(feature = "sync")]
#[inline(always)]
pub(crate) fn sync_applied(latency: Duration, count: usize) {
    #[cfg(feature = "metrics")]
    {
        metrics::counter!(SYNC_APPLIED).increment(count as u64);
        metrics::histogram!(SYNC_APPLY_LATENCY).record_many(latency.as_secs_f64(), count);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (latency, count);
}

/// The reader pulled `count` changes from `source`, which had `in_flight` changes pulled and not
/// yet confirmed before these.
#[cfg(feature = "sync")]
#[inline(always)]
pub(crate) fn sync_pulled(source: &str, count: usize, in_flight: usize) {
    if count == 0 {
        return;
    }
    #[cfg(feature = "tracing")]
    tracing::trace!(target: "mqsync::sync", source, count, "pulled");
    #[cfg(feature = "metrics")]
    metrics::counter!(SYNC_PULLED, "source" => source.to_owned()).increment(count as u64);
    sync_in_flight(source, in_flight + count);
}

/// `source` committed `newly` more changes, through change number `through`.
#[cfg(feature = "sync")]
#[inline(always)]
pub(crate) fn sync_committed(source: &str, newly: u64, through: u64) {
    #[cfg(feature = "tracing")]
    tracing::trace!(target: "mqsync::sync", source, through, "committed");
    #[cfg(feature = "metrics")]
    metrics::counter!(SYNC_COMMITTED, "source" => source.to_owned()).increment(newly);
}

/// `source` failed to `op` (`"pull"` or `"commit"`); the engine tries again later.
#[cfg(feature = "sync")]
#[inline(always)]
pub(crate) fn sync_source_error(source: &str, op: &'static str, error: &dyn Display) {
    #[cfg(feature = "tracing")]
    tracing::warn!(target: "mqsync::sync", source, op, error = %error, "source failed");
    #[cfg(feature = "metrics")]
    metrics::counter!(SYNC_SOURCE_ERRORS, "source" => source.to_owned(), "op" => op).increment(1);
}

/// `source` has `in_flight` changes pulled and not yet confirmed (its lag, in changes); set by
/// the reader after each pull that brought changes and after each commit.
#[cfg(feature = "sync")]
#[inline(always)]
pub(crate) fn sync_in_flight(source: &str, in_flight: usize) {
    #[cfg(feature = "metrics")]
    metrics::gauge!(SYNC_IN_FLIGHT, "source" => source.to_owned()).set(in_flight as f64);
}

// ---------------------------------------------------------------------------------------------
// Redis Streams (src/sync/redis_streams/link.rs). `stream` is the stream's name, never the URL.

/// A call failed in a way that breaks the connection; the next call reconnects.
#[cfg(feature = "redis")]
#[inline(always)]
pub(crate) fn redis_connection_lost(stream: &str, error: &dyn Display) {
    #[cfg(feature = "tracing")]
    tracing::warn!(target: "mqsync::redis", stream, error = %error, "redis connection lost");
    #[cfg(feature = "metrics")]
    metrics::counter!(REDIS_CONNECTION_LOST, "stream" => stream.to_owned()).increment(1);
}

/// A connection attempt ended: `Ok` after a loss or failure (`reconnect`) is a reconnect.
#[cfg(feature = "redis")]
#[inline(always)]
pub(crate) fn redis_connected<T, E: Display>(
    stream: &str,
    reconnect: bool,
    attempt: &Result<T, E>,
) {
    match attempt {
        Ok(_) if reconnect => {
            #[cfg(feature = "tracing")]
            tracing::info!(target: "mqsync::redis", stream, "redis reconnected");
            #[cfg(feature = "metrics")]
            metrics::counter!(REDIS_RECONNECTS, "stream" => stream.to_owned()).increment(1);
        }
        Ok(_) => {}
        Err(error) => {
            #[cfg(feature = "tracing")]
            tracing::warn!(target: "mqsync::redis", stream, error = %error, "redis connect failed");
            #[cfg(feature = "metrics")]
            metrics::counter!(REDIS_CONNECT_FAILURES, "stream" => stream.to_owned()).increment(1);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RabbitMQ (src/sync/rabbitmq/link.rs, source.rs). `link` is the source's or the sink's name
// (`rabbitmq:<queue>`, `rabbitmq:<exchange>/<routing key>`), never the URL.

/// A failure closed the connection (the source forgets what it held); the next call reconnects.
#[cfg(feature = "rabbitmq")]
#[inline(always)]
pub(crate) fn rabbitmq_connection_lost(link: &str, error: &dyn Display) {
    #[cfg(feature = "tracing")]
    tracing::warn!(target: "mqsync::rabbitmq", link, error = %error, "rabbitmq connection lost");
    #[cfg(feature = "metrics")]
    metrics::counter!(RABBITMQ_CONNECTION_LOST, "link" => link.to_owned()).increment(1);
}

/// A connection attempt ended: `Ok` after a loss or failure (`reconnect`) is a reconnect.
#[cfg(feature = "rabbitmq")]
#[inline(always)]
pub(crate) fn rabbitmq_connected<T, E: Display>(
    link: &str,
    reconnect: bool,
    attempt: &Result<T, E>,
) {
    match attempt {
        Ok(_) if reconnect => {
            #[cfg(feature = "tracing")]
            tracing::info!(target: "mqsync::rabbitmq", link, "rabbitmq reconnected");
            #[cfg(feature = "metrics")]
            metrics::counter!(RABBITMQ_RECONNECTS, "link" => link.to_owned()).increment(1);
        }
        Ok(_) => {}
        Err(error) => {
            #[cfg(feature = "tracing")]
            tracing::warn!(target: "mqsync::rabbitmq", link, error = %error, "rabbitmq connect failed");
            #[cfg(feature = "metrics")]
            metrics::counter!(RABBITMQ_CONNECT_FAILURES, "link" => link.to_owned()).increment(1);
        }
    }
}

/// A message went to the dead-letter queue (its publish confirmed) and was acked.
#[cfg(feature = "rabbitmq")]
#[inline(always)]
pub(crate) fn rabbitmq_dead_lettered(link: &str, reason: &str, deliveries: u64) {
    #[cfg(feature = "tracing")]
    tracing::warn!(target: "mqsync::rabbitmq", link, reason, deliveries, "rabbitmq message dead-lettered");
    #[cfg(feature = "metrics")]
    metrics::counter!(RABBITMQ_DEAD_LETTERED, "link" => link.to_owned()).increment(1);
}

// ---------------------------------------------------------------------------------------------
// Delivery queues (src/delivery/*.rs). The gauges are moved by increments and decrements at the
// points where a message changes state, so they sum over every queue of the process.

/// A message was published.
/// A delivery queue was dropped with `ready` messages still in its lanes: they leave the
/// process-wide `ready` gauge with it (nothing can be unacknowledged then: every delivery keeps
/// its queue alive).
#[cfg(all(feature = "delivery", feature = "metrics"))]
#[inline(always)]
pub(crate) fn delivery_queue_dropped(ready: usize) {
    if ready > 0 {
        metrics::gauge!(DELIVERY_READY).decrement(ready as f64);
    }
}

#[cfg(feature = "delivery")]
#[inline(always)]
pub(crate) fn delivery_published(priority: u8) {
    #[cfg(feature = "metrics")]
    {
        metrics::counter!(DELIVERY_PUBLISHED).increment(1);
        metrics::gauge!(DELIVERY_READY).increment(1.0);
    }
}

/// A message was handed to a consumer (delivery number `deliveries`).
#[cfg(feature = "delivery")]
#[inline(always)]
pub(crate) fn delivery_delivered(deliveries: u32) {
    #[cfg(feature = "metrics")]
    {
        metrics::counter!(DELIVERY_DELIVERED).increment(1);
        metrics::gauge!(DELIVERY_READY).decrement(1.0);
        metrics::gauge!(DELIVERY_UNACKED).increment(1.0);
    }
}

/// A delivery was acknowledged.
#[cfg(feature = "delivery")]
#[inline(always)]
pub(crate) fn delivery_acked() {
    #[cfg(feature = "metrics")]
    metrics::counter!(DELIVERY_ACKED).increment(1);
}

/// A delivery was settled in any way (ack, nack, reject, drop, visibility timeout).
#[cfg(feature = "delivery")]
#[inline(always)]
pub(crate) fn delivery_released() {
    #[cfg(feature = "metrics")]
    metrics::gauge!(DELIVERY_UNACKED).decrement(1.0);
}

/// A delivered message went back to the front of its lane after `deliveries` deliveries.
#[cfg(feature = "delivery")]
#[inline(always)]
pub(crate) fn delivery_redelivered(priority: u8, deliveries: u32) {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "mqsync::delivery", priority, deliveries, "message requeued");
    #[cfg(feature = "metrics")]
    {
        metrics::counter!(DELIVERY_REDELIVERED).increment(1);
        metrics::gauge!(DELIVERY_READY).increment(1.0);
    }
}

/// A ready message outlived its time to live before a consumer received it (it is then
/// dead-lettered, see [`delivery_dead_letter`]).
#[cfg(feature = "delivery")]
#[inline(always)]
pub(crate) fn delivery_expired(priority: u8) {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "mqsync::delivery", priority, "message expired");
    #[cfg(feature = "metrics")]
    {
        metrics::counter!(DELIVERY_EXPIRED).increment(1);
        metrics::gauge!(DELIVERY_READY).decrement(1.0);
    }
}

/// A delivery outlived the visibility timeout and is requeued.
#[cfg(feature = "delivery")]
#[inline(always)]
pub(crate) fn delivery_timed_out() {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "mqsync::delivery", "visibility timeout; requeueing");
    #[cfg(feature = "metrics")]
    metrics::counter!(DELIVERY_TIMED_OUT).increment(1);
}

/// A message was dead-lettered, for `reason`, after `deliveries` deliveries.
#[cfg(feature = "delivery")]
#[inline(always)]
pub(crate) fn delivery_dead_letter(reason: DeadReason, deliveries: u32, priority: u8) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: "mqsync::delivery",
        reason = %reason,
        deliveries,
        priority,
        "message dead-lettered"
    );
    #[cfg(feature = "metrics")]
    {
        let reason = match reason {
            DeadReason::Rejected => "rejected",
            DeadReason::DeliveryLimit(_) => "delivery_limit",
            DeadReason::Expired => "expired",
        };
        metrics::counter!(DELIVERY_DEAD_LETTERED, "reason" => reason).increment(1);
    }
}
