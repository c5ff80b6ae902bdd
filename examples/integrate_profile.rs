//! A steady integration load to profile: the bench's payloads in a loop, nothing else running.
//!
//! ```text
//! cargo run --release --example integrate_profile --features integrate -- WHAT [ROUNDS]
//! perf record -g target/release/examples/integrate_profile nested-batch-2
//! ```
//!
//! `WHAT` is one of `flat-parse`, `flat-integrate`, `nested-parse`, `nested-integrate`,
//! `long-parse`, `long-integrate` (10k documents per round, 1k of the 16 KiB long ones: bare
//! `serde_json::from_slice::<Value>` or `integrate`),
//! `nested-batch-1`, `nested-batch-2`, `mixed-batch-1`, `mixed-batch-2` (`integrate_batch` of
//! 100k inputs on a 1- or 2-thread pool; the messages are dropped on the calling thread after
//! each round, as a consumer would), `nested-serde`, `nested-serde-2` (the machine's ceiling:
//! bare serde_json over the 100k nested events on 1 or 2 threads, each thread freeing what it
//! parsed, so no memory crosses threads). It prints the wall and CPU time (all threads) of the timed
//! part per round, so the 1- and 2-thread runs compare in CPU as well as in wall time: on a
//! loaded machine the wall time of the 2-thread run says little, the CPU it took says what it
//! would take on free cores. `RUSTFLAGS="--cfg mqsync_bench_mimalloc"` runs it on mimalloc.
//!
//! Two experiments, by environment variable: `KEEP=1` keeps every round's messages (no memory
//! is reused: every allocation is fresh), `DROP_ON_POOL=1` frees the messages on the pool's
//! threads instead of the calling thread.

#[path = "../benches/support/integrate_feed.rs"]
mod feed;

#[cfg(mqsync_bench_mimalloc)]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use mqsync::integrate::{Input, Integrator, Raw};
use rayon::prelude::*;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "nested-integrate".into());
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(30);
    let (shape, action) = what.split_once('-').expect("WHAT is shape-action");
    let docs: Vec<Vec<u8>> = match shape {
        "flat" => (0..10_000).map(feed::order_json).collect(),
        "nested" => (0..100_000).map(feed::nested_event).collect(),
        "long" => (0..1_000).map(feed::long_text_event).collect(),
        "mixed" => Vec::new(),
        other => panic!("unknown shape {other}"),
    };
    let threads: usize = match action {
        "serde-2" => 2,
        _ => action
            .strip_prefix("batch-")
            .map_or(1, |t| t.parse().expect("batch-THREADS")),
    };
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a pool"),
    );
    let integrator = Integrator::builder()
        .pool(Arc::clone(&pool))
        .build()
        .expect("rules");
    let (mut wall, mut cpu) = (Duration::ZERO, Duration::ZERO);
    let keep = std::env::var_os("KEEP").is_some();
    let drop_on_pool = std::env::var_os("DROP_ON_POOL").is_some();
    let mut kept = Vec::new();
    for _ in 0..rounds {
        let (took, used) = match action {
            "parse" => {
                let (start, cpu_start) = (Instant::now(), cpu_time());
                for doc in docs.iter().take(10_000) {
                    black_box(serde_json::from_slice::<serde_json::Value>(doc).expect("JSON"));
                }
                (start.elapsed(), cpu_time() - cpu_start)
            }
            "integrate" => {
                let raws: Vec<Raw> = docs.iter().take(10_000).cloned().map(Raw::Json).collect();
                let (start, cpu_start) = (Instant::now(), cpu_time());
                for raw in raws {
                    black_box(integrator.integrate(raw).expect("accepted"));
                }
                (start.elapsed(), cpu_time() - cpu_start)
            }
            "serde" | "serde-2" => {
                // The machine's ceiling: bare serde_json on 1 or 2 threads, each thread parsing
                // its own half and freeing what it parsed, so no memory crosses threads.
                let halves = if action == "serde" { 1 } else { 2 };
                let (start, cpu_start) = (Instant::now(), cpu_time());
                pool.install(|| {
                    docs.par_chunks(docs.len() / halves).for_each(|half| {
                        let values: Vec<serde_json::Value> = half
                            .iter()
                            .map(|doc| serde_json::from_slice(doc).expect("JSON"))
                            .collect();
                        drop(black_box(values));
                    })
                });
                (start.elapsed(), cpu_time() - cpu_start)
            }
            _ => {
                let inputs: Vec<Input> = if shape == "mixed" {
                    feed::mixed_feed(100_000)
                } else {
                    docs.iter()
                        .map(|doc| Input::new("events", Raw::Json(doc.clone())))
                        .collect()
                };
                let (start, cpu_start) = (Instant::now(), cpu_time());
                let outcome = integrator.integrate_batch(inputs);
                let timed = (start.elapsed(), cpu_time() - cpu_start);
                assert_eq!(outcome.len(), 100_000);
                if keep {
                    kept.push(outcome);
                } else if drop_on_pool {
                    // An experiment: the pool's threads free the messages they made (roughly:
                    // rayon need not split the same way twice), not the calling thread.
                    pool.install(|| black_box(outcome).messages.into_par_iter().for_each(drop));
                } else {
                    drop(black_box(outcome));
                }
                timed
            }
        };
        wall += took;
        cpu += used;
    }
    println!(
        "{what}: {rounds} rounds, per round: wall {:.2} ms, CPU {:.2} ms (all threads)",
        wall.as_secs_f64() * 1e3 / rounds as f64,
        cpu.as_secs_f64() * 1e3 / rounds as f64
    );
}

/// CPU time of the whole process so far (all threads).
fn cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}
