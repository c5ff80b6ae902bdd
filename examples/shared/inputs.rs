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

/// A small deterministic generator (xorshift).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Three systems (plus a meter) sending their own shapes; about 3% malformed.
pub fn source_inputs(count: usize) -> Vec<Input> {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let sensors = CsvHeader::parse("sensor,seq,celsius").expect("a valid header");
    let mut rev: HashMap<String, u64> = HashMap::new();
    (0..count as u64)
        .map(|i| {
            let bad = rng.below(100) < 3;
            match i % 4 {
                0 => {
                    let id = format!("o-{}", rng.below(2_000));
                    let r = rev.entry(id.clone()).or_default();
                    *r += 1;
                    let amount = if bad { "-1".to_string() } else { format!("{}.{:02}", rng.below(500), rng.below(100)) };
                    let body = format!(
                        r#"{{"order_id":"{id}","rev":{r},"customer":"c-{}","amount":"{amount}","status":"paid"}}"#,
                        rng.below(300)
                    );
                    Input::new("orders", Raw::Json(body.into_bytes()))
                }
                1 => {
                    let id = format!("s-{}", rng.below(200));
                    let r = rev.entry(id.clone()).or_default();
                    *r += 1;
                    let row = if bad { format!("{id},{r}") } else { format!("{id},{r},{}.{}", rng.below(40), rng.below(10)) };
                    Input::new("sensors", Raw::Csv { header: sensors.clone(), row })
                }
                2 => {
                    let service = format!("svc-{}", rng.below(50));
                    let r = rev.entry(service.clone()).or_default();
                    *r += 1;
                    let level = if bad { "loud" } else { ["info", "warn", "error"][rng.below(3) as usize] };
                    let line = format!(r#"level={level} service={service} seq={r} msg="latency {} ms""#, rng.below(900));
                    Input::new("logs", Raw::Logfmt(line))
                }
                _ => {
                    if bad {
                        Input::new("meters", Raw::Json(b"{not json".to_vec()))
                    } else {
                        Input::new("meters", Raw::Int(rng.below(1_000_000) as i64))
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
