//! Handoff benchmarks: the SPSC ring against rtrb and crossbeam's `ArrayQueue`, ping-pong
//! latency, and the blocking MPMC channel (`mqsync::channel`) against crossbeam-channel, flume and
//! kanal, blocking and async (on a tokio multi-thread runtime, and 1P1C on a current-thread one).
//!
//! Cross-thread timing uses `iter_custom` + `support::run_timed`: the clock starts when every
//! thread is at the start barrier and stops when every thread is done. One criterion "iteration" is
//! one item (one round trip for ping-pong). Run with `cargo bench --bench handoff`.

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use mqsync::handoff::{spsc, spsc_with, WaitStrategy};
use std::cell::Cell;
use std::hint::{black_box, spin_loop};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

mod support;

const CAPACITY: usize = 1024;
const BATCH: usize = 64;

thread_local! {
    static TRIES: Cell<u32> = const { Cell::new(0) };
}

/// The back-off every peer uses while its queue is full / empty: spin a little, then yield.
/// Pure spinning measures the scheduler, not the queue, when the two threads share a core
/// (this machine has two cores shared with other work).
fn relax() {
    TRIES.with(|tries| {
        if tries.get() < 128 {
            tries.set(tries.get() + 1);
            spin_loop();
        } else {
            tries.set(0);
            thread::yield_now();
        }
    });
}

/// Runs `producer` and `consumer` on two threads and times them from a common start.
fn time_pair(
    producer: impl FnOnce() + Send + 'static,
    consumer: impl FnOnce() + Send + 'static,
) -> Duration {
    support::run_timed(vec![Box::new(producer), Box::new(consumer)])
}

fn spsc_single(c: &mut Criterion) {
    let mut g = c.benchmark_group("spsc_1p1c_single");
    g.throughput(Throughput::Elements(1));
    for (name, strategy) in [
        ("mqsync_park", WaitStrategy::SpinThenPark),
        ("mqsync_spin", WaitStrategy::BusySpin),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|n| {
                let (mut tx, mut rx) = spsc_with::<u64>(CAPACITY, strategy);
                time_pair(
                    move || {
                        for i in 0..n {
                            while tx.push(i).is_err() {
                                relax();
                            }
                        }
                    },
                    move || {
                        for _ in 0..n {
                            loop {
                                if let Ok(v) = rx.pop() {
                                    black_box(v);
                                    break;
                                }
                                relax();
                            }
                        }
                    },
                )
            })
        });
    }
    g.bench_function("rtrb", |b| {
        b.iter_custom(|n| {
            let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAPACITY);
            time_pair(
                move || {
                    for i in 0..n {
                        while tx.push(i).is_err() {
                            relax();
                        }
                    }
                },
                move || {
                    for _ in 0..n {
                        loop {
                            if let Ok(v) = rx.pop() {
                                black_box(v);
                                break;
                            }
                            relax();
                        }
                    }
                },
            )
        })
    });
    g.bench_function("crossbeam_array_queue", |b| {
        b.iter_custom(|n| {
            let q = Arc::new(crossbeam_queue::ArrayQueue::<u64>::new(CAPACITY));
            let q2 = Arc::clone(&q);
            time_pair(
                move || {
                    for i in 0..n {
                        while q.push(i).is_err() {
                            relax();
                        }
                    }
                },
                move || {
                    for _ in 0..n {
                        loop {
                            if let Some(v) = q2.pop() {
                                black_box(v);
                                break;
                            }
                            relax();
                        }
                    }
                },
            )
        })
    });
    g.finish();
}

fn spsc_same_thread(c: &mut Criterion) {
    // One push and one pop on the same thread: the fast-path cost alone, free of scheduling
    // noise (the wake check's fence shows here).
    let mut g = c.benchmark_group("spsc_same_thread_push_pop");
    g.throughput(Throughput::Elements(1));
    for (name, strategy) in [
        ("mqsync_park", WaitStrategy::SpinThenPark),
        ("mqsync_spin", WaitStrategy::BusySpin),
    ] {
        let (mut tx, mut rx) = spsc_with::<u64>(CAPACITY, strategy);
        g.bench_function(name, |b| {
            b.iter(|| {
                tx.push(black_box(1)).unwrap();
                black_box(rx.pop().unwrap())
            })
        });
    }
    let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAPACITY);
    g.bench_function("rtrb", |b| {
        b.iter(|| {
            tx.push(black_box(1)).unwrap();
            black_box(rx.pop().unwrap())
        })
    });
    let q = crossbeam_queue::ArrayQueue::<u64>::new(CAPACITY);
    g.bench_function("crossbeam_array_queue", |b| {
        b.iter(|| {
            q.push(black_box(1)).unwrap();
            black_box(q.pop().unwrap())
        })
    });
    g.finish();
}

fn spsc_same_thread_batch(c: &mut Criterion) {
    // Batches of 64 on one thread: what the batch path itself costs per item, apart from the
    // cache-line transfers that bound the cross-thread rows on this machine.
    let mut g = c.benchmark_group("spsc_same_thread_batch64");
    g.throughput(Throughput::Elements(BATCH as u64));
    let items: Vec<u64> = (0..BATCH as u64).collect();
    let (mut tx, mut rx) = spsc::<u64>(CAPACITY);
    let mut out = Vec::with_capacity(BATCH);
    g.bench_function("mqsync_park", |b| {
        b.iter(|| {
            assert_eq!(tx.push_slice(black_box(&items)), BATCH);
            out.clear();
            assert_eq!(rx.pop_many(&mut out, BATCH), BATCH);
            black_box(&out);
        })
    });
    let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAPACITY);
    let mut buf = vec![0u64; BATCH];
    g.bench_function("rtrb", |b| {
        b.iter(|| {
            assert_eq!(tx.push_partial_slice(black_box(&items)).0.len(), BATCH);
            assert_eq!(rx.pop_partial_slice(&mut buf).0.len(), BATCH);
            black_box(&buf);
        })
    });
    g.finish();
}

fn spsc_batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("spsc_1p1c_batch64");
    g.throughput(Throughput::Elements(1));
    for (name, strategy) in [
        ("mqsync_park", WaitStrategy::SpinThenPark),
        ("mqsync_spin", WaitStrategy::BusySpin),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|n| {
                let n = n as usize;
                let (mut tx, mut rx) = spsc_with::<u64>(CAPACITY, strategy);
                time_pair(
                    move || {
                        let items: Vec<u64> = (0..BATCH as u64).collect();
                        let mut sent = 0;
                        while sent < n {
                            let want = (n - sent).min(BATCH);
                            let done = tx.push_slice(&items[..want]);
                            if done == 0 {
                                relax();
                            }
                            sent += done;
                        }
                    },
                    move || {
                        let mut out = Vec::with_capacity(4 * BATCH);
                        let mut got = 0;
                        while got < n {
                            let k = rx.pop_many(&mut out, 4 * BATCH);
                            if k == 0 {
                                relax();
                            }
                            got += k;
                            black_box(&out);
                            out.clear();
                        }
                    },
                )
            })
        });
    }
    g.bench_function("rtrb", |b| {
        b.iter_custom(|n| {
            let n = n as usize;
            let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAPACITY);
            time_pair(
                move || {
                    let items: Vec<u64> = (0..BATCH as u64).collect();
                    let mut sent = 0;
                    while sent < n {
                        let want = (n - sent).min(BATCH);
                        let (done, _) = tx.push_partial_slice(&items[..want]);
                        if done.is_empty() {
                            relax();
                        }
                        sent += done.len();
                    }
                },
                move || {
                    let mut out = vec![0u64; 4 * BATCH];
                    let mut got = 0;
                    while got < n {
                        let (done, _) = rx.pop_partial_slice(&mut out);
                        if done.is_empty() {
                            relax();
                        }
                        got += done.len();
                        black_box(&done);
                    }
                },
            )
        })
    });
    g.finish();
}

/// One value there and back through two channels built by `make` (blocking send and recv).
fn channel_ping_pong<S, R>(
    n: u64,
    make: impl Fn() -> (S, R),
    send: fn(&S, u64),
    recv: fn(&R) -> u64,
) -> Duration
where
    S: Send + 'static,
    R: Send + 'static,
{
    let (ping_tx, ping_rx) = make();
    let (pong_tx, pong_rx) = make();
    time_pair(
        move || {
            for _ in 0..n {
                send(&pong_tx, recv(&ping_rx));
            }
        },
        move || {
            for i in 0..n {
                send(&ping_tx, i);
                black_box(recv(&pong_rx));
            }
        },
    )
}

fn rendezvous_ping_pong(c: &mut Criterion) {
    // Rendezvous channels (capacity 0): every send waits for its receive.
    let mut g = c.benchmark_group("rendezvous_round_trip");
    g.bench_function("mqsync_bounded_0", |b| {
        b.iter_custom(|n| {
            channel_ping_pong(
                n,
                || mqsync::channel::bounded::<u64>(0),
                |tx, v| tx.send(v).unwrap(),
                |rx| rx.recv().unwrap(),
            )
        })
    });
    g.bench_function("crossbeam_channel_bounded_0", |b| {
        b.iter_custom(|n| {
            channel_ping_pong(
                n,
                || crossbeam_channel::bounded::<u64>(0),
                |tx, v| tx.send(v).unwrap(),
                |rx| rx.recv().unwrap(),
            )
        })
    });
    g.bench_function("flume_bounded_0", |b| {
        b.iter_custom(|n| {
            channel_ping_pong(
                n,
                || flume::bounded::<u64>(0),
                |tx, v| tx.send(v).unwrap(),
                |rx| rx.recv().unwrap(),
            )
        })
    });
    g.bench_function("kanal_bounded_0", |b| {
        b.iter_custom(|n| {
            channel_ping_pong(
                n,
                || kanal::bounded::<u64>(0),
                |tx, v| tx.send(v).unwrap(),
                |rx| rx.recv().unwrap(),
            )
        })
    });
    g.finish();
}

fn ping_pong(c: &mut Criterion) {
    let mut g = c.benchmark_group("ping_pong_round_trip");
    g.bench_function("mqsync_spsc_blocking", |b| {
        b.iter_custom(|n| {
            let (mut ping_tx, mut ping_rx) = spsc::<u64>(1);
            let (mut pong_tx, mut pong_rx) = spsc::<u64>(1);
            time_pair(
                move || {
                    for _ in 0..n {
                        let v = ping_rx.pop_blocking().unwrap();
                        pong_tx.push(v).unwrap();
                    }
                },
                move || {
                    for i in 0..n {
                        ping_tx.push(i).unwrap();
                        black_box(pong_rx.pop_blocking().unwrap());
                    }
                },
            )
        })
    });
    g.bench_function("rtrb_spin", |b| {
        b.iter_custom(|n| {
            let (mut ping_tx, mut ping_rx) = rtrb::RingBuffer::<u64>::new(1);
            let (mut pong_tx, mut pong_rx) = rtrb::RingBuffer::<u64>::new(1);
            time_pair(
                move || {
                    for _ in 0..n {
                        let v = loop {
                            match ping_rx.pop() {
                                Ok(v) => break v,
                                Err(_) => relax(),
                            }
                        };
                        pong_tx.push(v).unwrap();
                    }
                },
                move || {
                    for i in 0..n {
                        ping_tx.push(i).unwrap();
                        loop {
                            if let Ok(v) = pong_rx.pop() {
                                black_box(v);
                                break;
                            }
                            relax();
                        }
                    }
                },
            )
        })
    });
    g.bench_function("crossbeam_channel_bounded1", |b| {
        b.iter_custom(|n| {
            let (ping_tx, ping_rx) = crossbeam_channel::bounded::<u64>(1);
            let (pong_tx, pong_rx) = crossbeam_channel::bounded::<u64>(1);
            time_pair(
                move || {
                    for _ in 0..n {
                        pong_tx.send(ping_rx.recv().unwrap()).unwrap();
                    }
                },
                move || {
                    for i in 0..n {
                        ping_tx.send(i).unwrap();
                        black_box(pong_rx.recv().unwrap());
                    }
                },
            )
        })
    });
    g.finish();
}

/// `producers` × `consumers` threads moving `n` items in total through blocking send / recv.
fn time_mpmc<S, R>(
    n: u64,
    producers: u64,
    consumers: u64,
    tx: S,
    rx: R,
    send: fn(&S, u64),
    recv: fn(&R) -> bool,
) -> Duration
where
    S: Clone + Send + 'static,
    R: Clone + Send + 'static,
{
    let per = (n / producers).max(1);
    let mut workers: Vec<support::Work<'static>> = Vec::new();
    for _ in 0..producers {
        let tx = tx.clone();
        workers.push(Box::new(move || {
            for i in 0..per {
                send(&tx, i);
            }
        }));
    }
    drop(tx);
    for _ in 0..consumers {
        let rx = rx.clone();
        workers.push(Box::new(move || while recv(&rx) {}));
    }
    drop(rx);
    support::run_timed(workers)
}

fn blocking_group(g: &mut BenchmarkGroup<'_, WallTime>, p: u64, c: u64) {
    let ours = |(tx, rx): (mqsync::channel::Sender<u64>, mqsync::channel::Receiver<u64>), n| {
        time_mpmc(
            n,
            p,
            c,
            tx,
            rx,
            |tx, i| tx.send(i).unwrap(),
            |rx| rx.recv().map(black_box).is_ok(),
        )
    };
    let cb = |(tx, rx): (
        crossbeam_channel::Sender<u64>,
        crossbeam_channel::Receiver<u64>,
    ),
              n| {
        time_mpmc(
            n,
            p,
            c,
            tx,
            rx,
            |tx, i| tx.send(i).unwrap(),
            |rx| rx.recv().map(black_box).is_ok(),
        )
    };
    let fl = |(tx, rx): (flume::Sender<u64>, flume::Receiver<u64>), n| {
        time_mpmc(
            n,
            p,
            c,
            tx,
            rx,
            |tx, i| tx.send(i).unwrap(),
            |rx| rx.recv().map(black_box).is_ok(),
        )
    };
    let ka = |(tx, rx): (kanal::Sender<u64>, kanal::Receiver<u64>), n| {
        time_mpmc(
            n,
            p,
            c,
            tx,
            rx,
            |tx, i| tx.send(i).unwrap(),
            |rx| rx.recv().map(black_box).is_ok(),
        )
    };
    g.bench_function("mqsync_bounded_1024", |b| {
        b.iter_custom(|n| ours(mqsync::channel::bounded(CAPACITY), n))
    });
    g.bench_function("crossbeam_channel_bounded_1024", |b| {
        b.iter_custom(|n| cb(crossbeam_channel::bounded(CAPACITY), n))
    });
    g.bench_function("flume_bounded_1024", |b| {
        b.iter_custom(|n| fl(flume::bounded(CAPACITY), n))
    });
    g.bench_function("kanal_bounded_1024", |b| {
        b.iter_custom(|n| ka(kanal::bounded(CAPACITY), n))
    });
    g.bench_function("mqsync_unbounded", |b| {
        b.iter_custom(|n| ours(mqsync::channel::unbounded(), n))
    });
    g.bench_function("crossbeam_channel_unbounded", |b| {
        b.iter_custom(|n| cb(crossbeam_channel::unbounded(), n))
    });
    g.bench_function("flume_unbounded", |b| {
        b.iter_custom(|n| fl(flume::unbounded(), n))
    });
    g.bench_function("kanal_unbounded", |b| {
        b.iter_custom(|n| ka(kanal::unbounded(), n))
    });
}

fn blocking(c: &mut Criterion) {
    for (name, p, k) in [
        ("blocking_1p1c", 1, 1),
        ("blocking_2p2c", 2, 2),
        ("blocking_4p4c", 4, 4),
    ] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1));
        blocking_group(&mut g, p, k);
        g.finish();
    }
}

/// `producers` × `consumers` tasks on `rt` moving `n` items in total through `send_async` /
/// `recv_async` (each library's async API), timed from the first spawn until every task is done.
fn time_async<S, R, SF, RF>(
    rt: &tokio::runtime::Runtime,
    n: u64,
    producers: u64,
    consumers: u64,
    (tx, rx): (S, R),
    send: fn(S, u64) -> SF,
    recv: fn(R) -> RF,
) -> Duration
where
    S: Clone + Send + 'static,
    R: Clone + Send + 'static,
    SF: std::future::Future<Output = ()> + Send + 'static,
    RF: std::future::Future<Output = ()> + Send + 'static,
{
    let per = (n / producers).max(1);
    rt.block_on(async move {
        let clock = std::time::Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..producers {
            tasks.push(tokio::spawn(send(tx.clone(), per)));
        }
        drop(tx);
        for _ in 0..consumers {
            tasks.push(tokio::spawn(recv(rx.clone())));
        }
        drop(rx);
        for task in tasks {
            task.await.unwrap();
        }
        clock.elapsed()
    })
}

/// Async send / receive on a tokio multi-thread runtime (one worker per core): ours against
/// flume's and kanal's async APIs (crossbeam-channel has none), bounded 1024 and unbounded.
/// `async_1p1c_one_thread` runs 1P1C on a current-thread runtime, where the two tasks take turns
/// on one thread: the cost of the futures and the queue without the scheduler's placement.
fn async_channels(c: &mut Criterion) {
    let multi = tokio::runtime::Builder::new_multi_thread()
        .build()
        .expect("a tokio runtime");
    let one = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    for (name, p, k, rt) in [
        ("async_1p1c", 1, 1, &multi),
        ("async_4p4c", 4, 4, &multi),
        ("async_1p1c_one_thread", 1, 1, &one),
    ] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1));
        for bounded in [true, false] {
            let kind = if bounded { "bounded_1024" } else { "unbounded" };
            g.bench_function(format!("mqsync_{kind}"), |b| {
                b.iter_custom(|n| {
                    let pair = if bounded {
                        mqsync::channel::bounded(CAPACITY)
                    } else {
                        mqsync::channel::unbounded()
                    };
                    time_async(
                        rt,
                        n,
                        p,
                        k,
                        pair,
                        |tx, per| async move {
                            for i in 0..per {
                                tx.send_async(i).await.unwrap();
                            }
                        },
                        |rx| async move {
                            while let Ok(v) = rx.recv_async().await {
                                black_box(v);
                            }
                        },
                    )
                })
            });
            g.bench_function(format!("flume_{kind}"), |b| {
                b.iter_custom(|n| {
                    let pair = if bounded {
                        flume::bounded(CAPACITY)
                    } else {
                        flume::unbounded()
                    };
                    time_async(
                        rt,
                        n,
                        p,
                        k,
                        pair,
                        |tx, per| async move {
                            for i in 0..per {
                                tx.send_async(i).await.unwrap();
                            }
                        },
                        |rx| async move {
                            while let Ok(v) = rx.recv_async().await {
                                black_box(v);
                            }
                        },
                    )
                })
            });
            g.bench_function(format!("kanal_{kind}"), |b| {
                b.iter_custom(|n| {
                    let pair = if bounded {
                        kanal::bounded_async(CAPACITY)
                    } else {
                        kanal::unbounded_async()
                    };
                    time_async(
                        rt,
                        n,
                        p,
                        k,
                        pair,
                        |tx, per| async move {
                            for i in 0..per {
                                tx.send(i).await.unwrap();
                            }
                        },
                        |rx| async move {
                            while let Ok(v) = rx.recv().await {
                                black_box(v);
                            }
                        },
                    )
                })
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = handoff;
    config = support::config();
    targets = spsc_same_thread, spsc_same_thread_batch, spsc_single, spsc_batch, ping_pong, rendezvous_ping_pong, blocking, async_channels
}
criterion_main!(handoff);
