/**
 * Wire types: every frame between a Throng client and server, field for field as the
 * protocol crate (`throng-protocol`, `frames.rs`) defines them. Every frame is a map
 * with a `type` field naming it; JSON and MessagePack share this one schema.
 *
 * Optional fields are absent on the wire when empty (the Rust side skips `None`), so
 * they are optional here rather than `null`.
 * @module
 */

/** A room's priority lanes. Under load `low` is dropped first and `system` never. */
export type Priority = "system" | "high" | "low";

/** Every lane, in the order the server delivers a backlog. */
export const PRIORITIES: readonly Priority[] = ["system", "high", "low"];

/** How a connection receives a room's messages: pushed `batch` frames, or `notify` + `pull`. */
export type DeliveryMode = "push" | "notify";

/** Why a connection is no longer in a room. */
export type LeaveReason = "requested" | "room_deleted" | "not_pulling";

/** Any JSON value: a message body is whatever the app sent. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** One room message as clients see it. */
export interface Message {
  /** Per-room sequence number, strictly increasing; lossy rooms may skip numbers. */
  seq: number;
  /** Server timestamp, milliseconds since the Unix epoch. */
  ts: number;
  /** The sender's user id (the `sub` of its token), or `"@server"` for the server API. */
  from: string;
  /** The message type chosen by the app, for example `text`, `like` or `gift`. */
  kind: string;
  priority: Priority;
  /** The app's payload. */
  body: JsonValue;
}

/**
 * Messages this connection did not get because they fell off a ring (or out of a capped
 * pull) before it could read them, per priority. Zero counts are absent on the wire.
 */
export interface Skipped {
  system?: number;
  high?: number;
  low?: number;
}

// ---------------------------------------------------------------------------------------
// Client → server

export interface JoinFrame {
  type: "join";
  id?: number;
  room: string;
  /** The highest seq the client saw (after a reconnect); absent on a first join. */
  since?: number;
  /** `push` when absent. */
  mode?: DeliveryMode;
}

export interface LeaveFrame {
  type: "leave";
  id?: number;
  room: string;
}

export interface SendFrame {
  type: "send";
  id?: number;
  room: string;
  /** `text` when absent. */
  kind?: string;
  body: JsonValue;
  /** `high` when absent; `system` is refused for ordinary users. */
  priority?: Priority;
}

export interface PullFrame {
  type: "pull";
  id?: number;
  room: string;
  since: number;
  /** 200 when absent, at most 500. */
  limit?: number;
}

export interface PingFrame {
  type: "ping";
  id?: number;
}

export type ClientFrame = JoinFrame | LeaveFrame | SendFrame | PullFrame | PingFrame;

// ---------------------------------------------------------------------------------------
// Server → client

/** First frame on every connection. */
export interface Hello {
  type: "hello";
  conn_id: string;
  user: string;
  server_ts: number;
  /** The client must send something (a `ping` will do) at least this often. */
  heartbeat_ms: number;
  /** Frames larger than this close the connection with 4005. */
  max_frame_bytes: number;
}

export interface Joined {
  type: "joined";
  id?: number;
  room: string;
  /** The room's latest seq when the join was processed. */
  seq: number;
  online: number;
  mode: DeliveryMode;
  msgs: Message[];
  skipped?: Skipped;
}

export interface Left {
  type: "left";
  id?: number;
  room: string;
  reason: LeaveReason;
}

/** Acknowledges a `send`: the message was accepted with this seq. */
export interface Sent {
  type: "sent";
  id?: number;
  room: string;
  seq: number;
  ts: number;
}

/** Pushed messages of one room, ordered by seq. */
export interface Batch {
  type: "batch";
  room: string;
  msgs: Message[];
  skipped?: Skipped;
  /**
   * Every message with seq at or below this has now been sent to this connection or
   * counted in `skipped`: the exact position to resume from after a reconnect.
   */
  upto?: number;
}

/** Notify-pull mode: messages up to `seq` are waiting; answer with `pull`. */
export interface Notify {
  type: "notify";
  room: string;
  seq: number;
}

export interface Pulled {
  type: "pulled";
  id?: number;
  room: string;
  /** The room's latest seq. */
  seq: number;
  msgs: Message[];
  skipped?: Skipped;
}

export interface Pong {
  type: "pong";
  id?: number;
  ts: number;
}

export interface ErrorFrame {
  type: "error";
  id?: number;
  /** A numeric error code; see `ErrorCodes`. */
  code: number;
  message: string;
  room?: string;
}

export type ServerFrame =
  | Hello
  | Joined
  | Left
  | Sent
  | Batch
  | Notify
  | Pulled
  | Pong
  | ErrorFrame;

export type ServerFrameType = ServerFrame["type"];

/** Reply frames that answer a request carrying an `id`. */
export type ReplyFrame = Joined | Left | Sent | Pulled | Pong;

/** Sum of the per-lane skipped counts (absent lanes count zero). */
export function skippedTotal(skipped: Skipped | undefined): number {
  if (skipped === undefined) return 0;
  return (skipped.system ?? 0) + (skipped.high ?? 0) + (skipped.low ?? 0);
}
