//! Checks on client-supplied values, each failing with the error code clients see.

use throng_protocol::ErrorCode;

type Refusal = (ErrorCode, String);

fn is_id_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':')
}

/// Room ids: 1-128 bytes of `A-Z a-z 0-9 _ - . :`.
pub fn room_id(id: &str) -> Result<(), Refusal> {
    if (1..=128).contains(&id.len()) && id.bytes().all(is_id_char) {
        Ok(())
    } else {
        Err((
            ErrorCode::INVALID_VALUE,
            "room ids are 1-128 characters of A-Z a-z 0-9 _ - . :".into(),
        ))
    }
}

/// Message kinds: 1-32 bytes of the same characters.
pub fn kind(kind: &str) -> Result<(), Refusal> {
    if (1..=32).contains(&kind.len()) && kind.bytes().all(is_id_char) {
        Ok(())
    } else {
        Err((
            ErrorCode::INVALID_VALUE,
            "message kinds are 1-32 characters of A-Z a-z 0-9 _ - . :".into(),
        ))
    }
}

/// The body, encoded as JSON, must fit in `max` bytes.
pub fn body_size(body: &serde_json::Value, max: u32) -> Result<(), Refusal> {
    let mut counter = ByteCounter(0);
    serde_json::to_writer(&mut counter, body).expect("counting never fails");
    if counter.0 <= max as usize {
        Ok(())
    } else {
        Err((
            ErrorCode::MESSAGE_TOO_LARGE,
            format!("message body is {} bytes; the limit is {max}", counter.0),
        ))
    }
}

/// Counts bytes written without keeping them.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn room_ids() {
        let long = "r".repeat(129);
        let cases = [
            ("lobby", true),
            ("a:b.c-d_e", true),
            ("", false),
            ("has space", false),
            ("ümlaut", false),
            (long.as_str(), false),
        ];
        for (id, ok) in cases {
            assert_eq!(room_id(id).is_ok(), ok, "{id:?}");
        }
    }

    #[test]
    fn kinds() {
        for (k, ok) in [
            ("text", true),
            ("gift.rose", true),
            ("", false),
            ("a/b", false),
        ] {
            assert_eq!(kind(k).is_ok(), ok, "{k:?}");
        }
    }

    #[test]
    fn body_sizes() {
        assert!(body_size(&json!("abc"), 5).is_ok(), "\"abc\" is 5 bytes");
        assert_eq!(
            body_size(&json!("abcd"), 5).unwrap_err().0,
            ErrorCode::MESSAGE_TOO_LARGE
        );
    }
}
