import type { Timers } from "../src/index.js";

/** Timers that fire only when the test says so, for the socket-free modules. */
export class ManualTimers implements Timers {
  private readonly scheduled = new Map<number, { at: number; callback: () => void }>();
  private nextHandle = 1;
  now = 0;

  setTimeout(callback: () => void, ms: number): unknown {
    const handle = this.nextHandle++;
    this.scheduled.set(handle, { at: this.now + ms, callback });
    return handle;
  }

  clearTimeout(handle: unknown): void {
    this.scheduled.delete(handle as number);
  }

  /** Moves the clock forward, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const due = [...this.scheduled].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.scheduled.delete(due[0]);
      this.now = due[1].at;
      due[1].callback();
    }
    this.now = until;
  }

  get pending(): number {
    return this.scheduled.size;
  }
}
