//! The main job: messages from three source systems, integrated, delivered and synchronized
//! into an SQLite file and an in-memory replica — through injected failures and a crash —
//! and verified.
//!
//! 1. Integration: orders (JSON), sensors (CSV rows), logs (logfmt lines) and meters (bare
//!    numbers), some malformed, normalized in parallel on rayon; bad input is rejected with a
//!    reason.
//! 2. Delivery: the changes are published with a priority per source to a durable
//!    `DeliveryQueue` (its own `Journal`, beside the database); a journal consumer appends them,
//!    in delivery order and in batches, to the change journal, an `mqsync::journal` `Journal`
//!    on disk (`FlushPolicy::EveryBatch`: written and synced), and acknowledges each batch once
//!    it is durable. A run that resumes first moves what the queue recovered (published, not
//!    acknowledged) into the change journal, then publishes only what neither held.
//! 3. Sync: a `DataSync` engine streams the journal (`JournalSource`, positions from the
//!    journal) into an `SqliteSink` (one transaction per batch, checkpoint in the same
//!    transaction) and a `Replica`. The SQLite target fails a
//!    share of its batches (retried). Halfway, the SQLite writer "dies": from then on nothing
//!    it is given reaches the file, as when the process is killed; the engine is stopped, the
//!    journal and the database reopened, and a new engine resumes from the checkpoint stored in
//!    the database.
//! 4. Report and verification: both targets must equal the final state computed independently.
//!
//! `cargo run --release --example sync_pipeline --features sqlite-bundled,journal -- --help`

use indicatif::{ProgressBar, ProgressStyle};
use mqsync::delivery::{Delivery, DeliveryQueue, TryReceiveError};
use mqsync::integrate::{Integrator, RuleSet};
use mqsync::journal::{FlushPolicy, Journal, JournalOptions, Recovery};
use mqsync::sync::{
    Change, DataSync, JournalSource, Metrics, Op, Replica, RetryPolicy, Sink, SinkError, Source,
    SqliteSchema, SqliteSink, SyncReport,
};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[path = "shared/flags.rs"]
mod flags;
#[path = "shared/inputs.rs"]
mod inputs;
use inputs::{priority, source_inputs, Rng, RULES};

const HELP: &str = "\
mqsync sync_pipeline: three source systems integrated, delivered and synced into SQLite and a
replica, through injected failures and a crash-restart from the SQLite checkpoint, verified.

usage: cargo run --release --example sync_pipeline --features sqlite-bundled,journal -- [flags]

  --messages N       inputs from the source systems (default 200000)
  --workers N        sync worker threads (default 2)
  --failure-rate F   share of batches the SQLite target fails and retries, 0..1 (default 0.05)
  --out PATH         the SQLite file (default: in a temporary directory, removed at the
                     end); the change journal and the delivery queue's journal go next to it
                     (directories: PATH with extensions .journal and .queue). If the change
                     journal exists, an earlier run on the same PATH was stopped (killed, say):
                     this run resumes from the queue, the journal and the database's
                     checkpoint. Otherwise all three are replaced.
  --crash-in-delivery N
                     exit at once (exit code 3, no clean-up, as if killed) once this run has
                     journaled at least N newly published changes, the last batch of them
                     not yet acknowledged, and everything is published: a resumed run then
                     finds both kinds of unacknowledged messages in the queue. Changes
                     recovered from the queue or journaled by an earlier run do not count; if
                     fewer than N remain, the run does not stop. Needs --out. For tests
  -h, --help         this text

Exit codes: 0 verified, 1 verification failed, 2 bad flags, 3 --crash-in-delivery crashed.";

/// The exit code of a run stopped by `--crash-in-delivery`.
const CRASH_EXIT: i32 = 3;

struct Args {
    messages: usize,
    workers: usize,
    failure_rate: f64,
    out: Option<PathBuf>,
    /// `--crash-in-delivery`: exit once this run has journaled this many newly published
    /// changes (not those recovered from the queue or journaled by an earlier run); no exit if
    /// fewer remain. Only with `out`: the crashed run leaves its files for the next one.
    crash_in_delivery: Option<u64>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        messages: 200_000,
        workers: 2,
        failure_rate: 0.05,
        out: None,
        crash_in_delivery: None,
    };
    flags::parse(std::env::args_os().skip(1), HELP, |flag, p| {
        match flag {
            "--messages" => args.messages = flags::whole(p, flag)?,
            "--workers" => args.workers = flags::whole(p, flag)?,
            "--failure-rate" => args.failure_rate = flags::fraction(p, flag)?,
            "--out" => args.out = Some(PathBuf::from(flags::text(p, flag)?)),
            "--crash-in-delivery" => args.crash_in_delivery = Some(flags::whole(p, flag)? as u64),
            other => return Err(format!("unknown flag {other:?} (try --help)")),
        }
        Ok(())
    })?;
    if args.workers == 0 || args.messages < 10 {
        return Err("--workers must be at least 1 and --messages at least 10".into());
    }
    if args.crash_in_delivery.is_some() && args.out.is_none() {
        // The crash skips every clean-up: a temporary directory would be left behind, and no
        // later run could resume from it.
        return Err("--crash-in-delivery needs --out (the next run resumes there)".into());
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    match run(&args) {
        Ok(()) => println!("\nverified: OK"),
        Err(e) => {
            eprintln!("\nFAILED: {e}");
            std::process::exit(1);
        }
    }
}

/// The SQLite target as the pipeline sees it: fails a share of batches (a busy database, say),
/// and once `crash_at` batches are written, stops writing anything while answering "done" —
/// what the engine would see of a writer process killed mid-burst.
struct SqliteTarget {
    sqlite: Arc<SqliteSink>,
    rng: Mutex<Rng>,
    failure_per_million: u64,
    /// Batches written; the crash comes when this reaches `crash_at`.
    written: AtomicU64,
    crash_at: Option<u64>,
    crashed: AtomicBool,
}

impl Sink for SqliteTarget {
    fn name(&self) -> &str {
        self.sqlite.name()
    }

    fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
        if self.crashed.load(Ordering::Acquire) {
            return Ok(()); // the writer is dead: nothing reaches the file
        }
        let fail = self
            .rng
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .u64(..1_000_000)
            < self.failure_per_million;
        if fail {
            return Err(SinkError::batch("injected: database is locked"));
        }
        self.sqlite.apply(batch)?;
        let written = self.written.fetch_add(1, Ordering::AcqRel) + 1;
        if Some(written) == self.crash_at {
            self.crashed.store(true, Ordering::Release);
        }
        Ok(())
    }
}

/// Stages 1–4.
fn run(args: &Args) -> Result<(), String> {
    let started_all = Instant::now();
    let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let db_path = args
        .out
        .clone()
        .unwrap_or_else(|| temp.path().join("sync.db"));
    let journal_path = db_path.with_extension("journal");
    let queue_path = db_path.with_extension("queue");
    // A change journal left by an earlier run on the same `--out` (killed, say): resume from
    // the delivery queue's journal, the change journal and the database's checkpoint.
    // Otherwise start from nothing. (No run deletes the change journal, and it is created
    // before the queue's, so a queue directory without one appears only if someone removed the
    // change journal by hand: it is replaced too, with the database.)
    let resuming = args.out.is_some() && journal_path.is_dir();
    if !resuming {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = db_path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_dir_all(&journal_path);
        let _ = std::fs::remove_dir_all(&queue_path);
    }
    let journal_options = JournalOptions::default().flush(FlushPolicy::EveryBatch);
    let open_journal = || {
        Journal::open(&journal_path, journal_options.clone())
            .map(Arc::new)
            .map_err(|e| e.to_string())
    };

    // 1. Integration.
    println!(
        "== 1. integration: {} inputs from orders (JSON), sensors (CSV), logs (logfmt), meters (numbers)",
        args.messages
    );
    let rules = RuleSet::from_toml_str(RULES).map_err(|e| e.to_string())?;
    let integrator = Integrator::builder()
        .rules(rules)
        .build()
        .map_err(|e| e.to_string())?;
    let inputs = source_inputs(args.messages);
    let started = Instant::now();
    let outcome = integrator.integrate_batch(inputs);
    let integrate_took = started.elapsed();
    let (messages, rejected) = (outcome.messages, outcome.rejected);
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rejected {
        let reason = r.reason.to_string();
        let short = reason.split(':').next().unwrap_or(&reason).to_string();
        *reasons
            .entry(format!("{} / {short}", r.input.source))
            .or_default() += 1;
    }
    if messages.len() + rejected.len() != args.messages {
        return Err("integration lost inputs".into());
    }
    let integrated = messages.len();

    // The expected final state, computed independently of the pipeline: the highest version of
    // each key wins (versionless meter readings are keyed by their unique ids).
    //
    // Each message's id is its source and its place among the accepted messages (they keep
    // input order, and the inputs come from fixed seeds), not the fresh UUIDv7 the integrator
    // gives messages without an id of their own (the bare meter numbers): a run that resumes
    // after a kill must recognize what an earlier run journaled.
    let changes: Vec<(u8, Change)> = messages
        .into_iter()
        .enumerate()
        .map(|(n, mut m)| {
            m.id = format!("{}#{n}", m.source);
            (priority(&m.source), Change::from(m))
        })
        .collect();
    let mut expected: BTreeMap<String, (Option<u64>, serde_json::Value)> = BTreeMap::new();
    for (_, c) in &changes {
        let Op::Upsert(value) = &c.op else { continue };
        if expected.get(&c.key).is_none_or(|(v, _)| c.version > *v) {
            expected.insert(c.key.clone(), (c.version, value.clone()));
        }
    }

    // 2. Delivery into the journal, through a durable queue.
    println!(
        "== 2. delivery: {} changes by priority (orders 3, sensors 2, logs 1, meters 0) through the durable queue {} into the journal {}",
        changes.len(),
        queue_path.display(),
        journal_path.display()
    );
    let total = changes.len() as u64;
    let journal = open_journal()?;
    // Resuming: the changes an earlier run journaled are not published again (the inputs are
    // the same, generated from fixed seeds). Where that run died decides where a change is:
    // - published, not yet written to the change journal: in the queue only; recovered and
    //   journaled now;
    // - written to the change journal (a written batch survives `kill -9` in the page cache,
    //   synced or not), its ack not yet written: in both; recovered, acknowledged and not
    //   journaled again (its id is in the journal);
    // - acknowledged: in the journal only; not published again;
    // - its publish not returned (a PUBLISH cut short): in neither; published again.
    // Nothing twice, nothing lost; stage 2 checks that the journal ends with each change once.
    let mut in_journal: HashSet<String> = if resuming {
        journaled_ids(&journal)?
    } else {
        HashSet::new()
    };
    let journaled_before = in_journal.len() as u64;
    if resuming {
        println!(
            "   resuming: {journaled_before} changes already in the journal from an earlier run"
        );
    }
    let queue = open_queue(&queue_path)?;
    let recovered = queue.stats().recovered;
    // What the queue recovered goes into the change journal, and its ids into `in_journal`,
    // before the filter below picks what to publish: a recovered change the change journal
    // lacks is not in `in_journal` until then, and would be published a second time.
    let recovered_journaled = journal_recovered(&queue, recovered, &journal, &mut in_journal)?;
    if recovered > 0 {
        println!(
            "   resuming: the delivery queue recovered {recovered} unacknowledged changes: {recovered_journaled} journaled now, {} were already in the journal",
            recovered - recovered_journaled
        );
    }
    // Publish only what neither the change journal nor the recovered queue held (everything
    // the queue held is in `in_journal` now).
    let changes: Vec<(u8, Change)> = changes
        .into_iter()
        .filter(|(_, c)| !in_journal.contains(&c.id))
        .collect();
    let to_publish = changes.len() as u64;
    let publisher = {
        let queue = queue.clone();
        thread::spawn(move || {
            let mut result = Ok(());
            for (priority, change) in changes {
                if let Err(e) = queue.publish_with(change, priority, None) {
                    result = Err(format!("publish: {e}"));
                    break;
                }
            }
            // Closed either way, so that the journal consumer stops.
            queue.close();
            result
        })
    };
    let journaled = journal_deliveries(&queue, &journal, &mut in_journal, args.crash_in_delivery);
    publisher.join().map_err(|_| "the publisher panicked")??;
    let journaled = journaled?;
    let stats = queue.stats();
    if let Some(failure) = queue.journal_failure() {
        return Err(format!("the delivery queue's journal failed: {failure}"));
    }
    if journaled_before + recovered_journaled + journaled != total
        || stats.published != recovered + to_publish
        || stats.acked != stats.published
        || journal.end() != total
    {
        return Err(format!(
            "journal: {journaled_before} from before + {recovered_journaled} recovered from the queue + {journaled} written now, \
             {} acked of {} published ({recovered} recovered, {to_publish} new), {} in the journal, of {total}",
            stats.acked,
            stats.published,
            journal.end()
        ));
    }
    drop(queue); // its journal holds nothing unsettled now

    // 3. Sync, with a crash halfway.
    println!(
        "== 3. sync: {} workers into {} and a replica; {:.1}% of SQLite batches fail; crash halfway",
        args.workers,
        db_path.display(),
        args.failure_rate * 100.0
    );
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "   {spinner} [{elapsed_precise}] {bar:40} {pos}/{len} checkpoint  {msg}",
        )
        .map_err(|e| e.to_string())?,
    );
    let replica = Arc::new(Replica::new());
    let schema = || {
        SqliteSchema::builder("entities")
            .build()
            .map_err(|e| e.to_string())
    };
    let failure_per_million = (args.failure_rate * 1e6) as u64;
    let started = Instant::now();

    // Phase 1: until the crash.
    let sqlite =
        Arc::new(SqliteSink::open(&db_path, schema()?, "journal").map_err(|e| e.to_string())?);
    // 0, or where an earlier, killed run left the database. The replica lives in memory: it is
    // rebuilt from the journal up to there, as a restarted service would rebuild its cache.
    let start = sqlite.checkpoint();
    if start > 0 {
        let mut source =
            JournalSource::new("journal", Arc::clone(&journal), 0).map_err(|e| e.to_string())?;
        let mut rebuilt = 0;
        while rebuilt < start {
            let max = (start - rebuilt).min(4096) as usize;
            let pulled = source.pull(max).map_err(|e| e.to_string())?;
            if pulled.is_empty() {
                return Err(format!(
                    "journal ends at {rebuilt}, below the checkpoint {start}"
                ));
            }
            rebuilt += pulled.len() as u64;
            for change in &pulled {
                replica.apply(change);
            }
        }
        println!(
            "   resuming: database checkpoint {start}; replica rebuilt from the journal up to it"
        );
    }
    let batches_to_crash = ((total - start) / 2 / 256).max(1);
    let target = Arc::new(SqliteTarget {
        sqlite: Arc::clone(&sqlite),
        rng: Mutex::new(Rng::with_seed(0xF1A_C0FFEE)),
        failure_per_million,
        written: AtomicU64::new(0),
        crash_at: Some(batches_to_crash),
        crashed: AtomicBool::new(false),
    });
    let first = sync_phase(
        args, &journal, start, &sqlite, &target, &replica, &bar, "phase 1",
    )?;
    let at_crash = sqlite.checkpoint();
    drop((target, sqlite, journal)); // the dead writer's connection and journal are gone
    bar.suspend(|| println!(
        "   crash: the SQLite writer died after {batches_to_crash} batches; checkpoint in the database: {at_crash}"
    ));

    // Phase 2: a new process, so to speak: reopen the journal and the database, read the
    // checkpoint, resume from it.
    let journal = open_journal()?;
    if journal.end() != total {
        return Err(format!(
            "journal reopened with {} of {total} changes",
            journal.end()
        ));
    }
    let sqlite =
        Arc::new(SqliteSink::open(&db_path, schema()?, "journal").map_err(|e| e.to_string())?);
    let resume = sqlite.checkpoint();
    let target = Arc::new(SqliteTarget {
        sqlite: Arc::clone(&sqlite),
        rng: Mutex::new(Rng::with_seed(0xBAD_5EED)),
        failure_per_million,
        written: AtomicU64::new(0),
        crash_at: None,
        crashed: AtomicBool::new(false),
    });
    let second = sync_phase(
        args, &journal, resume, &sqlite, &target, &replica, &bar, "phase 2",
    )?;
    let sync_took = started.elapsed();
    bar.finish_and_clear();
    let sqlite_dead: Vec<u64> = second
        .dead_letters
        .iter()
        .filter(|d| d.sink == sqlite.name())
        .filter_map(|d| d.change.position)
        .collect();
    sqlite.settle(&sqlite_dead).map_err(|e| e.to_string())?;

    // 4. Report.
    let (m1, m2) = (&first.metrics, &second.metrics);
    let pulled = m1.pulled + m2.pulled;
    let applied = m1.applied + m2.applied;
    let dead = m1.dead_lettered + m2.dead_lettered;
    let retries = m1.retries + m2.retries;
    println!("\n== 4. report");
    println!("   messages in      {:>9}", args.messages);
    println!(
        "   integrated       {integrated:>9}   ({:.0} k inputs/s on rayon)",
        args.messages as f64 / integrate_took.as_secs_f64().max(1e-9) / 1e3
    );
    println!("   rejected         {:>9}", rejected.len());
    for (reason, n) in &reasons {
        println!("       {n:>7} x {reason}");
    }
    println!(
        "   journaled        {:>9}   ({journaled} published now, {recovered_journaled} recovered; delivery queue: acked {}, unacked {}; {journaled_before} by an earlier run)",
        journaled + recovered_journaled,
        stats.acked,
        stats.unacked
    );
    println!(
        "   recovered        {recovered:>9}   from the durable queue (published by an earlier run, not acknowledged): {recovered_journaled} journaled now, {} were already in the journal",
        recovered - recovered_journaled
    );
    println!(
        "   applied          {applied:>9}   (replays included; phase 1 from {start}: {}; phase 2, resumed at checkpoint {resume}: {}, of which {} replayed)",
        m1.applied,
        m2.applied,
        (start + m1.pulled).saturating_sub(resume)
    );
    println!("   dead-lettered    {dead:>9}");
    println!("   retries          {retries:>9}");
    println!(
        "   throughput       {:>9.0} changes/s   (sync {:.2} s, whole run {:.2} s)",
        applied as f64 / sync_took.as_secs_f64().max(1e-9),
        sync_took.as_secs_f64(),
        started_all.elapsed().as_secs_f64()
    );
    for (phase, m) in [("phase 1", m1), ("phase 2", m2)] {
        println!(
            "   latency {phase}  p50 {}  p99 {}  p99.9 {}",
            ms(m.latency_p50),
            ms(m.latency_p99),
            ms(m.latency_p999)
        );
    }

    // Verification.
    let mut problems = Vec::new();
    if applied + dead != pulled {
        problems.push(format!(
            "accounting: pulled {pulled}, applied {applied}, dead {dead}"
        ));
    }
    if sqlite.checkpoint() != total {
        problems.push(format!("checkpoint {} of {total}", sqlite.checkpoint()));
    }
    let want: BTreeMap<String, serde_json::Value> = expected
        .iter()
        .map(|(k, (_, v))| (k.clone(), v.clone()))
        .collect();
    // A key whose final change was dead-lettered for SQLite may differ there (none, unless
    // a change failed every attempt).
    let dead_final: Vec<&str> = first
        .dead_letters
        .iter()
        .chain(&second.dead_letters)
        .filter(|d| {
            expected
                .get(&d.change.key)
                .is_some_and(|(v, _)| *v == d.change.version)
        })
        .map(|d| d.change.key.as_str())
        .collect();
    let table = sqlite.snapshot().map_err(|e| e.to_string())?;
    let table_ok = table.len() + dead_final.len() >= want.len()
        && want
            .iter()
            .filter(|(k, _)| !dead_final.contains(&k.as_str()))
            .all(|(k, v)| table.get(k) == Some(v))
        && table.keys().all(|k| want.contains_key(k));
    let replica_ok = replica.snapshot() == want;
    println!(
        "   verification     SQLite table ({} rows) equals the expected final state ({} keys): {}; replica: {}",
        table.len(),
        want.len(),
        yes(table_ok),
        yes(replica_ok)
    );
    if !table_ok {
        problems.push("the SQLite table differs from the expected state".into());
    }
    if !replica_ok {
        problems.push("the replica differs from the expected state".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// The ids of the changes in the journal.
fn journaled_ids(journal: &Arc<Journal>) -> Result<HashSet<String>, String> {
    let mut ids = HashSet::new();
    let mut source =
        JournalSource::new("journal", Arc::clone(journal), 0).map_err(|e| e.to_string())?;
    loop {
        let pulled = source.pull(4096).map_err(|e| e.to_string())?;
        if pulled.is_empty() {
            return Ok(ids);
        }
        ids.extend(pulled.into_iter().map(|c| c.id));
    }
}

/// Opens the durable delivery queue on its own journal in `dir`, recovering what an earlier
/// run published and did not acknowledge.
fn open_queue(dir: &Path) -> Result<DeliveryQueue<Change>, String> {
    // `Interval` (1 s): a publish is written before it returns, so it survives `kill -9` under
    // any policy. A power loss may take back the records of the last second, and may leave a
    // page missing in the middle of the last batch written: `Recovery::Strict` (the default)
    // would then refuse to open (`Corrupt`), so the damaged tail is quarantined (cut and moved
    // aside) instead. Losing any tail of this journal is safe here: a lost PUBLISH leaves its
    // change in neither journal, and a resumed run publishes it again from the deterministic
    // inputs; a lost SETTLE brings back a change the change journal already holds, and the
    // resumed run acknowledges it without journaling it again (the id check); a lost REQUEUE
    // only resets a delivery count. What makes an acknowledged delivery safe is the change
    // journal's sync of its batch (`EveryBatch`) before the ack, not this journal; an fsync per
    // publish would only slow the publisher down.
    let options = JournalOptions::default()
        .flush(FlushPolicy::Interval(Duration::from_secs(1)))
        .recovery(Recovery::QuarantineDamagedTail);
    let journal = Journal::open(dir, options).map_err(|e| format!("{}: {e}", dir.display()))?;
    DeliveryQueue::builder()
        .priorities(4)
        .delivery_limit(5)
        .open_durable(journal)
        .map_err(|e| format!("{}: {e}", dir.display()))
}

/// Appends the changes of `batch` that `in_journal` lacks to the journal (written and synced:
/// `EveryBatch`) and adds their ids to it; acknowledges nothing. Returns how many were
/// appended. A change the journal already holds (a recovered one whose ack did not reach the
/// queue's journal before a crash) is not appended again.
fn append_new(
    journal: &Journal,
    batch: &[Delivery<Change>],
    in_journal: &mut HashSet<String>,
) -> Result<u64, String> {
    let mut fresh = HashSet::new();
    let new: Vec<&Change> = batch
        .iter()
        .map(|d| d.message())
        .filter(|c| !in_journal.contains(&c.id) && fresh.insert(c.id.as_str()))
        .collect();
    if !new.is_empty() {
        JournalSource::append(journal, new.iter().copied()).map_err(|e| e.to_string())?;
    }
    in_journal.extend(fresh.into_iter().map(str::to_owned));
    Ok(new.len() as u64)
}

/// [`append_new`], then acknowledges the whole batch (one SETTLE record in the queue's
/// journal) once its changes are durable in the change journal.
fn journal_batch(
    journal: &Journal,
    batch: &mut Vec<Delivery<Change>>,
    in_journal: &mut HashSet<String>,
) -> Result<u64, String> {
    let appended = append_new(journal, batch, in_journal)?;
    Delivery::ack_all(batch.drain(..));
    Ok(appended)
}

/// Moves the `recovered` changes the durable queue brought back into the journal, in batches
/// of up to 1024, before anything new is published. Returns how many were appended (the rest
/// were in the journal already).
fn journal_recovered(
    queue: &DeliveryQueue<Change>,
    recovered: u64,
    journal: &Journal,
    in_journal: &mut HashSet<String>,
) -> Result<u64, String> {
    let consumer = queue.consumer();
    let mut appended = 0u64;
    let mut received = 0u64;
    let mut batch = Vec::new();
    while received < recovered {
        // Every recovered change is ready now: `open_queue` sets no default TTL, no redelivery
        // backoff and no visibility timeout, and the publisher gives no TTL (`publish_with`'s
        // `None`), so nothing recovered has expired or waits for a delay. A builder setting
        // that can hold a delivery back would make this fail: wait here then.
        let delivery = consumer.try_receive().map_err(|e| {
            format!("the queue recovered {recovered} changes, gave back {received}: {e}")
        })?;
        batch.push(delivery);
        received += 1;
        if batch.len() >= 1024 || received == recovered {
            appended += journal_batch(journal, &mut batch, in_journal)?;
        }
    }
    Ok(appended)
}

/// Consumes the delivery queue into the journal, in batches of up to 1024 changes: each batch
/// is appended (written and synced: `EveryBatch`) before its deliveries are acknowledged.
/// With `crash_at`, exits the process (as if killed) once it has appended that many (counting
/// only what it appends: newly published changes, not recovered ones), before the last batch is
/// acknowledged and after the publisher has closed the queue; if fewer come, it never exits.
fn journal_deliveries(
    queue: &DeliveryQueue<Change>,
    journal: &Journal,
    in_journal: &mut HashSet<String>,
    crash_at: Option<u64>,
) -> Result<u64, String> {
    let consumer = queue.consumer();
    let mut written = 0u64;
    let mut pending: Vec<Delivery<Change>> = Vec::new();
    let mut flush = |pending: &mut Vec<Delivery<Change>>| -> Result<(), String> {
        if pending.is_empty() {
            return Ok(());
        }
        if crash_at.is_some_and(|at| written + pending.len() as u64 >= at) {
            // Appended and synced, not acknowledged: what a resumed run must not journal
            // twice. Once the publisher is done, everything else published is unacknowledged
            // in the queue too: what a resumed run must journal.
            let appended = append_new(journal, pending, in_journal)?;
            while !queue.is_closed() {
                thread::sleep(Duration::from_millis(1));
            }
            println!(
                "   crash: exiting, as if killed, with {} changes journaled by this run, the last {appended} not acknowledged",
                written + appended
            );
            // No destructor runs: nothing is settled, synced or closed, as after `kill -9`.
            std::process::exit(CRASH_EXIT);
        }
        written += journal_batch(journal, pending, in_journal)?;
        Ok(())
    };
    loop {
        let delivery = match consumer.try_receive() {
            Ok(delivery) => delivery,
            Err(TryReceiveError::Closed) => break,
            Err(_) => {
                // Nothing ready: make what was taken durable, acknowledge it, then wait.
                flush(&mut pending)?;
                match consumer.receive_timeout(Duration::from_millis(10)) {
                    Ok(delivery) => delivery,
                    Err(_) => continue,
                }
            }
        };
        pending.push(delivery);
        if pending.len() >= 1024 {
            flush(&mut pending)?;
        }
    }
    flush(&mut pending)?;
    Ok(written)
}

/// Runs one engine from `from` until the journal is done or the target crashes.
#[allow(clippy::too_many_arguments)]
fn sync_phase(
    args: &Args,
    journal: &Arc<Journal>,
    from: u64,
    sqlite: &SqliteSink,
    target: &Arc<SqliteTarget>,
    replica: &Arc<Replica>,
    bar: &ProgressBar,
    phase: &str,
) -> Result<SyncReport, String> {
    let remaining = journal.end() - from;
    let source =
        JournalSource::new("journal", Arc::clone(journal), from).map_err(|e| e.to_string())?;
    let engine = DataSync::builder()
        .source(source)
        .sink(target.clone())
        .sink(replica.clone())
        .workers(args.workers)
        .retry(RetryPolicy::new(
            6,
            Duration::from_micros(100),
            Duration::from_millis(5),
        ))
        .start()
        .map_err(|e| e.to_string())?;
    loop {
        let m: Metrics = engine.metrics();
        bar.set_position(sqlite.checkpoint());
        bar.set_message(format!(
            "{phase}: applied {} retries {} dead {}",
            m.applied, m.retries, m.dead_lettered
        ));
        if m.applied + m.dead_lettered >= remaining || target.crashed.load(Ordering::Acquire) {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(engine.shutdown())
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.2} ms", d.as_secs_f64() * 1e3))
}

fn yes(ok: bool) -> &'static str {
    if ok {
        "yes"
    } else {
        "NO"
    }
}
