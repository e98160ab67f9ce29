//! Keeps `docs/protocol.md` in step with the wire types: every JSON example must decode
//! to the frame it shows without unknown or misspelled fields, and the error and close
//! code tables must list exactly the codes `throng-protocol` knows, with their names.

use serde_json::Value;
use throng_protocol::{ClientFrame, CloseCode, Codec, ErrorCode, Message, ServerFrame, Skipped};

const DOC: &str = include_str!("../../../docs/protocol.md");

const CLIENT_TYPES: [&str; 10] = [
    "join",
    "leave",
    "send",
    "pull",
    "ping",
    "moderate",
    "attr_set",
    "attr_delete",
    "attr_pull",
    "ack",
];

/// Every JSON value in the doc's ```json blocks (a block may hold several).
fn json_examples() -> Vec<Value> {
    let mut examples = Vec::new();
    for block in DOC.split("```json\n").skip(1) {
        let body = block.split("```").next().expect("closed block");
        let stream = serde_json::Deserializer::from_str(body).into_iter::<Value>();
        for value in stream {
            examples
                .push(value.unwrap_or_else(|e| panic!("invalid JSON in an example: {e}\n{body}")));
        }
    }
    examples
}

/// Every key of `example` must come back, with the same value, after a decode and a
/// re-encode: a misspelled or unknown field would be silently dropped.
fn assert_round_trip_keeps(example: &Value, encoded: &Value) {
    let (Value::Object(example_map), Value::Object(encoded_map)) = (example, encoded) else {
        panic!("not an object: {example}");
    };
    for (key, value) in example_map {
        assert_eq!(
            encoded_map.get(key),
            Some(value),
            "field {key:?} of {example}"
        );
    }
}

#[test]
fn every_json_example_decodes_to_what_it_shows() {
    let examples = json_examples();
    assert!(
        examples.len() >= 20,
        "found only {} examples",
        examples.len()
    );
    let mut kinds_seen = Vec::new();
    for example in &examples {
        let bytes = serde_json::to_vec(example).unwrap();
        let encoded: Value = match example.get("type").and_then(Value::as_str) {
            Some(kind) if CLIENT_TYPES.contains(&kind) => {
                let frame: ClientFrame = Codec::Json
                    .decode(&bytes)
                    .unwrap_or_else(|e| panic!("{e}: {example}"));
                kinds_seen.push(kind.to_owned());
                serde_json::to_value(&frame).unwrap()
            }
            Some(kind) => {
                let frame: ServerFrame = Codec::Json
                    .decode(&bytes)
                    .unwrap_or_else(|e| panic!("{e}: {example}"));
                kinds_seen.push(kind.to_owned());
                serde_json::to_value(&frame).unwrap()
            }
            None if example.get("error").is_some() => continue, // a handshake refusal body
            None if example.get("seq").is_some() => {
                let message: Message = serde_json::from_value(example.clone()).unwrap();
                serde_json::to_value(&message).unwrap()
            }
            None => {
                let skipped: Skipped = serde_json::from_value(example.clone()).unwrap();
                serde_json::to_value(skipped).unwrap()
            }
        };
        assert_round_trip_keeps(example, &encoded);
    }
    for kind in CLIENT_TYPES.iter().chain(&[
        "hello", "joined", "left", "sent", "batch", "notify", "pulled", "pong", "error", "stats",
    ]) {
        assert!(kinds_seen.iter().any(|k| k == kind), "no example of {kind}");
    }
}

/// The `(number, name)` pairs of a doc table: rows that start with a number and a
/// backquoted name, under the given heading.
fn table_codes(heading: &str) -> Vec<(u16, String)> {
    let section = DOC
        .split(heading)
        .nth(1)
        .unwrap_or_else(|| panic!("no section {heading}"));
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let number = cells.get(1)?.parse::<u16>().ok()?;
            let name = cells.get(2)?.trim_matches('`').to_owned();
            Some((number, name))
        })
        .collect()
}

#[test]
fn code_tables_match_the_protocol_crate() {
    let cases: [(&str, Vec<(u16, String)>); 2] = [
        (
            "## 10. Error codes",
            ErrorCode::KNOWN
                .iter()
                .map(|c| (c.0, c.name().to_owned()))
                .collect(),
        ),
        (
            "## 11. Close codes",
            CloseCode::KNOWN
                .iter()
                .map(|c| (c.0, c.name().to_owned()))
                .collect(),
        ),
    ];
    for (heading, expect) in cases {
        assert_eq!(table_codes(heading), expect, "{heading}");
    }
}

#[test]
fn close_code_table_says_reconnect_as_the_crate_decides() {
    let section = DOC.split("## 11. Close codes").nth(1).unwrap();
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(number) = cells.get(1).and_then(|c| c.parse::<u16>().ok()) else {
            continue;
        };
        let reconnect = cells[3].starts_with("yes");
        assert_eq!(
            reconnect,
            CloseCode(number).should_reconnect(),
            "close code {number}"
        );
    }
}
