/**
 * The SDK against a real server: messages, the server API, reconnect and resume,
 * moderation, room attributes, MessagePack and typed errors.
 */

import { afterEach, describe, expect, it } from "vitest";
import { ThrongError, type JsonValue, type Message } from "../../src/index.js";
import {
  apiOk,
  closeAllClients,
  connectClient,
  createRoom,
  mintToken,
  uniqueRoom,
  waitFor,
  type TestClient,
} from "./harness.js";

afterEach(() => closeAllClients());

const textsOf = (msgs: Message[]) => msgs.map((m) => (m.body as { text?: string }).text);
const seqsOf = (msgs: Message[]) => msgs.map((m) => m.seq);

/** Waits until `who` has seen `count` messages in `room`, and returns them. */
function messagesOf(who: TestClient, room: string, count: number): Promise<Message[]> {
  return waitFor(`${who.user} to see ${count} messages in ${room}`, () => {
    const msgs = who.messages(room);
    return msgs.length >= count && msgs;
  });
}

describe("a room with two clients", () => {
  it("delivers each client's messages to both, in seq order", async () => {
    const room = uniqueRoom("chat");
    await createRoom(room);
    const ann = await connectClient("ann");
    const bob = await connectClient("bob");
    await ann.client.join(room);
    await bob.client.join(room);
    const seqs: number[] = [];
    for (let round = 0; round < 5; round++) {
      seqs.push((await ann.client.send(room, "text", { text: `ann ${round}` })).seq);
      seqs.push((await bob.client.send(room, "text", { text: `bob ${round}` })).seq);
    }
    const expectedTexts = [0, 1, 2, 3, 4].flatMap((round) => [`ann ${round}`, `bob ${round}`]);
    for (const who of [ann, bob]) {
      const msgs = await messagesOf(who, room, 10);
      expect(seqsOf(msgs)).toEqual(seqs);
      expect(textsOf(msgs)).toEqual(expectedTexts);
      expect(msgs.map((m) => m.from)).toEqual(expectedTexts.map((text) => text.split(" ")[0]));
    }
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
  });

  it("delivers a message published through the server API", async () => {
    const room = uniqueRoom("api");
    await createRoom(room);
    const ann = await connectClient("ann");
    await ann.client.join(room);
    const published = (await apiOk("POST", `/v1/rooms/${room}/messages`, {
      kind: "notice",
      body: { text: "the show starts in 5 minutes" },
    })) as { seq: number; ts: number };
    const [notice] = await messagesOf(ann, room, 1);
    expect(notice).toMatchObject({
      seq: published.seq,
      ts: published.ts,
      from: "@server",
      kind: "notice",
      priority: "system",
      body: { text: "the show starts in 5 minutes" },
    });
  });
});

describe("reconnect", () => {
  it("resumes after the socket is cut: what was published meanwhile arrives once, in order", async () => {
    const room = uniqueRoom("resume");
    await createRoom(room);
    // The reconnect waits for its token until the other client has published.
    let tokenGate: Promise<void> = Promise.resolve();
    const ann = await connectClient("ann", {
      client: {
        token: async () => {
          await tokenGate;
          return mintToken("ann");
        },
      },
    });
    const bob = await connectClient("bob");
    await ann.client.join(room);
    await bob.client.join(room);
    const before = await bob.client.send(room, "text", { text: "before" });
    await messagesOf(ann, room, 1);

    let openGate!: () => void;
    tokenGate = new Promise((resolve) => (openGate = resolve));
    const cut = ann.sockets[ann.sockets.length - 1];
    cut?.terminate();
    await waitFor("ann to notice the cut", () => ann.events.disconnected.length === 1);
    const whileAway: number[] = [];
    for (let index = 0; index < 20; index++) {
      whileAway.push((await bob.client.send(room, "text", { text: `away ${index}` })).seq);
    }
    openGate();
    await waitFor("ann to resume", () => ann.events.reconnected.length === 1);
    expect(ann.events.reconnected[0]).toMatchObject({ resumed: [room], failed: [] });
    const after = await bob.client.send(room, "text", { text: "after" });

    const msgs = await messagesOf(ann, room, 22);
    expect(seqsOf(msgs)).toEqual([before.seq, ...whileAway, after.seq]);
    expect(textsOf(msgs)).toEqual(["before", ...whileAway.map((_, index) => `away ${index}`), "after"]);
    expect(ann.events.disconnected[0]).toMatchObject({ code: 1006, willReconnect: true });
    expect(ann.sockets).toHaveLength(2);
    expect(ann.client.lastSeq(room)).toBe(after.seq);
  });
});

describe("moderation", () => {
  it("tells a kicked user why and takes the room away", async () => {
    const room = uniqueRoom("kick");
    await createRoom(room);
    const troll = await connectClient("troll");
    await troll.client.join(room);
    await apiOk("POST", `/v1/rooms/${room}/kick/troll`, { reason: "spam" });
    await waitFor("the left event", () => troll.events.left.length === 1);
    expect(troll.events.moderation).toEqual([{ room, action: "kick", user: "troll", reason: "spam", by: "@server" }]);
    expect(troll.events.left).toEqual([{ room, reason: "kicked" }]);
    expect(troll.client.joinedRooms).toEqual([]);
  });

  it("lets a moderator's connection mute a user, whose sends are then refused", async () => {
    const room = uniqueRoom("mute");
    await createRoom(room);
    const host = await connectClient("host", { roles: ["moderator"] });
    const troll = await connectClient("troll");
    await troll.client.join(room);
    await host.client.moderate(room, "mute", { user: "troll", durationS: 600, reason: "calm down" });
    await waitFor("the moderation event", () => troll.events.moderation.length === 1);
    expect(troll.events.moderation[0]).toMatchObject({ room, action: "mute", user: "troll", reason: "calm down", by: "host" });
    expect(troll.events.moderation[0]?.until).toBeGreaterThan(Date.now());
    const refused = await troll.client.send(room, "text", { text: "still here" }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ThrongError);
    expect(refused).toMatchObject({ code: 301, name: "muted", room });
  });
});

describe("room attributes", () => {
  it("brings the full set on join, then each change", async () => {
    const room = uniqueRoom("stage");
    await createRoom(room);
    await apiOk("PUT", `/v1/rooms/${room}/attributes/seat:1`, { value: { user: "ann" } });
    await apiOk("PUT", `/v1/rooms/${room}/attributes/round`, { value: 1 });
    const ann = await connectClient("ann");
    await ann.client.join(room);
    const joined = ann.events.attributes[0];
    expect(joined?.source).toBe("joined");
    expect(joined?.state.version).toBe(2);
    expect(Object.keys(joined?.state.entries ?? {}).sort()).toEqual(["round", "seat:1"]);

    await apiOk("PUT", `/v1/rooms/${room}/attributes/seat:2`, { value: { user: "bob" } });
    await apiOk("PUT", `/v1/rooms/${room}/attributes/round`, { value: 2, expect_version: 2 });
    const { version } = (await apiOk("DELETE", `/v1/rooms/${room}/attributes/seat:1`)) as { version: number };
    const state = await waitFor(`attributes at version ${version}`, () => {
      const held = ann.client.attrs(room);
      return held !== undefined && held.version >= version && held;
    });
    expect(state.version).toBe(5);
    expect(Object.fromEntries(Object.entries(state.entries).map(([key, entry]) => [key, entry.value]))).toEqual({
      round: 2,
      "seat:2": { user: "bob" },
    });
    // After the join, only changes came: each applied once, in version order.
    const changes = ann.events.attributes.slice(1).flatMap((event) => event.changes ?? []);
    expect(ann.events.attributes.slice(1).map((event) => event.source)).not.toContain("joined");
    expect(changes.map((change) => [change.version, change.key, change.deleted ?? false])).toEqual([
      [3, "seat:2", false],
      [4, "round", false],
      [5, "seat:1", true],
    ]);
  });
});

describe("MessagePack", () => {
  it("talks MessagePack when asked, with a JSON client in the same room", async () => {
    const room = uniqueRoom("msgpack");
    await createRoom(room);
    const packed = await connectClient("ann", { codec: "msgpack" });
    const plain = await connectClient("bob");
    expect(packed.sockets[0]?.protocol).toBe("throng.v1.msgpack");
    expect(plain.sockets[0]?.protocol).toBe("throng.v1.json");
    await packed.client.join(room);
    await plain.client.join(room);
    const body: JsonValue = { text: "héllo 🌍", nested: { list: [1, -2, 3.5, null, true], big: 2 ** 40 }, empty: {} };
    await packed.client.send(room, "text", body);
    await plain.client.send(room, "text", { text: "back" });
    for (const who of [packed, plain]) {
      const msgs = await messagesOf(who, room, 2);
      expect(msgs.map((m) => m.body)).toEqual([body, { text: "back" }]);
    }
  });
});

describe("typed errors", () => {
  // [what the client does, code, name]
  const cases: [name: string, act: (who: TestClient, room: string) => Promise<unknown>, code: number, name: string][] = [
    ["sending to a room not joined", (who, room) => who.client.send(room, "text", "x"), 202, "not_joined"],
    ["a room id with a space", (who) => who.client.join("not a room id"), 208, "invalid_value"],
    ["the system lane as an ordinary user", async (who, room) => {
      await who.client.join(room);
      return who.client.send(room, "text", "x", { priority: "system" });
    }, 206, "forbidden"],
    ["a moderation without the role", (who, room) => who.client.moderate(room, "kick", { user: "bob" }), 206, "forbidden"],
    ["pulling more than 500", async (who, room) => {
      await who.client.join(room);
      return who.client.pull(room, 0, 501);
    }, 208, "invalid_value"],
  ];
  it.each(cases)("%s", async (_name, act, code, name) => {
    const room = uniqueRoom("errors");
    await createRoom(room);
    const ann = await connectClient("ann");
    const error = await act(ann, room).then(
      () => undefined,
      (refused: unknown) => refused,
    );
    expect(error).toBeInstanceOf(ThrongError);
    expect(error).toMatchObject({ code, name });
    // A refusal leaves the connection open.
    await expect(ann.client.ping()).resolves.toMatchObject({ serverTs: expect.any(Number) });
  });
});
