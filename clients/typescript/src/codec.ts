/**
 * Frame encoding: JSON (the default, WebSocket text messages) and MessagePack (binary
 * messages, subprotocol `throng.v1.msgpack`). Both use maps with the Rust field names,
 * so one schema serves both and a field the server adds later is simply ignored.
 * @module
 */

import { decode as msgpackDecode, encode as msgpackEncode } from "@msgpack/msgpack";
import type { ClientFrame, ServerFrame } from "./frames.js";

export type CodecName = "json" | "msgpack";

/** A negotiated encoding. */
export interface FrameCodec {
  readonly name: CodecName;
  /** The WebSocket subprotocol that selects this codec. */
  readonly subprotocol: string;
  /** Encodes a client frame: a string (text message) for JSON, bytes for MessagePack. */
  encode(frame: ClientFrame): string | Uint8Array;
}

export const SUBPROTOCOLS = {
  json: "throng.v1.json",
  msgpack: "throng.v1.msgpack",
} as const satisfies Record<CodecName, string>;

/** A server message that is not a frame this SDK can read. */
export class FrameDecodeError extends Error {
  override readonly name = "FrameDecodeError";
}

export const jsonCodec: FrameCodec = {
  name: "json",
  subprotocol: SUBPROTOCOLS.json,
  // JSON.stringify leaves out `undefined` fields, as the Rust side expects of absent
  // options.
  encode: (frame) => JSON.stringify(frame),
};

export const msgpackCodec: FrameCodec = {
  name: "msgpack",
  subprotocol: SUBPROTOCOLS.msgpack,
  // An `undefined` field would otherwise travel as nil, which serde refuses for fields
  // with a default such as `mode`; absent is what the Rust side expects.
  encode: (frame) => msgpackEncode(frame, { ignoreUndefined: true }),
};

export function codecByName(name: CodecName): FrameCodec {
  return name === "msgpack" ? msgpackCodec : jsonCodec;
}

/**
 * The codec the server chose, from the subprotocol it answered with. A server that
 * knows none of the offered subprotocols answers with none and speaks JSON.
 */
export function codecForSubprotocol(subprotocol: string): FrameCodec {
  return subprotocol === SUBPROTOCOLS.msgpack ? msgpackCodec : jsonCodec;
}

/** Size in bytes of an encoded frame, as the server counts it against `max_frame_bytes`. */
export function encodedByteLength(encoded: string | Uint8Array): number {
  return typeof encoded === "string" ? utf8.encode(encoded).byteLength : encoded.byteLength;
}

const utf8 = new TextEncoder();

/**
 * Decodes one WebSocket message from the server. The message type decides the codec (a
 * text message is JSON, a binary one MessagePack) so a server that fell back to JSON is
 * read correctly whatever was offered.
 *
 * Returns `undefined` for a well-formed frame of a type this version does not know
 * (forward compatibility); throws `FrameDecodeError` for anything else unreadable.
 */
export function decodeServerMessage(data: unknown): ServerFrame | undefined {
  let value: unknown;
  try {
    if (typeof data === "string") {
      value = JSON.parse(data);
    } else if (data instanceof ArrayBuffer) {
      value = msgpackDecode(new Uint8Array(data));
    } else if (ArrayBuffer.isView(data)) {
      value = msgpackDecode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } else {
      throw new FrameDecodeError(`unsupported WebSocket message data: ${describe(data)}`);
    }
  } catch (error) {
    if (error instanceof FrameDecodeError) throw error;
    throw new FrameDecodeError(`malformed frame: ${(error as Error).message}`);
  }
  return checkServerFrame(value);
}

/** Required fields of each server frame type, with the `typeof` each must have. */
const REQUIRED_FIELDS: Record<ServerFrame["type"], Record<string, string>> = {
  hello: {
    conn_id: "string",
    user: "string",
    server_ts: "number",
    heartbeat_ms: "number",
    max_frame_bytes: "number",
  },
  joined: { room: "string", seq: "number", online: "number", mode: "string", msgs: "array" },
  left: { room: "string", reason: "string" },
  sent: { room: "string", seq: "number", ts: "number" },
  batch: { room: "string", msgs: "array" },
  notify: { room: "string", seq: "number" },
  pulled: { room: "string", seq: "number", msgs: "array" },
  pong: { ts: "number" },
  attr_saved: { room: "string", version: "number" },
  attrs: { room: "string" },
  attr_notify: { room: "string", version: "number" },
  moderated: { room: "string", action: "string" },
  moderation: { action: "string", by: "string" },
  stats: { room: "string", ts: "number", online: "number", connections: "number" },
  error: { code: "number", message: "string" },
};

/**
 * Optional fields the client reads, checked when present: a wrong type there is as
 * unreadable as a missing required field.
 */
const OPTIONAL_FIELDS: Partial<Record<ServerFrame["type"], Record<string, string>>> = {
  moderation: { room: "string", user: "string", until: "number", reason: "string" },
  sent: { dropped: "boolean" },
  stats: {
    joins_per_sec: "number",
    leaves_per_sec: "number",
    counters: "map",
    accepted: "map",
    dropped: "map",
  },
  error: { room: "string" },
};

const ATTR_SNAPSHOT_FIELDS: Record<string, string> = { version: "number", entries: "map" };
const ATTR_ENTRY_FIELDS: Record<string, string> = { version: "number", ts: "number" };
const ATTR_CHANGE_FIELDS: Record<string, string> = { version: "number", key: "string", ts: "number" };

const MESSAGE_FIELDS: Record<string, string> = {
  seq: "number",
  ts: "number",
  from: "string",
  kind: "string",
  priority: "string",
};

/** The per-lane and per-kind figures of `stats`: every value a number. */
const STATS_COUNT_MAPS = ["counters", "accepted", "dropped"] as const;

/**
 * Checks the shape the client relies on, so a bad frame fails here with a clear message
 * instead of deep inside the client. Values are not copied: the checked object is the
 * frame.
 */
function checkServerFrame(value: unknown): ServerFrame | undefined {
  if (!isRecord(value) || typeof value.type !== "string") {
    throw new FrameDecodeError("malformed frame: not a map with a string `type`");
  }
  const required = REQUIRED_FIELDS[value.type as ServerFrame["type"]] as
    | Record<string, string>
    | undefined;
  if (required === undefined) return undefined;
  checkFields(value, required, value.type);
  if ("id" in value && value.id !== undefined && typeof value.id !== "number") {
    throw new FrameDecodeError(`malformed ${value.type} frame: \`id\` is not a number`);
  }
  const optional = OPTIONAL_FIELDS[value.type as ServerFrame["type"]] ?? {};
  for (const [field, expected] of Object.entries(optional)) {
    if (value[field] !== undefined && !hasType(value[field], expected)) {
      throw new FrameDecodeError(`malformed ${value.type} frame: \`${field}\` is not a ${expected}`);
    }
  }
  // The client applies attribute payloads to the state it keeps, so they are checked as
  // closely as messages are.
  if (value.type === "joined" && value.attrs !== undefined) checkAttrSnapshot(value.attrs, "joined attrs");
  if (value.type === "attrs") {
    if (value.snapshot !== undefined) checkAttrSnapshot(value.snapshot, "attrs snapshot");
    if (value.changes !== undefined) {
      if (!Array.isArray(value.changes)) {
        throw new FrameDecodeError("malformed attrs frame: `changes` is not an array");
      }
      for (const change of value.changes) {
        if (!isRecord(change)) throw new FrameDecodeError("malformed attrs frame: a change is not a map");
        checkFields(change, ATTR_CHANGE_FIELDS, "attrs change");
      }
    }
  }
  if (value.type === "stats") {
    for (const field of STATS_COUNT_MAPS) {
      const counts = value[field];
      if (counts === undefined) continue;
      for (const [name, count] of Object.entries(counts as Record<string, unknown>)) {
        if (typeof count !== "number") {
          throw new FrameDecodeError(`malformed stats frame: \`${field}.${name}\` is not a number`);
        }
      }
    }
  }
  if (Array.isArray(value.msgs)) {
    for (const message of value.msgs) {
      if (!isRecord(message)) {
        throw new FrameDecodeError(`malformed ${value.type} frame: a message is not a map`);
      }
      checkFields(message, MESSAGE_FIELDS, `${value.type} message`);
      if (!("body" in message)) {
        throw new FrameDecodeError(`malformed ${value.type} message: no \`body\``);
      }
      // The id is what reliable messages are deduplicated by, so it must be a string.
      if (message.id !== undefined && typeof message.id !== "string") {
        throw new FrameDecodeError(`malformed ${value.type} message: \`id\` is not a string`);
      }
    }
  }
  return value as unknown as ServerFrame;
}

function checkAttrSnapshot(snapshot: unknown, what: string) {
  if (!isRecord(snapshot)) throw new FrameDecodeError(`malformed ${what}: not a map`);
  checkFields(snapshot, ATTR_SNAPSHOT_FIELDS, what);
  const entries = snapshot.entries as Record<string, unknown>;
  for (const key of Object.keys(entries)) {
    const entry = entries[key];
    if (!isRecord(entry)) throw new FrameDecodeError(`malformed ${what}: entry ${JSON.stringify(key)} is not a map`);
    checkFields(entry, ATTR_ENTRY_FIELDS, `${what} entry`);
    if (!("value" in entry)) throw new FrameDecodeError(`malformed ${what}: entry ${JSON.stringify(key)} has no \`value\``);
  }
}

function checkFields(value: Record<string, unknown>, fields: Record<string, string>, what: string) {
  for (const [field, expected] of Object.entries(fields)) {
    if (!hasType(value[field], expected)) {
      throw new FrameDecodeError(`malformed ${what} frame: \`${field}\` is not a ${expected}`);
    }
  }
}

/** `expected` is a `typeof` name, `array`, or `map` (an object that is not an array). */
function hasType(actual: unknown, expected: string): boolean {
  if (expected === "array") return Array.isArray(actual);
  if (expected === "map") return isRecord(actual);
  return typeof actual === expected;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(data: unknown): string {
  if (data === null) return "null";
  if (typeof data === "object") return (data as object).constructor?.name ?? "object";
  return typeof data;
}
