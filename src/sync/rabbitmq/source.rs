//! [`RabbitMqSource`]: a [`Source`] that consumes a durable RabbitMQ queue with manual
//! acknowledgements, and acknowledges a message only once every sink confirmed it.
//
// The protocol
// ============
//
// Per message, in AMQP's terms: `basic.consume` (manual ack) with `basic.qos(prefetch)` makes the
// broker push up to `prefetch` unacknowledged deliveries to this channel, each with a delivery
// tag that counts up from 1 *per channel*; `basic.ack(tag, multiple)` settles the tag (and, with
// `multiple`, every earlier unsettled tag of the channel); a channel or connection that closes
// hands every unsettled delivery back to the queue, marked `redelivered` (and, on a quorum queue,
// with `x-delivery-count` raised). Here:
//
//   consumer thread ──▶ rx ──▶ pull: decode ──▶ held (seq, tag) ──▶ engine ──▶ commit(through)
//                                 │                                   └─▶ basic.ack(tag of the
//                                 │                                        last seq <= through,
//                                 │                                        multiple = true)
//                                 └─ malformed, or delivered > limit ──▶ publish to the dead-letter
//                                    queue, wait for its confirm ──▶ basic.ack(tag, single)
//
// [1] Order. The consumer thread forwards deliveries in the order the channel received them,
//     which is tag order; a pull takes them in that order. So when the source holds tag t, every
//     tag below t of this channel was pulled before it, and is either held (with a smaller seq)
//     or already settled as a dead letter.
// [2] Numbering. `held` is in pull order, and the engine numbers the changes a pull returns
//     from 0, one per change, in pull order: those numbers are exactly the `seq`s. Dead letters
//     are never returned and take no number.
// [3] Commit. `commit(through)` finds the last held entry with seq <= through and acks its tag
//     with `multiple`. By [1] the tags this settles are exactly the held entries with
//     seq <= through (the dead letters among the smaller tags were settled one by one, and
//     a settled tag is not settled again), so one frame acks the whole prefix and nothing the
//     engine has not committed. Nothing is acked before the engine commits, and the engine
//     commits only what every sink confirmed (or dead-lettered): commit-after-confirm.
// [4] Dead letters are acked single (`multiple = false`: smaller held tags are not committed
//     yet), on the consumer's channel, and only once the broker confirmed the dead-letter
//     publish, made on a connection of its own in confirm mode (a publish the broker never
//     confirms then cannot wedge the consumer's channel). A publish that fails, is nacked or
//     times out resets both ([5]): the message is not lost, it comes back.
// [5] Reconnect. Any failure of the channel (the consumer thread reports an error or ends, an
//     ack or publish fails) closes the connection and *forgets* `held`: its tags belonged to the
//     dead channel and mean nothing (or another message) on the next one. The broker requeues
//     every unacked delivery of the dead channel, and they come back, redelivered, on the new
//     channel, where they get new tags and, when pulled, new seqs: `next_seq` goes on counting
//     across the reconnect, never reused. The engine still holds the old seqs and will commit
//     them later (it cannot know the channel died); `commit(through)` for a through that only
//     covers old seqs finds nothing held at or below it and does nothing, which is right: those
//     messages are back in the queue (or on the new channel under new seqs) and must not be
//     acked by number. A later `commit(through')` that covers a new seq s also covers every old
//     seq (they are smaller), so it never waits on a number that will not come. The redelivered
//     copies are applied again by the sinks; their version check makes that harmless
//     (at-least-once, effectively once).
//     Every wait on the broker is bounded (`link::OPERATION_TIMEOUT`): a publish, confirm or ack
//     that gets no answer fails like a lost channel and resets it, so a pull or commit never
//     blocks the engine's reader for good.
// [6] The consumer's prefetch bounds what the broker sends before acks: the engine holds pulled
//     changes until its sinks confirm, so the default prefetch is several batches (4 × the
//     first pull's size), letting the broker refill while the engine applies. While the window
//     is full (held >= prefetch) the broker sends nothing until an ack, so a pull does not wait
//     for more: it returns at once and lets the engine commit.
//
// Delivery counts ([`delivery_count`]): a quorum queue counts earlier deliveries in the
// `x-delivery-count` header (absent on the first), so deliveries = header + 1. A classic queue
// only sets `redelivered`; the source then counts, per message ID, the redeliveries it has seen
// itself (a process-local count: another consumer's deliveries, or this one's before a restart,
// are not seen; a redelivered message without an ID counts as delivered twice). Use quorum
// queues (the default) for a delivery limit that holds across consumers and restarts.

use super::codec::{self, decode, header_delivery_count};
use super::config::RabbitMqConfig;
use super::error::RabbitMqError;
use super::link::{wait, Link};
use crate::sync::change::Change;
use crate::sync::error::error_chain;
use crate::sync::source::{Source, SourceError};
use futures_core::Stream;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::FieldTable;
use lapin::Channel;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

/// The longest wait of a pull while this source holds deliveries not yet committed.
const HELD_BLOCK: Duration = Duration::from_millis(2);

/// What a [`RabbitMqSource`] did so far (read with [`RabbitMqSourceStats::snapshot`]).
///
/// ```
/// use mqsync::sync::{RabbitMqConfig, RabbitMqSource};
///
/// let source = RabbitMqSource::new(&RabbitMqConfig::builder("amqp://127.0.0.1", "orders").build()?);
/// let counts = source.stats().snapshot();
/// assert_eq!((counts.received, counts.acked, counts.dead_lettered), (0, 0, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RabbitMqSourceCounts {
    /// Deliveries handed to the engine.
    pub received: u64,
    /// Of those, deliveries the broker marked `redelivered`.
    pub redelivered: u64,
    /// Deliveries acknowledged after every sink confirmed them.
    pub acked: u64,
    /// Messages published to the dead-letter queue (confirmed) and acknowledged.
    pub dead_lettered: u64,
    /// Connections opened after the first (each one forgot the deliveries it held).
    pub reconnects: u64,
}

/// A live view of a [`RabbitMqSource`]'s counts that stays readable after the source moved
/// into an engine.
///
/// ```no_run
/// use mqsync::sync::{RabbitMqConfig, RabbitMqSource};
///
/// let source = RabbitMqSource::new(&RabbitMqConfig::builder("amqp://127.0.0.1:5672", "orders").build()?);
/// let stats = source.stats();
/// // ... hand `source` to a DataSync engine ...
/// println!("acked so far: {}", stats.snapshot().acked);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct RabbitMqSourceStats(Arc<Mutex<RabbitMqSourceCounts>>);

impl RabbitMqSourceStats {
    /// The counts now.
    ///
    /// ```
    /// use mqsync::sync::{RabbitMqConfig, RabbitMqSource};
    ///
    /// let source = RabbitMqSource::new(&RabbitMqConfig::builder("amqp://127.0.0.1", "q").build()?);
    /// assert_eq!(source.stats().snapshot().reconnects, 0);
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn snapshot(&self) -> RabbitMqSourceCounts {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut RabbitMqSourceCounts)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// A [`Source`] that consumes a durable RabbitMQ queue with manual acknowledgements (feature
/// `rabbitmq`).
///
/// * Declares the queue and the dead-letter queue (durable; quorum by default), puts its
///   channel in confirm mode, sets the prefetch (`basic.qos`) and consumes with manual acks.
/// * Decodes each message body (JSON, or by your [`decoder`](Self::decoder)) into a [`Change`]
///   and numbers the changes in pull order.
/// * Acknowledges only what the engine commits — every sink confirmed it, or the engine
///   dead-lettered it — with one `basic.ack(multiple)` per commit: messages in flight when the
///   process dies are redelivered by the broker to another consumer.
/// * A message that is not a change, or that was delivered more than `delivery_limit` times
///   (`x-delivery-count` on quorum queues; see `docs/rabbitmq.md` for classic ones), is
///   published to the dead-letter queue with the headers `x-mqsync-reason`,
///   `x-mqsync-queue` and `x-mqsync-deliveries`, and acknowledged only once the broker confirmed
///   that publish.
/// * A lost connection fails the pull with a [`SourceError::RabbitMq`]; the next pull
///   reconnects after a backoff of 10 ms doubling up to 500 ms. The deliveries held on the dead
///   channel are forgotten: the broker redelivers them (the numbering argument is in the
///   source file's protocol comment and `docs/rabbitmq.md`).
///
/// Delivery is at least once; the sinks' idempotency (version wins) makes it effectively once.
/// Blocking: the engine's reader thread waits in `pull` for up to the configured `block`. Runs
/// one connection (with lapin's I/O thread) and one consumer thread.
///
/// ```no_run
/// use mqsync::sync::{DataSync, RabbitMqConfig, RabbitMqSource, Replica};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let config = RabbitMqConfig::builder("amqp://app:secret@127.0.0.1:5672/%2f", "orders").build()?;
/// let replica = Arc::new(Replica::new());
/// let engine = DataSync::builder()
///     .source(RabbitMqSource::new(&config))
///     .sink(Arc::clone(&replica))
///     .start()?;
/// engine.wait_idle(Duration::from_secs(60));
/// engine.shutdown(); // acknowledges everything applied
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RabbitMqSource {
    name: String,
    config: RabbitMqConfig,
    link: Link,
    /// A connection of its own for the dead-letter publishes (confirm mode): a publish the
    /// broker never confirms wedges its channel in the broker, so that channel must hold no
    /// deliveries of the consumer ([4]).
    publisher: Link,
    /// The deliveries of the current channel, in tag order; `None` while no channel is open.
    deliveries: Option<Receiver<lapin::Result<Delivery>>>,
    /// Deliveries of the current channel handed to the engine and not yet acknowledged:
    /// (change number, delivery tag, message ID), in pull order (so in tag order, [1] above).
    /// Emptied when the channel is reset ([5]).
    held: VecDeque<(u64, u64, Option<String>)>,
    /// The next change number; never reset, not even across reconnects ([5]).
    next_seq: u64,
    /// Classic queues: redeliveries seen per message ID (see the essay on delivery counts).
    redeliveries: HashMap<String, u64>,
    /// True once a connection was opened: the next one is a reconnect.
    connected_once: bool,
    /// The prefetch count of the current consumer (0 while none).
    prefetch: usize,
    stats: RabbitMqSourceStats,
    /// Turns a body into a change ([`decoder`](RabbitMqSource::decoder)); `None`: the JSON
    /// form of a [`Change`].
    decoder: Option<Decoder>,
}

/// A body-to-change function given to [`RabbitMqSource::decoder`].
type Decoder = Box<dyn Fn(&[u8]) -> Result<Change, String> + Send>;

impl RabbitMqSource {
    /// A source over `config`'s queue, named `"rabbitmq:<queue>"`. The configuration was
    /// checked when it was built; this connects on the first pull (a broker that is down then
    /// is retried, not an error here).
    ///
    /// ```
    /// use mqsync::sync::{RabbitMqConfig, RabbitMqSource, Source};
    ///
    /// let config = RabbitMqConfig::builder("amqp://127.0.0.1", "orders").build()?;
    /// assert_eq!(RabbitMqSource::new(&config).name(), "rabbitmq:orders");
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn new(config: &RabbitMqConfig) -> Self {
        let settings = config.settings();
        let uri = settings
            .uri()
            .expect("checked by RabbitMqConfigBuilder::build");
        let name = format!("rabbitmq:{}", settings.queue());
        let tls_root: Option<std::sync::Arc<str>> = settings.tls_root().map(Into::into);
        RabbitMqSource {
            link: Link::new(uri.clone(), tls_root.clone(), &name),
            publisher: Link::new(uri, tls_root, &name),
            name,
            config: config.clone(),
            deliveries: None,
            held: VecDeque::new(),
            next_seq: 0,
            redeliveries: HashMap::new(),
            connected_once: false,
            prefetch: 0,
            stats: RabbitMqSourceStats::default(),
            decoder: None,
        }
    }

    /// Decodes message bodies with `decode` instead of reading them as the JSON form of a
    /// [`Change`]: the place to integrate whatever the producers publish (run an
    /// [`Integrator`](crate::integrate::Integrator) and convert its message). A body `decode`
    /// refuses goes to the dead-letter queue with `"malformed message: <its reason>"` and is
    /// acknowledged once that publish is confirmed, as a body that is not a change is by default.
    /// It runs on the engine's reader thread, once per delivery (a redelivered message again).
    ///
    /// ```
    /// use mqsync::integrate::{Input, Integrator, Raw};
    /// use mqsync::sync::{Change, RabbitMqConfig, RabbitMqSource};
    ///
    /// let integrator = Integrator::default();
    /// let config = RabbitMqConfig::builder("amqp://127.0.0.1", "events").build()?;
    /// let source = RabbitMqSource::new(&config).decoder(move |body: &[u8]| {
    ///     integrator
    ///         .integrate(Input::new("events", Raw::Json(body.to_vec())))
    ///         .map(Change::from)
    ///         .map_err(|rejection| rejection.reason.to_string())
    /// });
    /// # let _ = source;
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn decoder(
        mut self,
        decode: impl Fn(&[u8]) -> Result<Change, String> + Send + 'static,
    ) -> Self {
        self.decoder = Some(Box::new(decode));
        self
    }

    /// A live view of this source's counts (see [`RabbitMqSourceStats`]).
    ///
    /// ```
    /// use mqsync::sync::{RabbitMqConfig, RabbitMqSource};
    /// let source = RabbitMqSource::new(&RabbitMqConfig::builder("amqp://127.0.0.1", "q").build()?);
    /// assert_eq!(source.stats().snapshot().acked, 0);
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn stats(&self) -> RabbitMqSourceStats {
        self.stats.clone()
    }

    /// Deliveries handed to the engine and not yet acknowledged.
    ///
    /// ```no_run
    /// use mqsync::sync::{RabbitMqConfig, RabbitMqSource, Source};
    ///
    /// let mut source = RabbitMqSource::new(&RabbitMqConfig::builder("amqp://127.0.0.1:5672", "orders").build()?);
    /// let pulled = source.pull(10)?;
    /// assert_eq!(source.held(), pulled.len());
    /// if !pulled.is_empty() {
    ///     source.commit(pulled.len() as u64 - 1)?; // one basic.ack, multiple
    /// }
    /// assert_eq!(source.held(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn held(&self) -> usize {
        self.held.len()
    }

    fn error(&self, operation: &'static str, source: RabbitMqError) -> SourceError {
        SourceError::RabbitMq {
            operation,
            queue: self.config.queue_name().to_owned(),
            source,
        }
    }

    /// Forgets the channel and what it held ([5]), and fails with `source`.
    fn reset(&mut self, operation: &'static str, source: RabbitMqError) -> SourceError {
        self.deliveries = None;
        self.held.clear();
        self.link.reset(&source);
        self.error(operation, source)
    }

    /// Opens the channel if none is open: declares, qos, confirm mode, consume, and starts the
    /// thread that forwards the deliveries.
    fn ensure_consumer(&mut self, max: usize) -> Result<(), SourceError> {
        if self.deliveries.is_some() {
            if self.link.current().is_some() {
                return Ok(());
            }
            return Err(self.reset("consume", RabbitMqError::ConsumerClosed));
        }
        let settings = self.config.settings().clone();
        let prefetch = settings
            .prefetch_value()
            .unwrap_or_else(|| u16::try_from(max.saturating_mul(4)).unwrap_or(u16::MAX));
        let channel = match self.link.channel() {
            Ok((channel, _)) => channel.clone(),
            Err(e) => return Err(self.error("connect", e)),
        };
        match start_consumer(&channel, &settings, prefetch) {
            Ok(rx) => {
                self.link.succeeded();
                self.deliveries = Some(rx);
                self.prefetch = usize::from(prefetch);
                if self.connected_once {
                    self.stats.update(|s| s.reconnects += 1);
                }
                self.connected_once = true;
                Ok(())
            }
            Err(e) => Err(self.reset("consume", e)),
        }
    }

    /// How many times `delivery` was delivered (see the essay on delivery counts).
    fn delivery_count(&mut self, delivery: &Delivery) -> u64 {
        if let Some(earlier) = header_delivery_count(&delivery.properties) {
            return earlier.saturating_add(1);
        }
        if !delivery.redelivered {
            return 1;
        }
        match delivery.properties.message_id() {
            Some(id) => {
                let seen = self.redeliveries.entry(id.to_string()).or_insert(1);
                *seen += 1;
                *seen
            }
            None => 2,
        }
    }

    /// Publishes `dead` (delivery, deliveries, reason) to the dead-letter queue, waits for
    /// every confirm, then acks each single ([4]).
    fn dead_letter(&mut self, dead: &[(Delivery, u64, String)]) -> Result<(), SourceError> {
        if dead.is_empty() {
            return Ok(());
        }
        let settings = self.config.settings();
        let queue = settings.queue().to_owned();
        let dead_letter_queue = settings.dead_letter_queue_name();
        let Some(consumer) = self.link.current() else {
            return Err(self.reset("dead-letter publish", RabbitMqError::ConsumerClosed));
        };
        let channel = match self.publisher.channel() {
            Ok((channel, fresh)) => {
                let channel = channel.clone();
                let setup = if fresh {
                    wait(
                        "confirm.select",
                        channel.confirm_select(ConfirmSelectOptions::default()),
                    )
                } else {
                    Ok(())
                };
                match setup {
                    Ok(()) => channel,
                    Err(e) => {
                        self.publisher.reset(&e);
                        return Err(self.reset("dead-letter publish", e));
                    }
                }
            }
            Err(e) => return Err(self.reset("dead-letter publish", e)),
        };
        let outcome = (|| -> Result<(), RabbitMqError> {
            let mut confirms = Vec::with_capacity(dead.len());
            for (delivery, deliveries, reason) in dead {
                let properties = codec::dead_letter_properties(
                    &delivery.properties,
                    reason,
                    &queue,
                    *deliveries,
                );
                confirms.push(wait(
                    "basic.publish",
                    channel.basic_publish(
                        "",
                        &dead_letter_queue,
                        BasicPublishOptions {
                            mandatory: true,
                            ..BasicPublishOptions::default()
                        },
                        &delivery.data,
                        properties,
                    ),
                )?);
            }
            for confirm in confirms {
                match wait("basic.publish confirm", confirm)? {
                    Confirmation::Ack(None) => {}
                    Confirmation::Ack(Some(_)) => {
                        return Err(RabbitMqError::Unroutable {
                            count: 1,
                            exchange: String::new(),
                            routing_key: dead_letter_queue.clone(),
                        })
                    }
                    Confirmation::Nack(_) | Confirmation::NotRequested => {
                        return Err(RabbitMqError::Nacked { count: 1 })
                    }
                }
            }
            for (delivery, _, _) in dead {
                wait(
                    "basic.ack",
                    consumer.basic_ack(delivery.delivery_tag, BasicAckOptions { multiple: false }),
                )?;
            }
            Ok(())
        })();
        if let Err(e) = outcome {
            self.publisher.reset(&e);
            return Err(self.reset("dead-letter publish", e));
        }
        self.publisher.succeeded();
        for (delivery, deliveries, reason) in dead {
            if let Some(id) = delivery.properties.message_id() {
                self.redeliveries.remove(id.as_str());
            }
            crate::observe::rabbitmq_dead_lettered(&self.name, reason, *deliveries);
        }
        self.stats.update(|s| s.dead_lettered += dead.len() as u64);
        Ok(())
    }
}

/// Declares, sets qos and confirm mode, consumes `settings`' queue on `channel`, and starts
/// the thread that forwards its deliveries, in order ([1]), to the returned receiver. The
/// thread ends when the consumer ends (its channel closed) or the receiver is gone.
fn start_consumer(
    channel: &Channel,
    settings: &super::config::RabbitMqConfigBuilder,
    prefetch: u16,
) -> Result<Receiver<lapin::Result<Delivery>>, RabbitMqError> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let arguments = codec::queue_arguments(settings.is_quorum());
    wait(
        "queue.declare",
        channel.queue_declare(settings.queue(), durable, arguments.clone()),
    )?;
    wait(
        "queue.declare",
        channel.queue_declare(&settings.dead_letter_queue_name(), durable, arguments),
    )?;
    wait(
        "basic.qos",
        channel.basic_qos(prefetch, BasicQosOptions::default()),
    )?;
    wait(
        "confirm.select",
        channel.confirm_select(ConfirmSelectOptions::default()),
    )?;
    let mut consumer = wait(
        "basic.consume",
        channel.basic_consume(
            settings.queue(),
            "",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ),
    )?;
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("mqsync-rabbitmq-consumer".into())
        .spawn(move || {
            // Unbounded on purpose: this thread waits for deliveries, however long the queue
            // stays empty; it ends with its channel (a reset closes it).
            futures_executor::block_on(async move {
                loop {
                    let next = std::future::poll_fn(|cx| Pin::new(&mut consumer).poll_next(cx));
                    match next.await {
                        Some(item) => {
                            if tx.send(item).is_err() {
                                break;
                            }
                        }
                        None => break,
                    }
                }
            })
        })
        .map_err(RabbitMqError::Thread)?;
    Ok(rx)
}

impl Source for RabbitMqSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn pull(&mut self, max: usize) -> Result<Vec<Change>, SourceError> {
        let settings = self.config.settings();
        let max = max.clamp(1, settings.batch_size_value());
        let block = settings.block_value();
        let limit = settings.delivery_limit_value();
        self.ensure_consumer(max)?;
        // While deliveries await their commit, wait briefly: the engine commits between pulls.
        // With the prefetch window full, the broker sends nothing before an ack: do not wait.
        let block = if self.held.is_empty() {
            block
        } else if self.held.len() >= self.prefetch {
            Duration::ZERO
        } else {
            block.min(HELD_BLOCK)
        };
        let mut received = Vec::new();
        let mut closed = false;
        if let Some(rx) = &self.deliveries {
            let first = if block.is_zero() {
                rx.try_recv().map_err(|e| match e {
                    TryRecvError::Empty => RecvTimeoutError::Timeout,
                    TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                })
            } else {
                rx.recv_timeout(block)
            };
            match first {
                Ok(item) => received.push(item),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => closed = true,
            }
            while !closed && received.len() < max && !received.is_empty() {
                match rx.try_recv() {
                    Ok(item) => received.push(item),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => closed = true,
                }
            }
        }
        let mut deliveries = Vec::with_capacity(received.len());
        let mut failure = None;
        for item in received {
            match item {
                Ok(delivery) => deliveries.push(delivery),
                Err(e) => {
                    failure = Some(RabbitMqError::Client(e));
                    break;
                }
            }
        }
        if let Some(e) = failure {
            return Err(self.reset("consume", e));
        }
        if closed {
            // The consumer ended (its channel closed, or the broker cancelled it): what came
            // before the end is dropped unregistered and comes back redelivered ([5]).
            return Err(self.reset("consume", RabbitMqError::ConsumerClosed));
        }
        let mut good = Vec::with_capacity(deliveries.len());
        let mut dead = Vec::new();
        for delivery in deliveries {
            let count = self.delivery_count(&delivery);
            if count > limit {
                let reason =
                    format!("delivered {count} times, more than the delivery limit {limit}");
                dead.push((delivery, count, reason));
                continue;
            }
            let decoded = match &self.decoder {
                Some(decode) => {
                    decode(&delivery.data).map_err(|reason| format!("malformed message: {reason}"))
                }
                None => decode(&delivery.data).map_err(|error| {
                    format!("malformed message: not a change: {}", error_chain(&error))
                }),
            };
            match decoded {
                Ok(change) => good.push((delivery, change)),
                Err(reason) => dead.push((delivery, count, reason)),
            }
        }
        // Dead letters first: if they fail, the channel is reset and nothing of this pull is
        // registered; everything comes back redelivered ([4], [5]).
        self.dead_letter(&dead)?;
        let mut out = Vec::with_capacity(good.len());
        let mut redelivered = 0;
        for (delivery, change) in good {
            redelivered += u64::from(delivery.redelivered);
            let id = delivery
                .properties
                .message_id()
                .as_ref()
                .map(|s| s.to_string());
            self.held
                .push_back((self.next_seq, delivery.delivery_tag, id));
            self.next_seq += 1;
            out.push(change);
        }
        let n = out.len() as u64;
        self.stats.update(|s| {
            s.received += n;
            s.redelivered += redelivered;
        });
        Ok(out)
    }

    fn commit(&mut self, through: u64) -> Result<(), SourceError> {
        let n = self
            .held
            .iter()
            .take_while(|(seq, _, _)| *seq <= through)
            .count();
        if n == 0 {
            return Ok(()); // nothing held at or below `through` ([5])
        }
        let (_, tag, _) = self.held[n - 1];
        let Some(channel) = self.link.current() else {
            // The held tags died with the channel ([5]).
            return Err(self.reset("basic.ack", RabbitMqError::ConsumerClosed));
        };
        if let Err(e) = wait(
            "basic.ack",
            channel.basic_ack(tag, BasicAckOptions { multiple: true }),
        ) {
            return Err(self.reset("basic.ack", e));
        }
        for (_, _, id) in self.held.drain(..n) {
            if let Some(id) = id {
                self.redeliveries.remove(&id);
            }
        }
        self.stats.update(|s| s.acked += n as u64);
        Ok(())
    }
}

impl fmt::Debug for RabbitMqSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitMqSource")
            .field("name", &self.name)
            .field("held", &self.held.len())
            .field("next_seq", &self.next_seq)
            .field("link", &self.link)
            .field("custom_decoder", &self.decoder.is_some())
            .finish_non_exhaustive()
    }
}
