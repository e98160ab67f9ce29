import { describe, expect, it } from "vitest";
import { DEFAULT_DEDUP_WINDOW, ReliableIdWindow, SeqWindow } from "../src/index.js";

/** Feeds `arrivals` to a window of `capacity` and returns the seqs it accepted. */
function accepted(capacity: number, arrivals: number[]): number[] {
  const window = new SeqWindow(capacity);
  return arrivals.filter((seq) => window.accept(seq));
}

describe("SeqWindow", () => {
  const cases: [name: string, capacity: number, arrivals: number[], expected: number[]][] = [
    ["all new, increasing", 8, [1, 2, 3], [1, 2, 3]],
    ["repeat of the last", 8, [1, 2, 2], [1, 2]],
    ["overlapping batches", 8, [1, 2, 3, 2, 3, 4], [1, 2, 3, 4]],
    // The server sends a backlog lane by lane: a later batch may carry a lower seq.
    ["lower seq of a lower lane after a higher one", 8, [10, 12, 11, 9], [10, 12, 11, 9]],
    ["lower-lane seq repeated", 8, [10, 12, 9, 9, 12], [10, 12, 9]],
    ["seq 0 is a seq like any other", 8, [0, 0, 1], [0, 1]],
    // Capacity 3: after 4 newer arrivals, seq 1 has been forgotten and is taken again.
    ["a repeat older than the window is accepted", 3, [1, 2, 3, 4, 1], [1, 2, 3, 4, 1]],
    ["a repeat just inside the window is caught", 3, [1, 2, 3, 1], [1, 2, 3]],
    ["eviction follows arrival order, not seq order", 3, [5, 1, 2, 3, 1, 5], [5, 1, 2, 3, 5]],
  ];
  it.each(cases)("%s", (_name, capacity, arrivals, expected) => {
    expect(accepted(capacity, arrivals)).toEqual(expected);
  });

  it("stays bounded at its capacity", () => {
    const window = new SeqWindow(16);
    for (let seq = 0; seq < 1000; seq++) window.accept(seq);
    expect(window.size).toBe(16);
    expect(window.has(999)).toBe(true);
    expect(window.has(984)).toBe(true);
    expect(window.has(983)).toBe(false);
  });

  it("remembers the last 4096 seqs by default", () => {
    const window = new SeqWindow();
    expect(window.capacity).toBe(DEFAULT_DEDUP_WINDOW);
    expect(DEFAULT_DEDUP_WINDOW).toBe(4096);
    for (let seq = 1; seq <= 5000; seq++) window.accept(seq);
    expect(window.accept(5000 - 4095)).toBe(false);
    expect(window.accept(5000 - 4096)).toBe(true);
  });

  it.each([0, -1, 1.5, Number.NaN])("refuses capacity %s", (capacity) => {
    expect(() => new SeqWindow(capacity)).toThrow(RangeError);
  });
});

describe("ReliableIdWindow", () => {
  const cases: [name: string, capacity: number, arrivals: string[], expected: string[]][] = [
    ["distinct ids", 8, ["gift-1", "gift-2"], ["gift-1", "gift-2"]],
    ["a repeat carried again", 8, ["gift-1", "gift-2", "gift-1"], ["gift-1", "gift-2"]],
    ["ids are case-sensitive", 8, ["a", "A"], ["a", "A"]],
    ["a repeat older than the window is accepted", 2, ["a", "b", "c", "a"], ["a", "b", "c", "a"]],
    ["a repeat just inside the window is caught", 2, ["a", "b", "a"], ["a", "b"]],
  ];
  it.each(cases)("%s", (_name, capacity, arrivals, expected) => {
    const window = new ReliableIdWindow(capacity);
    expect(arrivals.filter((id) => window.accept(id))).toEqual(expected);
  });

  it("remembers 4096 ids by default", () => {
    expect(new ReliableIdWindow().capacity).toBe(4096);
  });
});
