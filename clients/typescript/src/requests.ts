/**
 * Requests awaiting a reply, keyed by the `id` the client put in the frame and the server
 * echoes back. Bounded: a client that fires requests faster than replies come back is
 * told so (`too_many_pending`) instead of growing a map without limit. Every entry ends
 * in exactly one way: its reply, an `error` frame, its timeout, or `rejectAll`.
 * @module
 */

import { ThrongClientError, ThrongError } from "./errors.js";
import type { ReplyFrame, ServerFrame } from "./frames.js";

/** The timer functions the table uses; injectable so tests can drive time by hand. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const globalTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface RequestTableOptions {
  /** Most requests awaiting a reply at once. */
  maxPending: number;
  /** How long a request waits for its reply before it is rejected with `timeout`. */
  timeoutMs: number;
  timers?: Timers;
}

/** The reply each request frame type is answered with. */
export interface ReplyByRequest {
  join: Extract<ReplyFrame, { type: "joined" }>;
  leave: Extract<ReplyFrame, { type: "left" }>;
  send: Extract<ReplyFrame, { type: "sent" }>;
  pull: Extract<ReplyFrame, { type: "pulled" }>;
  ping: Extract<ReplyFrame, { type: "pong" }>;
  moderate: Extract<ReplyFrame, { type: "moderated" }>;
  attr_set: Extract<ReplyFrame, { type: "attr_saved" }>;
  attr_delete: Extract<ReplyFrame, { type: "attr_saved" }>;
  attr_pull: Extract<ReplyFrame, { type: "attrs" }>;
}

export type RequestType = keyof ReplyByRequest;

const REPLY_TYPE: Record<RequestType, ReplyFrame["type"]> = {
  join: "joined",
  leave: "left",
  send: "sent",
  pull: "pulled",
  ping: "pong",
  moderate: "moderated",
  attr_set: "attr_saved",
  attr_delete: "attr_saved",
  attr_pull: "attrs",
};

interface Pending {
  requestType: RequestType;
  room: string | undefined;
  timer: unknown;
  resolve(reply: ReplyFrame): void;
  reject(error: Error): void;
}

/** Ids are u32 on the wire; 0 is never used so an id is always truthy. */
const MAX_ID = 0xffff_ffff;

export class RequestTable {
  private readonly pending = new Map<number, Pending>();
  private readonly maxPending: number;
  private readonly timeoutMs: number;
  private readonly timers: Timers;
  private lastId = 0;

  constructor(options: RequestTableOptions) {
    this.maxPending = options.maxPending;
    this.timeoutMs = options.timeoutMs;
    this.timers = options.timers ?? globalTimers;
  }

  /**
   * Registers a request and returns the id to put in its frame and a promise of its
   * reply. Throws `ThrongClientError("too_many_pending")` when the table is full; the
   * caller then must not send the frame.
   */
  open<T extends RequestType>(
    requestType: T,
    room?: string,
  ): { id: number; reply: Promise<ReplyByRequest[T]> } {
    if (this.pending.size >= this.maxPending) {
      throw new ThrongClientError(
        "too_many_pending",
        `${this.pending.size} requests already await a reply (the limit is ${this.maxPending})`,
        room,
      );
    }
    const id = this.nextFreeId();
    const reply = new Promise<ReplyByRequest[T]>((resolve, reject) => {
      const timer = this.timers.setTimeout(() => {
        this.pending.delete(id);
        reject(
          new ThrongClientError(
            "timeout",
            `no reply to ${requestType} (id ${id}) within ${this.timeoutMs} ms`,
            room,
          ),
        );
      }, this.timeoutMs);
      this.pending.set(id, {
        requestType,
        room,
        timer,
        resolve: resolve as (reply: ReplyFrame) => void,
        reject,
      });
    });
    return { id, reply };
  }

  /**
   * Settles the request a server frame answers, if any: its reply resolves it, an `error`
   * frame rejects it with a `ThrongError`. Returns whether a pending request matched.
   * Frames without an id, and late replies to requests that already timed out, match
   * nothing.
   */
  settle(frame: ServerFrame): boolean {
    if (!("id" in frame) || frame.id === undefined) return false;
    const entry = this.pending.get(frame.id);
    if (entry === undefined) return false;
    this.pending.delete(frame.id);
    this.timers.clearTimeout(entry.timer);
    if (frame.type === "error") {
      entry.reject(new ThrongError(frame.code, frame.message, frame.room ?? entry.room));
    } else if (frame.type === REPLY_TYPE[entry.requestType]) {
      entry.resolve(frame as ReplyFrame);
    } else {
      entry.reject(
        new ThrongClientError(
          "unexpected_reply",
          `${entry.requestType} (id ${frame.id}) was answered with a ${frame.type} frame`,
          entry.room,
        ),
      );
    }
    return true;
  }

  /** Rejects one request, for example when its frame could not be sent. */
  cancel(id: number, error: Error): void {
    const entry = this.pending.get(id);
    if (entry === undefined) return;
    this.pending.delete(id);
    this.timers.clearTimeout(entry.timer);
    entry.reject(error);
  }

  /** Rejects every pending request (the connection is gone; no reply will come). */
  rejectAll(makeError: (requestType: RequestType, room: string | undefined) => Error): void {
    const entries = [...this.pending.values()];
    this.pending.clear();
    for (const entry of entries) {
      this.timers.clearTimeout(entry.timer);
      entry.reject(makeError(entry.requestType, entry.room));
    }
  }

  get size(): number {
    return this.pending.size;
  }

  has(id: number): boolean {
    return this.pending.has(id);
  }

  private nextFreeId(): number {
    // The table holds far fewer than 2^32 entries, so this finds a free id in a step or
    // two even after the counter wraps.
    do {
      this.lastId = this.lastId >= MAX_ID ? 1 : this.lastId + 1;
    } while (this.pending.has(this.lastId));
    return this.lastId;
  }
}
