/**
 * A log that writes at most N lines a window and counts the rest, so a flood
 * of connections or data can neither flood the terminal nor slow the echo
 * (writing to a terminal is synchronous and slow next to an echo). The owner
 * calls {@linkcode RateLimitedLog.flush} once a second: that ends the window,
 * so the data path never reads a clock.
 *
 * @example
 * ```ts
 * import { RateLimitedLog } from "./log.ts";
 *
 * const log = new RateLimitedLog((line) => console.log(line), 100);
 * const tick = setInterval(() => log.flush(), 1000);
 * for (let i = 0; i < 1000; i++) log.line(() => `line ${i}`);
 * log.flush(); // "… 900 log lines not shown (at most 100 a second)"
 * clearInterval(tick);
 * ```
 *
 * @module
 */

/** Writes lines through `write`, at most `linesPerSecond` between two flushes. */
export class RateLimitedLog {
  #written = 0;
  #dropped = 0;

  /**
   * Creates the log; `write` writes one line, `describeDropped` makes the
   * line that reports a window's dropped lines (JSON, for the ledger).
   */
  constructor(
    readonly write: (line: string) => void,
    readonly linesPerSecond: number,
    readonly describeDropped: (dropped: number, linesPerSecond: number) => string = (
      dropped,
      limit,
    ) => `… ${dropped} log lines not shown (at most ${limit} a second)`,
  ) {}

  /**
   * Writes the line `make` returns, if this window's budget allows; otherwise
   * counts it without calling `make`, so dropped lines cost no formatting.
   */
  line(make: () => string): void {
    if (this.#written < this.linesPerSecond) {
      this.#written++;
      this.write(make());
    } else {
      this.#dropped++;
    }
  }

  /** Ends the window: writes how many lines were dropped in it, if any. */
  flush(): void {
    if (this.#dropped > 0) {
      this.write(this.describeDropped(this.#dropped, this.linesPerSecond));
    }
    this.#written = 0;
    this.#dropped = 0;
  }
}
