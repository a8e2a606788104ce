/**
 * When the load engine (`load.ts`) sends: a {@linkcode Budget} says whether a
 * message due now is sent at all and whether it counts (warm-up, then the
 * measured window, until the count or the time is used up), and under a
 * fixed rate a {@linkcode Pacer} says when each connection's next message is
 * due.
 *
 * Both classes refer to nothing outside themselves, like the engine, so the
 * worker source (`workers.ts`) can carry their text; the engine gets them
 * passed in as a {@linkcode Schedule}.
 *
 * @example
 * ```ts
 * import { Budget, Pacer } from "./schedule.ts";
 *
 * const budget = new Budget({ count: 100, durationMs: 5000, warmupMs: 0 });
 * const pacer = new Pacer(budget, performance.now(), 10, 0, 1); // every 10 ms
 * while (budget.take(await pacer.wait()) !== "stop") {
 *   // send one message
 * }
 * ```
 *
 * @module
 */

import type { LoadShare } from "./share.ts";

/** The classes the engine builds its schedule from, passed in since it imports nothing. */
export interface Schedule {
  /** {@linkcode Budget} itself, or its class rebuilt from source in a worker. */
  Budget: typeof Budget;
  /** {@linkcode Pacer} itself, or its class rebuilt from source in a worker. */
  Pacer: typeof Pacer;
}

/** What {@linkcode Budget.take} answers: stop, send uncounted (warm-up), or send and count. */
export type Phase = "stop" | "warmup" | "measure";

/** Counts down the message budget and watches the clock: warm-up, then the measured window. */
export class Budget {
  #left: number;
  /** When the measured window opens, on `performance.now()`'s clock. */
  readonly measureFrom: number;
  /** When it closes. */
  readonly deadline: number;
  /** Set to stop the load early, as running out of time would. */
  cancelled = false;

  /** Starts the clock of `share`'s warm-up and measured window now. */
  constructor(share: Pick<LoadShare, "count" | "durationMs" | "warmupMs">) {
    this.#left = share.count ?? Infinity;
    this.measureFrom = performance.now() + share.warmupMs;
    this.deadline = this.measureFrom + (share.durationMs ?? Infinity);
  }

  /**
   * Takes one message due at `at`: "stop" once the count or the time is used
   * up, "warmup" before the measured window (not taken from the count),
   * "measure" in it.
   */
  take(at: number): Phase {
    if (this.cancelled || this.#left <= 0 || at >= this.deadline) return "stop";
    if (at < this.measureFrom) return "warmup";
    this.#left--;
    return "measure";
  }
}

/**
 * When a connection's next message is due under a fixed rate: every
 * `intervalMs` from its own first slot, whether or not the echo before it
 * came back in time (so a stall shows in the latency, as in wrk2).
 */
export class Pacer {
  #due: number;
  #intervalMs: number;
  #deadline: number;

  /** The pacer of slot `slot` of `slots`: slots spread evenly over one interval, not all at once. */
  constructor(budget: Budget, start: number, intervalMs: number, slot: number, slots: number) {
    this.#intervalMs = intervalMs;
    this.#deadline = budget.deadline;
    this.#due = start + (intervalMs * slot) / slots;
  }

  /**
   * Waits until the current slot is due, moves to the next and returns
   * when it was due (when it went out, if that was earlier); Infinity once
   * the time is up, even with slots left over that a slow server made late.
   */
  async wait(): Promise<number> {
    const due = this.#due;
    this.#due += this.#intervalMs;
    const now = performance.now();
    if (due >= this.#deadline || now >= this.#deadline) return Infinity;
    // Timers keep whole ms and fire up to a ms or so late (measured): wake a
    // ms early and send then, a little early, its latency counted from when
    // it went out, rather than charge the timer's lateness to the server.
    if (due - now >= 2) await new Promise((resolve) => setTimeout(resolve, due - now - 1));
    return Math.min(due, performance.now());
  }
}
