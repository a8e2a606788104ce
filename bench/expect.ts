/**
 * Thresholds a bench run must meet, for CI pipelines that guard a service's
 * latency: `p99<5ms,rate>10000,errors=0`. Each is a figure of the
 * {@linkcode BenchReport}, a comparison and a number.
 *
 * Figures: `min`, `p50`, `p90`, `p99`, `p99.9`, `max` (latency; the number
 * takes `us`, `ms` or `s`, ms when bare), `rate` (round trips, connections
 * or writes per second), `mbps` (MB/s echoed), `shortfall` (% below
 * `--rate`), `errors` (the round trips an HTTP or WebSocket load counted as
 * cut or answered with a status other than 2xx; 0 for any other run, whose
 * failures end it with its own error instead). Comparisons: `<`, `<=`, `>`,
 * `>=`, `=`.
 *
 * @example
 * ```ts
 * import { missedThresholds, parseThresholds } from "./expect.ts";
 * import { bench } from "./bench.ts";
 *
 * const thresholds = parseThresholds("p99<5ms,rate>1000");
 * const report = await bench({ hostname: "127.0.0.1", durationMs: 1000 });
 * for (const miss of missedThresholds(thresholds, report)) console.error(miss);
 * ```
 *
 * @module
 */

import type { BenchReport, LatencySummary } from "./bench.ts";
import { SockechoError } from "../net/errors.ts";

/** A bench run finished but missed one of its `--expect` thresholds. */
export class ThresholdError extends SockechoError {}

/** One parsed threshold. */
export interface Threshold {
  /** As written, e.g. `p99<5ms`. */
  text: string;
  figure: string;
  comparison: "<" | "<=" | ">" | ">=" | "=";
  /** In the figure's own unit: ms for latencies. */
  limit: number;
}

const LATENCY_FIGURES: Record<string, keyof LatencySummary> = {
  min: "min",
  p50: "p50",
  p90: "p90",
  p99: "p99",
  "p99.9": "p999",
  max: "max",
};
const FIGURES = [...Object.keys(LATENCY_FIGURES), "rate", "mbps", "shortfall", "errors"];
const TIME_UNITS_MS: Record<string, number> = { "": 1, us: 0.001, "µs": 0.001, ms: 1, s: 1000 };
const SYNTAX = /^([a-z0-9.]+)\s*(<=|>=|<|>|=)\s*([0-9.]+(?:e[0-9]+)?)\s*([a-zµ]*)$/;

/**
 * Parses a comma-separated list of thresholds. Throws a `SyntaxError`
 * naming the part it cannot read.
 *
 * @example
 * ```ts
 * import { parseThresholds } from "./expect.ts";
 *
 * parseThresholds("p99.9<=2ms, errors=0"); // two thresholds
 * ```
 */
export function parseThresholds(spec: string): Threshold[] {
  return spec.split(",").map((part) => part.trim()).map((text) => {
    const [, figure, comparison, number, unit] = SYNTAX.exec(text) ?? [];
    const limit = Number(number);
    if (figure === undefined || !Number.isFinite(limit)) {
      throw new SyntaxError(`"${text}" is not FIGURE<NUMBER (e.g. p99<5ms, rate>=1000)`);
    }
    if (!FIGURES.includes(figure)) {
      throw new SyntaxError(
        `unknown figure "${figure}" in "${text}": expected ${FIGURES.join(", ")}`,
      );
    }
    const isLatency = figure in LATENCY_FIGURES;
    const scale = isLatency ? TIME_UNITS_MS[unit] : unit === "" ? 1 : undefined;
    if (scale === undefined) {
      throw new SyntaxError(
        `unit "${unit}" in "${text}": ${isLatency ? "expected us, ms or s" : "expected none"}`,
      );
    }
    return {
      text,
      figure,
      comparison: comparison as Threshold["comparison"],
      limit: limit * scale,
    };
  });
}

/** Whether a threshold needs latency figures, which a bulk run does not have. */
export function needsLatency(threshold: Threshold): boolean {
  return threshold.figure in LATENCY_FIGURES;
}

/**
 * The thresholds `report` misses, each as `p99<5ms (p99 was 7.21 ms)`;
 * empty when all hold.
 *
 * @example
 * ```ts
 * import { missedThresholds, parseThresholds } from "./expect.ts";
 * import type { BenchReport } from "./bench.ts";
 *
 * declare const report: BenchReport;
 * if (missedThresholds(parseThresholds("errors=0"), report).length > 0) Deno.exit(14);
 * ```
 */
export function missedThresholds(thresholds: Threshold[], report: BenchReport): string[] {
  return thresholds.flatMap((threshold) => {
    const { figure, text } = threshold;
    const value = figureOf(report, figure);
    if (value === undefined) return [`${text} (no such figure in a ${report.mode} run)`];
    if (holds(threshold, value)) return [];
    const shown = figure in LATENCY_FIGURES
      ? `${value.toFixed(3)} ms`
      : figure === "shortfall"
      ? `${value.toFixed(1)} %`
      : String(Math.round(value * 10) / 10);
    return [`${text} (${figure} was ${shown})`];
  });
}

function figureOf(report: BenchReport, figure: string): number | undefined {
  if (figure in LATENCY_FIGURES) return report.latencyMs?.[LATENCY_FIGURES[figure]];
  switch (figure) {
    case "rate":
      return report.operationsPerSecond;
    case "mbps":
      return report.megabytesPerSecond;
    case "shortfall":
      return report.rate?.shortfallPercent;
    default: // errors: counted over HTTP and WebSocket; any other run with a report had none
      return report.errors?.count ?? 0;
  }
}

function holds({ comparison, limit }: Threshold, value: number): boolean {
  switch (comparison) {
    case "<":
      return value < limit;
    case "<=":
      return value <= limit;
    case ">":
      return value > limit;
    case ">=":
      return value >= limit;
    case "=":
      return value === limit;
  }
}
