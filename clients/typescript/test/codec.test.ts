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
