/**
 * What the client remembers about each joined room across reconnects: its delivery mode,
 * the highest seq seen (the `since` of the resume join), the dedup window, whether a
 * notify-mode pull is in flight, the room's attributes with their pull in flight, and
 * the ids of recent reliable messages.
 * Pure bookkeeping; the client sends the frames.
 * @module
 */

import {
  AttrGapError,
  appliedAttrChanges,
  applyAttrs,
  attrStateFromSnapshot,
  EMPTY_ATTR_STATE,
  type AttrChange,
  type AttrsAnswer,
  type AttrSnapshot,
  type AttrState,
} from "./attrs.js";
import { DEFAULT_DEDUP_WINDOW, ReliableIdWindow, SeqWindow } from "./dedup.js";
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
  /** The ids of the reliable messages seen recently, which the server may carry again. */
  readonly reliableIds: ReliableIdWindow;
  /** Notify mode: a `pull` for this room awaits its reply. */
  pullInFlight: boolean;
  /** Notify mode: a `notify` arrived while a pull was in flight; pull once more after it. */
  pullWanted: boolean;
  /** The room's attributes: the last `joined.attrs`, with every `attrs` answer since applied. */
  attrs: AttrState;
  /** An `attr_pull` for this room awaits its reply. */
  attrPullInFlight: boolean;
  /**
   * The highest version an `attr_notify` announced while an `attr_pull` was in flight (0:
   * none). The answer may predate it, so a follow-up pull is due if the state is still
   * below it.
   */
  attrWantedVersion: number;
  /** The gap the last `attrs` answer stopped at, if it did. */
  attrGap: AttrGapError | undefined;
  /** Answers in a row that stopped at a gap; the first is pulled again, a second is not. */
  attrGapsInARow: number;
}

/** What an `attrs` answer did to a room's attributes. */
export interface AttrUpdate {
  /** The room's attributes now. */
  state: AttrState;
  /**
   * The changes applied, oldest first, when the answer was incremental (absent for a
   * snapshot; empty only when the answer stopped at a gap before applying any).
   */
  changes?: AttrChange[];
  /** Set when the changes stopped at a gap: `state` holds those before it. */
  gap?: AttrGapError;
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
   *
   * `attrs` (the reply's full attribute set; absent when the room has none) replaces the
   * room's attributes on every join, resumes included. An `attr_pull` in flight stays in
   * flight: its answer comes after this reply and applies on top of it.
   */
  joined(room: string, mode: DeliveryMode, roomSeq: number, attrs?: AttrSnapshot): AttrState {
    const attrState = attrs === undefined ? EMPTY_ATTR_STATE : attrStateFromSnapshot(attrs);
    const state = this.rooms.get(room);
    if (state === undefined) {
      this.rooms.set(room, {
        mode,
        lastSeq: roomSeq,
        resumeSince: roomSeq,
        window: new SeqWindow(this.windowCapacity),
        reliableIds: new ReliableIdWindow(this.windowCapacity),
        pullInFlight: false,
        pullWanted: false,
        attrs: attrState,
        attrPullInFlight: false,
        attrWantedVersion: 0,
        attrGap: undefined,
        attrGapsInARow: 0,
      });
      return attrState;
    }
    state.mode = mode;
    state.lastSeq = Math.max(state.lastSeq, roomSeq);
    state.resumeSince = Math.max(state.resumeSince, roomSeq);
    state.attrs = attrState;
    state.attrGap = undefined;
    state.attrGapsInARow = 0;
    return attrState;
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
   * in the dedup windows and raises `lastSeq`. A reliable message (one with an `id`) is a
   * repeat when its seq or its id was seen: the server carries it again until it is
   * acknowledged, under its original (older) seq, and a repeat neither raises `lastSeq`
   * nor counts as new. Messages of a room not joined are dropped.
   */
  admit(room: string, msgs: readonly Message[]): Message[] {
    const state = this.rooms.get(room);
    if (state === undefined) return [];
    const fresh: Message[] = [];
    for (const message of msgs) {
      const newSeq = state.window.accept(message.seq);
      // Both windows record the message, whichever of them already knew it.
      const newId = message.id === undefined || state.reliableIds.accept(message.id);
      if (!newSeq || !newId) continue;
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

  /** A new connection has no pulls in flight, of messages or of attributes. */
  resetPulls(): void {
    for (const state of this.rooms.values()) {
      state.pullInFlight = false;
      state.pullWanted = false;
      state.attrPullInFlight = false;
      state.attrWantedVersion = 0;
      state.attrGapsInARow = 0;
    }
  }

  /** The attributes of `room` as this client holds them, or `undefined` for a room not joined. */
  attrs(room: string): AttrState | undefined {
    return this.rooms.get(room)?.attrs;
  }

  /**
   * An `attr_notify` says the attributes of `room` reached `version`: returns the `since`
   * of the `attr_pull` to send now, or `undefined` when none is due (room not joined,
   * state already at that version, or a pull in flight: then one follow-up pull is due
   * after it, however many notifies arrive meanwhile).
   */
  attrNotify(room: string, version: number): number | undefined {
    const state = this.rooms.get(room);
    if (state === undefined || version <= state.attrs.version) return undefined;
    if (state.attrPullInFlight) {
      state.attrWantedVersion = Math.max(state.attrWantedVersion, version);
      return undefined;
    }
    state.attrPullInFlight = true;
    return state.attrs.version;
  }

  /**
   * Applies an `attrs` answer to the attributes of `room` (see `applyAttrs`). Returns what
   * it did, or `undefined` when it changed nothing (room not joined, or only changes
   * already applied). A gap is kept for `attrPullFinished`, which pulls again once.
   */
  applyAttrAnswer(room: string, answer: AttrsAnswer): AttrUpdate | undefined {
    const state = this.rooms.get(room);
    if (state === undefined) return undefined;
    const before = state.attrs;
    let gap: AttrGapError | undefined;
    try {
      state.attrs = applyAttrs(before, answer);
    } catch (error) {
      if (!(error instanceof AttrGapError)) throw error;
      gap = error;
      state.attrs = error.state;
    }
    state.attrGap = gap;
    state.attrGapsInARow = gap === undefined ? 0 : state.attrGapsInARow + 1;
    const update: AttrUpdate = { state: state.attrs };
    if (gap !== undefined) update.gap = gap;
    if (answer.snapshot === undefined) {
      if (state.attrs === before && gap === undefined) return undefined;
      // Empty only when the answer stopped at a gap before applying anything.
      update.changes = appliedAttrChanges(answer.changes ?? [], before.version, state.attrs.version);
    }
    return update;
  }

  /**
   * The `attr_pull` in flight for `room` ended: `answered` (its `attrs` reply was applied)
   * or not (refused, timed out, or the connection dropped). Returns the `since` of a
   * follow-up pull when one is due: a notify announced a version the state has not
   * reached, or the answer stopped at a gap and the one before did not.
   */
  attrPullFinished(room: string, answered: boolean): number | undefined {
    const state = this.rooms.get(room);
    if (state === undefined) return undefined;
    const wanted = state.attrWantedVersion;
    state.attrWantedVersion = 0;
    const due =
      wanted > state.attrs.version || (answered && state.attrGap !== undefined && state.attrGapsInARow === 1);
    state.attrPullInFlight = due;
    return due ? state.attrs.version : undefined;
  }

  /** The gap the last `attrs` answer of `room` stopped at, if it did. */
  attrGap(room: string): AttrGapError | undefined {
    return this.rooms.get(room)?.attrGap;
  }
}
