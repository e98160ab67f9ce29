/**
 * The page's views, written so that a room at hundreds of messages per second costs one
 * DOM update per animation frame: messages are queued as they arrive and applied in
 * `flush()`, which the frame loop calls. Nothing here reads layout (no `offsetWidth`,
 * no `getBoundingClientRect`), so a flush never forces the browser to lay out the page.
 * @module
 */

/** A chat line: newest rows go first in the DOM; CSS shows them bottom-up. */
export interface ChatRow {
  seq: number;
  from: string;
  text: string;
  /** `self` for the page's own user, `server` for `@server`. */
  tone?: "self" | "server";
}

/**
 * The chat list: the last `maxRows` rows. A burst larger than that between two frames
 * only renders its newest `maxRows` rows; the others would be removed in the same frame.
 */
export class ChatView {
  private queued: ChatRow[] = [];
  /** Rows ever rendered, for the page's test hooks and the footer. */
  rendered = 0;

  constructor(
    private readonly list: HTMLElement,
    private readonly maxRows: number,
  ) {}

  push(row: ChatRow): void {
    this.queued.push(row);
    // Never hold more than one screenful while the tab is in the background (no frames).
    if (this.queued.length > 4 * this.maxRows) this.queued.splice(0, this.queued.length - this.maxRows);
  }

  flush(): void {
    if (this.queued.length === 0) return;
    const rows = this.queued.slice(-this.maxRows);
    this.queued = [];
    const fragment = document.createDocumentFragment();
    for (let i = rows.length - 1; i >= 0; i--) fragment.append(chatRowElement(rows[i]!));
    this.list.prepend(fragment);
    this.rendered += rows.length;
    while (this.list.childElementCount > this.maxRows) this.list.lastElementChild!.remove();
  }
}

function chatRowElement(row: ChatRow): HTMLElement {
  const item = document.createElement("li");
  item.dataset.seq = String(row.seq);
  if (row.tone) item.className = row.tone;
  const from = document.createElement("b");
  from.textContent = row.from;
  item.append(from, " ", row.text);
  return item;
}

/**
 * Danmaku: comments flying across the video in lanes. Each comment is one absolutely
 * placed element moved by a CSS animation of `transform` (the compositor's work, no
 * layout); it removes itself when the animation ends. A lane takes a new comment only
 * once its previous one has moved clear of the right edge (estimated from the text's
 * length, never measured), at most `maxOnScreen` fly at once and at most `maxPerFrame`
 * start per frame: under a flood the rest are not shown (the chat list still has them),
 * which is what viewers of a busy stream expect.
 */
export class DanmakuView {
  private queued: string[] = [];
  private onScreen = 0;
  /** Per lane: when (ms, the frame clock) it may take its next comment. */
  private readonly laneFreeAt: number[];
  /** Comments shown and comments left out, for the test hooks. */
  shown = 0;
  skipped = 0;

  constructor(
    private readonly stage: HTMLElement,
    lanes: number,
    private readonly maxOnScreen: number,
    private readonly maxPerFrame: number,
    /** How long a comment takes to cross, in ms. */
    private readonly crossingMs = 7000,
  ) {
    this.laneFreeAt = new Array<number>(lanes).fill(0);
  }

  push(text: string): void {
    this.queued.push(text);
    // Newest first is what matters; an old backlog is never worth flying.
    if (this.queued.length > 4 * this.maxPerFrame) this.skip(this.queued.length - this.maxPerFrame);
  }

  flush(now: number): void {
    let started = 0;
    while (this.queued.length > 0 && started < this.maxPerFrame && this.onScreen < this.maxOnScreen) {
      const lane = this.laneFreeAt.findIndex((freeAt) => freeAt <= now);
      if (lane < 0) break;
      const text = this.queued.shift()!;
      // Roughly the share of the crossing the comment needs to clear its own length,
      // taking the stage as 60 characters wide.
      const clearShare = Math.min(0.9, (text.length + 4) / 64);
      this.laneFreeAt[lane] = now + clearShare * this.crossingMs;
      this.launch(text, lane);
      started++;
    }
    // What could not start this frame is dropped rather than piling up behind the lanes.
    this.skip(this.queued.length);
  }

  private skip(count: number): void {
    this.skipped += count;
    this.queued.splice(0, count);
  }

  private launch(text: string, lane: number): void {
    const item = document.createElement("span");
    item.className = "danmaku";
    item.textContent = text;
    item.style.top = `${(lane / this.laneFreeAt.length) * 100}%`;
    item.style.animationDuration = `${this.crossingMs}ms`;
    this.onScreen++;
    this.shown++;
    item.addEventListener("animationend", () => {
      item.remove();
      this.onScreen--;
    });
    this.stage.append(item);
  }
}

/** A short line in the room's event feed (gifts, joins, moderation). */
export interface FeedItem {
  text: string;
  tone: "gift" | "presence" | "moderation" | "connection";
  /** Set on gifts: the reliable message's id, so tests can find it. */
  giftId?: string;
}

/** The event feed: the last `maxItems` items, newest first, applied once per frame. */
export class FeedView {
  private queued: FeedItem[] = [];

  constructor(
    private readonly list: HTMLElement,
    private readonly maxItems: number,
  ) {}

  push(item: FeedItem): void {
    this.queued.push(item);
  }

  flush(): void {
    if (this.queued.length === 0) return;
    const fragment = document.createDocumentFragment();
    for (const item of this.queued.slice(-this.maxItems).reverse()) {
      const element = document.createElement("li");
      element.className = item.tone;
      element.textContent = item.text;
      if (item.giftId !== undefined) element.dataset.giftId = item.giftId;
      fragment.append(element);
    }
    this.queued = [];
    this.list.prepend(fragment);
    while (this.list.childElementCount > this.maxItems) this.list.lastElementChild!.remove();
  }
}

/**
 * A number shown on the page that climbs smoothly toward a target (the server's like
 * total): each frame closes a share of the gap, at least one, so a jump of thousands
 * reads as a quick count-up rather than a flicker, and a small one still moves.
 */
export class CountUp {
  private shown = 0;
  target = 0;

  constructor(private readonly element: HTMLElement) {}

  flush(): void {
    if (this.shown === this.target) return;
    const gap = this.target - this.shown;
    const step = Math.sign(gap) * Math.max(1, Math.ceil(Math.abs(gap) * 0.12));
    this.shown = Math.abs(step) >= Math.abs(gap) ? this.target : this.shown + step;
    this.element.textContent = this.shown.toLocaleString("en-US");
    this.element.dataset.value = String(this.shown);
  }
}

/**
 * A set of the most recent `capacity` keys: what the page uses to show each gift once,
 * whatever carries it again (a redelivery, a resume after a reconnect).
 */
export class RecentKeys {
  private readonly keys = new Set<string>();

  constructor(private readonly capacity: number) {}

  /** Adds `key`; false when it was already there. */
  add(key: string): boolean {
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    if (this.keys.size > this.capacity) {
      // A Set iterates in insertion order: the first key is the oldest.
      this.keys.delete(this.keys.values().next().value as string);
    }
    return true;
  }
}
