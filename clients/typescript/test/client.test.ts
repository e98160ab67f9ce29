import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  attrRefusalRule,
  ThrongClient,
  ThrongClientError,
  ThrongError,
  type AttrChange,
  type AttrSnapshot,
  type AttrState,
  type Hello,
  type JsonValue,
  type Message,
  type ThrongClientOptions,
  type ThrongEvents,
} from "../src/index.js";
import { fakeWebSocketClass, type FakeWebSocket } from "./fake-websocket.js";

const URL = "ws://127.0.0.1:7700/v1/ws";

const HELLO: Hello = {
  type: "hello",
  conn_id: "c1",
  user: "alice",
  server_ts: 1_700_000_000_000,
  heartbeat_ms: 30_000,
  max_frame_bytes: 65_536,
};

const msg = (seq: number, priority: Message["priority"] = "high"): Message => ({
  seq,
  ts: 1_700_000_000_000 + seq,
  from: "bob",
  kind: "text",
  priority,
  body: { text: `m${seq}` },
});

type Recorded = { [K in keyof ThrongEvents]: { event: K; payload: ThrongEvents[K] } }[keyof ThrongEvents];

/** A client on a fake WebSocket class, with every event it emits recorded in order. */
function setup(options: Partial<ThrongClientOptions> = {}) {
  const { WebSocket, sockets } = fakeWebSocketClass();
  const client = new ThrongClient({ url: URL, token: "tok", WebSocket, ...options });
  const events: Recorded[] = [];
  const names: (keyof ThrongEvents)[] = [
    "messages",
    "notify",
    "left",
    "moderation",
    "attributes",
    "stats",
    "likesLost",
    "serverError",
    "disconnected",
    "reconnected",
    "closed",
  ];
  for (const event of names) {
    client.on(event, (payload) => events.push({ event, payload } as Recorded));
  }
  const socket = (index: number): FakeWebSocket => {
    const found = sockets[index];
    if (found === undefined) throw new Error(`no socket #${index} (the client opened ${sockets.length})`);
    return found;
  };
  const eventsNamed = <K extends keyof ThrongEvents>(event: K): ThrongEvents[K][] =>
    events.filter((e) => e.event === event).map((e) => e.payload as ThrongEvents[K]);
  return { client, sockets, socket, events, eventsNamed };
}

/** Like `setup`, then connected: socket #0 open and `hello` received. */
async function connected(options: Partial<ThrongClientOptions> = {}, hello: Partial<Hello> = {}) {
  const t = setup(options);
  const connecting = t.client.connect();
  await vi.advanceTimersByTimeAsync(0); // lets a token function's promise settle
  t.socket(0).open();
  t.socket(0).receive({ ...HELLO, ...hello });
  await connecting;
  return t;
}

/** Sends `join` from the client and answers it on `socket` with `joined`. */
async function joinRoom(
  client: ThrongClient,
  socket: FakeWebSocket,
  room: string,
  reply: { seq: number; msgs?: Message[]; mode?: "push" | "notify"; attrs?: AttrSnapshot },
) {
  const joining = client.join(room, { mode: reply.mode ?? "push" });
  const frame = socket.lastFrame();
  socket.receive({
    type: "joined",
    id: frame.id,
    room,
    seq: reply.seq,
    online: 1,
    mode: reply.mode ?? "push",
    msgs: reply.msgs ?? [],
    ...(reply.attrs === undefined ? {} : { attrs: reply.attrs }),
  });
  return joining;
}

/** How a promise ended. */
async function outcome<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

const seqsOf = (payloads: { msgs: Message[] }[]) => payloads.map((p) => p.msgs.map((m) => m.seq));

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("constructing", () => {
  it("asks for a WebSocket class when the runtime has none (Node 20)", () => {
    vi.stubGlobal("WebSocket", undefined);
    expect(() => new ThrongClient({ url: URL, token: "t" })).toThrow(/options\.WebSocket/);
  });

  it("refuses a malformed URL at once", () => {
    const { WebSocket } = fakeWebSocketClass();
    expect(() => new ThrongClient({ url: "not a url", token: "t", WebSocket })).toThrow(TypeError);
  });
});

describe("connecting", () => {
  it("offers the codec's subprotocol, puts the token in the query, and resolves with hello", async () => {
    const { client, socket } = setup({ token: "a.b c" });
    const connecting = client.connect();
    expect(socket(0).protocols).toEqual(["throng.v1.json"]);
    expect(new globalThis.URL(socket(0).url).searchParams.get("token")).toBe("a.b c");
    expect(client.state).toBe("connecting");
    socket(0).open();
    socket(0).receive(HELLO);
    await expect(connecting).resolves.toEqual(HELLO);
    expect(client.state).toBe("open");
    expect(client.hello).toEqual(HELLO);
  });

  it("sends nothing before hello: requests fail with not_connected", async () => {
    const { client, socket } = setup();
    void client.connect();
    socket(0).open();
    const { error } = await outcome(client.join("lobby"));
    expect(error).toBeInstanceOf(ThrongClientError);
    expect(error).toMatchObject({ reason: "not_connected", room: "lobby" });
    expect(socket(0).sent).toEqual([]);
  });

  it("calls the token function before every attempt", async () => {
    const tokens = ["first", "second"];
    const { client, socket } = await connected({ token: async () => tokens.shift() ?? "none" });
    socket(0).closeFromServer(4004, "token expired");
    await vi.advanceTimersToNextTimerAsync();
    await vi.advanceTimersByTimeAsync(0);
    expect(new globalThis.URL(socket(0).url).searchParams.get("token")).toBe("first");
    expect(new globalThis.URL(socket(1).url).searchParams.get("token")).toBe("second");
    expect(client.state).toBe("connecting");
  });

  // [maxAttempts option, sockets opened before giving up]
  const giveUpCases: [name: string, reconnect: ThrongClientOptions["reconnect"] | undefined, attempts: number][] = [
    ["default: 5 attempts", undefined, 5],
    ["maxAttempts 3", { maxAttempts: 3 }, 3],
    ["maxAttempts 1", { maxAttempts: 1 }, 1],
    ["reconnect disabled", false, 1],
  ];
  it.each(giveUpCases)("gives up on attempts that end before hello: %s", async (_name, reconnect, attempts) => {
    const { client, sockets, socket, eventsNamed } = setup(reconnect === undefined ? {} : { reconnect });
    const connecting = outcome(client.connect());
    for (let i = 0; i < attempts; i++) {
      // A refused handshake looks like this in a browser: error, then close 1006.
      socket(i).fail();
      await vi.advanceTimersToNextTimerAsync();
    }
    await vi.runAllTimersAsync();
    expect(sockets).toHaveLength(attempts);
    expect(client.state).toBe("closed");
    const closed = eventsNamed("closed");
    expect(closed).toHaveLength(1);
    expect(closed[0]?.reason).toContain(
      attempts === 1 ? "1 connection attempt ended" : `${attempts} connection attempts in a row`,
    );
    const { error } = await connecting;
    expect(error).toMatchObject({ reason: "connect_failed" });
    expect(eventsNamed("disconnected")).toEqual([]); // never connected, so never disconnected
  });

  it("keeps trying past maxAttempts when every attempt is Infinity-allowed", async () => {
    const { client, sockets, socket } = setup({ reconnect: { maxAttempts: Infinity } });
    void client.connect();
    for (let i = 0; i < 12; i++) {
      socket(i).fail();
      await vi.advanceTimersToNextTimerAsync();
    }
    expect(sockets).toHaveLength(13);
    expect(client.state).toBe("connecting");
  });

  it("counts only failures in a row: a hello resets the count", async () => {
    const { client, sockets, socket, eventsNamed } = setup({ reconnect: { maxAttempts: 3 } });
    void client.connect();
    socket(0).fail();
    await vi.advanceTimersToNextTimerAsync();
    socket(1).fail();
    await vi.advanceTimersToNextTimerAsync();
    socket(2).open();
    socket(2).receive(HELLO);
    socket(2).closeFromServer(1006);
    await vi.advanceTimersToNextTimerAsync();
    socket(3).fail();
    await vi.advanceTimersToNextTimerAsync();
    socket(4).fail();
    await vi.advanceTimersToNextTimerAsync();
    expect(client.state).toBe("connecting"); // 2 failures since the hello: still trying
    socket(5).fail();
    await vi.runAllTimersAsync();
    expect(sockets).toHaveLength(6);
    expect(client.state).toBe("closed");
    expect(eventsNamed("closed")).toHaveLength(1);
  });

  it("rejects connect() with connect_failed when the server closes normally before hello", async () => {
    const { client, socket } = setup();
    const connecting = outcome(client.connect());
    socket(0).open();
    socket(0).closeFromServer(1000);
    expect((await connecting).error).toMatchObject({ reason: "connect_failed" });
  });

  it("stops at once when a close code before hello says not to reconnect", async () => {
    const { client, sockets, socket } = setup();
    const connecting = outcome(client.connect());
    socket(0).open();
    socket(0).closeFromServer(4501, "unauthorized");
    await vi.runAllTimersAsync();
    expect(sockets).toHaveLength(1);
    expect((await connecting).error).toMatchObject({ reason: "connect_failed" });
  });
});

describe("close codes after hello", () => {
  const cases: [code: number, reconnects: boolean][] = [
    [1000, false],
    [1001, true],
    [1006, true],
    [1011, true],
    [4000, true],
    [4001, true],
    [4002, true],
    [4003, true],
    [4004, true],
    [4005, true],
    [4499, true],
    [4500, false],
    [4501, false],
    [4999, false],
  ];
  it.each(cases)("close %i → reconnect %s", async (code, reconnects) => {
    const { client, sockets, socket, eventsNamed } = await connected();
    socket(0).closeFromServer(code, "bye");
    await vi.runOnlyPendingTimersAsync();
    expect(sockets).toHaveLength(reconnects ? 2 : 1);
    expect(client.state).toBe(reconnects ? "connecting" : "closed");
    expect(eventsNamed("disconnected")).toMatchObject([{ code, reason: "bye", willReconnect: reconnects }]);
    expect(eventsNamed("closed")).toHaveLength(reconnects ? 0 : 1);
  });
});

describe("requests", () => {
  it("sends join with an id and resolves with the matching joined", async () => {
    const { client, socket } = await connected();
    const joining = client.join("lobby");
    const frame = socket(0).lastFrame();
    expect(frame).toEqual({ type: "join", id: frame.id, room: "lobby", mode: "push" });
    expect(typeof frame.id).toBe("number");
    socket(0).receive({ type: "joined", id: frame.id, room: "lobby", seq: 0, online: 3, mode: "push", msgs: [] });
    await expect(joining).resolves.toMatchObject({ room: "lobby", online: 3 });
    expect(client.joinedRooms).toEqual(["lobby"]);
  });

  it("rejects a refused request with a ThrongError", async () => {
    const { client, socket } = await connected();
    const sending = client.send("lobby", "text", "hi");
    const frame = socket(0).lastFrame();
    expect(frame).toEqual({ type: "send", id: frame.id, room: "lobby", kind: "text", body: "hi" });
    socket(0).receive({ type: "error", id: frame.id, code: 202, message: "join first", room: "lobby" });
    const { error } = await outcome(sending);
    expect(error).toBeInstanceOf(ThrongError);
    expect(error).toMatchObject({ code: 202, name: "not_joined", message: "join first", room: "lobby" });
    expect(client.state).toBe("open");
  });

  it("resolves send with seq and ts and passes the priority", async () => {
    const { client, socket } = await connected();
    const sending = client.send("lobby", "like", { n: 1 }, { priority: "low" });
    const frame = socket(0).lastFrame();
    expect(frame).toMatchObject({ kind: "like", body: { n: 1 }, priority: "low" });
    socket(0).receive({ type: "sent", id: frame.id, room: "lobby", seq: 8, ts: 99 });
    await expect(sending).resolves.toMatchObject({ seq: 8, ts: 99 });
  });

  it("times out a request with no reply", async () => {
    const { client } = await connected({ requestTimeoutMs: 1000 });
    const pulling = outcome(client.pull("lobby", 0, 10));
    await vi.advanceTimersByTimeAsync(1000);
    expect((await pulling).error).toMatchObject({ reason: "timeout", room: "lobby" });
  });

  it("rejects requests in flight when the connection drops", async () => {
    const { client, socket } = await connected();
    const pinging = outcome(client.ping());
    socket(0).closeFromServer(1006);
    expect((await pinging).error).toMatchObject({ reason: "disconnected" });
  });

  it("refuses a frame over max_frame_bytes without sending it", async () => {
    const { client, socket } = await connected({}, { max_frame_bytes: 100 });
    const { error } = await outcome(client.send("lobby", "text", "x".repeat(200)));
    expect(error).toMatchObject({ reason: "frame_too_large", room: "lobby" });
    expect(socket(0).sent).toEqual([]);
    expect(client.state).toBe("open");
  });

  it("bounds the requests awaiting a reply", async () => {
    const { client, socket } = await connected({ maxPendingRequests: 2 });
    void client.ping().catch(() => {});
    void client.ping().catch(() => {});
    const { error } = await outcome(client.ping());
    expect(error).toMatchObject({ reason: "too_many_pending" });
    expect(socket(0).sent).toHaveLength(2);
  });

  it("answers ping with the server's clock", async () => {
    const { client, socket } = await connected();
    const pinging = client.ping();
    socket(0).receive({ type: "pong", id: socket(0).lastFrame().id, ts: 123 });
    await expect(pinging).resolves.toMatchObject({ serverTs: 123 });
  });

  it("leaves without error when the connection ends before the reply", async () => {
    const { client, socket } = await connected();
    await joinRoom(client, socket(0), "lobby", { seq: 1 });
    const leaving = outcome(client.leave("lobby"));
    socket(0).closeFromServer(1006);
    expect(await leaving).toEqual({ value: undefined });
    expect(client.joinedRooms).toEqual([]);
  });

  it("leaves: forgets the room at once and resolves on left", async () => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "lobby", { seq: 1 });
    const leaving = client.leave("lobby");
    expect(client.joinedRooms).toEqual([]);
    // A batch already on its way is dropped.
    socket(0).receive({ type: "batch", room: "lobby", msgs: [msg(2)] });
    const frame = socket(0).lastFrame();
    expect(frame).toEqual({ type: "leave", id: frame.id, room: "lobby" });
    socket(0).receive({ type: "left", id: frame.id, room: "lobby", reason: "requested" });
    await leaving;
    expect(eventsNamed("messages")).toEqual([]);
    expect(eventsNamed("left")).toEqual([{ room: "lobby", reason: "requested" }]);
  });
});

describe("delivery", () => {
  it("emits the joined messages, then dedups batches by a seq window", async () => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "lobby", { seq: 5, msgs: [msg(4), msg(5)] });
    socket(0).receive({ type: "batch", room: "lobby", msgs: [msg(5), msg(9), msg(10)] });
    // A lower lane's backlog: lower seqs after higher ones are new, not stale.
    socket(0).receive({ type: "batch", room: "lobby", msgs: [msg(7, "low"), msg(8, "low")] });
    socket(0).receive({ type: "batch", room: "lobby", msgs: [msg(8, "low"), msg(10)] });
    expect(seqsOf(eventsNamed("messages"))).toEqual([[4, 5], [9, 10], [7, 8]]);
    expect(eventsNamed("messages").map((e) => e.source)).toEqual(["joined", "batch", "batch"]);
    expect(client.lastSeq("lobby")).toBe(10);
  });

  it("passes skipped counts through, even with no new message", async () => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "lobby", { seq: 0 });
    socket(0).receive({ type: "batch", room: "lobby", msgs: [], skipped: { low: 40, high: 2 } });
    socket(0).receive({ type: "batch", room: "lobby", msgs: [msg(50)], skipped: { low: 3 } });
    expect(eventsNamed("messages")).toEqual([
      { room: "lobby", msgs: [], skipped: { low: 40, high: 2 }, source: "batch" },
      { room: "lobby", msgs: [msg(50)], skipped: { low: 3 }, source: "batch" },
    ]);
  });

  it("drops messages of rooms it has not joined", async () => {
    const { socket, eventsNamed } = await connected();
    socket(0).receive({ type: "batch", room: "elsewhere", msgs: [msg(1)] });
    expect(eventsNamed("messages")).toEqual([]);
  });

  it("reports error frames that answer no request, and frames it cannot read", async () => {
    const { socket, eventsNamed, client } = await connected();
    socket(0).receive({ type: "error", code: 200, message: "malformed frame" });
    socket(0).onmessage?.({ data: "{not json" });
    const errors = eventsNamed("serverError");
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatchObject({ code: 200, name: "bad_frame", message: "malformed frame" });
    expect(errors[1]).toBeInstanceOf(ThrongError);
    expect(errors[1]?.message).toContain("unreadable frame");
    expect(client.state).toBe("open");
  });

  it("forgets a room the server removed, and does not resume it", async () => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "a", { seq: 1 });
    await joinRoom(client, socket(0), "b", { seq: 1 });
    socket(0).receive({ type: "left", room: "a", reason: "room_deleted" });
    expect(eventsNamed("left")).toEqual([{ room: "a", reason: "room_deleted" }]);
    socket(0).closeFromServer(4000);
    await vi.advanceTimersToNextTimerAsync();
    socket(1).open();
    socket(1).receive(HELLO);
    expect(socket(1).sentFrames().map((f) => f.room)).toEqual(["b"]);
  });
});

describe("reconnect and resume", () => {
  it("joins every room again with since = lastSeq, and emits only what is new", async () => {
    const { client, socket, sockets, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "lobby", { seq: 5, msgs: [msg(4), msg(5)] });
    await joinRoom(client, socket(0), "stage", { seq: 0, mode: "notify" });
    socket(0).receive({ type: "batch", room: "lobby", msgs: [msg(9), msg(10)] });
    socket(0).receive({ type: "batch", room: "lobby", msgs: [msg(7, "low")] });
    expect(client.lastSeq("lobby")).toBe(10);

    socket(0).closeFromServer(4000, "draining");
    const disconnected = eventsNamed("disconnected");
    expect(disconnected).toMatchObject([{ code: 4000, reason: "draining", willReconnect: true }]);
    expect(client.state).toBe("waiting");
    await vi.advanceTimersToNextTimerAsync();
    expect(sockets).toHaveLength(2);
    expect(socket(1).sent).toEqual([]); // nothing before hello

    socket(1).open();
    socket(1).receive({ ...HELLO, conn_id: "c2" });
    const joins = socket(1).sentFrames();
    expect(joins).toEqual([
      { type: "join", id: joins[0]?.id, room: "lobby", since: 10, mode: "push" },
      { type: "join", id: joins[1]?.id, room: "stage", since: 0, mode: "notify" },
    ]);

    // The resume reply repeats 10 and carries what came after.
    socket(1).receive({
      type: "joined",
      id: joins[0]?.id,
      room: "lobby",
      seq: 12,
      online: 1,
      mode: "push",
      msgs: [msg(10), msg(11), msg(12)],
      skipped: { low: 4 },
    });
    socket(1).receive({ type: "joined", id: joins[1]?.id, room: "stage", seq: 0, online: 1, mode: "notify", msgs: [] });
    await vi.advanceTimersByTimeAsync(0);

    const messages = eventsNamed("messages");
    expect(messages[messages.length - 1]).toEqual({
      room: "lobby",
      msgs: [msg(11), msg(12)],
      skipped: { low: 4 },
      source: "joined",
    });
    expect(eventsNamed("reconnected")).toMatchObject([
      { hello: { conn_id: "c2" }, resumed: ["lobby", "stage"], failed: [] },
    ]);
    expect(client.lastSeq("lobby")).toBe(12);
  });

  it("resumes from the latest seq across two losses in a row", async () => {
    const { client, socket } = await connected();
    await joinRoom(client, socket(0), "lobby", { seq: 3 });
    socket(0).closeFromServer(1006);
    await vi.advanceTimersToNextTimerAsync();
    socket(1).fail(); // the first reconnect attempt fails before hello
    await vi.advanceTimersToNextTimerAsync();
    socket(2).open();
    socket(2).receive(HELLO);
    expect(socket(2).sentFrames()).toMatchObject([{ type: "join", room: "lobby", since: 3 }]);
  });

  it("forgets a room the server refuses to resume", async () => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "gone", { seq: 2 });
    socket(0).closeFromServer(4003);
    await vi.advanceTimersToNextTimerAsync();
    socket(1).open();
    socket(1).receive(HELLO);
    const join = socket(1).lastFrame();
    socket(1).receive({ type: "error", id: join.id, code: 201, message: "no such room", room: "gone" });
    await vi.advanceTimersByTimeAsync(0);
    expect(client.joinedRooms).toEqual([]);
    expect(eventsNamed("left")).toMatchObject([{ room: "gone", reason: "resume_failed", error: { code: 201 } }]);
    expect(eventsNamed("reconnected")).toMatchObject([{ resumed: [], failed: [{ room: "gone" }] }]);
  });

  it("does not resume a join that was still in flight when the connection dropped", async () => {
    const { client, socket } = await connected();
    const joining = outcome(client.join("lobby"));
    socket(0).closeFromServer(1006);
    expect((await joining).error).toMatchObject({ reason: "disconnected" });
    await vi.advanceTimersToNextTimerAsync();
    socket(1).open();
    socket(1).receive(HELLO);
    expect(socket(1).sent).toEqual([]);
  });

  it("emits reconnected only for a resume that finished on a live connection", async () => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "lobby", { seq: 4 });
    socket(0).closeFromServer(4000);
    await vi.advanceTimersToNextTimerAsync();
    socket(1).open();
    socket(1).receive(HELLO);
    socket(1).closeFromServer(1006); // lost before the resume join was answered
    await vi.advanceTimersToNextTimerAsync();
    expect(eventsNamed("reconnected")).toEqual([]);
    socket(2).open();
    socket(2).receive(HELLO);
    const join = socket(2).lastFrame();
    expect(join).toMatchObject({ type: "join", room: "lobby", since: 4 });
    socket(2).receive({ type: "joined", id: join.id, room: "lobby", seq: 4, online: 1, mode: "push", msgs: [] });
    await vi.advanceTimersByTimeAsync(0);
    expect(eventsNamed("reconnected")).toMatchObject([{ resumed: ["lobby"], failed: [] }]);
  });

  it("resolves a connect() called while reconnecting on the next hello", async () => {
    const { client, socket } = await connected();
    socket(0).closeFromServer(4002);
    const again = client.connect();
    await vi.advanceTimersToNextTimerAsync();
    socket(1).open();
    socket(1).receive({ ...HELLO, conn_id: "c9" });
    await expect(again).resolves.toMatchObject({ conn_id: "c9" });
  });
});

describe("notify mode", () => {
  it("answers notify with pull since lastSeq and folds notifies during a pull", async () => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "stage", { seq: 3, mode: "notify" });
    socket(0).receive({ type: "notify", room: "stage", seq: 6 });
    const pull = socket(0).lastFrame();
    expect(pull).toEqual({ type: "pull", id: pull.id, room: "stage", since: 3 });
    socket(0).receive({ type: "notify", room: "stage", seq: 8 });
    expect(socket(0).sent).toHaveLength(2); // join + one pull: the second notify waits

    socket(0).receive({ type: "pulled", id: pull.id, room: "stage", seq: 8, msgs: [msg(4), msg(5), msg(6)] });
    await vi.advanceTimersByTimeAsync(0);
    const followUp = socket(0).lastFrame();
    expect(followUp).toEqual({ type: "pull", id: followUp.id, room: "stage", since: 6 });
    socket(0).receive({ type: "pulled", id: followUp.id, room: "stage", seq: 8, msgs: [msg(7), msg(8)], skipped: { low: 1 } });
    await vi.advanceTimersByTimeAsync(0);

    expect(eventsNamed("notify")).toEqual([
      { room: "stage", seq: 6 },
      { room: "stage", seq: 8 },
    ]);
    expect(eventsNamed("messages")).toEqual([
      { room: "stage", msgs: [msg(4), msg(5), msg(6)], source: "pulled" },
      { room: "stage", msgs: [msg(7), msg(8)], skipped: { low: 1 }, source: "pulled" },
    ]);
    expect(socket(0).sent).toHaveLength(3);
  });

  it("only emits notify when autoPull is off", async () => {
    const { client, socket, eventsNamed } = await connected({ autoPull: false });
    await joinRoom(client, socket(0), "stage", { seq: 3, mode: "notify" });
    socket(0).receive({ type: "notify", room: "stage", seq: 6 });
    expect(socket(0).sent).toHaveLength(1);
    expect(eventsNamed("notify")).toEqual([{ room: "stage", seq: 6 }]);
  });

  it("reports a refused auto-pull as a serverError", async () => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "stage", { seq: 0, mode: "notify" });
    socket(0).receive({ type: "notify", room: "stage", seq: 1 });
    socket(0).receive({ type: "error", id: socket(0).lastFrame().id, code: 101, message: "store down" });
    await vi.advanceTimersByTimeAsync(0);
    expect(eventsNamed("serverError")).toMatchObject([{ code: 101, name: "unavailable", room: "stage" }]);
  });
});

describe("heartbeat", () => {
  it("pings after heartbeat_ms / 2 without sending, and a send postpones it", async () => {
    const { client, socket } = await connected({}, { heartbeat_ms: 1000 });
    await vi.advanceTimersByTimeAsync(300);
    void client.send("lobby", "text", "hi").catch(() => {});
    await vi.advanceTimersByTimeAsync(300);
    expect(socket(0).sentFrames().map((f) => f.type)).toEqual(["send"]);
    await vi.advanceTimersByTimeAsync(200);
    expect(socket(0).sentFrames().map((f) => f.type)).toEqual(["send", "ping"]);
    expect(socket(0).lastFrame()).toEqual({ type: "ping" });
  });

  it("treats 2 × heartbeat_ms of silence from the server as a lost connection", async () => {
    const { client, socket, sockets, eventsNamed } = await connected({}, { heartbeat_ms: 1000 });
    await vi.advanceTimersByTimeAsync(1500);
    socket(0).receive({ type: "pong", ts: 1 }); // traffic keeps it alive
    await vi.advanceTimersByTimeAsync(1999);
    expect(eventsNamed("disconnected")).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(eventsNamed("disconnected")).toMatchObject([{ code: 1006, willReconnect: true }]);
    expect(socket(0).closedByClient).toMatchObject({ code: 4001 });
    // The abandoned socket's own close event, arriving late, changes nothing.
    socket(0).closeFromServer(1006);
    expect(eventsNamed("disconnected")).toHaveLength(1);
    await vi.advanceTimersToNextTimerAsync();
    expect(sockets).toHaveLength(2);
    expect(client.state).toBe("connecting");
  });
});

describe("codecs", () => {
  it("speaks MessagePack in binary frames when the server selects it", async () => {
    const { client, socket, eventsNamed } = setup({ codec: "msgpack" });
    const connecting = client.connect();
    expect(socket(0).protocols).toEqual(["throng.v1.msgpack"]);
    socket(0).open("throng.v1.msgpack");
    socket(0).receive(HELLO);
    await connecting;
    const joining = client.join("lobby");
    expect(socket(0).sent[0]).toBeInstanceOf(Uint8Array);
    const frame = socket(0).lastFrame();
    expect(frame).toEqual({ type: "join", id: frame.id, room: "lobby", mode: "push" });
    socket(0).receive({ type: "joined", id: frame.id, room: "lobby", seq: 1, online: 1, mode: "push", msgs: [msg(1)] });
    await joining;
    expect(seqsOf(eventsNamed("messages"))).toEqual([[1]]);
  });

  it("falls back to JSON text when the server selects no subprotocol", async () => {
    const { client, socket } = setup({ codec: "msgpack" });
    const connecting = client.connect();
    socket(0).open("");
    socket(0).receive(HELLO);
    await connecting;
    void client.ping().catch(() => {});
    expect(typeof socket(0).sent[0]).toBe("string");
  });
});

describe("close()", () => {
  it("closes with 1000, rejects what is pending, and never reconnects", async () => {
    const { client, socket, sockets, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "lobby", { seq: 1 });
    const pinging = outcome(client.ping());
    client.close();
    expect(socket(0).closedByClient).toMatchObject({ code: 1000 });
    expect((await pinging).error).toMatchObject({ reason: "closed" });
    expect(eventsNamed("closed")).toMatchObject([{ code: 1000 }]);
    expect(client.state).toBe("closed");
    expect(client.joinedRooms).toEqual([]);
    await vi.runAllTimersAsync();
    expect(sockets).toHaveLength(1);
    expect((await outcome(client.send("lobby", "text", "x"))).error).toMatchObject({ reason: "closed" });
  });

  it("cancels a pending reconnect and rejects connect()", async () => {
    const { client, socket, sockets } = setup();
    const connecting = outcome(client.connect());
    socket(0).fail();
    client.close();
    await vi.runAllTimersAsync();
    expect(sockets).toHaveLength(1);
    expect((await connecting).error).toMatchObject({ reason: "closed" });
  });

  it("can connect again afterwards", async () => {
    const { client, socket } = await connected();
    client.close();
    const again = client.connect();
    socket(1).open();
    socket(1).receive(HELLO);
    await expect(again).resolves.toEqual(HELLO);
  });
});

describe("moderation", () => {
  it("sends moderate with the Rust field names and resolves on moderated", async () => {
    const { client, socket } = await connected();
    const muting = client.moderate("lobby", "mute", { user: "troll", durationS: 600, reason: "spam" });
    const frame = socket(0).lastFrame();
    expect(frame).toEqual({
      type: "moderate",
      id: frame.id,
      room: "lobby",
      action: "mute",
      user: "troll",
      duration_s: 600,
      reason: "spam",
    });
    socket(0).receive({ type: "moderated", id: frame.id, room: "lobby", action: "mute" });
    await expect(muting).resolves.toBeUndefined();

    const roomMute = client.moderate("lobby", "mute_room");
    const second = socket(0).lastFrame();
    expect(second).toEqual({ type: "moderate", id: second.id, room: "lobby", action: "mute_room" });
    socket(0).receive({ type: "moderated", id: second.id, room: "lobby", action: "mute_room" });
    await expect(roomMute).resolves.toBeUndefined();
  });

  it("rejects a moderate the server refuses with its code", async () => {
    const { client, socket } = await connected();
    const kicking = outcome(client.moderate("lobby", "kick", { user: "bob" }));
    socket(0).receive({ type: "error", id: socket(0).lastFrame().id, code: 206, message: "moderators only", room: "lobby" });
    const { error } = await kicking;
    expect(error).toBeInstanceOf(ThrongError);
    expect(error).toMatchObject({ code: 206, name: "forbidden", room: "lobby" });
  });

  it("emits moderation events with exactly the fields the server sent", async () => {
    const { socket, eventsNamed } = await connected();
    socket(0).receive({ type: "moderation", room: "lobby", action: "mute", user: "alice", until: 1795330168817, reason: "spam", by: "@server" });
    socket(0).receive({ type: "moderation", room: "lobby", action: "mute_room", by: "host-7" });
    socket(0).receive({ type: "moderation", action: "ban", user: "alice", by: "@server" });
    expect(eventsNamed("moderation")).toEqual([
      { room: "lobby", action: "mute", user: "alice", until: 1795330168817, reason: "spam", by: "@server" },
      { room: "lobby", action: "mute_room", by: "host-7" },
      { action: "ban", user: "alice", by: "@server" },
    ]);
  });

  it.each([
    ["kick", "kicked"],
    ["ban", "banned"],
    ["blacklist", "banned"],
  ] as const)("a %s: moderation, then left %s; the room is forgotten and not resumed", async (action, reason) => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "lobby", { seq: 1 });
    await joinRoom(client, socket(0), "stage", { seq: 1 });
    socket(0).receive({ type: "moderation", room: "lobby", action, user: "alice", reason: "rude", by: "mod-1" });
    socket(0).receive({ type: "left", room: "lobby", reason });
    expect(eventsNamed("moderation")).toEqual([{ room: "lobby", action, user: "alice", reason: "rude", by: "mod-1" }]);
    expect(eventsNamed("left")).toEqual([{ room: "lobby", reason }]);
    expect(client.joinedRooms).toEqual(["stage"]);
    expect(client.attrs("lobby")).toBeUndefined();
    // Its batches still on their way are dropped.
    socket(0).receive({ type: "batch", room: "lobby", msgs: [msg(2)] });
    expect(eventsNamed("messages")).toEqual([]);
    socket(0).closeFromServer(4000);
    await vi.advanceTimersToNextTimerAsync();
    socket(1).open();
    socket(1).receive(HELLO);
    expect(socket(1).sentFrames().map((f) => f.room)).toEqual(["stage"]);
  });
});

const attrSet = (version: number, key: string, value: JsonValue, by = "bob"): AttrChange => ({
  version,
  key,
  value,
  by,
  ts: 1_795_330_000_000 + version,
});
const attrDel = (version: number, key: string): AttrChange => ({ version, key, deleted: true, by: "bob", ts: 1_795_330_000_000 + version });
const entry = (value: JsonValue, version: number, by = "bob") => ({ value, version, by, ts: 1_795_330_000_000 + version });
/** `{key: value}` and version of a state, for short comparisons. */
const attrValues = (state: AttrState | undefined) =>
  state === undefined
    ? undefined
    : { version: state.version, values: Object.fromEntries(Object.keys(state.entries).map((k) => [k, state.entries[k]?.value])) };

describe("room attributes", () => {
  const seats: AttrSnapshot = { version: 2, entries: { "seat:1": entry({ user: "ann" }, 1), round: entry(1, 2) } };

  it("holds the set from joined.attrs, and emits it as attributes", async () => {
    const { client, socket, eventsNamed } = await connected();
    expect(client.attrs("stage")).toBeUndefined();
    const joined = await joinRoom(client, socket(0), "stage", { seq: 0, attrs: seats });
    expect(joined.attrs).toEqual(seats);
    expect(client.attrs("stage")).toEqual(seats);
    expect(eventsNamed("attributes")).toEqual([{ room: "stage", state: seats, source: "joined" }]);
    await joinRoom(client, socket(0), "plain", { seq: 0 });
    expect(client.attrs("plain")).toEqual({ version: 0, entries: {} });
  });

  it("answers attr_notify with attr_pull since the version held, and emits the applied state", async () => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "stage", { seq: 0, attrs: seats });
    socket(0).receive({ type: "attr_notify", room: "stage", version: 4 });
    const pull = socket(0).lastFrame();
    expect(pull).toEqual({ type: "attr_pull", id: pull.id, room: "stage", since: 2 });
    const changes = [attrSet(3, "seat:2", { user: "bob" }), attrDel(4, "seat:1")];
    socket(0).receive({ type: "attrs", id: pull.id, room: "stage", changes });
    await vi.advanceTimersByTimeAsync(0);
    const expected = { version: 4, entries: { round: entry(1, 2), "seat:2": entry({ user: "bob" }, 3) } };
    expect(eventsNamed("attributes").slice(1)).toEqual([{ room: "stage", state: expected, changes, source: "attrs" }]);
    expect(client.attrs("stage")).toEqual(expected);
    expect(socket(0).sent).toHaveLength(2); // join + one pull: nothing more was due
  });

  it("folds notifies that arrive during a pull into one follow-up from the new version", async () => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "stage", { seq: 0, attrs: seats });
    socket(0).receive({ type: "attr_notify", room: "stage", version: 3 });
    const pull = socket(0).lastFrame();
    socket(0).receive({ type: "attr_notify", room: "stage", version: 4 });
    socket(0).receive({ type: "attr_notify", room: "stage", version: 5 });
    expect(socket(0).sent).toHaveLength(2); // join + the first pull only

    socket(0).receive({ type: "attrs", id: pull.id, room: "stage", changes: [attrSet(3, "round", 2)] });
    await vi.advanceTimersByTimeAsync(0);
    const followUp = socket(0).lastFrame();
    expect(followUp).toEqual({ type: "attr_pull", id: followUp.id, room: "stage", since: 3 });
    expect(socket(0).sent).toHaveLength(3);

    // The follow-up's answer repeats 3 (already applied) and brings 4 and 5.
    socket(0).receive({
      type: "attrs",
      id: followUp.id,
      room: "stage",
      changes: [attrSet(3, "round", 2), attrSet(4, "round", 3), attrSet(5, "host", "ann")],
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(socket(0).sent).toHaveLength(3);
    expect(attrValues(client.attrs("stage"))).toEqual({ version: 5, values: { "seat:1": { user: "ann" }, round: 3, host: "ann" } });
    expect(eventsNamed("attributes").map((e) => [e.source, e.state.version, e.changes?.map((c) => c.version)])).toEqual([
      ["joined", 2, undefined],
      ["attrs", 3, [3]],
      ["attrs", 5, [4, 5]],
    ]);
  });

  it("pulls nothing for a notify at or below the version held, or for a room not joined", async () => {
    const { client, socket } = await connected();
    await joinRoom(client, socket(0), "stage", { seq: 0, attrs: seats });
    socket(0).receive({ type: "attr_notify", room: "stage", version: 2 });
    socket(0).receive({ type: "attr_notify", room: "stage", version: 1 });
    socket(0).receive({ type: "attr_notify", room: "elsewhere", version: 9 });
    expect(socket(0).sent).toHaveLength(1);
  });

  it("replaces the state with a snapshot answer, without changes", async () => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "stage", { seq: 0, attrs: seats });
    socket(0).receive({ type: "attr_notify", room: "stage", version: 40 });
    const pull = socket(0).lastFrame();
    const snapshot: AttrSnapshot = { version: 40, entries: { round: entry(9, 40) } };
    socket(0).receive({ type: "attrs", id: pull.id, room: "stage", snapshot });
    await vi.advanceTimersByTimeAsync(0);
    expect(client.attrs("stage")).toEqual(snapshot);
    expect(eventsNamed("attributes").slice(1)).toEqual([{ room: "stage", state: snapshot, source: "attrs" }]);
  });

  it("replaces the state from joined.attrs on a resume, and pulls afresh on the new connection", async () => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "stage", { seq: 5, attrs: seats });
    await joinRoom(client, socket(0), "emptied", { seq: 5, attrs: { version: 3, entries: { a: entry(1, 3) } } });
    socket(0).receive({ type: "attr_notify", room: "stage", version: 3 }); // its pull is lost with the connection
    socket(0).closeFromServer(4000);
    await vi.advanceTimersToNextTimerAsync();
    socket(1).open();
    socket(1).receive(HELLO);
    const [stageJoin, emptiedJoin] = socket(1).sentFrames();
    expect(stageJoin).toMatchObject({ type: "join", room: "stage", since: 5 });
    const resumed: AttrSnapshot = { version: 9, entries: { "seat:1": entry({ user: "cid" }, 9) } };
    socket(1).receive({ type: "joined", id: stageJoin?.id, room: "stage", seq: 5, online: 1, mode: "push", msgs: [], attrs: resumed });
    // Every attribute of this room was deleted meanwhile: the join carries no set.
    socket(1).receive({ type: "joined", id: emptiedJoin?.id, room: "emptied", seq: 5, online: 1, mode: "push", msgs: [] });
    await vi.advanceTimersByTimeAsync(0);
    expect(client.attrs("stage")).toEqual(resumed);
    expect(client.attrs("emptied")).toEqual({ version: 0, entries: {} });
    expect(eventsNamed("attributes").slice(-2)).toEqual([
      { room: "stage", state: resumed, source: "joined" },
      { room: "emptied", state: { version: 0, entries: {} }, source: "joined" },
    ]);
    expect(eventsNamed("reconnected")).toMatchObject([{ resumed: ["stage", "emptied"] }]);

    // The pull lost with the old connection does not block the next one.
    socket(1).receive({ type: "attr_notify", room: "stage", version: 10 });
    const pull = socket(1).lastFrame();
    expect(pull).toEqual({ type: "attr_pull", id: pull.id, room: "stage", since: 9 });
  });

  it("reports a refused attr_pull, and pulls again only after another notify", async () => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "stage", { seq: 0, attrs: seats });
    socket(0).receive({ type: "attr_notify", room: "stage", version: 3 });
    socket(0).receive({ type: "error", id: socket(0).lastFrame().id, code: 101, message: "room restarting", room: "stage" });
    await vi.advanceTimersByTimeAsync(0);
    expect(eventsNamed("serverError")).toMatchObject([{ code: 101, name: "unavailable", room: "stage" }]);
    expect(socket(0).sent).toHaveLength(2);
    socket(0).receive({ type: "attr_notify", room: "stage", version: 3 });
    expect(socket(0).lastFrame()).toMatchObject({ type: "attr_pull", since: 2 });
    expect(socket(0).sent).toHaveLength(3);
  });

  it("pulls again once after an answer with a gap, then reports a second gap", async () => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "stage", { seq: 0, attrs: seats });
    socket(0).receive({ type: "attr_notify", room: "stage", version: 5 });
    const first = socket(0).lastFrame();
    socket(0).receive({ type: "attrs", id: first.id, room: "stage", changes: [attrSet(3, "a", 1), attrSet(5, "c", 3)] });
    await vi.advanceTimersByTimeAsync(0);
    // Version 3 applied; 4 is missing: pull from 3.
    const retry = socket(0).lastFrame();
    expect(retry).toEqual({ type: "attr_pull", id: retry.id, room: "stage", since: 3 });
    socket(0).receive({ type: "attrs", id: retry.id, room: "stage", changes: [attrSet(5, "c", 3)] });
    await vi.advanceTimersByTimeAsync(0);
    expect(socket(0).sent).toHaveLength(3);
    expect(client.attrs("stage")?.version).toBe(3);
    expect(eventsNamed("serverError")).toHaveLength(1);
    expect(eventsNamed("serverError")[0]).toMatchObject({ code: 100, room: "stage" });
    expect(eventsNamed("serverError")[0]?.message).toContain("attribute change 5 does not follow version 3");
    expect(eventsNamed("attributes").map((e) => e.state.version)).toEqual([2, 3]);
  });

  it("sends attr_set and attr_delete with the Rust field names and resolves with the version", async () => {
    const { client, socket } = await connected();
    await joinRoom(client, socket(0), "stage", { seq: 0 });
    const setting = client.attrSet("stage", "seat:1", { user: "alice", muted: false }, { deleteOnLeave: true, expectVersion: 0 });
    const set = socket(0).lastFrame();
    expect(set).toEqual({
      type: "attr_set",
      id: set.id,
      room: "stage",
      key: "seat:1",
      value: { user: "alice", muted: false },
      delete_on_leave: true,
      expect_version: 0,
    });
    socket(0).receive({ type: "attr_saved", id: set.id, room: "stage", version: 8 });
    await expect(setting).resolves.toBe(8);

    const plain = client.attrSet("stage", "round", 3);
    expect(socket(0).lastFrame()).toEqual({ type: "attr_set", id: socket(0).lastFrame().id, room: "stage", key: "round", value: 3 });
    socket(0).receive({ type: "attr_saved", id: socket(0).lastFrame().id, room: "stage", version: 9 });
    await expect(plain).resolves.toBe(9);

    const deleting = client.attrDelete("stage", "seat:1", { expectVersion: 8 });
    const del = socket(0).lastFrame();
    expect(del).toEqual({ type: "attr_delete", id: del.id, room: "stage", key: "seat:1", expect_version: 8 });
    socket(0).receive({ type: "attr_saved", id: del.id, room: "stage", version: 10 });
    await expect(deleting).resolves.toBe(10);
    // The state moves only through attr_notify, like everyone else's changes.
    expect(client.attrs("stage")?.version).toBe(0);
  });

  it("rejects a refused write with the code and the rule it broke", async () => {
    const { client, socket } = await connected();
    await joinRoom(client, socket(0), "stage", { seq: 0 });
    const conflicting = outcome(client.attrSet("stage", "round", 4, { expectVersion: 7 }));
    socket(0).receive({
      type: "error",
      id: socket(0).lastFrame().id,
      code: 307,
      message: 'attr_version_mismatch: key "round" is at version 8, not 7',
      room: "stage",
    });
    const { error } = await conflicting;
    expect(error).toMatchObject({ code: 307, name: "attr_conflict", room: "stage" });
    expect(attrRefusalRule((error as ThrongError).message)).toBe("attr_version_mismatch");

    const missing = outcome(client.attrDelete("stage", "nope"));
    socket(0).receive({ type: "error", id: socket(0).lastFrame().id, code: 306, message: 'attr_not_found: no attribute with key "nope"' });
    const refused = (await missing).error as ThrongError;
    expect(refused).toMatchObject({ code: 306, name: "attr_refused" });
    expect(attrRefusalRule(refused.message)).toBe("attr_not_found");
  });

  it("works over MessagePack: notify, pull, answer", async () => {
    const { client, socket, eventsNamed } = setup({ codec: "msgpack" });
    const connecting = client.connect();
    socket(0).open("throng.v1.msgpack");
    socket(0).receive(HELLO);
    await connecting;
    await joinRoom(client, socket(0), "stage", { seq: 0, attrs: seats });
    socket(0).receive({ type: "attr_notify", room: "stage", version: 3 });
    expect(socket(0).sent[1]).toBeInstanceOf(Uint8Array);
    const pull = socket(0).lastFrame();
    expect(pull).toEqual({ type: "attr_pull", id: pull.id, room: "stage", since: 2 });
    socket(0).receive({ type: "attrs", id: pull.id, room: "stage", changes: [attrSet(3, "round", 2)] });
    await vi.advanceTimersByTimeAsync(0);
    expect(attrValues(client.attrs("stage"))).toEqual({ version: 3, values: { "seat:1": { user: "ann" }, round: 2 } });
    expect(eventsNamed("attributes")).toHaveLength(2);
  });
});

describe("reliable messages", () => {
  const gift = (seq: number, id = `gift-${seq}`): Message => ({
    seq,
    ts: 1_700_000_000_000 + seq,
    from: "@server",
    kind: "gift",
    priority: "system",
    body: { gift: "rose" },
    id,
  });
  const acksOf = (socket: FakeWebSocket) => socket.sentFrames().filter((f) => f.type === "ack");

  it("sends reliable and msg_id, and resolves with the seq", async () => {
    const { client, socket } = await connected();
    const sending = client.send("lobby", "gift", { gift: "rose" }, { reliable: true, msgId: "order-7" });
    const frame = socket(0).lastFrame();
    expect(frame).toEqual({
      type: "send",
      id: frame.id,
      room: "lobby",
      kind: "gift",
      body: { gift: "rose" },
      reliable: true,
      msg_id: "order-7",
    });
    socket(0).receive({ type: "sent", id: frame.id, room: "lobby", seq: 812, ts: 5 });
    await expect(sending).resolves.toMatchObject({ seq: 812 });
  });

  it("passes on the server's dropped flag", async () => {
    const { client, socket } = await connected();
    const sending = client.send("lobby", "score", { slot: 1 });
    socket(0).receive({ type: "sent", id: socket(0).lastFrame().id, room: "lobby", seq: 0, ts: 5, dropped: true });
    await expect(sending).resolves.toMatchObject({ seq: 0, dropped: true });
  });

  it("rejects with a typed backlog_full error", async () => {
    const { client, socket } = await connected();
    const sending = outcome(client.send("lobby", "gift", {}, { reliable: true }));
    socket(0).receive({ type: "error", id: socket(0).lastFrame().id, code: 308, message: "too many pending", room: "lobby" });
    const { error } = await sending;
    expect(error).toBeInstanceOf(ThrongError);
    expect(error).toMatchObject({ code: 308, name: "backlog_full", room: "lobby" });
  });

  it("acknowledges each received frame's reliable messages, repeats included, and shows them once", async () => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "lobby", { seq: 3, msgs: [msg(2), gift(3)] });
    expect(acksOf(socket(0))).toEqual([{ type: "ack", room: "lobby", seqs: [3] }]);
    // The server carries gift 3 again (the ack crossed it) with gift 5 and a plain message.
    socket(0).receive({ type: "batch", room: "lobby", msgs: [gift(3), msg(4), gift(5)], upto: 5 });
    // A frame without reliable messages is not acknowledged.
    socket(0).receive({ type: "batch", room: "lobby", msgs: [msg(6)], upto: 6 });
    expect(acksOf(socket(0))).toEqual([
      { type: "ack", room: "lobby", seqs: [3] },
      { type: "ack", room: "lobby", seqs: [3, 5] },
    ]);
    expect(seqsOf(eventsNamed("messages"))).toEqual([[2, 3], [4, 5], [6]]);
    expect(client.lastSeq("lobby")).toBe(6);
  });

  it("drops a repeat carried under its older seq after the seq left the dedup window", async () => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "lobby", { seq: 0 });
    socket(0).receive({ type: "batch", room: "lobby", msgs: [gift(1, "g")], upto: 1 });
    const later = Array.from({ length: 4096 }, (_, index) => msg(index + 2));
    socket(0).receive({ type: "batch", room: "lobby", msgs: later, upto: 4097 });
    socket(0).receive({ type: "batch", room: "lobby", msgs: [gift(1, "g")], upto: 4097 });
    const messages = eventsNamed("messages");
    expect(messages).toHaveLength(2);
    expect(client.lastSeq("lobby")).toBe(4097);
    expect(acksOf(socket(0)).map((a) => a.seqs)).toEqual([[1], [1]]);
  });

  it("acknowledges a pulled reply and splits more than 256 seqs into several acks", async () => {
    const { client, socket } = await connected();
    await joinRoom(client, socket(0), "stage", { seq: 0, mode: "notify" });
    const pulling = client.pull("stage", 0, 500);
    const gifts = Array.from({ length: 300 }, (_, index) => gift(index + 1));
    socket(0).receive({ type: "pulled", id: socket(0).lastFrame().id, room: "stage", seq: 300, msgs: gifts });
    await pulling;
    const acks = acksOf(socket(0));
    expect(acks.map((a) => (a.seqs as number[]).length)).toEqual([256, 44]);
    expect(acks.flatMap((a) => a.seqs as number[])).toEqual(gifts.map((g) => g.seq));
  });

  it("acknowledges a repeat in the resume reply after a reconnect without showing it again", async () => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "lobby", { seq: 0 });
    socket(0).receive({ type: "batch", room: "lobby", msgs: [gift(1)], upto: 1 });
    socket(0).closeFromServer(1006);
    await vi.advanceTimersToNextTimerAsync();
    socket(1).open();
    socket(1).receive(HELLO);
    const join = socket(1).lastFrame();
    socket(1).receive({ type: "joined", id: join.id, room: "lobby", seq: 2, online: 1, mode: "push", msgs: [gift(1), msg(2)] });
    await vi.advanceTimersByTimeAsync(0);
    expect(seqsOf(eventsNamed("messages"))).toEqual([[1], [2]]);
    expect(acksOf(socket(1))).toEqual([{ type: "ack", room: "lobby", seqs: [1] }]);
  });

  it("does not acknowledge messages of a room it has not joined", async () => {
    const { socket } = await connected();
    socket(0).receive({ type: "batch", room: "elsewhere", msgs: [gift(1)] });
    expect(acksOf(socket(0))).toEqual([]);
  });
});

describe("stats", () => {
  it("emits a joined room's stats with every figure, absent ones as 0", async () => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "r1", { seq: 0 });
    socket(0).receive({
      type: "stats",
      room: "r1",
      ts: 1_790_000_000_000,
      online: 1234,
      connections: 1240,
      joins_per_sec: 12.5,
      leaves_per_sec: 3,
      counters: { like: 98765 },
      accepted: { system: 10, high: 5000, low: 20 },
      dropped: { high: 12, low: 300 },
    });
    socket(0).receive({ type: "stats", room: "r1", ts: 1_790_000_002_000, online: 1, connections: 1 });
    // Not joined: not this client's business.
    socket(0).receive({ type: "stats", room: "other", ts: 1, online: 1, connections: 1 });
    expect(eventsNamed("stats")).toEqual([
      {
        room: "r1",
        ts: 1_790_000_000_000,
        online: 1234,
        connections: 1240,
        joinsPerSec: 12.5,
        leavesPerSec: 3,
        counters: { like: 98765 },
        accepted: { system: 10, high: 5000, low: 20 },
        dropped: { system: 0, high: 12, low: 300 },
      },
      {
        room: "r1",
        ts: 1_790_000_002_000,
        online: 1,
        connections: 1,
        joinsPerSec: 0,
        leavesPerSec: 0,
        counters: {},
        accepted: { system: 0, high: 0, low: 0 },
        dropped: { system: 0, high: 0, low: 0 },
      },
    ]);
  });
});

describe("likes", () => {
  const likeFrames = (socket: FakeWebSocket) => socket.sentFrames().filter((f) => f.kind === "like");
  const countsOf = (socket: FakeWebSocket) => likeFrames(socket).map((f) => (f.body as { count: number }).count);
  /** Answers every like frame not answered yet with `sent`. */
  const answerLikes = (socket: FakeWebSocket, answered: Set<unknown>) => {
    for (const frame of likeFrames(socket)) {
      if (answered.has(frame.id)) continue;
      answered.add(frame.id);
      socket.receive({ type: "sent", id: frame.id, room: frame.room, seq: 1, ts: 1 });
    }
  };

  it("sends the first tap at once and sums the taps of the next 200 ms into one message", async () => {
    const { client, socket } = await connected();
    client.like("lobby");
    expect(likeFrames(socket(0))).toEqual([
      { type: "send", id: likeFrames(socket(0))[0]?.id, room: "lobby", kind: "like", body: { count: 1 } },
    ]);
    client.like("lobby");
    client.like("lobby", 3);
    await vi.advanceTimersByTimeAsync(199);
    expect(countsOf(socket(0))).toEqual([1]);
    await vi.advanceTimersByTimeAsync(1);
    expect(countsOf(socket(0))).toEqual([1, 4]);
    // Nothing pending: the interval ends without a message, and the next tap goes at once.
    await vi.advanceTimersByTimeAsync(1000);
    client.like("lobby", 2);
    expect(countsOf(socket(0))).toEqual([1, 4, 2]);
  });

  it("keeps rooms apart", async () => {
    const { client, socket } = await connected();
    client.like("a");
    client.like("b", 2);
    client.like("a");
    await vi.advanceTimersByTimeAsync(200);
    expect(likeFrames(socket(0)).map((f) => [f.room, (f.body as { count: number }).count])).toEqual([
      ["a", 1],
      ["b", 2],
      ["a", 1],
    ]);
  });

  it("caps a message at 1000 taps and sends the rest one interval later", async () => {
    const { client, socket } = await connected();
    client.like("lobby", 2500);
    expect(countsOf(socket(0))).toEqual([1000]);
    await vi.advanceTimersByTimeAsync(200);
    expect(countsOf(socket(0))).toEqual([1000, 1000]);
    await vi.advanceTimersByTimeAsync(200);
    expect(countsOf(socket(0))).toEqual([1000, 1000, 500]);
  });

  it("reports the taps of a refused message and keeps the ones after it", async () => {
    const { client, socket, eventsNamed } = await connected();
    client.like("lobby", 5);
    const first = likeFrames(socket(0))[0];
    client.like("lobby", 2);
    socket(0).receive({ type: "error", id: first?.id, code: 204, message: "slow down", room: "lobby" });
    await vi.advanceTimersByTimeAsync(200);
    expect(countsOf(socket(0))).toEqual([5, 2]);
    expect(eventsNamed("likesLost")).toMatchObject([{ room: "lobby", count: 5, error: { code: 204, name: "rate_limited" } }]);
    expect(eventsNamed("likesLost")[0]?.error).toBeInstanceOf(ThrongError);
  });

  it("reports the taps of a message the server dropped", async () => {
    const { client, socket, eventsNamed } = await connected();
    client.like("lobby", 3);
    socket(0).receive({ type: "sent", id: socket(0).lastFrame().id, room: "lobby", seq: 0, ts: 1, dropped: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(eventsNamed("likesLost")).toEqual([{ room: "lobby", count: 3 }]);
  });

  it("reports nothing for taps that were counted", async () => {
    const { client, socket, eventsNamed } = await connected();
    const answered = new Set<unknown>();
    client.like("lobby", 3);
    client.like("lobby", 4);
    await vi.advanceTimersByTimeAsync(200);
    answerLikes(socket(0), answered);
    await vi.advanceTimersByTimeAsync(0);
    expect(countsOf(socket(0))).toEqual([3, 4]);
    expect(eventsNamed("likesLost")).toEqual([]);
  });

  it("holds taps while the connection is down and sends them once the rooms are joined again", async () => {
    const { client, socket, eventsNamed } = await connected();
    await joinRoom(client, socket(0), "lobby", { seq: 0 });
    client.like("lobby");
    socket(0).closeFromServer(1006); // the first like's reply is lost with the connection
    client.like("lobby", 2);
    client.like("lobby", 3);
    // Past both the first reconnect delay (under 500 ms) and the lost message's interval.
    await vi.advanceTimersByTimeAsync(500);
    socket(1).open();
    socket(1).receive(HELLO);
    expect(likeFrames(socket(1))).toEqual([]); // not before the resume join's reply
    const join = socket(1).lastFrame();
    socket(1).receive({ type: "joined", id: join.id, room: "lobby", seq: 0, online: 1, mode: "push", msgs: [] });
    await vi.advanceTimersByTimeAsync(0);
    expect(countsOf(socket(1))).toEqual([5]);
    expect(eventsNamed("likesLost")).toMatchObject([{ room: "lobby", count: 1, error: { reason: "disconnected" } }]);
  });

  it("sends taps given before the first connection once it is open", async () => {
    const t = setup();
    t.client.like("lobby", 2);
    const connecting = t.client.connect();
    await vi.advanceTimersByTimeAsync(0);
    t.socket(0).open();
    t.socket(0).receive(HELLO);
    await connecting;
    expect(countsOf(t.socket(0))).toEqual([2]);
  });

  it("reports taps still pending when the client closes", async () => {
    const { client, eventsNamed } = await connected();
    client.like("lobby");
    client.like("lobby", 6);
    client.close();
    expect(eventsNamed("likesLost")).toMatchObject([{ room: "lobby", count: 6, error: { reason: "closed" } }]);
    // The first tap's message was in flight: its request is rejected with closed as well.
    await vi.advanceTimersByTimeAsync(0);
    expect(eventsNamed("likesLost")).toMatchObject([
      { room: "lobby", count: 6, error: { reason: "closed" } },
      { room: "lobby", count: 1, error: { reason: "closed" } },
    ]);
    // Nothing fires after the close.
    await vi.advanceTimersByTimeAsync(1000);
    expect(eventsNamed("likesLost")).toHaveLength(2);
  });

  it.each([0, -1, 2.5])("throws for %s taps", async (taps) => {
    const { client, socket } = await connected();
    expect(() => client.like("lobby", taps)).toThrow(RangeError);
    expect(likeFrames(socket(0))).toEqual([]);
  });
});
