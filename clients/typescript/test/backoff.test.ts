import { describe, expect, it } from "vitest";
import { Backoff } from "../src/index.js";

/** The first `n` delays with `random` pinned to `r`. */
function delays(initialMs: number, maxMs: number, r: number, n: number): number[] {
  const backoff = new Backoff({ initialMs, maxMs }, () => r);
  return Array.from({ length: n }, () => backoff.next());
}

describe("Backoff", () => {
  const cases: [name: string, initialMs: number, maxMs: number, r: number, expected: number[]][] = [
    ["doubles up to the cap (random near 1)", 100, 1000, 0.999999, [99, 199, 399, 799, 999, 999]],
    ["full jitter can be zero", 100, 1000, 0, [0, 0, 0, 0, 0, 0]],
    ["half the ceiling", 100, 1000, 0.5, [50, 100, 200, 400, 500, 500]],
    ["cap equal to the first ceiling", 250, 250, 0.5, [125, 125, 125, 125, 125, 125]],
  ];
  it.each(cases)("%s", (_name, initialMs, maxMs, r, expected) => {
    expect(delays(initialMs, maxMs, r, expected.length)).toEqual(expected);
  });

  it("stays within [0, min(max, initial·2^n)) for any draw", () => {
    let state = 42;
    // A small deterministic generator so the test is repeatable.
    const random = () => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state / 2147483648;
    };
    const backoff = new Backoff({ initialMs: 500, maxMs: 30_000 }, random);
    for (let attempt = 0; attempt < 200; attempt++) {
      const ceiling = Math.min(30_000, 500 * 2 ** attempt);
      const delay = backoff.next();
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(ceiling);
      expect(Number.isInteger(delay)).toBe(true);
    }
  });

  it("starts over after reset", () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 10_000 }, () => 0.5);
    backoff.next();
    backoff.next();
    backoff.next();
    expect(backoff.attempts).toBe(3);
    backoff.reset();
    expect(backoff.attempts).toBe(0);
    expect(backoff.next()).toBe(50);
  });

  it("keeps huge attempt counts finite", () => {
    const backoff = new Backoff({ initialMs: 1, maxMs: 60_000 });
    expect(backoff.ceilingMs(10_000)).toBe(60_000);
  });

  it.each([
    [0, 100],
    [-5, 100],
    [200, 100],
  ])("refuses initialMs=%i maxMs=%i", (initialMs, maxMs) => {
    expect(() => new Backoff({ initialMs, maxMs })).toThrow(RangeError);
  });
});
