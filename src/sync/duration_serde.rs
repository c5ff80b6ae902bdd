//! Durations in configuration files: `"250ms"`, `"5s"`, `"2m"` (units `ns`, `us`, `ms`, `s`, `m`,
//! `h`), or a bare number of milliseconds. Serialized as the largest whole unit (`"5s"`,
//! `"250ms"`, `"1500us"`). Used with `#[serde(with = "duration_serde")]` on the sync layer's
//! configuration types.

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;
use std::fmt;
use std::time::Duration;

/// The units a duration string may end in, longest suffix first where two share an ending.
const UNITS: [(&str, u128); 6] = [
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
];

pub(crate) fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*value))
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

/// The largest unit that divides the duration exactly.
fn format(value: Duration) -> String {
    let nanos = value.as_nanos();
    for (unit, size) in [("s", 1_000_000_000u128), ("ms", 1_000_000), ("us", 1_000)] {
        if nanos % size == 0 {
            return format!("{}{unit}", nanos / size);
        }
    }
    format!("{nanos}ns")
}

/// Parses `"<integer><unit>"`.
fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, size) = UNITS
        .iter()
        .find_map(|(unit, size)| text.strip_suffix(unit).map(|n| (n, *size)))
        .ok_or_else(|| format!("{text:?} has no unit (ns, us, ms, s, m, h)"))?;
    let count: u128 = number.trim().parse().map_err(|_| {
        format!(
            "{text:?} is not a whole number of {}",
            &text[number.len()..]
        )
    })?;
    let nanos = count
        .checked_mul(size)
        .ok_or_else(|| format!("{text:?} is too long"))?;
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| format!("{text:?} is too long"))?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"250ms\" or \"5s\", or a number of milliseconds")
    }

    fn visit_u64<E: de::Error>(self, ms: u64) -> Result<Duration, E> {
        Ok(Duration::from_millis(ms))
    }

    fn visit_i64<E: de::Error>(self, ms: i64) -> Result<Duration, E> {
        u64::try_from(ms)
            .map(Duration::from_millis)
            .map_err(|_| E::custom(format!("a duration cannot be negative: {ms}")))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse(text).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::{format, parse};
    use std::time::Duration;

    #[test]
    fn parse_and_format_round_trip() {
        for (text, value) in [
            ("250ms", Duration::from_millis(250)),
            ("5s", Duration::from_secs(5)),
            ("2m", Duration::from_secs(120)),
            ("1h", Duration::from_secs(3600)),
            ("1500us", Duration::from_micros(1500)),
            ("7ns", Duration::from_nanos(7)),
        ] {
            assert_eq!(parse(text), Ok(value), "{text}");
            assert_eq!(parse(&format(value)), Ok(value));
        }
        assert_eq!(format(Duration::from_secs(120)), "120s");
        assert!(parse("5").unwrap_err().contains("no unit"));
        assert!(parse("x5s").is_err());
        assert!(parse("-5s").is_err());
    }
}
