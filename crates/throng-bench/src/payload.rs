//! The text every benchmark message carries, and how a subscriber finds it in a raw frame.
//!
//! Subscribers never decode envelopes on the hot path: a frame (a JSON or MessagePack
//! `batch`, an MQTT PUBLISH, an XMPP stanza…) is scanned for the `tb1|` marker with
//! `memchr`, and the few ASCII fields after it are parsed in place. The padding after the
//! fields is plain dots, which no envelope escapes, so the payload reads the same in every
//! protocol.

use crate::target::BenchPayload;
use memchr::memmem;
use std::sync::LazyLock;

/// Starts every payload; also the payload format's version.
pub const MARKER: &str = "tb1|";

/// The byte used to pad a payload up to its size: one that no envelope escapes.
const PADDING: char = '.';

static MARKER_FINDER: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(MARKER.as_bytes()));

impl BenchPayload {
    /// The payload as text, `tb1|<sender>|<seq>|<sent_at_us>|<lane>|` padded with dots up
    /// to `size` bytes (a payload whose fields are longer than `size` is not cut).
    pub fn encode(&self, size: usize) -> String {
        let mut text = format!(
            "{MARKER}{}|{}|{}|{}|",
            self.sender, self.seq, self.sent_at_us, self.lane
        );
        while text.len() < size {
            text.push(PADDING);
        }
        text
    }

    /// Parses a payload at the start of `bytes` (which begins with the marker). Anything
    /// after the fields is ignored.
    pub fn parse(bytes: &[u8]) -> Option<BenchPayload> {
        let rest = bytes.strip_prefix(MARKER.as_bytes())?;
        let (sender, rest) = parse_field(rest)?;
        let (seq, rest) = parse_field(rest)?;
        let (sent_at_us, rest) = parse_field(rest)?;
        let (lane, _) = parse_field(rest)?;
        Some(BenchPayload {
            sender: u32::try_from(sender).ok()?,
            seq,
            sent_at_us,
            lane: u8::try_from(lane).ok().filter(|lane| *lane < 3)?,
        })
    }

    /// Appends every well-formed payload found in `frame` to `out`, in order, and returns
    /// how many it found. Marker occurrences that are not followed by valid fields are
    /// skipped.
    pub fn find_all(frame: &[u8], out: &mut Vec<BenchPayload>) -> usize {
        let before = out.len();
        for start in MARKER_FINDER.find_iter(frame) {
            if let Some(payload) = BenchPayload::parse(&frame[start..]) {
                out.push(payload);
            }
        }
        out.len() - before
    }
}

/// One decimal field terminated by `|`: its value and the bytes after the bar. At most 20
/// digits, so a value never overflows silently.
fn parse_field(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let end = memchr::memchr(b'|', &bytes[..bytes.len().min(21)])?;
    if end == 0 {
        return None;
    }
    let mut value: u64 = 0;
    for &digit in &bytes[..end] {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    Some((value, &bytes[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(sender: u32, seq: u64, lane: u8) -> BenchPayload {
        BenchPayload {
            sender,
            seq,
            sent_at_us: 1_700_000_000_123_456,
            lane,
        }
    }

    #[test]
    fn encode_pads_to_the_size_and_parses_back() {
        for (p, size) in [
            (payload(0, 0, 0), 100),
            (payload(17, 123_456, 1), 100),
            (payload(u32::MAX, u64::MAX, 2), 10),
            (payload(3, 9, 1), 4096),
        ] {
            let text = p.encode(size);
            let header = format!("tb1|{}|{}|{}|{}|", p.sender, p.seq, p.sent_at_us, p.lane);
            assert_eq!(text.len(), size.max(header.len()), "{text}");
            assert!(text.starts_with(&header));
            assert!(text[header.len()..].bytes().all(|b| b == b'.'));
            assert_eq!(BenchPayload::parse(text.as_bytes()), Some(p));
        }
    }

    fn found(frame: &str) -> Vec<(u32, u64, u8)> {
        let mut out = Vec::new();
        let n = BenchPayload::find_all(frame.as_bytes(), &mut out);
        assert_eq!(n, out.len());
        out.iter().map(|p| (p.sender, p.seq, p.lane)).collect()
    }

    #[test]
    fn find_all_reads_payloads_inside_any_envelope() {
        let a = payload(1, 5, 1).encode(40);
        let b = payload(2, 6, 0).encode(40);
        type Found = Vec<(u32, u64, u8)>;
        let cases: Vec<(String, Found)> = vec![
            (String::new(), vec![]),
            ("{\"type\":\"pong\",\"ts\":5}".into(), vec![]),
            (
                format!(
                    r#"{{"type":"batch","room":"r","msgs":[{{"seq":1,"body":"{a}"}},{{"seq":2,"body":"{b}"}}]}}"#
                ),
                vec![(1, 5, 1), (2, 6, 0)],
            ),
            // XMPP-ish and MQTT-ish framing around the same text.
            (
                format!("<message><body>{a}</body></message>"),
                vec![(1, 5, 1)],
            ),
            (format!("\x30\x2a\x00\x04room{b}"), vec![(2, 6, 0)]),
            // A payload cut short at the end of the frame is skipped, not misread.
            (format!("{a}tb1|9|9|"), vec![(1, 5, 1)]),
            // Markers followed by garbage are skipped.
            ("tb1|x|1|2|1|tb1||1|2|1|tb1|1|2|3|7|".into(), vec![]),
            // Adjacent payloads without padding.
            (
                "tb1|1|2|3|1|tb1|4|5|6|2|".into(),
                vec![(1, 2, 1), (4, 5, 2)],
            ),
            // A value too large for its field.
            ("tb1|4294967296|1|1|1|".into(), vec![]),
            ("tb1|1|99999999999999999999|1|1|".into(), vec![]),
        ];
        for (frame, expect) in cases {
            assert_eq!(found(&frame), expect, "frame {frame:?}");
        }
    }

    #[test]
    fn binary_frames_are_scanned_as_bytes() {
        // A MessagePack str8 header (0xd9, length) before the text, as the binary codec
        // writes a string of this length.
        let text = payload(8, 77, 2).encode(100);
        let mut frame = vec![0x82, 0xa4, b'b', b'o', b'd', b'y', 0xd9, text.len() as u8];
        frame.extend_from_slice(text.as_bytes());
        frame.extend_from_slice(&[0xff, 0x00]);
        let mut out = Vec::new();
        assert_eq!(BenchPayload::find_all(&frame, &mut out), 1);
        assert_eq!((out[0].sender, out[0].seq, out[0].lane), (8, 77, 2));
    }
}
