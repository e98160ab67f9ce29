/**
 * Reconnect delays: exponential backoff with full jitter. Each delay is drawn uniformly
 * from `[0, min(maxMs, initialMs * 2^attempt))`, so a crowd of clients dropped by one
 * server spreads its reconnects over the whole window instead of arriving in waves.
 * @module
 */

export interface BackoffOptions {
  /** Upper bound of the first delay, in ms. */
  initialMs: number;
  /** Cap on every delay, in ms. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 };

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;
  private attempt = 0;

  /** `random` returns a number in [0, 1); injectable so tests can pin the jitter. */
  constructor(options: BackoffOptions, random: () => number = Math.random) {
    if (!(options.initialMs > 0) || !(options.maxMs >= options.initialMs)) {
      throw new RangeError(
        `backoff needs 0 < initialMs <= maxMs, got initialMs=${options.initialMs} maxMs=${options.maxMs}`,
      );
    }
    this.initialMs = options.initialMs;
    this.maxMs = options.maxMs;
    this.random = random;
  }

  /** The upper bound of the delay for the attempt after `previousAttempts` failures. */
  ceilingMs(previousAttempts: number): number {
    // Past 2^31 the product is far beyond any cap; stop doubling to stay finite.
    const exponent = Math.min(previousAttempts, 31);
    return Math.min(this.maxMs, this.initialMs * 2 ** exponent);
  }

  /** The next delay, in whole ms; each call doubles the ceiling until `maxMs`. */
  next(): number {
    const ceiling = this.ceilingMs(this.attempt);
    this.attempt += 1;
    return Math.floor(this.random() * ceiling);
  }

  /** Back to the first, shortest delay (after a connection that got its `hello`). */
  reset(): void {
    this.attempt = 0;
  }

  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.attempt;
  }
}
