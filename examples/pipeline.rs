//! The main job: push a million messages through mqsync's queues across threads and show that
//! every one arrived exactly once, in order per producer, with the throughput of each stage.
//!
//! `cargo run --release --example pipeline [-- --messages N]`

use mqsync::{Fifo, MsQueue, RingBuffer};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const PRODUCERS: usize = 4;
const CONSUMERS: usize = 4;

fn parse_args() -> Result<usize, String> {
    let mut args = std::env::args().skip(1);
    let mut messages = 1_000_000;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--messages" | "-n" => {
                let value = args.next().ok_or("--messages needs a number")?;
                messages = value
                    .replace('_', "")
                    .parse()
                    .map_err(|_| format!("--messages: not a number: {value:?}"))?;
            }
            "--help" | "-h" => {
                println!("usage: pipeline [--messages N]   (default 1_000_000)");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if messages < PRODUCERS {
        return Err(format!("--messages must be at least {PRODUCERS}"));
    }
    Ok(messages)
}

/// Moves `messages` (producer, sequence) pairs through `queue` with PRODUCERS pushing and
/// CONSUMERS popping; checks no loss, no duplicate and per-producer order.
fn run<Q: Fifo<(usize, usize)> + Send + Sync + 'static>(
    name: &str,
    queue: Q,
    messages: usize,
) -> Result<(), String> {
    let queue = Arc::new(queue);
    let per_producer = messages / PRODUCERS;
    let total = per_producer * PRODUCERS;
    let consumed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let queue = Arc::clone(&queue);
            thread::spawn(move || {
                for seq in 0..per_producer {
                    let mut item = (p, seq);
                    while let Err(full) = queue.push(item) {
                        item = full.into_inner();
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let (queue, consumed) = (Arc::clone(&queue), Arc::clone(&consumed));
            thread::spawn(move || {
                let mut next = [0usize; PRODUCERS];
                let mut counts = [0usize; PRODUCERS];
                let mut out_of_order = 0usize;
                while consumed.load(Ordering::Relaxed) < total {
                    match queue.pop() {
                        Some((p, seq)) => {
                            consumed.fetch_add(1, Ordering::Relaxed);
                            if seq < next[p] {
                                out_of_order += 1;
                            }
                            next[p] = seq + 1;
                            counts[p] += 1;
                        }
                        None => thread::yield_now(),
                    }
                }
                (counts, out_of_order)
            })
        })
        .collect();
    for p in producers {
        p.join().map_err(|_| "a producer panicked")?;
    }
    let mut counts = [0usize; PRODUCERS];
    let mut out_of_order = 0;
    for c in consumers {
        let (cs, ooo) = c.join().map_err(|_| "a consumer panicked")?;
        counts.iter_mut().zip(cs).for_each(|(a, b)| *a += b);
        out_of_order += ooo;
    }
    let elapsed = started.elapsed();
    let received: usize = counts.iter().sum();
    let ok = received == total && out_of_order == 0 && queue.is_empty();
    println!(
        "{name:<26} {total:>9} sent  {received:>9} received  {out_of_order} out of order  {:>7.2} M msg/s  {}",
        total as f64 / elapsed.max(Duration::from_nanos(1)).as_secs_f64() / 1e6,
        if ok { "OK: none lost, none duplicated" } else { "FAILED" }
    );
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name}: {received} of {total} received, {out_of_order} out of order"
        ))
    }
}

fn main() {
    let messages = match parse_args() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    println!("mqsync pipeline: {messages} messages, {PRODUCERS} producers x {CONSUMERS} consumers");
    let results = [
        run("MsQueue (unbounded)", MsQueue::new(), messages),
        run(
            "RingBuffer (cap 1024)",
            RingBuffer::with_capacity(1024),
            messages,
        ),
    ];
    let failures: Vec<_> = results.into_iter().filter_map(Result::err).collect();
    if failures.is_empty() {
        println!("all stages verified");
    } else {
        for f in &failures {
            eprintln!("error: {f}");
        }
        std::process::exit(1);
    }
}
