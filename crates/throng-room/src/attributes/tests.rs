//! Room attributes through the public API: scenario tables run by one helper, the wire
//! format, and a randomized replay against an independent model checking that
//! `changes_since(v)` replayed onto a client's state at `v` always gives `snapshot()`.

use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// One operation of a scenario.
#[derive(Debug, Clone)]
enum Op {
    Set {
        key: &'static str,
        value: Value,
        by: Option<&'static str>,
        delete_on_leave: bool,
        expect_version: Option<u64>,
    },
    Delete {
        key: &'static str,
        expect_version: Option<u64>,
    },
    Leave(&'static str),
}

fn set(key: &'static str, value: Value) -> Op {
    Op::Set {
        key,
        value,
        by: None,
        delete_on_leave: false,
        expect_version: None,
    }
}

/// A set by a member that is deleted when the member leaves.
fn set_owned(key: &'static str, value: Value, user: &'static str) -> Op {
    Op::Set {
        key,
        value,
        by: Some(user),
        delete_on_leave: true,
        expect_version: None,
    }
}

/// A set by a member that stays when the member leaves.
fn set_by(key: &'static str, value: Value, user: &'static str) -> Op {
    Op::Set {
        key,
        value,
        by: Some(user),
        delete_on_leave: false,
        expect_version: None,
    }
}

fn set_if(key: &'static str, value: Value, expect_version: u64) -> Op {
    Op::Set {
        key,
        value,
        by: None,
        delete_on_leave: false,
        expect_version: Some(expect_version),
    }
}

fn delete(key: &'static str) -> Op {
    Op::Delete {
        key,
        expect_version: None,
    }
}

fn delete_if(key: &'static str, expect_version: u64) -> Op {
    Op::Delete {
        key,
        expect_version: Some(expect_version),
    }
}

/// Runs one operation at `now_ms` and describes the outcome: `v3` for a change at
/// version 3, `v3+v4` for several, `-` for none, or the error code.
fn run_op(attrs: &mut RoomAttributes, op: &Op, now_ms: u64) -> String {
    let versions = |changes: Vec<Change>| {
        if changes.is_empty() {
            "-".to_owned()
        } else {
            let names: Vec<String> = changes.iter().map(|c| format!("v{}", c.version)).collect();
            names.join("+")
        }
    };
    let result = match op {
        Op::Set {
            key,
            value,
            by,
            delete_on_leave,
            expect_version,
        } => {
            let options = SetOptions {
                by: *by,
                delete_on_leave: *delete_on_leave,
                expect_version: *expect_version,
            };
            attrs
                .set(key, value.clone(), options, now_ms)
                .map(|c| vec![c])
        }
        Op::Delete {
            key,
            expect_version,
        } => attrs
            .delete(key, None, *expect_version, now_ms)
            .map(|c| vec![c]),
        Op::Leave(user) => Ok(attrs.remove_owned_by(user, now_ms)),
    };
    match result {
        Ok(changes) => versions(changes),
        Err(error) => error.code().to_owned(),
    }
}

/// The state as `key=value@version/owner`, in key order.
fn render(snapshot: &Snapshot) -> String {
    let entries: Vec<String> = snapshot
        .entries
        .iter()
        .map(|(key, entry)| {
            let owner = entry
                .by
                .as_deref()
                .map(|by| format!("/{by}"))
                .unwrap_or_default();
            format!("{key}={}@{}{owner}", entry.value, entry.version)
        })
        .collect();
    entries.join(" ")
}

/// Runs `ops` (at times 1, 2, 3, ...) and compares the outcomes, space-separated, and the
/// final state.
fn check(limits: AttributeLimits, ops: &[Op], expect_outcomes: &str, expect_state: &str) {
    let mut attrs = RoomAttributes::new(limits);
    let outcomes: Vec<String> = ops
        .iter()
        .enumerate()
        .map(|(i, op)| run_op(&mut attrs, op, i as u64 + 1))
        .collect();
    assert_eq!(outcomes.join(" "), expect_outcomes, "outcomes of {ops:?}");
    assert_eq!(
        render(&attrs.snapshot()),
        expect_state,
        "state after {ops:?}"
    );
}

fn limits(max_keys: u32, max_value_bytes: u32, max_log: u32) -> AttributeLimits {
    AttributeLimits {
        max_keys,
        max_key_bytes: 8,
        max_value_bytes,
        max_log,
    }
}

#[test]
fn set_and_delete_take_consecutive_versions_and_refusals_take_none() {
    let cases: Vec<(Vec<Op>, &str, &str)> = vec![
        (vec![], "", ""),
        (vec![set("a", json!(1))], "v1", "a=1@1"),
        (
            vec![set("a", json!(1)), set("b", json!("x")), set("a", json!(2))],
            "v1 v2 v3",
            "a=2@3 b=\"x\"@2",
        ),
        (
            vec![set("a", json!(1)), delete("a"), set("a", json!(3))],
            "v1 v2 v3",
            "a=3@3",
        ),
        // Setting the same value again is still a change.
        (
            vec![set("a", json!(1)), set("a", json!(1))],
            "v1 v2",
            "a=1@2",
        ),
        (
            vec![delete("a"), set("a", json!(null)), set("a", json!(1))],
            "attr_not_found attr_value_null v1",
            "a=1@1",
        ),
        (
            vec![set("a", json!({"seat": 1, "user": "u1"}))],
            "v1",
            r#"a={"seat":1,"user":"u1"}@1"#,
        ),
    ];
    for (ops, outcomes, state) in cases {
        check(AttributeLimits::default(), &ops, outcomes, state);
    }
}

#[test]
fn keys_are_checked_for_length_and_characters() {
    let cases = [
        ("a", "v1"),
        ("seat:1", "v1"),
        ("A-z_0.9:", "v1"),
        ("12345678", "v1"),
        ("123456789", "attr_key_invalid"),
        ("", "attr_key_invalid"),
        ("seat 1", "attr_key_invalid"),
        ("seat/1", "attr_key_invalid"),
        ("é", "attr_key_invalid"),
        ("a\n", "attr_key_invalid"),
    ];
    for (key, expect) in cases {
        let mut attrs = RoomAttributes::new(limits(10, 100, 10));
        let outcome = match attrs.set(key, json!(1), SetOptions::default(), 1) {
            Ok(change) => format!("v{}", change.version),
            Err(error) => error.code().to_owned(),
        };
        assert_eq!(outcome, expect, "key {key:?}");
    }
}

#[test]
fn key_errors_say_what_is_wrong() {
    let cases = [
        ("", "invalid attribute key: the key is empty"),
        (
            "123456789",
            "invalid attribute key: the key is 9 bytes long, the most is 8",
        ),
        (
            "a b",
            "invalid attribute key: the key contains ' '; keys use A-Z a-z 0-9 _ - . : only",
        ),
    ];
    for (key, message) in cases {
        let mut attrs = RoomAttributes::new(limits(10, 100, 10));
        let error = attrs
            .set(key, json!(1), SetOptions::default(), 1)
            .unwrap_err();
        assert_eq!(error.to_string(), message);
    }
}

#[test]
fn values_are_measured_as_compact_json_bytes() {
    // (value, its compact JSON length, outcome with max_value_bytes = 10)
    let cases = [
        (json!("12345678"), 10, "v1"),
        (json!("123456789"), 11, "attr_value_too_large"),
        (json!([1, 2, 3, 4]), 9, "v1"),
        (json!([1, 2, 3, 4, 5]), 11, "attr_value_too_large"),
        (json!({"a": 1234}), 10, "v1"),
        (json!(1234567890), 10, "v1"),
        (json!(12345678901u64), 11, "attr_value_too_large"),
        (json!(true), 4, "v1"),
        // Bytes, not characters: five two-byte characters and the quotes.
        (json!("ééééé"), 12, "attr_value_too_large"),
    ];
    for (value, encoded_len, expect) in cases {
        assert_eq!(
            serde_json::to_vec(&value).unwrap().len(),
            encoded_len,
            "{value}"
        );
        let mut attrs = RoomAttributes::new(limits(10, 10, 10));
        let outcome = run_op(&mut attrs, &set("k", value.clone()), 1);
        assert_eq!(outcome, expect, "value {value}");
    }
}

#[test]
fn value_too_large_says_by_how_much() {
    let mut attrs = RoomAttributes::new(limits(10, 10, 10));
    let error = attrs
        .set("k", json!("123456789"), SetOptions::default(), 1)
        .unwrap_err();
    assert_eq!(error, AttrError::ValueTooLarge { bytes: 11, max: 10 });
    assert_eq!(
        error.to_string(),
        "the value is 11 bytes as JSON, the most is 10"
    );
}

#[test]
fn key_count_limits_new_keys_only() {
    let cases: Vec<(Vec<Op>, &str, &str)> = vec![
        (
            vec![set("a", json!(1)), set("b", json!(1)), set("c", json!(1))],
            "v1 v2 attr_too_many_keys",
            "a=1@1 b=1@2",
        ),
        // An existing key can still change at the limit.
        (
            vec![set("a", json!(1)), set("b", json!(1)), set("a", json!(2))],
            "v1 v2 v3",
            "a=2@3 b=1@2",
        ),
        // A deletion makes room.
        (
            vec![
                set("a", json!(1)),
                set("b", json!(1)),
                delete("a"),
                set("c", json!(1)),
            ],
            "v1 v2 v3 v4",
            "b=1@2 c=1@4",
        ),
        // So does a member leaving.
        (
            vec![
                set_owned("a", json!(1), "u1"),
                set("b", json!(1)),
                Op::Leave("u1"),
                set("c", json!(1)),
            ],
            "v1 v2 v3 v4",
            "b=1@2 c=1@4",
        ),
    ];
    for (ops, outcomes, state) in cases {
        check(limits(2, 100, 10), &ops, outcomes, state);
    }
}

#[test]
fn compare_and_set_needs_the_current_version_of_the_key() {
    let cases: Vec<(Vec<Op>, &str, &str)> = vec![
        // 0 means "only if absent": the first claim of a seat wins.
        (
            vec![
                set_if("seat", json!("u1"), 0),
                set_if("seat", json!("u2"), 0),
            ],
            "v1 attr_version_mismatch",
            "seat=\"u1\"@1",
        ),
        (
            vec![set("seat", json!("u1")), set_if("seat", json!("u2"), 1)],
            "v1 v2",
            "seat=\"u2\"@2",
        ),
        // The key's version, not the room's: "b" was set at 2, the room is at 3.
        (
            vec![
                set("a", json!(1)),
                set("b", json!(1)),
                set("a", json!(2)),
                set_if("b", json!(2), 3),
                set_if("b", json!(2), 2),
            ],
            "v1 v2 v3 attr_version_mismatch v4",
            "a=2@3 b=2@4",
        ),
        // A deleted key is absent again.
        (
            vec![
                set("a", json!(1)),
                delete("a"),
                set_if("a", json!(2), 1),
                set_if("a", json!(2), 0),
            ],
            "v1 v2 attr_version_mismatch v3",
            "a=2@3",
        ),
        (
            vec![
                set("a", json!(1)),
                delete_if("a", 2),
                delete_if("a", 0),
                delete_if("a", 1),
                delete_if("a", 1),
            ],
            "v1 attr_version_mismatch attr_version_mismatch v2 attr_version_mismatch",
            "",
        ),
        (vec![delete_if("a", 0)], "attr_not_found", ""),
    ];
    for (ops, outcomes, state) in cases {
        check(AttributeLimits::default(), &ops, outcomes, state);
    }
}

#[test]
fn version_mismatch_names_both_versions() {
    let mut attrs = RoomAttributes::new(AttributeLimits::default());
    attrs.set("a", json!(1), SetOptions::default(), 1).unwrap();
    let options = SetOptions {
        expect_version: Some(7),
        ..SetOptions::default()
    };
    let error = attrs.set("a", json!(2), options, 2).unwrap_err();
    assert_eq!(
        error,
        AttrError::VersionMismatch {
            key: "a".to_owned(),
            expected: 7,
            actual: 1
        }
    );
    assert_eq!(error.to_string(), "key \"a\" is at version 1, not 7");
}

#[test]
fn leaving_deletes_what_the_member_set_last_with_delete_on_leave() {
    let cases: Vec<(Vec<Op>, &str, &str)> = vec![
        (
            vec![
                set_owned("seat:2", json!(1), "u1"),
                set_owned("seat:1", json!(1), "u1"),
                set_owned("seat:3", json!(1), "u2"),
                Op::Leave("u1"),
            ],
            // In key order, one version each.
            "v1 v2 v3 v4+v5",
            "seat:3=1@3/u2",
        ),
        // Entries set without the flag, or by the server, stay.
        (
            vec![
                set_by("a", json!(1), "u1"),
                set("b", json!(1)),
                Op::Leave("u1"),
            ],
            "v1 v2 -",
            "a=1@1/u1 b=1@2",
        ),
        // A seat taken over by another member belongs to that member now.
        (
            vec![
                set_owned("seat", json!("u1"), "u1"),
                set_owned("seat", json!("u2"), "u2"),
                Op::Leave("u1"),
                Op::Leave("u2"),
            ],
            "v1 v2 - v3",
            "",
        ),
        // The same member setting it again without the flag keeps it.
        (
            vec![
                set_owned("a", json!(1), "u1"),
                set_by("a", json!(2), "u1"),
                Op::Leave("u1"),
            ],
            "v1 v2 -",
            "a=2@2/u1",
        ),
        // The server overwriting a member's entry takes it over.
        (
            vec![
                set_owned("a", json!(1), "u1"),
                set("a", json!(2)),
                Op::Leave("u1"),
            ],
            "v1 v2 -",
            "a=2@2",
        ),
        (vec![Op::Leave("nobody")], "-", ""),
        // Leaving twice deletes nothing the second time.
        (
            vec![
                set_owned("a", json!(1), "u1"),
                Op::Leave("u1"),
                Op::Leave("u1"),
            ],
            "v1 v2 -",
            "",
        ),
        // Without an owner nobody could leave.
        (
            vec![Op::Set {
                key: "a",
                value: json!(1),
                by: None,
                delete_on_leave: true,
                expect_version: None,
            }],
            "attr_owner_required",
            "",
        ),
    ];
    for (ops, outcomes, state) in cases {
        check(AttributeLimits::default(), &ops, outcomes, state);
    }
}

#[test]
fn changes_record_who_and_when() {
    let mut attrs = RoomAttributes::new(AttributeLimits::default());
    let owned = SetOptions {
        by: Some("u1"),
        delete_on_leave: true,
        expect_version: None,
    };
    let set_change = attrs.set("seat", json!(1), owned, 100).unwrap();
    let delete_change = attrs.delete("seat", Some("mod"), None, 200).unwrap();
    attrs.set("game", json!("on"), owned, 300).unwrap();
    let left = attrs.remove_owned_by("u1", 400);
    assert_eq!(left.len(), 1);
    let expect = [
        (set_change, 1, "seat", Some(json!(1)), Some("u1"), 100),
        (delete_change, 2, "seat", None, Some("mod"), 200),
        (left[0].clone(), 4, "game", None, Some("u1"), 400),
    ];
    for (change, version, key, value, by, ts) in expect {
        assert_eq!(change.version, version);
        assert_eq!(change.key, key);
        assert_eq!(change.deleted, value.is_none());
        assert_eq!(change.value, value);
        assert_eq!(change.by.as_deref(), by);
        assert_eq!(change.ts, ts);
    }

    attrs.set("game", json!("off"), owned, 500).unwrap();
    let expect_entry = Entry {
        value: json!("off"),
        version: 5,
        by: Some("u1".to_owned()),
        ts: 500,
    };
    assert_eq!(attrs.get("game"), Some(&expect_entry));
    assert_eq!(attrs.snapshot().entries["game"], expect_entry);
}

/// What `changes_since` answers, in short: `changes 3,4,5`, `changes` (none) or
/// `snapshot@5`.
fn describe(since: &Since) -> String {
    match since {
        Since::Changes(changes) if changes.is_empty() => "changes".to_owned(),
        Since::Changes(changes) => {
            let versions: Vec<String> = changes.iter().map(|c| c.version.to_string()).collect();
            format!("changes {}", versions.join(","))
        }
        Since::Snapshot(snapshot) => format!("snapshot@{}", snapshot.version),
    }
}

#[test]
fn changes_since_serves_the_log_and_falls_back_to_a_snapshot() {
    // (max_log, number of changes made, version asked, answer)
    let cases = [
        (3, 0, 0, "changes"),
        (3, 0, 1, "snapshot@0"),
        (3, 2, 0, "changes 1,2"),
        (3, 3, 0, "changes 1,2,3"),
        (3, 5, 0, "snapshot@5"),
        (3, 5, 1, "snapshot@5"),
        (3, 5, 2, "changes 3,4,5"),
        (3, 5, 4, "changes 5"),
        (3, 5, 5, "changes"),
        (3, 5, 6, "snapshot@5"),
        (3, 5, u64::MAX, "snapshot@5"),
        (1, 5, 4, "changes 5"),
        (1, 5, 3, "snapshot@5"),
        (0, 0, 0, "changes"),
        (0, 5, 5, "changes"),
        (0, 5, 4, "snapshot@5"),
        (1000, 5, 0, "changes 1,2,3,4,5"),
    ];
    for (max_log, n_changes, asked, expect) in cases {
        let mut attrs = RoomAttributes::new(limits(10, 100, max_log));
        for i in 0..n_changes {
            attrs
                .set("k", json!(i), SetOptions::default(), i)
                .expect("set");
        }
        assert_eq!(
            describe(&attrs.changes_since(asked)),
            expect,
            "max_log {max_log}, {n_changes} changes, since {asked}"
        );
        assert!(attrs.log_len() <= max_log as usize);
    }
}

#[test]
fn lowering_max_log_drops_the_oldest_changes_now() {
    let mut attrs = RoomAttributes::new(limits(10, 100, 10));
    for i in 0..6 {
        attrs.set("k", json!(i), SetOptions::default(), i).unwrap();
    }
    assert_eq!(describe(&attrs.changes_since(1)), "changes 2,3,4,5,6");
    attrs.set_limits(limits(10, 100, 2));
    assert_eq!(attrs.log_len(), 2);
    assert_eq!(describe(&attrs.changes_since(3)), "snapshot@6");
    assert_eq!(describe(&attrs.changes_since(4)), "changes 5,6");
}

#[test]
fn lowered_limits_keep_existing_keys_deletable() {
    let mut attrs = RoomAttributes::new(AttributeLimits::default());
    for key in ["long-key-1", "long-key-2", "long-key-3"] {
        attrs.set(key, json!(1), SetOptions::default(), 1).unwrap();
    }
    attrs.set_limits(limits(2, 100, 10));
    let outcomes: Vec<String> = [
        set("x", json!(1)),
        set("long-key-1", json!(2)),
        delete("long-key-2"),
        delete("long-key-3"),
        delete("long-key-4"),
        set("x", json!(1)),
    ]
    .iter()
    .map(|op| run_op(&mut attrs, op, 2))
    .collect();
    assert_eq!(
        outcomes.join(" "),
        "attr_too_many_keys attr_key_invalid v4 v5 attr_key_invalid v6"
    );
}

#[test]
fn apply_skips_repeated_changes_and_stops_at_a_gap() {
    let mut attrs = RoomAttributes::new(AttributeLimits::default());
    for i in 0..4 {
        attrs.set("k", json!(i), SetOptions::default(), i).unwrap();
    }
    let Since::Changes(all) = attrs.changes_since(0) else {
        panic!("the log holds every change");
    };

    // A pull answered twice applies once.
    let mut client = ClientState::default();
    apply(&mut client, Since::Changes(all[..2].to_vec())).unwrap();
    apply(&mut client, Since::Changes(all.clone())).unwrap();
    assert_eq!(client, attrs.snapshot());

    // A missing change stops the replay at the last consistent version.
    let mut client = ClientState::default();
    let with_gap = vec![all[0].clone(), all[2].clone(), all[3].clone()];
    assert_eq!(
        apply(&mut client, Since::Changes(with_gap)),
        Err(Gap { have: 1, got: 3 })
    );
    assert_eq!(client.version, 1);
    assert_eq!(client.entries["k"].value, json!(0));
}

#[test]
fn wire_format_uses_short_field_names() {
    let mut attrs = RoomAttributes::new(AttributeLimits::default());
    let owned = SetOptions {
        by: Some("u1"),
        delete_on_leave: true,
        expect_version: None,
    };
    let cases = [
        (
            serde_json::to_value(
                attrs
                    .set("seat:1", json!({"user": "u1"}), owned, 10)
                    .unwrap(),
            ),
            json!({"version": 1, "key": "seat:1", "value": {"user": "u1"}, "by": "u1", "ts": 10}),
        ),
        (
            serde_json::to_value(
                attrs
                    .set("title", json!("hi"), SetOptions::default(), 11)
                    .unwrap(),
            ),
            json!({"version": 2, "key": "title", "value": "hi", "ts": 11}),
        ),
        (
            serde_json::to_value(attrs.delete("title", None, None, 12).unwrap()),
            json!({"version": 3, "key": "title", "deleted": true, "ts": 12}),
        ),
        (
            serde_json::to_value(attrs.snapshot()),
            json!({"version": 3, "entries": {
                "seat:1": {"value": {"user": "u1"}, "version": 1, "by": "u1", "ts": 10}
            }}),
        ),
        (
            serde_json::to_value(attrs.changes_since(2)),
            json!({"changes": [{"version": 3, "key": "title", "deleted": true, "ts": 12}]}),
        ),
        (
            serde_json::to_value(attrs.changes_since(3)),
            json!({"changes": []}),
        ),
        (
            serde_json::to_value(attrs.changes_since(9)),
            json!({"snapshot": {"version": 3, "entries": {
                "seat:1": {"value": {"user": "u1"}, "version": 1, "by": "u1", "ts": 10}
            }}}),
        ),
    ];
    for (encoded, expect) in cases {
        assert_eq!(encoded.unwrap(), expect);
    }
}

#[test]
fn wire_types_round_trip_through_json() {
    let mut attrs = RoomAttributes::new(limits(10, 100, 2));
    let owned = SetOptions {
        by: Some("u1"),
        delete_on_leave: true,
        expect_version: None,
    };
    attrs.set("a", json!([1, {"b": false}]), owned, 1).unwrap();
    attrs
        .set("b", json!(0.5), SetOptions::default(), 2)
        .unwrap();
    attrs.delete("b", Some("u2"), None, 3).unwrap();
    for asked in [0, 1, 2, 3] {
        let since = attrs.changes_since(asked);
        let text = serde_json::to_string(&since).unwrap();
        let decoded: Since = serde_json::from_str(&text).unwrap();
        assert_eq!(decoded, since, "{text}");
    }
}

#[test]
fn error_codes_are_stable_and_distinct() {
    let cases = [
        (AttrError::KeyInvalid(KeyProblem::Empty), "attr_key_invalid"),
        (
            AttrError::ValueTooLarge { bytes: 9, max: 8 },
            "attr_value_too_large",
        ),
        (AttrError::ValueNull, "attr_value_null"),
        (AttrError::TooManyKeys { max: 1 }, "attr_too_many_keys"),
        (
            AttrError::VersionMismatch {
                key: "k".to_owned(),
                expected: 1,
                actual: 2,
            },
            "attr_version_mismatch",
        ),
        (
            AttrError::NotFound {
                key: "k".to_owned(),
            },
            "attr_not_found",
        ),
        (AttrError::OwnerRequired, "attr_owner_required"),
    ];
    let mut seen = std::collections::HashSet::new();
    for (error, code) in cases {
        assert_eq!(error.code(), code, "{error}");
        assert!(seen.insert(code), "{code} used twice");
    }
}

#[test]
fn default_limits_are_valid() {
    let defaults = AttributeLimits::default();
    defaults.validate().unwrap();
    assert_eq!(
        (
            defaults.max_keys,
            defaults.max_key_bytes,
            defaults.max_value_bytes,
            defaults.max_log
        ),
        (100, 64, 4096, 1000)
    );
}

#[test]
fn out_of_range_limits_are_named() {
    type Edit = fn(&mut AttributeLimits);
    let cases: [(Edit, Option<&str>); 8] = [
        (|l| l.max_keys = 0, Some("max_keys")),
        (|l| l.max_keys = 10_001, Some("max_keys")),
        (|l| l.max_key_bytes = 0, Some("max_key_bytes")),
        (|l| l.max_key_bytes = 257, Some("max_key_bytes")),
        (|l| l.max_value_bytes = 1, Some("max_value_bytes")),
        (|l| l.max_value_bytes = 65_537, Some("max_value_bytes")),
        (|l| l.max_log = 100_001, Some("max_log")),
        (|l| l.max_log = 0, None),
    ];
    for (edit, field) in cases {
        let mut limits = AttributeLimits::default();
        edit(&mut limits);
        assert_eq!(
            limits.validate().err().map(|e| e.field),
            field,
            "{limits:?}"
        );
    }
}

#[test]
fn partial_limits_fill_defaults_and_unknown_fields_are_refused() {
    let parsed: AttributeLimits = serde_json::from_str(r#"{"max_keys": 5}"#).unwrap();
    assert_eq!(
        parsed,
        AttributeLimits {
            max_keys: 5,
            ..AttributeLimits::default()
        }
    );
    assert!(serde_json::from_str::<AttributeLimits>(r#"{"max_entries": 5}"#).is_err());
}

/// An independent model of the attributes, for the randomized test: it predicts every
/// outcome and keeps the state at every version, which is what a client could hold.
struct Model {
    max_keys: usize,
    /// Per key: the entry and its delete_on_leave flag.
    entries: BTreeMap<String, (Entry, bool)>,
    /// `states[v]` is the state at version v.
    states: Vec<ClientState>,
}

impl Model {
    fn new(max_keys: usize) -> Model {
        Model {
            max_keys,
            entries: BTreeMap::new(),
            states: vec![ClientState::default()],
        }
    }

    fn version(&self) -> u64 {
        self.states.len() as u64 - 1
    }

    fn key_version(&self, key: &str) -> u64 {
        self.entries.get(key).map_or(0, |(entry, _)| entry.version)
    }

    fn commit(&mut self) {
        let state = ClientState {
            version: self.states.len() as u64,
            entries: self
                .entries
                .iter()
                .map(|(key, (entry, _))| (key.clone(), entry.clone()))
                .collect(),
        };
        self.states.push(state);
    }

    fn set(
        &mut self,
        key: &str,
        value: Value,
        options: SetOptions<'_>,
        now_ms: u64,
    ) -> Result<(), &'static str> {
        if options.delete_on_leave && options.by.is_none() {
            return Err("attr_owner_required");
        }
        if options
            .expect_version
            .is_some_and(|v| v != self.key_version(key))
        {
            return Err("attr_version_mismatch");
        }
        if !self.entries.contains_key(key) && self.entries.len() >= self.max_keys {
            return Err("attr_too_many_keys");
        }
        let entry = Entry {
            value,
            version: self.version() + 1,
            by: options.by.map(str::to_owned),
            ts: now_ms,
        };
        self.entries
            .insert(key.to_owned(), (entry, options.delete_on_leave));
        self.commit();
        Ok(())
    }

    fn delete(&mut self, key: &str, expect_version: Option<u64>) -> Result<(), &'static str> {
        if expect_version.is_some_and(|v| v != self.key_version(key)) {
            return Err("attr_version_mismatch");
        }
        if self.entries.remove(key).is_none() {
            return Err("attr_not_found");
        }
        self.commit();
        Ok(())
    }

    fn leave(&mut self, user: &str) -> Vec<String> {
        let keys: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, (entry, delete_on_leave))| {
                *delete_on_leave && entry.by.as_deref() == Some(user)
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in &keys {
            self.entries.remove(key);
            self.commit();
        }
        keys
    }
}

/// Replays `changes_since(v)` onto the state a client held at `v`, and checks that it
/// gives the snapshot and that increments were used whenever the log still had them.
fn check_replay(
    attrs: &RoomAttributes,
    snapshot: &Snapshot,
    client_at_v: &ClientState,
    through_json: bool,
) {
    let since = attrs.changes_since(client_at_v.version);
    let behind = attrs.version().saturating_sub(client_at_v.version);
    let log_covers = client_at_v.version <= attrs.version() && behind <= attrs.log_len() as u64;
    assert_eq!(
        matches!(since, Since::Changes(_)),
        log_covers,
        "since {} at version {} with {} changes logged",
        client_at_v.version,
        attrs.version(),
        attrs.log_len()
    );
    let since = if through_json {
        serde_json::from_str(&serde_json::to_string(&since).unwrap()).unwrap()
    } else {
        since
    };
    let mut client = client_at_v.clone();
    apply(&mut client, since).unwrap();
    assert_eq!(&client, snapshot, "replay from {}", client_at_v.version);
}

fn random_value(rng: &mut StdRng) -> Value {
    match rng.gen_range(0..4) {
        0 => json!(rng.gen_range(0..100)),
        1 => json!(format!("v{}", rng.gen_range(0..100))),
        2 => json!({"user": format!("u{}", rng.gen_range(0..5)), "muted": rng.gen_bool(0.5)}),
        _ => json!([rng.gen_range(0..10), rng.gen_bool(0.5)]),
    }
}

/// Random set/delete/leave sequences (fixed seed) with several log sizes: after every
/// step the outcome and the snapshot match the model, and replaying `changes_since` from
/// versions a client might hold, including ones out of the log, gives the snapshot.
/// Clients ahead of the room (an earlier life of it) are replaced by the snapshot.
#[test]
fn random_operations_replay_to_the_snapshot_from_every_version() {
    const KEYS: [&str; 10] = [
        "a", "b", "c", "d", "e", "seat:1", "seat:2", "seat:3", "g.x", "h-y",
    ];
    const USERS: [&str; 3] = ["u1", "u2", "u3"];
    const STEPS: u64 = 1500;
    let mut rng = StdRng::seed_from_u64(0x7468_726f_6e67);
    let mut saw = BTreeMap::<String, u32>::new();

    for max_log in [0, 1, 7, 64] {
        let limits = AttributeLimits {
            max_keys: 6,
            max_log,
            ..AttributeLimits::default()
        };
        let mut attrs = RoomAttributes::new(limits);
        let mut model = Model::new(6);

        for now_ms in 1..=STEPS {
            let key = KEYS[rng.gen_range(0..KEYS.len())];
            let user = USERS[rng.gen_range(0..USERS.len())];
            // Compare-and-set: absent, the right version, or a stale one.
            let expect_version = match rng.gen_range(0..10) {
                0..=5 => None,
                6..=7 => Some(model.key_version(key)),
                _ => Some(rng.gen_range(0..=model.version())),
            };
            let (got, want) = match rng.gen_range(0..10) {
                0..=5 => {
                    let value = random_value(&mut rng);
                    let options = SetOptions {
                        by: rng.gen_bool(0.8).then_some(user),
                        delete_on_leave: rng.gen_bool(0.6),
                        expect_version,
                    };
                    let got = attrs.set(key, value.clone(), options, now_ms);
                    let want = model.set(key, value, options, now_ms);
                    if let Ok(change) = &got {
                        assert_eq!(change.version, model.version());
                    }
                    (got.map(|_| ()).map_err(|e| e.code()), want)
                }
                6..=8 => {
                    let got = attrs.delete(key, Some(user), expect_version, now_ms);
                    let want = model.delete(key, expect_version);
                    (got.map(|_| ()).map_err(|e| e.code()), want)
                }
                _ => {
                    let changes = attrs.remove_owned_by(user, now_ms);
                    let keys = model.leave(user);
                    let removed: Vec<String> = changes.into_iter().map(|c| c.key).collect();
                    assert_eq!(removed, keys, "{user} left at {now_ms}");
                    (Ok(()), Ok(()))
                }
            };
            assert_eq!(got, want, "step {now_ms}");
            *saw.entry(format!("{got:?}")).or_default() += 1;

            assert_eq!(attrs.version(), model.version());
            let snapshot = attrs.snapshot();
            assert_eq!(snapshot, model.states[model.version() as usize]);

            // Every version since 0 now and then (most long out of the log), else the
            // recent ones around the log's start. A sample goes through JSON, which would
            // otherwise dominate the test's time.
            let current = model.version();
            let sweep_all = now_ms == STEPS || rng.gen_ratio(1, 200);
            let first = if sweep_all {
                0
            } else {
                current.saturating_sub(u64::from(max_log) + 2)
            };
            for v in first..=current {
                let through_json = rng.gen_ratio(1, 16);
                check_replay(&attrs, &snapshot, &model.states[v as usize], through_json);
            }
            let ahead = ClientState {
                version: current + rng.gen_range(1..4),
                ..model.states[rng.gen_range(0..=current) as usize].clone()
            };
            check_replay(&attrs, &snapshot, &ahead, true);
        }
    }
    // The sequence exercised every outcome, so the model was really compared.
    for outcome in [
        "Ok(())",
        "Err(\"attr_version_mismatch\")",
        "Err(\"attr_not_found\")",
        "Err(\"attr_too_many_keys\")",
        "Err(\"attr_owner_required\")",
    ] {
        assert!(
            saw.get(outcome).is_some_and(|n| *n > 10),
            "{outcome}: {saw:?}"
        );
    }
}
