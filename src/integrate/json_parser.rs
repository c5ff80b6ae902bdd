//! A JSON reader that builds a `serde_json::Value` straight from the text, for the common path
//! of [`json`](super::json).
//!
//! It answers `Some(value)` only with the value `serde_json::from_slice::<Value>` gives for the
//! same bytes (serde_json with `float_roundtrip`, as this crate builds it), and `None` for
//! anything else: malformed text, nesting past the limit, and also text it chooses not to
//! handle (a lone surrogate escape, nesting near serde_json's recursion limit). `None` costs
//! only speed: the caller then runs serde_json itself, whose answer (a value or a rejection
//! with its reason) stands. The tests in `json.rs` hold it to serde_json on the fuzz corpus,
//! `tests/data`, edge cases and arbitrary text.
//!
//! Why a reader of our own rather than serde_json's deserializer with a visitor: serde's data
//! model goes through a visitor per value and a `MapAccess` per member, and serde_json's float
//! parsing with `float_roundtrip` gathers the digits into a scratch buffer first. Here:
//! - strings are scanned 16 bytes a step (two 64-bit words, no `unsafe`) for `"`, `\` and
//!   control bytes, and copied once;
//! - the whole text is checked as UTF-8 once up front, so a string is a slice of a `&str`;
//! - integers are accumulated as serde_json does (same number kinds, same overflow to `f64`);
//!   other numbers are handed as one token to the standard library's `f64` parser, which is
//!   correctly rounded, as serde_json's `float_roundtrip` parser is, so both give the same
//!   `f64` — for exponents of up to four digits: past 0x10000 the standard library stops
//!   adding exponent digits, so longer exponents go to serde_json.
//!
//! The grammar is RFC 8259's, exactly as serde_json reads it: whitespace is space, tab, line
//! feed and carriage return; no comments, no trailing commas, no byte order mark; a number has
//! no leading `+`, no leading zeros and digits on both sides of a `.`; duplicate keys keep the
//! last value.

use serde_json::{Map, Number, Value};

/// serde_json's deserializer refuses nesting of 128 containers; above this the reader
/// declines and lets serde_json say so.
const NESTING_LIMIT: usize = 120;

/// The longest exponent the reader parses itself (see [`Reader::number`]).
const MAX_EXPONENT_DIGITS: usize = 4;

/// [`parse`]'s answer for `bytes`, or `None` (see the module docs).
///
/// `object_levels` is how many levels of containers the value may open if it is an object,
/// `array_levels` if it is an array, itself included (they differ at the top of a message body,
/// where an array is placed under a field).
pub(crate) fn parse(bytes: &[u8], object_levels: usize, array_levels: usize) -> Option<Value> {
    if object_levels == 0 {
        // A body allowed no levels at all fails the depth walk whatever it holds (the rules
        // refuse a `max_depth` of 0; this keeps the reader's answer the reference's anyway).
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let mut reader = Reader { text, at: 0 };
    reader.skip_whitespace();
    let value = reader.value(
        object_levels.min(NESTING_LIMIT),
        array_levels.min(NESTING_LIMIT),
    )?;
    reader.skip_whitespace();
    (reader.at == text.len()).then_some(value)
}

/// The text and how far it has been read.
struct Reader<'a> {
    /// The whole payload, valid UTF-8.
    text: &'a str,
    /// The next byte to read; always at most `text.len()`.
    at: usize,
}

/// `byte` repeated in every byte of a word.
const fn splat(byte: u8) -> u64 {
    u64::from_ne_bytes([byte; 8])
}

/// The high bit of each byte of `word` that is `"`, `\` or below 0x20 (and maybe of bytes
/// above such a byte, through the borrow; the lowest set bit is always exact).
const fn special_bytes(word: u64) -> u64 {
    let quote = word ^ splat(b'"');
    let backslash = word ^ splat(b'\\');
    // The lowest byte that is zero (or below 0x20) is the lowest one where subtracting 1 (or
    // 0x20) from the whole word sets the high bit while its own high bit was clear; bytes
    // above it may be marked too, through the borrow.
    let zero_or_low = quote.wrapping_sub(splat(1)) & !quote
        | backslash.wrapping_sub(splat(1)) & !backslash
        | word.wrapping_sub(splat(0x20)) & !word;
    zero_or_low & splat(0x80)
}

impl<'a> Reader<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.at += 1;
        }
    }

    /// Consumes `literal` (the rest of `true`, `false` or `null`) or fails.
    fn expect(&mut self, literal: &[u8]) -> Option<()> {
        let end = self.at + literal.len();
        (self.bytes().get(self.at..end)? == literal).then(|| self.at = end)
    }

    /// One value starting at a non-whitespace byte; `object_levels` / `array_levels` as in
    /// [`parse`].
    fn value(&mut self, object_levels: usize, array_levels: usize) -> Option<Value> {
        let first = self.peek()?;
        self.at += 1;
        match first {
            b'{' => self.object(object_levels.checked_sub(1)?),
            b'[' => self.array(array_levels.checked_sub(1)?),
            b'"' => self.string().map(Value::String),
            b't' => self.expect(b"rue").map(|()| Value::Bool(true)),
            b'f' => self.expect(b"alse").map(|()| Value::Bool(false)),
            b'n' => self.expect(b"ull").map(|()| Value::Null),
            b'-' | b'0'..=b'9' => {
                self.at -= 1;
                self.number().map(Value::Number)
            }
            _ => None,
        }
    }

    /// An object after its `{`; its members may open `levels` more levels.
    fn object(&mut self, levels: usize) -> Option<Value> {
        let mut members = Map::new();
        let mut more = !self.closes_at_once(b'}');
        while more {
            if self.peek()? != b'"' {
                return None;
            }
            self.at += 1;
            let key = self.string()?;
            self.skip_whitespace();
            if self.peek()? != b':' {
                return None;
            }
            self.at += 1;
            self.skip_whitespace();
            let value = self.value(levels, levels)?;
            members.insert(key, value);
            more = self.after_member(b'}')?;
        }
        Some(Value::Object(members))
    }

    /// An array after its `[`; its items may open `levels` more levels.
    fn array(&mut self, levels: usize) -> Option<Value> {
        let mut items = Vec::new();
        let mut more = !self.closes_at_once(b']');
        while more {
            items.push(self.value(levels, levels)?);
            more = self.after_member(b']')?;
        }
        Some(Value::Array(items))
    }

    /// Right after a container opens: consumes whitespace, and `close` if it comes next (an
    /// empty container). Whether it did.
    fn closes_at_once(&mut self, close: u8) -> bool {
        self.skip_whitespace();
        let empty = self.peek() == Some(close);
        if empty {
            self.at += 1;
        }
        empty
    }

    /// After a member of a container: `Some(true)` at a `,` (consumed, with the whitespace
    /// after it), `Some(false)` at `close` (consumed), `None` at anything else.
    fn after_member(&mut self, close: u8) -> Option<bool> {
        self.skip_whitespace();
        let byte = self.peek()?;
        self.at += 1;
        if byte == b',' {
            self.skip_whitespace();
            Some(true)
        } else {
            (byte == close).then_some(false)
        }
    }

    /// Where the next `"`, `\` or control byte (below 0x20) is, from `self.at` on.
    fn next_special(&self) -> Option<usize> {
        let rest = &self.bytes()[self.at..];
        // Two words a step: one branch per 16 bytes for long strings.
        let mut pairs = rest.chunks_exact(16);
        for (step, pair) in pairs.by_ref().enumerate() {
            let (low, high) = pair.split_at(8);
            let low = special_bytes(u64::from_le_bytes(low.try_into().expect("eight bytes")));
            let high = special_bytes(u64::from_le_bytes(high.try_into().expect("eight bytes")));
            if low | high != 0 {
                // Little-endian: the lowest set bit marks the first such byte.
                let offset = if low != 0 {
                    low.trailing_zeros() / 8
                } else {
                    8 + high.trailing_zeros() / 8
                };
                return Some(self.at + step * 16 + offset as usize);
            }
        }
        let tail = pairs.remainder();
        let done = rest.len() - tail.len();
        tail.iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
            .map(|offset| self.at + done + offset)
    }

    /// A string after its opening `"`, up to and past its closing one.
    fn string(&mut self) -> Option<String> {
        let end = self.next_special()?;
        if self.bytes()[end] == b'"' {
            // The common case: no escapes. The slice ends at an ASCII byte, so at a character
            // boundary.
            let text = self.text[self.at..end].to_owned();
            self.at = end + 1;
            return Some(text);
        }
        let mut text = String::new();
        let mut end = end;
        loop {
            text.push_str(&self.text[self.at..end]);
            self.at = end + 1;
            match self.bytes()[end] {
                b'"' => return Some(text),
                b'\\' => self.escape(&mut text)?,
                _ => return None, // a control byte: serde_json refuses it
            }
            end = self.next_special()?;
        }
    }

    /// One escape after its `\`, appended to `text`.
    fn escape(&mut self, text: &mut String) -> Option<()> {
        let kind = self.peek()?;
        self.at += 1;
        let decoded = match kind {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                match unit {
                    0xD800..=0xDBFF => {
                        // A high surrogate must be followed by an escaped low one; anything
                        // else is left to serde_json.
                        self.expect(b"\\u")?;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return None;
                        }
                        let code = 0x10000
                            + ((u32::from(unit) - 0xD800) << 10)
                            + (u32::from(low) - 0xDC00);
                        char::from_u32(code)?
                    }
                    0xDC00..=0xDFFF => return None,
                    unit => char::from_u32(u32::from(unit))?,
                }
            }
            _ => return None,
        };
        text.push(decoded);
        Some(())
    }

    /// Four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Option<u16> {
        let digits = self.bytes().get(self.at..self.at + 4)?;
        let mut unit = 0u16;
        for &digit in digits {
            unit = unit * 16 + char::from(digit).to_digit(16)? as u16;
        }
        self.at += 4;
        Some(unit)
    }

    /// Consumes ASCII digits; how many.
    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        self.at - start
    }

    /// A number, with serde_json's kinds: an integer that fits is `u64` (or `i64` when
    /// negative, except `-0`), anything else `f64`.
    fn number(&mut self) -> Option<Number> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let int_start = self.at;
        match self.digits() {
            0 => return None,
            1 => {}
            _ if self.bytes()[int_start] == b'0' => return None, // a leading zero
            _ => {}
        }
        let int_end = self.at;
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return None;
            }
            integer = false;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            // More than four exponent digits go to serde_json: the standard library stops
            // adding exponent digits past 0x10000 (`1e700000` would read as `1e70000`), which
            // changes the value when thousands of zeros stand before or after the point.
            // serde_json keeps the exponent exactly.
            if !(1..=MAX_EXPONENT_DIGITS).contains(&self.digits()) {
                return None;
            }
            integer = false;
        }
        if integer {
            if let Some(number) = integer_number(&self.bytes()[int_start..int_end], negative) {
                return Some(number);
            }
        }
        // A fraction, an exponent of at most four digits, or an integer past u64: one correctly
        // rounded parse of the token (the JSON number grammar is a subset of what
        // `f64::from_str` takes, and both parsers count digits and exponents of this size
        // exactly). Infinity is out of range for serde_json.
        let float: f64 = self.text[start..self.at].parse().ok()?;
        Number::from_f64(float)
    }
}

/// The number serde_json makes of an integer's `digits`, unless it needs more than 64 bits
/// (then it is an `f64`, made by the caller).
fn integer_number(digits: &[u8], negative: bool) -> Option<Number> {
    let mut magnitude = 0u64;
    for &digit in digits {
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    if !negative {
        return Some(Number::from(magnitude));
    }
    // serde_json: `-0`, and magnitudes past i64's, are floats.
    match 0i64.checked_sub_unsigned(magnitude) {
        Some(value) if magnitude != 0 => Some(Number::from(value)),
        _ => Number::from_f64(-(magnitude as f64)),
    }
}
