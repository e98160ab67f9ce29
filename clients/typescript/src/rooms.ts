/**
 * What the client remembers about each joined room across reconnects: its delivery mode,
 * the highest seq seen (the `since` of the resume join), the dedup window, and whether a
 * notify-mode pull is in flight. Pure bookkeeping; the client sends the frames.
 * @module
 */

import { DEFAULT_DEDUP_WINDOW, SeqWindow } from "./dedup.js";
import type { DeliveryMode, Message } from "./frames.js";

interface RoomState {
  mode: DeliveryMode;
  /** Highest seq seen in this room: from messages, or the room's seq when joined. */
  lastSeq: number;
  /**
   * The `since` of the resume join: the highest seq at or below which nothing can still
   * arrive. Set from `joined.seq`, then from each batch's `upto` (the server states that
   * everything up to it was sent or counted as skipped) and, in notify mode, from each
   * pull reply's `seq`. It lags `lastSeq` when a connection that fell behind got its
   * system and high lanes before older low messages: resuming from `lastSeq` would lose
   * those.
   */
  resumeSince: number;
  readonly window: SeqWindow;
  /** Notify mode: a `pull` for this room awaits its reply. */
  pullInFlight: boolean;
  /** Notify mode: a `notify` arrived while a pull was in flight; pull once more after it. */
  pullWanted: boolean;
}

/** The join to send for one room after a reconnect. */
export interface ResumeJoin {
  room: string;
  since: number;
  mode: DeliveryMode;
}

export class RoomTracker {
  private readonly rooms = new Map<string, RoomState>();
  private readonly windowCapacity: number;

  constructor(windowCapacity: number = DEFAULT_DEDUP_WINDOW) {
    this.windowCapacity = windowCapacity;
  }

  /**
   * Records a `joined` reply. `roomSeq` (the room's latest seq when the join was
   * processed) becomes the floor of `lastSeq`: the reply already carried what the client
   * should see up to there, so a resume must not ask for older history again. A repeated
   * join (a resume) keeps the room's dedup window.
   */
  joined(room: string, mode: DeliveryMode, roomSeq: number): void {
    const state = this.rooms.get(room);
    if (state === undefined) {
      this.rooms.set(room, {
        mode,
        lastSeq: roomSeq,
        resumeSince: roomSeq,
        window: new SeqWindow(this.windowCapacity),
        pullInFlight: false,
        pullWanted: false,
      });
      return;
    }
    state.mode = mode;
    state.lastSeq = Math.max(state.lastSeq, roomSeq);
    state.resumeSince = Math.max(state.resumeSince, roomSeq);
  }

  /**
   * Everything in `room` up to `seq` has arrived or was given up by the server (a batch's
   * `upto`, or a notify-mode pull reply's `seq`): resume from there at the lowest.
   */
  settle(room: string, seq: number): void {
    const state = this.rooms.get(room);
    if (state !== undefined) state.resumeSince = Math.max(state.resumeSince, seq);
  }

  /** The `since` a resume join would use for `room`. */
  resumeSince(room: string): number | undefined {
    return this.rooms.get(room)?.resumeSince;
  }

  /** Forgets a room (left, or refused on resume). Returns whether it was tracked. */
  forget(room: string): boolean {
    return this.rooms.delete(room);
  }

  clear(): void {
    this.rooms.clear();
  }

  has(room: string): boolean {
    return this.rooms.has(room);
  }

  /** The highest seq seen in `room`, or `undefined` for a room not joined. */
  lastSeq(room: string): number | undefined {
    return this.rooms.get(room)?.lastSeq;
  }

  mode(room: string): DeliveryMode | undefined {
    return this.rooms.get(room)?.mode;
  }

  roomNames(): string[] {
    return [...this.rooms.keys()];
  }

  /**
   * Keeps the messages of `msgs` not seen before in `room`, in their order, records them
   * in the dedup window and raises `lastSeq`. Messages of a room not joined are dropped.
   */
  admit(room: string, msgs: readonly Message[]): Message[] {
    const state = this.rooms.get(room);
    if (state === undefined) return [];
    const fresh: Message[] = [];
    for (const message of msgs) {
      if (!state.window.accept(message.seq)) continue;
      fresh.push(message);
      if (message.seq > state.lastSeq) state.lastSeq = message.seq;
    }
    return fresh;
  }

  /** The joins that resume every room after a reconnect, each from its `resumeSince`. */
  resumeJoins(): ResumeJoin[] {
    return [...this.rooms].map(([room, state]) => ({
      room,
      since: state.resumeSince,
      mode: state.mode,
    }));
  }

  /**
   * A `notify` arrived for `room`: returns whether to send a `pull` now. Every notify is
   * answered (the server counts unanswered ones against the connection), but while one
   * pull is in flight further notifies fold into a single follow-up pull.
   */
  pullOnNotify(room: string): boolean {
    const state = this.rooms.get(room);
    if (state === undefined) return false;
    if (state.pullInFlight) {
      state.pullWanted = true;
      return false;
    }
    state.pullInFlight = true;
    return true;
  }

  /**
   * The in-flight pull of `room` finished (replied, refused or lost): returns whether a
   * follow-up pull is due because a notify arrived meanwhile.
   */
  pullFinished(room: string): boolean {
    const state = this.rooms.get(room);
    if (state === undefined) return false;
    if (state.pullWanted) {
      state.pullWanted = false;
      state.pullInFlight = true;
      return true;
    }
    state.pullInFlight = false;
    return false;
  }

  /** A new connection has no pulls in flight. */
  resetPulls(): void {
    for (const state of this.rooms.values()) {
      state.pullInFlight = false;
      state.pullWanted = false;
    }
  }
}
