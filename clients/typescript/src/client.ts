/**
 * `ThrongClient`: one WebSocket connection to a Throng server, kept alive across losses.
 *
 * This module owns the socket and the timers and nothing else: frame encoding
 * (`codec.ts`), reply matching (`requests.ts`), dedup and resume bookkeeping
 * (`rooms.ts`) and reconnect delays (`backoff.ts`) live in their own modules.
 *
 * Connection life: `idle` → `connecting` (socket opening, waiting for `hello`) → `open`.
 * A loss with a reconnect close code goes to `waiting` (backoff) and back to
 * `connecting`; on the next `hello` every joined room is joined again with
 * `since` = the room's settled position (the last batch's `upto`). A close code that says "do not reconnect", `close()`, or too
 * many failed attempts in a row end in `closed`.
 *
 * Room attributes: every `joined` reply replaces the room's attribute state
 * (`RoomTracker`); each `attr_notify` is answered with `attr_pull {since: version held}`
 * (one in flight per room), and the answer is applied and emitted as `attributes`.
 *
 * Reliable messages: every received frame with reliable messages is answered with `ack`
 * frames listing their seqs (`reliable.ts`); repeats are dropped by `RoomTracker`.
 *
 * Likes: `like()` adds taps to a per-room count (`likes.ts`), sent as one `like` message
 * at most every `LIKE_INTERVAL_MS` per room while the connection is open.
 * @module
 */

import type { AttrChange, AttrState } from "./attrs.js";
import { Backoff, DEFAULT_BACKOFF } from "./backoff.js";
import { closeCodeName, CloseCodes, ErrorCodes, shouldReconnect } from "./codes.js";
import {
  codecByName,
  codecForSubprotocol,
  decodeServerMessage,
  encodedByteLength,
  type CodecName,
  type FrameCodec,
} from "./codec.js";
import { TypedEmitter } from "./emitter.js";
import { ThrongClientError, ThrongError } from "./errors.js";
import type {
  Attrs,
  Batch,
  ClientFrame,
  DeliveryMode,
  Hello,
  JsonValue,
  Joined,
  LaneCounts,
  LeaveReason,
  Message,
  ModerateAction,
  Moderation,
  Priority,
  Pulled,
  Sent,
  ServerFrame,
  Skipped,
  Stats,
} from "./frames.js";
import { skippedTotal } from "./frames.js";
import { LIKE_INTERVAL_MS, LIKE_KIND, likeBody, PendingLikes } from "./likes.js";
import { reliableAcks } from "./reliable.js";
import { RequestTable, type ReplyByRequest, type RequestType } from "./requests.js";
import { RoomTracker } from "./rooms.js";
import type { WebSocketConstructor, WebSocketLike } from "./socket.js";

export interface ReconnectOptions {
  /** Upper bound of the first reconnect delay, in ms (default 500). */
  initialMs?: number;
  /** Cap on any reconnect delay, in ms (default 30 000). */
  maxMs?: number;
  /**
   * How many connection attempts in a row may end without a `hello` before the client
   * gives up and emits `closed` (default 5; `Infinity` never gives up). Needed because a
   * browser cannot tell a refused handshake (bad token) from a server that is down.
   */
  maxAttempts?: number;
}

export interface ThrongClientOptions {
  /** The WebSocket endpoint, for example `ws://127.0.0.1:7700/v1/ws`. */
  url: string;
  /**
   * The JWT, or a function returning one; a function is called before every connection
   * attempt, so a reconnect after `token_expired` (4004) picks up a fresh token.
   */
  token: string | (() => string | Promise<string>);
  /** Frame encoding: `json` (default) or `msgpack`. */
  codec?: CodecName;
  /** Reconnect policy, or `false` to never reconnect (and try to connect only once). */
  reconnect?: ReconnectOptions | false;
  /** How long a request waits for its reply (default 10 000 ms). */
  requestTimeoutMs?: number;
  /** Most requests awaiting a reply at once (default 1024). */
  maxPendingRequests?: number;
  /**
   * Notify mode: answer each `notify` with `pull {since: lastSeq}` and emit what comes
   * back as `messages` (default true). When false, only the `notify` event fires.
   */
  autoPull?: boolean;
  /** The WebSocket class to use; defaults to `globalThis.WebSocket` (absent in Node 20). */
  WebSocket?: WebSocketConstructor;
}

export type ConnectionState = "idle" | "connecting" | "open" | "waiting" | "closed";

export interface JoinOptions {
  /** `push` (default): the server pushes batches; `notify`: it notifies and the client pulls. */
  mode?: DeliveryMode;
}

export interface SendOptions {
  /** `high` (default) or `low`; `system` is refused for ordinary users. */
  priority?: Priority;
  /**
   * Send a reliable message (gifts, red packets): it goes in the `system` lane, is stored
   * before the reply, and every member gets it exactly once. Needs the `moderator` or
   * `system` role unless the room lets members send them; else 206 `forbidden`. A room
   * holding too many unacknowledged reliable messages refuses with 308 `backlog_full`.
   */
  reliable?: boolean;
  /**
   * The reliable message's id, 1-64 characters of `A-Z a-z 0-9 _ . : -`, which makes the
   * send idempotent: sending again with the same `msgId` in the same room returns the
   * first one's seq and publishes nothing (retry safely after a timeout). The server
   * picks an id when absent.
   */
  msgId?: string;
}

export interface ModerateOptions {
  /** The target user: required for every action but `mute_room` and `unmute_room`, refused for those two. */
  user?: string;
  /** How long a mute, ban or list entry lasts, in seconds; absent means until lifted. */
  durationS?: number;
  /** Shown to the affected users; at most 512 bytes. */
  reason?: string;
}

export interface AttrSetOptions {
  /** Delete the entry when this user leaves the room (its last connection there). */
  deleteOnLeave?: boolean;
  /**
   * Compare-and-set: only if the key is at this version now (an entry's `version`); 0
   * means only if the key is absent. Otherwise the write is refused with 307
   * `attr_conflict`.
   */
  expectVersion?: number;
}

export interface AttrDeleteOptions {
  /** Compare-and-set: only if the key is at this version now; else 307 `attr_conflict`. */
  expectVersion?: number;
}

export interface MessagesEvent {
  room: string;
  /** Messages not delivered before, in the order the server sent them. */
  msgs: Message[];
  /** What the server says this connection missed, per priority; absent when nothing. */
  skipped?: Skipped;
  /** Which frame carried them. */
  source: "joined" | "batch" | "pulled";
}

/** A room's live statistics (the server's `stats` frame; figures it left out are 0). */
export interface StatsEvent {
  room: string;
  /** When the server took the figures, ms since the Unix epoch. */
  ts: number;
  /** Distinct users in the room. */
  online: number;
  /** Member connections. */
  connections: number;
  joinsPerSec: number;
  leavesPerSec: number;
  /** The totals of the room's aggregated kinds, for example `{ like: 98765 }`. */
  counters: Record<string, number>;
  /** Messages accepted per lane since the room started. */
  accepted: Required<LaneCounts>;
  /** Messages dropped per lane since the room started (over the rate, by policy, or skipped). */
  dropped: Required<LaneCounts>;
}

/**
 * Taps given to `like()` that did not reach the room's counter: the like message that
 * carried them was refused (`error`: a `ThrongError`, e.g. 202 `not_joined` or 204
 * `rate_limited`), got no answer (`error`: a `ThrongClientError`; the server may or may
 * not have counted them), or was dropped by the room's policy (`error` absent: the
 * server's `sent` said `dropped`). Taps pending when the client closes are reported too.
 */
export interface LikesLostEvent {
  room: string;
  /** How many taps. */
  count: number;
  error?: ThrongError | ThrongClientError;
}

export interface NotifyEvent {
  room: string;
  seq: number;
}

export interface LeftEvent {
  room: string;
  /**
   * The server's reason (`requested`, `room_deleted`, `not_pulling`, `kicked` or
   * `banned`), or `resume_failed` when the server refused the resume join.
   */
  reason: LeaveReason | "resume_failed";
  /** Why the resume join was refused. */
  error?: ThrongError;
}

/**
 * A moderator (or the app's backend) acted on this client's user, or on a whole room.
 * Removals (`kick`, `ban`, `blacklist`) are followed by a `left` event.
 */
export interface ModerationEvent {
  /** The room; absent for an action across all rooms (a global mute or ban). */
  room?: string;
  action: ModerateAction;
  /** The user concerned (this client's user); absent when the whole room is concerned. */
  user?: string;
  /** When it ends, ms since the Unix epoch; absent means until lifted. */
  until?: number;
  /** The moderator's reason. */
  reason?: string;
  /** The moderator's user id, or `@server` for the server API. */
  by: string;
}

/** The attributes of a joined room changed, or were replaced by a join. */
export interface AttributesEvent {
  room: string;
  /** The room's attributes now (also what `attrs(room)` returns until the next change). */
  state: AttrState;
  /**
   * The changes applied, oldest first, when an `attrs` answer was incremental; absent
   * when the state was replaced (a join, or a snapshot answer).
   */
  changes?: AttrChange[];
  /** Which frame carried it: the `joined` reply (every join, resumes included) or an `attrs` answer. */
  source: "joined" | "attrs";
}

export interface DisconnectedEvent {
  /** The WebSocket close code (1006 for a lost connection). */
  code: number;
  reason: string;
  willReconnect: boolean;
  /** The delay before the next attempt, when `willReconnect`. */
  delayMs?: number;
}

export interface ReconnectedEvent {
  hello: Hello;
  /** Rooms joined again from their settled position. */
  resumed: string[];
  /** Rooms the server refused to join again; they are no longer joined. */
  failed: { room: string; error: ThrongError }[];
}

export interface ClosedEvent {
  /** The close code that ended the client, when a close frame or event ended it. */
  code?: number;
  reason: string;
}

/** The events of a `ThrongClient`, by name. */
export interface ThrongEvents {
  messages: MessagesEvent;
  notify: NotifyEvent;
  left: LeftEvent;
  moderation: ModerationEvent;
  attributes: AttributesEvent;
  /** A joined room's live statistics, every `stats_interval_ms` (a room setting). */
  stats: StatsEvent;
  /** Taps given to `like()` that were not counted, and why. */
  likesLost: LikesLostEvent;
  /** An `error` frame that answers no pending request, or a frame that cannot be read. */
  serverError: ThrongError;
  disconnected: DisconnectedEvent;
  reconnected: ReconnectedEvent;
  closed: ClosedEvent;
}

export interface PingResult {
  /** The server's clock when it answered, ms since the Unix epoch. */
  serverTs: number;
  /** Round trip as this client measured it, in ms. */
  rttMs: number;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_PENDING_REQUESTS = 1024;
const DEFAULT_MAX_ATTEMPTS = 5;
/** WebSocket close code for an abnormal closure (no close frame). */
const ABNORMAL_CLOSURE = 1006;

type RequestFrame<T extends RequestType> = Omit<Extract<ClientFrame, { type: T }>, "id">;

export class ThrongClient extends TypedEmitter<ThrongEvents> {
  private readonly url: string;
  private readonly token: ThrongClientOptions["token"];
  private readonly preferredCodec: FrameCodec;
  private readonly reconnectEnabled: boolean;
  private readonly maxAttempts: number;
  private readonly autoPull: boolean;
  private readonly WebSocketClass: WebSocketConstructor;
  private readonly backoff: Backoff;
  private readonly requests: RequestTable;
  private readonly rooms = new RoomTracker();
  private readonly pendingLikes = new PendingLikes();
  /** Per room: the interval after a like message, before which no other is sent. */
  private readonly likeCooldowns = new Map<string, ReturnType<typeof setTimeout>>();

  private connectionState: ConnectionState = "idle";
  private socket: WebSocketLike | undefined;
  /** The codec the server accepted on the current socket. */
  private codec: FrameCodec;
  private currentHello: Hello | undefined;
  /** Bumped for every socket and on close(), so events of an old socket are ignored. */
  private generation = 0;
  /** Connection attempts in a row that ended without a `hello`. */
  private failedAttempts = 0;
  /** Whether a `hello` arrived since the client was created or last closed by `close()`. */
  private everOpened = false;
  private pendingConnect:
    | { promise: Promise<Hello>; resolve(hello: Hello): void; reject(error: Error): void }
    | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  private livenessTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: ThrongClientOptions) {
    super();
    const WebSocketClass =
      options.WebSocket ??
      (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (WebSocketClass === undefined) {
      throw new TypeError(
        "no global WebSocket in this runtime (Node 20 has none): pass one as options.WebSocket, for example the `ws` package's WebSocket",
      );
    }
    this.WebSocketClass = WebSocketClass;
    // A malformed URL would fail every attempt the same way; say so at once instead.
    new URL(options.url);
    this.url = options.url;
    this.token = options.token;
    this.preferredCodec = codecByName(options.codec ?? "json");
    this.codec = this.preferredCodec;
    this.reconnectEnabled = options.reconnect !== false;
    const reconnect = options.reconnect === false ? {} : (options.reconnect ?? {});
    this.maxAttempts =
      options.reconnect === false ? 1 : (reconnect.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    this.backoff = new Backoff({
      initialMs: reconnect.initialMs ?? DEFAULT_BACKOFF.initialMs,
      maxMs: Math.max(
        reconnect.maxMs ?? DEFAULT_BACKOFF.maxMs,
        reconnect.initialMs ?? DEFAULT_BACKOFF.initialMs,
      ),
    });
    this.autoPull = options.autoPull ?? true;
    this.requests = new RequestTable({
      maxPending: options.maxPendingRequests ?? DEFAULT_MAX_PENDING_REQUESTS,
      timeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    });
  }

  /** Where the connection is: `idle`, `connecting`, `open`, `waiting` (to reconnect) or `closed`. */
  get state(): ConnectionState {
    return this.connectionState;
  }

  /** The `hello` of the current connection, while it is open. */
  get hello(): Hello | undefined {
    return this.connectionState === "open" ? this.currentHello : undefined;
  }

  /** The rooms this client has joined (and will resume after a reconnect). */
  get joinedRooms(): string[] {
    return this.rooms.roomNames();
  }

  /**
   * Opens the connection and resolves with the server's `hello`. Retries with backoff
   * like a reconnect; rejects with `ThrongClientError("connect_failed")` when it gives
   * up, or `"closed"` if `close()` is called first. While connected it resolves at once;
   * while reconnecting it resolves on the next `hello`.
   */
  connect(): Promise<Hello> {
    if (this.connectionState === "open" && this.currentHello !== undefined) {
      return Promise.resolve(this.currentHello);
    }
    if (this.pendingConnect !== undefined) return this.pendingConnect.promise;
    const pending = this.newPendingConnect();
    if (this.connectionState === "idle" || this.connectionState === "closed") {
      this.failedAttempts = 0;
      this.backoff.reset();
      void this.startAttempt();
    }
    return pending.promise;
  }

  /**
   * Joins `room` and resolves with the server's `joined` reply. The reply's messages also
   * go out as a `messages` event (source `joined`), like every message the client gets.
   * Joining a room already joined resumes it from its settled position (see
   * `RoomTracker.resumeSince`).
   */
  join(room: string, options: JoinOptions = {}): Promise<Joined> {
    const since = this.rooms.resumeSince(room);
    const frame: RequestFrame<"join"> = { type: "join", room, mode: options.mode ?? "push" };
    if (since !== undefined) frame.since = since;
    return this.request("join", frame, room);
  }

  /**
   * Leaves `room`: stops resuming it and drops its later messages at once, then waits for
   * the server's `left`. Without a connection there is nothing to tell the server.
   */
  async leave(room: string): Promise<void> {
    this.rooms.forget(room);
    if (this.connectionState !== "open") return;
    try {
      await this.request("leave", { type: "leave", room }, room);
    } catch (error) {
      // The goal is not being in the room. The server saying we are not, or the
      // connection ending (which ends every membership), both reach it.
      if (error instanceof ThrongError && error.code === ErrorCodes.NOT_JOINED) return;
      if (error instanceof ThrongClientError && (error.reason === "disconnected" || error.reason === "closed")) {
        return;
      }
      throw error;
    }
  }

  /**
   * Publishes a message into a joined room; resolves with the server's `sent`: its `seq`
   * and server timestamp, and `dropped: true` (with seq 0) when the room's type policy
   * dropped it over the room's rate. `reliable` and `msgId`: see `SendOptions`.
   */
  send(room: string, kind: string, body: JsonValue, options: SendOptions = {}): Promise<Sent> {
    const frame: RequestFrame<"send"> = { type: "send", room, kind, body };
    if (options.priority !== undefined) frame.priority = options.priority;
    if (options.reliable !== undefined) frame.reliable = options.reliable;
    if (options.msgId !== undefined) frame.msg_id = options.msgId;
    return this.request("send", frame, room);
  }

  /**
   * Likes `room` `taps` times (default 1). Taps are summed per room and sent as
   * `{"kind":"like","body":{"count":k}}`: at once when no like message went out in the
   * last 200 ms, else when that interval ends, at most 1000 taps per message (the rest
   * follow, one message per interval). Taps wait while the connection is down and go out
   * once the rooms are joined again. Never throws for a send failure: taps that were not
   * counted are reported by the `likesLost` event. Throws `RangeError` when `taps` is not
   * a positive integer.
   */
  like(room: string, taps = 1): void {
    this.pendingLikes.add(room, taps);
    if (!this.likeCooldowns.has(room)) this.sendLikes(room);
  }

  /**
   * Fetches retained messages of `room` with seq > `since` (server default limit 200,
   * max 500). New ones also go out as a `messages` event (source `pulled`).
   */
  pull(room: string, since: number, limit?: number): Promise<Pulled> {
    const frame: RequestFrame<"pull"> = { type: "pull", room, since };
    if (limit !== undefined) frame.limit = limit;
    return this.request("pull", frame, room);
  }

  /** Round trip to the server. */
  async ping(): Promise<PingResult> {
    const startedAt = Date.now();
    const pong = await this.request("ping", { type: "ping" }, undefined);
    return { serverTs: pong.ts, rttMs: Date.now() - startedAt };
  }

  /**
   * A moderator's action on `room` (the token needs the `moderator` or `system` role;
   * others get 206 `forbidden`). Resolves when the server confirms it (`moderated`).
   * The moderator need not be in the room. The users concerned get a `moderation` event.
   */
  async moderate(room: string, action: ModerateAction, options: ModerateOptions = {}): Promise<void> {
    const frame: RequestFrame<"moderate"> = { type: "moderate", room, action };
    if (options.user !== undefined) frame.user = options.user;
    if (options.durationS !== undefined) frame.duration_s = options.durationS;
    if (options.reason !== undefined) frame.reason = options.reason;
    await this.request("moderate", frame, room);
  }

  /**
   * Sets the attribute `key` of a joined room to `value` (any JSON value but `null`) and
   * resolves with the room's attribute version after the change. Needs the right to
   * write the room's attributes (206 otherwise); a broken rule is 306 `attr_refused`, a
   * failed `expectVersion` 307 `attr_conflict`. The change reaches `attrs(room)` and the
   * `attributes` event the way everyone's changes do: through the server's `attr_notify`.
   */
  async attrSet(
    room: string,
    key: string,
    value: Exclude<JsonValue, null>,
    options: AttrSetOptions = {},
  ): Promise<number> {
    const frame: RequestFrame<"attr_set"> = { type: "attr_set", room, key, value };
    if (options.deleteOnLeave !== undefined) frame.delete_on_leave = options.deleteOnLeave;
    if (options.expectVersion !== undefined) frame.expect_version = options.expectVersion;
    const saved = await this.request("attr_set", frame, room);
    return saved.version;
  }

  /**
   * Deletes the attribute `key` of a joined room and resolves with the room's attribute
   * version after the change (306 `attr_not_found` when the key is absent).
   */
  async attrDelete(room: string, key: string, options: AttrDeleteOptions = {}): Promise<number> {
    const frame: RequestFrame<"attr_delete"> = { type: "attr_delete", room, key };
    if (options.expectVersion !== undefined) frame.expect_version = options.expectVersion;
    const saved = await this.request("attr_delete", frame, room);
    return saved.version;
  }

  /**
   * The attributes of a joined room as this client holds them (`{ version: 0, entries: {} }`
   * for a room without any), or `undefined` for a room not joined. Kept current
   * automatically; the `attributes` event says when it changes. Frozen: read it, do not
   * change it.
   */
  attrs(room: string): AttrState | undefined {
    return this.rooms.attrs(room);
  }

  /** The highest seq this client has seen in `room` (what a resume asks from), if joined. */
  lastSeq(room: string): number | undefined {
    return this.rooms.lastSeq(room);
  }

  /**
   * Closes the connection for good (close code 1000, no reconnect), rejects pending
   * requests with `closed`, forgets joined rooms and emits `closed`. `connect()` may be
   * called again afterwards.
   */
  close(): void {
    if (this.connectionState === "closed" || this.connectionState === "idle") {
      this.connectionState = "closed";
      return;
    }
    this.rooms.clear();
    this.everOpened = false;
    this.shutDown(1000, "closed by the client", "closed");
  }

  // -------------------------------------------------------------------------------------
  // Connection attempts

  private newPendingConnect() {
    let resolve!: (hello: Hello) => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<Hello>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A caller that only listens to events may never await connect(); its rejection
    // must not surface as an unhandled one.
    promise.catch(() => {});
    this.pendingConnect = { promise, resolve, reject };
    return this.pendingConnect;
  }

  private async startAttempt(): Promise<void> {
    const generation = ++this.generation;
    this.connectionState = "connecting";
    let url: string;
    let socket: WebSocketLike;
    try {
      const token = typeof this.token === "function" ? await this.token() : this.token;
      if (generation !== this.generation) return;
      url = urlWithToken(this.url, token);
      socket = new this.WebSocketClass(url, [this.preferredCodec.subprotocol]);
    } catch (error) {
      if (generation !== this.generation) return;
      this.attemptFailed(ABNORMAL_CLOSURE, `could not open a connection: ${errorText(error)}`);
      return;
    }
    this.socket = socket;
    this.codec = this.preferredCodec;
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      if (generation !== this.generation) return;
      this.codec = codecForSubprotocol(socket.protocol);
    };
    socket.onmessage = (event: { data?: unknown }) => {
      if (generation !== this.generation) return;
      this.onSocketMessage(event.data);
    };
    socket.onclose = (event: { code?: number; reason?: string }) => {
      if (generation !== this.generation) return;
      this.onSocketClose(event.code ?? ABNORMAL_CLOSURE, event.reason ?? "");
    };
    // An error event is always followed by a close event, which does the handling.
    socket.onerror = () => {};
  }

  private onSocketClose(code: number, reason: string): void {
    const wasOpen = this.connectionState === "open";
    this.detachSocket();
    this.requests.rejectAll(
      (requestType, room) =>
        new ThrongClientError("disconnected", `the connection closed before the ${requestType} reply`, room),
    );
    const text = reason || describeCloseCode(code);
    if (!wasOpen) {
      this.attemptFailed(code, text);
      return;
    }
    if (!this.reconnectEnabled || !shouldReconnect(code)) {
      this.emit("disconnected", { code, reason: text, willReconnect: false });
      this.shutDown(code, `the server closed the connection: ${code} ${text}`);
      return;
    }
    const delayMs = this.scheduleReconnect();
    this.emit("disconnected", { code, reason: text, willReconnect: true, delayMs });
  }

  /** A connection attempt ended before `hello`: retry with backoff, or give up. */
  private attemptFailed(code: number, reason: string): void {
    this.failedAttempts += 1;
    if (!shouldReconnect(code)) {
      this.shutDown(code, `the server refused the connection: ${code} ${reason}`);
    } else if (this.failedAttempts >= this.maxAttempts) {
      const attempts =
        this.failedAttempts === 1 ? "1 connection attempt" : `${this.failedAttempts} connection attempts in a row`;
      this.shutDown(
        code,
        `gave up: ${attempts} ended without a hello (last: ${code} ${reason}); the server may be down or refusing the token`,
      );
    } else {
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): number {
    const delayMs = this.backoff.next();
    this.connectionState = "waiting";
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.startAttempt();
    }, delayMs);
    return delayMs;
  }

  /**
   * Ends the client: no socket, no timers, no pending work; emits `closed`. A pending
   * `connect()` is rejected with `connectError` (`connect_failed` unless `close()` ended it).
   */
  private shutDown(code: number, reason: string, connectError: "closed" | "connect_failed" = "connect_failed"): void {
    this.generation += 1;
    const socket = this.socket;
    this.detachSocket();
    if (socket !== undefined) closeQuietly(socket, 1000, "client closed");
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.connectionState = "closed";
    this.requests.rejectAll(
      (requestType, room) => new ThrongClientError("closed", `the client closed before the ${requestType} reply`, room),
    );
    for (const cooldown of this.likeCooldowns.values()) clearTimeout(cooldown);
    this.likeCooldowns.clear();
    for (const [room, count] of this.pendingLikes.clear()) {
      this.emit("likesLost", {
        room,
        count,
        error: new ThrongClientError("closed", `the client closed with ${count} likes not sent`, room),
      });
    }
    const pendingConnect = this.pendingConnect;
    this.pendingConnect = undefined;
    pendingConnect?.reject(new ThrongClientError(connectError, reason));
    this.emit("closed", { code, reason });
  }

  /** Forgets the current socket and stops its timers (the socket itself is not closed). */
  private detachSocket(): void {
    const socket = this.socket;
    if (socket !== undefined) {
      socket.onopen = null;
      socket.onmessage = null;
      socket.onclose = null;
      socket.onerror = null;
    }
    this.socket = undefined;
    this.currentHello = undefined;
    if (this.heartbeatTimer !== undefined) clearTimeout(this.heartbeatTimer);
    if (this.livenessTimer !== undefined) clearTimeout(this.livenessTimer);
    this.heartbeatTimer = undefined;
    this.livenessTimer = undefined;
  }

  // -------------------------------------------------------------------------------------
  // Incoming frames

  private onSocketMessage(data: unknown): void {
    this.armLiveness();
    let frame: ServerFrame | undefined;
    try {
      frame = decodeServerMessage(data);
    } catch (error) {
      this.emit(
        "serverError",
        new ThrongError(ErrorCodes.BAD_FRAME, `unreadable frame from the server: ${errorText(error)}`),
      );
      return;
    }
    if (frame === undefined) return; // a frame type newer than this SDK
    if (frame.type === "hello") {
      if (this.connectionState === "connecting") this.onHello(frame);
      return;
    }
    // The server says hello first; anything before it is not ours to act on.
    if (this.connectionState !== "open") return;
    switch (frame.type) {
      case "joined": {
        const attrs = this.rooms.joined(frame.room, frame.mode, frame.seq, frame.attrs);
        this.emit("attributes", { room: frame.room, state: attrs, source: "joined" });
        this.deliver(frame.room, frame.msgs, frame.skipped, "joined");
        break;
      }
      case "batch":
        this.onBatch(frame);
        break;
      case "pulled":
        this.deliver(frame.room, frame.msgs, frame.skipped, "pulled");
        // A notify-mode room gets only what it pulls: the reply covers up to its seq.
        if (this.rooms.mode(frame.room) === "notify") this.rooms.settle(frame.room, frame.seq);
        break;
      case "notify":
        this.emit("notify", { room: frame.room, seq: frame.seq });
        if (this.autoPull && this.rooms.pullOnNotify(frame.room)) this.autoPullRoom(frame.room);
        break;
      case "left":
        this.rooms.forget(frame.room);
        this.emit("left", { room: frame.room, reason: frame.reason });
        break;
      case "moderation":
        this.emit("moderation", moderationEvent(frame));
        break;
      case "stats":
        if (this.rooms.has(frame.room)) this.emit("stats", statsEvent(frame));
        break;
      case "attr_notify": {
        const since = this.rooms.attrNotify(frame.room, frame.version);
        if (since !== undefined) this.pullAttrs(frame.room, since);
        break;
      }
      case "attrs":
        // Applied here rather than when the pull's promise settles, so the answer takes
        // effect in frame order even when several frames are handled in one task.
        this.onAttrsAnswer(frame);
        break;
      case "error":
        if (!this.requests.settle(frame)) this.emit("serverError", ThrongError.fromFrame(frame));
        return;
      case "sent":
      case "pong":
      case "attr_saved":
      case "moderated":
        break;
    }
    this.requests.settle(frame);
  }

  private onHello(hello: Hello): void {
    this.connectionState = "open";
    this.currentHello = hello;
    this.failedAttempts = 0;
    this.backoff.reset();
    this.armHeartbeat();
    this.armLiveness();
    const isReconnect = this.everOpened;
    this.everOpened = true;
    const pendingConnect = this.pendingConnect;
    this.pendingConnect = undefined;
    pendingConnect?.resolve(hello);
    if (isReconnect || this.rooms.roomNames().length > 0) void this.resume(hello);
    else this.sendAllPendingLikes();
  }

  private onBatch(batch: Batch): void {
    this.deliver(batch.room, batch.msgs, batch.skipped, "batch");
    // Without `upto` (an older server) the best available position is the highest seq.
    const settled = batch.upto ?? Math.max(0, ...batch.msgs.map((m) => m.seq));
    this.rooms.settle(batch.room, settled);
  }

  /**
   * Emits the new messages of one received frame, then acknowledges its reliable ones
   * (repeats included: the server carries a message again until an ack reaches it).
   */
  private deliver(
    room: string,
    msgs: Message[],
    skipped: Skipped | undefined,
    source: MessagesEvent["source"],
  ): void {
    if (!this.rooms.has(room)) return;
    const fresh = this.rooms.admit(room, msgs);
    const hasSkipped = skippedTotal(skipped) > 0;
    if (fresh.length > 0 || hasSkipped) {
      const event: MessagesEvent = { room, msgs: fresh, source };
      if (hasSkipped && skipped !== undefined) event.skipped = skipped;
      this.emit("messages", event);
    }
    for (const ack of reliableAcks(room, msgs)) {
      try {
        this.sendFrame(ack, room);
      } catch {
        // Not sent: the server carries the messages again, on this connection or after
        // the resume, and they are acknowledged then.
      }
    }
  }

  /** Joins every tracked room again from its settled position, then emits `reconnected`. */
  private async resume(hello: Hello): Promise<void> {
    const generation = this.generation;
    this.rooms.resetPulls();
    const joins = this.rooms.resumeJoins();
    const outcomes = await Promise.allSettled(
      joins.map(({ room, since, mode }) =>
        this.request("join", { type: "join", room, since, mode }, room),
      ),
    );
    // The connection dropped meanwhile: the next one runs its own resume.
    if (generation !== this.generation || this.connectionState !== "open") return;
    const resumed: string[] = [];
    const failed: ReconnectedEvent["failed"] = [];
    outcomes.forEach((outcome, index) => {
      const room = (joins[index] as { room: string }).room;
      if (outcome.status === "fulfilled") {
        resumed.push(room);
      } else if (outcome.reason instanceof ThrongError) {
        // The server refused the room (deleted, full, forbidden): it is not joined.
        this.rooms.forget(room);
        failed.push({ room, error: outcome.reason });
        this.emit("left", { room, reason: "resume_failed", error: outcome.reason });
      }
      // A client-side failure (timeout, lost connection) keeps the room for the next try.
    });
    this.emit("reconnected", { hello, resumed, failed });
    // Taps that waited for the connection go out now that their rooms are joined again.
    this.sendAllPendingLikes();
  }

  /**
   * Sends one like message with the pending taps of `room` (at most 1000) and starts the
   * room's interval, at whose end the rest (if any) goes out. Without an open connection
   * the taps wait for the next one.
   */
  private sendLikes(room: string): void {
    if (this.connectionState !== "open") return;
    const taps = this.pendingLikes.take(room);
    if (taps === 0) return;
    this.likeCooldowns.set(
      room,
      setTimeout(() => {
        this.likeCooldowns.delete(room);
        this.sendLikes(room);
      }, LIKE_INTERVAL_MS),
    );
    this.send(room, LIKE_KIND, likeBody(taps)).then(
      (sent) => {
        if (sent.dropped === true) this.emit("likesLost", { room, count: taps });
      },
      (error: unknown) => {
        if (error instanceof ThrongError || error instanceof ThrongClientError) {
          this.emit("likesLost", { room, count: taps, error });
        }
      },
    );
  }

  private sendAllPendingLikes(): void {
    for (const room of this.pendingLikes.rooms()) {
      if (!this.likeCooldowns.has(room)) this.sendLikes(room);
    }
  }

  private autoPullRoom(room: string): void {
    const since = this.rooms.lastSeq(room);
    if (since === undefined) return;
    this.pull(room, since).then(
      () => this.afterAutoPull(room),
      (error: unknown) => {
        if (error instanceof ThrongError) this.emit("serverError", error);
        this.afterAutoPull(room);
      },
    );
  }

  private afterAutoPull(room: string): void {
    if (this.rooms.pullFinished(room) && this.connectionState === "open") {
      this.autoPullRoom(room);
    }
  }

  private onAttrsAnswer(frame: Attrs): void {
    const update = this.rooms.applyAttrAnswer(frame.room, frame);
    if (update === undefined) return;
    // An answer that stopped at a gap before applying anything changed nothing.
    if (update.changes !== undefined && update.changes.length === 0) return;
    const event: AttributesEvent = { room: frame.room, state: update.state, source: "attrs" };
    if (update.changes !== undefined) event.changes = update.changes;
    this.emit("attributes", event);
  }

  /** Sends `attr_pull` for `room`; `RoomTracker` has marked the pull in flight. */
  private pullAttrs(room: string, since: number): void {
    this.request("attr_pull", { type: "attr_pull", room, since }, room).then(
      () => this.afterAttrPull(room, true),
      (error: unknown) => {
        if (error instanceof ThrongError) this.emit("serverError", error);
        this.afterAttrPull(room, false);
      },
    );
  }

  private afterAttrPull(room: string, answered: boolean): void {
    const since = this.rooms.attrPullFinished(room, answered);
    if (since !== undefined) {
      // Without a connection the next one's resume join brings the full set anyway.
      if (this.connectionState === "open") this.pullAttrs(room, since);
      return;
    }
    const gap = answered ? this.rooms.attrGap(room) : undefined;
    if (gap !== undefined) {
      // The server answered with a gap twice in a row: pulling again would loop.
      this.emit(
        "serverError",
        new ThrongError(
          ErrorCodes.INTERNAL,
          `the attributes of room ${room} stopped at a gap twice in a row (${gap.message}); waiting for the next attr_notify`,
          room,
        ),
      );
    }
  }

  // -------------------------------------------------------------------------------------
  // Outgoing frames and timers

  private request<T extends RequestType>(
    requestType: T,
    frame: RequestFrame<T>,
    room: string | undefined,
  ): Promise<ReplyByRequest[T]> {
    if (this.connectionState !== "open") {
      const state = this.connectionState;
      return Promise.reject(
        new ThrongClientError(
          state === "closed" ? "closed" : "not_connected",
          `cannot ${requestType}: the client is ${state}`,
          room,
        ),
      );
    }
    let opened: { id: number; reply: Promise<ReplyByRequest[T]> };
    try {
      opened = this.requests.open(requestType, room);
    } catch (error) {
      return Promise.reject(error);
    }
    try {
      this.sendFrame({ ...frame, id: opened.id } as ClientFrame, room);
    } catch (error) {
      this.requests.cancel(opened.id, error as Error);
    }
    return opened.reply;
  }

  /** Encodes and sends one frame; throws `ThrongClientError` if it cannot go out. */
  private sendFrame(frame: ClientFrame, room?: string): void {
    const socket = this.socket;
    if (socket === undefined || this.currentHello === undefined) {
      throw new ThrongClientError("not_connected", `cannot send ${frame.type}: not connected`, room);
    }
    const encoded = this.codec.encode(frame);
    const size = encodedByteLength(encoded);
    if (size > this.currentHello.max_frame_bytes) {
      // The server would close the connection (4005) for this frame; refuse it here.
      throw new ThrongClientError(
        "frame_too_large",
        `the ${frame.type} frame is ${size} bytes, over the server's limit of ${this.currentHello.max_frame_bytes}`,
        room,
      );
    }
    try {
      socket.send(encoded);
    } catch (error) {
      throw new ThrongClientError("disconnected", `could not send ${frame.type}: ${errorText(error)}`, room);
    }
    this.armHeartbeat();
  }

  /** Sends a `ping` after `heartbeat_ms / 2` without sending anything else. */
  private armHeartbeat(): void {
    const heartbeatMs = this.currentHello?.heartbeat_ms ?? 0;
    if (heartbeatMs <= 0) return;
    if (this.heartbeatTimer !== undefined) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = setTimeout(() => {
      this.heartbeatTimer = undefined;
      try {
        this.sendFrame({ type: "ping" });
      } catch {
        // The close event that follows a failed send does the reconnecting.
      }
    }, heartbeatMs / 2);
  }

  /**
   * Treats the connection as lost when nothing at all arrived for `2 × heartbeat_ms`:
   * the client pings every `heartbeat_ms / 2` and every request is answered, so silence
   * that long means a dead network that the socket has not noticed (a browser has no
   * other way to see it).
   */
  private armLiveness(): void {
    const heartbeatMs = this.currentHello?.heartbeat_ms ?? 0;
    if (heartbeatMs <= 0) return;
    if (this.livenessTimer !== undefined) clearTimeout(this.livenessTimer);
    const generation = this.generation;
    this.livenessTimer = setTimeout(() => {
      this.livenessTimer = undefined;
      if (generation !== this.generation) return;
      const socket = this.socket;
      // Handled as a lost connection; onSocketClose detaches the socket first, so its
      // own close event, whenever it comes, is not handled a second time.
      this.onSocketClose(ABNORMAL_CLOSURE, `nothing received from the server for ${2 * heartbeatMs} ms`);
      if (socket !== undefined) {
        closeQuietly(socket, CloseCodes.HEARTBEAT_TIMEOUT, "no frame from the server");
      }
    }, 2 * heartbeatMs);
  }
}

/** The event for a `moderation` frame: its fields, without the ones the frame left out. */
function moderationEvent(frame: Moderation): ModerationEvent {
  const event: ModerationEvent = { action: frame.action, by: frame.by };
  if (frame.room !== undefined) event.room = frame.room;
  if (frame.user !== undefined) event.user = frame.user;
  if (frame.until !== undefined) event.until = frame.until;
  if (frame.reason !== undefined) event.reason = frame.reason;
  return event;
}

/** The event for a `stats` frame: every figure present, absent ones as 0. */
function statsEvent(frame: Stats): StatsEvent {
  return {
    room: frame.room,
    ts: frame.ts,
    online: frame.online,
    connections: frame.connections,
    joinsPerSec: frame.joins_per_sec ?? 0,
    leavesPerSec: frame.leaves_per_sec ?? 0,
    counters: { ...frame.counters },
    accepted: laneTotals(frame.accepted),
    dropped: laneTotals(frame.dropped),
  };
}

function laneTotals(counts: LaneCounts | undefined): Required<LaneCounts> {
  return { system: counts?.system ?? 0, high: counts?.high ?? 0, low: counts?.low ?? 0 };
}

/** A readable word for a close that came without a reason text. */
function describeCloseCode(code: number): string {
  const name = closeCodeName(code);
  if (name !== "unknown") return name;
  return code === ABNORMAL_CLOSURE ? "connection lost" : "no reason given";
}

/** Adds `token` as a query parameter: browsers cannot set an Authorization header. */
export function urlWithToken(url: string, token: string): string {
  const parsed = new URL(url);
  if (token !== "") parsed.searchParams.set("token", token);
  return parsed.toString();
}

function closeQuietly(socket: WebSocketLike, code: number, reason: string): void {
  try {
    socket.close(code, reason);
  } catch {
    // Already closing or closed: nothing left to do.
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
