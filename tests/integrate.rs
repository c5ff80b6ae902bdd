//! Integration tests for `mqsync::integrate`: every format, every rule, rule files, batches,
//! queues, adversarial inputs, round trips, and property tests that nothing panics or vanishes.

use mqsync::integrate::{
    Conversion, CsvHeader, FieldCheck, Input, Integrator, JsonType, Message, Placement, Raw,
    Reason, RuleError, RuleSet, SourceRules, MAX_DEPTH_CEILING,
};
use mqsync::MsQueue;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::sync::Arc;

fn body_of(integrator: &Integrator, input: impl Into<Input>) -> Value {
    Value::Object(integrator.integrate(input).expect("accepted").body)
}

fn reason_of(integrator: &Integrator, input: impl Into<Input>) -> Reason {
    integrator.integrate(input).expect_err("rejected").reason
}

// ---- the default convention, per format ----

#[test]
fn default_convention_places_each_format() {
    let i = Integrator::default();
    assert_eq!(
        body_of(&i, Raw::Json(br#"{"a": [1, {"b": null}]}"#.to_vec())),
        json!({"a": [1, {"b": null}]})
    );
    assert_eq!(
        body_of(&i, Raw::Json(br#""hi""#.to_vec())),
        json!({"text": "hi"})
    );
    assert_eq!(
        body_of(&i, Raw::Json(b"12".to_vec())),
        json!({"number": 12})
    );
    assert_eq!(
        body_of(&i, Raw::Text("free text".into())),
        json!({"text": "free text"})
    );
    assert_eq!(body_of(&i, Raw::Int(-5)), json!({"number": -5}));
    assert_eq!(body_of(&i, Raw::Float(0.25)), json!({"number": 0.25}));
    assert_eq!(
        body_of(&i, Raw::Bytes(br#"{"x": 1}"#.to_vec())),
        json!({"x": 1})
    );
    let header = CsvHeader::parse("id,name").unwrap();
    assert_eq!(
        body_of(
            &i,
            Raw::Csv {
                header,
                row: "7,\"Lovelace, Ada\"".into()
            }
        ),
        json!({"id": "7", "name": "Lovelace, Ada"})
    );
    assert_eq!(
        body_of(&i, Raw::Logfmt("at=info n=3 ok".into())),
        json!({"at": "info", "n": "3", "ok": true})
    );
    let packed = rmp_serde::to_vec_named(&json!({"m": [1, "two"]})).unwrap();
    assert_eq!(body_of(&i, Raw::MsgPack(packed)), json!({"m": [1, "two"]}));
    #[derive(serde::Serialize)]
    struct Reading {
        sensor: &'static str,
        celsius: f32,
    }
    let raw = Raw::from_serialize(&Reading {
        sensor: "s1",
        celsius: 20.5,
    })
    .unwrap();
    assert_eq!(body_of(&i, raw), json!({"sensor": "s1", "celsius": 20.5}));
}

#[test]
fn default_convention_rejects_what_it_cannot_place() {
    let i = Integrator::default();
    for raw in [
        Raw::Json(b"[1, 2]".to_vec()),
        Raw::Json(b"null".to_vec()),
        Raw::Json(b"true".to_vec()),
        Raw::Bool(true),
        Raw::Bytes(vec![0, 159, 146, 150]),
        Raw::Value(json!([1])),
    ] {
        let reason = reason_of(&i, raw.clone());
        assert!(
            reason.to_string().starts_with("unsupported message type"),
            "{raw:?}: {reason}"
        );
        assert_eq!(reason.rule(), "place");
    }
}

#[test]
fn placement_rules_accept_other_kinds() {
    let place = Placement::default()
        .bool(Some("flag"))
        .array(Some("items"))
        .bytes(Some("hex"))
        .text(Some("line"))
        .number(None);
    let i = Integrator::builder()
        .default_rules(SourceRules::new().place(place))
        .build()
        .unwrap();
    assert_eq!(body_of(&i, Raw::Bool(false)), json!({"flag": false}));
    assert_eq!(
        body_of(&i, Raw::Json(b"[1]".to_vec())),
        json!({"items": [1]})
    );
    assert_eq!(
        body_of(&i, Raw::Bytes(vec![0xde, 0xad])),
        json!({"hex": "dead"})
    );
    assert_eq!(body_of(&i, Raw::Text("x".into())), json!({"line": "x"}));
    assert_eq!(
        reason_of(&i, Raw::Int(1)),
        Reason::UnsupportedType { kind: "number" }
    );
}

#[test]
fn malformed_payloads_name_their_format() {
    let i = Integrator::default();
    let cases = [
        (Raw::Json(b"{\"a\":".to_vec()), "json"),
        (Raw::Json(vec![b'"', 0xff, b'"']), "json"),
        (Raw::Bytes(b"{oops".to_vec()), "json"),
        (Raw::MsgPack(vec![0xc1]), "msgpack"),
        (Raw::Logfmt("a=\"open".into()), "logfmt"),
        (
            Raw::Csv {
                header: CsvHeader::new(["a"]),
                row: "1,2".into(),
            },
            "csv",
        ),
        (Raw::Float(f64::NAN), "float"),
        (Raw::Float(f64::INFINITY), "float"),
    ];
    for (raw, format) in cases {
        match reason_of(&i, raw.clone()) {
            Reason::Malformed { format: f, .. } => assert_eq!(f, format, "{raw:?}"),
            other => panic!("{raw:?}: {other}"),
        }
    }
}

// ---- rules ----

fn order_rules() -> SourceRules {
    SourceRules::new()
        .rename("cust.name", "customer.name")
        .rename("amt", "amount")
        .convert("amount", Conversion::Number)
        .convert("paid", Conversion::Bool)
        .convert("placed", Conversion::Timestamp)
        .convert("zip", Conversion::String)
        .default_value("currency", json!("EUR"))
        .default_value("meta.channel", json!("web"))
        .drop_field("debug")
        .id_from("order_id")
        .key_from("customer.name")
        .version_from("rev")
        .timestamp_from("placed")
        .check(
            FieldCheck::new("amount")
                .required()
                .kind(JsonType::Number)
                .range(0.0, 10_000.0),
        )
        .check(FieldCheck::new("currency").allowed(vec![json!("EUR"), json!("USD")]))
        .check(
            FieldCheck::new("order_id")
                .kind(JsonType::String)
                .length(3, 12)
                .pattern("^O-[0-9]+$"),
        )
}

fn orders() -> Integrator {
    Integrator::builder()
        .source("orders", order_rules())
        .build()
        .unwrap()
}

fn order(json: Value) -> Input {
    Input::new("orders", Raw::Json(serde_json::to_vec(&json).unwrap())).with_header("trace", "t-1")
}

#[test]
fn rules_map_and_derive_the_envelope() {
    let message = orders()
        .integrate(order(json!({
            "order_id": "O-17", "cust": {"name": "ada"}, "amt": "19.90", "paid": "yes",
            "placed": "2024-03-01 12:30:00", "zip": 1010, "rev": "4", "debug": {"x": 1}
        })))
        .unwrap();
    assert_eq!(message.id, "O-17");
    assert_eq!(message.source, "orders");
    assert_eq!(message.key.as_deref(), Some("ada"));
    assert_eq!(message.version, Some(4));
    assert_eq!(message.timestamp.to_rfc3339(), "2024-03-01T12:30:00+00:00");
    assert_eq!(message.headers["trace"], "t-1");
    assert_eq!(
        Value::Object(message.body),
        json!({
            "order_id": "O-17", "cust": {}, "customer": {"name": "ada"}, "amount": 19.9, "paid": true,
            "placed": "2024-03-01T12:30:00Z", "zip": "1010", "rev": "4", "currency": "EUR",
            "meta": {"channel": "web"}
        })
    );
}

#[test]
fn rules_are_per_source() {
    let i = orders();
    // The same payload from another source follows the default convention: no id rule, no checks.
    let message = i.integrate(Raw::Json(br#"{"amt": "x"}"#.to_vec())).unwrap();
    assert_eq!(message.body["amt"], "x");
    assert_eq!(message.id.len(), 36);
}

#[test]
fn each_failing_rule_is_named_with_its_field() {
    let i = orders();
    let base = json!({"order_id": "O-1", "cust": {"name": "a"}, "amt": "5", "rev": 1, "placed": "2024-01-01"});
    let with = |patch: Value| {
        let mut v = base.clone();
        for (k, val) in patch.as_object().unwrap() {
            if val.is_null() {
                v.as_object_mut().unwrap().remove(k);
            } else {
                v[k] = val.clone();
            }
        }
        order(v)
    };
    let cases = [
        (json!({"amt": "5x"}), "amount", "convert"),
        (json!({"amt": null}), "amount", "required"),
        (json!({"amt": "-1"}), "amount", "min"),
        (json!({"amt": "10001"}), "amount", "max"),
        (json!({"paid": "maybe"}), "paid", "convert"),
        (json!({"placed": "yesterday"}), "placed", "convert"),
        (json!({"currency": "GBP"}), "currency", "allowed"),
        (json!({"order_id": "X-1"}), "order_id", "pattern"),
        (
            json!({"order_id": "O-1234567890123"}),
            "order_id",
            "max_len",
        ),
        (json!({"order_id": 5}), "order_id", "type"),
        (json!({"order_id": null}), "order_id", "id"),
        (json!({"rev": -2}), "rev", "version"),
        (json!({"rev": "v2"}), "rev", "version"),
        (json!({"cust": null}), "customer.name", "key"),
        (json!({"placed": null}), "placed", "timestamp"),
        (json!({"meta": 3}), "meta.channel", "defaults"),
        (json!({"customer": "flat"}), "customer.name", "rename"),
    ];
    for (patch, field, rule) in cases {
        let rejection = i
            .integrate(with(patch.clone()))
            .expect_err(&patch.to_string());
        assert_eq!(
            rejection.reason.field(),
            Some(field),
            "{patch}: {}",
            rejection.reason
        );
        assert_eq!(
            rejection.reason.rule(),
            rule,
            "{patch}: {}",
            rejection.reason
        );
        assert!(rejection.reason.to_string().contains(field));
    }
}

#[test]
fn conversions_reject_overflow_with_a_reason() {
    let i = Integrator::builder()
        .default_rules(SourceRules::new().convert("n", Conversion::Integer))
        .build()
        .unwrap();
    assert_eq!(
        body_of(&i, Raw::Json(br#"{"n": "9223372036854775807"}"#.to_vec()))["n"],
        json!(i64::MAX)
    );
    for bad in [
        r#"{"n": "9223372036854775808"}"#,
        r#"{"n": 1e300}"#,
        r#"{"n": 18446744073709551615}"#,
    ] {
        let reason = reason_of(&i, Raw::Json(bad.as_bytes().to_vec()));
        assert!(reason.to_string().contains("overflows"), "{bad}: {reason}");
    }
}

// ---- rules from files ----

const RULES_TOML: &str = r#"
[default]
place = { text = "message", bool = "flag" }

[sources.orders]
id = "order_id"
key = "customer.id"
version = "rev"
drop = ["debug"]
rename = [{ from = "cust_id", to = "customer.id" }]
convert = [{ field = "amount", to = "number" }, { field = "rev", to = "integer" }]
defaults = { currency = "EUR", "meta.channel" = "web" }
max_depth = 8
max_size = 4096

[[sources.orders.validate]]
field = "amount"
required = true
type = "number"
min = 0
max = 1e6
"#;

const RULES_JSON: &str = r#"{
  "default": { "place": { "text": "message", "bool": "flag" } },
  "sources": {
    "orders": {
      "id": "order_id", "key": "customer.id", "version": "rev", "drop": ["debug"],
      "rename": [{ "from": "cust_id", "to": "customer.id" }],
      "convert": [{ "field": "amount", "to": "number" }, { "field": "rev", "to": "integer" }],
      "defaults": { "currency": "EUR", "meta.channel": "web" },
      "max_depth": 8, "max_size": 4096,
      "validate": [{ "field": "amount", "required": true, "type": "number", "min": 0, "max": 1e6 }]
    }
  }
}"#;

#[test]
fn toml_and_json_rules_are_the_same_rules() {
    let toml = RuleSet::from_toml_str(RULES_TOML).unwrap();
    let json = RuleSet::from_json_str(RULES_JSON).unwrap();
    assert_eq!(toml, json);
    let i = Integrator::builder().rules(toml).build().unwrap();
    let m = i
        .integrate(Input::new(
            "orders",
            Raw::Logfmt("order_id=A1 cust_id=9 amount=3.5 rev=2 debug=1".into()),
        ))
        .unwrap();
    assert_eq!(
        (m.id.as_str(), m.key.as_deref(), m.version),
        ("A1", Some("9"), Some(2))
    );
    assert_eq!(m.body["currency"], "EUR");
    assert!(!m.body.contains_key("debug"));
    assert_eq!(body_of(&i, Raw::Text("t".into())), json!({"message": "t"}));
    assert_eq!(body_of(&i, Raw::Bool(true)), json!({"flag": true}));
}

#[test]
fn rule_files_load_by_extension() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let (toml, json, txt) = (dir.join("r.toml"), dir.join("r.json"), dir.join("r.txt"));
    std::fs::write(&toml, RULES_TOML).unwrap();
    std::fs::write(&json, RULES_JSON).unwrap();
    std::fs::write(&txt, "").unwrap();
    assert_eq!(
        RuleSet::from_path(&toml).unwrap(),
        RuleSet::from_path(&json).unwrap()
    );
    assert!(matches!(
        RuleSet::from_path(&txt),
        Err(RuleError::UnknownFormat(_))
    ));
    assert!(matches!(
        RuleSet::from_path(dir.join("missing.toml")),
        Err(RuleError::Io { .. })
    ));
}

#[test]
fn bad_rules_are_pointed_at() {
    let json_err = RuleSet::from_json_str(
        r#"{"sources": {"o": {"validate": [{"field": "a"}, {"field": "b", "mni": 1}]}}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        json_err.contains("sources.o.validate[1]") && json_err.contains("mni"),
        "{json_err}"
    );

    let toml_err =
        RuleSet::from_toml_str("[sources.o]\nconvert = [{ field = \"a\", to = \"nubmer\" }]\n")
            .unwrap_err()
            .to_string();
    assert!(
        toml_err.contains("nubmer") && toml_err.contains("line 2"),
        "{toml_err}"
    );

    let compile = |rules: SourceRules| {
        Integrator::builder()
            .source("o", rules)
            .build()
            .unwrap_err()
            .to_string()
    };
    let bad_regex = compile(
        SourceRules::new()
            .check(FieldCheck::new("a"))
            .check(FieldCheck::new("b").pattern("(")),
    );
    assert!(
        bad_regex.starts_with("rules = \"sources.o.validate[1].pattern\" is invalid:"),
        "{bad_regex}"
    );
    let bad_path = compile(SourceRules::new().rename("a", "b..c"));
    assert!(
        bad_path.starts_with("rules = \"sources.o.rename[0].to\" is invalid:"),
        "{bad_path}"
    );
    let bad_range = compile(SourceRules::new().check(FieldCheck::new("a").range(5.0, 1.0)));
    assert!(bad_range.contains("validate[0].min"), "{bad_range}");
    assert!(compile(SourceRules::new().max_size(0)).contains("max_size"));
}

// ---- batches and queues ----

fn mixed(n: usize) -> Vec<Input> {
    let header = CsvHeader::new(["id", "v"]);
    (0..n)
        .map(|i| {
            let raw = match i % 7 {
                0 => Raw::Json(format!(r#"{{"i": {i}}}"#).into_bytes()),
                1 => Raw::Text(format!("t{i}")),
                2 => Raw::Int(i as i64),
                3 => Raw::Csv {
                    header: header.clone(),
                    row: format!("{i},x"),
                },
                4 => Raw::Logfmt(format!("i={i}")),
                5 => Raw::Json(b"[]".to_vec()),
                _ => Raw::Bool(true),
            };
            Input::new("mix", raw).with_header("seq", i.to_string())
        })
        .collect()
}

fn check_outcome(inputs: &[Input], out: &mqsync::integrate::BatchOutcome) {
    assert_eq!(out.len(), inputs.len());
    let expected_messages: Vec<&String> = inputs
        .iter()
        .filter(|x| !matches!(&x.raw, Raw::Bool(_)) && x.raw != Raw::Json(b"[]".to_vec()))
        .map(|x| &x.headers["seq"])
        .collect();
    let got: Vec<&String> = out.messages.iter().map(|m| &m.headers["seq"]).collect();
    assert_eq!(got, expected_messages, "messages keep input order");
    for r in &out.rejected {
        assert_eq!(
            &inputs[r.index], &*r.input,
            "a rejection carries its own input"
        );
    }
    assert!(out.rejected.windows(2).all(|w| w[0].index < w[1].index));
}

#[test]
fn batches_keep_order_and_account_for_everything() {
    let inputs = mixed(5000);
    for integrator in [
        Integrator::default(),
        Integrator::builder().chunk_size(1).build().unwrap(),
        Integrator::builder()
            .pool(Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .build()
                    .unwrap(),
            ))
            .chunk_size(1)
            .build()
            .unwrap(),
        Integrator::builder()
            .pool(Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(3)
                    .build()
                    .unwrap(),
            ))
            .chunk_size(64)
            .build()
            .unwrap(),
    ] {
        let out = integrator.integrate_batch(inputs.clone());
        check_outcome(&inputs, &out);
        assert_eq!(out.rejected.len(), (0..5000).filter(|i| i % 7 >= 5).count());
    }
    // Called from one of the pool's own threads (a batch inside a rayon task), and from a
    // thread of another pool.
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap(),
    );
    let integrator = Integrator::builder()
        .pool(Arc::clone(&pool))
        .chunk_size(100)
        .build()
        .unwrap();
    check_outcome(
        &inputs,
        &pool.install(|| integrator.integrate_batch(inputs.clone())),
    );
    let other = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let (first, second) = other.join(
        || integrator.integrate_batch(inputs.clone()),
        || integrator.integrate_batch(inputs.clone()),
    );
    check_outcome(&inputs, &first);
    check_outcome(&inputs, &second);
    let small = mixed(10);
    check_outcome(
        &small,
        &Integrator::default().integrate_batch(small.clone()),
    );
    assert!(Integrator::default()
        .integrate_batch(Vec::<Raw>::new())
        .is_empty());
}

/// A parallel batch gives the messages and rejections that one call at a time gives.
#[test]
fn parallel_batches_give_what_single_calls_give() {
    let inputs = mixed(3000);
    let parallel = Integrator::builder()
        .pool(Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap(),
        ))
        .chunk_size(16)
        .build()
        .unwrap();
    let out = parallel.integrate_batch(inputs.clone());
    let one_by_one: Vec<_> = inputs
        .iter()
        .cloned()
        .map(|input| Integrator::default().integrate(input))
        .collect();
    let (mut messages, mut rejected) = (out.messages.iter(), out.rejected.iter());
    for (index, single) in one_by_one.into_iter().enumerate() {
        match single {
            Ok(expected) => {
                let got = messages.next().expect("as many messages");
                assert_eq!(
                    (&got.source, &got.key, got.version, &got.headers, &got.body),
                    (
                        &expected.source,
                        &expected.key,
                        expected.version,
                        &expected.headers,
                        &expected.body
                    )
                );
            }
            Err(expected) => {
                let got = rejected.next().expect("as many rejections");
                assert_eq!(
                    (got.index, &got.input, &got.reason),
                    (index, &expected.input, &expected.reason)
                );
            }
        }
    }
    assert!(messages.next().is_none() && rejected.next().is_none());
}

#[test]
fn rejected_inputs_replay_once_fixed() {
    let strict = Integrator::default();
    let out = strict.integrate_batch(mixed(20));
    let lenient = Integrator::builder()
        .default_rules(
            SourceRules::new().place(Placement::default().bool(Some("b")).array(Some("a"))),
        )
        .build()
        .unwrap();
    let replayed = lenient.integrate_batch(
        out.rejected
            .into_iter()
            .map(|r| r.input)
            .collect::<Vec<_>>(),
    );
    assert!(replayed.rejected.is_empty());
}

#[test]
fn queue_to_queue_moves_everything_in_order() {
    let inputs = MsQueue::new();
    let source = mixed(3000);
    source.iter().cloned().for_each(|x| inputs.push(x));
    let (messages, rejected) = (MsQueue::new(), MsQueue::new());
    let integrator = Integrator::builder().chunk_size(50).build().unwrap();
    let report = integrator.integrate_queue(&inputs, &messages, &rejected);
    assert_eq!(report.messages + report.rejected, 3000);
    assert!(inputs.is_empty());
    let mut out = mqsync::integrate::BatchOutcome::default();
    messages.pop_many(&mut out.messages, usize::MAX);
    rejected.pop_many(&mut out.rejected, usize::MAX);
    check_outcome(&source, &out);
}

// ---- adversarial inputs ----

#[test]
fn adversarial_inputs_are_rejected_with_reasons() {
    let i = Integrator::default();
    let deep_json = format!("{}1{}", "{\"a\":".repeat(100), "}".repeat(100));
    assert_eq!(
        reason_of(&i, Raw::Json(deep_json.into_bytes())),
        Reason::TooDeep { limit: 64 }
    );
    let deeper_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        reason_of(&i, Raw::Json(deeper_json.into_bytes())),
        Reason::TooDeep { limit: 128 }
    );
    let deep_value = (0..100).fold(json!(1), |v, _| json!({ "a": v }));
    assert_eq!(
        reason_of(&i, Raw::Value(deep_value.clone())),
        Reason::TooDeep { limit: 64 }
    );
    let very_deep_value = (0..1000).fold(json!(1), |v, _| json!([v]));
    assert_eq!(
        reason_of(&i, Raw::Value(very_deep_value)),
        Reason::TooDeep { limit: 64 }
    );
    let deep_msgpack = rmp_serde::to_vec(&deep_value).unwrap();
    assert_eq!(
        reason_of(&i, Raw::MsgPack(deep_msgpack)),
        Reason::TooDeep { limit: 64 }
    );
    let mut nested_arrays = vec![0x91u8; 1_000_000]; // a million one-element arrays
    nested_arrays.push(0x01);
    assert!(matches!(
        reason_of(&i, Raw::MsgPack(nested_arrays)),
        Reason::TooDeep { .. } | Reason::TooLarge { .. }
    ));
    // A MessagePack array header that claims 4 billion elements and holds none.
    assert!(matches!(
        reason_of(&i, Raw::MsgPack(vec![0xdd, 0xff, 0xff, 0xff, 0xff])),
        Reason::Malformed { .. }
    ));

    let huge = "x".repeat(2 << 20);
    assert!(matches!(
        reason_of(&i, Raw::Text(huge.clone())),
        Reason::TooLarge { limit: 1048576, .. }
    ));
    assert!(matches!(
        reason_of(&i, Raw::Json(format!("{{\"s\":\"{huge}\"}}").into_bytes())),
        Reason::TooLarge { .. }
    ));
    assert!(matches!(
        reason_of(
            &i,
            Raw::Json(vec![b'{', b'"', 0xc3, 0x28, b'"', b':', b'1', b'}'])
        ),
        Reason::Malformed { .. }
    ));
    assert!(matches!(
        reason_of(&i, Raw::Float(f64::NAN)),
        Reason::Malformed { .. }
    ));
}

// ---- round trips ----

fn sample_message() -> Message {
    let mut message = orders()
        .integrate(order(json!({
            "order_id": "O-9", "cust": {"name": "ü"}, "amt": 1e-7, "rev": 18446744073709551615u64,
            "placed": "2024-03-01T12:30:00.123456789Z", "list": [i64::MIN, null, true, "s", {"x": 2.5}]
        })))
        .unwrap();
    message.headers.insert("h".into(), "v".into());
    message
}

#[test]
fn json_and_msgpack_round_trip_is_identity() {
    let message = sample_message();
    assert_eq!(
        Message::from_json(&message.to_json().unwrap()).unwrap(),
        message
    );
    assert_eq!(
        Message::from_msgpack(&message.to_msgpack().unwrap()).unwrap(),
        message
    );
    let plain = Integrator::default()
        .integrate(Raw::Text("x".into()))
        .unwrap();
    assert_eq!(
        Message::from_msgpack(&plain.to_msgpack().unwrap()).unwrap(),
        plain
    );
}

#[test]
fn csv_rows_for_a_target() {
    let message = sample_message();
    let row = message
        .to_csv_row(&[
            "@id",
            "@key",
            "@version",
            "@timestamp",
            "@header.h",
            "customer.name",
            "list",
            "nope",
            "@source",
        ])
        .unwrap();
    assert_eq!(
        row,
        r#"O-9,ü,18446744073709551615,2024-03-01T12:30:00.123456789+00:00,v,ü,"[-9223372036854775808,null,true,""s"",{""x"":2.5}]",,orders"#
    );
}

// ---- properties ----

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_raw() -> impl Strategy<Value = Raw> {
    let bytes = || prop::collection::vec(any::<u8>(), 0..200);
    prop_oneof![
        bytes().prop_map(Raw::Json),
        bytes().prop_map(Raw::Bytes),
        bytes().prop_map(Raw::MsgPack),
        bytes().prop_map(|b| Raw::Logfmt(String::from_utf8_lossy(&b).into_owned())),
        bytes().prop_map(|b| Raw::Text(String::from_utf8_lossy(&b).into_owned())),
        (prop::collection::vec(".{0,4}", 0..4), bytes()).prop_map(|(h, b)| Raw::Csv {
            header: CsvHeader::new(h),
            row: String::from_utf8_lossy(&b).into_owned()
        }),
        any::<f64>().prop_map(Raw::Float),
        any::<i64>().prop_map(Raw::Int),
        arb_json().prop_map(|v| Raw::Json(serde_json::to_vec(&v).unwrap())),
        arb_json().prop_map(|v| Raw::MsgPack(rmp_serde::to_vec(&v).unwrap())),
        arb_json().prop_map(Raw::Value),
    ]
}

fn strict_rules() -> Integrator {
    Integrator::builder()
        .default_rules(
            SourceRules::new()
                .convert("a", Conversion::Integer)
                .convert("b", Conversion::Timestamp)
                .convert("c", Conversion::Bool)
                .rename("d", "e.f")
                .default_value("g.h", json!(1))
                .check(FieldCheck::new("a").range(-1e3, 1e3))
                .check(FieldCheck::new("e.f").length(0, 3).pattern("^a"))
                .version_from("v")
                .max_depth(4)
                .max_size(150),
        )
        .chunk_size(8)
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_inputs_are_always_accounted_for(inputs in prop::collection::vec(arb_raw(), 0..40)) {
        for integrator in [Integrator::default(), strict_rules()] {
            let out = integrator.integrate_batch(inputs.clone());
            prop_assert_eq!(out.len(), inputs.len());
            for r in &out.rejected {
                prop_assert_eq!(&Input::from(inputs[r.index].clone()), &*r.input);
                prop_assert!(!r.reason.to_string().is_empty());
            }
        }
    }

    #[test]
    fn arbitrary_objects_pass_and_round_trip(value in arb_json()) {
        let wrapped = json!({ "v": value });
        let message = Integrator::builder()
            .default_rules(SourceRules::new().max_depth(MAX_DEPTH_CEILING))
            .build()
            .unwrap()
            .integrate(Raw::Json(serde_json::to_vec(&wrapped).unwrap()))
            .unwrap();
        prop_assert_eq!(&Value::Object(message.body.clone()), &wrapped);
        prop_assert_eq!(&Message::from_json(&message.to_json().unwrap()).unwrap(), &message);
        prop_assert_eq!(&Message::from_msgpack(&message.to_msgpack().unwrap()).unwrap(), &message);
    }

    #[test]
    fn arbitrary_rule_files_never_panic(text in ".{0,200}") {
        if let Ok(rules) = RuleSet::from_toml_str(&text) {
            let _ = Integrator::builder().rules(rules).build();
        }
        if let Ok(rules) = RuleSet::from_json_str(&text) {
            let _ = Integrator::builder().rules(rules).build();
        }
    }
}

// ---- the optional `schema` rule ----

fn schema_rules() -> SourceRules {
    SourceRules::new().convert("age", Conversion::Integer).schema(json!({
        "type": "object",
        "required": ["name"],
        "properties": { "name": { "type": "string" }, "age": { "type": "integer", "minimum": 0 } }
    }))
}

#[cfg(feature = "schema")]
#[test]
fn schema_rule_validates_the_final_body() {
    let i = Integrator::builder()
        .default_rules(schema_rules())
        .build()
        .unwrap();
    assert!(i.integrate(Raw::Logfmt("name=ada age=36".into())).is_ok());
    let reason = reason_of(&i, Raw::Logfmt("name=ada age=-1".into()));
    assert_eq!(
        (reason.field(), reason.rule()),
        (Some("age"), "schema"),
        "{reason}"
    );
    let reason = reason_of(&i, Raw::Logfmt("age=3".into()));
    assert_eq!(
        (reason.field(), reason.rule()),
        (Some("(body)"), "schema"),
        "{reason}"
    );
    let bad = SourceRules::new().schema(json!({"type": 12}));
    let err = Integrator::builder().source("s", bad).build().unwrap_err();
    assert_eq!(err.field(), "rules");
    let text = err.to_string();
    assert!(
        text.starts_with("rules = \"sources.s.schema\" is invalid:"),
        "{text}"
    );
}

#[cfg(not(feature = "schema"))]
#[test]
fn schema_rule_needs_the_feature() {
    let err = Integrator::builder()
        .source("s", schema_rules())
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sources.s.schema") && err.contains("`schema` cargo feature"),
        "{err}"
    );
}
