import { afterEach, describe, expect, it, vi } from "vitest";
import { TypedEmitter } from "../src/index.js";

interface Events {
  tick: number;
  word: string;
}

class Emitter extends TypedEmitter<Events> {
  fire<K extends keyof Events>(event: K, payload: Events[K]) {
    this.emit(event, payload);
  }
}

describe("TypedEmitter", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("calls listeners in order until unsubscribed", () => {
    const emitter = new Emitter();
    const seen: string[] = [];
    const offA = emitter.on("tick", (n) => seen.push(`a${n}`));
    emitter.on("tick", (n) => seen.push(`b${n}`));
    emitter.on("word", (w) => seen.push(w));
    emitter.fire("tick", 1);
    offA();
    emitter.fire("tick", 2);
    emitter.fire("word", "x");
    expect(seen).toEqual(["a1", "b1", "b2", "x"]);
    expect(emitter.listenerCount("tick")).toBe(1);
  });

  it("treats the same function subscribed twice as two subscriptions", () => {
    const emitter = new Emitter();
    const listener = vi.fn();
    const off1 = emitter.on("tick", listener);
    emitter.on("tick", listener);
    off1();
    emitter.fire("tick", 1);
    expect(listener).toHaveBeenCalledTimes(1);
  });

  it("once fires a single time", () => {
    const emitter = new Emitter();
    const listener = vi.fn();
    emitter.once("tick", listener);
    emitter.fire("tick", 1);
    emitter.fire("tick", 2);
    expect(listener.mock.calls).toEqual([[1]]);
  });

  it("keeps calling the other listeners when one throws, and rethrows it later", async () => {
    const emitter = new Emitter();
    const rethrown: unknown[] = [];
    vi.spyOn(globalThis, "queueMicrotask").mockImplementation((task) => {
      try {
        task();
      } catch (error) {
        rethrown.push(error);
      }
    });
    const after = vi.fn();
    emitter.on("tick", () => {
      throw new Error("listener bug");
    });
    emitter.on("tick", after);
    expect(() => emitter.fire("tick", 1)).not.toThrow();
    expect(after).toHaveBeenCalledWith(1);
    expect(rethrown).toMatchObject([{ message: "listener bug" }]);
  });
});
