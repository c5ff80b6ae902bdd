//! Redis Streams source and sink against a real `redis-server` (started by the tests on a free
//! loopback port, append-only, in a temporary directory): pipelined appends and trimming,
//! consumer groups with commit-after-confirm, reclaiming from dead consumers, delivery limits
//! and malformed entries to the dead-letter stream, bad configuration, a server that goes down,
//! and scale-out over two consumer processes — with one killed mid-stream — and a server
//! restarted mid-burst, each verified to the final state.
//!
//! Needs `redis-server` on PATH (`apt-get install -y redis-server`); with
//! `MQSYNC_SKIP_REDIS=1` the tests that need it are skipped, loudly.
#![cfg(feature = "redis")]

use mqsync::sync::redis_testing::{group_backlog, RedisServer, INSTALL_HINT};
use mqsync::sync::{
    error_chain, Change, DataSync, Observer, ObserverMode, RedisConfig, RedisConfigBuilder,
    RedisSink, RedisSource, Replica, RetryPolicy, Sink, SinkError, Source, SyncEvent, SyncSettings,
};
use mqsync::ConfigError;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A server for one test, or `None` (skipped, loudly) when `MQSYNC_SKIP_REDIS=1` and there is
/// no `redis-server`.
fn server() -> Option<RedisServer> {
    server_with(&[])
}

/// [`server`] with extra `redis-server` arguments.
fn server_with(extra: &[&str]) -> Option<RedisServer> {
    if !RedisServer::available() {
        if std::env::var("MQSYNC_SKIP_REDIS").as_deref() == Ok("1") {
            // Straight to the process's stderr: the test harness does not capture this, so the
            // skip shows even when the test passes.
            let _ = std::io::stderr().write_all(
                b"\n!!!!!!!! SKIPPED: redis-server is not on PATH and MQSYNC_SKIP_REDIS=1 \
                  -- this Redis Streams test did NOT run !!!!!!!!\n",
            );
            return None;
        }
        panic!(
            "redis-server is not on PATH: install it with `{INSTALL_HINT}` \
             (or set MQSYNC_SKIP_REDIS=1 to skip the Redis tests)"
        );
    }
    Some(RedisServer::start_with(extra).expect("start redis-server"))
}

fn conn(server: &RedisServer) -> redis::Connection {
    redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

fn xlen(conn: &mut redis::Connection, stream: &str) -> u64 {
    redis::cmd("XLEN").arg(stream).query(conn).unwrap()
}

/// Pending entries of the group (the XPENDING summary's count).
fn pending(conn: &mut redis::Connection, stream: &str, group: &str) -> u64 {
    let summary: redis::Value = match redis::cmd("XPENDING").arg(stream).arg(group).query(conn) {
        Ok(summary) => summary,
        Err(e) if e.code() == Some("NOGROUP") => return 0, // no group yet: nothing pending
        Err(e) => panic!("XPENDING: {e}"),
    };
    match summary {
        redis::Value::Array(parts) => match parts.first() {
            Some(redis::Value::Int(n)) => *n as u64,
            other => panic!("XPENDING summary: {other:?}"),
        },
        other => panic!("XPENDING summary: {other:?}"),
    }
}

/// Dead-letter entries as field maps (text).
fn dead_letters(conn: &mut redis::Connection, stream: &str) -> Vec<BTreeMap<String, String>> {
    type Fields = Vec<(Vec<u8>, Vec<u8>)>;
    let entries: Vec<(String, Fields)> = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query(conn)
        .unwrap();
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    entries
        .into_iter()
        .map(|(_, fields)| {
            fields
                .into_iter()
                .map(|(k, v)| (text(k), text(v)))
                .collect()
        })
        .collect()
}

/// A deterministic log over `keys` keys with rising versions and some deletes.
fn log(len: u64, keys: u64) -> Vec<Change> {
    (0..len)
        .map(|i| {
            let key = format!("k{}", (i * 7919) % keys);
            if i % 13 == 5 {
                Change::delete(key, i)
            } else {
                Change::upsert(key, i, json!({"i": i}))
            }
        })
        .collect()
}

fn expected(log: &[Change]) -> BTreeMap<String, serde_json::Value> {
    let replica = Replica::new();
    for c in log {
        replica.apply(c);
    }
    replica.snapshot()
}

fn produce(url: &str, stream: &str, log: &[Change], batch: usize) {
    let sink = RedisSink::new(&RedisConfig::builder(url, stream).build().unwrap());
    for chunk in log.chunks(batch) {
        sink.apply(chunk).unwrap();
    }
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy::new(3, Duration::from_millis(1), Duration::from_millis(10))
}

// ---- the sink ------------------------------------------------------------------------------

#[test]
fn sink_appends_pipelined_batches_in_order_and_trims() {
    let Some(server) = server() else { return };
    let mut c = conn(&server);
    let changes = log(2_000, 100);
    produce(&server.url(), "orders", &changes, 500);
    assert_eq!(xlen(&mut c, "orders"), 2_000);
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("orders")
        .arg("-")
        .arg("+")
        .query(&mut c)
        .unwrap();
    let back: Vec<Change> = entries
        .iter()
        .map(|(_, fields)| {
            assert_eq!(fields.len(), 1);
            assert_eq!(fields[0].0, "change");
            serde_json::from_str(&fields[0].1).unwrap()
        })
        .collect();
    assert_eq!(
        back, changes,
        "every change, in order, as JSON in the `change` field"
    );

    // One pipeline per batch: the server counts one XADD call per change, and the sink used
    // one connection for all four batches.
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut c)
        .unwrap();
    assert!(stats.contains("cmdstat_xadd:calls=2000,"), "{stats}");
    let clients: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
    let connections: u64 = clients
        .lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(connections <= 3, "{connections} connections for 4 batches");

    // MAXLEN ~ 100: the stream stays near 100 entries (whole radix-tree nodes are trimmed).
    let sink = RedisSink::new(
        &RedisConfig::builder(server.url(), "trimmed")
            .max_len(100)
            .build()
            .unwrap(),
    );
    for chunk in changes.chunks(250) {
        sink.apply(chunk).unwrap();
    }
    let len = xlen(&mut c, "trimmed");
    assert!(
        (100..=300).contains(&len),
        "trimmed stream has {len} entries"
    );
}

// ---- the source ----------------------------------------------------------------------------

#[test]
fn source_acknowledges_only_what_is_committed() {
    let Some(server) = server() else { return };
    let mut c = conn(&server);
    let changes = log(10, 10);
    produce(&server.url(), "s", &changes, 10);
    let config = RedisConfig::builder(server.url(), "s")
        .group("g")
        .consumer("c1");
    let mut source = RedisSource::new(&config.clone().build().unwrap());
    let pulled = source.pull(100).unwrap();
    assert_eq!(pulled, changes);
    assert_eq!(
        pending(&mut c, "s", "g"),
        10,
        "read, not confirmed: all pending"
    );
    source.commit(3).unwrap();
    assert_eq!(pending(&mut c, "s", "g"), 6, "changes 0..=3 acknowledged");
    source.commit(9).unwrap();
    assert_eq!(pending(&mut c, "s", "g"), 0);
    assert_eq!(source.stats().snapshot().acked, 10);
    assert!(source.pull(100).unwrap().is_empty());
}

/// A sink that holds every batch until the gate opens.
struct Gate {
    open: Mutex<bool>,
    applied: AtomicUsize,
}

impl Sink for Gate {
    fn name(&self) -> &str {
        "gate"
    }
    fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
        while !*self.open.lock().unwrap() {
            thread::sleep(Duration::from_millis(5));
        }
        self.applied.fetch_add(batch.len(), Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn engine_acknowledges_after_every_sink_confirmed() {
    let Some(server) = server() else { return };
    let mut c = conn(&server);
    let changes = log(500, 50);
    produce(&server.url(), "s", &changes, 100);
    let gate = Arc::new(Gate {
        open: Mutex::new(false),
        applied: AtomicUsize::new(0),
    });
    let replica = Arc::new(Replica::new());
    let config = RedisConfig::builder(server.url(), "s")
        .group("g")
        .consumer("c1");
    let engine = DataSync::builder()
        .source(RedisSource::new(&config.clone().build().unwrap()))
        .sink(replica.clone())
        .sink(gate.clone())
        .start()
        .unwrap();
    // Opens the gate if an assertion fails, so that dropping the engine does not hang.
    struct OpenOnDrop(Arc<Gate>);
    impl Drop for OpenOnDrop {
        fn drop(&mut self) {
            *self.0.open.lock().unwrap() = true;
        }
    }
    let _open = OpenOnDrop(gate.clone());
    // The replica applies, the gate does not confirm: nothing may be acknowledged.
    let deadline = Instant::now() + Duration::from_secs(10);
    while pending(&mut c, "s", "g") < 500 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        pending(&mut c, "s", "g"),
        500,
        "unconfirmed entries stay pending"
    );
    *gate.open.lock().unwrap() = true;
    assert!(engine.wait_idle(Duration::from_secs(30)));
    let report = engine.shutdown();
    assert_eq!(report.metrics.applied, 500);
    assert_eq!(gate.applied.load(Ordering::SeqCst), 500);
    assert_eq!(
        pending(&mut c, "s", "g"),
        0,
        "everything confirmed is acknowledged"
    );
    assert_eq!(replica.snapshot(), expected(&changes));
}

#[test]
fn idle_entries_of_a_dead_consumer_are_reclaimed() {
    let Some(server) = server() else { return };
    let mut c = conn(&server);
    let changes = log(20, 20);
    produce(&server.url(), "s", &changes, 20);
    let base = RedisConfig::builder(server.url(), "s")
        .group("g")
        .claim_idle(Duration::from_millis(200));
    let mut dead = RedisSource::new(&base.clone().consumer("dead").build().unwrap());
    assert_eq!(dead.pull(100).unwrap().len(), 20);
    drop(dead); // dies without acknowledging

    let mut alive = RedisSource::new(&base.consumer("alive").build().unwrap());
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < 20 && Instant::now() < deadline {
        got.extend(alive.pull(100).unwrap());
    }
    assert_eq!(got, changes, "all reclaimed, in stream order");
    assert_eq!(alive.stats().snapshot().reclaimed, 20);
    assert_eq!(alive.stats().snapshot().read, 0);
    alive.commit(19).unwrap();
    assert_eq!(pending(&mut c, "s", "g"), 0);
}

#[test]
fn pending_entries_trimmed_away_are_recorded_as_dead_letters() {
    let Some(server) = server() else { return };
    let mut c = conn(&server);
    produce(&server.url(), "s", &log(10, 10), 10);
    let base = RedisConfig::builder(server.url(), "s")
        .group("g")
        .claim_idle(Duration::from_millis(50));
    let mut dead = RedisSource::new(&base.clone().consumer("dead").build().unwrap());
    assert_eq!(dead.pull(100).unwrap().len(), 10);
    drop(dead);
    let _: u64 = redis::cmd("XTRIM")
        .arg("s")
        .arg("MAXLEN")
        .arg(0)
        .query(&mut c)
        .unwrap();
    let mut alive = RedisSource::new(&base.consumer("alive").build().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive.stats().snapshot().dead_lettered < 10 && Instant::now() < deadline {
        assert!(alive.pull(100).unwrap().is_empty());
    }
    let letters = dead_letters(&mut c, "s:dead");
    assert_eq!(letters.len(), 10, "each lost entry is recorded by ID");
    for letter in &letters {
        assert!(letter["reason"].contains("trimmed"), "{letter:?}");
        assert!(letter["entry_id"].contains('-'), "{letter:?}");
    }
    assert_eq!(pending(&mut c, "s", "g"), 0);
}

#[test]
fn over_delivered_entries_go_to_the_dead_letter_stream() {
    let Some(server) = server() else { return };
    let mut c = conn(&server);
    let changes = log(3, 3);
    produce(&server.url(), "s", &changes, 3);
    let base = RedisConfig::builder(server.url(), "s")
        .group("g")
        .claim_idle(Duration::from_millis(50))
        .delivery_limit(2);
    // Delivery 1 and 2, never acknowledged.
    let mut first = RedisSource::new(&base.clone().consumer("first").build().unwrap());
    assert_eq!(first.pull(10).unwrap().len(), 3);
    let mut second = RedisSource::new(&base.clone().consumer("second").build().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = 0;
    while got < 3 && Instant::now() < deadline {
        got += second.pull(10).unwrap().len();
    }
    assert_eq!(got, 3, "second delivery (within the limit)");
    // The third delivery is over the limit: dead letters, acknowledged on the main stream.
    let mut third = RedisSource::new(&base.consumer("third").build().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    while third.stats().snapshot().dead_lettered < 3 && Instant::now() < deadline {
        assert!(
            third.pull(10).unwrap().is_empty(),
            "nothing over the limit is handed out"
        );
    }
    assert_eq!(pending(&mut c, "s", "g"), 0);
    let dead = dead_letters(&mut c, "s:dead");
    assert_eq!(dead.len(), 3);
    for letter in &dead {
        assert!(
            letter["reason"].contains("more than the delivery limit 2"),
            "{letter:?}"
        );
        assert_eq!(letter["deliveries"], "3");
        assert_eq!(letter["consumer"], "third");
        let change: Change = serde_json::from_str(&letter["field:change"]).unwrap();
        assert!(changes.contains(&change), "the dead letter keeps the entry");
    }
}

#[test]
fn malformed_entries_go_to_the_dead_letter_stream() {
    let Some(server) = server() else { return };
    let mut c = conn(&server);
    let good = Change::upsert("k", 1, json!({"ok": true}));
    let _: String = redis::cmd("XADD")
        .arg("s")
        .arg("*")
        .arg("body")
        .arg("hello")
        .query(&mut c)
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg("s")
        .arg("*")
        .arg("change")
        .arg("{not json")
        .query(&mut c)
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg("s")
        .arg("*")
        .arg("change")
        .arg(vec![0xffu8, 0xfe])
        .query(&mut c)
        .unwrap();
    produce(&server.url(), "s", std::slice::from_ref(&good), 1);
    let config = RedisConfig::builder(server.url(), "s")
        .group("g")
        .consumer("c")
        .dead_letter_stream("bad");
    let mut source = RedisSource::new(&config.clone().build().unwrap());
    assert_eq!(
        source.pull(10).unwrap(),
        [good],
        "only the good one is handed out"
    );
    assert_eq!(
        pending(&mut c, "s", "g"),
        1,
        "malformed ones are acknowledged"
    );
    let dead = dead_letters(&mut c, "bad");
    assert_eq!(dead.len(), 3, "never dropped");
    assert!(
        dead[0]["reason"].contains("no \"change\" field"),
        "{:?}",
        dead[0]
    );
    assert_eq!(dead[0]["field:body"], "hello");
    assert!(
        dead[1]["reason"].contains("is not a change"),
        "{:?}",
        dead[1]
    );
    assert_eq!(dead[1]["field:change"], "{not json");
    assert!(
        dead[2]["reason"].contains("is not a change"),
        "{:?}",
        dead[2]
    );
    source.commit(0).unwrap();
    assert_eq!(pending(&mut c, "s", "g"), 0);
}

#[test]
fn bad_configuration_is_refused_by_build_before_anything_connects() {
    let ok = || RedisConfig::builder("redis://127.0.0.1:1/", "s");
    assert!(
        ok().build().is_ok(),
        "nothing connects: a closed port is fine"
    );
    let too_small = |field| ConfigError::TooSmall {
        field,
        value: 0,
        min: 1,
    };
    let zero = |field| ConfigError::Duration {
        field,
        value: Duration::ZERO,
        reason: "must be positive",
    };
    let too_long = |field, value| ConfigError::Duration {
        field,
        value,
        reason: "longer than a day",
    };
    let cases: Vec<(RedisConfigBuilder, ConfigError)> = vec![
        (RedisConfig::builder("", "s"), ConfigError::Missing("url")),
        (ok().group(""), ConfigError::Missing("group")),
        (ok().consumer(""), ConfigError::Missing("consumer")),
        (
            RedisConfig::builder("redis://h", ""),
            ConfigError::Missing("stream"),
        ),
        (
            ok().dead_letter_stream(""),
            ConfigError::Missing("dead_letter_stream"),
        ),
        (ok().batch_size(0), too_small("batch_size")),
        (ok().block(Duration::ZERO), zero("block")),
        (ok().claim_idle(Duration::ZERO), zero("claim_idle")),
        (ok().delivery_limit(0), too_small("delivery_limit")),
        (ok().max_len(0), too_small("max_len")),
        (ok().retry_for(Duration::ZERO), zero("retry_for")),
        (
            ok().connect_timeout(Duration::ZERO),
            zero("connect_timeout"),
        ),
        // Durations the source and sink add to the clock: refused here, not a panic there.
        (ok().block(Duration::MAX), too_long("block", Duration::MAX)),
        (
            ok().claim_idle(Duration::from_secs(86_401)),
            too_long("claim_idle", Duration::from_secs(86_401)),
        ),
        (
            ok().retry_for(Duration::MAX),
            too_long("retry_for", Duration::MAX),
        ),
    ];
    for (builder, want) in cases {
        assert_eq!(builder.build().unwrap_err(), want);
    }
    let same = ok().dead_letter_stream("s").build().unwrap_err();
    assert!(
        matches!(
            same,
            ConfigError::Conflict {
                field: "dead_letter_stream",
                other: "stream",
                ..
            }
        ),
        "{same}"
    );
    for url in ["http://127.0.0.1/", "127.0.0.1:6379", "redis://[::1"] {
        let err = RedisConfig::builder(url, "s").build().unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { field: "url", value, .. } if value == url),
            "{url}: {err}"
        );
    }
    let tls_root_on_plain = ok().tls_root_certificate("-----BEGIN CERTIFICATE-----");
    assert_eq!(
        tls_root_on_plain.build().unwrap_err().field(),
        "tls_root_certificate"
    );
    let not_pem = RedisConfig::builder("rediss://127.0.0.1:1/", "s").tls_root_certificate("x");
    assert_eq!(not_pem.build().unwrap_err().field(), "tls_root_certificate");
}

/// The password in a URL appears nowhere: not in `Debug` or `Display` of the config or its
/// builder, not in serialization, not in any configuration error, not in the errors and events
/// of a source and a sink that cannot reach the server.
#[test]
fn the_password_never_prints() {
    const SECRET: &str = "hunter2-s3cret";
    let url = format!("redis://app:{SECRET}@127.0.0.1:1/0");
    let builder = RedisConfig::builder(url.clone(), "s")
        .consumer("c")
        .connect_timeout(Duration::from_millis(50))
        .retry_for(Duration::from_millis(50));
    let config = builder.clone().build().unwrap();
    let mut shown = vec![
        format!("{builder:?}"),
        format!("{config:?}"),
        format!("{config:#?}"),
        config.to_string(),
        config.url_redacted(),
        serde_json::to_string(&config).unwrap(),
    ];
    assert_eq!(config.url_redacted(), "redis://app:***@127.0.0.1:1/0");
    assert!(config
        .to_string()
        .starts_with("redis://app:***@127.0.0.1:1/0"));
    // Configuration errors that quote the URL.
    for bad in [
        format!("redis://app:{SECRET}@[::1/0"),
        format!("http://app:{SECRET}@host/"),
        format!("redis://{SECRET}@[::1"),
    ] {
        let err = RedisConfig::builder(bad, "s").build().unwrap_err();
        shown.push(err.to_string());
        shown.push(format!("{err:?}"));
    }
    let err = builder
        .clone()
        .tls_root_certificate("-----BEGIN CERTIFICATE-----")
        .build()
        .unwrap_err();
    shown.push(format!("{err} {err:?}"));
    // Connection-time errors: a sink and a source whose server refuses.
    let sink = RedisSink::new(&config);
    let err = sink.apply(&log(1, 1)).unwrap_err();
    shown.push(format!("{err} {err:?} {}", error_chain(&err)));
    let mut source = RedisSource::new(&config);
    let err = source.pull(1).unwrap_err();
    shown.push(format!("{err} {err:?} {}", error_chain(&err)));
    shown.push(format!("{sink:?} {source:?}"));
    // Events and dead letters of an engine running both.
    let observer = Observer::new(ObserverMode::Lossless(1_000));
    let engine = DataSync::builder()
        .source(RedisSource::new(&config))
        .source(mqsync::sync::IterSource::new("seed", log(2, 2)))
        .sink(RedisSink::new(&config))
        .retry(RetryPolicy::new(1, Duration::ZERO, Duration::ZERO))
        .observe(&observer)
        .start()
        .unwrap();
    assert!(engine.wait_idle(Duration::from_secs(30)));
    let report = engine.shutdown();
    assert_eq!(report.dead_letters.len(), 2);
    let events = observer.drain();
    assert!(events
        .iter()
        .any(|e| matches!(e, SyncEvent::SourceError { .. })));
    shown.push(format!("{events:?} {report:?}"));
    // Unescaped `/`, `?`, `#` in a password (base64 passwords hold `/`): the URL is malformed,
    // and neither the built config nor the error refusing it may print the password.
    for (secret, url) in [
        ("hunter2/s3cret", "redis://app:hunter2/s3cret@127.0.0.1:1/0"),
        (
            "hunter2?s3#cret",
            "redis://app:hunter2?s3#cret@127.0.0.1:1/0",
        ),
    ] {
        let text = match RedisConfig::builder(url, "s").build() {
            Ok(config) => format!("{config:?} {config}"),
            Err(err) => format!("{err} {err:?}"),
        };
        assert!(!text.contains(secret), "the password leaked: {text}");
        assert!(!text.contains("s3"), "part of the password leaked: {text}");
    }
    for text in &shown {
        assert!(!text.contains(SECRET), "the password leaked: {text}");
    }
}

/// `rediss://`: a server that speaks only TLS, with a certificate from a CA made in the test,
/// trusted through `tls_root_certificate` (verification stays on: without the root, the
/// handshake fails). Messages round-trip through the sink and a consumer-group source.
#[test]
fn rediss_round_trips_over_tls_with_a_private_ca() {
    if !RedisServer::available() {
        assert!(server().is_none()); // skipped loudly under MQSYNC_SKIP_REDIS=1, else a panic
        return;
    }
    // The certificates come from the `openssl` command line tool (in every Debian/Ubuntu base
    // image that has redis-server).
    let server = RedisServer::start_tls().expect("start a TLS redis-server");
    let url = server.url();
    assert!(url.starts_with("rediss://"), "{url}");
    let ca = server.tls_ca_pem().unwrap().to_owned();
    let config = RedisConfig::builder(url.clone(), "tls")
        .group("g")
        .consumer("c")
        .tls_root_certificate(ca)
        .build()
        .unwrap();
    let changes = log(500, 50);
    let sink = RedisSink::new(&config);
    for chunk in changes.chunks(100) {
        sink.apply(chunk).unwrap();
    }
    let mut source = RedisSource::new(&config);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < changes.len() && Instant::now() < deadline {
        got.extend(source.pull(128).unwrap());
    }
    assert_eq!(got, changes, "every change, in order, over TLS");
    source.commit(got.len() as u64 - 1).unwrap();
    assert_eq!(source.stats().snapshot().acked, changes.len() as u64);

    // Without the test CA the server's certificate is not trusted: the handshake fails.
    let untrusted = RedisConfig::builder(url, "tls")
        .connect_timeout(Duration::from_millis(500))
        .retry_for(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = RedisSink::new(&untrusted).apply(&log(1, 1)).unwrap_err();
    assert!(matches!(err, SinkError::Redis { .. }), "{err:?}");
}

/// A service's whole pipeline configuration from one TOML file: the engine's settings, the
/// Redis source, the SQLite target's schema, and the integration rules.
#[test]
fn a_pipeline_configuration_loads_from_toml() {
    #[derive(serde::Deserialize)]
    struct Pipeline {
        sync: SyncSettings,
        redis: RedisConfig,
        #[cfg(feature = "sqlite")]
        sqlite: mqsync::sync::SqliteSchema,
        rules: mqsync::integrate::RuleSet,
    }
    let text = r#"
        [sync]
        workers = 4
        batch_size = 128
        linger = "500us"
        full_buffer = "reject"
        [sync.retry]
        attempts = 3
        initial_backoff = "2ms"
        max_backoff = 250

        [redis]
        url = "redis://app:pw@redis.internal:6379/2"
        stream = "orders"
        group = "billing"
        consumer = "billing-1"
        claim_idle = "10s"
        delivery_limit = 3

        [sqlite]
        table = "orders"
        key_column = "order_id"

        [rules.sources.orders]
        id = "order_id"
        convert = [{ field = "total", to = "number" }]
    "#;
    let loaded: Pipeline = toml::from_str(text).unwrap();
    let want = SyncSettings::default();
    assert_eq!(loaded.sync.workers, 4);
    assert_eq!(loaded.sync.batch_size, 128);
    assert_eq!(loaded.sync.linger, Duration::from_micros(500));
    assert_eq!(loaded.sync.full_buffer, mqsync::sync::FullPolicy::Reject);
    assert_eq!(
        loaded.sync.retry,
        RetryPolicy::new(3, Duration::from_millis(2), Duration::from_millis(250))
    );
    assert_eq!(loaded.sync.handoff_capacity, want.handoff_capacity);
    assert_eq!(
        loaded.redis,
        RedisConfig::builder("redis://app:pw@redis.internal:6379/2", "orders")
            .group("billing")
            .consumer("billing-1")
            .claim_idle(Duration::from_secs(10))
            .delivery_limit(3)
            .build()
            .unwrap()
    );
    #[cfg(feature = "sqlite")]
    assert_eq!(
        loaded.sqlite,
        mqsync::sync::SqliteSchema::builder("orders")
            .key_column("order_id")
            .build()
            .unwrap()
    );
    assert!(mqsync::integrate::Integrator::builder()
        .rules(loaded.rules)
        .build()
        .is_ok());
    // The engine starts from the loaded settings.
    let engine = DataSync::builder()
        .settings(loaded.sync)
        .source(mqsync::sync::IterSource::new("seed", log(10, 10)))
        .sink(Replica::new())
        .start()
        .unwrap();
    assert!(engine.wait_idle(Duration::from_secs(30)));
    assert_eq!(engine.shutdown().metrics.applied, 10);

    // Loading checks what `build()` checks, and names the field.
    let bad = text.replace("delivery_limit = 3", "delivery_limit = 0");
    let err = toml::from_str::<Pipeline>(&bad).err().unwrap().to_string();
    assert!(err.contains("delivery_limit must be at least 1"), "{err}");
    let typo = text.replace("claim_idle", "claim_idel");
    assert!(
        toml::from_str::<Pipeline>(&typo).is_err(),
        "unknown fields are refused"
    );
}

#[test]
fn a_server_that_is_down_gives_source_errors_then_recovers() {
    let Some(mut server) = server() else { return };
    server.kill();
    let config = RedisConfig::builder(server.url(), "s")
        .group("g")
        .consumer("c")
        .connect_timeout(Duration::from_millis(200));
    let replica = Arc::new(Replica::new());
    let events = Observer::new(ObserverMode::BoundedLag(100_000));
    let engine = DataSync::builder()
        .observe(&events)
        .source(RedisSource::new(&config.clone().build().unwrap()))
        .sink(replica.clone())
        .start()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut errors = 0;
    while errors < 3 && Instant::now() < deadline {
        if let Some(SyncEvent::SourceError { error, .. }) =
            events.next_timeout(Duration::from_millis(100))
        {
            assert!(error.contains("redis"), "{error}");
            errors += 1;
        }
    }
    assert!(
        errors >= 3,
        "the engine reports the lost server and keeps trying"
    );
    server.restart().unwrap();
    let changes = log(1_000, 100);
    produce(&server.url(), "s", &changes, 100);
    let deadline = Instant::now() + Duration::from_secs(30);
    while replica.snapshot() != expected(&changes) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert!(engine.wait_idle(Duration::from_secs(30)));
    let report = engine.shutdown();
    assert_eq!(
        replica.snapshot(),
        expected(&changes),
        "recovered to the source's state"
    );
    assert_eq!(report.metrics.dead_lettered, 0);
    assert_eq!(pending(&mut conn(&server), "s", "g"), 0);
}

#[test]
fn a_sink_whose_server_stays_down_fails_the_batch_and_the_engine_dead_letters() {
    let Some(mut server) = server() else { return };
    server.kill();
    let config = RedisConfig::builder(server.url(), "s")
        .retry_for(Duration::from_millis(200))
        .connect_timeout(Duration::from_millis(100));
    let sink = RedisSink::new(&config.clone().build().unwrap());
    let started = Instant::now();
    let err = sink.apply(&log(3, 3)).unwrap_err();
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "retried for retry_for"
    );
    assert!(
        matches!(
            &err,
            SinkError::Redis {
                command: "XADD",
                ..
            }
        ),
        "{err:?}"
    );
    // Through an engine: retried, then dead-lettered with the reason; never dropped.
    let changes = log(4, 4);
    let engine = DataSync::builder()
        .source(mqsync::sync::IterSource::new("seed", changes.clone()))
        .sink(sink)
        .retry(RetryPolicy::new(2, Duration::ZERO, Duration::ZERO))
        .start()
        .unwrap();
    assert!(engine.wait_idle(Duration::from_secs(60)));
    let report = engine.shutdown();
    assert_eq!(report.metrics.dead_lettered, 4);
    assert!(report.metrics.retries > 0);
    let mut dead: Vec<Change> = report
        .dead_letters
        .iter()
        .map(|d| d.change.clone())
        .collect();
    dead.sort_by_key(|c| c.version);
    assert_eq!(dead, changes);
    for letter in &report.dead_letters {
        assert_eq!(letter.sink, "redis:s");
        assert!(letter.reason.contains("redis XADD"), "{}", letter.reason);
    }
}

#[test]
fn a_server_restarted_mid_burst_loses_nothing() {
    // `always`: every acknowledged XADD is in the append-only file before the reply. Under the
    // default `everysec` Redis may postpone that write (while a background fsync is slow) and
    // still reply, and a SIGKILL then loses acknowledged entries (seen once in CI).
    let Some(mut server) = server_with(&["--appendfsync", "always"]) else {
        return;
    };
    let url = server.url();
    let changes = Arc::new(log(30_000, 2_000));
    let config = RedisConfig::builder(url.clone(), "s")
        .group("g")
        .consumer("c")
        .connect_timeout(Duration::from_millis(200));
    // Create the group before the burst, so that the stream and the group are both on disk.
    let mut probe = RedisSource::new(&config.clone().consumer("probe").build().unwrap());
    assert!(probe.pull(1).unwrap().is_empty());
    drop(probe);
    let replica = Arc::new(Replica::new());
    let events = Observer::new(ObserverMode::BoundedLag(1_000_000));
    let engine = DataSync::builder()
        .observe(&events)
        .source(RedisSource::new(&config.clone().build().unwrap()))
        .sink(replica.clone())
        .retry(fast_retry())
        .start()
        .unwrap();
    let produced = Arc::new(AtomicUsize::new(0));
    let producer = {
        let (changes, produced, url) = (changes.clone(), produced.clone(), url.clone());
        thread::spawn(move || {
            let sink = RedisSink::new(
                &RedisConfig::builder(url, "s")
                    .retry_for(Duration::from_secs(30))
                    .build()
                    .unwrap(),
            );
            for chunk in changes.chunks(200) {
                sink.apply(chunk)
                    .expect("the sink retries through the restart");
                produced.fetch_add(chunk.len(), Ordering::SeqCst);
                thread::sleep(Duration::from_millis(2));
            }
        })
    };
    while produced.load(Ordering::SeqCst) < 10_000 {
        thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    thread::sleep(Duration::from_millis(300));
    server.restart().unwrap();
    producer.join().unwrap();
    let want = expected(&changes);
    let deadline = Instant::now() + Duration::from_secs(60);
    while group_backlog(&url, "s", "g").ok() != Some((0, 0)) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert!(engine.wait_idle(Duration::from_secs(30)));
    let report = engine.shutdown();
    assert_eq!(
        replica.snapshot(),
        want,
        "the target equals the source after the restart"
    );
    assert_eq!(report.metrics.dead_lettered, 0);
    assert!(
        report.metrics.applied >= changes.len() as u64,
        "every entry applied at least once ({} applied)",
        report.metrics.applied
    );
    let errors = events
        .drain()
        .into_iter()
        .filter(|e| matches!(e, SyncEvent::SourceError { .. }))
        .count();
    assert!(
        errors > 0,
        "the restart was seen as source errors and retried"
    );
    let mut c = conn(&server);
    assert!(
        xlen(&mut c, "s") >= changes.len() as u64,
        "append-only kept the data"
    );
    assert_eq!(pending(&mut c, "s", "g"), 0);
}

// ---- scale-out over processes ----------------------------------------------------------------

const CHILD_ENV: &str = "MQSYNC_REDIS_CHILD";

/// Appends every change it applies to a JSON-lines file, flushed per batch (so that what a
/// killed process applied is on disk), and applies it to a replica.
struct Recording {
    file: Mutex<BufWriter<std::fs::File>>,
    batches: AtomicUsize,
    abort_after: usize,
}

impl Sink for Recording {
    fn name(&self) -> &str {
        "recording"
    }
    fn apply(&self, batch: &[Change]) -> Result<(), SinkError> {
        let mut file = self.file.lock().unwrap();
        for change in batch {
            serde_json::to_writer(&mut *file, change).map_err(SinkError::batch)?;
            file.write_all(b"\n").map_err(SinkError::batch)?;
        }
        file.flush().map_err(SinkError::batch)?;
        if self.batches.fetch_add(1, Ordering::SeqCst) + 1 == self.abort_after {
            std::process::abort(); // killed mid-stream: nothing acknowledged, nothing shut down
        }
        Ok(())
    }
}

/// Run only as a child of the scale-out tests: one consumer of the group, until the group
/// has consumed the whole stream. `MQSYNC_REDIS_CHILD=url|consumer|out|abort_after|claim_ms`.
#[test]
fn scale_out_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return; // not a child
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let [url, consumer, out, abort_after, claim_ms] = parts[..] else {
        panic!("bad {CHILD_ENV}: {spec}");
    };
    let config = RedisConfig::builder(url, "orders")
        .group("workers")
        .consumer(consumer)
        .claim_idle(Duration::from_millis(claim_ms.parse().unwrap()));
    let source = RedisSource::new(&config.clone().build().unwrap());
    let stats = source.stats();
    let sink = Arc::new(Recording {
        file: Mutex::new(BufWriter::new(std::fs::File::create(out).unwrap())),
        batches: AtomicUsize::new(0),
        abort_after: abort_after.parse().unwrap(),
    });
    let engine = DataSync::builder()
        .source(source)
        .sink(sink)
        .workers(2)
        .retry(fast_retry())
        .start()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(
            Instant::now() < deadline,
            "the group did not finish in time"
        );
        if group_backlog(url, "orders", "workers").ok() == Some((0, 0))
            && engine.wait_idle(Duration::from_secs(5))
        {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let report = engine.shutdown();
    let s = stats.snapshot();
    println!(
        "CHILD {consumer} applied={} read={} reclaimed={} acked={} dead={}",
        report.metrics.applied, s.read, s.reclaimed, s.acked, s.dead_lettered
    );
}

struct ChildRun {
    path: PathBuf,
    child: std::process::Child,
}

fn spawn_child(
    url: &str,
    consumer: &str,
    dir: &Path,
    abort_after: usize,
    claim_ms: u64,
) -> ChildRun {
    let path = dir.join(format!("{consumer}.jsonl"));
    let spec = format!(
        "{url}|{consumer}|{}|{abort_after}|{claim_ms}",
        path.display()
    );
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "scale_out_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, spec)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    ChildRun { path, child }
}

/// The `CHILD ...` line a child printed (after the test harness's own text on that line).
fn child_report(stdout: &[u8]) -> String {
    String::from_utf8_lossy(stdout)
        .lines()
        .find_map(|l| l.find("CHILD ").map(|at| l[at..].to_owned()))
        .expect("the child's report line")
}

fn applied_by(path: &Path) -> Vec<Change> {
    let file = std::fs::File::open(path).unwrap();
    std::io::BufReader::new(file)
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect()
}

/// Merges what the children applied: the union must cover the log, the state must equal the
/// source's; returns (per-child counts, duplicates).
fn verify_union(log: &[Change], runs: &[&Path]) -> (Vec<usize>, usize) {
    let replica = Replica::new();
    let mut seen = HashSet::new();
    let mut counts = Vec::new();
    let mut duplicates = 0;
    for path in runs {
        let applied = applied_by(path);
        counts.push(applied.len());
        for change in applied {
            if !seen.insert(change.id.clone()) {
                duplicates += 1;
            }
            replica.apply(&change);
        }
    }
    let missing = log.iter().filter(|c| !seen.contains(&c.id)).count();
    assert_eq!(missing, 0, "every message applied by one of the consumers");
    assert_eq!(
        replica.snapshot(),
        expected(log),
        "the merged target equals the source"
    );
    (counts, duplicates)
}

#[test]
fn two_processes_share_one_group_with_nothing_lost() {
    let Some(server) = server() else { return };
    let url = server.url();
    let changes = log(200_000, 20_000);
    produce(&url, "orders", &changes, 1_000);
    let dir = tempfile::tempdir().unwrap();
    let runs = [
        spawn_child(&url, "a", dir.path(), 0, 30_000),
        spawn_child(&url, "b", dir.path(), 0, 30_000),
    ];
    let mut paths = Vec::new();
    for run in runs {
        let output = run.child.wait_with_output().unwrap();
        assert!(output.status.success(), "child failed: {:?}", output.status);
        eprintln!("{}", child_report(&output.stdout));
        paths.push(run.path);
    }
    let (counts, duplicates) = verify_union(&changes, &[&paths[0], &paths[1]]);
    eprintln!("scale-out: per consumer {counts:?}, duplicates {duplicates}");
    // Nobody died and `claim_idle` (30 s) is far above the run: no entry is delivered twice.
    assert_eq!(duplicates, 0, "no redelivery without a failure");
    for count in &counts {
        assert!(
            *count * 10 >= changes.len(),
            "each consumer takes a meaningful share: {counts:?}"
        );
    }
    let mut c = conn(&server);
    assert_eq!(pending(&mut c, "orders", "workers"), 0);
}

#[test]
fn a_consumer_killed_mid_stream_is_covered_by_the_other() {
    let Some(server) = server() else { return };
    let url = server.url();
    let changes = log(40_000, 5_000);
    produce(&url, "orders", &changes, 1_000);
    let dir = tempfile::tempdir().unwrap();
    // "a" aborts after its 3rd batch, with entries read and not acknowledged; "b" reclaims
    // them once idle for 1 s.
    let a = spawn_child(&url, "a", dir.path(), 3, 1_000);
    let b = spawn_child(&url, "b", dir.path(), 0, 1_000);
    let a_status = a.child.wait_with_output().unwrap().status;
    assert!(!a_status.success(), "a must die, not finish");
    let b_out = b.child.wait_with_output().unwrap();
    assert!(b_out.status.success(), "b failed: {:?}", b_out.status);
    let b_line = child_report(&b_out.stdout);
    eprintln!("{b_line}");
    let reclaimed: u64 = b_line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("reclaimed="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(reclaimed > 0, "b reclaimed a's pending entries: {b_line}");
    let (counts, duplicates) = verify_union(&changes, &[&a.path, &b.path]);
    eprintln!("kill: per consumer {counts:?}, duplicates {duplicates}");
    assert!(counts[0] > 0, "a applied some before it died");
    let mut c = conn(&server);
    assert_eq!(
        pending(&mut c, "orders", "workers"),
        0,
        "nothing left pending"
    );
}
