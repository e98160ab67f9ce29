/**
 * Acknowledging reliable messages: which `ack` frames answer one received frame.
 *
 * Every reliable message of a frame is acknowledged, repeats included: a repeat means the
 * server did not get (or not yet get) the earlier ack, and until one arrives it keeps
 * carrying the message again.
 * @module
 */

import type { AckFrame, Message } from "./frames.js";

/** The most seqs one `ack` frame may list. */
export const MAX_ACK_SEQS = 256;

/**
 * The `ack` frames that acknowledge the reliable messages (those with an `id`) of one
 * received frame of `room`, in the order they came, at most `maxSeqs` seqs per frame.
 * Empty when the frame carried none.
 */
export function reliableAcks(room: string, msgs: readonly Message[], maxSeqs: number = MAX_ACK_SEQS): AckFrame[] {
  if (!Number.isInteger(maxSeqs) || maxSeqs < 1) {
    throw new RangeError(`seqs per ack must be a positive integer, got ${maxSeqs}`);
  }
  const seqs = msgs.filter((message) => message.id !== undefined).map((message) => message.seq);
  const acks: AckFrame[] = [];
  for (let start = 0; start < seqs.length; start += maxSeqs) {
    acks.push({ type: "ack", room, seqs: seqs.slice(start, start + maxSeqs) });
  }
  return acks;
}
