//! The main job survives `kill -9`: `examples/sync_pipeline.rs` is killed with SIGKILL at
//! random moments, three times, on the same `--out`, then run to completion there; its own
//! verification (the SQLite table and the replica equal the expected final state) must pass.
//! Before that, a run stopped at a fixed point of its delivery (`--crash-in-delivery`) shows
//! that the next run recovers the unacknowledged changes from the durable delivery queue, and
//! journals those the change journal lacks and only those.
//!
//! The example binary is the one `cargo test` (and `cargo nextest`) builds beside the tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod stress;

/// `target/<profile>/examples/sync_pipeline`, built with the tests.
fn example() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let path = profile_dir
        .join("examples")
        .join(format!("sync_pipeline{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: `cargo test --features sqlite-bundled,journal` builds it",
        path.display()
    );
    path
}

/// The example on `--out out` with `messages` inputs.
fn run_with(out: &Path, messages: usize) -> Command {
    let mut command = Command::new(example());
    command
        .args(["--messages", &messages.to_string(), "--out"])
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// The example on `--out out` with 20,000 inputs.
fn run(out: &Path) -> Command {
    run_with(out, 20_000)
}

/// The run's output, which must end in success and `verified: OK`.
fn verified(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("verified: OK"), "{stdout}");
    stdout
}

/// Reads the child's output until a line starts with `prefix` (trimmed) and returns it; `None`
/// if the output ended first.
fn wait_for_line(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    prefix: &str,
) -> Option<String> {
    lines
        .map_while(Result::ok)
        .find(|l| l.trim_start().starts_with(prefix))
}

/// The numbers of a line saying what was recovered from the queue: recovered, journaled now,
/// already in the journal.
fn recovered_numbers(line: &str) -> (u64, u64, u64) {
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    match numbers[..] {
        [recovered, journaled, already] => (recovered, journaled, already),
        _ => panic!("unexpected recovery line: {line}"),
    }
}

#[cfg(unix)]
#[test]
fn the_main_job_resumes_after_kill_9_and_verifies() {
    // One undisturbed run first: it must verify, nothing is recovered, and it says how long
    // its delivery stage and the rest of a run take here.
    let dir = tempfile::tempdir().unwrap();
    let mut child = run(&dir.path().join("sync.db")).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(wait_for_line(&mut lines, "== 2. delivery").is_some());
    let delivery_began = Instant::now();
    assert!(wait_for_line(&mut lines, "== 3. sync").is_some());
    let delivery = delivery_began.elapsed();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let after_delivery = delivery_began.elapsed();
    let whole = child.wait_with_output().unwrap();
    let report = rest.join("\n");
    assert!(
        whole.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&whole.stderr)
    );
    assert!(report.contains("verified: OK"), "{report}");
    let recovered = rest
        .iter()
        .find(|l| l.trim_start().starts_with("recovered "))
        .unwrap_or_else(|| panic!("no `recovered` line in the report: {report}"));
    assert_eq!(recovered_numbers(recovered), (0, 0, 0), "{report}");

    // Stopped at a fixed point of the delivery (a smaller job, 5,000 inputs: it is about the
    // queue): the change journal holds the run's first changes, the last batch of them not
    // acknowledged, and the durable queue everything else, all of it published.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sync.db");
    let crashed = run_with(&out, 5_000)
        .args(["--crash-in-delivery", "1500"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&crashed.stdout);
    assert_eq!(crashed.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("crash: exiting"), "{stdout}");
    assert!(
        dir.path().join("sync.queue").is_dir(),
        "no delivery queue journal beside the database"
    );
    // The next run recovers both kinds from the queue and journals only the changes the
    // change journal lacks (the example checks that it ends with every change exactly once).
    let stdout = verified(&run_with(&out, 5_000).output().unwrap());
    let line = stdout
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with("resuming: the delivery queue recovered")
        })
        .unwrap_or_else(|| panic!("nothing recovered from the queue: {stdout}"));
    let (recovered, journaled, already) = recovered_numbers(line);
    assert_eq!(recovered, journaled + already, "{line}");
    assert!(
        journaled > 0,
        "nothing published and unjournaled came back: {line}"
    );
    assert!(
        already > 0,
        "nothing journaled and unacknowledged came back: {line}"
    );

    // Then killed three times at random moments on one --out, and run to the end there. The
    // kills come after the run's delivery began (every run integrates its inputs first, and a
    // kill there only repeats that work): the first two within the length of an undisturbed
    // delivery stage, while the durable queue holds published changes not yet journaled (or
    // while a resumed run drains what it recovered), the last anywhere in the rest of a run
    // (the sync, resumed from the SQLite checkpoint).
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sync.db");
    let mut rng = stress::Rng::with_seed(0x6b11_9e7d);
    let mut killed_while_running = 0;
    // (The first fifth of the delivery stage opens the journals and the queue.)
    let in_delivery = delivery / 5..delivery;
    for window in [
        in_delivery.clone(),
        in_delivery,
        Duration::ZERO..after_delivery,
    ] {
        let mut child = run(&out).stderr(Stdio::null()).spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        if wait_for_line(&mut lines, "== 2. delivery").is_some() {
            std::thread::sleep(window.start + (window.end - window.start).mul_f64(rng.f64()));
        }
        if child.try_wait().unwrap().is_none() {
            killed_while_running += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Where it was (for the log; the moment is random, so nothing is asserted on it).
        let last = lines.map_while(Result::ok).last().unwrap_or_default();
        eprintln!("killed after: {}", last.trim());
    }
    assert!(
        killed_while_running >= 1,
        "no run was still going when killed"
    );
    let stdout = verified(&run(&out).output().unwrap());
    assert!(
        stdout.contains("resuming"),
        "the last run did not resume: {stdout}"
    );
}
