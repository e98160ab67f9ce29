/**
 * Room attributes: the wire types (one change, an entry, the full set at a version, the
 * answer to "what changed since version v") as the protocol crate's `attrs.rs` defines
 * them, and `applyAttrs`, which brings a client's copy of a room's set up to date the way
 * `throng_protocol::attrs::apply` does. Pure: nothing here touches a socket.
 *
 * Every change to a room's attributes gets the room's next attribute version (1, 2,
 * 3...). A client holds the set at one version; `joined.attrs` gives it the full set, and
 * `attr_pull {since: version}` answers with either the changes after that version or,
 * when the server no longer keeps them all, the full set again.
 * @module
 */

import type { JsonValue } from "./frames.js";

/**
 * One change, as the server logs it and sends it in an `attrs` answer. A set carries
 * `value`; a deletion carries `deleted: true` and no `value`.
 */
export interface AttrChange {
  /** The room attribute version this change produced. */
  version: number;
  key: string;
  /** The new value; absent for a deletion. */
  value?: JsonValue;
  /** `true` for a deletion (exactly when `value` is absent); absent otherwise. */
  deleted?: boolean;
  /** The user who made the change; absent when the server API made it. */
  by?: string;
  /** When the change was made, ms since the Unix epoch. */
  ts: number;
}

/** One entry of a room's attribute set. */
export interface AttrEntry {
  value: JsonValue;
  /** The version of the change that last set this entry. */
  version: number;
  /** Who set it last (its owner); absent when the server API did. */
  by?: string;
  /** When it was last set, ms since the Unix epoch. */
  ts: number;
}

/** A room's full attribute set at one version, as `joined.attrs` and `attrs.snapshot` carry it. */
export interface AttrSnapshot {
  version: number;
  entries: Record<string, AttrEntry>;
}

/**
 * What a client holds of a room's attributes: the last snapshot it got with the changes
 * since applied. A room without attributes is `{ version: 0, entries: {} }`.
 *
 * The states `applyAttrs` returns are frozen (the state and its `entries` map; not the
 * values inside), and their `entries` have no prototype, so a key such as `constructor`
 * or `__proto__` is an ordinary key.
 */
export interface AttrState {
  readonly version: number;
  readonly entries: { readonly [key: string]: AttrEntry };
}

/**
 * The answer to `attr_pull`, as the `attrs` frame carries it: either `changes` (after
 * the version asked for, oldest first) or a `snapshot` that replaces the client's set.
 * An `attrs` frame can be passed as it is. When both are present the snapshot wins; when
 * neither is, there is nothing to apply.
 */
export interface AttrsAnswer {
  changes?: AttrChange[];
  snapshot?: AttrSnapshot;
}

/**
 * `applyAttrs` met a change that does not follow the state's version: a change in
 * between is missing, so the client must pull again from `have`. `state` is where the
 * replay stopped: the input with every change before the gap applied (consistent at
 * version `have`).
 */
export class AttrGapError extends Error {
  override readonly name = "AttrGapError";
  /** The version the state had reached when the gap was found. */
  readonly have: number;
  /** The version of the change that did not follow it. */
  readonly got: number;
  /** The state at version `have`: keep it, then pull the changes after `have`. */
  readonly state: AttrState;

  constructor(have: number, got: number, state: AttrState) {
    super(`attribute change ${got} does not follow version ${have}`);
    this.have = have;
    this.got = got;
    this.state = state;
  }
}

/** The state of a room without attributes. */
export const EMPTY_ATTR_STATE: AttrState = freezeState(0, Object.create(null) as Record<string, AttrEntry>);

/** A state holding `snapshot`, in the frozen, prototype-free form `applyAttrs` returns. */
export function attrStateFromSnapshot(snapshot: AttrSnapshot): AttrState {
  const entries = Object.create(null) as Record<string, AttrEntry>;
  // Object.keys lists an own `__proto__` key too (JSON.parse makes one); assigning into a
  // prototype-free object stores it as a plain key.
  for (const key of Object.keys(snapshot.entries)) {
    entries[key] = snapshot.entries[key] as AttrEntry;
  }
  return freezeState(snapshot.version, entries);
}

/**
 * Applies an `attr_pull` answer to a client's state and returns the new state; the input
 * is not changed. Mirrors `throng_protocol::attrs::apply`:
 *
 * - a snapshot replaces the state;
 * - changes are applied in order: one at or below the state's version was applied
 *   already (a repeated pull) and is skipped; one at the next version sets its key to
 *   `value`, or removes the key when it has no value (a deletion);
 * - a change beyond the next version throws `AttrGapError`, whose `state` holds every
 *   change before it: pull again from `error.have`.
 *
 * Returns the input itself when nothing was applied.
 */
export function applyAttrs(state: AttrState, answer: AttrsAnswer): AttrState {
  if (answer.snapshot !== undefined) return attrStateFromSnapshot(answer.snapshot);
  const changes = answer.changes ?? [];
  let version = state.version;
  let entries: Record<string, AttrEntry> | undefined;
  for (const change of changes) {
    if (change.version <= version) continue;
    if (change.version !== version + 1) {
      const reached = entries === undefined ? state : freezeState(version, entries);
      throw new AttrGapError(version, change.version, reached);
    }
    // Copied once per answer, on the first change that applies.
    entries ??= copyEntries(state.entries);
    version = change.version;
    // A JSON `null` decodes to "no value" on the Rust side too, so it deletes as well.
    if (change.value === undefined || change.value === null) {
      delete entries[change.key];
    } else {
      const entry: AttrEntry = { value: change.value, version: change.version, ts: change.ts };
      if (change.by !== undefined) entry.by = change.by;
      entries[change.key] = entry;
    }
  }
  return entries === undefined ? state : freezeState(version, entries);
}

/**
 * Which of an answer's `changes` `applyAttrs` applied to take a state from version `from`
 * to version `to`, in order: the ones it skipped as already applied, and any after a gap,
 * are left out. For an `attributes`-style "what changed" list next to the new state.
 */
export function appliedAttrChanges(changes: readonly AttrChange[], from: number, to: number): AttrChange[] {
  const applied: AttrChange[] = [];
  let version = from;
  for (const change of changes) {
    if (version >= to) break;
    if (change.version !== version + 1) continue;
    applied.push(change);
    version = change.version;
  }
  return applied;
}

/** Rules an `attr_refused` (306) or `attr_conflict` (307) error message starts with. */
export type AttrRefusalRule =
  | "attr_key_invalid"
  | "attr_value_too_large"
  | "attr_value_null"
  | "attr_too_many_keys"
  | "attr_not_found"
  | "attr_owner_required"
  | "attr_version_mismatch";

const ATTR_REFUSAL_RULES: ReadonlySet<string> = new Set<AttrRefusalRule>([
  "attr_key_invalid",
  "attr_value_too_large",
  "attr_value_null",
  "attr_too_many_keys",
  "attr_not_found",
  "attr_owner_required",
  "attr_version_mismatch",
]);

/**
 * The rule a refused attribute write broke, read from the start of the server's message
 * (`"attr_not_found: no attribute with key \"seat:1\""` → `"attr_not_found"`), or
 * `undefined` when the message names no rule this version knows. Pass the `message` of a
 * `ThrongError` with code 306 or 307.
 */
export function attrRefusalRule(message: string): AttrRefusalRule | undefined {
  const rule = /^[a-z_]+/.exec(message)?.[0];
  return rule !== undefined && ATTR_REFUSAL_RULES.has(rule) ? (rule as AttrRefusalRule) : undefined;
}

function copyEntries(entries: AttrState["entries"]): Record<string, AttrEntry> {
  const copy = Object.create(null) as Record<string, AttrEntry>;
  for (const key of Object.keys(entries)) copy[key] = entries[key] as AttrEntry;
  return copy;
}

function freezeState(version: number, entries: Record<string, AttrEntry>): AttrState {
  return Object.freeze({ version, entries: Object.freeze(entries) });
}
