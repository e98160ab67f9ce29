//! Room attributes end to end: writes from moderators, members (when the room allows)
//! and the server API; merged notifies; increments that replay to the full set;
//! compare-and-set; entries deleted when their owner leaves.

mod common;

use common::*;
use serde_json::json;
use throng_client::{Client, ClientError, Event, Events};
use throng_protocol::attrs::{apply, ClientState};
use throng_protocol::{DeliveryMode, ErrorCode};

async fn next_attr_notify(events: &mut Events, at_least: u64) -> u64 {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match events.next().await {
                Some(Event::AttrNotify { version, .. }) if version >= at_least => return version,
                Some(Event::Closed) | None => panic!("closed"),
                Some(_) => {}
            }
        }
    })
    .await
    .expect("attr_notify in time")
}

async fn moderator(server: &TestServer, user: &str) -> (Client, Events) {
    Client::connect(server.client_config(server.token_with_roles(user, &["moderator"])))
        .await
        .unwrap()
}

fn code(result: Result<impl std::fmt::Debug, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Server { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn members_follow_changes_by_notify_and_pull_and_newcomers_get_the_full_set() {
    let server = TestServer::start().await;
    let (host, _host_events) = moderator(&server, "host").await;
    host.join("stage", DeliveryMode::Push).await.unwrap();
    let (viewer, mut viewer_events) = server.client("viewer").await;
    let joined = viewer.join("stage", DeliveryMode::Push).await.unwrap();
    assert!(joined.attrs.is_none(), "no attributes yet");
    let mut state = ClientState::default();

    // A burst of changes from a moderator and from the server API.
    host.attr_set("stage", "seat:1", json!({"user": "ann"}), false, None)
        .await
        .unwrap();
    host.attr_set("stage", "seat:2", json!({"user": "bob"}), false, None)
        .await
        .unwrap();
    host.attr_delete("stage", "seat:1", None).await.unwrap();
    let (status, saved) = server
        .api(
            reqwest::Method::PUT,
            "/v1/rooms/stage/attributes/title",
            Some(json!({"value": "finals"})),
        )
        .await;
    assert_eq!((status, saved["version"].as_u64()), (200, Some(4)));

    let version = next_attr_notify(&mut viewer_events, 4).await;
    assert_eq!(version, 4);
    let answer = viewer.attr_pull("stage", state.version).await.unwrap();
    apply(&mut state, answer).unwrap();
    // The server API's answer (changes since 0, or the full set) replays to the same set.
    let (_, full) = server
        .api(reqwest::Method::GET, "/v1/rooms/stage/attributes", None)
        .await;
    let answer = if full["snapshot"].is_null() {
        json!({"changes": full["changes"]})
    } else {
        json!({"snapshot": full["snapshot"]})
    };
    let mut from_api = ClientState::default();
    apply(&mut from_api, serde_json::from_value(answer).unwrap()).unwrap();
    assert_eq!(
        from_api, state,
        "increments replay to the same state as the full set"
    );
    assert_eq!(state.version, 4);
    assert_eq!(
        state.entries.keys().collect::<Vec<_>>(),
        ["seat:2", "title"]
    );

    // A newcomer gets the same set in its joined reply.
    let (late, _late_events) = server.client("late").await;
    let joined = late.join("stage", DeliveryMode::Push).await.unwrap();
    assert_eq!(joined.attrs.as_ref(), Some(&state));
}

#[tokio::test]
async fn who_may_write_follows_the_room_setting() {
    let server = TestServer::start().await;
    server.create_room("locked", json!({})).await;
    server
        .create_room("open", json!({"attribute_writers": "members"}))
        .await;
    let (member, _events) = server.client("member").await;
    member.join("locked", DeliveryMode::Push).await.unwrap();
    member.join("open", DeliveryMode::Push).await.unwrap();
    assert_eq!(
        code(member.attr_set("locked", "k", json!(1), false, None).await),
        ErrorCode::FORBIDDEN
    );
    assert_eq!(
        member
            .attr_set("open", "k", json!(1), false, None)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        code(
            member
                .attr_set("elsewhere", "k", json!(1), false, None)
                .await
        ),
        ErrorCode::NOT_JOINED
    );
}

#[tokio::test]
async fn bad_writes_and_conflicts_get_their_codes() {
    let server = TestServer::start().await;
    server
        .create_room(
            "game",
            json!({"attribute_writers": "members", "attributes": {"max_keys": 2}}),
        )
        .await;
    let (player, _events) = server.client("player").await;
    player.join("game", DeliveryMode::Push).await.unwrap();
    let v = player
        .attr_set("game", "turn", json!("ann"), false, Some(0))
        .await
        .unwrap();
    // Compare-and-set: only the first of two racing writers wins.
    assert_eq!(
        player
            .attr_set("game", "turn", json!("bob"), false, Some(v))
            .await
            .unwrap(),
        v + 1
    );
    assert_eq!(
        code(
            player
                .attr_set("game", "turn", json!("eve"), false, Some(v))
                .await
        ),
        ErrorCode::ATTR_CONFLICT
    );
    let cases = [
        ("bad key!", json!(1)),
        ("null", json!(null)),
        ("big", json!("x".repeat(5000))),
    ];
    for (key, value) in cases {
        assert_eq!(
            code(player.attr_set("game", key, value, false, None).await),
            ErrorCode::ATTR_REFUSED,
            "{key}"
        );
    }
    player
        .attr_set("game", "second", json!(2), false, None)
        .await
        .unwrap();
    assert_eq!(
        code(
            player
                .attr_set("game", "third", json!(3), false, None)
                .await
        ),
        ErrorCode::ATTR_REFUSED,
        "max_keys"
    );
    assert_eq!(
        code(player.attr_delete("game", "missing", None).await),
        ErrorCode::ATTR_REFUSED
    );
    let (status, body) = server
        .api(
            reqwest::Method::PUT,
            "/v1/rooms/game/attributes/turn",
            Some(json!({"value": 1, "expect_version": 1})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("attr_version_mismatch"))
    );
    let (status, _) = server
        .api(reqwest::Method::GET, "/v1/rooms/nowhere/attributes", None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn entries_set_with_delete_on_leave_go_when_their_owner_leaves() {
    let server = TestServer::start().await;
    server
        .create_room("mics", json!({"attribute_writers": "members"}))
        .await;
    let (watcher, mut watcher_events) = server.client("watcher").await;
    watcher.join("mics", DeliveryMode::Push).await.unwrap();
    let (singer, _singer_events) = server.client("singer").await;
    singer.join("mics", DeliveryMode::Push).await.unwrap();
    singer
        .attr_set("mics", "seat:1", json!({"user": "singer"}), true, None)
        .await
        .unwrap();
    singer
        .attr_set("mics", "song", json!("la"), false, None)
        .await
        .unwrap();
    next_attr_notify(&mut watcher_events, 2).await;
    singer.close().await;
    next_attr_notify(&mut watcher_events, 3).await;
    let mut state = ClientState::default();
    apply(&mut state, watcher.attr_pull("mics", 0).await.unwrap()).unwrap();
    assert_eq!(
        state.entries.keys().collect::<Vec<_>>(),
        ["song"],
        "the seat went with its owner; the song stays"
    );
}
