import { describe, expect, it } from "vitest";
import { likeTotalOf, LikeTotal, MAX_LIKES_PER_MESSAGE, PendingLikes, type JsonValue, type Message } from "../src/index.js";

const message = (seq: number, fields: Partial<Message>): Message => ({
  seq,
  ts: seq,
  from: "@server",
  kind: "like",
  priority: "low",
  body: null,
  ...fields,
});
const update = (seq: number, count: JsonValue): Message => message(seq, { body: { count, delta: 1 } });

describe("PendingLikes", () => {
  // Taps added, then what each `take` returns, then what is left.
  const cases: [name: string, added: number[], takes: number[], left: number][] = [
    ["nothing pending", [], [0], 0],
    ["taps add up", [1, 1, 3], [5, 0], 0],
    ["at most 1000 per message, the rest after", [1500], [1000, 500, 0], 0],
    ["several thousand", [999, 999, 999], [1000, 1000, 997], 0],
    ["one take leaves the rest pending", [1200], [1000], 200],
  ];
  it.each(cases)("%s", (_name, added, takes, left) => {
    const pending = new PendingLikes();
    for (const taps of added) pending.add("r", taps);
    expect(takes.map(() => pending.take("r"))).toEqual(takes);
    expect(pending.count("r")).toBe(left);
    expect(pending.rooms()).toEqual(left > 0 ? ["r"] : []);
  });

  it("keeps rooms apart and clears them all at once", () => {
    const pending = new PendingLikes();
    pending.add("a", 2);
    pending.add("b", 7);
    expect(pending.take("a")).toBe(2);
    pending.add("a", 1);
    expect([...pending.clear()]).toEqual([
      ["b", 7],
      ["a", 1],
    ]);
    expect(pending.rooms()).toEqual([]);
  });

  it.each([0, -3, 1.5, Number.NaN, Number.POSITIVE_INFINITY])("refuses %s taps", (taps) => {
    expect(() => new PendingLikes().add("r", taps)).toThrow(RangeError);
  });

  it("caps a message at the 1000 taps the server counts", () => {
    expect(MAX_LIKES_PER_MESSAGE).toBe(1000);
  });
});

describe("likeTotalOf", () => {
  const cases: [name: string, message: Message, total: number | undefined][] = [
    ["the server's aggregated update", update(1, 98765), 98765],
    ["a total of zero", update(1, 0), 0],
    ["a user's own like message", message(1, { from: "ann", body: { count: 3 } }), undefined],
    ["another kind from the server", message(1, { kind: "notice", body: { count: 3 } }), undefined],
    ["a count that is not a number", update(1, "12"), undefined],
    ["a fractional count", update(1, 1.5), undefined],
    ["a negative count", update(1, -2), undefined],
    ["a body that is not a map", message(1, { body: [1] }), undefined],
    ["a null body", message(1, { body: null }), undefined],
  ];
  it.each(cases)("%s", (_name, msg, total) => {
    expect(likeTotalOf(msg)).toBe(total);
  });
});

describe("LikeTotal", () => {
  // Frames of messages fed in turn, and the total and "changed" after each.
  const cases: [name: string, frames: Message[][], after: [total: number, changed: boolean][]][] = [
    ["no update yet", [[]], [[0, false]]],
    ["updates in order", [[update(1, 5)], [update(4, 9)]], [[5, true], [9, true]]],
    ["the last of several in one frame", [[update(1, 5), update(2, 8), update(3, 12)]], [[12, true]]],
    ["an older update arriving late is ignored", [[update(5, 20)], [update(3, 11)]], [[20, true], [20, false]]],
    [
      "ordinary messages and users' likes change nothing",
      [[message(1, { kind: "text", from: "ann", body: "hi" }), message(2, { from: "bob", body: { count: 5 } })]],
      [[0, false]],
    ],
    ["the same total again is not a change", [[update(1, 5)], [update(2, 5)]], [[5, true], [5, false]]],
  ];
  it.each(cases)("%s", (_name, frames, after) => {
    const likes = new LikeTotal();
    expect(frames.map((frame) => [likes.apply(frame), likes.total]).map(([changed, total]) => [total, changed])).toEqual(after);
  });

  it("remembers the seq its total came from", () => {
    const likes = new LikeTotal();
    expect(likes.seq).toBe(-1);
    likes.apply([update(7, 1)]);
    expect(likes.seq).toBe(7);
  });
});
