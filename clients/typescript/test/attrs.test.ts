import { describe, expect, it } from "vitest";
import {
  AttrGapError,
  appliedAttrChanges,
  applyAttrs,
  attrRefusalRule,
  attrStateFromSnapshot,
  EMPTY_ATTR_STATE,
  type AttrChange,
  type AttrsAnswer,
  type AttrSnapshot,
  type AttrState,
  type JsonValue,
} from "../src/index.js";

const set = (version: number, key: string, value: JsonValue, by?: string): AttrChange =>
  by === undefined ? { version, key, value, ts: 1000 + version } : { version, key, value, by, ts: 1000 + version };
const del = (version: number, key: string): AttrChange => ({ version, key, deleted: true, by: "u", ts: 1000 + version });

/** A state from `{key: [value, version]}`, as a snapshot would carry it. */
function stateOf(version: number, entries: Record<string, [JsonValue, number]> = {}): AttrState {
  const snapshot: AttrSnapshot = { version, entries: {} };
  for (const [key, [value, entryVersion]] of Object.entries(entries)) {
    snapshot.entries[key] = { value, version: entryVersion, by: "u", ts: 1000 + entryVersion };
  }
  return attrStateFromSnapshot(snapshot);
}

/** `{key: value}` of a state, to compare what an app reads. */
const valuesOf = (state: AttrState) =>
  Object.fromEntries(Object.keys(state.entries).map((key) => [key, state.entries[key]?.value]));

type Expected = { version: number; values: Record<string, JsonValue> } | { gap: { have: number; got: number; values: Record<string, JsonValue> } };

/** Applies `answer` to `start` and compares the outcome with `expected`; the input must not change. */
function check(start: AttrState, answer: AttrsAnswer, expected: Expected) {
  const before = JSON.stringify({ version: start.version, values: valuesOf(start) });
  if ("gap" in expected) {
    let caught: unknown;
    try {
      applyAttrs(start, answer);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AttrGapError);
    const gap = caught as AttrGapError;
    expect({ have: gap.have, got: gap.got, values: valuesOf(gap.state) }).toEqual(expected.gap);
    expect(gap.state.version).toBe(expected.gap.have);
  } else {
    const after = applyAttrs(start, answer);
    expect({ version: after.version, values: valuesOf(after) }).toEqual(expected);
  }
  expect(JSON.stringify({ version: start.version, values: valuesOf(start) })).toBe(before);
}

describe("applyAttrs", () => {
  const cases: [name: string, start: AttrState, answer: AttrsAnswer, expected: Expected][] = [
    ["empty changes keep the state", stateOf(3, { a: [1, 3] }), { changes: [] }, { version: 3, values: { a: 1 } }],
    ["neither changes nor snapshot", stateOf(3, { a: [1, 3] }), {}, { version: 3, values: { a: 1 } }],
    ["a set from nothing", EMPTY_ATTR_STATE, { changes: [set(1, "a", "x")] }, { version: 1, values: { a: "x" } }],
    [
      "sets and a delete in order",
      EMPTY_ATTR_STATE,
      { changes: [set(1, "a", 1), set(2, "b", 2), set(3, "a", 3), del(4, "b")] },
      { version: 4, values: { a: 3 } },
    ],
    [
      "changes at or below the version were applied already",
      stateOf(2, { a: [20, 2] }),
      { changes: [set(1, "a", 10), set(2, "a", 20), set(3, "b", 30)] },
      { version: 3, values: { a: 20, b: 30 } },
    ],
    ["a repeated answer changes nothing", stateOf(2, { a: [1, 2] }), { changes: [set(1, "z", 0), set(2, "a", 1)] }, { version: 2, values: { a: 1 } }],
    ["a delete of an absent key still moves the version", stateOf(1), { changes: [del(2, "nope")] }, { version: 2, values: {} }],
    ["a null value deletes, as Rust reads it", stateOf(1, { a: [1, 1] }), { changes: [{ version: 2, key: "a", value: null, ts: 5 }] }, { version: 2, values: {} }],
    ["no value and no deleted flag deletes", stateOf(1, { a: [1, 1] }), { changes: [{ version: 2, key: "a", ts: 5 }] }, { version: 2, values: {} }],
    [
      "structured values, falsy values",
      EMPTY_ATTR_STATE,
      { changes: [set(1, "seat:1", { user: "ann", muted: false }), set(2, "n", 0), set(3, "s", ""), set(4, "f", false), set(5, "l", [])] },
      { version: 5, values: { "seat:1": { user: "ann", muted: false }, n: 0, s: "", f: false, l: [] } },
    ],
    [
      "keys that name Object.prototype members",
      EMPTY_ATTR_STATE,
      { changes: [set(1, "constructor", 1), set(2, "__proto__", 2), set(3, "toString", 3), del(4, "constructor")] },
      // A computed key: a literal `__proto__:` would set the prototype instead.
      { version: 4, values: { ["__proto__"]: 2, toString: 3 } },
    ],
    ["a snapshot replaces", stateOf(9, { a: [1, 9] }), { snapshot: { version: 4, entries: { b: { value: 2, version: 4, ts: 1 } } } }, { version: 4, values: { b: 2 } }],
    [
      "a snapshot wins over changes",
      stateOf(1),
      { snapshot: { version: 7, entries: {} }, changes: [set(2, "a", 1)] },
      { version: 7, values: {} },
    ],
    ["a gap at the first change", stateOf(2, { a: [1, 2] }), { changes: [set(4, "b", 1)] }, { gap: { have: 2, got: 4, values: { a: 1 } } }],
    [
      "a gap after some changes keeps those before it",
      stateOf(2, { a: [1, 2] }),
      { changes: [set(3, "b", 2), del(4, "a"), set(6, "c", 3), set(7, "d", 4)] },
      { gap: { have: 4, got: 6, values: { b: 2 } } },
    ],
    ["changes out of order stop at the first one that does not follow", EMPTY_ATTR_STATE, { changes: [set(1, "a", 1), set(3, "c", 3), set(2, "b", 2)] }, { gap: { have: 1, got: 3, values: { a: 1 } } }],
  ];
  it.each(cases)("%s", (_name, start, answer, expected) => check(start, answer, expected));

  it("stores __proto__ as an ordinary key in a prototype-free map", () => {
    const state = applyAttrs(EMPTY_ATTR_STATE, { changes: [set(1, "__proto__", { x: 1 })] });
    expect(Object.keys(state.entries)).toEqual(["__proto__"]);
    expect(state.entries["__proto__"]?.value).toEqual({ x: 1 });
    expect(Object.getPrototypeOf(state.entries)).toBeNull();
    expect(applyAttrs(EMPTY_ATTR_STATE, { changes: [] }).entries["constructor"]).toBeUndefined();
  });

  it("keeps a change's metadata in its entry: version, by (absent for the server API), ts", () => {
    const state = applyAttrs(EMPTY_ATTR_STATE, { changes: [set(1, "a", 1, "ann"), set(2, "b", 2)] });
    expect(state.entries["a"]).toEqual({ value: 1, version: 1, by: "ann", ts: 1001 });
    expect(state.entries["b"]).toEqual({ value: 2, version: 2, ts: 1002 });
    expect("by" in (state.entries["b"] ?? {})).toBe(false);
  });

  it("returns frozen states and the same object when nothing applies", () => {
    const start = stateOf(2, { a: [1, 2] });
    expect(applyAttrs(start, { changes: [set(2, "a", 9)] })).toBe(start);
    const next = applyAttrs(start, { changes: [set(3, "a", 3)] });
    expect(Object.isFrozen(next)).toBe(true);
    expect(Object.isFrozen(next.entries)).toBe(true);
    expect(() => {
      (next.entries as Record<string, unknown>)["b"] = 1;
    }).toThrow(TypeError);
  });

  it("does not keep the snapshot's own object: later changes cannot reach the frame", () => {
    const snapshot: AttrSnapshot = { version: 1, entries: { a: { value: 1, version: 1, ts: 1 } } };
    const state = applyAttrs(stateOf(0), { snapshot });
    applyAttrs(state, { changes: [del(2, "a")] });
    expect(snapshot.entries["a"]?.value).toBe(1);
    expect(state.entries).not.toBe(snapshot.entries);
  });
});

describe("appliedAttrChanges", () => {
  const cases: [name: string, changes: AttrChange[], from: number, to: number, versions: number[]][] = [
    ["all applied", [set(1, "a", 1), set(2, "a", 2)], 0, 2, [1, 2]],
    ["the repeated ones are left out", [set(1, "a", 1), set(2, "a", 2), set(3, "a", 3)], 1, 3, [2, 3]],
    ["the ones after a gap are left out", [set(3, "a", 1), set(5, "a", 2), set(6, "a", 3)], 2, 3, [3]],
    ["nothing applied", [set(1, "a", 1)], 1, 1, []],
  ];
  it.each(cases)("%s", (_name, changes, from, to, versions) => {
    expect(appliedAttrChanges(changes, from, to).map((c) => c.version)).toEqual(versions);
  });
});

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("applyAttrs against a model", () => {
  // The server side, simply: a log of every change, and the set at each version.
  function history(rand: () => number, changeCount: number) {
    const keys = ["a", "b", "c", "seat:1", "seat:2", "constructor"];
    const log: AttrChange[] = [];
    const valuesAt: Record<string, JsonValue>[] = [{}];
    let current: Record<string, JsonValue> = {};
    for (let version = 1; version <= changeCount; version++) {
      const key = keys[Math.floor(rand() * keys.length)] as string;
      current = { ...current };
      if (Object.hasOwn(current, key) && rand() < 0.35) {
        delete current[key];
        log.push(del(version, key));
      } else {
        const value = Math.floor(rand() * 100);
        current[key] = value;
        log.push(set(version, key, value, rand() < 0.5 ? "u" : undefined));
      }
      valuesAt.push(current);
    }
    return { log, valuesAt };
  }

  /** The full set at `version`, as the server would send it. */
  function snapshotAt(log: AttrChange[], version: number): AttrSnapshot {
    const entries: AttrSnapshot["entries"] = {};
    for (const change of log.slice(0, version)) {
      if (change.deleted) delete entries[change.key];
      else entries[change.key] = { value: change.value as JsonValue, version: change.version, ts: change.ts };
    }
    return { version, entries };
  }

  it("a client replaying random answers always matches the model at its version (seed 20240917)", () => {
    const rand = random(20240917);
    const seen = { snapshots: 0, gaps: 0, repeats: 0 };
    for (let run = 0; run < 40; run++) {
      const { log, valuesAt } = history(rand, 60);
      let state: AttrState = EMPTY_ATTR_STATE;
      let serverVersion = 0;
      while (state.version < log.length) {
        serverVersion = Math.min(log.length, serverVersion + 1 + Math.floor(rand() * 6));
        const roll = rand();
        let answer: AttrsAnswer;
        if (roll < 0.1) {
          answer = { snapshot: snapshotAt(log, serverVersion) };
          seen.snapshots += 1;
        } else {
          // Answers may start below the client's version (a repeated pull) and, now and
          // then, miss a change (which must stop the replay at a gap).
          const from = Math.max(0, state.version - Math.floor(rand() * 3));
          if (from < state.version) seen.repeats += 1;
          const changes = log.slice(from, serverVersion);
          if (roll > 0.9 && changes.length > 2) changes.splice(1 + Math.floor(rand() * (changes.length - 1)), 1);
          answer = { changes };
        }
        try {
          state = applyAttrs(state, answer);
        } catch (error) {
          expect(error).toBeInstanceOf(AttrGapError);
          state = (error as AttrGapError).state;
          seen.gaps += 1;
        }
        expect(valuesOf(state)).toEqual(valuesAt[state.version]);
        for (const key of Object.keys(state.entries)) {
          // Each entry carries the version of the change that last set it.
          const lastSet = log.slice(0, state.version).filter((c) => c.key === key).pop();
          expect(state.entries[key]?.version).toBe(lastSet?.version);
        }
      }
      expect(state.version).toBe(log.length);
    }
    // Every kind of answer was exercised, not only the easy one.
    expect(seen.snapshots).toBeGreaterThan(10);
    expect(seen.gaps).toBeGreaterThan(10);
    expect(seen.repeats).toBeGreaterThan(10);
  });
});

describe("attrRefusalRule", () => {
  const cases: [message: string, rule: string | undefined][] = [
    ['attr_not_found: no attribute with key "seat:1"', "attr_not_found"],
    ["attr_key_invalid: invalid attribute key: the key is empty", "attr_key_invalid"],
    ["attr_value_too_large: the value is 5000 bytes as JSON, the most is 4096", "attr_value_too_large"],
    ["attr_value_null: the value is null; delete the key instead", "attr_value_null"],
    ["attr_too_many_keys: the room already has 64 attribute keys", "attr_too_many_keys"],
    ["attr_owner_required: delete_on_leave needs an owner", "attr_owner_required"],
    ['attr_version_mismatch: key "round" is at version 8, not 7', "attr_version_mismatch"],
    ["attr_something_new: a rule this version does not know", undefined],
    ["join the room first", undefined],
    ["", undefined],
  ];
  it.each(cases)("%j → %s", (message, rule) => {
    expect(attrRefusalRule(message)).toBe(rule);
  });
});
