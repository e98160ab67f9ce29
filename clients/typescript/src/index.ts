/**
 * `@throng/client`: the TypeScript SDK for the Throng real-time messaging server.
 *
 * Layout:
 * - `client.ts`: `ThrongClient`, the only module that touches a socket or a timer.
 * - `frames.ts`, `codes.ts`: wire types and stable codes, as in the protocol crate.
 * - `attrs.ts`: room attribute payloads and `applyAttrs`, which keeps a copy of a room's
 *   attributes up to date (as `throng_protocol::attrs::apply` does).
 * - `codec.ts`: JSON and MessagePack frame encoding.
 * - `requests.ts`, `rooms.ts`, `dedup.ts`, `backoff.ts`, `reliable.ts`, `likes.ts`: the
 *   client's logic, socket-free (`likes.ts` also has `LikeTotal`, for the room's total).
 * - `emitter.ts`, `errors.ts`, `socket.ts`: the typed emitter, error types, and the
 *   WebSocket interface the client needs.
 * @module
 */

export {
  ThrongClient,
  urlWithToken,
  type AttrDeleteOptions,
  type AttrSetOptions,
  type AttributesEvent,
  type ClosedEvent,
  type ConnectionState,
  type DisconnectedEvent,
  type JoinOptions,
  type LeftEvent,
  type LikesLostEvent,
  type MessagesEvent,
  type ModerateOptions,
  type ModerationEvent,
  type NotifyEvent,
  type PingResult,
  type ReconnectedEvent,
  type ReconnectOptions,
  type SendOptions,
  type StatsEvent,
  type ThrongClientOptions,
  type ThrongEvents,
} from "./client.js";
export * from "./frames.js";
export * from "./codes.js";
export {
  AttrGapError,
  appliedAttrChanges,
  applyAttrs,
  attrRefusalRule,
  attrStateFromSnapshot,
  EMPTY_ATTR_STATE,
  type AttrChange,
  type AttrEntry,
  type AttrRefusalRule,
  type AttrsAnswer,
  type AttrSnapshot,
  type AttrState,
} from "./attrs.js";
export { ThrongClientError, ThrongError, type ClientErrorReason } from "./errors.js";
export {
  codecByName,
  codecForSubprotocol,
  decodeServerMessage,
  encodedByteLength,
  FrameDecodeError,
  jsonCodec,
  msgpackCodec,
  SUBPROTOCOLS,
  type CodecName,
  type FrameCodec,
} from "./codec.js";
export { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.js";
export { DEFAULT_DEDUP_WINDOW, RecentWindow, ReliableIdWindow, SeqWindow } from "./dedup.js";
export { MAX_ACK_SEQS, reliableAcks } from "./reliable.js";
export {
  LIKE_INTERVAL_MS,
  LIKE_KIND,
  likeBody,
  LikeTotal,
  likeTotalOf,
  MAX_LIKES_PER_MESSAGE,
  PendingLikes,
} from "./likes.js";
export { RequestTable, type ReplyByRequest, type RequestType, type Timers } from "./requests.js";
export { RoomTracker, type AttrUpdate, type ResumeJoin } from "./rooms.js";
export { TypedEmitter, type Listener } from "./emitter.js";
export type { WebSocketConstructor, WebSocketLike } from "./socket.js";
