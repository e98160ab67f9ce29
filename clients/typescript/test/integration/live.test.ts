/**
 * The SDK against a real server, for the live-room protocol additions: reliable
 * messages (acknowledged, shown once), likes aggregated into a room total, and live
 * statistics.
 */

import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { LikeTotal, ThrongError, type Message } from "../../src/index.js";
import { apiOk, closeAllClients, connectClient, createRoom, uniqueRoom, waitFor, type TestClient } from "./harness.js";

afterEach(() => closeAllClients());

/** The messages carrying the reliable `id` among the frames a client received. */
function deliveriesOf(who: TestClient, id: string): number {
  return who.received
    .flatMap((frame) => (Array.isArray(frame.msgs) ? (frame.msgs as Message[]) : []))
    .filter((message) => message.id === id).length;
}

/** The seqs of the `ack` frames a client sent for `room`. */
function ackedSeqs(who: TestClient, room: string): number[] {
  return who.sent.filter((frame) => frame.type === "ack" && frame.room === room).flatMap((frame) => frame.seqs as number[]);
}

const withId = (who: TestClient, room: string, id: string) => who.messages(room).filter((m) => m.id === id);

describe("reliable messages", () => {
  it("a gift published through the server API reaches each member exactly once and is acknowledged", async () => {
    const room = uniqueRoom("gifts");
    await createRoom(room);
    // Ann speaks MessagePack, so her acks travel in that codec.
    const ann = await connectClient("ann", { codec: "msgpack" });
    // Bob's acks never leave, so the server carries the gift to him again.
    const bob = await connectClient("bob", { dropAcks: true });
    await ann.client.join(room);
    await bob.client.join(room);

    const msgId = `gift-${randomUUID().slice(0, 8)}`;
    const gift = { kind: "gift", body: { gift: "rose", from: "carol" }, reliable: true, msg_id: msgId };
    const published = (await apiOk("POST", `/v1/rooms/${room}/messages`, gift)) as { seq: number; id: string };
    expect(published.id).toBe(msgId);
    // The same msg_id again publishes nothing and answers with the first seq.
    const again = (await apiOk("POST", `/v1/rooms/${room}/messages`, gift)) as { seq: number; id: string };
    expect(again).toMatchObject({ seq: published.seq, id: msgId });

    await waitFor("ann to acknowledge the gift", () => ackedSeqs(ann, room).includes(published.seq));
    // Three deliveries in all for an unacknowledged message: wait for the server to give up.
    await waitFor("the server to carry the gift to bob 3 times", () => deliveriesOf(bob, msgId) >= 3);
    for (const who of [ann, bob]) {
      expect(withId(who, room, msgId)).toMatchObject([
        { seq: published.seq, from: "@server", kind: "gift", priority: "system", body: gift.body, id: msgId },
      ]);
    }
    expect(ackedSeqs(bob, room)).toEqual([]);
    // Ann's ack reached the server: it stopped carrying the gift to her before bob's last try.
    expect(deliveriesOf(ann, msgId)).toBeLessThan(3);
  });

  it("a moderator's reliable send is idempotent by msgId, and members see it once", async () => {
    const room = uniqueRoom("cards");
    await createRoom(room);
    const host = await connectClient("host", { roles: ["moderator"] });
    const ann = await connectClient("ann");
    await host.client.join(room);
    await ann.client.join(room);
    const msgId = `card-${randomUUID().slice(0, 8)}`;
    const card = { product: "mug", price: 12 };
    const first = await host.client.send(room, "product", card, { reliable: true, msgId });
    const second = await host.client.send(room, "product", card, { reliable: true, msgId });
    expect(second.seq).toBe(first.seq);
    expect(first.dropped).toBeUndefined();

    await waitFor("ann to acknowledge the card", () => ackedSeqs(ann, room).includes(first.seq));
    const [shown] = withId(ann, room, msgId);
    expect(shown).toMatchObject({ seq: first.seq, from: "host", kind: "product", priority: "system", body: card });
    // A plain message published after it arrives after it, with nothing in between.
    const after = await host.client.send(room, "text", { text: "after" });
    await waitFor("the message after the card", () => ann.messages(room).some((m) => m.seq === after.seq));
    expect(ann.messages(room).map((m) => m.seq)).toEqual([first.seq, after.seq]);
  });

  it("refuses a reliable send from an ordinary member with forbidden", async () => {
    const room = uniqueRoom("nogift");
    await createRoom(room);
    const ann = await connectClient("ann");
    await ann.client.join(room);
    const refused = await ann.client
      .send(room, "gift", { gift: "rose" }, { reliable: true })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ThrongError);
    expect(refused).toMatchObject({ code: 206, name: "forbidden", room });
  });
});

describe("likes", () => {
  it("taps from two clients add up in the room's aggregated total", async () => {
    const room = uniqueRoom("likes");
    await createRoom(room);
    const ann = await connectClient("ann");
    const bob = await connectClient("bob");
    await ann.client.join(room);
    await bob.client.join(room);
    for (let tap = 0; tap < 7; tap++) ann.client.like(room);
    bob.client.like(room, 5);

    for (const who of [ann, bob]) {
      await waitFor(`${who.user} to see 12 likes`, () => {
        const likes = new LikeTotal();
        likes.apply(who.messages(room));
        return likes.total === 12;
      });
    }
    // Ann's seven taps went out coalesced: the first at once, the other six together.
    const annLikes = ann.sent.filter((frame) => frame.type === "send" && frame.kind === "like");
    expect(annLikes.map((frame) => frame.body)).toEqual([{ count: 1 }, { count: 6 }]);
    // Members get the server's totals, never each other's like messages.
    const likeSenders = new Set(ann.messages(room).filter((m) => m.kind === "like").map((m) => m.from));
    expect([...likeSenders]).toEqual(["@server"]);
    expect([...ann.events.likesLost, ...bob.events.likesLost]).toEqual([]);
  });
});

describe("stats", () => {
  it("members get the room's live statistics", async () => {
    const room = uniqueRoom("stats");
    await createRoom(room);
    const ann = await connectClient("ann");
    const bob = await connectClient("bob");
    await ann.client.join(room);
    await bob.client.join(room);
    await ann.client.send(room, "text", { text: "counted" });
    const stats = await waitFor("stats counting both members and the message", () =>
      ann.events.stats.find((event) => event.room === room && event.connections === 2 && event.accepted.high >= 1),
    );
    expect(stats).toMatchObject({ room, online: 2, connections: 2 });
    expect(stats.ts).toBeGreaterThan(0);
    expect(stats.dropped).toEqual({ system: 0, high: 0, low: 0 });
    await waitFor("bob's stats", () => bob.events.stats.some((event) => event.room === room));
  });
});
