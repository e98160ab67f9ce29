/**
 * Wire types: every frame between a Throng client and server, field for field as the
 * protocol crate (`throng-protocol`, `frames.rs`) defines them. Every frame is a map
 * with a `type` field naming it; JSON and MessagePack share this one schema.
 *
 * Optional fields are absent on the wire when empty (the Rust side skips `None`), so
 * they are optional here rather than `null`. The room attribute payloads (`AttrSnapshot`,
 * `AttrChange`) live in `attrs.ts`, as they live in the crate's `attrs.rs`.
 * @module
 */

import type { AttrChange, AttrSnapshot } from "./attrs.js";

/** A room's priority lanes. Under load `low` is dropped first and `system` never. */
export type Priority = "system" | "high" | "low";

/** Every lane, in the order the server delivers a backlog. */
export const PRIORITIES: readonly Priority[] = ["system", "high", "low"];

/** How a connection receives a room's messages: pushed `batch` frames, or `notify` + `pull`. */
export type DeliveryMode = "push" | "notify";

/**
 * Why a connection is no longer in a room: the client left (`requested`), the room was
 * deleted through the server API (`room_deleted`), notify mode and too many notifies
 * unpulled (`not_pulling`), a moderator removed the user (`kicked`; they may join again),
 * or a moderator banned or blacklisted the user (`banned`; joins are refused with 302 or
 * 303 until it ends).
 */
export type LeaveReason = "requested" | "room_deleted" | "not_pulling" | "kicked" | "banned";

/**
 * What a moderator (or the app's backend through the server API) does to a room or one
 * of its members. `ban` and `blacklist` remove the user now and refuse their joins until
 * the ban ends or the entry is removed; `kick` removes the user now and they may join
 * again; `mute_room` and `unmute_room` concern the whole room; whitelisted users are
 * never dropped by the notify-pull policy, send in the `system` lane, and are spared by a
 * room mute.
 */
export type ModerateAction =
  | "mute"
  | "unmute"
  | "ban"
  | "unban"
  | "kick"
  | "mute_room"
  | "unmute_room"
  | "whitelist"
  | "unwhitelist"
  | "blacklist"
  | "unblacklist";

/** Every moderation action, in the protocol's order. */
export const MODERATE_ACTIONS: readonly ModerateAction[] = [
  "mute",
  "unmute",
  "ban",
  "unban",
  "kick",
  "mute_room",
  "unmute_room",
  "whitelist",
  "unwhitelist",
  "blacklist",
  "unblacklist",
];

/** Whether the action removes the user from the room at once (`ban`, `kick`, `blacklist`). */
export function moderateActionRemoves(action: ModerateAction): boolean {
  return action === "ban" || action === "kick" || action === "blacklist";
}

/** Whether the action concerns one user and needs `user` (all but `mute_room` and `unmute_room`). */
export function moderateActionTargetsUser(action: ModerateAction): boolean {
  return action !== "mute_room" && action !== "unmute_room";
}

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
  /**
   * Present on reliable messages only (gifts, red packets, product cards): at most 64
   * characters, unique in the room. The server may carry a reliable message again (in a
   * later frame, after a reconnect) until it is acknowledged with `ack`; the client shows
   * it once by remembering recent ids.
   */
  id?: string;
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
  /**
   * A reliable message (false when absent): it always goes in the `system` lane, is
   * stored before the `sent` reply, and is carried again to members until they
   * acknowledge it. Needs the `moderator` or `system` role, unless the room's
   * `reliable.senders` setting is `"members"`; otherwise 206.
   */
  reliable?: boolean;
  /**
   * Idempotency key of a reliable message, 1-64 characters of `A-Z a-z 0-9 _ . : -`:
   * sending again with the same `msg_id` in the same room, while the first is retained,
   * returns the first one's seq and publishes nothing. The server picks an id when absent.
   */
  msg_id?: string;
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

/** A moderator's action on a room (needs the `moderator` or `system` role in the token). */
export interface ModerateFrame {
  type: "moderate";
  id?: number;
  /** The room; the moderator need not be in it. */
  room: string;
  action: ModerateAction;
  /** The target user; absent for `mute_room` and `unmute_room`, required for the rest. */
  user?: string;
  /** How long a mute, ban or list entry lasts, in seconds; absent means until lifted. */
  duration_s?: number;
  /** Shown to the affected users; at most 512 bytes. */
  reason?: string;
}

/** Sets a room attribute (needs the right to write the room's attributes). */
export interface AttrSetFrame {
  type: "attr_set";
  id?: number;
  /** A room the connection joined. */
  room: string;
  /** 1-64 characters of `A-Z a-z 0-9 _ - . :` (per room setting). */
  key: string;
  /** Any JSON value but `null`, at most 4096 bytes encoded (per room setting). */
  value: JsonValue;
  /** Delete the entry when this user leaves the room (false when absent). */
  delete_on_leave?: boolean;
  /** Only if the key is at this version now; 0 means only if absent. */
  expect_version?: number;
}

/** Deletes a room attribute. */
export interface AttrDeleteFrame {
  type: "attr_delete";
  id?: number;
  room: string;
  key: string;
  /** Only if the key is at this version now. */
  expect_version?: number;
}

/** Fetches the room's attribute changes after `since`, the attribute version the client holds. */
export interface AttrPullFrame {
  type: "attr_pull";
  id?: number;
  room: string;
  since: number;
}

/**
 * Acknowledges the reliable messages of one received frame (`joined`, `batch` or
 * `pulled`): the `seq` of each, repeats included, at most 256. No reply comes back.
 * Until acknowledged, the server carries a reliable message again about every second,
 * up to 3 deliveries in all.
 */
export interface AckFrame {
  type: "ack";
  room: string;
  seqs: number[];
}

export type ClientFrame =
  | JoinFrame
  | LeaveFrame
  | SendFrame
  | PullFrame
  | PingFrame
  | ModerateFrame
  | AttrSetFrame
  | AttrDeleteFrame
  | AttrPullFrame
  | AckFrame;

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
  /**
   * The room's attributes, when it has any: every join carries the full set, resumes
   * included. Keep its version and pull the changes after it on `attr_notify`.
   */
  attrs?: AttrSnapshot;
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
  /**
   * True when the room's type policy (`drop_over_rate`) dropped the message because the
   * room was over its rate: it was not published, and `seq` is 0.
   */
  dropped?: boolean;
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

/** Acknowledges `attr_set` or `attr_delete`: the room's attributes are now at `version`. */
export interface AttrSaved {
  type: "attr_saved";
  id?: number;
  room: string;
  version: number;
}

/**
 * The answer to `attr_pull`: either the changes after `since`, oldest first, or (when the
 * server no longer has them all) the full set to replace the client's. See `applyAttrs`.
 */
export interface Attrs {
  type: "attrs";
  id?: number;
  room: string;
  changes?: AttrChange[];
  snapshot?: AttrSnapshot;
}

/**
 * The room's attributes changed and are now at `version`: pull the changes after the
 * version you hold. Merged: at most one per room flush.
 */
export interface AttrNotify {
  type: "attr_notify";
  room: string;
  version: number;
}

/** Acknowledges a `moderate` request: the action was carried out. */
export interface Moderated {
  type: "moderated";
  id?: number;
  room: string;
  /** The action, as sent. */
  action: ModerateAction;
}

/**
 * Something a moderator (or the app's backend) did that concerns this connection: to its
 * user (`user` is this connection's user) or to the whole room (`user` absent). `room` is
 * absent for actions across all rooms (a global mute or ban). Removals (`kick`, `ban`,
 * `blacklist`) are followed by `left`.
 */
export interface Moderation {
  type: "moderation";
  room?: string;
  action: ModerateAction;
  user?: string;
  /** When it ends, ms since the Unix epoch; absent means until lifted (or, for a kick, now). */
  until?: number;
  /** The moderator's reason. */
  reason?: string;
  /** Who did it: a moderator's user id, or `@server` for the server API. */
  by: string;
}

/** Messages per priority lane; a lane left out counts zero. */
export interface LaneCounts {
  system?: number;
  high?: number;
  low?: number;
}

/**
 * A room's live statistics, pushed to every member every `stats_interval_ms` (a room
 * setting, 2000 by default; 0 turns it off). The same object without `type` is what the
 * server API's `GET /v1/rooms/{id}/stats` returns. Figures left out count zero (the
 * `stats` event fills them in).
 */
export interface Stats {
  type: "stats";
  room: string;
  /** When the server took the figures, ms since the Unix epoch. */
  ts: number;
  /** Distinct users in the room. */
  online: number;
  /** Member connections (a user may have several). */
  connections: number;
  joins_per_sec?: number;
  leaves_per_sec?: number;
  /** The totals of the room's aggregated kinds, for example `{ like: 98765 }`. */
  counters?: Record<string, number>;
  /** Messages accepted per lane since the room started. */
  accepted?: LaneCounts;
  /**
   * Messages per lane since the room started that were refused over the room's rate,
   * dropped by a type policy, or skipped by members that fell behind.
   */
  dropped?: LaneCounts;
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
  | AttrSaved
  | Attrs
  | AttrNotify
  | Moderated
  | Moderation
  | Stats
  | ErrorFrame;

export type ServerFrameType = ServerFrame["type"];

/** Reply frames that answer a request carrying an `id`. */
export type ReplyFrame = Joined | Left | Sent | Pulled | Pong | AttrSaved | Attrs | Moderated;

/** Sum of the per-lane skipped counts (absent lanes count zero). */
export function skippedTotal(skipped: Skipped | undefined): number {
  if (skipped === undefined) return 0;
  return (skipped.system ?? 0) + (skipped.high ?? 0) + (skipped.low ?? 0);
}
