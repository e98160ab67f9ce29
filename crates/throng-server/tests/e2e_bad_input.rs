//! Every bad input has a tested answer: an error frame with a stable code (the
//! connection stays), a documented close code, or a refused handshake with a reason.

mod common;

use common::*;
use serde_json::json;
use throng_client::{Client, ClientError};
use throng_protocol::{ClientFrame, CloseCode, DeliveryMode, ErrorCode, Priority, ServerFrame};

fn error_code(frame: &ServerFrame) -> Option<ErrorCode> {
    match frame {
        ServerFrame::Error { code, .. } => Some(*code),
        _ => None,
    }
}

async fn still_answers(raw: &mut RawClient) {
    raw.send(&ClientFrame::Ping { id: Some(77) }).await;
    loop {
        if let ServerFrame::Pong { id, .. } = raw.next_frame().await {
            assert_eq!(id, Some(77));
            return;
        }
    }
}

#[tokio::test]
async fn malformed_frames_get_an_error_frame_and_the_connection_stays() {
    let server = TestServer::start().await;
    let mut raw = RawClient::connect(&server.url, &server.token("fuzzy")).await;
    let cases = [
        "not json",
        "{}",
        r#"{"type":"teleport"}"#,
        r#"{"type":"join"}"#,
        r#"{"type":"send","room":"r"} trailing"#,
        r#"{"type":"pull","room":"r","since":"yesterday"}"#,
        "[1,2,3]",
    ];
    for text in cases {
        raw.send_text(text).await;
        let frame = raw.next_frame().await;
        assert_eq!(
            error_code(&frame),
            Some(ErrorCode::BAD_FRAME),
            "{text}: {frame:?}"
        );
    }
    still_answers(&mut raw).await;
}

#[tokio::test]
async fn refused_requests_get_stable_codes() {
    let server = TestServer::start_with(|c| {
        c.rooms.auto_create = false;
        c.limits.max_rooms_per_connection = 2;
        c.limits.max_message_bytes = 100;
    })
    .await;
    server.create_room("r1", json!({})).await;
    server.create_room("r2", json!({})).await;
    server.create_room("r3", json!({})).await;
    let mut raw = RawClient::connect(&server.url, &server.token("picky")).await;
    assert_eq!(
        error_code(&raw.join("nowhere").await),
        Some(ErrorCode::UNKNOWN_ROOM)
    );
    assert_eq!(
        error_code(&raw.join("bad room!").await),
        Some(ErrorCode::INVALID_VALUE)
    );
    let send = |room: &str, kind: &str, body: serde_json::Value, priority: Option<Priority>| {
        ClientFrame::Send {
            id: Some(5),
            room: room.into(),
            kind: kind.into(),
            body,
            priority,
            msg_id: None,
            reliable: false,
        }
    };
    let cases: Vec<(ClientFrame, ErrorCode)> = vec![
        (send("r1", "text", json!("hi"), None), ErrorCode::NOT_JOINED),
        (
            ClientFrame::Pull {
                id: Some(5),
                room: "r1".into(),
                since: 0,
                limit: None,
            },
            ErrorCode::NOT_JOINED,
        ),
        (
            ClientFrame::Leave {
                id: Some(5),
                room: "r1".into(),
            },
            ErrorCode::NOT_JOINED,
        ),
    ];
    for (frame, code) in cases {
        raw.send(&frame).await;
        assert_eq!(error_code(&raw.next_frame().await), Some(code), "{frame:?}");
    }
    assert!(matches!(raw.join("r1").await, ServerFrame::Joined { .. }));
    assert!(matches!(raw.join("r2").await, ServerFrame::Joined { .. }));
    assert_eq!(
        error_code(&raw.join("r3").await),
        Some(ErrorCode::TOO_MANY_ROOMS)
    );
    let cases: Vec<(ClientFrame, ErrorCode)> = vec![
        (
            send("r1", "text", json!("x".repeat(200)), None),
            ErrorCode::MESSAGE_TOO_LARGE,
        ),
        (
            send("r1", "bad kind", json!("hi"), None),
            ErrorCode::INVALID_VALUE,
        ),
        (
            send("r1", "text", json!("hi"), Some(Priority::System)),
            ErrorCode::FORBIDDEN,
        ),
        (
            ClientFrame::Pull {
                id: Some(5),
                room: "r1".into(),
                since: 0,
                limit: Some(0),
            },
            ErrorCode::INVALID_VALUE,
        ),
        (
            ClientFrame::Pull {
                id: Some(5),
                room: "r1".into(),
                since: 0,
                limit: Some(501),
            },
            ErrorCode::INVALID_VALUE,
        ),
    ];
    for (frame, code) in cases {
        raw.send(&frame).await;
        let reply = raw.next_frame().await;
        assert_eq!(error_code(&reply), Some(code), "{frame:?}");
        if let ServerFrame::Error { id, room, .. } = reply {
            assert_eq!(
                (id, room.as_deref()),
                (Some(5), Some("r1")),
                "the error names the request and room"
            );
        }
    }
    still_answers(&mut raw).await;
}

#[tokio::test]
async fn rate_limits_refuse_per_user_and_per_room() {
    let server = TestServer::start_with(|c| {
        c.limits.user_rate_per_sec = 1;
        c.limits.user_burst = 3;
    })
    .await;
    server.create_room("busy", json!({"rate_per_sec": 4})).await;
    let (alice, _a) = server.client("alice").await;
    alice.join("busy", DeliveryMode::Push).await.unwrap();
    for _ in 0..3 {
        alice.send("busy", "text", json!("hi")).await.unwrap();
    }
    let refused = alice
        .send("busy", "text", json!("one too many"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            ClientError::Server {
                code: ErrorCode::RATE_LIMITED,
                ..
            }
        ),
        "{refused:?}"
    );
    // Bob has his own user budget, but the room (4/s, burst 4) has one token left.
    let (bob, _b) = server.client("bob").await;
    bob.join("busy", DeliveryMode::Push).await.unwrap();
    bob.send("busy", "text", json!("last one")).await.unwrap();
    let refused = bob
        .send("busy", "text", json!("room full"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            ClientError::Server {
                code: ErrorCode::ROOM_RATE_LIMITED,
                ..
            }
        ),
        "{refused:?}"
    );
    // System messages are exempt from the room's rate.
    server
        .publish("busy", Priority::System, json!("still goes"))
        .await;
}

#[tokio::test]
async fn an_oversized_frame_closes_with_its_code() {
    let server = TestServer::start_with(|c| {
        c.limits.max_frame_bytes = 4096;
        c.limits.max_message_bytes = 1024;
    })
    .await;
    let mut raw = RawClient::connect(&server.url, &server.token("big")).await;
    raw.send_text(&format!(
        r#"{{"type":"ping","pad":"{}"}}"#,
        "z".repeat(8192)
    ))
    .await;
    assert_eq!(raw.close_code().await, Some(CloseCode::FRAME_TOO_LARGE.0));
    assert!(CloseCode::FRAME_TOO_LARGE.should_reconnect());
}

fn token_with(
    claims: serde_json::Value,
    secret: &str,
    algorithm: jsonwebtoken::Algorithm,
) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(algorithm),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn bad_tokens_are_refused_at_the_handshake_with_a_reason() {
    let server = TestServer::start().await;
    let now = throng_backend::unix_ms() / 1000;
    let good = json!({"sub": "u", "exp": now + 600});
    let cases = [
        ("".to_owned(), "token_missing"),
        ("garbage".to_owned(), "token_malformed"),
        (
            token_with(
                good.clone(),
                "another-secret-another-secret-another",
                jsonwebtoken::Algorithm::HS256,
            ),
            "token_bad_signature",
        ),
        (
            token_with(
                json!({"sub": "u", "exp": now - 600}),
                SECRET,
                jsonwebtoken::Algorithm::HS256,
            ),
            "token_expired",
        ),
        (
            token_with(
                json!({"sub": "u", "exp": now + 600, "nbf": now + 300}),
                SECRET,
                jsonwebtoken::Algorithm::HS256,
            ),
            "token_not_yet_valid",
        ),
        (
            token_with(good.clone(), SECRET, jsonwebtoken::Algorithm::HS512),
            "token_wrong_algorithm",
        ),
        (
            token_with(
                json!({"exp": now + 600}),
                SECRET,
                jsonwebtoken::Algorithm::HS256,
            ),
            "token_invalid_claims",
        ),
    ];
    for (token, expect) in cases {
        let error = Client::connect(server.client_config(token))
            .await
            .unwrap_err();
        match error {
            ClientError::Unauthorized { code, message } => {
                assert_eq!(code, expect);
                assert!(!message.is_empty());
            }
            other => panic!("{expect}: expected Unauthorized, got {other:?}"),
        }
    }
    let good = token_with(good, SECRET, jsonwebtoken::Algorithm::HS256);
    assert!(Client::connect(server.client_config(good)).await.is_ok());
}

#[tokio::test]
async fn the_connection_limit_refuses_new_clients_and_keeps_serving_the_others() {
    let server = TestServer::start_with(|c| c.limits.max_connections = 3).await;
    let mut clients = Vec::new();
    for i in 0..3 {
        let (client, events) = server.client(&format!("c{i}")).await;
        client.join("full", DeliveryMode::Push).await.unwrap();
        clients.push((client, events));
    }
    let refused = Client::connect(server.client_config(server.token("extra")))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ClientError::Unavailable { ref code, .. } if code == "over_capacity"),
        "{refused:?}"
    );
    clients[0]
        .0
        .send("full", "text", json!("still here"))
        .await
        .unwrap();
    for (_, events) in &mut clients {
        let mut got = Vec::new();
        collect_until(events, &mut got, |g| !g.is_empty()).await;
    }
    // A slot frees when a client leaves.
    clients.pop().unwrap().0.close().await;
    let mut reconnected = None;
    for _ in 0..100 {
        match Client::connect(server.client_config(server.token("extra"))).await {
            Ok(client) => {
                reconnected = Some(client);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    assert!(reconnected.is_some(), "a freed slot is reusable");
    let metrics = server.metrics().await;
    assert!(
        metric(
            &metrics,
            "throng_connections_refused_total",
            "over_capacity"
        ) >= 1.0
    );
}

#[tokio::test]
async fn the_server_api_answers_bad_requests_with_4xx_codes() {
    let server = TestServer::start().await;
    let post = |path: &'static str, body: serde_json::Value| {
        server.api(reqwest::Method::POST, path, Some(body))
    };
    let cases = [
        (
            post("/v1/rooms", json!({"id": "bad id"})).await,
            400,
            "invalid_room_id",
        ),
        (
            post(
                "/v1/rooms",
                json!({"id": "ok", "settings": {"ring_low": 0}}),
            )
            .await,
            400,
            "invalid_settings",
        ),
        (
            post("/v1/rooms", json!({"id": "ok", "surprise": 1})).await,
            400,
            "invalid_body",
        ),
        (post("/v1/rooms", json!([])).await, 400, "invalid_body"),
        (
            post("/v1/rooms/none/messages", json!({"body": 1})).await,
            404,
            "room_not_found",
        ),
        (
            server
                .api(reqwest::Method::GET, "/v1/rooms/none", None)
                .await,
            404,
            "room_not_found",
        ),
        (
            server
                .api(reqwest::Method::GET, "/v1/rooms?limit=0", None)
                .await,
            400,
            "invalid_limit",
        ),
    ];
    for ((status, body), expect_status, expect_code) in cases {
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (expect_status, Some(expect_code)),
            "{body}"
        );
    }
    server.create_room("ok", json!({})).await;
    let (status, body) = post("/v1/rooms", json!({"id": "ok"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("room_exists"))
    );
    let (status, body) = post("/v1/rooms/ok/messages", json!({"body": "x".repeat(5000)})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("message_too_large"))
    );
    let (status, body) = post(
        "/v1/rooms/ok/messages",
        json!({"body": 1, "kind": "no spaces"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_kind"))
    );
    let raw = reqwest::Client::new()
        .post(format!("{}/v1/rooms", server.url))
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_json");
    for key in [None, Some("wrong-key-wrong-key")] {
        let mut request = reqwest::Client::new().get(format!("{}/v1/rooms", server.url));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
    }
}

#[tokio::test]
async fn a_silent_client_is_closed_after_two_heartbeats() {
    let server = TestServer::start_with(|c| c.gateway.heartbeat_ms = 1000).await;
    let mut raw = RawClient::connect(&server.url, &server.token("quiet")).await;
    assert_eq!(raw.close_code().await, Some(CloseCode::HEARTBEAT_TIMEOUT.0));
}

#[tokio::test]
async fn an_sdk_client_with_heartbeats_stays_connected() {
    let server = TestServer::start_with(|c| c.gateway.heartbeat_ms = 1000).await;
    let (client, _events) = server.client("chatty").await;
    client.join("alive", DeliveryMode::Push).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    assert!(
        client.is_connected(),
        "the SDK's pings keep the connection open"
    );
    client
        .send("alive", "text", json!("still here"))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_expired_token_closes_the_connection_with_its_code() {
    let server = TestServer::start_with(|c| c.auth.leeway_s = 0).await;
    let token =
        throng_auth::mint_hs256(SECRET, "brief", std::time::Duration::from_secs(2), &[]).unwrap();
    let mut raw = RawClient::connect(&server.url, &token).await;
    assert_eq!(raw.close_code().await, Some(CloseCode::TOKEN_EXPIRED.0));
    assert!(CloseCode::TOKEN_EXPIRED.should_reconnect());
}

#[tokio::test]
async fn joins_cannot_create_rooms_past_the_limit() {
    let server = TestServer::start_with(|c| c.rooms.max_rooms = 2).await;
    let mut raw = RawClient::connect(&server.url, &server.token("explorer")).await;
    assert!(matches!(raw.join("one").await, ServerFrame::Joined { .. }));
    assert!(matches!(raw.join("two").await, ServerFrame::Joined { .. }));
    assert_eq!(
        error_code(&raw.join("three").await),
        Some(ErrorCode::UNAVAILABLE)
    );
    still_answers(&mut raw).await;
}
