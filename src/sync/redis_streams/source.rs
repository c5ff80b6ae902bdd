//! [`RedisSource`]: a [`Source`] that reads a Redis stream through a consumer group and
//! acknowledges entries only once every sink confirmed them.
//
// The protocol
// ============
//
// Per entry, in Redis's terms: XREADGROUP puts it on this consumer's pending list (PEL) with a
// delivery count of 1; XAUTOCLAIM moves an entry idle for `claim_idle` to the claiming consumer
// and adds 1 to its count; XACK takes it off the PEL for good. Here:
//
//   read ──▶ held (seq, id) ──▶ engine applies ──▶ commit(through) ──▶ XACK ids of seq <= through
//     └─ malformed, or delivered > limit ──▶ MULTI { XADD dead-letter stream; XACK } EXEC
//
// * `held` is in pull order, so the engine's change numbers (counted from 0 in pull order, one
//   per change returned) are exactly the `seq`s; entries that go to the dead-letter stream are
//   never returned and take no number.
// * Dead letters are written before the good entries of the same read are registered: if the
//   dead-letter write fails, the pull fails and registers nothing. The entries of that read
//   stay pending on this consumer, idle, and come back through XAUTOCLAIM — nothing is lost,
//   and the change numbers stay aligned.
// * An XACK that fails leaves `held` as it was; the engine retries the commit later.
// * A lost connection may swallow the reply of an XREADGROUP that Redis served: after a
//   reconnect the source re-reads its own pending history as after a restart (below).
// * A crash anywhere leaves un-acked entries pending: a restart with the same consumer name
//   first re-reads its own pending history (`XREADGROUP ... 0`), and any living consumer
//   reclaims them once idle. The sinks' version check makes the redelivery harmless.
// * XAUTOCLAIM also finds entries this consumer still holds (when the engine is slower than
//   `claim_idle`); they are skipped, not handed out twice.

use super::config::RedisConfig;
use super::entry::{
    decode, id_order, parse_autoclaim, parse_pending, parse_read, Entry, RedisCodecError,
};
use super::link::Link;
use crate::sync::change::Change;
use crate::sync::error::error_chain;
use crate::sync::source::{Source, SourceError};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Most IDs in one `XACK` command.
const ACK_CHUNK: usize = 1024;
/// The longest `BLOCK` while this source holds entries not yet committed.
const HELD_BLOCK: Duration = Duration::from_millis(2);

/// What a [`RedisSource`] did so far (read with [`RedisSourceStats::snapshot`]).
///
/// ```
/// use mqsync::sync::{RedisConfig, RedisSource};
///
/// let source = RedisSource::new(&RedisConfig::builder("redis://127.0.0.1", "orders").build()?);
/// let counts = source.stats().snapshot();
/// assert_eq!((counts.read, counts.reclaimed, counts.acked, counts.dead_lettered), (0, 0, 0, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisSourceCounts {
    /// New entries read (`XREADGROUP ... >`) and handed to the engine.
    pub read: u64,
    /// Entries reclaimed from idle consumers (`XAUTOCLAIM`) or re-read from this consumer's
    /// own pending history after a restart, and handed to the engine.
    pub reclaimed: u64,
    /// Entries acknowledged (`XACK`) after every sink confirmed them.
    pub acked: u64,
    /// Entries moved to the dead-letter stream (malformed, or over the delivery limit).
    pub dead_lettered: u64,
}

/// A live view of a [`RedisSource`]'s counts that stays readable after the source moved into
/// an engine.
///
/// ```no_run
/// use mqsync::sync::{RedisConfig, RedisSource};
///
/// let source = RedisSource::new(&RedisConfig::builder("redis://127.0.0.1:6379", "orders").build()?);
/// let stats = source.stats();
/// // ... hand `source` to a DataSync engine ...
/// println!("acked so far: {}", stats.snapshot().acked);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct RedisSourceStats(Arc<Mutex<RedisSourceCounts>>);

impl RedisSourceStats {
    /// The counts now.
    pub fn snapshot(&self) -> RedisSourceCounts {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut RedisSourceCounts)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// A [`Source`] that reads a Redis stream through a consumer group (feature `redis`).
///
/// * Reads with `XREADGROUP GROUP g c COUNT n BLOCK ms STREAMS s >` (`BLOCK` at most 2 ms
///   while entries await their commit, so that the engine's commits between pulls are not held
///   back); creates the group at the start of the stream (`XGROUP CREATE s g 0 MKSTREAM`) when
///   it is missing.
/// * Decodes each entry's `change` field (JSON) into a [`Change`] for the engine.
/// * Acknowledges (`XACK`) an entry only when the engine commits it — every sink confirmed it,
///   or the engine dead-lettered it — so entries in flight when a consumer dies stay pending.
/// * Every `claim_idle / 2`, reclaims entries pending longer than `claim_idle` on any consumer
///   (`XAUTOCLAIM`), reads their delivery counts (`XPENDING`), and hands them out again; an
///   entry delivered more than `delivery_limit` times goes to the dead-letter stream instead.
/// * A malformed entry (no `change` field, or not a change) goes to the dead-letter stream with
///   the reason and is acknowledged: never dropped, never a panic. A pending entry that was
///   trimmed away before anyone acknowledged it (`MAXLEN` below the backlog) is recorded there
///   too, by ID, with the reason.
/// * A server that is down fails the pull with a [`SourceError`] (the engine emits
///   `SyncEvent::SourceError` and pulls again); reconnects wait a backoff of 10 ms doubling up
///   to 500 ms.
///
/// Dead-letter entries have the fields `reason`, `entry_id`, `stream`, `group`, `consumer`,
/// `deliveries`, and the original entry's fields, each as `field:<name>`.
///
/// Delivery is at least once; the sinks' idempotency (version wins) makes it effectively once.
/// Blocking (the engine's reader thread waits in `pull` for up to the configured `block`).
///
/// ```no_run
/// use mqsync::sync::{DataSync, RedisConfig, RedisSource, Replica};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let config = RedisConfig::builder("redis://127.0.0.1:6379", "orders")
///     .group("replicas")
///     .consumer("replica-1")
///     .claim_idle(Duration::from_secs(10))
///     .build()?;
/// let replica = Arc::new(Replica::new());
/// let engine = DataSync::builder()
///     .source(RedisSource::new(&config))
///     .sink(Arc::clone(&replica))
///     .start()?;
/// engine.wait_idle(Duration::from_secs(60));
/// engine.shutdown(); // acknowledges everything applied
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RedisSource {
    name: String,
    stream: String,
    group: String,
    consumer: String,
    dead_letter: String,
    batch_size: usize,
    block: Duration,
    claim_idle: Duration,
    delivery_limit: u64,
    link: Link,
    /// False until the group is known to exist on this connection's server.
    group_ready: bool,
    /// While re-reading this consumer's own pending entries: the ID to read after.
    history: Option<String>,
    /// Entries handed to the engine and not yet acknowledged: (change number, entry ID), in
    /// pull order.
    held: VecDeque<(u64, String)>,
    held_ids: HashSet<String>,
    next_seq: u64,
    next_claim: Instant,
    claim_cursor: String,
    stats: RedisSourceStats,
}

impl RedisSource {
    /// A source over `config`'s stream, group and consumer, named
    /// `"redis:<stream>/<group>/<consumer>"`. The configuration was checked when it was built;
    /// this connects on the first pull (a server that is down then is retried, not an error
    /// here).
    ///
    /// ```
    /// use mqsync::sync::{RedisConfig, RedisSource, Source};
    ///
    /// let config = RedisConfig::builder("redis://127.0.0.1", "orders").consumer("c1").build()?;
    /// assert_eq!(RedisSource::new(&config).name(), "redis:orders/mqsync/c1");
    /// # Ok::<(), mqsync::ConfigError>(())
    /// ```
    pub fn new(config: &RedisConfig) -> Self {
        let settings = config.settings();
        let stream = settings.stream().to_owned();
        let block = settings.block_value();
        RedisSource {
            name: format!(
                "redis:{}/{}/{}",
                stream,
                settings.group_name(),
                settings.consumer_name()
            ),
            stream,
            group: settings.group_name().to_owned(),
            consumer: settings.consumer_name().to_owned(),
            dead_letter: settings.dead_letter_stream_name(),
            batch_size: settings.batch_size_value(),
            block,
            claim_idle: settings.claim_idle_value(),
            delivery_limit: settings.delivery_limit_value(),
            link: Link::new(
                config.client(),
                settings.stream(),
                settings.connect_timeout_value(),
                block + Duration::from_secs(5),
            ),
            group_ready: false,
            history: Some("0".into()),
            held: VecDeque::new(),
            held_ids: HashSet::new(),
            next_seq: 0,
            next_claim: Instant::now(),
            claim_cursor: "0-0".into(),
            stats: RedisSourceStats::default(),
        }
    }

    /// A live view of this source's counts (see [`RedisSourceStats`]).
    pub fn stats(&self) -> RedisSourceStats {
        self.stats.clone()
    }

    /// Entries handed to the engine and not yet acknowledged.
    ///
    /// ```no_run
    /// use mqsync::sync::{RedisConfig, RedisSource, Source};
    ///
    /// let mut source = RedisSource::new(&RedisConfig::builder("redis://127.0.0.1:6379", "orders").build()?);
    /// let pulled = source.pull(10)?;
    /// assert_eq!(source.held(), pulled.len());
    /// if !pulled.is_empty() {
    ///     source.commit(pulled.len() as u64 - 1)?; // XACK them all
    /// }
    /// assert_eq!(source.held(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn held(&self) -> usize {
        self.held.len()
    }

    fn error(&self, command: &'static str, source: redis::RedisError) -> SourceError {
        SourceError::Redis {
            command,
            stream: self.stream.clone(),
            source,
        }
    }

    fn reply_error(&self, command: &'static str, source: RedisCodecError) -> SourceError {
        SourceError::Reply {
            command,
            stream: self.stream.clone(),
            source,
        }
    }

    fn ensure_group(&mut self) -> Result<(), SourceError> {
        if self.group_ready {
            return Ok(());
        }
        let created = self.link.call(|conn| {
            redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&self.stream)
                .arg(&self.group)
                .arg("0")
                .arg("MKSTREAM")
                .exec(conn)
        });
        match created {
            Ok(()) => {}
            Err(e) if e.code() == Some("BUSYGROUP") => {}
            Err(e) => return Err(self.error("XGROUP CREATE", e)),
        }
        self.group_ready = true;
        Ok(())
    }

    /// Runs a read-like command; a missing group (a server that lost its data) is created
    /// again on the next pull.
    /// `XREADGROUP GROUP g c COUNT max [BLOCK ms] STREAMS s after`: `after` is `">"` for new
    /// entries, or an ID to re-read this consumer's own pending entries after it.
    fn read_cmd(&self, max: usize, block: Option<Duration>, after: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(max);
        if let Some(block) = block {
            cmd.arg("BLOCK").arg(block.as_millis().max(1) as u64);
        }
        cmd.arg("STREAMS").arg(&self.stream).arg(after);
        cmd
    }

    fn query(&mut self, what: &'static str, cmd: &redis::Cmd) -> Result<redis::Value, SourceError> {
        let reply = self.link.call(|conn| cmd.query::<redis::Value>(conn));
        reply.map_err(|e| {
            if e.code() == Some("NOGROUP") || !self.link.is_connected() {
                self.group_ready = false;
            }
            if !self.link.is_connected() {
                // A reply lost with the connection may have been an XREADGROUP that Redis
                // served: those entries sit on this consumer's pending list and we never saw
                // them. Re-read our own pending history after reconnecting rather than leave
                // them until `claim_idle` passes (entries we hold are skipped there).
                self.history = Some("0".into());
            }
            self.error(what, e)
        })
    }

    /// Entries reclaimed from idle consumers (XAUTOCLAIM), up to `max`.
    fn reclaim(&mut self, max: usize) -> Result<Vec<Entry>, SourceError> {
        let mut cmd = redis::cmd("XAUTOCLAIM");
        cmd.arg(&self.stream)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(self.claim_idle.as_millis() as u64)
            .arg(&self.claim_cursor)
            .arg("COUNT")
            .arg(max);
        let reply = self.query("XAUTOCLAIM", &cmd)?;
        let (cursor, entries, deleted) =
            parse_autoclaim(reply).map_err(|e| self.reply_error("XAUTOCLAIM", e))?;
        // Pending entries that were trimmed away before anyone acknowledged them: their
        // content is gone, but their loss is recorded, not silent.
        let gone: Vec<(Entry, u64, String)> = deleted
            .into_iter()
            .map(|id| {
                let reason = "entry trimmed or deleted from the stream while pending, before it \
                              was acknowledged (MAXLEN below the backlog?)"
                    .to_owned();
                (
                    Entry {
                        id,
                        fields: Vec::new(),
                    },
                    0,
                    reason,
                )
            })
            .collect();
        self.dead_letter(&gone)?;
        let done = cursor == "0-0";
        self.claim_cursor = cursor;
        self.next_claim = if done {
            Instant::now() + self.claim_idle / 2
        } else {
            Instant::now() // more to scan: go on at the next pull
        };
        Ok(entries
            .into_iter()
            .filter(|e| !self.held_ids.contains(&e.id))
            .collect())
    }

    /// How many times each of `entries` (pending on this consumer) was delivered.
    fn deliveries(&mut self, entries: &[Entry]) -> Result<HashMap<String, u64>, SourceError> {
        let (Some(first), Some(last)) = (
            entries.iter().map(|e| &e.id).min_by_key(|id| id_order(id)),
            entries.iter().map(|e| &e.id).max_by_key(|id| id_order(id)),
        ) else {
            return Ok(HashMap::new());
        };
        let mut cmd = redis::cmd("XPENDING");
        cmd.arg(&self.stream)
            .arg(&self.group)
            .arg(first)
            .arg(last)
            .arg(entries.len() + self.held.len())
            .arg(&self.consumer);
        let reply = self.query("XPENDING", &cmd)?;
        let counts = parse_pending(reply).map_err(|e| self.reply_error("XPENDING", e))?;
        Ok(counts.into_iter().collect())
    }

    /// Moves `dead` (entry, deliveries, reason) to the dead-letter stream and acknowledges
    /// them on the main one, in one MULTI/EXEC.
    fn dead_letter(&mut self, dead: &[(Entry, u64, String)]) -> Result<(), SourceError> {
        if dead.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (entry, deliveries, reason) in dead {
            let cmd = pipe.cmd("XADD").arg(&self.dead_letter).arg("*");
            cmd.arg("reason")
                .arg(reason)
                .arg("entry_id")
                .arg(&entry.id)
                .arg("stream")
                .arg(&self.stream)
                .arg("group")
                .arg(&self.group)
                .arg("consumer")
                .arg(&self.consumer)
                .arg("deliveries")
                .arg(*deliveries);
            for (name, value) in &entry.fields {
                let mut field = b"field:".to_vec();
                field.extend_from_slice(name);
                cmd.arg(field).arg(value);
            }
            cmd.ignore();
        }
        let ack = pipe.cmd("XACK").arg(&self.stream).arg(&self.group);
        for (entry, _, _) in dead {
            ack.arg(&entry.id);
        }
        ack.ignore();
        self.link
            .call(|conn| pipe.exec(conn))
            .map_err(|e| self.error("dead-letter XADD", e))?;
        self.stats.update(|s| s.dead_lettered += dead.len() as u64);
        Ok(())
    }

    /// Decodes `entries`, dead-letters the malformed ones and those delivered more than the
    /// limit (`deliveries`: `None` for fresh reads, delivered once), and registers the rest.
    fn accept(
        &mut self,
        entries: Vec<Entry>,
        deliveries: Option<&HashMap<String, u64>>,
    ) -> Result<Vec<Change>, SourceError> {
        let mut good = Vec::with_capacity(entries.len());
        let mut dead = Vec::new();
        for entry in entries {
            let count = deliveries.map_or(1, |d| d.get(&entry.id).copied().unwrap_or(1));
            if count > self.delivery_limit {
                let reason = format!(
                    "delivered {count} times, more than the delivery limit {}",
                    self.delivery_limit
                );
                dead.push((entry, count, reason));
                continue;
            }
            match decode(&entry) {
                Ok(change) => good.push((entry.id, change)),
                Err(error) => dead.push((entry, count, error_chain(&error))),
            }
        }
        // Dead letters first: if they fail, nothing of this read is registered (see the essay).
        self.dead_letter(&dead)?;
        let mut out = Vec::with_capacity(good.len());
        for (id, change) in good {
            self.held.push_back((self.next_seq, id.clone()));
            self.held_ids.insert(id);
            self.next_seq += 1;
            out.push(change);
        }
        Ok(out)
    }
}

impl Source for RedisSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn pull(&mut self, max: usize) -> Result<Vec<Change>, SourceError> {
        let max = max.clamp(1, self.batch_size);
        self.ensure_group()?;
        if Instant::now() >= self.next_claim {
            let claimed = self.reclaim(max)?;
            if !claimed.is_empty() {
                let deliveries = self.deliveries(&claimed)?;
                let out = self.accept(claimed, Some(&deliveries))?;
                self.stats.update(|s| s.reclaimed += out.len() as u64);
                if !out.is_empty() {
                    return Ok(out);
                }
            }
        }
        if let Some(after) = self.history.clone() {
            // This consumer's own pending entries, left by an earlier run under its name.
            let cmd = self.read_cmd(max, None, &after);
            let reply = self.query("XREADGROUP", &cmd)?;
            let entries: Vec<Entry> = parse_read(reply)
                .map_err(|e| self.reply_error("XREADGROUP", e))?
                .into_iter()
                .filter(|e| !self.held_ids.contains(&e.id))
                .collect();
            match entries.last().map(|e| e.id.clone()) {
                None => self.history = None, // caught up: read new entries below
                Some(last) => {
                    let deliveries = self.deliveries(&entries)?;
                    let out = self.accept(entries, Some(&deliveries))?;
                    self.history = Some(last);
                    self.stats.update(|s| s.reclaimed += out.len() as u64);
                    return Ok(out);
                }
            }
        }
        // While entries await their commit, wait briefly: the engine commits between pulls,
        // so a long BLOCK on a drained stream would hold back the last acknowledgements.
        let block = if self.held.is_empty() {
            self.block
        } else {
            self.block.min(HELD_BLOCK)
        };
        let cmd = self.read_cmd(max, Some(block), ">");
        let reply = self.query("XREADGROUP", &cmd)?;
        let entries = parse_read(reply).map_err(|e| self.reply_error("XREADGROUP", e))?;
        let out = self.accept(entries, None)?;
        self.stats.update(|s| s.read += out.len() as u64);
        Ok(out)
    }

    fn commit(&mut self, through: u64) -> Result<(), SourceError> {
        let n = self
            .held
            .iter()
            .take_while(|(seq, _)| *seq <= through)
            .count();
        if n == 0 {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        let ids: Vec<&String> = self.held.iter().take(n).map(|(_, id)| id).collect();
        for chunk in ids.chunks(ACK_CHUNK) {
            pipe.cmd("XACK")
                .arg(&self.stream)
                .arg(&self.group)
                .arg(chunk)
                .ignore();
        }
        self.link
            .call(|conn| pipe.exec(conn))
            .map_err(|e| self.error("XACK", e))?;
        for (_, id) in self.held.drain(..n) {
            self.held_ids.remove(&id);
        }
        self.stats.update(|s| s.acked += n as u64);
        Ok(())
    }
}

impl fmt::Debug for RedisSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSource")
            .field("name", &self.name)
            .field("held", &self.held.len())
            .field("next_seq", &self.next_seq)
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}
