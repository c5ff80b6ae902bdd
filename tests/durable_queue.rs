//! The durable `DeliveryQueue`: what a restart brings back (unsettled messages with their
//! priority, TTL deadline, delivery count and delay; never an acknowledged or dead-lettered
//! one), retention and the rewrite at reopen, a full disk, records the queue did not write, and
//! a child process killed with SIGKILL at random moments.

use mqsync::delivery::{
    DeadReason, Delivery, DeliveryQueue, DurableError, Persist, PublishError, TryReceiveError,
};
use mqsync::journal::{FlushPolicy, Journal, JournalOptions};
use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

mod crash;
use crash::crash_copy;

fn open_with(dir: &Path, options: JournalOptions) -> DeliveryQueue<String> {
    let journal = Journal::open(dir, options).unwrap();
    DeliveryQueue::builder()
        .priorities(4)
        .open_durable(journal)
        .unwrap()
}

fn open(dir: &Path) -> DeliveryQueue<String> {
    open_with(dir, JournalOptions::default())
}

/// Everything ready, received and held (so that nothing comes twice).
fn drain(queue: &DeliveryQueue<String>) -> Vec<Delivery<String>> {
    let consumer = queue.consumer();
    std::iter::from_fn(|| consumer.try_receive().ok()).collect()
}

fn segments(dir: &Path) -> usize {
    fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "seg")
        })
        .count()
}

#[test]
fn a_restart_brings_back_exactly_the_unsettled_messages_in_publish_order() {
    for policy in [
        FlushPolicy::Never,
        FlushPolicy::Interval(Duration::from_millis(5)),
        FlushPolicy::EveryBatch,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let options = JournalOptions::default().flush(policy);
        let queue = open_with(dir.path(), options.clone());
        for i in 0..100 {
            queue
                .publish_with(format!("m{i}"), (i % 4) as u8, None)
                .unwrap();
        }
        let held = drain(&queue);
        assert_eq!(held.len(), 100);
        let mut expected = Vec::new();
        let (mut acks, mut rest) = (Vec::new(), Vec::new());
        for d in held {
            let n: u32 = d.message()[1..].parse().unwrap();
            match n % 5 {
                0 | 1 => acks.push(d),
                2 => d.reject(),
                3 => {
                    expected.push((d.message().clone(), d.priority()));
                    d.nack(true)
                }
                _ => {
                    expected.push((d.message().clone(), d.priority()));
                    rest.push(d) // unsettled at the "crash"
                }
            }
        }
        Delivery::ack_all(acks.drain(..20));
        acks.into_iter().for_each(Delivery::ack);
        // The process dies with deliveries outstanding.
        let crashed = crash_copy(dir.path());
        drop((rest, queue));

        let queue = open_with(crashed.path(), options);
        assert_eq!(queue.stats().recovered, 40, "{policy:?}");
        assert_eq!(queue.stats().published, 40);
        let back: Vec<(String, u8)> = drain(&queue)
            .into_iter()
            .map(|d| (d.message().clone(), d.priority()))
            .collect();
        // Strict priority, publish order within a level.
        expected.sort_by_key(|(m, p)| (std::cmp::Reverse(*p), m[1..].parse::<u32>().unwrap()));
        assert_eq!(back, expected, "{policy:?}");
    }
}

#[test]
fn delivery_counts_deadlines_and_delays_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let crashed = {
        let queue = open(dir.path());
        queue.publish("counted".to_string()).unwrap();
        queue
            .publish_with("short".to_string(), 0, Some(Duration::from_millis(30)))
            .unwrap();
        queue
            .publish_with("long".to_string(), 0, Some(Duration::from_secs(3600)))
            .unwrap();
        queue.publish("later".to_string()).unwrap();
        let c = queue.consumer();
        for _ in 0..3 {
            let d = c.try_receive().unwrap();
            assert_eq!(d.message(), "counted");
            d.nack(true);
        }
        let held = drain(&queue);
        let names: Vec<&str> = held.iter().map(|d| d.message().as_str()).collect();
        assert_eq!(names, ["counted", "short", "long", "later"]);
        let mut in_flight = Vec::new();
        for d in held {
            if d.message() == "later" {
                d.nack_after(Duration::from_millis(300));
            } else {
                in_flight.push(d); // in flight at the crash
            }
        }
        crash_copy(dir.path())
    };
    std::thread::sleep(Duration::from_millis(40)); // "short" expires while the process is down
    let started = Instant::now();
    let queue = open(crashed.path());
    assert_eq!(queue.stats().delayed, 1, "the delay is kept");
    let c = queue.consumer();
    let counted = c.try_receive().unwrap();
    // Three nacks were written; the fourth delivery was in flight at the crash (not written).
    assert_eq!(
        (counted.message().as_str(), counted.delivery_count()),
        ("counted", 4)
    );
    let long = c.try_receive().unwrap();
    assert_eq!(long.message(), "long");
    assert_eq!(
        c.try_receive().unwrap_err(),
        TryReceiveError::Empty,
        "short expired; later still delayed"
    );
    let dead = queue.dead_letters().pop().unwrap();
    assert_eq!(
        (dead.message.as_str(), dead.reason),
        ("short", DeadReason::Expired)
    );
    let later = c.receive_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(
        (later.message().as_str(), later.delivery_count()),
        ("later", 2)
    );
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "the delay ran on after the restart"
    );
}

#[test]
fn dead_letters_full_refusals_and_acks_never_come_back() {
    let dir = tempfile::tempdir().unwrap();
    {
        let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        let queue = DeliveryQueue::builder()
            .bounded(2)
            .delivery_limit(1)
            .open_durable(journal)
            .unwrap();
        queue.publish("a".to_string()).unwrap();
        queue.publish("b".to_string()).unwrap();
        let err = queue.publish("c".to_string()).unwrap_err();
        assert!(err.is_full());
        assert_eq!(err.into_inner(), "c");
        let c = queue.consumer();
        c.try_receive().unwrap().nack(true); // the limit: dead-lettered
        c.try_receive().unwrap().ack();
        assert_eq!(queue.dead_letters().len(), 1);
    }
    let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    let queue = DeliveryQueue::<String>::builder()
        .open_durable(journal)
        .unwrap();
    assert_eq!(queue.stats().recovered, 0);
    assert!(drain(&queue).is_empty());
}

#[test]
fn acknowledged_segments_are_deleted_and_a_reopen_rewrites_the_live_messages() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions::default().segment_bytes(4096);
    let crashed = {
        let queue = open_with(dir.path(), options.clone());
        queue.publish("pinned".to_string()).unwrap();
        let pinned = queue.consumer().try_receive().unwrap();
        let c = queue.consumer();
        for i in 0..3000 {
            queue.publish(format!("{i:0100}")).unwrap();
            c.try_receive().unwrap().ack();
        }
        // One unsettled message keeps its segment and every later one.
        assert!(segments(dir.path()) > 50, "{}", segments(dir.path()));
        let crashed = crash_copy(dir.path());
        drop(pinned);
        crashed
    };
    let dir = crashed;
    {
        let queue = open_with(dir.path(), options.clone());
        assert_eq!(queue.stats().recovered, 1);
        assert!(segments(dir.path()) <= 2, "{}", segments(dir.path()));
        let c = queue.consumer();
        c.try_receive().unwrap().ack();
        for i in 0..3000 {
            queue.publish(format!("{i:0100}")).unwrap();
            c.try_receive().unwrap().ack();
        }
        // Nothing pinned: segments go as they are settled.
        assert!(segments(dir.path()) <= 2, "{}", segments(dir.path()));
    }
    let queue = open_with(dir.path(), options);
    assert_eq!(queue.stats().recovered, 0);
}

/// A message type whose `encode` panics for the text "boom".
#[derive(Debug, PartialEq)]
struct Fragile(String);

impl Persist for Fragile {
    fn encode(&self, out: &mut Vec<u8>) {
        assert_ne!(self.0, "boom", "encode panics on purpose");
        out.extend_from_slice(self.0.as_bytes());
    }
    fn decode(bytes: &[u8]) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Fragile(std::str::from_utf8(bytes)?.into()))
    }
}

#[test]
fn a_panicking_encode_neither_stops_retention_nor_holds_up_a_close() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path(), JournalOptions::default().segment_bytes(4096)).unwrap();
    let queue = DeliveryQueue::<Fragile>::builder()
        .open_durable(journal)
        .unwrap();
    let c = queue.consumer();
    queue.publish(Fragile("before".into())).unwrap();
    c.try_receive().unwrap().ack();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        queue.publish(Fragile("boom".into()))
    }));
    assert!(panicked.is_err());
    for i in 0..3000 {
        queue.publish(Fragile(format!("{i:0100}"))).unwrap();
        c.try_receive().unwrap().ack();
    }
    // The id the panicking publish took counts as settled: segments go as they are settled.
    assert!(segments(dir.path()) <= 2, "{}", segments(dir.path()));
    // Its claim ended too: the closed queue is drained.
    queue.close();
    assert_eq!(c.try_receive().unwrap_err(), TryReceiveError::Closed);
    assert_eq!(queue.journal_failure(), None);
    assert_eq!(queue.stats().published, 3001);
    drop((c, queue));
    let journal = Journal::open(dir.path(), JournalOptions::default().segment_bytes(4096)).unwrap();
    assert!(journal.first() > 0, "segments were deleted");
}

#[test]
fn many_publishers_and_consumers_then_a_restart_lose_and_repeat_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions::default()
        .segment_bytes(64 << 10)
        .flush(FlushPolicy::Interval(Duration::from_millis(2)));
    let queue = open_with(dir.path(), options.clone());
    let acked = std::sync::Mutex::new(HashSet::new());
    let in_flight = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for p in 0..3 {
            let queue = queue.clone();
            s.spawn(move || {
                for i in 0..2000 {
                    queue
                        .publish_with(format!("p{p}-{i}"), (i % 3) as u8, None)
                        .unwrap();
                }
            });
        }
        for _ in 0..2 {
            let (queue, acked, in_flight) = (queue.clone(), &acked, &in_flight);
            s.spawn(move || {
                let c = queue.consumer();
                let mut idle = 0;
                while idle < 200 {
                    match c.try_receive() {
                        Ok(d) => {
                            idle = 0;
                            let keep = fastrand::u8(..) < 40;
                            if keep {
                                in_flight.lock().unwrap().push(d); // unsettled at the "crash"
                            } else if fastrand::bool() {
                                d.nack(true);
                            } else {
                                let name = d.message().clone();
                                d.ack();
                                assert!(acked.lock().unwrap().insert(name));
                            }
                        }
                        Err(_) => {
                            idle += 1;
                            std::thread::sleep(Duration::from_micros(200));
                        }
                    }
                }
            });
        }
    });
    let crashed = crash_copy(dir.path());
    drop((in_flight, queue));
    let acked = acked.into_inner().unwrap();
    let queue = open_with(crashed.path(), options);
    let back: Vec<String> = drain(&queue).iter().map(|d| d.message().clone()).collect();
    let unique: HashSet<&String> = back.iter().collect();
    assert_eq!(unique.len(), back.len(), "a message came back twice");
    assert_eq!(back.len() + acked.len(), 6000, "lost or repeated");
    assert!(back.iter().all(|m| !acked.contains(m)));
}

/// The bytes the PUBLISH records of `names` take in the journal, frames included.
fn published_bytes(names: &HashSet<String>) -> usize {
    names.iter().map(|n| 8 + 30 + n.len()).sum()
}

/// Retention under concurrency: small segments, three publishers, two consumers acking in
/// random order while holding up to `HOLD` deliveries each (the late ones of those stay held);
/// segments go during the run, and a crash copy brings back exactly the messages published and
/// not acknowledged.
#[test]
fn retention_with_small_segments_deletes_only_settled_messages_under_concurrency() {
    const PER_PUBLISHER: usize = 1500;
    const HOLD: usize = 20;
    const LATE: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions::default()
        .segment_bytes(4096)
        .flush(FlushPolicy::Interval(Duration::from_millis(2)));
    let queue = open_with(dir.path(), options.clone());
    let first_segments: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    assert_eq!(first_segments.len(), 1);
    let published = std::sync::Mutex::new(HashSet::new());
    let acked = std::sync::Mutex::new(HashSet::new());
    let held = std::sync::Mutex::new(Vec::new());
    let publishing = std::sync::atomic::AtomicUsize::new(3);
    std::thread::scope(|s| {
        for p in 0..3 {
            let (queue, published, publishing) = (queue.clone(), &published, &publishing);
            s.spawn(move || {
                for i in 0..PER_PUBLISHER {
                    let name = format!("p{p}-{i:080}");
                    queue
                        .publish_with(name.clone(), (i % 3) as u8, None)
                        .unwrap();
                    assert!(published.lock().unwrap().insert(name));
                }
                publishing.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        for _ in 0..2 {
            let (queue, acked, held) = (queue.clone(), &acked, &held);
            let publishing = &publishing;
            s.spawn(move || {
                let c = queue.consumer();
                let mut mine: Vec<Delivery<String>> = Vec::new();
                let mut idle = 0;
                while idle < 100 {
                    match c.try_receive() {
                        Ok(d) => {
                            idle = 0;
                            mine.push(d);
                            if mine.len() > HOLD {
                                // Acknowledge one of the held ones, in random order.
                                let d = mine.swap_remove(fastrand::usize(..mine.len()));
                                let name = d.message().clone();
                                d.ack();
                                assert!(acked.lock().unwrap().insert(name));
                            }
                        }
                        Err(_) => {
                            if publishing.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                                idle += 1;
                            }
                            std::thread::sleep(Duration::from_micros(200));
                        }
                    }
                }
                // Only late messages stay unsettled at the "crash" (a consumer the scheduler
                // starved may hold early ones: those are acknowledged now), so that the first
                // segments can go whatever the interleaving.
                for d in mine {
                    let (_, i) = d.message().split_once('-').unwrap();
                    if i.parse::<usize>().unwrap() >= PER_PUBLISHER - LATE {
                        held.lock().unwrap().push(d);
                    } else {
                        let name = d.message().clone();
                        d.ack();
                        assert!(acked.lock().unwrap().insert(name));
                    }
                }
            });
        }
    });
    // Segments were deleted during the run: the first is gone, and fewer remain than the run
    // filled (retention keeps up to a bucket, 1,024 messages, more than the oldest held
    // message needs).
    assert!(first_segments.iter().all(|p| !p.exists()), "segment 0 kept");
    // Each PUBLISH: an 8-byte frame, 30 bytes of fields and its name; each SETTLE 21 bytes.
    let written: usize =
        published_bytes(&published.lock().unwrap()) + 21 * acked.lock().unwrap().len();
    let (left, filled) = (segments(dir.path()), written / 4096);
    assert!(left < filled, "{left} of {filled} segments left");
    let crashed = crash_copy(dir.path());
    let held = held.into_inner().unwrap();
    assert!(held.len() <= 2 * HOLD);
    drop((held, queue));
    let (published, acked) = (published.into_inner().unwrap(), acked.into_inner().unwrap());
    assert_eq!(published.len(), 3 * PER_PUBLISHER);
    let queue = open_with(crashed.path(), options);
    let back: Vec<String> = drain(&queue).iter().map(|d| d.message().clone()).collect();
    let back_set: HashSet<&String> = back.iter().collect();
    assert_eq!(back_set.len(), back.len(), "a message came back twice");
    assert!(
        back.iter().all(|m| !acked.contains(m)),
        "an acked message came back"
    );
    let expected: HashSet<&String> = published.difference(&acked).collect();
    assert_eq!(back_set, expected, "lost or extra messages");
}

#[test]
fn a_message_over_the_record_limit_is_handed_back() {
    let dir = tempfile::tempdir().unwrap();
    let journal =
        Journal::open(dir.path(), JournalOptions::default().max_record_bytes(100)).unwrap();
    let queue = DeliveryQueue::<String>::builder()
        .open_durable(journal)
        .unwrap();
    let big = "x".repeat(100);
    match queue.publish(big.clone()) {
        Err(PublishError::TooLarge(back)) => assert_eq!(back, big),
        other => panic!("{other:?}"),
    }
    assert_eq!(queue.stats().published, 0);
    queue.publish("small".to_string()).unwrap();
    queue.close();
    let c = queue.consumer();
    c.try_receive().unwrap().ack();
    assert_eq!(c.try_receive().unwrap_err(), TryReceiveError::Closed);
    assert_eq!(queue.journal_failure(), None);
}

/// A full disk: the journal's next segment is a link to `/dev/full`. The publish that hits it is
/// refused with the message handed back, every later one too, and a reopen (link removed) has
/// every message whose publish returned `Ok`.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_refuses_publishes_and_loses_nothing_published() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions::default().segment_bytes(4096);
    let queue = open_with(dir.path(), options.clone());
    for base in 0..400u64 {
        if base > 10 {
            std::os::unix::fs::symlink("/dev/full", dir.path().join(format!("{base:020}.seg")))
                .unwrap();
        }
    }
    let mut published = Vec::new();
    let refused = loop {
        let m = format!("{:0100}", published.len());
        match queue.publish(m.clone()) {
            Ok(_) => published.push(m),
            Err(err) => break err,
        }
    };
    assert!(matches!(&refused, PublishError::Storage(m) if m.len() == 100));
    assert!(matches!(
        queue.publish("after".to_string()),
        Err(PublishError::Storage(_))
    ));
    let failure = queue.journal_failure().expect("the failure is kept");
    assert!(failure.contains("No space left"), "{failure}");
    drop(queue);
    for entry in fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink()
        {
            fs::remove_file(path).unwrap();
        }
    }
    let queue = open_with(dir.path(), options);
    let back: Vec<String> = drain(&queue).iter().map(|d| d.message().clone()).collect();
    assert_eq!(back, published);
}

#[test]
fn records_the_queue_did_not_write_are_refused_with_their_position() {
    let dir = tempfile::tempdir().unwrap();
    {
        let queue = open(dir.path());
        queue.publish("fine".to_string()).unwrap();
    }
    {
        let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        // A PUBLISH whose payload is not UTF-8: `String::decode` refuses it.
        let mut record = vec![1u8];
        record.extend_from_slice(&7u64.to_le_bytes());
        record.extend_from_slice(&[0; 1 + 4 + 8 + 8]);
        record.extend_from_slice(&[0xff, 0xfe]);
        journal.append(&record).unwrap();
    }
    let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    let err = DeliveryQueue::<String>::builder()
        .open_durable(journal)
        .unwrap_err();
    assert!(
        matches!(
            err,
            DurableError::Decode {
                id: 7,
                position: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(std::error::Error::source(&err).is_some());
    // The bytes are still there for a reader that can decode them.
    let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    let queue = DeliveryQueue::<Vec<u8>>::builder()
        .open_durable(journal)
        .unwrap();
    assert_eq!(queue.stats().recovered, 2);
}

#[test]
fn a_custom_message_type_round_trips() {
    #[derive(Debug, PartialEq)]
    struct Job(u32, String);
    impl Persist for Job {
        fn encode(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.0.to_le_bytes());
            out.extend_from_slice(self.1.as_bytes());
        }
        fn decode(bytes: &[u8]) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
            let (n, s) = bytes.split_at_checked(4).ok_or("short")?;
            Ok(Job(
                u32::from_le_bytes(n.try_into()?),
                std::str::from_utf8(s)?.into(),
            ))
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        DeliveryQueue::<Job>::builder()
            .open_durable(journal)
            .unwrap()
    };
    open().publish(Job(9, "nine".into())).unwrap();
    let queue = open();
    assert_eq!(
        *queue.consumer().try_receive().unwrap().message(),
        Job(9, "nine".into())
    );
}

/// The child side of the crash test: publishes and consumes until killed, printing each
/// publish and each acknowledgement after it returned. Runs only when the parent starts it.
#[test]
#[ignore = "the crash test's child process; the parent test runs it"]
fn crash_child() {
    use std::io::Write;
    let Ok(dir) = std::env::var("MQSYNC_DURABLE_CRASH_DIR") else {
        return;
    };
    let round = std::env::var("MQSYNC_DURABLE_CRASH_ROUND").unwrap();
    let round = round.as_str();
    let policy = match std::env::var("MQSYNC_DURABLE_CRASH_POLICY").as_deref() {
        Ok("never") => FlushPolicy::Never,
        Ok("interval") => FlushPolicy::Interval(Duration::from_millis(3)),
        _ => FlushPolicy::EveryBatch,
    };
    let options = JournalOptions::default()
        .segment_bytes(16 << 10)
        .flush(policy);
    let queue = open_with(Path::new(&dir), options);
    let out = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let say = move |line: String| {
        let mut out = out.lock().unwrap();
        writeln!(out, "{line}").unwrap();
        out.flush().unwrap();
    };
    std::thread::scope(|s| {
        for p in 0..2 {
            let (queue, say) = (queue.clone(), say.clone());
            s.spawn(move || {
                for i in 0.. {
                    let m = format!("r{round}-p{p}-{i}");
                    queue.publish_with(m.clone(), (i % 3) as u8, None).unwrap();
                    say(format!("pub {m}"));
                }
            });
        }
        for _ in 0..2 {
            let (queue, say) = (queue.clone(), say.clone());
            s.spawn(move || {
                let c = queue.consumer();
                let mut held = Vec::new();
                loop {
                    let Ok(d) = c.receive_timeout(Duration::from_millis(5)) else {
                        continue;
                    };
                    match fastrand::u8(..10) {
                        0 => d.nack(true),
                        1 => held.push(d), // held until the kill
                        2..=4 => {
                            held.push(d);
                            let batch = std::mem::take(&mut held);
                            let names: Vec<String> =
                                batch.iter().map(|d| d.message().clone()).collect();
                            names.iter().for_each(|m| say(format!("acking {m}")));
                            Delivery::ack_all(batch);
                            names.into_iter().for_each(|m| say(format!("ack {m}")));
                        }
                        _ => {
                            let m = d.message().clone();
                            say(format!("acking {m}"));
                            d.ack();
                            say(format!("ack {m}"));
                        }
                    }
                }
            });
        }
    });
}

/// Kills a child that publishes and consumes from four threads with SIGKILL at random moments,
/// four rounds per flush policy, and checks after each kill that every message whose publish
/// returned and that was not acknowledged comes back once, and no acknowledged one comes back.
#[cfg(unix)]
#[test]
fn a_killed_process_loses_no_published_message_and_repeats_no_acknowledged_one() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    for policy in ["every-batch", "interval", "never"] {
        let dir = tempfile::tempdir().unwrap();
        let mut published: HashSet<String> = HashSet::new();
        let mut acked: HashSet<String> = HashSet::new();
        // Printed before the ack: a kill between the ack and its "ack" line leaves these
        // undecided until the parent looks.
        let mut acking: HashSet<String> = HashSet::new();
        let mut rng = fastrand::Rng::with_seed(0xd1ab);
        for round in 0..4 {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "crash_child",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("MQSYNC_DURABLE_CRASH_DIR", dir.path())
                .env("MQSYNC_DURABLE_CRASH_POLICY", policy)
                .env("MQSYNC_DURABLE_CRASH_ROUND", round.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            let reader = std::thread::spawn(move || {
                let mut lines = Vec::new();
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    lines.push(line);
                }
                lines
            });
            std::thread::sleep(Duration::from_millis(rng.u64(50..250)));
            child.kill().unwrap();
            child.wait().unwrap();
            for line in reader.join().unwrap() {
                if let Some(m) = line.strip_prefix("pub ") {
                    assert!(published.insert(m.to_string()), "{m} published twice");
                } else if let Some(m) = line.strip_prefix("acking ") {
                    acking.insert(m.to_string());
                } else if let Some(m) = line.strip_prefix("ack ") {
                    assert!(
                        acked.insert(m.to_string()),
                        "{policy}: {m} acknowledged twice"
                    );
                }
            }
            // The parent looks, holding every message, then lets them go back (requeued):
            // the next round's child finds them all again.
            let queue = open(dir.path());
            let mut back: HashMap<String, u32> = HashMap::new();
            let held = drain(&queue);
            for d in &held {
                *back.entry(d.message().clone()).or_default() += 1;
            }
            drop((held, queue));
            for (m, n) in &back {
                assert_eq!(*n, 1, "{policy}, round {round}: {m} came back {n} times");
                assert!(
                    !acked.contains(m),
                    "{policy}, round {round}: acknowledged {m} came back"
                );
            }
            for m in published.difference(&acked) {
                assert!(
                    back.contains_key(m) || acking.contains(m),
                    "{policy}, round {round}: published {m} was lost"
                );
            }
            // The undecided: acknowledged if they did not come back.
            for m in acking.drain() {
                if !back.contains_key(&m) {
                    acked.insert(m);
                }
            }
        }
        assert!(
            acked.len() > 100,
            "{policy}: only {} acknowledged",
            acked.len()
        );
    }
}
