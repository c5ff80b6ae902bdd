//! The stored forms: a `Message` (JSON and MessagePack), a `Change` (JSON) and an `Input` (JSON,
//! and MessagePack read back as JSON, the way a dead letter is stored and replayed) decoded from
//! arbitrary bytes. Whatever decodes must encode and decode back to the same value, a message
//! must write a CSV row that reads back with one field per column, and a decoded input must be
//! integrated or rejected with its input intact.
//!
//! Input layout: byte 0 picks the type and encoding (`selector % 5`), the rest is the encoding.
//!
//! `cargo +nightly fuzz run envelopes`

use mqsync::integrate::{Input, Integrator, Message};
use mqsync::sync::Change;
use std::sync::OnceLock;

fn integrator() -> &'static Integrator {
    static INTEGRATOR: OnceLock<Integrator> = OnceLock::new();
    INTEGRATOR.get_or_init(Integrator::default)
}

/// Checks the property on one input; panics where it does not hold.
pub fn run(data: &[u8]) {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    match selector % 5 {
        0 => {
            if let Ok(message) = Message::from_json(payload) {
                check_message(&message);
            }
        }
        1 => {
            if let Ok(message) = Message::from_msgpack(payload) {
                check_message(&message);
            }
        }
        2 => {
            if let Ok(change) = serde_json::from_slice::<Change>(payload) {
                let json = serde_json::to_vec(&change).expect("a change encodes as JSON");
                let back: Change = serde_json::from_slice(&json).expect("and decodes");
                assert_eq!(back, change);
            }
        }
        3 => {
            if let Ok(input) = serde_json::from_slice::<Input>(payload) {
                check_input(input);
            }
        }
        _ => {
            if let Ok(input) = rmp_serde::from_slice::<Input>(payload) {
                check_input(input);
            }
        }
    }
}

fn check_message(message: &Message) {
    let json = message.to_json().expect("a message encodes as JSON");
    assert_eq!(&Message::from_json(&json).expect("and decodes"), message);
    let packed = message
        .to_msgpack()
        .expect("a message encodes as MessagePack");
    assert_eq!(
        &Message::from_msgpack(&packed).expect("and decodes"),
        message
    );

    let mut columns = vec!["@id", "@source", "@key", "@version", "@timestamp"];
    columns.extend(message.body.keys().map(String::as_str));
    let headers: Vec<String> = message
        .headers
        .keys()
        .map(|h| format!("@header.{h}"))
        .collect();
    columns.extend(headers.iter().map(String::as_str));
    let row = message
        .to_csv_row(&columns)
        .expect("a message writes a CSV row");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(row.as_bytes());
    let mut record = csv::StringRecord::new();
    assert!(reader.read_record(&mut record).expect("the row reads back"));
    assert_eq!(record.len(), columns.len(), "row {row:?}");
    assert_eq!(&record[0], message.id);
    assert_eq!(&record[1], message.source);
}

fn check_input(input: Input) {
    // Debug text, not `==`: a `Raw::Float(NaN)` is the same input, yet NaN != NaN.
    let json = serde_json::to_vec(&input).expect("an input encodes as JSON");
    let back: Input = serde_json::from_slice(&json).expect("and decodes");
    assert_eq!(format!("{back:?}"), format!("{input:?}"));
    let expected = format!("{input:?}");
    if let Err(rejection) = integrator().integrate(input) {
        assert_eq!(format!("{:?}", rejection.input), expected);
        let stored = serde_json::to_vec(&rejection.input).expect("a dead letter encodes");
        let replayed: Input = serde_json::from_slice(&stored).expect("and decodes");
        assert_eq!(format!("{replayed:?}"), expected);
    }
}
