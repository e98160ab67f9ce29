//! The one error type of the SDK, and how a refused WebSocket handshake maps onto it.

use throng_protocol::ErrorCode;

/// Why a call to the SDK failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The connection could not be opened: bad URL, connection refused, an HTTP answer other
    /// than 101, 401 or 503, or no `hello` after the upgrade.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The server refused the token at the handshake (HTTP 401). Never retried: the same
    /// token would be refused again. `code` is the server's string code, e.g.
    /// `token_expired`.
    #[error("unauthorized ({code}): {message}")]
    Unauthorized { code: String, message: String },
    /// The server cannot take the connection now (HTTP 503): `draining` or
    /// `over_capacity`. Worth retrying later, or on another node.
    #[error("server unavailable ({code}): {message}")]
    Unavailable { code: String, message: String },
    /// The server refused the request with an `error` frame; the connection stays open.
    #[error("server refused the request: {code}: {message}")]
    Server { code: ErrorCode, message: String },
    /// No reply within `ClientConfig::request_timeout`.
    #[error("no reply within the request timeout")]
    Timeout,
    /// The connection is down (lost, being re-established, or closed by the app) or went
    /// down before the reply came. A request that fails this way may or may not have
    /// reached the server; the SDK never resends it.
    #[error("connection closed")]
    Closed,
    /// The app asked for something in a room this client is not in (e.g.
    /// [`crate::Client::like`]), refused without asking the server.
    #[error("not in room {room}")]
    NotJoined { room: String },
    /// The client already joined as many rooms as the SDK tracks ([`crate::MAX_ROOMS`]).
    #[error("too many rooms: the client tracks at most {limit}")]
    TooManyRooms { limit: usize },
    /// The server sent something this SDK does not understand, or the app asked for
    /// something the wire cannot carry (e.g. a text frame that is not UTF-8).
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl ClientError {
    /// Maps a handshake answer that was not `101 Switching Protocols`. The body is the
    /// server's `{"error":{"code":..,"message":..}}`; a body in another shape (a proxy's
    /// error page) is kept as the message under the code `http_<status>`.
    pub(crate) fn from_handshake_refusal(status: u16, body: &[u8]) -> ClientError {
        #[derive(serde::Deserialize)]
        struct Envelope {
            error: Refusal,
        }
        #[derive(serde::Deserialize)]
        struct Refusal {
            code: String,
            #[serde(default)]
            message: String,
        }
        let (code, message) = match serde_json::from_slice::<Envelope>(body) {
            Ok(envelope) => (envelope.error.code, envelope.error.message),
            Err(_) => (
                format!("http_{status}"),
                String::from_utf8_lossy(body).trim().to_owned(),
            ),
        };
        match status {
            401 => ClientError::Unauthorized { code, message },
            503 => ClientError::Unavailable { code, message },
            _ => ClientError::Connect(format!("HTTP {status} ({code}): {message}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_refusals_map_by_status_and_body() {
        let cases: [(u16, &str, ClientError); 5] = [
            (
                401,
                r#"{"error":{"code":"token_expired","message":"the token expired"}}"#,
                ClientError::Unauthorized {
                    code: "token_expired".into(),
                    message: "the token expired".into(),
                },
            ),
            (
                503,
                r#"{"error":{"code":"draining","message":"shutting down"}}"#,
                ClientError::Unavailable {
                    code: "draining".into(),
                    message: "shutting down".into(),
                },
            ),
            (
                503,
                "Service Unavailable\n",
                ClientError::Unavailable {
                    code: "http_503".into(),
                    message: "Service Unavailable".into(),
                },
            ),
            (
                401,
                r#"{"error":{"code":"token_missing"}}"#,
                ClientError::Unauthorized {
                    code: "token_missing".into(),
                    message: String::new(),
                },
            ),
            (
                404,
                "not found",
                ClientError::Connect("HTTP 404 (http_404): not found".into()),
            ),
        ];
        for (status, body, expect) in cases {
            assert_eq!(
                ClientError::from_handshake_refusal(status, body.as_bytes()),
                expect,
                "{status} {body}"
            );
        }
    }
}
