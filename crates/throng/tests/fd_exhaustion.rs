//! Running out of file descriptors: the real `throng` binary under a low `ulimit -n`
//! refuses what it cannot accept, keeps serving the connections it has, and accepts
//! again once descriptors free up.

use futures_util::{SinkExt, StreamExt};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_with_fd_limit(dir: &std::path::Path, limit: u32) -> Server {
    let bin = env!("CARGO_BIN_EXE_throng");
    let script =
        format!("ulimit -n {limit} && exec \"$0\" serve --listen 127.0.0.1:0 --data-dir \"$1\"");
    let mut child = Command::new("sh")
        .args(["-c", &script, bin, dir.to_str().unwrap()])
        .env("THRONG_LOG__LEVEL", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn throng serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.split("listening on ")
                .nth(1)
                .map(|rest| rest.trim().to_owned())
        })
        .expect("server printed its URL");
    // Keep reading the banner so the server never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, url }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects and waits for `hello`; None if that does not happen within two seconds.
async fn connect(url: &str, token: &str) -> Option<Ws> {
    let ws_url = format!("{}/v1/ws?token={token}", url.replacen("http", "ws", 1));
    tokio::time::timeout(Duration::from_secs(2), async {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.ok()?;
        match ws.next().await {
            Some(Ok(Message::Text(text))) if text.contains("\"hello\"") => Some(ws),
            _ => None,
        }
    })
    .await
    .ok()
    .flatten()
}

async fn answers_ping(ws: &mut Ws) -> bool {
    if ws
        .send(Message::text(r#"{"type":"ping","id":1}"#))
        .await
        .is_err()
    {
        return false;
    }
    let reply = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
    matches!(reply, Ok(Some(Ok(Message::Text(text)))) if text.contains("\"pong\""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_refuses_new_connections_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_fd_limit(dir.path(), 96);
    let dev = throng_auth::DevCredentials::load(dir.path())
        .unwrap()
        .expect("dev credentials written");
    let token =
        throng_auth::mint_hs256(&dev.jwt_secret, "fd", Duration::from_secs(600), &[]).unwrap();

    let attempts =
        futures_util::future::join_all((0..150).map(|_| connect(&server.url, &token))).await;
    let mut open: Vec<Ws> = attempts.into_iter().flatten().collect();
    assert!(
        open.len() >= 20,
        "the server accepted what its descriptors allow ({})",
        open.len()
    );
    assert!(
        open.len() < 150,
        "connections past the descriptor limit were refused ({})",
        open.len()
    );

    for ws in open.iter_mut().take(10) {
        assert!(
            answers_ping(ws).await,
            "accepted connections keep being served"
        );
    }
    // Free some descriptors: the server accepts again (it backs off about a second
    // after each EMFILE, so allow a few seconds).
    open.truncate(open.len() - 20);
    let mut again = None;
    for _ in 0..20 {
        if let Some(ws) = connect(&server.url, &token).await {
            again = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut again = again.expect("new connections are accepted once descriptors are free");
    assert!(answers_ping(&mut again).await);
    assert!(answers_ping(&mut open[0]).await);
}
