//! Type conversions for the `convert` rule, and timestamp parsing in common formats.
//!
//! Every conversion either yields a valid JSON value or says why not; none rounds, wraps or
//! guesses (`"1e400"` is not a float, `2^63` is not an `Integer`).

use super::path::kind_of;
use super::rules::Conversion;
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Number, Value};

/// Converts `value`; the error is the reason's detail.
pub(crate) fn convert(value: &Value, to: Conversion) -> Result<Value, String> {
    match to {
        Conversion::Number => to_number(value),
        Conversion::Integer => to_integer(value).map(Value::from),
        Conversion::Float => to_float(value).and_then(float_value),
        Conversion::String => to_text(value).map(Value::String),
        Conversion::Bool => to_bool(value).map(Value::Bool),
        Conversion::Timestamp => to_timestamp(value)
            .map(|t| Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))),
    }
}

fn to_number(value: &Value) -> Result<Value, String> {
    match value {
        Value::Number(_) => Ok(value.clone()),
        Value::String(s) => {
            let t = s.trim();
            if let Ok(i) = t.parse::<i64>() {
                Ok(Value::from(i))
            } else if let Ok(u) = t.parse::<u64>() {
                Ok(Value::from(u))
            } else {
                parse_float(s).and_then(float_value)
            }
        }
        other => Err(format!("a {} cannot become a number", kind_of(other))),
    }
}

fn to_integer(value: &Value) -> Result<i64, String> {
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i)
            } else if n.is_u64() {
                Err(format!("{n} overflows a 64-bit integer"))
            } else {
                float_to_integer(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => {
            let t = s.trim();
            match t.parse::<i64>() {
                Ok(i) => Ok(i),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow
                    ) =>
                {
                    Err(format!("`{}` overflows a 64-bit integer", clip(t)))
                }
                Err(_) => float_to_integer(parse_float(s)?),
            }
        }
        other => Err(format!("a {} cannot become an integer", kind_of(other))),
    }
}

fn float_to_integer(f: f64) -> Result<i64, String> {
    // -2^63 is exact in f64 and fits; 2^63 is exact and does not.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !f.is_finite() {
        Err(format!("{f} is not a finite number"))
    } else if f.fract() != 0.0 {
        Err(format!("{f} has a fraction"))
    } else if !(-LIMIT..LIMIT).contains(&f) {
        Err(format!("{f} overflows a 64-bit integer"))
    } else {
        Ok(f as i64)
    }
}

fn to_float(value: &Value) -> Result<f64, String> {
    match value {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a float")),
        Value::String(s) => parse_float(s),
        other => Err(format!("a {} cannot become a float", kind_of(other))),
    }
}

fn parse_float(s: &str) -> Result<f64, String> {
    let t = s.trim();
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(f),
        Ok(_) => Err(format!("`{}` is not a finite number", clip(t))),
        Err(_) => Err(format!("`{}` is not a number", clip(t))),
    }
}

fn float_value(f: f64) -> Result<Value, String> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| format!("{f} is not a finite number"))
}

fn to_text(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("a {} cannot become a string", kind_of(other))),
    }
}

fn to_bool(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" | "y" | "t" => Ok(true),
            "false" | "no" | "off" | "0" | "n" | "f" => Ok(false),
            _ => Err(format!("`{}` is not a bool", clip(s))),
        },
        other => Err(format!("{} is not a bool", clip(&other.to_string()))),
    }
}

/// A timestamp from a string in a common format or a Unix time in seconds or milliseconds.
pub(crate) fn to_timestamp(value: &Value) -> Result<DateTime<Utc>, String> {
    match value {
        Value::String(s) => parse_timestamp(s.trim())
            .ok_or_else(|| format!("`{}` is not a timestamp in a known format", clip(s))),
        Value::Number(n) => n
            .as_f64()
            .and_then(from_unix)
            .ok_or_else(|| format!("{n} is not a Unix time in range")),
        other => Err(format!("a {} cannot become a timestamp", kind_of(other))),
    }
}

fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    const NAIVE_FORMATS: [&str; 4] = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y/%m/%d %H:%M:%S%.f",
        "%d/%m/%Y %H:%M:%S%.f",
    ];
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(s) {
        return Some(t.with_timezone(&Utc));
    }
    // Apache / nginx access-log time: 10/Oct/2000:13:55:36 -0700
    if let Ok(t) = DateTime::parse_from_str(s, "%d/%b/%Y:%H:%M:%S %z") {
        return Some(t.with_timezone(&Utc));
    }
    for format in NAIVE_FORMATS {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    s.parse::<f64>().ok().and_then(from_unix)
}

/// Unix seconds, or milliseconds when the magnitude is above 10^11 (after the year 5138 in
/// seconds, 1973 in milliseconds).
fn from_unix(t: f64) -> Option<DateTime<Utc>> {
    if !t.is_finite() {
        return None;
    }
    let millis = if t.abs() >= 1e11 { t } else { t * 1000.0 };
    if millis.abs() > 8.0e15 {
        return None;
    }
    DateTime::from_timestamp_millis(millis.round() as i64)
}

/// At most 40 characters of `s`, for reasons that quote the input.
fn clip(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn number_from_strings() {
        assert_eq!(convert(&json!(" 42 "), Conversion::Number), Ok(json!(42)));
        assert_eq!(
            convert(&json!("18446744073709551615"), Conversion::Number),
            Ok(json!(u64::MAX))
        );
        assert_eq!(convert(&json!("1.5"), Conversion::Number), Ok(json!(1.5)));
        assert!(convert(&json!("12abc"), Conversion::Number)
            .unwrap_err()
            .contains("not a number"));
        assert!(convert(&json!("NaN"), Conversion::Number)
            .unwrap_err()
            .contains("finite"));
        assert!(convert(&json!("1e400"), Conversion::Number).is_err());
        assert!(convert(&json!(true), Conversion::Number).is_err());
    }

    #[test]
    fn integer_rejects_overflow_and_fractions() {
        assert_eq!(convert(&json!("-7"), Conversion::Integer), Ok(json!(-7)));
        assert_eq!(convert(&json!(3.0), Conversion::Integer), Ok(json!(3)));
        assert_eq!(convert(&json!("1e3"), Conversion::Integer), Ok(json!(1000)));
        assert!(convert(&json!("99999999999999999999"), Conversion::Integer)
            .unwrap_err()
            .contains("overflows"));
        assert!(convert(&json!(u64::MAX), Conversion::Integer)
            .unwrap_err()
            .contains("overflows"));
        assert!(convert(&json!(1e19), Conversion::Integer)
            .unwrap_err()
            .contains("overflows"));
        assert!(convert(&json!(2.5), Conversion::Integer)
            .unwrap_err()
            .contains("fraction"));
        assert_eq!(
            convert(&json!(i64::MIN as f64), Conversion::Integer),
            Ok(json!(i64::MIN))
        );
    }

    #[test]
    fn float_string_bool() {
        assert_eq!(convert(&json!("2.25"), Conversion::Float), Ok(json!(2.25)));
        assert!(convert(&json!("inf"), Conversion::Float).is_err());
        assert_eq!(convert(&json!(12), Conversion::String), Ok(json!("12")));
        assert_eq!(
            convert(&json!(false), Conversion::String),
            Ok(json!("false"))
        );
        assert!(convert(&json!([1]), Conversion::String).is_err());
        assert_eq!(convert(&json!("YES"), Conversion::Bool), Ok(json!(true)));
        assert_eq!(convert(&json!("off"), Conversion::Bool), Ok(json!(false)));
        assert_eq!(convert(&json!(1), Conversion::Bool), Ok(json!(true)));
        assert!(convert(&json!(2), Conversion::Bool).is_err());
        assert!(convert(&json!("maybe"), Conversion::Bool).is_err());
    }

    #[test]
    fn timestamps_in_common_formats() {
        let want = json!("2024-03-01T12:30:00Z");
        for input in [
            "2024-03-01T12:30:00Z",
            "2024-03-01T14:30:00+02:00",
            "Fri, 01 Mar 2024 12:30:00 +0000",
            "01/Mar/2024:12:30:00 +0000",
            "2024-03-01 12:30:00",
            "2024-03-01T12:30:00",
            "2024/03/01 12:30:00",
            "1709296200",
            "1709296200000",
        ] {
            assert_eq!(
                convert(&json!(input), Conversion::Timestamp),
                Ok(want.clone()),
                "{input}"
            );
        }
        assert_eq!(convert(&json!(1709296200), Conversion::Timestamp), Ok(want));
        assert_eq!(
            convert(&json!("2024-03-01"), Conversion::Timestamp),
            Ok(json!("2024-03-01T00:00:00Z"))
        );
        assert!(convert(&json!("yesterday"), Conversion::Timestamp).is_err());
        assert!(convert(&json!(1e300), Conversion::Timestamp).is_err());
    }
}
