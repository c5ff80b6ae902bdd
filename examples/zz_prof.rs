use mqsync::sync::{Change, DataSync, QueueSource, Replica};
use mqsync::MsQueue;
use serde_json::json;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
const CHANGES: u64 = 100_000;
fn changes() -> Vec<Change> {
    (0..CHANGES)
        .map(|i| Change::upsert(format!("key-{}", i % 1000), i / 1000 + 1, json!({"n": i})))
        .collect()
}
fn main() {
    let workers: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let reps: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut times = vec![];
    for _ in 0..reps {
        let input = changes();
        let queue = Arc::new(MsQueue::new());
        let replica = Arc::new(Replica::new());
        let engine = DataSync::builder()
            .source(QueueSource::new("bench", queue.clone()))
            .sink(replica.clone())
            .workers(workers)
            .linger(Duration::ZERO)
            .start()
            .unwrap();
        let t0 = Instant::now();
        queue.push_batch(input);
        while engine.metrics().applied < CHANGES {
            thread::sleep(Duration::from_micros(50));
        }
        let report = engine.shutdown();
        times.push(t0.elapsed().as_secs_f64() * 1e3);
        assert_eq!(report.metrics.applied, CHANGES);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("min {:.1} med {:.1}", times[0], times[times.len() / 2]);
}
