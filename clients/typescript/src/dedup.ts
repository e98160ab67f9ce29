/**
 * Per-room duplicate detection by seq.
 *
 * Why a window and not "seq > highest seen": the server sends a backlog lane by lane
 * (system, then high, then low), so a later batch can legitimately carry a lower seq
 * than an earlier one. Duplicates come from overlapping paths (a `joined` or `pulled`
 * reply racing a `batch`, a resume after reconnect), and all of them are recent, so
 * remembering the last few thousand seqs is enough and stays bounded.
 * @module
 */

/** How many recent seqs a room remembers. */
export const DEFAULT_DEDUP_WINDOW = 4096;

/**
 * The set of the last `capacity` seqs seen, by arrival order. When full, the seq that
 * arrived longest ago is forgotten; a repeat of a forgotten seq is accepted again (it is
 * older than `capacity` other messages, far outside any resume or reply overlap).
 */
export class SeqWindow {
  readonly capacity: number;
  private readonly seen = new Set<number>();
  /** Ring of seqs in arrival order; `oldestIndex` is the next slot to overwrite. */
  private readonly arrivalOrder: number[] = [];
  private oldestIndex = 0;

  constructor(capacity: number = DEFAULT_DEDUP_WINDOW) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`dedup window capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  /** Records `seq` and returns true if it was not seen within the window. */
  accept(seq: number): boolean {
    if (this.seen.has(seq)) return false;
    this.seen.add(seq);
    if (this.arrivalOrder.length < this.capacity) {
      this.arrivalOrder.push(seq);
    } else {
      const forgotten = this.arrivalOrder[this.oldestIndex] as number;
      this.seen.delete(forgotten);
      this.arrivalOrder[this.oldestIndex] = seq;
      this.oldestIndex = (this.oldestIndex + 1) % this.capacity;
    }
    return true;
  }

  has(seq: number): boolean {
    return this.seen.has(seq);
  }

  get size(): number {
    return this.seen.size;
  }
}
