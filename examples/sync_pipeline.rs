//! The main job: messages from three source systems, integrated, delivered and synchronized
//! into an SQLite file and an in-memory replica — through injected failures and a crash —
//! and verified.
//!
//! 1. Integration: orders (JSON), sensors (CSV rows), logs (logfmt lines) and meters (bare
//!    numbers), some malformed, normalized in parallel on rayon; bad input is rejected with a
//!    reason.
//! 2. Delivery: the changes are published with a priority per source to a `DeliveryQueue`; a
//!    journal consumer appends them, in delivery order and in batches, to an `mqsync::journal`
//!    `Journal` on disk (`FlushPolicy::EveryBatch`: written and synced) and acknowledges each
//!    batch once it is durable.
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
use mqsync::journal::{FlushPolicy, Journal, JournalOptions};
use mqsync::sync::{
    Change, DataSync, JournalSource, Metrics, Op, Replica, RetryPolicy, Sink, SinkError, Source,
    SqliteSchema, SqliteSink, SyncReport,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
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
                     end); the journal directory goes next to it (PATH with extension
                     .journal). If that journal exists, an earlier run on the same PATH was
                     stopped (killed, say): this run resumes from the journal and the
                     database's checkpoint. Otherwise both are replaced.
  -h, --help         this text

Exit codes: 0 verified, 1 verification failed, 2 bad flags.";

struct Args {
    messages: usize,
    workers: usize,
    failure_rate: f64,
    out: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        messages: 200_000,
        workers: 2,
        failure_rate: 0.05,
        out: None,
    };
    flags::parse(std::env::args_os().skip(1), HELP, |flag, p| {
        match flag {
            "--messages" => args.messages = flags::whole(p, flag)?,
            "--workers" => args.workers = flags::whole(p, flag)?,
            "--failure-rate" => args.failure_rate = flags::fraction(p, flag)?,
            "--out" => args.out = Some(PathBuf::from(flags::text(p, flag)?)),
            other => return Err(format!("unknown flag {other:?} (try --help)")),
        }
        Ok(())
    })?;
    if args.workers == 0 || args.messages < 10 {
        return Err("--workers must be at least 1 and --messages at least 10".into());
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
    // A journal left by an earlier run on the same `--out` (killed, say): resume from it and
    // from the database's checkpoint. Otherwise start from nothing.
    let resuming = args.out.is_some() && journal_path.is_dir();
    if !resuming {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = db_path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_dir_all(&journal_path);
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

    // 2. Delivery into the journal.
    println!(
        "== 2. delivery: {} changes by priority (orders 3, sensors 2, logs 1, meters 0) into the journal {}",
        changes.len(),
        journal_path.display()
    );
    let total = changes.len() as u64;
    let journal = open_journal()?;
    // Resuming: the changes an earlier run journaled are not published again (the inputs are
    // the same, generated from fixed seeds). A change journaled but not acknowledged when that
    // run died is in the journal, so it is skipped too: nothing twice, nothing lost.
    let already: std::collections::HashSet<String> = if resuming {
        let mut ids = std::collections::HashSet::new();
        let mut source =
            JournalSource::new("journal", Arc::clone(&journal), 0).map_err(|e| e.to_string())?;
        loop {
            let pulled = source.pull(4096).map_err(|e| e.to_string())?;
            if pulled.is_empty() {
                break;
            }
            ids.extend(pulled.into_iter().map(|c| c.id));
        }
        println!(
            "   resuming: {} changes already in the journal from an earlier run",
            ids.len()
        );
        ids
    } else {
        std::collections::HashSet::new()
    };
    let journaled_before = already.len() as u64;
    let changes: Vec<(u8, Change)> = changes
        .into_iter()
        .filter(|(_, c)| !already.contains(&c.id))
        .collect();
    let queue: DeliveryQueue<Change> = DeliveryQueue::builder()
        .priorities(4)
        .delivery_limit(5)
        .build()
        .expect("valid delivery settings");
    let publisher = {
        let queue = queue.clone();
        thread::spawn(move || {
            for (priority, change) in changes {
                queue
                    .publish_with(change, priority, None)
                    .expect("an open, unbounded queue");
            }
            queue.close();
        })
    };
    let journaled = journal_deliveries(&queue, &journal)?;
    publisher.join().map_err(|_| "the publisher panicked")?;
    let stats = queue.stats();
    if journaled_before + journaled != total || stats.acked != journaled || journal.end() != total {
        return Err(format!(
            "journal: {journaled_before} from before + {journaled} written now, {} acked, {} in the journal, of {total}",
            stats.acked,
            journal.end()
        ));
    }

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
        "   journaled        {journaled:>9}   (delivery queue: acked {}, unacked {}; {journaled_before} by an earlier run)",
        stats.acked, stats.unacked
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

/// Consumes the delivery queue into the journal, in batches of up to 1024 changes: each batch
/// is appended (written and synced: `EveryBatch`) before its deliveries are acknowledged.
fn journal_deliveries(queue: &DeliveryQueue<Change>, journal: &Journal) -> Result<u64, String> {
    let consumer = queue.consumer();
    let mut written = 0u64;
    let mut pending: Vec<Delivery<Change>> = Vec::new();
    let mut flush = |pending: &mut Vec<Delivery<Change>>| -> Result<(), String> {
        if pending.is_empty() {
            return Ok(());
        }
        JournalSource::append(journal, pending.iter().map(|d| d.message()))
            .map_err(|e| e.to_string())?;
        written += pending.len() as u64;
        pending.drain(..).for_each(|d| d.ack());
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
