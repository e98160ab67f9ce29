//! The sensitive-word filter end to end: lists from the config, replaced through the API
//! at runtime, kept across a restart, reverted; rejections get code 305, masks arrive
//! masked.

mod common;

use common::*;
use serde_json::json;
use throng_client::ClientError;
use throng_filter::{Action, FilterConfig, WordList};
use throng_protocol::{DeliveryMode, ErrorCode};

fn lists(reject: &[&str], mask: &[&str]) -> FilterConfig {
    FilterConfig {
        lists: vec![
            WordList {
                name: "severe".into(),
                action: Action::Reject,
                words: reject.iter().map(|w| w.to_string()).collect(),
            },
            WordList {
                name: "mild".into(),
                action: Action::Mask,
                words: mask.iter().map(|w| w.to_string()).collect(),
            },
        ],
        ..FilterConfig::default()
    }
}

async fn sends(server: &TestServer, text: &str) -> Result<String, ErrorCode> {
    let (client, mut events) = server.client("speaker").await;
    client.join("filtered", DeliveryMode::Push).await.unwrap();
    match client.send("filtered", "text", json!({"text": text})).await {
        Ok(_) => {
            let mut got = Vec::new();
            collect_until(&mut events, &mut got, |g| !g.is_empty()).await;
            Ok(got[0].body["text"].as_str().unwrap().to_owned())
        }
        Err(ClientError::Server { code, .. }) => Err(code),
        Err(other) => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn config_lists_reject_and_mask_whatever_the_case_or_width() {
    let server = TestServer::start_with(|c| c.filter = lists(&["scam"], &["darn"])).await;
    let cases = [
        ("hello there", Ok("hello there")),
        ("a SCAM link", Err(ErrorCode::FILTERED)),
        ("ｓｃａｍ", Err(ErrorCode::FILTERED)),
        ("Darn it, ＤＡＲＮ", Ok("**** it, ****")),
    ];
    for (text, expect) in cases {
        let expect = expect.map(str::to_owned);
        assert_eq!(sends(&server, text).await, expect, "{text}");
    }
    let metrics = server.metrics().await;
    assert!(metric(&metrics, "throng_messages_filtered_total", "severe") >= 2.0);
}

#[tokio::test]
async fn the_api_replaces_the_lists_at_runtime_and_a_restart_keeps_them() {
    let mut server = TestServer::start_with(|c| c.filter = lists(&["scam"], &[])).await;
    let (status, view) = server.api(reqwest::Method::GET, "/v1/filter", None).await;
    assert_eq!(
        (status, view["source"].as_str(), view["words"].as_u64()),
        (200, Some("config"), Some(1))
    );
    let replacement = serde_json::to_value(lists(&["诈骗"], &["spoiler"])).unwrap();
    let (status, view) = server
        .api(reqwest::Method::PUT, "/v1/filter", Some(replacement))
        .await;
    assert_eq!(
        (status, view["source"].as_str(), view["words"].as_u64()),
        (200, Some("api"), Some(2))
    );
    assert_eq!(
        sends(&server, "no scam here any more").await,
        Ok("no scam here any more".into())
    );
    assert_eq!(sends(&server, "这是诈骗").await, Err(ErrorCode::FILTERED));
    server.restart().await;
    assert_eq!(
        sends(&server, "big SPOILER ahead").await,
        Ok("big ******* ahead".into()),
        "kept across a restart"
    );
    let (status, view) = server
        .api(reqwest::Method::DELETE, "/v1/filter", None)
        .await;
    assert_eq!((status, view["source"].as_str()), (200, Some("config")));
    assert_eq!(
        sends(&server, "scam").await,
        Err(ErrorCode::FILTERED),
        "back to the config's lists"
    );
}

#[tokio::test]
async fn a_bad_filter_is_refused_and_the_old_one_stays() {
    let server = TestServer::start_with(|c| c.filter = lists(&["scam"], &[])).await;
    let cases = [
        json!({"lists": [{"name": "x", "action": "reject", "words": [""]}]}),
        json!({"lists": [{"name": "x", "action": "explode", "words": ["a"]}]}),
        json!({"lists": [{"name": "x", "action": "mask", "words": ["y".repeat(300)]}]}),
    ];
    for body in cases {
        let (status, reply) = server
            .api(reqwest::Method::PUT, "/v1/filter", Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body}: {reply}");
        assert!(
            matches!(
                reply["error"]["code"].as_str(),
                Some("invalid_filter" | "invalid_body")
            ),
            "{reply}"
        );
    }
    assert_eq!(sends(&server, "scam").await, Err(ErrorCode::FILTERED));
}
