import { describe, expect, it } from "vitest";
import { RoomTracker, type Message } from "../src/index.js";

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
