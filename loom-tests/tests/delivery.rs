#![cfg(mqsync_loom)]
//! loom models of the delivery layer's acknowledgement and requeue paths.
//!
//! Run with `.ci/loom --test delivery`.

use loom::thread;
use mqsync::delivery::{DeliveryQueue, TryReceiveError};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

#[test]
fn nack_racing_a_receive_delivers_the_message_exactly_once_more() {
    model(|| {
        let q = DeliveryQueue::builder().build().unwrap();
        q.publish(String::from("m")).unwrap();
        let consumer = q.consumer();
        let held = consumer.try_receive().unwrap();
        let nacker = thread::spawn(move || held.nack(true));
        let other = q.consumer();
        let raced = other.try_receive().ok();
        nacker.join().unwrap();
        let later = other.try_receive().ok();
        let got: Vec<_> = [raced, later].into_iter().flatten().collect();
        assert_eq!(got.len(), 1, "the requeued message is delivered once");
        assert_eq!(got[0].message(), "m");
        assert_eq!(got[0].delivery_count(), 2);
        drop(got);
        let s = q.stats();
        assert_eq!((s.ready, s.unacked, s.redelivered), (1, 0, 2));
    });
}

#[test]
fn drop_racing_close_loses_nothing() {
    model(|| {
        let q = DeliveryQueue::builder().build().unwrap();
        q.publish(1u32).unwrap();
        let consumer = q.consumer();
        let held = consumer.try_receive().unwrap();
        let dropper = thread::spawn(move || drop(held));
        q.close();
        dropper.join().unwrap();
        let again = consumer
            .try_receive()
            .expect("requeued after close, still delivered");
        assert_eq!((*again.message(), again.delivery_count()), (1, 2));
        again.ack();
        assert_eq!(consumer.try_receive().unwrap_err(), TryReceiveError::Closed);
    });
}

#[test]
fn ack_racing_a_drained_check_reports_closed_only_when_settled() {
    model(|| {
        let q = DeliveryQueue::builder().build().unwrap();
        q.publish(1u32).unwrap();
        let consumer = q.consumer();
        let held = consumer.try_receive().unwrap();
        q.close();
        let acker = thread::spawn(move || held.ack());
        let seen = consumer.try_receive().unwrap_err();
        acker.join().unwrap();
        // Before the ack lands the queue is not drained; after, it is.
        assert!(matches!(
            seen,
            TryReceiveError::Empty | TryReceiveError::Closed
        ));
        assert_eq!(consumer.try_receive().unwrap_err(), TryReceiveError::Closed);
        assert_eq!(q.stats().acked, 1);
    });
}

// The close protocol (src/delivery/closing.rs): a publish racing `close` is either refused or
// drained. Every racing operation runs in a spawned thread (see ring_buffer.rs on loom and the
// main thread); the main thread only joins and checks.
#[test]
fn publish_racing_close_is_refused_or_drained_never_stranded() {
    model(|| {
        let q = DeliveryQueue::builder().build().unwrap();
        let publisher = {
            let q = q.clone();
            thread::spawn(move || q.publish(7u32).is_ok())
        };
        // The close and the drained check in one thread (a third thread multiplies the
        // schedules of the epoch-pinned lane push past a CI budget); the publish races both.
        let receiver = {
            let q = q.clone();
            thread::spawn(move || {
                q.close();
                let consumer = q.consumer();
                match consumer.try_receive() {
                    Ok(d) => {
                        d.ack();
                        Some(true)
                    }
                    Err(TryReceiveError::Empty) => None,
                    Err(TryReceiveError::Closed) => Some(false),
                    Err(e) => unreachable!("no prefetch limit: {e}"),
                }
            })
        };
        let accepted = publisher.join().unwrap();
        let raced = receiver.join().unwrap();
        if raced == Some(false) {
            assert!(
                !accepted,
                "Closed was reported while an accepted message was queued"
            );
        }
        // Everything has settled now: the accepted message is received exactly once in all.
        let consumer = q.consumer();
        let later = match consumer.try_receive() {
            Ok(d) => {
                d.ack();
                1
            }
            Err(e) => {
                assert_eq!(e, TryReceiveError::Closed);
                0
            }
        };
        let received = usize::from(raced == Some(true)) + later;
        assert_eq!(received, usize::from(accepted), "accepted = received");
        assert_eq!(consumer.try_receive().unwrap_err(), TryReceiveError::Closed);
        assert_eq!(q.stats().published, u64::from(accepted));
    });
}

// The prefetch reservation (src/delivery/consumer.rs): two receives on one handle at its limit,
// with an expired message dead-lettered (observer run) in between, hold one delivery between
// them, never two.
#[test]
fn two_receives_on_one_handle_at_the_prefetch_limit_take_one_slot() {
    model(|| {
        let q = DeliveryQueue::builder()
            .prefetch(1)
            .on_dead_letter(|_| {})
            .build()
            .unwrap();
        q.publish_with(0u32, 0, Some(std::time::Duration::ZERO))
            .unwrap();
        q.publish(1u32).unwrap();
        let consumer = std::sync::Arc::new(q.consumer());
        // Each thread hands its delivery back unsettled, so both are held when checked.
        let receive = |c: std::sync::Arc<mqsync::delivery::Consumer<u32>>| {
            thread::spawn(move || c.try_receive())
        };
        let (a, b) = (receive(consumer.clone()), receive(consumer.clone()));
        let results = [a.join().unwrap(), b.join().unwrap()];
        let taken: Vec<u32> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|d| *d.message()))
            .collect();
        assert_eq!(taken, [1], "exactly one receive takes the fresh message");
        assert!(results
            .iter()
            .any(|r| matches!(r, Err(TryReceiveError::PrefetchLimit))));
        assert_eq!(consumer.unacked(), Some(1));
        assert_eq!(q.stats().dead_lettered, 1);
    });
}
