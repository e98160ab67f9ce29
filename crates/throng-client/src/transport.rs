//! Opening a WebSocket to the server (handshake, subprotocol, `hello`) and turning frames
//! into WebSocket messages and back.

use crate::error::ClientError;
use crate::event::Hello;
use futures_util::StreamExt;
use std::time::Duration;
use throng_protocol::{ClientFrame, CloseCode, Codec, DecodeError, ServerFrame};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError, UrlError};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Dials `url` (the full WebSocket URL with the token), offers the codec's subprotocol
/// and waits for `hello`, all within `timeout`. The URL holds the token, so it is never
/// logged or put in an error.
pub(crate) async fn open(
    url: String,
    codec: Codec,
    read_buffer_size: usize,
    timeout: Duration,
) -> Result<(WsStream, Hello), ClientError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| ClientError::Connect(format!("bad server URL: {e}")))?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(codec.subprotocol()),
    );
    let config = WebSocketConfig::default().read_buffer_size(read_buffer_size);
    let handshake = async {
        // Nagle off: frames are small and latency is the point.
        let (mut ws, _response) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                .await
                .map_err(map_handshake_error)?;
        let hello = read_hello(&mut ws).await?;
        Ok((ws, hello))
    };
    tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| ClientError::Timeout)?
}

fn map_handshake_error(error: WsError) -> ClientError {
    match error {
        WsError::Http(response) => {
            let body = response.body().as_deref().unwrap_or_default();
            ClientError::from_handshake_refusal(response.status().as_u16(), body)
        }
        WsError::Url(UrlError::TlsFeatureNotEnabled) => ClientError::Connect(
            "wss:// needs TLS support, which this build of throng-client does not include".into(),
        ),
        WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(e)) => {
            ClientError::Protocol(format!("subprotocol negotiation failed: {e}"))
        }
        other => ClientError::Connect(other.to_string()),
    }
}

/// Reads frames until `hello`, which the server sends first.
async fn read_hello(ws: &mut WsStream) -> Result<Hello, ClientError> {
    loop {
        let message = match ws.next().await {
            Some(Ok(message)) => message,
            Some(Err(e)) => {
                return Err(ClientError::Connect(format!(
                    "connection lost before hello: {e}"
                )))
            }
            None => {
                return Err(ClientError::Connect(
                    "connection closed before hello".into(),
                ))
            }
        };
        if let WsMessage::Close(frame) = &message {
            let (code, reason) = close_code_and_reason(frame.as_ref());
            return Err(refusal_by_close(code, reason));
        }
        let Some(decoded) = decode(&message) else {
            continue;
        };
        return match decoded {
            Ok(ServerFrame::Hello {
                conn_id,
                user,
                server_ts,
                heartbeat_ms,
                max_frame_bytes,
            }) => Ok(Hello {
                conn_id,
                user,
                server_ts,
                heartbeat_ms,
                max_frame_bytes,
            }),
            Ok(other) => Err(ClientError::Protocol(format!(
                "expected hello as the first frame, got {}",
                frame_name(&other)
            ))),
            Err(e) => Err(ClientError::Protocol(format!("first frame: {e}"))),
        };
    }
}

/// A server that closes right after the upgrade, instead of refusing the handshake,
/// gets the same errors as a refusal would.
fn refusal_by_close(code: CloseCode, reason: String) -> ClientError {
    match code {
        CloseCode::UNAUTHORIZED | CloseCode::TOKEN_EXPIRED => ClientError::Unauthorized {
            code: code.name().to_owned(),
            message: reason,
        },
        CloseCode::DRAINING => ClientError::Unavailable {
            code: code.name().to_owned(),
            message: reason,
        },
        _ => ClientError::Connect(format!(
            "server closed the connection before hello: {code}: {reason}"
        )),
    }
}

/// The close code and reason of a received close frame. A close frame without a code
/// counts as 1005, the code RFC 6455 reserves for "no status received".
pub(crate) fn close_code_and_reason(
    frame: Option<&tokio_tungstenite::tungstenite::protocol::CloseFrame>,
) -> (CloseCode, String) {
    match frame {
        Some(frame) => (CloseCode(u16::from(frame.code)), frame.reason.to_string()),
        None => (CloseCode(1005), String::new()),
    }
}

/// Decodes a data message: text as JSON and binary as MessagePack, whatever was
/// negotiated (the server does the same). `None` for control messages.
pub(crate) fn decode(message: &WsMessage) -> Option<Result<ServerFrame, DecodeError>> {
    match message {
        WsMessage::Text(text) => Some(Codec::Json.decode_server(text.as_bytes())),
        WsMessage::Binary(bytes) => Some(Codec::MsgPack.decode_server(bytes)),
        _ => None,
    }
}

/// Encodes a frame as a text (JSON) or binary (MessagePack) message.
pub(crate) fn encode(codec: Codec, frame: &ClientFrame) -> WsMessage {
    let bytes = codec.encode_client(frame);
    if codec.is_binary() {
        WsMessage::Binary(bytes)
    } else {
        WsMessage::Text(Utf8Bytes::try_from(bytes).expect("JSON is UTF-8"))
    }
}

/// The wire name of a server frame, for messages.
pub(crate) fn frame_name(frame: &ServerFrame) -> &'static str {
    match frame {
        ServerFrame::Hello { .. } => "hello",
        ServerFrame::Joined { .. } => "joined",
        ServerFrame::Left { .. } => "left",
        ServerFrame::Sent { .. } => "sent",
        ServerFrame::Batch { .. } => "batch",
        ServerFrame::Notify { .. } => "notify",
        ServerFrame::Pulled { .. } => "pulled",
        ServerFrame::Pong { .. } => "pong",
        ServerFrame::Error { .. } => "error",
        ServerFrame::Moderated { .. } => "moderated",
        ServerFrame::Moderation { .. } => "moderation",
        ServerFrame::AttrSaved { .. } => "attr_saved",
        ServerFrame::Attrs { .. } => "attrs",
        ServerFrame::AttrNotify { .. } => "attr_notify",
        ServerFrame::Stats(_) => "stats",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use throng_protocol::DeliveryMode;

    #[test]
    fn frames_travel_as_text_in_json_and_binary_in_msgpack_and_decode_either_way() {
        let frame = ClientFrame::Join {
            id: Some(3),
            room: "lobby".into(),
            since: Some(9),
            mode: DeliveryMode::Notify,
        };
        for codec in Codec::ALL {
            let message = encode(codec, &frame);
            assert_eq!(message.is_binary(), codec.is_binary(), "{codec:?}");
            // The server decodes text as JSON and binary as MessagePack; so does the SDK.
            let bytes = match &message {
                WsMessage::Text(text) => text.as_bytes().to_vec(),
                WsMessage::Binary(bytes) => bytes.to_vec(),
                other => panic!("{other:?}"),
            };
            assert_eq!(codec.decode_client(&bytes).unwrap(), frame);
        }
        let pong = ServerFrame::Pong { id: Some(1), ts: 5 };
        for codec in Codec::ALL {
            let bytes = codec.encode_server(&pong);
            let message = if codec.is_binary() {
                WsMessage::Binary(bytes)
            } else {
                WsMessage::Text(Utf8Bytes::try_from(bytes).unwrap())
            };
            assert_eq!(decode(&message).unwrap().unwrap(), pong, "{codec:?}");
        }
        assert!(decode(&WsMessage::Ping(Default::default())).is_none());
        assert!(decode(&WsMessage::Text("{oops".into())).unwrap().is_err());
    }

    #[test]
    fn closes_before_hello_map_like_refusals() {
        let cases = [
            (CloseCode::UNAUTHORIZED, "unauthorized", true),
            (CloseCode::TOKEN_EXPIRED, "token_expired", true),
            (CloseCode::DRAINING, "draining", false),
        ];
        for (code, name, unauthorized) in cases {
            match refusal_by_close(code, "why".into()) {
                ClientError::Unauthorized { code, message } => {
                    assert!(unauthorized);
                    assert_eq!((code.as_str(), message.as_str()), (name, "why"));
                }
                ClientError::Unavailable { code, .. } => {
                    assert!(!unauthorized);
                    assert_eq!(code, name);
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            refusal_by_close(CloseCode::SERVER_ERROR, String::new()),
            ClientError::Connect(_)
        ));
    }
}
