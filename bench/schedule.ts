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
 * const pacer = new Pacer(budget, performance.now(), 10); // every 10 ms
 * while (budget.take(await pacer.wait()) !== "stop") {
 *   // send one message
 * }
 * ```
 *
 * @module
 */

import type { LoadShare } from "./share.ts";
import type { Tally } from "./tally.ts";

/** The classes the engine builds its schedule and tally from, passed in: it imports nothing. */
export interface Schedule {
  /** {@linkcode Budget} itself, or its class rebuilt from source in a worker. */
  Budget: typeof Budget;
  /** {@linkcode Pacer} itself, or its class rebuilt from source in a worker. */
  Pacer: typeof Pacer;
  /** `tally.ts`'s `Tally` itself, or its class rebuilt from source in a worker. */
  Tally: typeof Tally;
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

  /** Starts the clock of `share`'s warm-up and measured window at `start` (now by default). */
  constructor(
    share: Pick<LoadShare, "count" | "durationMs" | "warmupMs">,
    start: number = performance.now(),
  ) {
    this.#left = share.count ?? Infinity;
    this.measureFrom = start + share.warmupMs;
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
 * When a connection's next message is due under a fixed rate: at fixed slots
 * from its first one, whether or not the echo before it came back in time (so
 * a stall shows in the latency, as in wrk2). The slots are computed, not
 * summed, so they never drift from the schedule other threads and machines
 * keep too.
 */
export class Pacer {
  #first: number;
  #intervalMs: number;
  #slot = 0;
  #deadline: number;

  /**
   * Waits until `at` on `performance.now()`'s clock, since the shards of a
   * load on many machines are to start together: a timer to within 2 ms
   * (timers fire a ms or so late), a futex sleep to within 0.2 ms (it wakes
   * about 0.1 ms late), then a spin (measured: a 2 ms spin in every shard made
   * some start 6 ms late when shards outnumbered the cores).
   */
  static async waitUntil(at: number): Promise<void> {
    const early = at - performance.now() - 2;
    if (early > 0) await new Promise((resolve) => setTimeout(resolve, early));
    const sleep = at - performance.now() - 0.2;
    if (sleep > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, sleep);
    while (performance.now() < at) {
      // 0.2 ms at most, once
    }
  }

  /** The pacer of a connection whose slots are `firstDue`, then every `intervalMs`. */
  constructor(budget: Budget, firstDue: number, intervalMs: number) {
    this.#first = firstDue;
    this.#intervalMs = intervalMs;
    this.#deadline = budget.deadline;
  }

  /**
   * Waits until the current slot is due (or up to 2 ms before), moves to the
   * next and returns when it was due, which says its phase (a slot due as the
   * measured window opens is in it, though sent a little early); Infinity
   * once the time is up, even with slots left over that a slow server made late.
   */
  async wait(): Promise<number> {
    const due = this.#first + this.#slot++ * this.#intervalMs;
    const now = performance.now();
    if (due >= this.#deadline || now >= this.#deadline) return Infinity;
    // Timers keep whole ms and fire up to a ms or so late (measured): wake a
    // ms early and send then, a little early, its latency counted from when
    // it went out, rather than charge the timer's lateness to the server.
    if (due - now >= 2) await new Promise((resolve) => setTimeout(resolve, due - now - 1));
    return due;
  }
}
