//! The on-disk format: segment files, their header, and the record frame.
//!
//! A segment file is named by the position of its first record, zero-padded to 20 decimal
//! digits (`00000000000000001024.seg`), so names sort in position order. It starts with a
//! 16-byte header, then holds records back to back:
//!
//! ```text
//! header:  "MQSJRNL1" (8 bytes)  base position (u64, little endian)
//! record:  length (u32 LE)  CRC-32 (u32 LE)  payload (length bytes)
//! ```
//!
//! The CRC-32 (IEEE, as zlib and Ethernet) covers the four length bytes and the payload, so a
//! damaged length is caught as well as a damaged payload. A record's position is its segment's
//! base plus its index in the segment; positions are not stored per record.

use std::path::{Path, PathBuf};

/// The first 8 bytes of every segment file.
pub(crate) const MAGIC: &[u8; 8] = b"MQSJRNL1";
/// The segment header: the magic and the base position.
pub(crate) const HEADER_LEN: u64 = 16;
/// The record frame before the payload: length and CRC.
pub(crate) const FRAME_LEN: u64 = 8;
/// The file name suffix of a segment.
const SUFFIX: &str = ".seg";

/// The path of the segment whose first record is at `base`.
pub(crate) fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}{SUFFIX}"))
}

/// The base position a segment file name encodes, or `None` for any other file name.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The header of the segment at `base`.
pub(crate) fn header(base: u64) -> [u8; HEADER_LEN as usize] {
    let mut out = [0; HEADER_LEN as usize];
    out[..8].copy_from_slice(MAGIC);
    out[8..].copy_from_slice(&base.to_le_bytes());
    out
}

/// Checks a segment header; `Err` names what is wrong.
pub(crate) fn check_header(bytes: &[u8], base: u64) -> Result<(), &'static str> {
    if bytes.len() < HEADER_LEN as usize {
        return Err("segment header is incomplete");
    }
    if &bytes[..8] != MAGIC {
        return Err("not a journal segment (bad magic)");
    }
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[8..16]);
    if u64::from_le_bytes(word) != base {
        return Err("segment header names another base position than its file name");
    }
    Ok(())
}

/// The CRC-32 of a record: over its length bytes, then its payload.
fn checksum(len: [u8; 4], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len);
    hasher.update(payload);
    hasher.finalize()
}

/// Appends the frame and the payload of one record to `out`.
///
/// The caller has checked that `payload.len()` fits the journal's record limit (≤ `u32::MAX`).
pub(crate) fn encode(payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(u32::try_from(payload.len()).is_ok());
    // Lossless: checked by the caller (the record limit is a u32).
    let len = (payload.len() as u32).to_le_bytes();
    out.reserve(FRAME_LEN as usize + payload.len());
    out.extend_from_slice(&len);
    out.extend_from_slice(&checksum(len, payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Appends one record to `out`, framed in place: reserves the frame, lets `payload` append the
/// payload bytes after it, then fills in the length and the CRC. Returns the payload's length.
/// The bytes are exactly those [`encode`] writes for the same payload.
///
/// A payload longer than `u32::MAX` bytes gets a wrong frame; the caller checks the length
/// against the record limit (a `u32`) and drops the bytes before they reach a file.
///
/// `payload` must only append: it must not remove, overwrite or shift the bytes already in
/// `out`.
///
/// # Panics
///
/// If `payload` removes bytes it did not append. One that overwrites or shifts bytes without
/// shortening `out` is not caught (the assert sees only the length): whatever bytes follow the
/// frame are framed as the payload, and bytes before the frame stay changed.
pub(crate) fn encode_with(out: &mut Vec<u8>, payload: impl FnOnce(&mut Vec<u8>)) -> usize {
    let frame_at = out.len();
    out.extend_from_slice(&[0; FRAME_LEN as usize]);
    payload(out);
    let payload_at = frame_at + FRAME_LEN as usize;
    assert!(
        out.len() >= payload_at,
        "a record writer removed bytes it did not append"
    );
    let payload_len = out.len() - payload_at;
    // Truncating only when the caller will refuse the record (see above).
    let len = (payload_len as u32).to_le_bytes();
    // The CRC covers the length bytes, then the payload: with the length put just before the
    // payload for a moment (where the CRC goes), that is one contiguous run, hashed in one
    // call (a short record costs a CRC call's setup as much as its bytes).
    let crc_at = frame_at + 4;
    out[crc_at..payload_at].copy_from_slice(&len);
    let crc = crc32fast::hash(&out[crc_at..]);
    out[frame_at..crc_at].copy_from_slice(&len);
    out[crc_at..payload_at].copy_from_slice(&crc.to_le_bytes());
    payload_len
}

/// What is at the front of a byte slice that should start with a record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A whole record whose CRC matches: its payload, and the bytes it takes with its frame.
    Record(&'a [u8], usize),
    /// The slice ends inside the frame or the payload.
    Incomplete,
    /// Eight zero bytes where a frame should be: never written (a length of 0 has the CRC of
    /// four zero bytes, which is not 0).
    Zeros,
    /// A whole frame whose CRC does not match.
    Bad(&'static str),
    /// A whole record whose CRC matches but whose length is above the limit given (written by
    /// a journal opened with a larger `max_record_bytes`).
    TooLong(usize),
}

/// Decodes the record at the front of `bytes`, with payloads limited to `max_len` bytes.
/// The CRC is checked whatever the limit, so a whole record above the limit is `TooLong`, not
/// damage. Never panics, whatever the bytes (a fuzz target checks it).
pub(crate) fn decode(bytes: &[u8], max_len: u32) -> Frame<'_> {
    let Some(frame) = bytes.get(..FRAME_LEN as usize) else {
        return Frame::Incomplete;
    };
    if frame.iter().all(|&b| b == 0) {
        return Frame::Zeros;
    }
    let mut len = [0; 4];
    len.copy_from_slice(&frame[..4]);
    let mut crc = [0; 4];
    crc.copy_from_slice(&frame[4..8]);
    // Lossless: a u32 fits in usize on every target this crate builds for (32 and 64 bits).
    let payload_len = u32::from_le_bytes(len) as usize;
    let Some(end) = (FRAME_LEN as usize).checked_add(payload_len) else {
        return Frame::Incomplete;
    };
    let Some(payload) = bytes.get(FRAME_LEN as usize..end) else {
        return Frame::Incomplete;
    };
    if checksum(len, payload) != u32::from_le_bytes(crc) {
        return Frame::Bad("record checksum does not match");
    }
    if payload_len > max_len as usize {
        return Frame::TooLong(payload_len);
    }
    Frame::Record(payload, end)
}

/// True when the frame at the front of `bytes` (which runs past their end) would be followed by
/// a whole, CRC-valid frame if one bit of its length were different: evidence that its length
/// is damaged rather than its record torn. Tries the 32 one-bit changes of the length, so the
/// cost is at most 32 CRCs of what follows (a scan of every offset would be quadratic for
/// payloads full of small integers).
pub(crate) fn whole_frame_after(bytes: &[u8]) -> bool {
    let Some(len) = bytes.get(..4) else {
        return false;
    };
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
    (0..32).any(|bit| {
        // Lossless: u32 into usize on 32- and 64-bit targets.
        let next = FRAME_LEN as usize + (len ^ (1 << bit)) as usize;
        bytes.get(next..).is_some_and(|rest| {
            matches!(
                decode(rest, u32::MAX),
                Frame::Record(..) | Frame::TooLong(_)
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort() {
        let dir = Path::new("/j");
        let a = segment_path(dir, 7);
        let b = segment_path(dir, 1024);
        assert_eq!(a.file_name().unwrap(), "00000000000000000007.seg");
        assert!(a < b);
        assert_eq!(parse_segment_name("00000000000000001024.seg"), Some(1024));
        assert_eq!(parse_segment_name("1024.seg"), None);
        assert_eq!(parse_segment_name("0000000000000000102x.seg"), None);
        assert_eq!(parse_segment_name("00000000000000001024.seg.corrupt"), None);
        assert_eq!(
            parse_segment_name(&format!("{:020}.seg", u64::MAX)),
            Some(u64::MAX)
        );
    }

    #[test]
    fn headers_check_magic_and_base() {
        assert_eq!(check_header(&header(5), 5), Ok(()));
        assert!(check_header(&header(5), 6).is_err());
        assert!(check_header(&header(5)[..15], 5).is_err());
        let mut bad = header(5);
        bad[0] = b'X';
        assert!(check_header(&bad, 5).is_err());
    }

    #[test]
    fn records_round_trip_and_every_damage_is_caught() {
        for payload in [&b""[..], b"x", b"hello journal", &[0u8; 300]] {
            let mut buf = Vec::new();
            encode(payload, &mut buf);
            assert_eq!(decode(&buf, 1 << 20), Frame::Record(payload, buf.len()));
            // Every cut is incomplete, never a record.
            for cut in 0..buf.len() {
                let frame = decode(&buf[..cut], 1 << 20);
                assert!(
                    matches!(frame, Frame::Incomplete | Frame::Zeros),
                    "cut {cut}: {frame:?}"
                );
            }
            // Every single-bit flip is caught (CRC-32 detects all 1-bit errors).
            for byte in 0..buf.len() {
                for bit in 0..8 {
                    let mut damaged = buf.clone();
                    damaged[byte] ^= 1 << bit;
                    match decode(&damaged, 1 << 20) {
                        Frame::Record(p, _) => panic!("flip {byte}.{bit} accepted as {p:?}"),
                        Frame::TooLong(n) => panic!("flip {byte}.{bit} accepted as {n} bytes"),
                        Frame::Bad(_) | Frame::Incomplete | Frame::Zeros => {}
                    }
                }
            }
        }
    }

    #[test]
    fn framing_in_place_writes_the_same_bytes() {
        for payload in [&b""[..], b"x", b"hello journal", &[7u8; 300]] {
            let mut copied = b"before".to_vec();
            encode(payload, &mut copied);
            let mut in_place = b"before".to_vec();
            let len = encode_with(&mut in_place, |out| out.extend_from_slice(payload));
            assert_eq!(len, payload.len());
            assert_eq!(in_place, copied);
        }
    }

    #[test]
    fn limits_and_zeros() {
        let mut buf = Vec::new();
        encode(&[1; 100], &mut buf);
        assert_eq!(decode(&buf, 99), Frame::TooLong(100));
        assert!(!whole_frame_after(&buf));
        // A record whose length lost a high bit to damage, followed by a whole record.
        let mut two = buf.clone();
        encode(b"after", &mut two);
        two[2] ^= 0x40;
        assert!(whole_frame_after(&two));
        // A record cut short is not.
        assert!(!whole_frame_after(&two[..50]));
        assert_eq!(decode(&[0; 8], 10), Frame::Zeros);
        assert_eq!(decode(&[0; 3], 10), Frame::Incomplete);
        // An empty payload's frame is not all zeros.
        let mut empty = Vec::new();
        encode(b"", &mut empty);
        assert_eq!(decode(&empty, 0), Frame::Record(b"", 8));
    }
}
