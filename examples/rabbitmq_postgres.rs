//! RabbitMQ → integrate → PostgreSQL (and an in-memory replica), with malformed messages mixed
//! in and the broker restarted mid-stream, verified against the source.
//!
//! 1. A private `rabbitmq-server` and a private PostgreSQL cluster start on free loopback ports
//!    (temporary directories), unless `AMQP_URL` / `DATABASE_URL` name servers to use (then the
//!    queue and the table get fresh names).
//! 2. The engine starts: a `RabbitMqSource` on a durable classic queue, whose decoder runs each
//!    body through an `Integrator` (rules: the key from `order_id`, the version from `rev`);
//!    two sinks, a `PostgresSink` (one transaction per batch, versions checked in SQL) and a
//!    `Replica`.
//! 3. A producer publishes order events with publisher confirms, persistent, revisions of each
//!    order out of order, and malformed bodies among them (not JSON, no `order_id`, a `rev`
//!    that is not a number). Halfway through, the broker is stopped and started again: the
//!    producer republishes what was not confirmed, the source reconnects, and what it had not
//!    acknowledged comes back.
//! 4. Once every message is consumed, the report compares the PostgreSQL table and the replica
//!    with the expected state (the highest revision of each order), and the dead-letter queue
//!    with the malformed bodies.
//!
//! `cargo run --release --example rabbitmq_postgres --features rabbitmq,postgres,testing -- --help`

#[path = "shared/flags.rs"]
mod flags;

use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use mqsync::integrate::{Input, Integrator, Raw, RuleSet};
use mqsync::sync::postgres_testing::PostgresServer;
use mqsync::sync::rabbitmq_testing::{queue_len, RabbitMqServer};
use mqsync::sync::{
    Change, DataSync, PostgresSchema, PostgresSink, RabbitMqConfig, RabbitMqSource, Replica,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const HELP: &str = "\
mqsync rabbitmq_postgres: order events from a RabbitMQ queue, integrated, kept in a PostgreSQL
table and a replica; malformed messages dead-lettered; the broker restarted mid-stream; verified.

usage: cargo run --release --example rabbitmq_postgres --features rabbitmq,postgres,testing -- [flags]

  --orders N       distinct orders (default 2000)
  --revisions N    revisions published per order, in shuffled order (default 5)
  --malformed N    malformed bodies mixed in (default 12)
  --no-restart     do not restart the broker halfway
  -h, --help       this text

AMQP_URL=amqp://user:password@host:port/%2f and DATABASE_URL=postgres://... use those servers
instead of starting private ones. Exit codes: 0 verified, 1 verification failed, 2 bad flags or
no server.";

struct Args {
    orders: usize,
    revisions: usize,
    malformed: usize,
    restart: bool,
}

fn parse_args(argv: impl Iterator<Item = std::ffi::OsString>) -> Result<Args, String> {
    let mut args = Args {
        orders: 2000,
        revisions: 5,
        malformed: 12,
        restart: true,
    };
    flags::parse(argv, HELP, |flag, p| {
        match flag {
            "--orders" => args.orders = flags::whole(p, flag)?,
            "--revisions" => args.revisions = flags::whole(p, flag)?,
            "--malformed" => args.malformed = flags::whole(p, flag)?,
            "--no-restart" => args.restart = false,
            other => return Err(format!("unknown flag {other:?} (try --help)")),
        }
        Ok(())
    })?;
    if args.orders == 0 || args.revisions == 0 {
        return Err("--orders and --revisions must be at least 1".into());
    }
    Ok(args)
}

/// The integration rules for the `orders` source.
const RULES: &str = r#"
[sources.orders]
key = "order_id"
version = "rev"
"#;

/// The body of revision `rev` of order `order`.
fn order_event(order: usize, rev: usize) -> Vec<u8> {
    const STATUS: [&str; 5] = ["placed", "paid", "packed", "shipped", "delivered"];
    json!({
        "order_id": format!("O-{order:05}"),
        "rev": rev,
        "status": STATUS[rev % 5],
        "customer": {"id": order % 97, "tier": if order % 3 == 0 { "gold" } else { "std" }},
        "total": (order * 7 + rev) as f64 / 4.0,
    })
    .to_string()
    .into_bytes()
}

/// Bodies the integration refuses, each for a reason of its own.
fn malformed(n: usize) -> Vec<u8> {
    match n % 3 {
        0 => b"{ not json".to_vec(),
        1 => json!({"rev": 1, "status": "placed"})
            .to_string()
            .into_bytes(), // no order_id
        _ => json!({"order_id": format!("O-bad-{n}"), "rev": "tomorrow"})
            .to_string()
            .into_bytes(),
    }
}

/// Every body to publish, in publishing order: each order's revisions shuffled among all the
/// others (a fixed permutation), malformed ones spread evenly.
fn feed(args: &Args) -> Vec<Vec<u8>> {
    let total = args.orders * args.revisions;
    let mut order: Vec<usize> = (0..total).collect();
    // A fixed shuffle (xorshift), so that runs are repeatable and revisions arrive out of order.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for i in (1..order.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let mut bodies: Vec<Vec<u8>> = order
        .into_iter()
        .map(|n| order_event(n % args.orders, n / args.orders + 1))
        .collect();
    for m in 0..args.malformed {
        let at = (m + 1) * bodies.len() / (args.malformed + 1);
        bodies.insert(at, malformed(m));
    }
    bodies
}

/// Publishes `bodies` to `queue` with publisher confirms, in windows of 200: a window that is not
/// wholly confirmed (the broker went away) is published again on a new connection, so every body
/// is confirmed at least once (a repeat is harmless: versions decide).
fn publish(url: &str, queue: &str, bodies: &[Vec<u8>], published: &AtomicUsize) {
    let mut next = 0;
    while next < bodies.len() {
        let window = &bodies[next..bodies.len().min(next + 200)];
        // Ok(true): every body of the window confirmed; Ok(false): the broker refused one.
        let outcome: Result<bool, lapin::Error> = futures_executor::block_on(async {
            let conn = Connection::connect(url, ConnectionProperties::default()).await?;
            let channel = conn.create_channel().await?;
            channel.confirm_select(Default::default()).await?;
            let mut confirms = Vec::with_capacity(window.len());
            for body in window {
                confirms.push(
                    channel
                        .basic_publish(
                            "",
                            queue,
                            BasicPublishOptions::default(),
                            body,
                            BasicProperties::default().with_delivery_mode(2),
                        )
                        .await?,
                );
            }
            let mut all = true;
            for confirm in confirms {
                all &= confirm.await?.is_ack();
            }
            let _ = conn.close(200, "window published").await;
            Ok(all)
        });
        match outcome {
            Ok(true) => {
                next += window.len();
                published.store(next, Ordering::Release);
            }
            // The broker refused a body, or is restarting: the same window again, shortly.
            Ok(false) | Err(_) => thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn main() {
    let args = match parse_args(std::env::args_os().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    match run(&args) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

fn run(args: &Args) -> Result<bool, String> {
    let started = Instant::now();
    let suffix = format!(
        "{}-{}",
        std::process::id(),
        started.elapsed().as_nanos() % 1000
    );
    // 1. Servers.
    let mut broker = None;
    let amqp_url = match std::env::var("AMQP_URL") {
        Ok(url) => url,
        Err(_) => {
            let server = RabbitMqServer::start().map_err(|e| format!("rabbitmq-server: {e}"))?;
            let url = server.url();
            broker = Some(server);
            url
        }
    };
    let mut cluster = None;
    let database_url = match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(_) => {
            let server = PostgresServer::start().map_err(|e| format!("postgres: {e}"))?;
            let url = server.url();
            cluster = Some(server);
            url
        }
    };
    let queue = format!("orders-{suffix}");
    let table = format!("orders_{}", suffix.replace('-', "_"));
    println!("== 1. servers: RabbitMQ queue {queue:?}, PostgreSQL table {table:?}");

    // 2. The engine.
    let integrator = Arc::new(
        Integrator::builder()
            .rules(RuleSet::from_toml_str(RULES).map_err(|e| e.to_string())?)
            .build()
            .map_err(|e| e.to_string())?,
    );
    // Classic queues (durable, persistent messages): a single-node quorum queue killed with
    // SIGKILL can come back without a leader in RabbitMQ 3.10 and confirm nothing until it
    // recovers (docs/rabbitmq.md); the restart below is a SIGKILL.
    let config = RabbitMqConfig::builder(amqp_url.clone(), queue.clone())
        .quorum(false)
        .delivery_limit(5)
        .build()
        .map_err(|e| e.to_string())?;
    let decode = {
        let integrator = Arc::clone(&integrator);
        move |body: &[u8]| -> Result<Change, String> {
            let input = Input::new("orders", Raw::Json(body.to_vec()));
            integrator
                .integrate(input)
                .map(Change::from)
                .map_err(|rejection| rejection.reason.to_string())
        }
    };
    let source = RabbitMqSource::new(&config).decoder(decode);
    let source_stats = source.stats();
    let schema = PostgresSchema::builder(table.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let postgres =
        Arc::new(PostgresSink::connect(&database_url, schema, &queue).map_err(|e| e.to_string())?);
    let replica = Arc::new(Replica::new());
    let engine = DataSync::builder()
        .source(source)
        .sink(Arc::clone(&postgres))
        .sink(Arc::clone(&replica))
        .workers(2)
        .start()
        .map_err(|e| e.to_string())?;
    // The source declares the queue when it first connects.
    let deadline = Instant::now() + Duration::from_secs(30);
    while queue_len(&amqp_url, &queue).is_err() {
        if Instant::now() > deadline {
            return Err("the source did not declare its queue within 30 s".into());
        }
        thread::sleep(Duration::from_millis(50));
    }

    // 3. The producer, and the broker restart halfway.
    let bodies = feed(args);
    println!(
        "== 2. publishing {} bodies ({} orders × {} revisions, shuffled, {} malformed) with confirms",
        bodies.len(),
        args.orders,
        args.revisions,
        args.malformed
    );
    let published = Arc::new(AtomicUsize::new(0));
    let producer = {
        let (url, queue, bodies, published) = (
            amqp_url.clone(),
            queue.clone(),
            bodies.clone(),
            Arc::clone(&published),
        );
        thread::spawn(move || publish(&url, &queue, &bodies, &published))
    };
    let mut restarted = false;
    if args.restart {
        if let Some(server) = broker.as_mut() {
            while published.load(Ordering::Acquire) < bodies.len() / 2 && !producer.is_finished() {
                thread::sleep(Duration::from_millis(5));
            }
            println!("== 3. restarting the broker with half of the bodies confirmed");
            let t = Instant::now();
            server.restart().map_err(|e| format!("restart: {e}"))?;
            println!(
                "   the broker was back after {:.1} s",
                t.elapsed().as_secs_f64()
            );
            restarted = true;
        } else {
            println!("== 3. not restarting a broker named by AMQP_URL");
        }
    }
    producer.join().map_err(|_| "the producer panicked")?;

    // 4. Drain: nothing ready in the queue and the engine idle (everything it pulled applied
    // and committed, so acknowledged), three times in a row 200 ms apart: a message the broker
    // has just sent is no longer ready but not yet pulled either.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut quiet = 0;
    let mut last_progress = Instant::now();
    loop {
        let left = queue_len(&amqp_url, &queue).unwrap_or(u32::MAX);
        quiet = if left == 0 && engine.wait_idle(Duration::from_secs(1)) {
            quiet + 1
        } else {
            0
        };
        if quiet == 3 {
            break;
        }
        if last_progress.elapsed() >= Duration::from_secs(5) {
            let counts = source_stats.snapshot();
            let m = engine.metrics();
            println!(
                "   draining: {left} ready, received {}, acknowledged {}, reconnects {}; \
                 engine: pulled {}, applied {}, committed {}, in flight {}, retries {}",
                counts.received,
                counts.acked,
                counts.reconnects,
                m.pulled,
                m.applied,
                m.committed,
                m.in_flight,
                m.retries
            );
            last_progress = Instant::now();
        }
        thread::sleep(Duration::from_millis(200));
        if Instant::now() > deadline {
            return Err(format!("not drained after 120 s: {left} messages left"));
        }
    }
    let report = engine.shutdown();
    let counts = source_stats.snapshot();

    // The expected state: the highest revision of each order, as the integration shapes it.
    let mut expected: BTreeMap<String, (u64, Value)> = BTreeMap::new();
    let mut refused = 0;
    for body in &bodies {
        match integrator.integrate(Input::new("orders", Raw::Json(body.clone()))) {
            Ok(message) => {
                let change = Change::from(message);
                let version = change.version.unwrap_or(0);
                if let mqsync::sync::Op::Upsert(value) = change.op {
                    if expected.get(&change.key).is_none_or(|(v, _)| *v < version) {
                        expected.insert(change.key, (version, value));
                    }
                }
            }
            Err(_) => refused += 1,
        }
    }
    let expected: BTreeMap<String, Value> =
        expected.into_iter().map(|(k, (_, v))| (k, v)).collect();
    let table_state = postgres.snapshot().map_err(|e| e.to_string())?;
    let replica_state = replica.snapshot();
    let dead_queue = config.dead_letter_queue_name();
    let dead_letters = queue_len(&amqp_url, &dead_queue).map_err(|e| e.to_string())? as usize;

    let table_ok = table_state == expected;
    let replica_ok = replica_state == expected;
    // A malformed body published twice (its window was republished after the restart) is
    // dead-lettered twice: count distinct bodies through the source's own count.
    let dead_ok = dead_letters >= refused && refused == args.malformed;
    let unique: HashSet<&Vec<u8>> = bodies.iter().collect();
    println!("== 4. report");
    println!(
        "   bodies published    {:>9} ({} distinct)",
        bodies.len(),
        unique.len()
    );
    println!(
        "   received            {:>9} ({} redelivered after the restart)",
        counts.received, counts.redelivered
    );
    println!("   applied             {:>9}", report.metrics.applied);
    println!("   dead letters        {dead_letters:>9} (malformed bodies: {refused})");
    println!(
        "   broker restarted    {:>9}",
        if restarted { "yes" } else { "no" }
    );
    println!("   orders expected     {:>9}", expected.len());
    println!("   rows in PostgreSQL  {:>9}", table_state.len());
    println!(
        "   table equals source: {}",
        if table_ok { "yes" } else { "NO" }
    );
    println!(
        "   replica equals source: {}",
        if replica_ok { "yes" } else { "NO" }
    );
    println!(
        "   malformed dead-lettered: {}",
        if dead_ok { "yes" } else { "NO" }
    );
    println!("   took {:.1} s", started.elapsed().as_secs_f64());
    drop(cluster);
    Ok(table_ok && replica_ok && dead_ok)
}
