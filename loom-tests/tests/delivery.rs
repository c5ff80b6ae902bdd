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
        let q = DeliveryQueue::builder().build();
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
        let q = DeliveryQueue::builder().build();
        q.publish(1u32).unwrap();
        let consumer = q.consumer();
        let held = consumer.try_receive().unwrap();
        let dropper = thread::spawn(move || drop(held));
        q.close();
        dropper.join().unwrap();
        let again = consumer.try_receive().expect("requeued after close, still delivered");
        assert_eq!((*again.message(), again.delivery_count()), (1, 2));
        again.ack();
        assert_eq!(consumer.try_receive().unwrap_err(), TryReceiveError::Closed);
    });
}

#[test]
fn ack_racing_a_drained_check_reports_closed_only_when_settled() {
    model(|| {
        let q = DeliveryQueue::builder().build();
        q.publish(1u32).unwrap();
        let consumer = q.consumer();
        let held = consumer.try_receive().unwrap();
        q.close();
        let acker = thread::spawn(move || held.ack());
        let seen = consumer.try_receive().unwrap_err();
        acker.join().unwrap();
        // Before the ack lands the queue is not drained; after, it is.
        assert!(matches!(seen, TryReceiveError::Empty | TryReceiveError::Closed));
        assert_eq!(consumer.try_receive().unwrap_err(), TryReceiveError::Closed);
        assert_eq!(q.stats().acked, 1);
    });
}
