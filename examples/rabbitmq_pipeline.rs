//! RabbitMQ both ways: a producer publishes a log of changes to a queue with `RabbitMqSink`
//! (publisher confirms), two `DataSync` engines consume it with `RabbitMqSource` into one
//! replica (the broker shares the queue between their consumers), and the result is verified
//! against the source.
//!
//! A private `rabbitmq-server` node is started on free loopback ports (temporary directory)
//! unless `AMQP_URL` names a broker. The queue and its dead-letter queue are named after the
//! process and deleted at the end.
//!
//! `cargo run --release --example rabbitmq_pipeline --features rabbitmq,testing [MESSAGES]`

use mqsync::sync::rabbitmq_testing::{queue_len, RabbitMqServer};
use mqsync::sync::{Change, DataSync, RabbitMqConfig, RabbitMqSink, RabbitMqSource, Replica, Sink};
use serde_json::json;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let messages: u64 = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 50_000,
    };
    // Keep the node alive until the end (dropped last: killed, directory removed).
    let (url, _server) = match std::env::var("AMQP_URL") {
        Ok(url) if !url.is_empty() => (url, None),
        _ => {
            let started = Instant::now();
            let server = RabbitMqServer::start()?;
            println!(
                "started a rabbitmq-server node at {} in {:.1?}",
                server.url_redacted(),
                started.elapsed()
            );
            (server.url(), Some(server))
        }
    };
    let queue = format!("orders-{}", std::process::id());
    let config = RabbitMqConfig::builder(url.clone(), queue.clone()).build()?;
    println!("queue {:?} on {}", queue, config.url_redacted());

    let log: Vec<Change> = (0..messages)
        .map(|i| {
            Change::upsert(
                format!("order-{}", i % 10_000),
                i,
                json!({ "total": i % 500 }),
            )
        })
        .collect();
    let want = {
        let replica = Replica::new();
        log.iter().for_each(|c| {
            replica.apply(c);
        });
        replica.snapshot()
    };

    let started = Instant::now();
    let sink = RabbitMqSink::new(&config);
    for batch in log.chunks(500) {
        sink.apply(batch)?;
    }
    println!(
        "published {messages} changes, every one confirmed, in {:.1?}",
        started.elapsed()
    );

    let replica = Arc::new(Replica::new());
    let started = Instant::now();
    let engines: Vec<_> = (0..2)
        .map(|_| {
            DataSync::builder()
                .source(RabbitMqSource::new(&config))
                .sink(Arc::clone(&replica))
                .start()
        })
        .collect::<Result<_, _>>()?;
    while queue_len(&url, &queue)? > 0 {
        thread::sleep(Duration::from_millis(20));
    }
    let mut applied = 0;
    for engine in engines {
        engine.wait_idle(Duration::from_secs(60));
        applied += engine.shutdown().metrics.applied;
    }
    println!(
        "two engines applied {applied} changes in {:.1?}; the replica {} the source",
        started.elapsed(),
        if replica.snapshot() == want {
            "equals"
        } else {
            "DIFFERS FROM"
        }
    );
    if replica.snapshot() != want {
        return Err("the replica differs from the source".into());
    }
    // Leave no queue behind on a broker of someone else's.
    delete_queues(&url, &[&queue, &config.dead_letter_queue_name()])?;
    Ok(())
}

/// Deletes `queues` with a plain lapin connection.
fn delete_queues(url: &str, queues: &[&str]) -> Result<(), lapin::Error> {
    futures_executor::block_on(async {
        let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await?;
        let channel = conn.create_channel().await?;
        for queue in queues {
            channel.queue_delete(queue, Default::default()).await?;
        }
        conn.close(200, "done").await
    })
}
