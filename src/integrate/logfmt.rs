//! A logfmt line reader: `level=info msg="disk full" retry` → `{"level": "info", "msg":
//! "disk full", "retry": true}`.
//!
//! logfmt has no specification beyond Brandur Leach's 2013 essay and Heroku's usage, and no
//! well-kept Rust crate, so this small reader follows the de-facto rules of go-logfmt: pairs are
//! separated by spaces or tabs; a value is bare (up to the next space) or double-quoted with
//! `\"`, `\\`, `\n`, `\t`, `\r` escapes; a key without `=` is a flag (`true`); a later duplicate
//! key wins. Values stay strings; `convert` rules give them types.

use serde_json::{Map, Value};

/// Reads one logfmt line into an object; the error says what is wrong and where.
pub(crate) fn parse(line: &str) -> Result<Map<String, Value>, String> {
    let bytes = line.as_bytes();
    let mut map = Map::new();
    let mut i = 0;
    // Every index below is either a position just past an ASCII byte or the end, so every
    // slice of `line` falls on a char boundary.
    loop {
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        if i == bytes.len() {
            return Ok(map);
        }
        let key_start = i;
        while i < bytes.len() && bytes[i] != b'=' && !is_space(bytes[i]) {
            if bytes[i] == b'"' {
                return Err(format!("unexpected quote in a key at byte {i}"));
            }
            i += 1;
        }
        if i == key_start {
            return Err(format!("empty key at byte {i}"));
        }
        let key = line[key_start..i].to_owned();
        if i == bytes.len() || bytes[i] != b'=' {
            map.insert(key, Value::Bool(true));
            continue;
        }
        i += 1; // past '='
        let value = if i < bytes.len() && bytes[i] == b'"' {
            let (value, end) = quoted(line, i + 1)?;
            if end < bytes.len() && !is_space(bytes[end]) {
                return Err(format!("missing space after a quoted value at byte {end}"));
            }
            i = end;
            value
        } else {
            let start = i;
            while i < bytes.len() && !is_space(bytes[i]) {
                if bytes[i] == b'"' {
                    return Err(format!("unexpected quote in a bare value at byte {i}"));
                }
                i += 1;
            }
            line[start..i].to_owned()
        };
        map.insert(key, Value::String(value));
    }
}

/// Reads a quoted value whose first byte is at `start` (just past the opening quote); returns
/// the unescaped text and the index just past the closing quote.
fn quoted(line: &str, start: usize) -> Result<(String, usize), String> {
    let bytes = line.as_bytes();
    let mut out = String::new();
    let mut run = start;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                out.push_str(&line[run..i]);
                return Ok((out, i + 1));
            }
            b'\\' => {
                out.push_str(&line[run..i]);
                let escaped = match bytes.get(i + 1) {
                    Some(b'"') => '"',
                    Some(b'\\') => '\\',
                    Some(b'n') => '\n',
                    Some(b't') => '\t',
                    Some(b'r') => '\r',
                    _ => return Err(format!("unknown escape at byte {i}")),
                };
                out.push(escaped);
                i += 2;
                run = i;
            }
            _ => i += 1,
        }
    }
    Err(format!(
        "unterminated quoted value starting at byte {}",
        start - 1
    ))
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pairs_quotes_flags() {
        let m = parse(r#"level=info msg="disk \"sda\" full" retry  empty= ünï=côdé"#).unwrap();
        assert_eq!(
            Value::Object(m),
            json!({"level": "info", "msg": "disk \"sda\" full", "retry": true, "empty": "", "ünï": "côdé"})
        );
        assert_eq!(parse("").unwrap().len(), 0);
        assert_eq!(parse("a=1 a=2").unwrap()["a"], json!("2"));
    }

    #[test]
    fn malformed_lines_say_where() {
        assert!(parse(r#"msg="open"#).unwrap_err().contains("unterminated"));
        assert!(parse("=x").unwrap_err().contains("empty key"));
        assert!(parse(r#"a="x"y"#).unwrap_err().contains("missing space"));
        assert!(parse(r#"a="\q""#).unwrap_err().contains("escape"));
        assert!(parse(r#"a=x"y"#).is_err());
    }
}
