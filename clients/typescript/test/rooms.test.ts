import { describe, expect, it } from "vitest";
import { RoomTracker, type AttrChange, type AttrSnapshot, type Message } from "../src/index.js";

const msg = (seq: number): Message => ({ seq, ts: seq, from: "u", kind: "text", priority: "high", body: null });
const seqs = (msgs: Message[]) => msgs.map((m) => m.seq);

describe("RoomTracker", () => {
  it("starts lastSeq at the room's seq from joined", () => {
    const rooms = new RoomTracker();
    rooms.joined("r", "push", 40);
    expect(rooms.lastSeq("r")).toBe(40);
    expect(rooms.lastSeq("other")).toBeUndefined();
  });

  // [arrivals per frame, fresh per frame, lastSeq after]
  const admitCases: [name: string, frames: number[][], fresh: number[][], lastSeq: number][] = [
    ["in order", [[1, 2], [3]], [[1, 2], [3]], 3],
    ["overlap between a reply and a batch", [[1, 2, 3], [2, 3, 4]], [[1, 2, 3], [4]], 4],
    ["a lower lane arrives later", [[10, 12], [11]], [[10, 12], [11]], 12],
    ["a pure duplicate batch", [[5], [5]], [[5], []], 5],
  ];
  it.each(admitCases)("admit: %s", (_name, frames, fresh, lastSeq) => {
    const rooms = new RoomTracker();
    rooms.joined("r", "push", 0);
    expect(frames.map((f) => seqs(rooms.admit("r", f.map(msg))))).toEqual(fresh);
    expect(rooms.lastSeq("r")).toBe(lastSeq);
  });

  const reliable = (seq: number, id: string): Message => ({ ...msg(seq), kind: "gift", priority: "system", id });

  // [window capacity, frames, fresh seqs per frame, lastSeq after]; the room joins at seq 0.
  const reliableCases: [name: string, capacity: number, frames: Message[][], fresh: number[][], lastSeq: number][] = [
    ["a reliable message seen once", 8, [[reliable(1, "g1")]], [[1]], 1],
    ["carried again in a later batch", 8, [[reliable(1, "g1"), msg(2)], [reliable(1, "g1"), msg(3)]], [[1, 2], [3]], 3],
    // Capacity 2: seq 1 left the seq window, but its id is still known.
    [
      "carried again after its seq left the seq window",
      2,
      [[reliable(1, "g1")], [msg(2), msg(3)], [reliable(1, "g1")]],
      [[1], [2, 3], []],
      3,
    ],
    ["two reliable messages with their own ids", 8, [[reliable(4, "g1"), reliable(5, "g2")]], [[4, 5]], 5],
    ["the same id under a new seq is still the same message", 8, [[reliable(4, "g1")], [reliable(9, "g1")]], [[4], []], 4],
    // An id cannot make a message with an already-seen seq new.
    ["a seen seq with an unseen id", 8, [[msg(4)], [reliable(4, "g1")]], [[4], []], 4],
  ];
  it.each(reliableCases)("admit reliable: %s", (_name, capacity, frames, fresh, lastSeq) => {
    const rooms = new RoomTracker(capacity);
    rooms.joined("r", "push", 0);
    expect(frames.map((f) => seqs(rooms.admit("r", f)))).toEqual(fresh);
    expect(rooms.lastSeq("r")).toBe(lastSeq);
  });

  it("keeps reliable ids across a resume join", () => {
    const rooms = new RoomTracker();
    rooms.joined("r", "push", 0);
    rooms.admit("r", [reliable(3, "g1")]);
    rooms.joined("r", "push", 3);
    expect(seqs(rooms.admit("r", [reliable(3, "g1"), reliable(4, "g2")]))).toEqual([4]);
  });

  it("drops messages of a room not joined", () => {
    const rooms = new RoomTracker();
    expect(rooms.admit("r", [msg(1)])).toEqual([]);
  });

  it("resumes from the settled position, not from the highest seq seen", () => {
    const rooms = new RoomTracker();
    rooms.joined("a", "push", 3);
    // The high lane ran ahead (6, 8); the server says only up to 4 is settled.
    rooms.admit("a", [msg(6), msg(8)]);
    rooms.settle("a", 4);
    expect(rooms.lastSeq("a")).toBe(8);
    expect(rooms.resumeJoins()).toEqual([{ room: "a", since: 4, mode: "push" }]);
    // A later settle never lowers the position.
    rooms.settle("a", 2);
    expect(rooms.resumeSince("a")).toBe(4);
  });

  it("resumes every room from its settled position and mode, keeping the dedup window", () => {
    const rooms = new RoomTracker();
    rooms.joined("a", "push", 3);
    rooms.joined("b", "notify", 0);
    rooms.admit("a", [msg(4), msg(5)]);
    rooms.settle("a", 5);
    expect(rooms.resumeJoins()).toEqual([
      { room: "a", since: 5, mode: "push" },
      { room: "b", since: 0, mode: "notify" },
    ]);
    // The resume's joined reply repeats 5 and brings 6: only 6 is new.
    rooms.joined("a", "push", 6);
    expect(seqs(rooms.admit("a", [msg(5), msg(6)]))).toEqual([6]);
  });

  it("never lowers lastSeq on a repeated join", () => {
    const rooms = new RoomTracker();
    rooms.joined("a", "push", 10);
    rooms.joined("a", "notify", 7);
    expect(rooms.lastSeq("a")).toBe(10);
    expect(rooms.mode("a")).toBe("notify");
  });

  it("forgets a room that was left", () => {
    const rooms = new RoomTracker();
    rooms.joined("a", "push", 1);
    expect(rooms.forget("a")).toBe(true);
    expect(rooms.resumeJoins()).toEqual([]);
    expect(rooms.forget("a")).toBe(false);
  });

  it("folds notifies that arrive during a pull into one follow-up pull", () => {
    const rooms = new RoomTracker();
    rooms.joined("n", "notify", 0);
    const steps = [
      rooms.pullOnNotify("n"), // first notify: pull
      rooms.pullOnNotify("n"), // in flight: fold
      rooms.pullOnNotify("n"), // in flight: fold
      rooms.pullFinished("n"), // one follow-up
      rooms.pullFinished("n"), // nothing more
      rooms.pullOnNotify("n"), // idle again: pull
    ];
    expect(steps).toEqual([true, false, false, true, false, true]);
  });

  it("forgets in-flight pulls for a new connection", () => {
    const rooms = new RoomTracker();
    rooms.joined("n", "notify", 0);
    rooms.pullOnNotify("n");
    rooms.resetPulls();
    expect(rooms.pullOnNotify("n")).toBe(true);
    expect(rooms.pullOnNotify("unknown")).toBe(false);
  });
});

const change = (version: number, key = "k"): AttrChange => ({ version, key, value: version, ts: version });
const snapshot = (version: number, values: Record<string, number> = {}): AttrSnapshot => ({
  version,
  entries: Object.fromEntries(Object.entries(values).map(([key, value]) => [key, { value, version, ts: 1 }])),
});
const valuesOf = (rooms: RoomTracker, room: string) => {
  const state = rooms.attrs(room);
  return state === undefined ? undefined : { version: state.version, keys: Object.keys(state.entries) };
};

describe("RoomTracker attributes", () => {
  it("takes the state from joined.attrs, empty at version 0 without, and replaces it on every join", () => {
    const rooms = new RoomTracker();
    expect(rooms.attrs("r")).toBeUndefined();
    rooms.joined("r", "push", 0);
    expect(valuesOf(rooms, "r")).toEqual({ version: 0, keys: [] });
    rooms.applyAttrAnswer("r", { changes: [change(1, "a"), change(2, "b")] });
    expect(valuesOf(rooms, "r")).toEqual({ version: 2, keys: ["a", "b"] });
    rooms.joined("r", "push", 5, snapshot(7, { c: 1 }));
    expect(valuesOf(rooms, "r")).toEqual({ version: 7, keys: ["c"] });
    // A resume of a room whose attributes were all deleted meanwhile, or a server without them.
    rooms.joined("r", "push", 5);
    expect(valuesOf(rooms, "r")).toEqual({ version: 0, keys: [] });
    rooms.forget("r");
    expect(rooms.attrs("r")).toBeUndefined();
  });

  // Steps of one room's attr_notify / answer / finish sequence, and what each returns.
  type Step =
    | ["notify", number, number | undefined]
    | ["answer", AttrChange[], { version: number; changes?: number[]; gap?: boolean } | undefined]
    | ["finish", boolean, number | undefined];
  const sequences: [name: string, startVersion: number, steps: Step[]][] = [
    [
      "a notify pulls from the version held; the answer moves it",
      3,
      [
        ["notify", 5, 3],
        ["answer", [change(4), change(5)], { version: 5, changes: [4, 5] }],
        ["finish", true, undefined],
      ],
    ],
    ["a notify at or below the version held pulls nothing", 3, [["notify", 3, undefined], ["notify", 2, undefined]]],
    [
      "notifies during a pull fold into one follow-up from the new version",
      0,
      [
        ["notify", 1, 0],
        ["notify", 2, undefined],
        ["notify", 4, undefined],
        ["answer", [change(1), change(2)], { version: 2, changes: [1, 2] }],
        ["finish", true, 2],
        ["answer", [change(3), change(4)], { version: 4, changes: [3, 4] }],
        ["finish", true, undefined],
      ],
    ],
    [
      "a notify during a pull that the answer already covers needs no follow-up",
      0,
      [
        ["notify", 1, 0],
        ["notify", 2, undefined],
        ["answer", [change(1), change(2)], { version: 2, changes: [1, 2] }],
        ["finish", true, undefined],
      ],
    ],
    [
      "an answer of only changes already applied changes nothing",
      2,
      [
        ["notify", 3, 2],
        ["answer", [change(1), change(2)], undefined],
        ["finish", true, undefined],
      ],
    ],
    [
      "a gap is pulled again once from where it stopped",
      0,
      [
        ["notify", 4, 0],
        ["answer", [change(1), change(3)], { version: 1, changes: [1], gap: true }],
        ["finish", true, 1],
        ["answer", [change(2), change(3), change(4)], { version: 4, changes: [2, 3, 4] }],
        ["finish", true, undefined],
      ],
    ],
    [
      "a second gap in a row is not pulled again",
      0,
      [
        ["notify", 4, 0],
        ["answer", [change(2)], { version: 0, changes: [], gap: true }],
        ["finish", true, 0],
        ["answer", [change(2)], { version: 0, changes: [], gap: true }],
        ["finish", true, undefined],
        // The next notify tries again.
        ["notify", 5, 0],
      ],
    ],
    [
      "a failed pull is repeated only when a notify came meanwhile",
      0,
      [
        ["notify", 1, 0],
        ["finish", false, undefined],
        ["notify", 2, 0],
        ["notify", 3, undefined],
        ["finish", false, 0],
      ],
    ],
  ];
  it.each(sequences)("%s", (_name, startVersion, steps) => {
    const rooms = new RoomTracker();
    rooms.joined("r", "push", 0, startVersion === 0 ? undefined : snapshot(startVersion));
    const outcomes = steps.map((step) => {
      switch (step[0]) {
        case "notify":
          return rooms.attrNotify("r", step[1]);
        case "finish":
          return rooms.attrPullFinished("r", step[1]);
        case "answer": {
          const update = rooms.applyAttrAnswer("r", { changes: step[1] });
          if (update === undefined) return undefined;
          const summary: { version: number; changes?: number[]; gap?: boolean } = { version: update.state.version };
          if (update.changes !== undefined) summary.changes = update.changes.map((c) => c.version);
          if (update.gap !== undefined) summary.gap = true;
          return summary;
        }
      }
    });
    expect(outcomes).toEqual(steps.map((step) => step[2]));
  });

  it("reports a snapshot answer without changes", () => {
    const rooms = new RoomTracker();
    rooms.joined("r", "push", 0);
    expect(rooms.applyAttrAnswer("r", { snapshot: snapshot(9, { a: 1 }) })).toMatchObject({ state: { version: 9 } });
    expect(rooms.applyAttrAnswer("r", { snapshot: snapshot(9, { a: 1 }) })).not.toHaveProperty("changes");
    expect(rooms.applyAttrAnswer("elsewhere", { snapshot: snapshot(9) })).toBeUndefined();
  });

  it("forgets attribute pulls in flight for a new connection, and ignores rooms not joined", () => {
    const rooms = new RoomTracker();
    rooms.joined("r", "push", 0);
    expect(rooms.attrNotify("r", 1)).toBe(0);
    expect(rooms.attrNotify("r", 2)).toBeUndefined();
    rooms.resetPulls();
    expect(rooms.attrNotify("r", 2)).toBe(0);
    expect(rooms.attrNotify("other", 1)).toBeUndefined();
    expect(rooms.attrPullFinished("other", true)).toBeUndefined();
  });
});
