//! The inputs both pipeline examples start from: three source systems (and a meter) sending
//! their own shapes, some malformed, and the per-source rules that integrate them.

use mqsync::integrate::{CsvHeader, Input, Raw};
use std::collections::HashMap;

/// The per-source rules: how each system's shape becomes a keyed, versioned message.
pub const RULES: &str = r#"
[sources.orders]
key = "order_id"
version = "rev"
convert = [{ field = "amount", to = "number" }]
[[sources.orders.validate]]
field = "amount"
required = true
type = "number"
min = 0

[sources.sensors]
key = "sensor"
version = "seq"
convert = [{ field = "celsius", to = "float" }, { field = "seq", to = "integer" }]
[[sources.sensors.validate]]
field = "celsius"
min = -50
max = 150

[sources.logs]
key = "service"
version = "seq"
[[sources.logs.validate]]
field = "level"
allowed = ["debug", "info", "warn", "error"]

[sources.meters]
place = { number = "reading" }
"#;

/// The examples' seeded generator: `fastrand::Rng::with_seed(n)` is deterministic per seed.
pub use fastrand::Rng;

/// Three systems (plus a meter) sending their own shapes; about 3% malformed.
pub fn source_inputs(count: usize) -> Vec<Input> {
    let mut rng = Rng::with_seed(0x5EED_1234_ABCD_0001);
    let sensors = CsvHeader::parse("sensor,seq,celsius").expect("a valid header");
    let mut rev: HashMap<String, u64> = HashMap::new();
    (0..count as u64)
        .map(|i| {
            let bad = rng.u64(..100) < 3;
            match i % 4 {
                0 => {
                    let id = format!("o-{}", rng.u64(..2_000));
                    let r = rev.entry(id.clone()).or_default();
                    *r += 1;
                    let amount = if bad { "-1".to_string() } else { format!("{}.{:02}", rng.u64(..500), rng.u64(..100)) };
                    let body = format!(
                        r#"{{"order_id":"{id}","rev":{r},"customer":"c-{}","amount":"{amount}","status":"paid"}}"#,
                        rng.u64(..300)
                    );
                    Input::new("orders", Raw::Json(body.into_bytes()))
                }
                1 => {
                    let id = format!("s-{}", rng.u64(..200));
                    let r = rev.entry(id.clone()).or_default();
                    *r += 1;
                    let row = if bad { format!("{id},{r}") } else { format!("{id},{r},{}.{}", rng.u64(..40), rng.u64(..10)) };
                    Input::new("sensors", Raw::Csv { header: sensors.clone(), row })
                }
                2 => {
                    let service = format!("svc-{}", rng.u64(..50));
                    let r = rev.entry(service.clone()).or_default();
                    *r += 1;
                    let level = if bad { "loud" } else { ["info", "warn", "error"][rng.u64(..3) as usize] };
                    let line = format!(r#"level={level} service={service} seq={r} msg="latency {} ms""#, rng.u64(..900));
                    Input::new("logs", Raw::Logfmt(line))
                }
                _ => {
                    if bad {
                        Input::new("meters", Raw::Json(b"{not json".to_vec()))
                    } else {
                        Input::new("meters", Raw::Int(rng.u64(..1_000_000) as i64))
                    }
                }
            }
        })
        .collect()
}

/// The delivery priority of each source system (orders first).
pub fn priority(source: &str) -> u8 {
    match source {
        "orders" => 3,
        "sensors" => 2,
        "logs" => 1,
        _ => 0,
    }
}
