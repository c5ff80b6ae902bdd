//! Every decoder, on arbitrary bytes: the input is accounted for (a message or a rejection),
//! nothing panics, and an accepted message survives JSON and MessagePack round trips.
//!
//! `cargo +nightly fuzz run decoders`

use mqsync::integrate::{CsvHeader, Integrator, Message, Raw};
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
    let text = String::from_utf8_lossy(payload).into_owned();
    let eight = |bytes: &[u8]| {
        let mut word = [0u8; 8];
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        word
    };
    let raw = match selector % 9 {
        0 => Raw::Json(payload.to_vec()),
        1 => Raw::Bytes(payload.to_vec()),
        2 => Raw::MsgPack(payload.to_vec()),
        3 => Raw::Logfmt(text),
        4 => Raw::Text(text),
        5 => {
            let (header, row) = text.split_once('\n').unwrap_or((&text, ""));
            match CsvHeader::parse(header) {
                Ok(header) => Raw::Csv {
                    header,
                    row: row.to_owned(),
                },
                Err(_) => return,
            }
        }
        6 => Raw::Float(f64::from_le_bytes(eight(payload))),
        7 => Raw::Int(i64::from_le_bytes(eight(payload))),
        _ => match serde_json::from_slice(payload) {
            Ok(value) => Raw::Value(value),
            Err(_) => return,
        },
    };
    let outcome = integrator().integrate_batch(vec![raw.clone()]);
    assert_eq!(outcome.len(), 1);
    if let Some(rejection) = outcome.rejected.first() {
        // Debug text, not `==`: a rejected `Raw::Float(NaN)` is the same input, yet NaN != NaN.
        assert_eq!(format!("{:?}", rejection.input.raw), format!("{raw:?}"));
    }
    for message in outcome.messages {
        let json = message.to_json().expect("a message encodes as JSON");
        assert_eq!(Message::from_json(&json).expect("and decodes"), message);
        let packed = message
            .to_msgpack()
            .expect("a message encodes as MessagePack");
        assert_eq!(
            Message::from_msgpack(&packed).expect("and decodes"),
            message
        );
    }
}
