//! Scale-out over Redis Streams: producers append changes to a stream with `RedisSink`; two
//! consumer *processes* (this example, re-executed) share one consumer group with
//! `RedisSource`, each running its own `DataSync` engine; the report merges what they applied
//! and verifies it against the source.
//!
//! 1. A `redis-server` is started on a free loopback port (append-only, temporary directory)
//!    unless `REDIS_URL` names one (then a fresh stream name is used and removed at the end).
//! 2. The consumers start and wait on the group; producer threads append the log in
//!    pipelined batches, plus a few malformed entries that must end in the dead-letter stream.
//! 3. Each consumer applies what it gets and records it (one JSON line per applied change);
//!    it stops once the producers are done and the group has nothing left (no lag, nothing
//!    pending).
//! 4. The parent merges the records into one replica: every change covered, duplicates
//!    counted, the state equal to the source's, and nothing left pending.
//!
//! `cargo run --release --example redis_scale_out --features redis,testing -- --help`

#[path = "shared/flags.rs"]
mod flags;

use mqsync::sync::redis_testing::{group_backlog, RedisServer};
use mqsync::sync::{
    Change, DataSync, RedisConfig, RedisSink, RedisSource, Replica, Sink, SinkError,
};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const HELP: &str = "\
mqsync redis_scale_out: producers append to a Redis stream, two consumer processes share one
consumer group, and the merged result is verified against the source.

usage: cargo run --release --example redis_scale_out --features redis,testing -- [flags]

  --messages N     changes in the log (default 200000)
  --producers N    producer threads (default 2)
  --consumers N    consumer processes (default 2)
  --malformed N    malformed entries mixed in, for the dead-letter stream (default 5)
  -h, --help       this text

REDIS_URL=redis://host:port/ uses that server instead of starting one.
Exit codes: 0 verified, 1 verification failed, 2 bad flags or no server.";

const GROUP: &str = "scale-out";

struct Args {
    messages: usize,
    producers: usize,
    consumers: usize,
    malformed: usize,
}

fn parse_args(argv: impl Iterator<Item = std::ffi::OsString>) -> Result<Args, String> {
    let mut args = Args {
        messages: 200_000,
        producers: 2,
        consumers: 2,
        malformed: 5,
    };
    flags::parse(argv, HELP, |flag, p| {
        match flag {
            "--messages" => args.messages = flags::whole(p, flag)?,
            "--producers" => args.producers = flags::whole(p, flag)?,
            "--consumers" => args.consumers = flags::whole(p, flag)?,
            "--malformed" => args.malformed = flags::whole(p, flag)?,
            other => return Err(format!("unknown flag {other:?} (try --help)")),
        }
        Ok(())
    })?;
    if args.messages == 0 || args.producers == 0 || args.consumers == 0 {
        return Err("--messages, --producers and --consumers must be at least 1".into());
    }
    Ok(args)
}

fn main() {
    let mut argv = std::env::args().skip(1);
    if let Some(first) = argv.next() {
        if first == "consume" {
            let rest: Vec<String> = argv.collect();
            match consume(&rest) {
                Ok(()) => return,
                Err(e) => {
                    eprintln!("consumer failed: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
    let args = match parse_args(std::env::args_os().skip(1)) {
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

/// The log: rising versions over a key space a tenth of its size, every 13th a delete.
fn log(len: usize) -> Vec<Change> {
    let keys = (len / 10).max(1) as u64;
    (0..len as u64)
        .map(|i| {
            let key = format!("order-{}", (i * 7919) % keys);
            if i % 13 == 5 {
                Change::delete(key, i)
            } else {
                Change::upsert(key, i, json!({"seq": i, "total": i % 997}))
            }
        })
        .collect()
}

fn run(args: &Args) -> Result<(), String> {
    // 1. The server.
    let (server, url) = match std::env::var("REDIS_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let server = RedisServer::start().map_err(|e| e.to_string())?;
            let url = server.url();
            (Some(server), url)
        }
    };
    let stream = format!("mqsync:scale-out:{}", std::process::id());
    let done_key = format!("{stream}:done");
    println!("== 1. redis at {url}, stream {stream:?}, group {GROUP:?}");
    if server.is_some() {
        println!("   (a redis-server of our own: append-only, temporary directory)");
    }
    let config = RedisConfig::builder(url.clone(), stream.clone())
        .group(GROUP)
        .build()
        .map_err(|e| e.to_string())?;
    let dead_stream = config.dead_letter_stream_name();
    let mut conn = redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection())
        .map_err(|e| format!("cannot reach {url}: {e}"))?;

    // 2. Consumers first (they wait on the group), then the producers.
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut consumers = Vec::new();
    for i in 0..args.consumers {
        let name = format!("consumer-{i}");
        let record = dir.path().join(format!("{name}.jsonl"));
        let child = Command::new(&exe)
            .args(["consume", &url, &stream, &name, &record.to_string_lossy()])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        consumers.push((name, record, child));
    }
    let changes = Arc::new(log(args.messages));
    let start = Instant::now();
    let producers: Vec<_> = (0..args.producers)
        .map(|p| {
            let (changes, config, n) = (changes.clone(), config.clone(), args.producers);
            thread::spawn(move || -> Result<(), String> {
                let sink = RedisSink::new(&config);
                let mine: Vec<Change> = changes.iter().skip(p).step_by(n).cloned().collect();
                for batch in mine.chunks(500) {
                    sink.apply(batch).map_err(|e| e.to_string())?;
                }
                Ok(())
            })
        })
        .collect();
    for p in producers {
        p.join().map_err(|_| "a producer panicked")??;
    }
    for i in 0..args.malformed {
        redis::cmd("XADD")
            .arg(&stream)
            .arg("*")
            .arg("change")
            .arg(format!("{{\"not a change\": {i}}}"))
            .exec(&mut conn)
            .map_err(|e| e.to_string())?;
    }
    let produce_time = start.elapsed();
    redis::cmd("SET")
        .arg(&done_key)
        .arg(1)
        .exec(&mut conn)
        .map_err(|e| e.to_string())?;
    println!(
        "== 2. produced {} changes + {} malformed with {} producer(s) in {:.2?} ({:.0}/s, pipelined batches of 500)",
        args.messages,
        args.malformed,
        args.producers,
        produce_time,
        args.messages as f64 / produce_time.as_secs_f64()
    );

    // 3. Wait for the consumers.
    let mut reports = Vec::new();
    for (name, record, child) in consumers {
        let output = child.wait_with_output().map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(format!("{name} failed: {}", output.status));
        }
        let line = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        reports.push((name, record, line));
    }
    let total_time = start.elapsed();

    // 4. Merge and verify.
    let replica = Replica::new();
    let mut seen = HashSet::new();
    let mut duplicates = 0usize;
    let mut shares = Vec::new();
    for (name, record, line) in &reports {
        let applied = read_record(record)?;
        shares.push((name.clone(), applied.len(), line.clone()));
        for change in applied {
            if !seen.insert(change.id.clone()) {
                duplicates += 1;
            }
            replica.apply(&change);
        }
    }
    let want = {
        let expected = Replica::new();
        for c in changes.iter() {
            expected.apply(c);
        }
        expected.snapshot()
    };
    let missing = changes.iter().filter(|c| !seen.contains(&c.id)).count();
    let got: BTreeMap<_, _> = replica.snapshot();
    let dead: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(&dead_stream)
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .map_err(|e| e.to_string())?;
    let (lag, pending) = group_backlog(&url, &stream, GROUP).map_err(|e| e.to_string())?;

    println!("== 3. report");
    println!("   changes produced     {:>9}", args.messages);
    let total_applied: usize = shares.iter().map(|(_, n, _)| n).sum();
    for (name, n, line) in &shares {
        println!(
            "   {name:<20} {n:>9}  ({:.1}% of the applied; {line})",
            100.0 * *n as f64 / total_applied.max(1) as f64
        );
    }
    println!("   duplicates           {duplicates:>9}  (redelivered; harmless: version wins)");
    println!("   missing              {missing:>9}");
    println!("   dead letters         {:>9}", dead.len());
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for (_, fields) in &dead {
        let reason = fields
            .iter()
            .find(|(k, _)| k == "reason")
            .map_or("?".into(), |(_, v)| {
                // Group by the reason, without the position details that differ per entry.
                let short: String = v
                    .split(" at line")
                    .next()
                    .unwrap_or(v)
                    .chars()
                    .take(90)
                    .collect();
                short
            });
        *reasons.entry(reason).or_default() += 1;
    }
    for (reason, n) in &reasons {
        println!("       {n:>5} x {reason}");
    }
    println!("   left in the group    lag {lag}, pending {pending}");
    println!(
        "   end-to-end           {:.2?} ({:.0} changes/s, produce + consume, {} consumer processes)",
        total_time,
        args.messages as f64 / total_time.as_secs_f64(),
        args.consumers
    );
    let equal = got == want && missing == 0;
    println!(
        "   target equals source: {}  ({} keys)",
        if equal { "yes" } else { "NO" },
        want.len()
    );

    if server.is_none() {
        let _ = redis::cmd("DEL")
            .arg(&stream)
            .arg(&dead_stream)
            .arg(&done_key)
            .exec(&mut conn);
    }
    if !equal {
        return Err(format!(
            "{missing} changes missing, or the merged state differs"
        ));
    }
    if dead.len() != args.malformed {
        return Err(format!(
            "{} dead letters, expected {}",
            dead.len(),
            args.malformed
        ));
    }
    if (lag, pending) != (0, 0) {
        return Err(format!("the group still has lag {lag}, pending {pending}"));
    }
    Ok(())
}

fn read_record(path: &Path) -> Result<Vec<Change>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    std::io::BufReader::new(file)
        .lines()
        .map(|line| {
            let line = line.map_err(|e| e.to_string())?;
            serde_json::from_str(&line).map_err(|e| e.to_string())
        })
        .collect()
}

/// A consumer's target: applies to its replica and records each applied change, flushed per
/// batch.
struct Recorder {
    replica: Replica,
    file: Mutex<BufWriter<std::fs::File>>,
}

impl Sink for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
        let io = |e: std::io::Error| SinkError::batch(e);
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        for change in batch {
            self.replica.apply(change);
            serde_json::to_writer(&mut *file, change).map_err(SinkError::batch)?;
            file.write_all(b"\n").map_err(io)?;
        }
        file.flush().map_err(io)
    }
}

/// A consumer process: `consume URL STREAM NAME RECORD`.
fn consume(args: &[String]) -> Result<(), String> {
    let [url, stream, name, record] = args else {
        return Err(format!(
            "usage: consume URL STREAM NAME RECORD, got {args:?}"
        ));
    };
    let config = RedisConfig::builder(url.clone(), stream.clone())
        .group(GROUP)
        .consumer(name.clone())
        .claim_idle(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let source = RedisSource::new(&config);
    let stats = source.stats();
    let file = std::fs::File::create(PathBuf::from(record)).map_err(|e| e.to_string())?;
    let recorder = Arc::new(Recorder {
        replica: Replica::new(),
        file: Mutex::new(BufWriter::new(file)),
    });
    let engine = DataSync::builder()
        .source(source)
        .sink(recorder.clone())
        .workers(2)
        .start()
        .map_err(|e| e.to_string())?;
    let mut conn = redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection())
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done: bool = redis::cmd("EXISTS")
            .arg(format!("{stream}:done"))
            .query(&mut conn)
            .map_err(|e| e.to_string())?;
        if done
            && group_backlog(url, stream, GROUP).ok() == Some((0, 0))
            && engine.wait_idle(Duration::from_secs(5))
        {
            break;
        }
        if Instant::now() > deadline {
            return Err("the group did not finish in 10 minutes".into());
        }
        thread::sleep(Duration::from_millis(20));
    }
    let report = engine.shutdown();
    let s = stats.snapshot();
    println!(
        "read {} reclaimed {} acked {} dead-lettered {}, p99 pull-to-apply {:.2?}",
        s.read,
        s.reclaimed,
        s.acked,
        s.dead_lettered,
        report.metrics.latency_p99.unwrap_or_default()
    );
    Ok(())
}
