//! Turns the server base URL the app configures into the WebSocket URL the SDK dials.
//!
//! Apps know their server as `http://host:7700` (the same base they use for the HTTP
//! API), so the SDK accepts that and derives `ws://host:7700/v1/ws?token=...`.

use throng_protocol::WS_PATH;

/// Derives the WebSocket endpoint from a base URL.
///
/// - The scheme maps `http`→`ws` and `https`→`wss`; `ws` and `wss` are kept. Schemes are
///   matched without regard to case.
/// - A path on the base is kept as a prefix (a server behind a proxy at `/chat` is
///   reached at `/chat/v1/ws`); a base that already ends in `/v1/ws` is used as is.
/// - The token goes in the `token` query parameter, percent-encoded. An empty token adds
///   no parameter (the server then refuses with `token_missing`, which tests rely on).
/// - A base with a query or fragment is refused: the token has its own field.
pub fn websocket_url(base: &str, token: &str) -> Result<String, String> {
    let base = base.trim();
    let (scheme, rest) = base.split_once("://").ok_or_else(|| {
        format!("server URL {base:?} has no scheme (expected http://, https://, ws:// or wss://)")
    })?;
    let ws_scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => {
            return Err(format!(
                "server URL scheme {other:?} is not one of http, https, ws, wss"
            ))
        }
    };
    if rest.contains(['?', '#']) {
        return Err(format!(
            "server URL {base:?} must not carry a query or fragment; set the token in ClientConfig::token"
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(format!("server URL {base:?} has no host"));
    }
    let prefix = path.trim_end_matches('/');
    let path = if prefix.ends_with(WS_PATH) {
        prefix.to_owned()
    } else {
        format!("{prefix}{WS_PATH}")
    };
    let mut url = format!("{ws_scheme}://{authority}{path}");
    if !token.is_empty() {
        url.push_str("?token=");
        url.push_str(&percent_encode(token));
    }
    Ok(url)
}

/// Percent-encodes everything except RFC 3986 unreserved characters. A JWT is made of
/// unreserved characters only, so real tokens pass through unchanged; the encoding only
/// protects against odd test tokens breaking the URL.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(base: &str, token: &str, expect: Result<&str, &str>) {
        let got = websocket_url(base, token);
        match expect {
            Ok(url) => assert_eq!(got.as_deref(), Ok(url), "base {base:?}"),
            Err(fragment) => {
                let error = got.expect_err(base);
                assert!(error.contains(fragment), "base {base:?}: {error}");
            }
        }
    }

    #[test]
    fn derives_the_websocket_url_from_a_base_url() {
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.sig-_x";
        let with_token = |url: &str| format!("{url}?token={token}");
        let cases: Vec<(&str, String)> = vec![
            (
                "http://127.0.0.1:7700",
                with_token("ws://127.0.0.1:7700/v1/ws"),
            ),
            (
                "http://127.0.0.1:7700/",
                with_token("ws://127.0.0.1:7700/v1/ws"),
            ),
            (
                "https://chat.example.com",
                with_token("wss://chat.example.com/v1/ws"),
            ),
            (
                "https://chat.example.com/",
                with_token("wss://chat.example.com/v1/ws"),
            ),
            (
                "ws://localhost:7700",
                with_token("ws://localhost:7700/v1/ws"),
            ),
            (
                "ws://localhost:7700/",
                with_token("ws://localhost:7700/v1/ws"),
            ),
            (
                "wss://chat.example.com:8443",
                with_token("wss://chat.example.com:8443/v1/ws"),
            ),
            ("HTTP://Host:1", with_token("ws://Host:1/v1/ws")),
            ("http://proxy/chat", with_token("ws://proxy/chat/v1/ws")),
            ("http://proxy/chat/", with_token("ws://proxy/chat/v1/ws")),
            ("ws://host/v1/ws", with_token("ws://host/v1/ws")),
            ("ws://host/v1/ws/", with_token("ws://host/v1/ws")),
            ("http://[::1]:7700", with_token("ws://[::1]:7700/v1/ws")),
            ("  http://host:7700  ", with_token("ws://host:7700/v1/ws")),
        ];
        for (base, expect) in &cases {
            check(base, token, Ok(expect));
        }
    }

    #[test]
    fn refuses_base_urls_it_cannot_use() {
        let cases = [
            ("127.0.0.1:7700", "no scheme"),
            ("ftp://host", "not one of"),
            ("http://", "no host"),
            ("http:///v1/ws", "no host"),
            ("http://host/?token=x", "query or fragment"),
            ("http://host#top", "query or fragment"),
        ];
        for (base, fragment) in cases {
            check(base, "t", Err(fragment));
        }
    }

    #[test]
    fn token_is_percent_encoded_and_omitted_when_empty() {
        let cases = [
            ("", "ws://h/v1/ws"),
            ("a.b-c_d~e", "ws://h/v1/ws?token=a.b-c_d~e"),
            ("a b&c=d", "ws://h/v1/ws?token=a%20b%26c%3Dd"),
            ("é", "ws://h/v1/ws?token=%C3%A9"),
        ];
        for (token, expect) in cases {
            check("http://h", token, Ok(expect));
        }
    }
}
