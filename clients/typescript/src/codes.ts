/**
 * Stable numeric codes, as in the protocol crate's `codes.rs`: error codes carried in
 * `error` frames, and WebSocket close codes that say whether to reconnect.
 *
 * Error codes by range: 1xx server-side trouble (retry later), 2xx a bad request,
 * 3xx refused by room policy. Close codes 4000-4499 mean "reconnect with backoff",
 * 4500-4999 "do not reconnect without fixing something first".
 * @module
 */

/** Codes in `error` frames, by their Rust constant names. */
export const ErrorCodes = {
  /** Something failed inside the server; the request may be retried. */
  INTERNAL: 100,
  /** A backend (store, bus) is unavailable; retry with backoff. */
  UNAVAILABLE: 101,
  /** The frame could not be decoded or is missing a field. The connection stays open. */
  BAD_FRAME: 200,
  /** The room does not exist (and the server does not create rooms on join). */
  UNKNOWN_ROOM: 201,
  /** The request needs the connection to have joined the room first. */
  NOT_JOINED: 202,
  /** The message body is larger than the server's `max_message_bytes`. */
  MESSAGE_TOO_LARGE: 203,
  /** The sender exceeded its own message rate; wait and retry. */
  RATE_LIMITED: 204,
  /** The room exceeded its message rate; the message was not accepted. */
  ROOM_RATE_LIMITED: 205,
  /** The action is not allowed for this user (for example `system` priority). */
  FORBIDDEN: 206,
  /** The connection already joined as many rooms as the server allows. */
  TOO_MANY_ROOMS: 207,
  /** A field has a value outside its allowed range (room id, kind, limit). */
  INVALID_VALUE: 208,
  /** The room is full (`max_members` reached). */
  ROOM_FULL: 300,
  /** The user is muted in this room or in all rooms; the message says until when. */
  MUTED: 301,
  /** The user is banned from this room or from all rooms; the message says until when. */
  BANNED: 302,
  /** The user is on the room's blacklist and may not join. */
  BLACKLISTED: 303,
  /** The whole room is muted (only whitelisted users may send). */
  ROOM_MUTED: 304,
  /** The message contains words the server's content filter refuses. */
  FILTERED: 305,
  /**
   * A room attribute write broke a rule (key, value size, key count, unknown key); the
   * message starts with the rule (see `attrRefusalRule`).
   */
  ATTR_REFUSED: 306,
  /**
   * A compare-and-set on a room attribute found another version: someone changed it
   * first. Wait for the room's attributes to catch up, then decide again.
   */
  ATTR_CONFLICT: 307,
  /**
   * The room already holds as many reliable messages awaiting acknowledgement as it
   * allows (its `reliable.max_pending` setting); the message was not accepted. Try again
   * later.
   */
  BACKLOG_FULL: 308,
} as const;

export type ErrorCodeConstant = keyof typeof ErrorCodes;
export type KnownErrorCode = (typeof ErrorCodes)[ErrorCodeConstant];

/** WebSocket close codes the server uses, by their Rust constant names. */
export const CloseCodes = {
  /** Closed normally: do not reconnect. */
  NORMAL: 1000,
  /** The server is shutting down or draining: reconnect (to another node if any). */
  DRAINING: 4000,
  /** Nothing arrived from the client within the heartbeat timeout. */
  HEARTBEAT_TIMEOUT: 4001,
  /** The client could not keep up. Reconnect and resume. */
  SLOW_CONSUMER: 4002,
  /** An internal server error ended the connection. */
  SERVER_ERROR: 4003,
  /** The token expired while connected: reconnect with a fresh token. */
  TOKEN_EXPIRED: 4004,
  /** The client sent a frame over `max_frame_bytes`: reconnect, never resend that frame. */
  FRAME_TOO_LARGE: 4005,
  /** The client sent a frame of the wrong WebSocket type for the negotiated codec. */
  BAD_PROTOCOL: 4500,
  /** The token was refused. */
  UNAUTHORIZED: 4501,
} as const;

export type CloseCodeConstant = keyof typeof CloseCodes;

/** The stable snake_case name of a code: the Rust constant name in lower case. */
function snakeNames(table: Record<string, number>): ReadonlyMap<number, string> {
  return new Map(Object.entries(table).map(([constant, code]) => [code, constant.toLowerCase()]));
}

const errorCodeNames = snakeNames(ErrorCodes);
const closeCodeNames = snakeNames(CloseCodes);

/** The snake_case name of an error code (`202` → `"not_joined"`), or `"unknown"`. */
export function errorCodeName(code: number): string {
  return errorCodeNames.get(code) ?? "unknown";
}

/** The snake_case name of a close code (`4000` → `"draining"`), or `"unknown"`. */
export function closeCodeName(code: number): string {
  return closeCodeNames.get(code) ?? "unknown";
}

/**
 * Whether a client whose connection closed with `code` should reconnect (with backoff).
 * Same rule as `CloseCode::should_reconnect` in the protocol crate: 1000 no; 1001-1015
 * (going away, abnormal closure 1006, ...) yes; 4000-4499 yes; 4500-4999 no; codes this
 * version does not know follow their range, and anything else means reconnect.
 */
export function shouldReconnect(code: number): boolean {
  if (code === 1000) return false;
  if (code >= 4500 && code <= 4999) return false;
  return true;
}
