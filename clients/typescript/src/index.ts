/**
 * `@throng/client`: the TypeScript SDK for the Throng real-time messaging server.
 *
 * Layout:
 * - `client.ts`: `ThrongClient`, the only module that touches a socket or a timer.
 * - `frames.ts`, `codes.ts`: wire types and stable codes, as in the protocol crate.
 * - `codec.ts`: JSON and MessagePack frame encoding.
 * - `requests.ts`, `rooms.ts`, `dedup.ts`, `backoff.ts`: the client's logic, socket-free.
 * - `emitter.ts`, `errors.ts`, `socket.ts`: the typed emitter, error types, and the
 *   WebSocket interface the client needs.
 * @module
 */

export {
  ThrongClient,
  urlWithToken,
  type ClosedEvent,
  type ConnectionState,
  type DisconnectedEvent,
  type JoinOptions,
  type LeftEvent,
  type MessagesEvent,
  type NotifyEvent,
  type PingResult,
  type ReconnectedEvent,
  type ReconnectOptions,
  type SendOptions,
  type ThrongClientOptions,
  type ThrongEvents,
} from "./client.js";
export * from "./frames.js";
export * from "./codes.js";
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
export { DEFAULT_DEDUP_WINDOW, SeqWindow } from "./dedup.js";
export { RequestTable, type ReplyByRequest, type RequestType, type Timers } from "./requests.js";
export { RoomTracker, type ResumeJoin } from "./rooms.js";
export { TypedEmitter, type Listener } from "./emitter.js";
export type { WebSocketConstructor, WebSocketLike } from "./socket.js";
