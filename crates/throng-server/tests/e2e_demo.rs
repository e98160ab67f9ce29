//! The demo page end to end: its embedded files, and the development-only token endpoint
//! on a real server with generated credentials and with configured ones.

mod common;

use common::*;
use serde_json::Value;
use throng_client::Client;
use throng_protocol::DeliveryMode;
use throng_server::demo::{DEMO_MIN_RATE_PER_SEC, DEMO_ROOM};

/// A server on generated development credentials, like a fresh `throng serve`.
async fn development_server() -> TestServer {
    TestServer::start_with(|config| {
        config.auth.jwt_secret = None;
        config.auth.api_keys = Vec::new();
        config.auth.dev_credentials = true;
    })
    .await
}

async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn get_json(url: &str) -> (u16, Value) {
    let response = get(url, &[]).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_demo_token_joins_the_demo_room_which_gets_the_demo_settings() {
    let server = development_server().await;
    let (status, answer) = get_json(&format!("{}/demo/token?user=ann", server.url)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["user"], "ann");
    assert_eq!(answer["room"], DEMO_ROOM);
    assert!(
        answer["expires_in_s"].as_u64().unwrap() <= 3600,
        "short-lived"
    );

    let token = answer["token"].as_str().unwrap().to_owned();
    let (client, _events) = Client::connect(server.client_config(token))
        .await
        .expect("the demo token is accepted");
    client.join(DEMO_ROOM, DeliveryMode::Push).await.unwrap();

    let api_key = &server
        .server
        .as_ref()
        .unwrap()
        .dev_credentials
        .as_ref()
        .unwrap()
        .api_key;
    let room: Value = reqwest::Client::new()
        .get(format!("{}/v1/rooms/{DEMO_ROOM}", server.url))
        .bearer_auth(api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(room["settings"]["presence_notices"], true, "{room}");
    assert_eq!(room["settings"]["reliable"]["senders"], "members", "{room}");
    assert!(
        room["settings"]["rate_per_sec"].as_u64().unwrap() >= u64::from(DEMO_MIN_RATE_PER_SEC),
        "{room}"
    );

    let (status, again) = get_json(&format!("{}/demo/token?user=bob", server.url)).await;
    assert_eq!(status, 200, "a second token, room already there: {again}");
}

#[tokio::test]
async fn bad_user_names_get_a_clear_400() {
    let server = development_server().await;
    let too_long = "x".repeat(33);
    let cases: &[(&str, &str)] = &[
        ("", "user_missing"),
        ("?user=", "user_missing"),
        (&format!("?user={too_long}"), "user_too_long"),
        ("?user=%40server", "user_invalid"),
        ("?user=ann%20bob", "user_invalid"),
        ("?user=%3Cb%3E", "user_invalid"),
    ];
    for (query, code) in cases {
        let (status, answer) = get_json(&format!("{}/demo/token{query}", server.url)).await;
        assert_eq!(status, 400, "{query}: {answer}");
        assert_eq!(answer["error"]["code"], *code, "{query}: {answer}");
    }
}

#[tokio::test]
async fn with_configured_credentials_there_are_no_demo_tokens_but_the_page_is_served() {
    let server = TestServer::start().await;
    let (status, answer) = get_json(&format!("{}/demo/token?user=ann", server.url)).await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error"]["code"], "demo_disabled");
    assert_eq!(get(&format!("{}/", server.url), &[]).await.status(), 200);
}

#[tokio::test]
async fn the_embedded_files_have_their_types_and_revalidate_with_etags() {
    let server = development_server().await;
    let cases = [
        ("/", "text/html; charset=utf-8"),
        ("/demo/app.js", "text/javascript; charset=utf-8"),
        ("/demo/app.css", "text/css; charset=utf-8"),
    ];
    for (path, content_type) in cases {
        let url = format!("{}{path}", server.url);
        let first = get(&url, &[]).await;
        assert_eq!(first.status(), 200, "{path}");
        let header = |name: &str| {
            first
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(
            header("content-type").as_deref(),
            Some(content_type),
            "{path}"
        );
        assert_eq!(
            header("cache-control").as_deref(),
            Some("no-cache"),
            "{path}"
        );
        let etag = header("etag").expect("an etag");
        assert!(
            !first.bytes().await.unwrap().is_empty(),
            "{path} has a body"
        );

        let again = get(&url, &[("if-none-match", &etag)]).await;
        assert_eq!(again.status(), 304, "{path} unchanged");
        assert!(
            again.bytes().await.unwrap().is_empty(),
            "{path}: 304 has no body"
        );

        let stale = get(&url, &[("if-none-match", "\"0000000000000000\"")]).await;
        assert_eq!(stale.status(), 200, "{path} with another tag");
    }
    assert_eq!(
        get(&format!("{}/demo/nothing.js", server.url), &[])
            .await
            .status(),
        404
    );
}
