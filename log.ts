/**
 * A log that writes at most N lines a second and counts the rest, so a flood
 * of connections or data can neither flood the terminal nor slow the echo
 * (writing to a terminal is synchronous and slow next to an echo).
 *
 * @example
 * ```ts
 * import { RateLimitedLog } from "./log.ts";
 *
 * const log = new RateLimitedLog((line) => console.log(line), 100);
 * for (let i = 0; i < 1000; i++) log.line(() => `line ${i}`);
 * log.flush(); // "… 900 log lines not shown (at most 100 a second)"
 * ```
 *
 * @module
 */

/** Writes lines through `write`, at most `linesPerSecond` in any one-second window. */
export class RateLimitedLog {
  #windowStart = -Infinity;
  #written = 0;
  #dropped = 0;

  /**
   * Creates the log. `now` is the clock in milliseconds.
   * @default now {performance.now}
   */
  constructor(
    readonly write: (line: string) => void,
    readonly linesPerSecond: number,
    readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Writes the line `make` returns, if this second's budget allows; otherwise
   * counts it without calling `make`, so dropped lines cost no formatting.
   */
  line(make: () => string): void {
    const now = this.now();
    if (now - this.#windowStart >= 1000) {
      this.flush();
      this.#windowStart = now;
      this.#written = 0;
    }
    if (this.#written < this.linesPerSecond) {
      this.#written++;
      this.write(make());
    } else {
      this.#dropped++;
    }
  }

  /** Writes how many lines were dropped since the last flush, if any. */
  flush(): void {
    if (this.#dropped === 0) return;
    this.write(`… ${this.#dropped} log lines not shown (at most ${this.linesPerSecond} a second)`);
    this.#dropped = 0;
  }
}
