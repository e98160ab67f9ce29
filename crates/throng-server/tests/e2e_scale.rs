//! 5000 clients in one room, in one process with the server: every one of them receives
//! every system-priority message while high and low chatter flows too. Asserts delivery,
//! never timings. (10,000 sockets: its own test binary, within 20,000 descriptors.)

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;
use throng_client::{Client, Event};
use throng_protocol::{DeliveryMode, Priority};

const MEMBERS: usize = 5000;
const SYSTEM_MESSAGES: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_members_receive_every_system_message() {
    let server = TestServer::start().await;
    server
        .create_room("stadium", json!({"rate_per_sec": 100000}))
        .await;

    let mut collectors = Vec::with_capacity(MEMBERS);
    for chunk in 0..MEMBERS / 250 {
        let joins = (0..250).map(|i| {
            let mut config = server.client_config(server.token(&format!("viewer-{chunk}-{i}")));
            config.read_buffer_size = 4096;
            // Connecting thousands of clients on a loaded machine can be slow; this test
            // is about delivery, not connect latency.
            config.request_timeout = Duration::from_secs(120);
            async move {
                let (client, events) = Client::connect(config).await.expect("connects");
                client
                    .join("stadium", DeliveryMode::Push)
                    .await
                    .expect("joins");
                (client, events)
            }
        });
        for (client, mut events) in futures_util::future::join_all(joins).await {
            collectors.push(tokio::spawn(async move {
                let mut system = 0u64;
                while system < SYSTEM_MESSAGES {
                    match events.next().await {
                        Some(Event::Messages { msgs, .. }) => {
                            system += msgs
                                .iter()
                                .filter(|m| m.priority == Priority::System)
                                .count() as u64;
                        }
                        Some(Event::Closed) | None => break,
                        Some(_) => {}
                    }
                }
                drop(client);
                system
            }));
        }
    }
    let (status, info) = server
        .api(reqwest::Method::GET, "/v1/rooms/stadium", None)
        .await;
    assert_eq!(
        (status, info["online"].as_u64()),
        (200, Some(MEMBERS as u64))
    );

    for i in 0..SYSTEM_MESSAGES {
        server
            .publish("stadium", Priority::System, json!({"gift": i}))
            .await;
        for priority in [Priority::High, Priority::Low] {
            server
                .publish("stadium", priority, json!({"chat": i}))
                .await;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let counts = tokio::time::timeout(
        Duration::from_secs(600),
        futures_util::future::join_all(collectors),
    )
    .await
    .expect("every member got every system message in time");
    let short: Vec<u64> = counts
        .into_iter()
        .map(|c| c.unwrap())
        .filter(|&c| c != SYSTEM_MESSAGES)
        .collect();
    assert!(
        short.is_empty(),
        "{} members missed system messages: {:?}",
        short.len(),
        &short[..short.len().min(10)]
    );
}
