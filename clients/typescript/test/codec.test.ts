import { decode as msgpackDecode } from "@msgpack/msgpack";
import { describe, expect, it } from "vitest";
import {
  codecForSubprotocol,
  decodeServerMessage,
  encodedByteLength,
  FrameDecodeError,
  jsonCodec,
  msgpackCodec,
  type ClientFrame,
  type ServerFrame,
} from "../src/index.js";

/** Bytes from a hex listing; `#` starts a comment, whitespace is ignored. */
function hex(listing: string): Uint8Array {
  const digits = listing
    .split("\n")
    .map((line) => line.replace(/#.*/, ""))
    .join("")
    .replace(/\s+/g, "");
  return Uint8Array.from(digits.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
}

// Each client frame with the map the Rust side's serde derive reads: every field by its
// Rust name, absent options left out (serde refuses nil for `mode`, which has a default).
const clientCases: [name: string, frame: ClientFrame, wire: Record<string, unknown>][] = [
  [
    "join with since and mode",
    { type: "join", id: 1, room: "r", since: 9, mode: "notify" },
    { type: "join", id: 1, room: "r", since: 9, mode: "notify" },
  ],
  [
    "join with undefined options",
    { type: "join", room: "r", since: undefined, mode: undefined } as unknown as ClientFrame,
    { type: "join", room: "r" },
  ],
  ["leave", { type: "leave", id: 2, room: "r" }, { type: "leave", id: 2, room: "r" }],
  [
    "send with a structured body",
    { type: "send", id: 3, room: "r", kind: "like", body: { n: 1, tags: ["a"], x: null }, priority: "low" },
    { type: "send", id: 3, room: "r", kind: "like", body: { n: 1, tags: ["a"], x: null }, priority: "low" },
  ],
  [
    "send with a string body",
    { type: "send", room: "r", kind: "text", body: "hé \"quoted\"" },
    { type: "send", room: "r", kind: "text", body: "hé \"quoted\"" },
  ],
  [
    "pull with limit",
    { type: "pull", room: "r", since: 0, limit: 10 },
    { type: "pull", room: "r", since: 0, limit: 10 },
  ],
  [
    "pull with a seq past 2^32",
    { type: "pull", id: 4294967295, room: "r", since: 5_000_000_000 },
    { type: "pull", id: 4294967295, room: "r", since: 5_000_000_000 },
  ],
  ["ping", { type: "ping", id: 4 }, { type: "ping", id: 4 }],
  [
    "moderate with every field",
    { type: "moderate", id: 9, room: "lobby", action: "mute", user: "troll", duration_s: 600, reason: "spam" },
    { type: "moderate", id: 9, room: "lobby", action: "mute", user: "troll", duration_s: 600, reason: "spam" },
  ],
  [
    "moderate on the whole room",
    { type: "moderate", id: 10, room: "lobby", action: "mute_room" },
    { type: "moderate", id: 10, room: "lobby", action: "mute_room" },
  ],
  [
    "moderate with undefined options",
    { type: "moderate", room: "lobby", action: "kick", user: "troll", duration_s: undefined, reason: undefined } as unknown as ClientFrame,
    { type: "moderate", room: "lobby", action: "kick", user: "troll" },
  ],
  [
    "attr_set with delete_on_leave",
    { type: "attr_set", id: 11, room: "stage", key: "seat:1", value: { user: "ann", muted: false }, delete_on_leave: true },
    { type: "attr_set", id: 11, room: "stage", key: "seat:1", value: { user: "ann", muted: false }, delete_on_leave: true },
  ],
  [
    "attr_set with expect_version",
    { type: "attr_set", id: 12, room: "stage", key: "round", value: 3, expect_version: 7 },
    { type: "attr_set", id: 12, room: "stage", key: "round", value: 3, expect_version: 7 },
  ],
  [
    "attr_set only if absent: expect_version 0 is kept",
    { type: "attr_set", room: "stage", key: "host", value: "ann", expect_version: 0, delete_on_leave: false },
    { type: "attr_set", room: "stage", key: "host", value: "ann", expect_version: 0, delete_on_leave: false },
  ],
  [
    "attr_delete",
    { type: "attr_delete", id: 13, room: "stage", key: "seat:1" },
    { type: "attr_delete", id: 13, room: "stage", key: "seat:1" },
  ],
  [
    "attr_delete with expect_version",
    { type: "attr_delete", room: "stage", key: "seat:1", expect_version: 8 },
    { type: "attr_delete", room: "stage", key: "seat:1", expect_version: 8 },
  ],
  [
    "attr_pull",
    { type: "attr_pull", id: 14, room: "stage", since: 7 },
    { type: "attr_pull", id: 14, room: "stage", since: 7 },
  ],
  [
    "send of a reliable message with its id",
    { type: "send", id: 15, room: "r", kind: "gift", body: { gift: "rose" }, reliable: true, msg_id: "gift-42" },
    { type: "send", id: 15, room: "r", kind: "gift", body: { gift: "rose" }, reliable: true, msg_id: "gift-42" },
  ],
  [
    "send with undefined reliable options",
    { type: "send", room: "r", kind: "text", body: "x", reliable: undefined, msg_id: undefined } as unknown as ClientFrame,
    { type: "send", room: "r", kind: "text", body: "x" },
  ],
  ["ack (no id: nothing answers it)", { type: "ack", room: "r1", seqs: [812, 815] }, { type: "ack", room: "r1", seqs: [812, 815] }],
];

describe("client frame encoding", () => {
  it.each(clientCases)("JSON: %s", (_name, frame, wire) => {
    const encoded = jsonCodec.encode(frame);
    expect(typeof encoded).toBe("string");
    expect(JSON.parse(encoded as string)).toStrictEqual(wire);
  });

  it.each(clientCases)("MessagePack: %s decodes to a map with the Rust field names", (_name, frame, wire) => {
    const encoded = msgpackCodec.encode(frame);
    expect(encoded).toBeInstanceOf(Uint8Array);
    const decoded = msgpackDecode(encoded as Uint8Array);
    expect(decoded).toStrictEqual(wire);
    // A map (fixmap 0x8N), not an array: the Rust side reads fields by name.
    expect((encoded as Uint8Array)[0]! & 0xf0).toBe(0x80);
  });

  it("writes a join as the exact MessagePack bytes rmp_serde reads", () => {
    const encoded = msgpackCodec.encode({ type: "join", id: 1, room: "r", since: 9, mode: "notify" });
    expect(encoded).toStrictEqual(
      hex(`
        85                      # map of 5
        a4 74797065 a4 6a6f696e # "type": "join"
        a2 6964     01          # "id": 1
        a4 726f6f6d a1 72       # "room": "r"
        a5 73696e6365 09        # "since": 9
        a4 6d6f6465 a6 6e6f74696679 # "mode": "notify"
      `),
    );
  });

  it("writes an attr_pull as the exact MessagePack bytes rmp_serde reads", () => {
    const encoded = msgpackCodec.encode({ type: "attr_pull", id: 14, room: "stage", since: 7 });
    expect(encoded).toStrictEqual(
      hex(`
        84                                  # map of 4
        a4 74797065 a9 617474725f70756c6c   # "type": "attr_pull"
        a2 6964     0e                      # "id": 14
        a4 726f6f6d a5 7374616765           # "room": "stage"
        a5 73696e6365 07                    # "since": 7
      `),
    );
  });

  it("counts a frame's size in UTF-8 bytes, as the server does", () => {
    expect(encodedByteLength("abc")).toBe(3);
    expect(encodedByteLength("é")).toBe(2);
    expect(encodedByteLength(new Uint8Array(7))).toBe(7);
  });
});

const message = (seq: number, priority: "system" | "high" | "low" = "high") => ({
  seq,
  ts: 1_700_000_000_000 + seq,
  from: `user-${seq}`,
  kind: "text",
  priority,
  body: { text: "hi", n: seq },
});

// Server frames as the Rust side writes them in JSON (serde_json keeps field order).
const serverJsonCases: [name: string, json: string, frame: ServerFrame][] = [
  [
    "error (the protocol crate's own golden string)",
    `{"type":"error","id":7,"code":202,"message":"join first","room":"r"}`,
    { type: "error", id: 7, code: 202, message: "join first", room: "r" },
  ],
  [
    "hello",
    `{"type":"hello","conn_id":"c1","user":"alice","server_ts":1700000000000,"heartbeat_ms":25000,"max_frame_bytes":65536}`,
    { type: "hello", conn_id: "c1", user: "alice", server_ts: 1700000000000, heartbeat_ms: 25000, max_frame_bytes: 65536 },
  ],
  [
    "joined with skipped",
    `{"type":"joined","id":1,"room":"r","seq":3,"online":2,"mode":"push","msgs":[${JSON.stringify(message(3))}],"skipped":{"high":2,"low":7}}`,
    { type: "joined", id: 1, room: "r", seq: 3, online: 2, mode: "push", msgs: [message(3)], skipped: { high: 2, low: 7 } },
  ],
  [
    "batch as encode_batch splices it",
    `{"type":"batch","room":"room \\"1\\"","msgs":[${JSON.stringify(message(1, "system"))},${JSON.stringify(message(2, "low"))}]}`,
    { type: "batch", room: 'room "1"', msgs: [message(1, "system"), message(2, "low")] },
  ],
  ["notify", `{"type":"notify","room":"r","seq":12}`, { type: "notify", room: "r", seq: 12 }],
  [
    "pulled",
    `{"type":"pulled","id":9,"room":"r","seq":40,"msgs":[],"skipped":{"low":3}}`,
    { type: "pulled", id: 9, room: "r", seq: 40, msgs: [], skipped: { low: 3 } },
  ],
  ["left", `{"type":"left","room":"r","reason":"not_pulling"}`, { type: "left", room: "r", reason: "not_pulling" }],
  ["sent", `{"type":"sent","id":3,"room":"r","seq":41,"ts":1700000000041}`, { type: "sent", id: 3, room: "r", seq: 41, ts: 1700000000041 }],
  ["pong without id", `{"type":"pong","ts":5}`, { type: "pong", ts: 5 }],
  [
    "error without id (bad_frame)",
    `{"type":"error","code":200,"message":"malformed frame: expected value"}`,
    { type: "error", code: 200, message: "malformed frame: expected value" },
  ],
  [
    "batch with upto",
    `{"type":"batch","room":"lobby","msgs":[],"skipped":{"low":37},"upto":1240}`,
    { type: "batch", room: "lobby", msgs: [], skipped: { low: 37 }, upto: 1240 },
  ],
  ["left kicked", `{"type":"left","room":"lobby","reason":"kicked"}`, { type: "left", room: "lobby", reason: "kicked" }],
  ["left banned", `{"type":"left","room":"lobby","reason":"banned"}`, { type: "left", room: "lobby", reason: "banned" }],
  [
    "joined with attrs",
    `{"type":"joined","id":1,"room":"stage","seq":0,"online":1,"mode":"push","msgs":[],"attrs":{"version":8,"entries":{"round":{"value":3,"version":2,"ts":1795330160000},"seat:1":{"value":{"user":"ann","muted":false},"version":8,"by":"ann","ts":1795330168817}}}}`,
    {
      type: "joined",
      id: 1,
      room: "stage",
      seq: 0,
      online: 1,
      mode: "push",
      msgs: [],
      attrs: {
        version: 8,
        entries: {
          round: { value: 3, version: 2, ts: 1795330160000 },
          "seat:1": { value: { user: "ann", muted: false }, version: 8, by: "ann", ts: 1795330168817 },
        },
      },
    },
  ],
  ["attr_saved", `{"type":"attr_saved","id":11,"room":"stage","version":8}`, { type: "attr_saved", id: 11, room: "stage", version: 8 }],
  [
    "attrs with changes: a set, a deletion, one by the server API",
    `{"type":"attrs","id":14,"room":"stage","changes":[{"version":8,"key":"seat:1","value":{"user":"ann","muted":false},"by":"ann","ts":1795330168817},{"version":9,"key":"seat:1","deleted":true,"by":"ann","ts":1795330168900},{"version":10,"key":"round","value":4,"ts":1795330169000}]}`,
    {
      type: "attrs",
      id: 14,
      room: "stage",
      changes: [
        { version: 8, key: "seat:1", value: { user: "ann", muted: false }, by: "ann", ts: 1795330168817 },
        { version: 9, key: "seat:1", deleted: true, by: "ann", ts: 1795330168900 },
        { version: 10, key: "round", value: 4, ts: 1795330169000 },
      ],
    },
  ],
  ["attrs with no changes", `{"type":"attrs","id":16,"room":"stage","changes":[]}`, { type: "attrs", id: 16, room: "stage", changes: [] }],
  [
    "attrs with a snapshot",
    `{"type":"attrs","id":15,"room":"stage","snapshot":{"version":8,"entries":{"seat:1":{"value":{"user":"ann","muted":false},"version":8,"by":"ann","ts":1795330168817}}}}`,
    {
      type: "attrs",
      id: 15,
      room: "stage",
      snapshot: { version: 8, entries: { "seat:1": { value: { user: "ann", muted: false }, version: 8, by: "ann", ts: 1795330168817 } } },
    },
  ],
  ["attr_notify", `{"type":"attr_notify","room":"stage","version":8}`, { type: "attr_notify", room: "stage", version: 8 }],
  ["moderated", `{"type":"moderated","id":9,"room":"lobby","action":"mute"}`, { type: "moderated", id: 9, room: "lobby", action: "mute" }],
  [
    "moderation of this user in a room",
    `{"type":"moderation","room":"lobby","action":"mute","user":"troll","until":1795330168817,"reason":"spam","by":"@server"}`,
    { type: "moderation", room: "lobby", action: "mute", user: "troll", until: 1795330168817, reason: "spam", by: "@server" },
  ],
  [
    "moderation of the whole room",
    `{"type":"moderation","room":"lobby","action":"mute_room","by":"host-7"}`,
    { type: "moderation", room: "lobby", action: "mute_room", by: "host-7" },
  ],
  [
    "moderation across all rooms",
    `{"type":"moderation","action":"ban","user":"troll","by":"@server"}`,
    { type: "moderation", action: "ban", user: "troll", by: "@server" },
  ],
  [
    "batch with a reliable message",
    `{"type":"batch","room":"r1","msgs":[{"seq":812,"ts":1790000000000,"from":"@server","kind":"gift","priority":"system","body":{"gift":"rose"},"id":"gift-42"}],"upto":812}`,
    {
      type: "batch",
      room: "r1",
      msgs: [{ seq: 812, ts: 1790000000000, from: "@server", kind: "gift", priority: "system", body: { gift: "rose" }, id: "gift-42" }],
      upto: 812,
    },
  ],
  [
    "sent of a dropped message",
    `{"type":"sent","id":4,"room":"r1","seq":0,"ts":1790000000000,"dropped":true}`,
    { type: "sent", id: 4, room: "r1", seq: 0, ts: 1790000000000, dropped: true },
  ],
  [
    "stats, as the protocol additions show it",
    `{"type":"stats","room":"r1","ts":1790000000000,"online":1234,"connections":1240,"joins_per_sec":12.5,"leaves_per_sec":3.0,"counters":{"like":98765},"accepted":{"system":10,"high":5000,"low":20},"dropped":{"system":0,"high":12,"low":300}}`,
    {
      type: "stats",
      room: "r1",
      ts: 1790000000000,
      online: 1234,
      connections: 1240,
      joins_per_sec: 12.5,
      leaves_per_sec: 3,
      counters: { like: 98765 },
      accepted: { system: 10, high: 5000, low: 20 },
      dropped: { system: 0, high: 12, low: 300 },
    },
  ],
  [
    "stats with only the required figures",
    `{"type":"stats","room":"r1","ts":1,"online":0,"connections":0}`,
    { type: "stats", room: "r1", ts: 1, online: 0, connections: 0 },
  ],
];

describe("server frame decoding", () => {
  it.each(serverJsonCases)("JSON text: %s", (_name, json, frame) => {
    expect(decodeServerMessage(json)).toStrictEqual(frame);
  });

  // A batch exactly as the protocol crate's encode_batch writes it in MessagePack: a map
  // of 3 or 4 entries, messages spliced in as rmp_serde named maps, u64 in the smallest
  // form (ts needs uint64, 0xcf).
  const batchBytes = hex(`
    84                                  # map of 4
    a4 74797065 a5 6261746368           # "type": "batch"
    a4 726f6f6d a2 7231                 # "room": "r1"
    a4 6d736773 91                      # "msgs": array of 1
      86                                #   map of 6
      a3 736571 07                      #   "seq": 7
      a2 7473 cf 0000018bcfe56807       #   "ts": 1700000000007
      a4 66726f6d a1 75                 #   "from": "u"
      a4 6b696e64 a4 74657874           #   "kind": "text"
      a8 7072696f72697479 a4 68696768   #   "priority": "high"
      a4 626f6479 81 a4 74657874 a2 6869 #  "body": {"text": "hi"}
    a7 736b6970706564 81 a3 6c6f77 03   # "skipped": {"low": 3}
  `);
  const batchFrame: ServerFrame = {
    type: "batch",
    room: "r1",
    msgs: [{ seq: 7, ts: 1_700_000_000_007, from: "u", kind: "text", priority: "high", body: { text: "hi" } }],
    skipped: { low: 3 },
  };

  it("MessagePack binary: a spliced batch, from an ArrayBuffer", () => {
    const buffer = batchBytes.buffer.slice(batchBytes.byteOffset, batchBytes.byteOffset + batchBytes.byteLength);
    expect(decodeServerMessage(buffer)).toStrictEqual(batchFrame);
  });

  it("MessagePack binary: from a view into a larger buffer (a Node Buffer)", () => {
    const padded = new Uint8Array(batchBytes.byteLength + 8);
    padded.set(batchBytes, 4);
    const view = new Uint8Array(padded.buffer, 4, batchBytes.byteLength);
    expect(decodeServerMessage(view)).toStrictEqual(batchFrame);
  });

  it("MessagePack binary: every JSON case survives the other codec", async () => {
    const { encode } = await import("@msgpack/msgpack");
    for (const [, , frame] of serverJsonCases) {
      expect(decodeServerMessage(encode(frame))).toStrictEqual(frame);
    }
  });

  it("MessagePack binary: a moderation frame as rmp_serde writes it", () => {
    const bytes = hex(`
      87                                        # map of 7
      a4 74797065 aa 6d6f6465726174696f6e       # "type": "moderation"
      a4 726f6f6d a5 6c6f626279                 # "room": "lobby"
      a6 616374696f6e a4 6d757465               # "action": "mute"
      a4 75736572 a5 74726f6c6c                 # "user": "troll"
      a5 756e74696c cf 000001a2020457f1         # "until": 1795330168817
      a6 726561736f6e a4 7370616d               # "reason": "spam"
      a2 6279 a7 40736572766572                 # "by": "@server"
    `);
    expect(decodeServerMessage(bytes)).toStrictEqual({
      type: "moderation",
      room: "lobby",
      action: "mute",
      user: "troll",
      until: 1795330168817,
      reason: "spam",
      by: "@server",
    });
  });

  it("reads an attribute key named __proto__ in JSON as a plain key", () => {
    const attrs = decodeServerMessage(
      `{"type":"attrs","room":"r","snapshot":{"version":1,"entries":{"__proto__":{"value":1,"version":1,"ts":1}}}}`,
    );
    expect(attrs?.type === "attrs" && Object.keys(attrs.snapshot?.entries ?? {})).toEqual(["__proto__"]);
  });

  it("refuses a MessagePack map key __proto__ (a limit of the MessagePack decoder; JSON reads it)", async () => {
    const { encode } = await import("@msgpack/msgpack");
    const entries = JSON.parse(`{"__proto__":{"value":1,"version":1,"ts":1}}`) as Record<string, unknown>;
    const bytes = encode({ type: "attrs", room: "r", snapshot: { version: 1, entries } });
    expect(() => decodeServerMessage(bytes)).toThrow(FrameDecodeError);
  });

  it("ignores a well-formed frame of a type this SDK does not know", () => {
    expect(decodeServerMessage(`{"type":"presence","room":"r"}`)).toBeUndefined();
  });

  it("keeps fields the server adds later", () => {
    const frame = decodeServerMessage(`{"type":"notify","room":"r","seq":1,"extra":true}`);
    expect(frame).toMatchObject({ type: "notify", room: "r", seq: 1 });
  });

  const malformed: [name: string, data: unknown][] = [
    ["empty text", ""],
    ["not JSON", "not json"],
    ["an array", "[1,2]"],
    ["no type", `{"room":"r"}`],
    ["hello without heartbeat_ms", `{"type":"hello","conn_id":"c","user":"u","server_ts":1,"max_frame_bytes":1}`],
    ["batch whose msgs is not an array", `{"type":"batch","room":"r","msgs":{}}`],
    ["message with a string seq", `{"type":"batch","room":"r","msgs":[{"seq":"1","ts":1,"from":"u","kind":"k","priority":"high","body":1}]}`],
    ["message without a body", `{"type":"batch","room":"r","msgs":[{"seq":1,"ts":1,"from":"u","kind":"k","priority":"high"}]}`],
    ["string id", `{"type":"pong","id":"1","ts":1}`],
    ["attr_notify without version", `{"type":"attr_notify","room":"r"}`],
    ["attr_saved with a string version", `{"type":"attr_saved","room":"r","version":"8"}`],
    ["attrs without room", `{"type":"attrs","changes":[]}`],
    ["attrs whose changes is a map", `{"type":"attrs","room":"r","changes":{}}`],
    ["attrs change without key", `{"type":"attrs","room":"r","changes":[{"version":1,"value":1,"ts":1}]}`],
    ["attrs change with a string version", `{"type":"attrs","room":"r","changes":[{"version":"1","key":"k","value":1,"ts":1}]}`],
    ["attrs change that is not a map", `{"type":"attrs","room":"r","changes":[1]}`],
    ["attrs snapshot whose entries is an array", `{"type":"attrs","room":"r","snapshot":{"version":1,"entries":[]}}`],
    ["attrs snapshot entry without value", `{"type":"attrs","room":"r","snapshot":{"version":1,"entries":{"k":{"version":1,"ts":1}}}}`],
    ["joined attrs without version", `{"type":"joined","room":"r","seq":0,"online":1,"mode":"push","msgs":[],"attrs":{"entries":{}}}`],
    ["joined attrs entry without ts", `{"type":"joined","room":"r","seq":0,"online":1,"mode":"push","msgs":[],"attrs":{"version":1,"entries":{"k":{"value":1,"version":1}}}}`],
    ["moderated without action", `{"type":"moderated","id":1,"room":"r"}`],
    ["moderation without by", `{"type":"moderation","room":"r","action":"kick","user":"u"}`],
    ["moderation with a string until", `{"type":"moderation","action":"mute","user":"u","until":"soon","by":"m"}`],
    ["moderation with a numeric room", `{"type":"moderation","room":7,"action":"mute_room","by":"m"}`],
    ["message with a numeric id", `{"type":"batch","room":"r","msgs":[{"seq":1,"ts":1,"from":"u","kind":"gift","priority":"system","body":1,"id":7}]}`],
    ["sent with a string dropped", `{"type":"sent","room":"r","seq":0,"ts":1,"dropped":"yes"}`],
    ["stats without connections", `{"type":"stats","room":"r","ts":1,"online":3}`],
    ["stats whose counters is an array", `{"type":"stats","room":"r","ts":1,"online":3,"connections":3,"counters":[1]}`],
    ["stats with a string counter", `{"type":"stats","room":"r","ts":1,"online":3,"connections":3,"counters":{"like":"9"}}`],
    ["stats with a string lane count", `{"type":"stats","room":"r","ts":1,"online":3,"connections":3,"dropped":{"low":"1"}}`],
    ["stats with a string rate", `{"type":"stats","room":"r","ts":1,"online":3,"connections":3,"joins_per_sec":"2"}`],
    ["invalid MessagePack", Uint8Array.of(0xc1)],
    ["a Blob-like object", { size: 3 }],
    ["null", null],
  ];
  it.each(malformed)("refuses %s", (_name, data) => {
    expect(() => decodeServerMessage(data)).toThrow(FrameDecodeError);
  });
});

describe("subprotocol negotiation", () => {
  it.each([
    ["throng.v1.msgpack", "msgpack"],
    ["throng.v1.json", "json"],
    // A server that knows none of the offered subprotocols selects none and speaks JSON.
    ["", "json"],
  ])("%j selects %s", (subprotocol, codec) => {
    expect(codecForSubprotocol(subprotocol).name).toBe(codec);
  });
});
