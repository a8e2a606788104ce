/**
 * `bench --hlog FILE`: a run's per-second latency histograms as an HdrHistogram
 * interval log (format version 1.3), the text Java's `HistogramLogWriter`
 * writes and every HdrHistogram tool reads (`HistogramLogProcessor`,
 * HistogramLogAnalyzer, the plotter):
 *
 * ```text
 * #[Histogram log format version 1.3]
 * #[StartTime: 1700000000.000 (seconds since epoch), Tue Nov 14 22:13:20 UTC 2023]
 * #[BaseTime: 1700000000.000 (seconds since epoch)]
 * "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
 * 1.000,1.000,0.412,HISTFAAAA…
 * Tag=measure,1.000,1.000,0.412,HISTFAAAA…
 * ```
 *
 * StartTime is when the load's clock started; timestamps are seconds after
 * it; Interval_Max is in ms (values are recorded in ns, and the tools' default
 * unit ratio is 10⁶). Every measured interval is written untagged, since
 * `HistogramLogProcessor` reads only untagged lines unless given `-tag` (and
 * fails on a log without any); where a run has a warm-up too, each phase is
 * also written under its own tag (`warmup`, `measure`).
 *
 * @example
 * ```ts
 * import { bench } from "./bench.ts";
 * import { formatHlog } from "./hlog.ts";
 *
 * const report = await bench({ hostname: "127.0.0.1", durationMs: 3000 });
 * await Deno.writeTextFile("run.hlog", formatHlog(report));
 * ```
 *
 * @module
 */

import type { BenchReport } from "./bench.ts";

/**
 * The interval log of `report`'s latency intervals.
 *
 * @example
 * ```ts
 * import type { BenchReport } from "./bench.ts";
 * import { formatHlog } from "./hlog.ts";
 *
 * declare const report: BenchReport;
 * console.log(formatHlog(report).split("\n")[0]); // #[Histogram log format version 1.3]
 * ```
 */
export function formatHlog(report: Pick<BenchReport, "startTimeMs" | "intervals">): string {
  const start = report.startTimeMs;
  const seconds = javaFixed(start / 1000, 3);
  const lines = [
    "#[Histogram log format version 1.3]",
    `#[StartTime: ${seconds} (seconds since epoch), ${javaDate(start)}]`,
    `#[BaseTime: ${seconds} (seconds since epoch)]`,
    '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"',
  ];
  const logged = report.intervals.filter((interval) => interval.histogram !== null);
  const phased = logged.some((interval) => interval.phase !== "measure");
  for (const interval of logged) {
    const fields = [
      javaFixed((interval.startMs - start) / 1000, 3),
      javaFixed((interval.endMs - interval.startMs) / 1000, 3),
      javaFixed(interval.latencyMs?.max ?? 0, 3),
      interval.histogram,
    ].join(",");
    if (interval.phase === "measure") lines.push(fields);
    if (phased) lines.push(`Tag=${interval.phase},${fields}`);
  }
  return lines.join("\n") + "\n";
}

/**
 * Java's `String.format("%.Nf", x)`: java.util.Formatter rounds the shortest
 * decimal form of `x` (what Double.toString prints) half up, where `toFixed`
 * rounds its exact binary value (1.0005 is "1.001" in Java, "1.000" in JS).
 *
 * @example
 * ```ts
 * import { javaFixed } from "./hlog.ts";
 *
 * javaFixed(1.0005, 3); // "1.001"
 * ```
 */
export function javaFixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) return String(x);
  const [mantissa, exponent] = Math.abs(x).toExponential().split("e");
  const shortest = mantissa.replace(".", "");
  const kept = Number(exponent) + 1 + digits; // digits kept before rounding
  let scaled = 0n;
  if (kept >= 0) {
    const padded = shortest.padEnd(kept + 1, "0");
    scaled = BigInt(padded.slice(0, kept) || "0") + (Number(padded[kept]) >= 5 ? 1n : 0n);
  }
  const text = scaled.toString().padStart(digits + 1, "0");
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  return sign + (digits === 0 ? text : `${text.slice(0, -digits)}.${text.slice(-digits)}`);
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** java.util.Date#toString in UTC, "Tue Nov 14 22:13:20 UTC 2023": for people, readers skip it. */
function javaDate(ms: number): string {
  const date = new Date(ms);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[date.getUTCDay()]} ${MONTHS[date.getUTCMonth()]} ${two(date.getUTCDate())} ` +
    `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} UTC ` +
    date.getUTCFullYear();
}
