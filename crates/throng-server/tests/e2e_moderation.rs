//! Moderation end to end: the server API and moderators' connections mute, ban, kick and
//! edit lists; affected clients get events and stable error codes; lists survive a restart.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;
use throng_client::{Client, ClientError, Event, Events};
use throng_protocol::{DeliveryMode, ErrorCode, LeaveReason, ModerateAction, Priority};

async fn next_moderation(events: &mut Events) -> (ModerateAction, Option<u64>) {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match events.next().await {
                Some(Event::Moderation { action, until, .. }) => return (action, until),
                Some(Event::Closed) | None => panic!("closed before a moderation event"),
                Some(_) => {}
            }
        }
    })
    .await
    .expect("moderation event in time")
}

async fn next_left(events: &mut Events) -> LeaveReason {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match events.next().await {
                Some(Event::Left { reason, .. }) => return reason,
                Some(Event::Closed) | None => panic!("closed before left"),
                Some(_) => {}
            }
        }
    })
    .await
    .expect("left in time")
}

fn server_code(result: Result<impl std::fmt::Debug, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Server { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn put(server: &TestServer, path: &str, body: serde_json::Value) -> serde_json::Value {
    let (status, reply) = server.api(reqwest::Method::PUT, path, Some(body)).await;
    assert_eq!(status, 200, "PUT {path}: {reply}");
    reply
}

async fn delete(server: &TestServer, path: &str) {
    let (status, reply) = server.api(reqwest::Method::DELETE, path, None).await;
    assert_eq!(status, 204, "DELETE {path}: {reply}");
}

#[tokio::test]
async fn a_muted_user_is_told_and_refused_until_unmuted() {
    let server = TestServer::start().await;
    let (client, mut events) = server.client("loud").await;
    client.join("stage", DeliveryMode::Push).await.unwrap();
    let entry = put(
        &server,
        "/v1/rooms/stage/moderation/mute/loud",
        json!({"duration_s": 600, "reason": "spam"}),
    )
    .await;
    assert_eq!(
        (entry["kind"].as_str(), entry["user"].as_str()),
        (Some("mute"), Some("loud"))
    );
    let (action, until) = next_moderation(&mut events).await;
    assert_eq!(action, ModerateAction::Mute);
    assert!(until.unwrap() > throng_backend::unix_ms() + 500_000);
    assert_eq!(
        server_code(client.send("stage", "text", json!("hi")).await),
        ErrorCode::MUTED
    );
    let (_, list) = server
        .api(
            reqwest::Method::GET,
            "/v1/rooms/stage/moderation/mute",
            None,
        )
        .await;
    assert_eq!(list["entries"][0]["reason"], "spam");
    delete(&server, "/v1/rooms/stage/moderation/mute/loud").await;
    assert_eq!(next_moderation(&mut events).await.0, ModerateAction::Unmute);
    client.send("stage", "text", json!("back")).await.unwrap();
}

#[tokio::test]
async fn a_banned_user_cannot_rejoin_until_the_ban_ends() {
    let server = TestServer::start().await;
    let (client, mut events) = server.client("troll").await;
    client.join("stage", DeliveryMode::Push).await.unwrap();
    put(
        &server,
        "/v1/rooms/stage/moderation/ban/troll",
        json!({"duration_s": 2}),
    )
    .await;
    assert_eq!(next_moderation(&mut events).await.0, ModerateAction::Ban);
    assert_eq!(next_left(&mut events).await, LeaveReason::Banned);
    assert_eq!(
        server_code(client.join("stage", DeliveryMode::Push).await),
        ErrorCode::BANNED
    );
    assert!(
        client.join("elsewhere", DeliveryMode::Push).await.is_ok(),
        "a room ban is per room"
    );
    // The ban ends by itself.
    let mut rejoined = false;
    for _ in 0..100 {
        if client.join("stage", DeliveryMode::Push).await.is_ok() {
            rejoined = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(rejoined, "the user may join again once the ban ended");
}

#[tokio::test]
async fn kick_removes_now_and_blacklist_refuses_joins() {
    let server = TestServer::start().await;
    let (client, mut events) = server.client("guest").await;
    client.join("stage", DeliveryMode::Push).await.unwrap();
    let (status, _) = server
        .api(
            reqwest::Method::POST,
            "/v1/rooms/stage/kick/guest",
            Some(json!({"reason": "out"})),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(next_left(&mut events).await, LeaveReason::Kicked);
    client
        .join("stage", DeliveryMode::Push)
        .await
        .expect("a kicked user may come back");
    put(
        &server,
        "/v1/rooms/stage/moderation/blacklist/guest",
        json!({}),
    )
    .await;
    assert_eq!(next_left(&mut events).await, LeaveReason::Banned);
    assert_eq!(
        server_code(client.join("stage", DeliveryMode::Push).await),
        ErrorCode::BLACKLISTED
    );
    delete(&server, "/v1/rooms/stage/moderation/blacklist/guest").await;
    client.join("stage", DeliveryMode::Push).await.unwrap();
}

#[tokio::test]
async fn a_room_mute_spares_whitelisted_users_whose_messages_go_in_the_system_lane() {
    let server = TestServer::start().await;
    let (host, mut host_events) = server.client("host").await;
    let (viewer, mut viewer_events) = server.client("viewer").await;
    host.join("show", DeliveryMode::Push).await.unwrap();
    viewer.join("show", DeliveryMode::Push).await.unwrap();
    put(
        &server,
        "/v1/rooms/show/moderation/whitelist/host",
        json!({}),
    )
    .await;
    put(
        &server,
        "/v1/rooms/show/moderation/room_mute",
        json!({"reason": "quiet please"}),
    )
    .await;
    // The whitelist entry concerns only the host; the room mute concerns everyone.
    assert_eq!(
        next_moderation(&mut viewer_events).await.0,
        ModerateAction::MuteRoom
    );
    assert_eq!(
        server_code(viewer.send("show", "text", json!("hey")).await),
        ErrorCode::ROOM_MUTED
    );
    host.send("show", "text", json!("welcome")).await.unwrap();
    let mut got = Vec::new();
    collect_until(&mut host_events, &mut got, |g| !g.is_empty()).await;
    assert_eq!(
        got[0].priority,
        Priority::System,
        "whitelisted users speak in the system lane"
    );
    delete(&server, "/v1/rooms/show/moderation/room_mute").await;
    assert_eq!(
        next_moderation(&mut viewer_events).await.0,
        ModerateAction::UnmuteRoom
    );
    viewer.send("show", "text", json!("finally")).await.unwrap();
}

#[tokio::test]
async fn global_bans_apply_to_every_room() {
    let server = TestServer::start().await;
    let (client, mut events) = server.client("spammer").await;
    client.join("a", DeliveryMode::Push).await.unwrap();
    client.join("b", DeliveryMode::Push).await.unwrap();
    put(&server, "/v1/moderation/ban/spammer", json!({})).await;
    let mut left = vec![next_left(&mut events).await, next_left(&mut events).await];
    left.dedup();
    assert_eq!(left, [LeaveReason::Banned]);
    assert_eq!(
        server_code(client.join("c", DeliveryMode::Push).await),
        ErrorCode::BANNED
    );
    let (status, body) = server
        .api(
            reqwest::Method::PUT,
            "/v1/moderation/whitelist/spammer",
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("not_global"))
    );
    delete(&server, "/v1/moderation/ban/spammer").await;
    client.join("c", DeliveryMode::Push).await.unwrap();
}

#[tokio::test]
async fn moderators_act_from_their_connection_and_others_may_not() {
    let server = TestServer::start().await;
    let mut config = server.client_config(server.token_with_roles("mod", &["moderator"]));
    config.reconnect = throng_client::ReconnectPolicy::never();
    let (moderator, _m) = Client::connect(config).await.unwrap();
    let (user, mut user_events) = server.client("user").await;
    user.join("chat", DeliveryMode::Push).await.unwrap();
    moderator
        .moderate(
            "chat",
            ModerateAction::Mute,
            Some("user"),
            Some(Duration::from_secs(60)),
            Some("calm down"),
        )
        .await
        .unwrap();
    let (action, _) = next_moderation(&mut user_events).await;
    assert_eq!(action, ModerateAction::Mute);
    assert_eq!(
        server_code(user.send("chat", "text", json!("!")).await),
        ErrorCode::MUTED
    );
    let refused = user
        .moderate("chat", ModerateAction::Unmute, Some("user"), None, None)
        .await;
    assert_eq!(server_code(refused), ErrorCode::FORBIDDEN);
    let refused = moderator
        .moderate("chat", ModerateAction::Mute, None, None, None)
        .await;
    assert_eq!(
        server_code(refused),
        ErrorCode::INVALID_VALUE,
        "a mute needs a user"
    );
}

#[tokio::test]
async fn a_restart_keeps_bans_mutes_and_whitelists() {
    let mut server = TestServer::start().await;
    put(&server, "/v1/rooms/kept/moderation/ban/b", json!({})).await;
    put(
        &server,
        "/v1/rooms/kept/moderation/mute/m",
        json!({"duration_s": 3600}),
    )
    .await;
    put(&server, "/v1/rooms/kept/moderation/whitelist/w", json!({})).await;
    put(&server, "/v1/rooms/kept/moderation/room_mute", json!({})).await;
    put(&server, "/v1/moderation/mute/g", json!({})).await;
    server.restart().await;
    let (b, _) = server.client("b").await;
    assert_eq!(
        server_code(b.join("kept", DeliveryMode::Push).await),
        ErrorCode::BANNED
    );
    for (user, expect) in [
        ("m", Some(ErrorCode::MUTED)),
        ("g", Some(ErrorCode::MUTED)),
        ("x", Some(ErrorCode::ROOM_MUTED)),
        ("w", None),
    ] {
        let (client, _) = server.client(user).await;
        client.join("kept", DeliveryMode::Push).await.unwrap();
        let result = client.send("kept", "text", json!("after restart")).await;
        match expect {
            Some(code) => assert_eq!(server_code(result), code, "{user}"),
            None => assert!(result.is_ok(), "{user} is whitelisted: {result:?}"),
        }
    }
    let (_, list) = server
        .api(
            reqwest::Method::GET,
            "/v1/rooms/kept/moderation/whitelist",
            None,
        )
        .await;
    assert_eq!(list["entries"][0]["user"], "w");
}

#[tokio::test]
async fn bad_moderation_requests_get_4xx_codes() {
    let server = TestServer::start().await;
    let cases = [
        (
            reqwest::Method::PUT,
            "/v1/rooms/r/moderation/jail/u",
            Some(json!({})),
            404,
            "unknown_list",
        ),
        (
            reqwest::Method::PUT,
            "/v1/rooms/r/moderation/room_mute/u",
            Some(json!({})),
            400,
            "invalid_user",
        ),
        (
            reqwest::Method::PUT,
            "/v1/rooms/r/moderation/mute",
            Some(json!({})),
            400,
            "missing_user",
        ),
        (
            reqwest::Method::PUT,
            "/v1/rooms/r/moderation/mute/u",
            Some(json!({"duration_s": "long"})),
            400,
            "invalid_body",
        ),
        (
            reqwest::Method::PUT,
            "/v1/rooms/r/moderation/mute/u",
            Some(json!({"reason": "x".repeat(600)})),
            400,
            "invalid_reason",
        ),
        (
            reqwest::Method::PUT,
            "/v1/rooms/bad%20id/moderation/mute/u",
            Some(json!({})),
            400,
            "invalid_room_id",
        ),
        (
            reqwest::Method::POST,
            "/v1/rooms/r/kick/u",
            Some(json!({"duration_s": 5})),
            400,
            "invalid_duration",
        ),
        (
            reqwest::Method::GET,
            "/v1/moderation/jail",
            None,
            404,
            "unknown_list",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let (got_status, reply) = server.api(method.clone(), path, body).await;
        assert_eq!(
            (got_status, reply["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {reply}"
        );
    }
}
