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
  error: { code: "number", message: "string" },
};

const MESSAGE_FIELDS: Record<string, string> = {
  seq: "number",
  ts: "number",
  from: "string",
  kind: "string",
  priority: "string",
};

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
  if (Array.isArray(value.msgs)) {
    for (const message of value.msgs) {
      if (!isRecord(message)) {
        throw new FrameDecodeError(`malformed ${value.type} frame: a message is not a map`);
      }
      checkFields(message, MESSAGE_FIELDS, `${value.type} message`);
      if (!("body" in message)) {
        throw new FrameDecodeError(`malformed ${value.type} message: no \`body\``);
      }
    }
  }
  return value as unknown as ServerFrame;
}

function checkFields(value: Record<string, unknown>, fields: Record<string, string>, what: string) {
  for (const [field, expected] of Object.entries(fields)) {
    const actual = value[field];
    const ok = expected === "array" ? Array.isArray(actual) : typeof actual === expected;
    if (!ok) {
      throw new FrameDecodeError(`malformed ${what} frame: \`${field}\` is not a ${expected}`);
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(data: unknown): string {
  if (data === null) return "null";
  if (typeof data === "object") return (data as object).constructor?.name ?? "object";
  return typeof data;
}
