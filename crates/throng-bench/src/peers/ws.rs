//! WebSocket plumbing every peer adapter shares: lean client connections from a chosen
//! source address, payload scanning, and a publisher that keeps its socket drained.

use crate::target::BenchPayload;
use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub(crate) type WsStream = WebSocketStream<TcpStream>;

/// Read buffer per connection. tungstenite's default (128 KiB, zero-filled on the first
/// read) would make the load generator, not the server, the memory story at 18k
/// connections; 4 KiB holds any bench frame and grows on demand for a bigger one.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// Small buffers, and every message written straight through (no write buffer): a
/// subscriber writes almost nothing, and a publisher's frame should leave at once.
pub(crate) fn lean_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
}

/// Opens a WebSocket to `ws://<server>/<path_and_query>` from `source_ip` (any port),
/// offering `subprotocol` when the peer needs one.
pub(crate) async fn connect(
    server: SocketAddr,
    source_ip: Option<IpAddr>,
    path_and_query: &str,
    subprotocol: Option<&str>,
) -> anyhow::Result<WsStream> {
    let socket = if server.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(source_ip) = source_ip {
        socket
            .bind(SocketAddr::new(source_ip, 0))
            .with_context(|| format!("binding source address {source_ip}"))?;
    }
    let stream = socket
        .connect(server)
        .await
        .with_context(|| format!("connecting to {server}"))?;
    stream.set_nodelay(true)?;
    let mut request = format!("ws://{server}{path_and_query}").into_client_request()?;
    if let Some(subprotocol) = subprotocol {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(subprotocol)?,
        );
    }
    let (websocket, _response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(lean_config()))
            .await
            .with_context(|| format!("WebSocket handshake with {server}{path_and_query}"))?;
    Ok(websocket)
}

/// The bytes of a data frame (text or binary); None for control frames.
pub(crate) fn data_bytes(message: &Message) -> Option<&[u8]> {
    match message {
        Message::Text(text) => Some(text.as_bytes()),
        Message::Binary(bytes) => Some(bytes),
        _ => None,
    }
}

/// Appends the bench payloads found in a raw frame.
pub(crate) fn scan_payloads(frame: &[u8], out: &mut Vec<BenchPayload>) {
    BenchPayload::find_all(frame, out);
}

/// What a subscriber's read brought.
pub(crate) enum Read {
    /// The connection is over.
    Closed,
    /// Payloads that came with the subscription were handed over, or a control frame
    /// was read: nothing more to look at.
    Handled,
    /// A data frame (text or binary) to look at.
    Data(Message),
}

/// Every subscriber's first step: hand over the payloads that arrived while subscribing
/// (`early`), else read the next frame, skipping control frames.
pub(crate) async fn next_data(
    websocket: &mut WsStream,
    early: &mut Vec<BenchPayload>,
    out: &mut Vec<BenchPayload>,
) -> anyhow::Result<Read> {
    if !early.is_empty() {
        out.append(early);
        return Ok(Read::Handled);
    }
    Ok(match next_message(websocket).await? {
        None => Read::Closed,
        Some(message) if data_bytes(&message).is_some() => Read::Data(message),
        Some(_) => Read::Handled,
    })
}

/// Reads the next frame, treating the server's close (or a connection that ends without
/// one, as nats-server's status-1005 close shows up in strict clients) as an orderly end.
/// Ok(None) means the connection is over.
pub(crate) async fn next_message(websocket: &mut WsStream) -> anyhow::Result<Option<Message>> {
    use tokio_tungstenite::tungstenite::Error;
    match websocket.next().await {
        None | Some(Ok(Message::Close(_))) => Ok(None),
        Some(Ok(message)) => Ok(Some(message)),
        Some(Err(Error::ConnectionClosed | Error::AlreadyClosed)) => Ok(None),
        Some(Err(Error::Protocol(
            tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ))) => Ok(None),
        Some(Err(error)) => Err(error.into()),
    }
}

/// A publisher connection that a task of its own owns: it writes what `send` hands it
/// and, between writes, reads whatever the server sends back (keepalive pings that want
/// an answer, or the room's own traffic that a publisher joined to a room receives), so
/// the server never blocks on or drops a publisher that does not read.
pub(crate) struct DrainedPublisher {
    outgoing: mpsc::Sender<Message>,
    failure: Arc<Mutex<Option<String>>>,
}

impl DrainedPublisher {
    /// Hands the connection to its task. `answer` looks at each incoming data frame and
    /// returns the frame to send back, if any (for example Engine.IO's pong to a ping).
    pub(crate) fn spawn(
        mut websocket: WsStream,
        answer: impl Fn(&[u8]) -> Option<Message> + Send + Sync + 'static,
    ) -> DrainedPublisher {
        // Capacity 1: `send` waits while a frame is still being written, so the caller
        // feels the peer's backpressure instead of queueing without bound.
        let (outgoing, mut to_send) = mpsc::channel::<Message>(1);
        let failure = Arc::new(Mutex::new(None));
        let task_failure = Arc::clone(&failure);
        tokio::spawn(async move {
            let outcome: anyhow::Result<()> = async {
                loop {
                    tokio::select! {
                        message = to_send.recv() => match message {
                            Some(message) => websocket.send(message).await?,
                            // The publisher was dropped: close politely.
                            None => {
                                let _ = websocket.close(None).await;
                                return Ok(());
                            }
                        },
                        incoming = next_message(&mut websocket) => match incoming? {
                            Some(message) => {
                                let reply = data_bytes(&message).and_then(&answer);
                                if let Some(reply) = reply {
                                    websocket.send(reply).await?;
                                }
                            }
                            None => anyhow::bail!("the server closed the publisher connection"),
                        },
                    }
                }
            }
            .await;
            if let Err(error) = outcome {
                *task_failure.lock().expect("failure slot") = Some(format!("{error:#}"));
            }
        });
        DrainedPublisher { outgoing, failure }
    }

    pub(crate) async fn send(&self, message: Message) -> anyhow::Result<()> {
        if self.outgoing.send(message).await.is_err() {
            let failure = self.failure.lock().expect("failure slot").clone();
            anyhow::bail!(
                "publisher connection ended: {}",
                failure.unwrap_or_else(|| "no reason recorded".to_owned())
            );
        }
        Ok(())
    }
}

/// Resolves `host:port` once, when a target is built, so connects skip name lookups.
pub(crate) fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    (host, port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}:{port}"))?
        .next()
        .with_context(|| format!("{host}:{port} resolves to no address"))
}
