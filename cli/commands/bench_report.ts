/**
 * `sockecho bench`'s end-of-run table, and the words for what a run counts
 * (round trips, requests, messages, writes, connections).
 *
 * @example
 * ```ts
 * import { formatReport, nounsOf } from "./bench_report.ts";
 * import type { BenchReport } from "../../bench/bench.ts";
 *
 * declare const report: BenchReport;
 * formatReport(report, false).forEach((line) => console.log(line));
 * nounsOf("pingpong", "http"); // ["request", "requests"]
 * ```
 *
 * @module
 */

import type { BenchMode, BenchProtocol, BenchReport } from "../../bench/bench.ts";
import { describeErrors } from "../../bench/failures.ts";
import { formatCount, formatSeconds, plural } from "../../net/format.ts";

/** The singular and plural of what `mode` counts over `protocol`. */
export function nounsOf(mode: BenchMode, protocol: BenchProtocol = "tcp"): [string, string] {
  const pingpong = { tcp: "round trip", http: "request", ws: "message" }[protocol];
  const singular = { pingpong, bulk: "write", connect: "connection" }[mode];
  return [singular, `${singular}s`];
}

/** The end-of-run table; `cutShort` when Ctrl+C ended the load. */
export function formatReport(report: BenchReport, cutShort: boolean): string[] {
  const { mode, latencyMs: latency, protocol = "tcp", errors } = report;
  const nouns = nounsOf(mode, protocol);
  const rate = formatCount(Math.round(report.operationsPerSecond));
  const ms = (value: number) => value.toFixed(3);
  return [
    `mode         ${mode}${{ tcp: "", http: " over HTTP/1.1", ws: " over WebSocket" }[protocol]}`,
    `target       ${report.url ? `${report.url} at ` : ""}${report.target}`,
    `load         ${plural(report.connections, "connection")} × ${formatCount(report.size)} B, ` +
    `${plural(report.workers, "worker")}, ${(report.elapsedMs / 1000).toFixed(2)} s` +
    // Cut short, the line ends with that (scripts match it); the report still has warmupMs.
    (cutShort
      ? " (cut short by Ctrl+C)"
      : report.warmupMs > 0
      ? ` after a ${formatSeconds(report.warmupMs)} warm-up`
      : ""),
    `${nouns[1].padEnd(13)}${formatCount(report.operations)} (${rate}/s)`,
    `throughput   ${report.megabytesPerSecond.toFixed(1)} MB/s echoed and verified`,
    ...report.lost === undefined ? [] : [`lost         ${plural(report.lost, "datagram")}`],
    ...errors ? [`errors       ${formatErrors(errors)}`] : [],
    ...latency
      ? [
        `latency ms   min ${ms(latency.min)}  p50 ${ms(latency.p50)}  p90 ${ms(latency.p90)}  ` +
        `p99 ${ms(latency.p99)}  p99.9 ${ms(latency.p999)}  max ${ms(latency.max)}`,
      ]
      : [],
    ...report.rate ? [formatRate(report.rate, nouns[1])] : [],
  ];
}

/** The errors an HTTP or WebSocket load counted: how many, and of which kind. */
function formatErrors(errors: NonNullable<BenchReport["errors"]>): string {
  return errors.count === 0 ? "none" : `${formatCount(errors.count)} (${describeErrors(errors)})`;
}

/** How the achieved rate compares with the one asked for. */
function formatRate(rate: NonNullable<BenchReport["rate"]>, unit: string): string {
  const perSecond = (value: number) => formatCount(Math.round(value));
  return `rate         ${perSecond(rate.achieved)} ${unit}/s of ${perSecond(rate.offered)} ` +
    `offered (${rate.shortfallPercent.toFixed(1)} % short)`;
}
