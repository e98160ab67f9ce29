//! Contract suites every backend implementation must pass. Each function panics with a
//! description of the broken promise; implementations call them from their own tests
//! (the in-memory and SQLite ones below, Redis and PostgreSQL later).

use crate::{BusRecv, Draft, HotState, RoomBus, RoomRecord, Store};
use serde_json::json;
use std::sync::Arc;
use throng_protocol::Priority;
use throng_room::RoomSettings;

fn draft(n: u64) -> Draft {
    Draft {
        from: "alice".into(),
        kind: "text".into(),
        priority: Priority::High,
        body: json!({ "n": n }),
        id: None,
    }
}

async fn expect_message(sub: &mut crate::Subscription) -> Arc<throng_protocol::Message> {
    match tokio::time::timeout(std::time::Duration::from_secs(10), sub.recv()).await {
        Ok(BusRecv::Message(m)) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// [`RoomBus`]: seqs start at 1 and increase; every subscriber gets every message in
/// order; rooms are independent; history is bounded and oldest-first; removal closes.
pub async fn bus(bus: Arc<dyn RoomBus>) {
    let room = "contract-bus";
    assert_eq!(
        bus.last_seq(room).await.unwrap(),
        0,
        "a new room starts at seq 0"
    );
    let mut first = bus.subscribe(room).await.unwrap();
    let mut second = bus.subscribe(room).await.unwrap();
    let mut other = bus.subscribe("contract-bus-other").await.unwrap();

    // Publishers racing on one room still produce a gapless, ordered stream.
    let mut tasks = Vec::new();
    for task in 0..4u64 {
        let bus = bus.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                bus.publish("contract-bus", draft(task * 100 + i))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for sub in [&mut first, &mut second] {
        for expect in 1..=100 {
            let m = expect_message(sub).await;
            assert_eq!(m.seq, expect, "subscribers see every seq in order");
            assert_eq!(m.from, "alice");
        }
    }
    assert_eq!(bus.last_seq(room).await.unwrap(), 100);

    let m = bus.publish("contract-bus-other", draft(1)).await.unwrap();
    assert_eq!(m.seq, 1, "rooms have independent seqs");
    assert_eq!(expect_message(&mut other).await.seq, 1);
    assert!(m.ts > 1_600_000_000_000, "timestamps are Unix milliseconds");

    let recent = bus.recent(room, 10).await.unwrap();
    let seqs: Vec<u64> = recent.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        (91..=100).collect::<Vec<_>>(),
        "recent returns the newest, oldest first"
    );
    assert!(bus
        .recent("contract-bus-never", 10)
        .await
        .unwrap()
        .is_empty());

    bus.remove_room(room).await.unwrap();
    assert!(
        matches!(first.recv().await, BusRecv::Closed),
        "removal ends subscriptions"
    );
    assert_eq!(
        bus.last_seq(room).await.unwrap(),
        0,
        "a removed room starts over"
    );
}

/// [`HotState`]: buckets refill at their rate and hold at most their burst; keys are
/// independent; online counts add up and never go below zero. Call it with tokio's clock
/// paused (`start_paused = true`) so that refills are exact.
pub async fn hot_state(hot: Arc<dyn HotState>) {
    for _ in 0..3 {
        assert!(hot.take_token("contract:a", 10, 3).await.unwrap());
    }
    assert!(
        !hot.take_token("contract:a", 10, 3).await.unwrap(),
        "burst exhausted"
    );
    assert!(
        hot.take_token("contract:b", 10, 3).await.unwrap(),
        "keys are independent"
    );
    tokio::time::advance(std::time::Duration::from_millis(100)).await;
    assert!(
        hot.take_token("contract:a", 10, 3).await.unwrap(),
        "one token refilled after 100 ms"
    );
    assert!(!hot.take_token("contract:a", 10, 3).await.unwrap());

    assert_eq!(hot.add_online("contract-room", 3).await.unwrap(), 3);
    assert_eq!(hot.add_online("contract-room", -1).await.unwrap(), 2);
    assert_eq!(hot.online("contract-room").await.unwrap(), 2);
    assert_eq!(
        hot.add_online("contract-room", -5).await.unwrap(),
        0,
        "never negative"
    );
    assert_eq!(hot.online("contract-room-none").await.unwrap(), 0);

    hot_state_attributes(hot.clone()).await;
    hot_state_counters(hot).await;
}

/// Attributes in [`HotState`]: versions count every change, refusals change nothing,
/// increments and snapshots agree, owners' entries go when they leave, drop forgets.
async fn hot_state_attributes(hot: Arc<dyn HotState>) {
    use crate::AttrWrite;
    use throng_room::attributes::{apply, AttributeLimits, ClientState, Since};
    let limits = AttributeLimits {
        max_keys: 2,
        ..AttributeLimits::default()
    };
    let room = "contract-attrs";
    let set = |key: &str, by: Option<&str>, leave: bool| AttrWrite::Set {
        key: key.into(),
        value: json!({"k": key}),
        by: by.map(str::to_owned),
        delete_on_leave: leave,
        expect_version: None,
    };
    assert_eq!(
        hot.attr_since(room, 0).await.unwrap(),
        Since::Changes(vec![]),
        "a room never written is empty"
    );
    let first = hot
        .attr_write(room, &limits, set("seat:1", Some("ann"), true))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first[0].version, 1);
    hot.attr_write(room, &limits, set("title", None, false))
        .await
        .unwrap()
        .unwrap();
    let refused = hot
        .attr_write(room, &limits, set("third", None, false))
        .await
        .unwrap();
    assert_eq!(
        refused.unwrap_err().code(),
        "attr_too_many_keys",
        "refusals come back as AttrError"
    );
    let mut client = ClientState::default();
    apply(&mut client, hot.attr_since(room, 0).await.unwrap()).unwrap();
    assert_eq!(client.version, 2);
    let removed = hot
        .attr_write(
            room,
            &limits,
            AttrWrite::RemoveOwnedBy { user: "ann".into() },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(removed.len(), 1);
    apply(&mut client, hot.attr_since(room, 2).await.unwrap()).unwrap();
    assert_eq!(client.version, 3);
    assert!(!client.entries.contains_key("seat:1") && client.entries.contains_key("title"));
    let nobody = hot
        .attr_write(
            "contract-attrs-none",
            &limits,
            AttrWrite::RemoveOwnedBy { user: "x".into() },
        )
        .await
        .unwrap();
    assert_eq!(nobody, Ok(vec![]));
    hot.drop_room(room).await.unwrap();
    assert_eq!(
        hot.attr_since(room, 0).await.unwrap(),
        Since::Changes(vec![]),
        "dropped"
    );
}

/// Running counters add up per room and name, are bounded per room, and go with the room.
async fn hot_state_counters(hot: Arc<dyn HotState>) {
    let room = "contract-counters";
    assert!(hot.counters(room).await.unwrap().is_empty());
    // (name, n, total after)
    let cases = [
        ("like", 5, 5),
        ("like", 1000, 1005),
        ("heart", 1, 1),
        ("like", 0, 1005),
    ];
    for (name, n, total) in cases {
        assert_eq!(
            hot.counter_add(room, name, n).await.unwrap(),
            total,
            "{name} +{n}"
        );
    }
    let counters = hot.counters(room).await.unwrap();
    assert_eq!(counters.get("like"), Some(&1005));
    assert_eq!(counters.get("heart"), Some(&1));
    assert!(hot
        .counters("contract-counters-other")
        .await
        .unwrap()
        .is_empty());
    for i in 0..crate::MAX_ROOM_COUNTERS - 2 {
        hot.counter_add(room, &format!("k{i}"), 1).await.unwrap();
    }
    assert!(matches!(
        hot.counter_add(room, "one-too-many", 1).await,
        Err(crate::BackendError::LimitReached(_))
    ));
    assert_eq!(
        hot.counter_add(room, "like", 1).await.unwrap(),
        1006,
        "existing ones still count"
    );
    hot.drop_room(room).await.unwrap();
    assert!(hot.counters(room).await.unwrap().is_empty(), "dropped");
}

/// [`Store`]: rooms are created once, read back equal, updated, listed in id order with
/// paging, and deleted.
pub async fn store(store: Arc<dyn Store>) {
    let settings = RoomSettings {
        rate_per_sec: 7,
        ..RoomSettings::default()
    };
    let record = |id: &str| RoomRecord {
        id: id.into(),
        settings: settings.clone(),
        created_at: 1_700_000_000_000,
    };
    assert!(store.create_room(&record("b")).await.unwrap());
    assert!(
        !store.create_room(&record("b")).await.unwrap(),
        "second create reports the existing room"
    );
    assert!(store.create_room(&record("a")).await.unwrap());
    assert!(store.create_room(&record("c")).await.unwrap());
    assert_eq!(store.get_room("b").await.unwrap(), Some(record("b")));
    assert_eq!(store.get_room("zz").await.unwrap(), None);

    let mut changed = settings.clone();
    changed.ring_low = 5;
    assert!(store.update_room("b", &changed).await.unwrap());
    assert!(!store.update_room("zz", &changed).await.unwrap());
    assert_eq!(
        store.get_room("b").await.unwrap().unwrap().settings,
        changed
    );

    assert_eq!(store.room_count().await.unwrap(), 3);
    let ids = |rooms: Vec<RoomRecord>| rooms.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_rooms(None, 10).await.unwrap()),
        ["a", "b", "c"]
    );
    assert_eq!(ids(store.list_rooms(None, 2).await.unwrap()), ["a", "b"]);
    assert_eq!(ids(store.list_rooms(Some("b"), 10).await.unwrap()), ["c"]);

    assert!(store.delete_room("b").await.unwrap());
    assert!(!store.delete_room("b").await.unwrap());
    assert_eq!(store.get_room("b").await.unwrap(), None);
    assert_eq!(store.room_count().await.unwrap(), 2);
}

/// [`Store`] moderation entries: put replaces by (kind, room, user), global entries are
/// distinct from room ones, delete reports whether there was one, all returns everything.
pub async fn store_sanctions(store: Arc<dyn Store>) {
    use throng_room::moderation::{ListKind, Sanction};
    let entry = |kind, room: Option<&str>, user: &str, until| Sanction {
        kind,
        room: room.map(str::to_owned),
        user: user.to_owned(),
        until,
        reason: Some("spam".into()),
        by: "@server".into(),
        created_at: 5,
    };
    store
        .put_sanction(&entry(ListKind::Mute, Some("r"), "u", Some(10)))
        .await
        .unwrap();
    store
        .put_sanction(&entry(ListKind::Mute, Some("r"), "u", None))
        .await
        .unwrap();
    store
        .put_sanction(&entry(ListKind::Mute, None, "u", Some(7)))
        .await
        .unwrap();
    store
        .put_sanction(&entry(ListKind::RoomMute, Some("r"), "", None))
        .await
        .unwrap();
    let mut all = store.all_sanctions().await.unwrap();
    all.sort_by_key(|s| (s.kind.as_str(), s.room.clone(), s.user.clone()));
    assert_eq!(
        all,
        [
            entry(ListKind::Mute, None, "u", Some(7)),
            entry(ListKind::Mute, Some("r"), "u", None),
            entry(ListKind::RoomMute, Some("r"), "", None)
        ],
        "a second put replaced the first; global and room entries are distinct"
    );
    assert!(store
        .delete_sanction(ListKind::Mute, None, "u")
        .await
        .unwrap());
    assert!(!store
        .delete_sanction(ListKind::Mute, None, "u")
        .await
        .unwrap());
    assert_eq!(store.all_sanctions().await.unwrap().len(), 2);
}

/// [`Store`] settings: absent until put, put replaces, delete reports whether it was set.
pub async fn store_settings(store: Arc<dyn Store>) {
    assert_eq!(store.get_setting("contract").await.unwrap(), None);
    store
        .put_setting("contract", &json!({"a": 1}))
        .await
        .unwrap();
    store
        .put_setting("contract", &json!({"a": [2, "x"]}))
        .await
        .unwrap();
    assert_eq!(
        store.get_setting("contract").await.unwrap(),
        Some(json!({"a": [2, "x"]}))
    );
    assert!(store.delete_setting("contract").await.unwrap());
    assert!(!store.delete_setting("contract").await.unwrap());
    assert_eq!(store.get_setting("contract").await.unwrap(), None);
}

/// Reliable messages: kept until expiry, found by id, counted, listed in seq order,
/// replaced on a second put, pruned, and dropped with their room.
pub async fn store_reliable(store: Arc<dyn Store>) {
    let message = |seq: u64, id: &str| throng_protocol::Message {
        seq,
        ts: 1_000 + seq,
        from: "@server".into(),
        kind: "gift".into(),
        priority: throng_protocol::Priority::System,
        body: serde_json::json!({"gift": seq}),
        id: Some(id.into()),
    };
    let now = 10_000;
    store
        .reliable_put("r", &message(7, "b"), now + 500)
        .await
        .unwrap();
    store
        .reliable_put("r", &message(5, "a"), now + 100)
        .await
        .unwrap();
    store
        .reliable_put("r", &message(9, "old"), now - 1)
        .await
        .unwrap();
    store
        .reliable_put("other", &message(1, "a"), now + 100)
        .await
        .unwrap();
    assert_eq!(store.reliable_count("r", now).await.unwrap(), 2);
    assert_eq!(
        store.reliable_find("r", "a", now).await.unwrap(),
        Some(message(5, "a"))
    );
    assert_eq!(
        store.reliable_find("r", "old", now).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(store.reliable_find("r", "zzz", now).await.unwrap(), None);
    let pending = store.reliable_pending("r", now).await.unwrap();
    assert_eq!(
        pending,
        vec![(message(5, "a"), now + 100), (message(7, "b"), now + 500)],
        "seq order with expiries"
    );
    // Later, "a" has expired too; pruning deletes "old" and "a".
    assert_eq!(store.reliable_count("r", now + 200).await.unwrap(), 1);
    assert_eq!(store.reliable_prune(now + 200).await.unwrap(), 3);
    assert_eq!(store.reliable_pending("r", 0).await.unwrap().len(), 1);
    // A second put with the same id replaces the first.
    store
        .reliable_put("r", &message(8, "b"), now + 900)
        .await
        .unwrap();
    assert_eq!(
        store.reliable_pending("r", now).await.unwrap(),
        vec![(message(8, "b"), now + 900)]
    );
    // Deleting a room drops its reliable messages.
    let record = RoomRecord {
        id: "r".into(),
        settings: throng_room::RoomSettings::default(),
        created_at: 1,
    };
    store.create_room(&record).await.unwrap();
    store.delete_room("r").await.unwrap();
    assert_eq!(store.reliable_count("r", 0).await.unwrap(), 0);
}

/// Recorded messages: written in batches (a repeat of (room, seq) and a room that does not
/// exist are skipped), read back by time range in (ts, seq) order with paging after a
/// position, pruned per room by time, and dropped with their room.
pub async fn store_recording(store: Arc<dyn Store>) {
    let message = |seq: u64, ts: u64| throng_protocol::Message {
        seq,
        ts,
        from: "alice".into(),
        kind: "text".into(),
        priority: Priority::High,
        body: json!({"seq": seq}),
        id: None,
    };
    for id in ["r", "other"] {
        let record = RoomRecord {
            id: id.into(),
            settings: RoomSettings::default(),
            created_at: 1,
        };
        store.create_room(&record).await.unwrap();
    }
    // Two messages share ts 200 and arrive out of order; seq 3 is written twice.
    let batch = |entries: &[(&str, u64, u64)]| {
        entries
            .iter()
            .map(|&(room, seq, ts)| (room.to_owned(), message(seq, ts)))
            .collect::<Vec<_>>()
    };
    store
        .record_messages(&batch(&[
            ("r", 1, 100),
            ("r", 3, 200),
            ("r", 2, 200),
            ("other", 9, 150),
            ("missing", 1, 100),
        ]))
        .await
        .unwrap();
    store
        .record_messages(&batch(&[("r", 3, 200), ("r", 4, 300), ("r", 5, 400)]))
        .await
        .unwrap();
    store.record_messages(&[]).await.unwrap();
    let seqs = |messages: Vec<throng_protocol::Message>| {
        messages.into_iter().map(|m| m.seq).collect::<Vec<_>>()
    };
    /// (room, from, to, after, limit, the seqs expected)
    type Case = (
        &'static str,
        u64,
        u64,
        Option<(u64, u64)>,
        u32,
        &'static [u64],
    );
    let cases: &[Case] = &[
        ("r", 0, u64::MAX, None, 100, &[1, 2, 3, 4, 5]),
        ("r", 100, 400, None, 100, &[1, 2, 3, 4, 5]),
        ("r", 101, 399, None, 100, &[2, 3, 4]),
        ("r", 200, 200, None, 100, &[2, 3]),
        ("r", 0, u64::MAX, None, 2, &[1, 2]),
        ("r", 0, u64::MAX, Some((200, 2)), 2, &[3, 4]),
        ("r", 0, u64::MAX, Some((200, 3)), 100, &[4, 5]),
        ("r", 0, 300, Some((100, 1)), 100, &[2, 3, 4]),
        ("r", 401, 1_000, None, 100, &[]),
        ("r", 300, 200, None, 100, &[]),
        ("other", 0, u64::MAX, None, 100, &[9]),
        ("missing", 0, u64::MAX, None, 100, &[]),
    ];
    for &(room, from, to, after, limit, expected) in cases {
        assert_eq!(
            seqs(store.recorded(room, from, to, after, limit).await.unwrap()),
            expected,
            "recorded({room}, {from}, {to}, {after:?}, {limit})"
        );
    }
    assert_eq!(
        store.recorded("r", 100, 100, None, 10).await.unwrap(),
        [message(1, 100)],
        "messages read back equal"
    );
    // Pruning is per room and strictly before the given time.
    assert_eq!(store.prune_recorded("r", 200).await.unwrap(), 1);
    assert_eq!(store.prune_recorded("r", 200).await.unwrap(), 0);
    assert_eq!(
        seqs(store.recorded("r", 0, u64::MAX, None, 100).await.unwrap()),
        [2, 3, 4, 5]
    );
    assert_eq!(
        seqs(
            store
                .recorded("other", 0, u64::MAX, None, 100)
                .await
                .unwrap()
        ),
        [9],
        "pruning one room leaves the others"
    );
    // Deleting a room drops its recorded messages, and a later batch for it is skipped.
    store.delete_room("r").await.unwrap();
    store
        .record_messages(&batch(&[("r", 6, 500)]))
        .await
        .unwrap();
    assert_eq!(
        store.recorded("r", 0, u64::MAX, None, 100).await.unwrap(),
        []
    );
}
