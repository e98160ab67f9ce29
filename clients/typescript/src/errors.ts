/**
 * The two error types the SDK rejects with: `ThrongError` for a request the server
 * refused (it carries the server's numeric code), `ThrongClientError` for a request that
 * never got an answer (timeout, lost connection, ...), told apart by `reason`.
 * @module
 */

import { errorCodeName } from "./codes.js";
import type { ErrorFrame } from "./frames.js";

/** A request the server refused with an `error` frame. The connection stays open. */
export class ThrongError extends Error {
  /** The numeric server code, for example 202; see `ErrorCodes`. */
  readonly code: number;
  /** The code's snake_case name from the protocol, for example `"not_joined"`. */
  override readonly name: string;
  /** The room the refused request was about, when the server named one. */
  readonly room: string | undefined;

  constructor(code: number, message: string, room?: string) {
    super(message);
    this.code = code;
    this.name = errorCodeName(code);
    this.room = room;
  }

  static fromFrame(frame: ErrorFrame): ThrongError {
    return new ThrongError(frame.code, frame.message, frame.room);
  }
}

/**
 * Why a request failed on the client's side, without a server answer:
 * - `timeout`: no reply within `requestTimeoutMs`;
 * - `disconnected`: the connection dropped while the request was in flight;
 * - `closed`: the client was closed (by `close()` or because it gave up reconnecting);
 * - `not_connected`: there is no open connection right now (connecting or reconnecting);
 * - `too_many_pending`: the table of requests awaiting a reply is full;
 * - `frame_too_large`: the encoded frame is over the server's `max_frame_bytes`, and
 *   sending it would only get the connection closed with 4005;
 * - `connect_failed`: `connect()` gave up before the server said hello;
 * - `unexpected_reply`: the server answered the request's id with the wrong frame type.
 */
export type ClientErrorReason =
  | "timeout"
  | "disconnected"
  | "closed"
  | "not_connected"
  | "too_many_pending"
  | "frame_too_large"
  | "connect_failed"
  | "unexpected_reply";

/** A request or connection attempt that failed without an answer from the server. */
export class ThrongClientError extends Error {
  override readonly name = "ThrongClientError";
  readonly reason: ClientErrorReason;
  /** The room the failed request was about, if any. */
  readonly room: string | undefined;

  constructor(reason: ClientErrorReason, message: string, room?: string) {
    super(message);
    this.reason = reason;
    this.room = room;
  }
}
