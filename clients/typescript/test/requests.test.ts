import { describe, expect, it } from "vitest";
import { RequestTable, ThrongClientError, ThrongError, type ServerFrame } from "../src/index.js";
import { ManualTimers } from "./manual-timers.js";

function table(maxPending = 8, timeoutMs = 1000) {
  const timers = new ManualTimers();
  return { timers, requests: new RequestTable({ maxPending, timeoutMs, timers }) };
}

/** How a promise ended, without awaiting past the current tick's settled state. */
async function outcome<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

describe("RequestTable", () => {
  it("resolves each request with the reply carrying its id, in any order", async () => {
    const { requests } = table();
    const join = requests.open("join", "a");
    const send = requests.open("send", "a");
    expect(join.id).not.toBe(send.id);
    const sent: ServerFrame = { type: "sent", id: send.id, room: "a", seq: 5, ts: 1 };
    const joined: ServerFrame = { type: "joined", id: join.id, room: "a", seq: 4, online: 1, mode: "push", msgs: [] };
    expect(requests.settle(sent)).toBe(true);
    expect(requests.settle(joined)).toBe(true);
    await expect(send.reply).resolves.toBe(sent);
    await expect(join.reply).resolves.toBe(joined);
    expect(requests.size).toBe(0);
  });

  it("rejects with a ThrongError carrying the server code, name and room", async () => {
    const { requests } = table();
    const { id, reply } = requests.open("send", "lobby");
    requests.settle({ type: "error", id, code: 204, message: "slow down" });
    const { error } = await outcome(reply);
    expect(error).toBeInstanceOf(ThrongError);
    expect(error).toMatchObject({ code: 204, name: "rate_limited", message: "slow down", room: "lobby" });
  });

  it("prefers the room the server names in the error", async () => {
    const { requests } = table();
    const { id, reply } = requests.open("join", "a");
    requests.settle({ type: "error", id, code: 201, message: "no such room", room: "b" });
    await expect(reply).rejects.toMatchObject({ room: "b", name: "unknown_room" });
  });

  const unmatched: [name: string, frame: ServerFrame][] = [
    ["a frame without id", { type: "batch", room: "r", msgs: [] }],
    ["an unknown id", { type: "pong", id: 999, ts: 1 }],
    ["an error without id", { type: "error", code: 200, message: "bad" }],
  ];
  it.each(unmatched)("matches nothing for %s", (_name, frame) => {
    const { requests } = table();
    requests.open("ping");
    expect(requests.settle(frame)).toBe(false);
    expect(requests.size).toBe(1);
  });

  it("rejects a reply of the wrong type for its request", async () => {
    const { requests } = table();
    const { id, reply } = requests.open("join", "r");
    requests.settle({ type: "pong", id, ts: 1 });
    await expect(reply).rejects.toMatchObject({ reason: "unexpected_reply" });
  });

  it("times out with a typed error, then ignores the late reply", async () => {
    const { requests, timers } = table(8, 1000);
    const { id, reply } = requests.open("pull", "r");
    timers.advance(999);
    expect(requests.has(id)).toBe(true);
    timers.advance(1);
    const { error } = await outcome(reply);
    expect(error).toBeInstanceOf(ThrongClientError);
    expect(error).toMatchObject({ reason: "timeout", room: "r" });
    expect(requests.settle({ type: "pulled", id, room: "r", seq: 1, msgs: [] })).toBe(false);
  });

  it("clears the timer of a settled request", () => {
    const { requests, timers } = table();
    const { id } = requests.open("ping");
    expect(timers.pending).toBe(1);
    requests.settle({ type: "pong", id, ts: 1 });
    expect(timers.pending).toBe(0);
  });

  it("refuses a request past the bound and accepts again once one settles", async () => {
    const { requests } = table(2);
    const first = requests.open("ping");
    requests.open("ping");
    expect(() => requests.open("ping", "r")).toThrow(
      expect.objectContaining({ reason: "too_many_pending", room: "r" }),
    );
    requests.settle({ type: "pong", id: first.id, ts: 1 });
    expect(() => requests.open("ping")).not.toThrow();
    expect(requests.size).toBe(2);
  });

  it("rejects everything at once when the connection goes", async () => {
    const { requests, timers } = table();
    const replies: Promise<unknown>[] = [requests.open("join", "a").reply, requests.open("ping").reply];
    requests.rejectAll((type, room) => new ThrongClientError("disconnected", type, room));
    const errors = await Promise.all(replies.map((reply) => outcome(reply)));
    expect(errors.map((e) => e.error)).toMatchObject([
      { reason: "disconnected", message: "join", room: "a" },
      { reason: "disconnected", message: "ping" },
    ]);
    expect(requests.size).toBe(0);
    expect(timers.pending).toBe(0);
  });

  it("skips ids still in use when the counter wraps past 2^32 - 1", () => {
    const { requests } = table(4);
    const held = requests.open("ping");
    expect(held.id).toBe(1);
    // Push the counter to the end of the u32 range.
    (requests as unknown as { lastId: number }).lastId = 0xffff_fffe;
    expect(requests.open("ping").id).toBe(0xffff_ffff);
    expect(requests.open("ping").id).toBe(2); // 0 is never used and 1 is taken
  });
});
