//! The payloads the integration bench and `examples/integrate_profile.rs` feed: flat order
//! events, nested events, and a mixed feed of every common format.

#![allow(dead_code)] // each includer uses its own part

use mqsync::integrate::{CsvHeader, Input, Raw};

/// An order event of roughly 200–500 bytes; `i` varies the content and size.
pub fn order_json(i: usize) -> Vec<u8> {
    let items: Vec<String> = (0..(i % 4) + 1)
        .map(|k| {
            format!(
                r#"{{"sku":"SKU-{:05}","qty":{},"price":{}.{:02}}}"#,
                i * 7 + k,
                k + 1,
                3 + k * 11,
                i % 100
            )
        })
        .collect();
    format!(
        r#"{{"order_id":"O-{i}","event":"order.placed","placed_at":"2024-03-01T12:{:02}:{:02}Z","customer":{{"id":{},"name":"Customer {i}","email":"c{i}@example.com","vip":{}}},"items":[{}],"total":{}.{:02},"currency":"EUR","note":null}}"#,
        i % 60,
        (i * 7) % 60,
        i % 5000,
        i % 3 == 0,
        items.join(","),
        i % 900,
        i % 100,
    )
    .into_bytes()
}

/// An event of about 16 KiB, mostly long string values: eight lines of a log excerpt of about
/// 2 KiB each, with a number beside each; `i` varies the content.
pub fn long_text_event(i: usize) -> Vec<u8> {
    let words = [
        "request",
        "served",
        "in",
        "12ms",
        "from",
        "cache",
        "user",
        "agent",
        "mozilla",
        "path",
        "/api/v1/orders",
        "status",
        "200",
        "bytes",
        "5120",
        "upstream",
        "eu-west-1",
    ];
    let mut text = String::from("{");
    for line in 0..8 {
        let excerpt: Vec<&str> = (0..280)
            .map(|k| words[(i + line * 7 + k) % words.len()])
            .collect();
        if line > 0 {
            text.push(',');
        }
        text.push_str(&format!(
            r#""line_{line}":"{}","took_{line}":{}.{:02}"#,
            excerpt.join(" "),
            i % 500,
            (i + line) % 100
        ));
    }
    text.push('}');
    text.into_bytes()
}

/// A nested event of roughly 300–500 bytes: a user object (with an address inside), a tag
/// array, an amount and a free-text note; `i` varies the content and size.
pub fn nested_event(i: usize) -> Vec<u8> {
    let tags: Vec<String> = (0..(i % 5) + 1)
        .map(|k| format!(r#""tag-{}""#, (i + k * 13) % 97))
        .collect();
    let words = [
        "please", "deliver", "to", "the", "back", "door", "after", "six", "pm", "thanks",
    ];
    let note: Vec<&str> = (0..8 + i % 24)
        .map(|k| words[(i + k) % words.len()])
        .collect();
    format!(
        r#"{{"event_id":"E-{i}","type":"checkout.completed","at":"2024-03-01T12:{:02}:{:02}Z","user":{{"id":{},"name":"User {i}","email":"u{i}@example.com","address":{{"city":"Berlin","zip":"{:05}","country":"DE"}},"vip":{}}},"tags":[{}],"amount":{}.{:02},"currency":"EUR","note":"{}"}}"#,
        i % 60,
        (i * 7) % 60,
        i % 5000,
        10_000 + i % 90_000,
        i % 3 == 0,
        tags.join(","),
        i % 900,
        i % 100,
        note.join(" "),
    )
    .into_bytes()
}

/// 100k inputs: 60% JSON objects, 10% each text, numbers, CSV rows, logfmt lines.
pub fn mixed_feed(n: usize) -> Vec<Input> {
    let header = CsvHeader::parse("id,sku,qty,price,warehouse").expect("a CSV header");
    (0..n)
        .map(|i| {
            let raw = match i % 10 {
                0..=5 => Raw::Json(order_json(i)),
                6 => Raw::Text(format!("shipment {i} left the warehouse at dock {}", i % 12)),
                7 => {
                    if i % 20 == 7 {
                        Raw::Int(i as i64)
                    } else {
                        Raw::Float(i as f64 * 0.25)
                    }
                }
                8 => Raw::Csv { header: header.clone(), row: format!("{i},SKU-{:05},{},{}.99,\"Berlin, DE\"", i % 9999, i % 7, i % 300) },
                _ => Raw::Logfmt(format!(
                    "ts=2024-03-01T12:00:{:02}Z level=info msg=\"stock updated\" sku=SKU-{:05} delta={} node=n{}",
                    i % 60,
                    i % 9999,
                    (i % 11) as i64 - 5,
                    i % 8
                )),
            };
            Input::new("shop", raw)
        })
        .collect()
}
