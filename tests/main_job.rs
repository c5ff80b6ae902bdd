//! The main job survives `kill -9`: `examples/sync_pipeline.rs` is killed with SIGKILL at
//! random moments, three times, on the same `--out`, then run to completion there; its own
//! verification (the SQLite table and the replica equal the expected final state) must pass.
//! Before that, a run stopped at a fixed point of its delivery (`--crash-in-delivery`) shows
//! that the next run recovers the unacknowledged changes from the durable delivery queue, and
//! journals those the change journal lacks and only those.
//!
//! The example binary is the one `cargo test` (and `cargo nextest`) builds beside the tests.
//! Each run's stderr goes to a file in its temporary directory, and a failed assertion prints
//! it with the run's exit status and stdout.

#![cfg(unix)]

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

mod stress;

/// SIGKILL's number: 9 on every Unix (POSIX fixes it), the signal `Child::kill` sends. Spelled
/// out rather than taken from `libc`, which is not a dev-dependency.
const SIGKILL: i32 = 9;

/// How many times a window is tried again, with half the delay each time, when its run ends
/// before the kill lands.
const RETRIES: u32 = 4;

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
        "{} is missing: `cargo test --features sqlite-bundled,journal` builds it (with \
         `--test main_job` it does not, nor rebuild a stale one: \
         `cargo build --example sync_pipeline --features sqlite-bundled,journal`)",
        path.display()
    );
    path
}

/// The example on `--out out` with `messages` inputs.
fn run_with(out: &Path, messages: usize) -> Command {
    let mut command = Command::new(example());
    command
        .args(["--messages", &messages.to_string(), "--out"])
        .arg(out);
    command
}

/// The example on `--out out` with 20,000 inputs.
fn run(out: &Path) -> Command {
    run_with(out, 20_000)
}

/// A run of the example in the background: stdout read line by line on a thread (so that the
/// child never stalls on a full pipe, whatever the test is waiting for), stderr into a file.
struct Running {
    child: Child,
    /// The child's stdout lines, from the reading thread; disconnected at the end of stdout.
    lines: mpsc::Receiver<String>,
    /// The lines taken from `lines` so far.
    stdout: Vec<String>,
    stderr: PathBuf,
}

impl Running {
    /// Starts `command`, its stderr going to the file `stderr`.
    fn spawn(mut command: Command, stderr: PathBuf) -> Self {
        let file =
            File::create(&stderr).unwrap_or_else(|e| panic!("create {}: {e}", stderr.display()));
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(file)
            .spawn()
            .expect("start the example");
        let out = child.stdout.take().expect("a piped stdout");
        let (send, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Running {
            child,
            lines,
            stdout: Vec::new(),
            stderr,
        }
    }

    /// Reads the child's output until a line starts with `prefix` (trimmed) and returns it;
    /// `None` if the output ended first.
    fn wait_for_line(&mut self, prefix: &str) -> Option<String> {
        for line in self.lines.iter() {
            let found = line.trim_start().starts_with(prefix);
            self.stdout.push(line);
            if found {
                return self.stdout.last().cloned();
            }
        }
        None
    }

    /// [`wait_for_line`](Self::wait_for_line), or a panic showing how the run ended.
    fn expect_line(mut self, prefix: &str) -> (Self, String) {
        match self.wait_for_line(prefix) {
            Some(line) => (self, line),
            None => panic!(
                "the output ended without a line `{prefix}`: {}",
                self.wait()
            ),
        }
    }

    /// Waits for the end of the run and all of its output.
    fn wait(mut self) -> Ended {
        let status = self.child.wait().expect("wait for the example");
        // The reading thread ends with the child's stdout.
        self.stdout.extend(self.lines.iter());
        let stderr = std::fs::read_to_string(&self.stderr)
            .unwrap_or_else(|e| format!("({}: {e})", self.stderr.display()));
        Ended {
            status,
            stdout: self.stdout,
            stderr,
        }
    }

    /// Sends SIGKILL (a run that has exited already is not reaped yet, so this cannot miss
    /// it), then [`wait`](Self::wait)s.
    fn kill(mut self) -> Ended {
        self.child.kill().expect("SIGKILL to the example");
        self.wait()
    }
}

/// How a run ended, and what it wrote.
struct Ended {
    status: ExitStatus,
    stdout: Vec<String>,
    stderr: String,
}

impl Ended {
    /// Whether SIGKILL ended it (rather than its own exit).
    fn killed(&self) -> bool {
        self.status.signal() == Some(SIGKILL)
    }

    /// Panics, showing the run, unless it exited with success and the example's verdict
    /// `verified: OK`.
    fn assert_verified(&self) {
        assert!(
            self.status.success() && self.stdout.iter().any(|l| l == "verified: OK"),
            "the run did not end verified: {self}"
        );
    }

    /// The first line that contains `text`, or a panic showing the run.
    fn line(&self, text: &str) -> &str {
        self.stdout
            .iter()
            .find(|l| l.contains(text))
            .unwrap_or_else(|| panic!("no line with `{text}`: {self}"))
    }
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.stdout.join("\n"),
            self.stderr
        )
    }
}

/// The whole number that follows the first `before` in `line`.
fn number_after(line: &str, before: &str) -> u64 {
    let rest = line
        .find(before)
        .map(|at| line[at + before.len()..].trim_start())
        .unwrap_or_else(|| panic!("no `{before}` in: {line}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after `{before}` in: {line}"))
}

#[test]
fn the_main_job_resumes_after_kill_9_and_verifies() {
    // One undisturbed run first: it must verify, nothing is recovered, and it says how long
    // its delivery stage and the rest of a run take here.
    let dir = tempfile::tempdir().unwrap();
    let running = Running::spawn(
        run(&dir.path().join("sync.db")),
        dir.path().join("undisturbed.stderr"),
    );
    let (running, _) = running.expect_line("== 2. delivery");
    let delivery_began = Instant::now();
    let (running, _) = running.expect_line("== 3. sync");
    let delivery = delivery_began.elapsed();
    let undisturbed = running.wait();
    let after_delivery = delivery_began.elapsed();
    undisturbed.assert_verified();
    let recovered = undisturbed.line("recovered   ");
    assert_eq!(
        number_after(recovered, "recovered "),
        0,
        "a first run recovered something: {undisturbed}"
    );

    // Stopped at a fixed point of the delivery (a smaller job, 5,000 inputs: it is about the
    // queue): the change journal holds the run's first changes, the last batch of them not
    // acknowledged, and the durable queue everything else, all of it published.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sync.db");
    let mut crash = run_with(&out, 5_000);
    crash.args(["--crash-in-delivery", "1500"]);
    let crashed = Running::spawn(crash, dir.path().join("crashed.stderr")).wait();
    assert_eq!(crashed.status.code(), Some(3), "{crashed}");
    // `total` changes to deliver; the crashed run journaled `journaled_then` of them, the last
    // `unacked` not acknowledged.
    let total = number_after(crashed.line("== 2. delivery: "), "delivery: ");
    let crash_line = crashed.line("crash: exiting");
    let journaled_then = number_after(crash_line, "with ");
    let unacked = number_after(crash_line, "the last ");
    assert!(
        journaled_then >= 1500 && (1..=journaled_then).contains(&unacked),
        "{crashed}"
    );
    assert!(
        journaled_then < total,
        "the crash came after every change was journaled: nothing published is left unjournaled: {crashed}"
    );
    assert!(
        dir.path().join("sync.queue").is_dir(),
        "no delivery queue journal beside the database"
    );

    // The next run finds exactly what the crashed run journaled, recovers from the queue every
    // change not acknowledged (the last batch, and all that was published after the journaled
    // ones), journals those the change journal lacks and only those. (The example itself checks
    // that the change journal ends with every change exactly once.)
    let resumed = Running::spawn(run_with(&out, 5_000), dir.path().join("resumed.stderr")).wait();
    resumed.assert_verified();
    assert_eq!(
        number_after(resumed.line("== 2. delivery: "), "delivery: "),
        total,
        "the inputs differ between runs: {resumed}"
    );
    let in_journal = number_after(
        resumed.line("changes already in the journal from an earlier run"),
        "resuming: ",
    );
    assert_eq!(
        in_journal, journaled_then,
        "the change journal does not hold what the crashed run journaled: {resumed}"
    );
    let line = resumed.line("resuming: the delivery queue recovered");
    let recovered = number_after(line, "recovered ");
    let journaled_now = number_after(line, "changes: ");
    let already = number_after(line, "journaled now, ");
    assert_eq!(
        recovered,
        total - journaled_then + unacked,
        "the queue did not recover exactly the unacknowledged changes: {line}\n{crashed}"
    );
    assert_eq!(
        journaled_now,
        total - journaled_then,
        "not exactly the changes the change journal lacked were journaled: {line}"
    );
    assert_eq!(
        already, unacked,
        "not exactly the journaled, unacknowledged changes were found in the journal: {line}"
    );

    // Then killed three times at random moments on one --out, and run to the end there. The
    // kills come after the run's delivery stage began (every run integrates its inputs first,
    // and a kill there only repeats that work): the first two within the length of an
    // undisturbed delivery stage, the last within the rest of an undisturbed run. Where each
    // lands (publishing, journaling, draining what an earlier run's queue recovered, syncing)
    // is not checked: a resumed run is shorter than an undisturbed one, and the machine's load
    // varies. A run that ends before its kill lands must have ended verified; its window is
    // then tried again with half the delay, a bounded number of times.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sync.db");
    let mut rng = stress::Rng::with_seed(0x6b11_9e7d);
    // (The first fifth of the delivery stage opens the journals and the queue.)
    let in_delivery = delivery / 5..delivery;
    let mut killed = 0;
    for (n, window) in [
        in_delivery.clone(),
        in_delivery,
        Duration::ZERO..after_delivery,
    ]
    .into_iter()
    .enumerate()
    {
        let mut delay = window.start + (window.end - window.start).mul_f64(rng.f64());
        for attempt in 0..=RETRIES {
            let stderr = dir.path().join(format!("kill-{n}-{attempt}.stderr"));
            let mut running = Running::spawn(run(&out), stderr);
            if running.wait_for_line("== 2. delivery").is_some() {
                thread::sleep(delay);
            }
            let ended = running.kill();
            let last = ended.stdout.last().map_or("", |l| l.trim());
            if ended.killed() {
                killed += 1;
                // Where it was (for the log; nothing is asserted on it).
                eprintln!("run {n}: killed {delay:?} into its delivery stage, after: {last}");
                break;
            }
            // It ended on its own before the kill.
            ended.assert_verified();
            eprintln!("run {n}: ended verified before its kill at {delay:?}");
            delay /= 2;
        }
    }
    eprintln!("{killed} of 3 runs killed");
    let last = Running::spawn(run(&out), dir.path().join("last.stderr")).wait();
    last.assert_verified();
    last.line("resuming");
}
