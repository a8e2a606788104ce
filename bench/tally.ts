/**
 * What the load engine (`load.ts`) counts as it goes: messages, bytes and
 * latencies, cut into intervals of about a second. Each cut takes the
 * latencies recorded since the last one out of the histogram being filled
 * (the measured ones into the run's total as well), so recording stays one
 * histogram update and the memory stays the same however long the run.
 *
 * The class refers to nothing outside itself, like the engine and the
 * classes of `schedule.ts`, so the worker source (`workers.ts`) can carry its
 * text; the engine gets it passed in with them.
 *
 * @example
 * ```ts
 * import { Histogram } from "./histogram.ts";
 * import { Tally } from "./tally.ts";
 *
 * const start = performance.now();
 * const tally = new Tally(() => new Histogram(), start, start);
 * tally.record("measure", start, 64);
 * tally.cut("measure");
 * console.log(tally.intervals[0].operations, tally.total.totalCount); // 1 1
 * ```
 *
 * @module
 */

import type { LatencyRecorder, LoadErrors, LoadFailure, ShareInterval } from "./share.ts";

/** Counts of a share of the load: totals so far, and its intervals. */
export class Tally<H extends LatencyRecorder = LatencyRecorder> {
  /** Round trips, connections or writes completed in the measured window. */
  operations = 0;
  /** Bytes echoed and verified in it. */
  bytes = 0;
  /** HTTP and WebSocket round trips in it that failed and were counted. */
  readonly errors: LoadErrors = { closed: 0, status: {} };
  /** Every measured latency up to the last cut. */
  readonly total: H;
  /** The intervals cut so far, in the order they were cut. */
  readonly intervals: ShareInterval[] = [];
  /** The latencies of the interval under way, measured and warm-up apart. */
  readonly #filling: { warmup: H; measure: H };
  /** When each phase's interval under way began, on `performance.now()`'s clock. */
  readonly #since: { warmup: number; measure: number };
  #cutAt = { operations: 0, bytes: 0 };

  /** Counts a load whose clock starts at `start` and whose measured window opens at `measureFrom`. */
  constructor(newHistogram: () => H, start: number, measureFrom: number) {
    this.total = newHistogram();
    this.#filling = { warmup: newHistogram(), measure: newHistogram() };
    this.#since = { warmup: start, measure: measureFrom };
  }

  /** Counts one message and its latency since `began`: only its latency in the warm-up. */
  record(phase: "warmup" | "measure", began: number, bytes: number): void {
    const ns = (performance.now() - began) * 1e6;
    if (phase === "warmup") return this.#filling.warmup.record(ns);
    this.#filling.measure.record(ns);
    this.operations++;
    this.bytes += bytes;
  }

  /** Counts a round trip that `failure` ended (a cut, or a status): in the measured window only. */
  fail(phase: "warmup" | "measure", failure: LoadFailure): void {
    if (phase === "warmup") return;
    if (failure.status === undefined) this.errors.closed++;
    else this.errors.status[failure.status] = (this.errors.status[failure.status] ?? 0) + 1;
  }

  /**
   * Ends the interval under way of `phase` now and starts the next. A
   * measured interval is kept even when empty (a silent second is a
   * finding); a warm-up one only if it has latencies.
   */
  cut(phase: "warmup" | "measure"): void {
    const now = performance.now();
    const histogram = this.#filling[phase];
    const recorded = histogram.totalCount;
    const measured = phase === "measure";
    const interval: ShareInterval = {
      phase,
      startMs: performance.timeOrigin + this.#since[phase],
      endMs: performance.timeOrigin + now,
      operations: measured ? this.operations - this.#cutAt.operations : recorded,
      bytes: measured ? this.bytes - this.#cutAt.bytes : 0,
      counts: histogram.drain(),
    };
    this.#since[phase] = now;
    if (measured) {
      this.total.addSparse(interval.counts);
      this.#cutAt = { operations: this.operations, bytes: this.bytes };
    }
    if (measured || recorded > 0) this.intervals.push(interval);
  }
}
