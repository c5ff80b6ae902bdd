//! The main job survives `kill -9`: `examples/sync_pipeline.rs` is killed with SIGKILL at
//! random moments, three times, on the same `--out`, then run to completion there; its own
//! verification (the SQLite table and the replica equal the expected final state) must pass.
//!
//! The example binary is the one `cargo test` (and `cargo nextest`) builds beside the tests.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

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

fn run(out: &std::path::Path) -> Command {
    let mut command = Command::new(example());
    command
        .args(["--messages", "20000", "--out"])
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[cfg(unix)]
#[test]
fn the_main_job_resumes_after_kill_9_and_verifies() {
    // One undisturbed run first: it must verify, and it says how long a run takes here.
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let whole = run(&dir.path().join("sync.db")).output().unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&whole.stdout);
    assert!(
        whole.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&whole.stderr)
    );
    assert!(stdout.contains("verified: OK"), "{stdout}");

    // Then killed three times at random moments on one --out, and run to the end there.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sync.db");
    let mut rng = stress::Rng::with_seed(0x6b11_9e7d);
    let mut killed_while_running = 0;
    for _ in 0..3 {
        let mut child = run(&out).spawn().unwrap();
        // Past the first half: every run integrates its inputs first (about 40% of a run), and
        // a kill there only repeats that work.
        let at = took.mul_f64(0.5 + 0.45 * rng.f64());
        std::thread::sleep(at);
        if child.try_wait().unwrap().is_none() {
            killed_while_running += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    assert!(
        killed_while_running >= 1,
        "no run was still going when killed"
    );
    let last = run(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&last.stdout);
    assert!(
        last.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&last.stderr)
    );
    assert!(stdout.contains("verified: OK"), "{stdout}");
    assert!(
        stdout.contains("resuming"),
        "the last run did not resume: {stdout}"
    );
}
