/**
 * A run second by second, as `bench --json` reports it and `sockecho merge`
 * adds it up: the intervals of several threads (or machines) that cover the
 * same second of the same phase become one, their counts summed and their
 * latency histograms added exactly.
 *
 * @example
 * ```ts
 * import { Histogram } from "./histogram.ts";
 * import { combineIntervals } from "./intervals.ts";
 *
 * const second = (operations: number) => ({
 *   phase: "measure" as const,
 *   startMs: 0,
 *   endMs: 1000,
 *   operations,
 *   bytes: 64 * operations,
 *   latencies: null,
 * });
 * const [both] = combineIntervals([[second(10)], [second(5)]]);
 * console.log(both.operations); // 15
 * ```
 *
 * @module
 */

import type { Histogram, LatencySummary } from "./histogram.ts";
import { encodeHistogram } from "./histogram_codec.ts";

/** The figures of a run, or of one of its intervals. */
export interface RunFigures {
  /** Round trips (pingpong), connections (connect) or writes (bulk) completed. */
  operations: number;
  /** Bytes echoed and verified. */
  bytes: number;
  operationsPerSecond: number;
  /** Echoed bytes per second, in millions (10⁶). */
  megabytesPerSecond: number;
  /** Per round trip, or per connect-echo-close; null for bulk. */
  latencyMs: LatencySummary | null;
  /** The same latencies in ns, HdrHistogram's V2 compressed encoding; null for bulk. */
  histogram: string | null;
}

/**
 * One interval of a run (about a second) in a report: the report's figures
 * for that second alone (in the warm-up, `operations` counts latencies and
 * no bytes are counted).
 */
export interface BenchInterval extends RunFigures {
  /** The warm-up (latencies only) or the measured window. */
  phase: "warmup" | "measure";
  /** When it began and ended, in ms since the epoch. */
  startMs: number;
  endMs: number;
}

/** One thread's or one machine's part of an interval, its histogram decoded. */
export interface IntervalPart {
  phase: BenchInterval["phase"];
  startMs: number;
  endMs: number;
  operations: number;
  bytes: number;
  latencies: Histogram | null;
}

/**
 * The intervals of several parts of one run, the n-th interval of a phase in
 * each added into one (they cover the same second: the parts started
 * together); warm-up first. Adds into the parts' histograms.
 *
 * @example
 * ```ts
 * import { combineIntervals, type IntervalPart } from "./intervals.ts";
 *
 * declare const threads: IntervalPart[][];
 * for (const second of combineIntervals(threads)) console.log(second.latencyMs?.p99);
 * ```
 */
export function combineIntervals(parts: IntervalPart[][]): BenchInterval[] {
  const combined: BenchInterval[] = [];
  for (const phase of ["warmup", "measure"] as const) {
    const lists = parts.map((intervals) => intervals.filter((i) => i.phase === phase));
    const seconds = Math.max(0, ...lists.map((list) => list.length));
    for (let n = 0; n < seconds; n++) {
      const same = lists.flatMap((list) => list[n] ?? []);
      combined.push(describeInterval(same.reduce(addInterval)));
    }
  }
  return combined;
}

/** `a` with `b` added in: the span of both, the counts summed. */
function addInterval(a: IntervalPart, b: IntervalPart): IntervalPart {
  if (a.latencies && b.latencies) a.latencies.add(b.latencies);
  return {
    ...a,
    startMs: Math.min(a.startMs, b.startMs),
    endMs: Math.max(a.endMs, b.endMs),
    operations: a.operations + b.operations,
    bytes: a.bytes + b.bytes,
    latencies: a.latencies ?? b.latencies,
  };
}

function describeInterval(part: IntervalPart): BenchInterval {
  const seconds = (part.endMs - part.startMs) / 1000;
  const perSecond = (amount: number) => seconds > 0 ? amount / seconds : 0;
  return {
    phase: part.phase,
    startMs: part.startMs,
    endMs: part.endMs,
    operations: part.operations,
    bytes: part.bytes,
    operationsPerSecond: perSecond(part.operations),
    megabytesPerSecond: perSecond(part.bytes / 1e6),
    latencyMs: part.latencies?.summary() ?? null,
    histogram: part.latencies ? encodeHistogram(part.latencies) : null,
  };
}
