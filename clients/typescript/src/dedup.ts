/**
 * Per-room duplicate detection: by seq for every message, and by id for reliable ones.
 *
 * Why a window and not "seq > highest seen": the server sends a backlog lane by lane
 * (system, then high, then low), so a later batch can legitimately carry a lower seq
 * than an earlier one. Duplicates come from overlapping paths (a `joined` or `pulled`
 * reply racing a `batch`, a resume after reconnect), and all of them are recent, so
 * remembering the last few thousand seqs is enough and stays bounded.
 * @module
 */

/** How many recent seqs (and, separately, reliable message ids) a room remembers. */
export const DEFAULT_DEDUP_WINDOW = 4096;

/**
 * The set of the last `capacity` values seen, by arrival order. When full, the value that
 * arrived longest ago is forgotten; a repeat of a forgotten value is accepted again (it is
 * older than `capacity` other arrivals, far outside any resume or reply overlap).
 */
export class RecentWindow<T extends number | string> {
  readonly capacity: number;
  private readonly seen = new Set<T>();
  /** Ring of values in arrival order; `oldestIndex` is the next slot to overwrite. */
  private readonly arrivalOrder: T[] = [];
  private oldestIndex = 0;

  constructor(capacity: number = DEFAULT_DEDUP_WINDOW) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`dedup window capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  /** Records `value` and returns true if it was not seen within the window. */
  accept(value: T): boolean {
    if (this.seen.has(value)) return false;
    this.seen.add(value);
    if (this.arrivalOrder.length < this.capacity) {
      this.arrivalOrder.push(value);
    } else {
      const forgotten = this.arrivalOrder[this.oldestIndex] as T;
      this.seen.delete(forgotten);
      this.arrivalOrder[this.oldestIndex] = value;
      this.oldestIndex = (this.oldestIndex + 1) % this.capacity;
    }
    return true;
  }

  has(value: T): boolean {
    return this.seen.has(value);
  }

  get size(): number {
    return this.seen.size;
  }
}

/** The last `capacity` seqs seen in a room. */
export class SeqWindow extends RecentWindow<number> {}

/**
 * The last `capacity` reliable message ids seen in a room. A reliable message may come
 * again under its own (older) seq after its seq fell out of the `SeqWindow`, or after a
 * reconnect; its id still identifies it.
 */
export class ReliableIdWindow extends RecentWindow<string> {}
