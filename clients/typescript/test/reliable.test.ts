import { describe, expect, it } from "vitest";
import { MAX_ACK_SEQS, reliableAcks, type Message } from "../src/index.js";

const plain = (seq: number): Message => ({ seq, ts: seq, from: "u", kind: "text", priority: "high", body: null });
const reliable = (seq: number): Message => ({ ...plain(seq), kind: "gift", priority: "system", id: `g${seq}` });
const range = (from: number, count: number) => Array.from({ length: count }, (_, index) => from + index);

describe("reliableAcks", () => {
  // [messages of the received frame, max seqs per ack, seqs of each ack sent]
  const cases: [name: string, msgs: Message[], maxSeqs: number, acks: number[][]][] = [
    ["no message", [], MAX_ACK_SEQS, []],
    ["only ordinary messages", [plain(1), plain(2)], MAX_ACK_SEQS, []],
    ["reliable ones among ordinary ones, in frame order", [plain(1), reliable(5), plain(6), reliable(3)], MAX_ACK_SEQS, [[5, 3]]],
    ["exactly the limit fits one ack", range(1, 256).map(reliable), MAX_ACK_SEQS, [range(1, 256)]],
    ["one over the limit needs a second ack", range(1, 257).map(reliable), MAX_ACK_SEQS, [range(1, 256), [257]]],
    ["a small limit", [1, 2, 3, 4, 5].map(reliable), 2, [[1, 2], [3, 4], [5]]],
    // A repeat is acknowledged again: the server carries it until an ack reaches it.
    ["a repeat within the frame", [reliable(7), reliable(7)], MAX_ACK_SEQS, [[7, 7]]],
  ];
  it.each(cases)("%s", (_name, msgs, maxSeqs, acks) => {
    expect(reliableAcks("r1", msgs, maxSeqs)).toEqual(acks.map((seqs) => ({ type: "ack", room: "r1", seqs })));
  });

  it.each([0, -1, 1.5, Number.NaN])("refuses %s seqs per ack", (maxSeqs) => {
    expect(() => reliableAcks("r1", [reliable(1)], maxSeqs)).toThrow(RangeError);
  });

  it("limits an ack to 256 seqs, as the protocol does", () => {
    expect(MAX_ACK_SEQS).toBe(256);
  });
});
