/**
 * Likes: coalescing a viewer's taps into few messages, and reading the room's total from
 * the server's aggregated updates.
 *
 * A room's `like` kind has the `aggregate` policy by default: each message adds its
 * `body.count` (1-1000) to a room counter, and members receive at most one update per
 * window, `{"kind":"like","from":"@server","body":{"count":<room total>,"delta":<added>}}`.
 * A tap per message would spend the sender's message rate for nothing, so the client
 * sums taps and sends one message per interval (the timers are in `client.ts`).
 * @module
 */

import type { JsonValue, Message } from "./frames.js";

/** The message kind of likes. */
export const LIKE_KIND = "like";

/** The shortest time between two like messages of one room from one client, in ms. */
export const LIKE_INTERVAL_MS = 200;

/** The most taps one like message carries (the server counts 1-1000). */
export const MAX_LIKES_PER_MESSAGE = 1000;

/** Who the server's aggregated updates come from. */
const SERVER_SENDER = "@server";

/** Taps not sent yet, per room. */
export class PendingLikes {
  private readonly counts = new Map<string, number>();

  /** Adds `taps` (a positive integer) to the room's pending count. */
  add(room: string, taps: number): void {
    if (!Number.isSafeInteger(taps) || taps < 1) {
      throw new RangeError(`likes must be a positive integer, got ${taps}`);
    }
    this.counts.set(room, (this.counts.get(room) ?? 0) + taps);
  }

  /** Removes and returns up to `max` pending taps of `room` (0 when none). */
  take(room: string, max: number = MAX_LIKES_PER_MESSAGE): number {
    const pending = this.counts.get(room) ?? 0;
    const taken = Math.min(pending, max);
    if (pending - taken > 0) this.counts.set(room, pending - taken);
    else this.counts.delete(room);
    return taken;
  }

  count(room: string): number {
    return this.counts.get(room) ?? 0;
  }

  /** The rooms with taps pending. */
  rooms(): string[] {
    return [...this.counts.keys()];
  }

  /** Forgets every pending tap and returns what was pending, per room. */
  clear(): Map<string, number> {
    const pending = new Map(this.counts);
    this.counts.clear();
    return pending;
  }
}

/** The body of a like message carrying `taps` taps. */
export function likeBody(taps: number): JsonValue {
  return { count: taps };
}

/**
 * The room total an aggregated like update carries (`body.count` of a `like` message
 * from `@server`), or `undefined` for any other message, including the likes users send.
 */
export function likeTotalOf(message: Message): number | undefined {
  if (message.kind !== LIKE_KIND || message.from !== SERVER_SENDER) return undefined;
  const body = message.body;
  if (typeof body !== "object" || body === null || Array.isArray(body)) return undefined;
  const count = body.count;
  return typeof count === "number" && Number.isSafeInteger(count) && count >= 0 ? count : undefined;
}

/**
 * A room's like total, as the server's aggregated updates say. Feed it every message of
 * the room (the `messages` event's `msgs`); the update with the highest seq wins, so
 * the order batches arrive in does not matter.
 *
 * ```ts
 * const likes = new LikeTotal();
 * client.on("messages", ({ msgs }) => { if (likes.apply(msgs)) showLikes(likes.total); });
 * ```
 */
export class LikeTotal {
  private currentTotal = 0;
  private latestSeq = -1;

  /** The room's like total from the latest update seen (0 before any). */
  get total(): number {
    return this.currentTotal;
  }

  /** The seq of the update `total` comes from (-1 before any). */
  get seq(): number {
    return this.latestSeq;
  }

  /** Takes the aggregated like updates among `msgs`; returns whether `total` changed. */
  apply(msgs: readonly Message[]): boolean {
    const before = this.currentTotal;
    for (const message of msgs) {
      const total = likeTotalOf(message);
      if (total === undefined || message.seq <= this.latestSeq) continue;
      this.latestSeq = message.seq;
      this.currentTotal = total;
    }
    return this.currentTotal !== before;
  }
}
