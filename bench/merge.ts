/**
 * `sockecho merge`'s arithmetic: the JSON reports of the shards of one load
 * (or of runs made side by side) become one report, exactly: histograms of
 * the same geometry added slot by slot, counters summed, each second's
 * intervals added up. Averaging percentiles would be wrong; adding
 * histograms is not. A file that is not a whole `bench --json` report is
 * refused with a {@linkcode ReportFileError} naming it.
 *
 * @example
 * ```ts
 * import { mergeReports, parseReport } from "./merge.ts";
 *
 * const files = ["shard-0.json", "shard-1.json"];
 * const reports = await Promise.all(
 *   files.map(async (file) => parseReport(await Deno.readTextFile(file), file)),
 * );
 * console.log(mergeReports(reports).latencyMs?.p99);
 * ```
 *
 * @module
 */

import { BENCH_MODES, type BenchReport } from "./bench.ts";
import { addErrors } from "./failures.ts";
import { Histogram } from "./histogram.ts";
import { decodeHistogram, encodeHistogram } from "./histogram_codec.ts";
import { combineIntervals, type IntervalPart } from "./intervals.ts";
import { SockechoError } from "../net/errors.ts";

/**
 * A report file that cannot be used: unreadable, truncated, foreign, not of
 * the same load as the others to merge, or not writable.
 */
export class ReportFileError extends SockechoError {}

/** A saved report and the file it came from. */
export interface NamedReport {
  file: string;
  report: BenchReport;
}

/** The merge of several reports, with a row per report. */
export type MergedReport = BenchReport & { parts: (NamedReport["report"] & { file: string })[] };

/** Fields every `bench --json` report has, and their types. */
const REQUIRED: Record<string, string> = {
  mode: "string",
  target: "string",
  connections: "number",
  size: "number",
  workers: "number",
  elapsedMs: "number",
  operations: "number",
  bytes: "number",
  warmupMs: "number",
  startTimeMs: "number",
};

/**
 * The report in `text`, read from `file` to `verb` ("cannot merge FILE: …").
 * Throws {@linkcode ReportFileError} for text that is not JSON (a truncated file), not a `bench --json` report
 * (another tool's JSON, a report of an older sockecho), or whose histograms
 * do not decode.
 *
 * @example
 * ```ts
 * import { parseReport } from "./merge.ts";
 *
 * parseReport("{}", "empty.json"); // throws: not a sockecho bench --json report
 * ```
 */
export function parseReport(text: string, file: string, verb = "merge"): NamedReport {
  const cannot = (why: string) => new ReportFileError(`cannot ${verb} ${file}: ${why}`);
  let report;
  try {
    report = JSON.parse(text);
  } catch (error) {
    throw cannot(`not JSON, or cut short (${(error as Error).message})`);
  }
  if (typeof report !== "object" || report === null || Array.isArray(report)) {
    throw cannot("not a sockecho bench --json report (not an object)");
  }
  const missing =
    Object.entries(REQUIRED).find(([key, type]) => typeof report[key] !== type)?.[0] ??
      (!("histogram" in report) || !Array.isArray(report.intervals) ? "histogram" : undefined);
  if (missing !== undefined) {
    throw cannot(`not a sockecho bench --json report (no "${missing}" in it)`);
  }
  if (!BENCH_MODES.includes(report.mode)) throw cannot(`unknown mode "${report.mode}"`);
  const histograms = [
    report.histogram,
    // A foreign entry (null, a number) has none: undefined, refused as not decoding.
    ...report.intervals.map((i: BenchReport["intervals"][0] | null) => i?.histogram),
  ];
  for (const histogram of histograms) {
    if (histogram === null) continue;
    try {
      decodeHistogram(histogram);
    } catch (error) {
      throw cannot(`a histogram in it does not decode: ${(error as Error).message}`);
    }
  }
  return { file, report };
}

/**
 * One report of several: what they measured together. They must be of one
 * workload and size, with histograms of one geometry; shards of a split load
 * must be there each once. Throws {@linkcode ReportFileError} naming the file
 * that does not fit.
 *
 * @example
 * ```ts
 * import { mergeReports, type NamedReport } from "./merge.ts";
 *
 * declare const shards: NamedReport[];
 * const { operations, latencyMs } = mergeReports(shards);
 * ```
 */
export function mergeReports(reports: NamedReport[]): MergedReport {
  const [first] = reports;
  checkShards(reports);
  let latencies: Histogram | null = null;
  for (const { file, report } of reports) {
    const misfit = (why: string) => new ReportFileError(`cannot merge ${file}: ${why}`);
    if (report.mode !== first.report.mode || report.size !== first.report.size) {
      throw misfit(
        `a ${report.mode} run of ${report.size} B, not ${first.report.mode} of ` +
          `${first.report.size} B like ${first.file}`,
      );
    }
    const protocol = report.protocol ?? "tcp";
    if (protocol !== (first.report.protocol ?? "tcp")) {
      throw misfit(
        `a run over ${protocol}, not ${first.report.protocol ?? "tcp"} like ${first.file}`,
      );
    }
    if (report.histogram === null) continue;
    const histogram = decodeHistogram(report.histogram);
    if (latencies && !latencies.sameGeometry(histogram)) {
      throw misfit(
        `its histogram's geometry (${histogram.describe()}) differs from ` +
          `${first.file}'s (${latencies.describe()}): they cannot be added exactly`,
      );
    }
    if (latencies) latencies.add(histogram);
    else latencies = histogram;
  }
  const sum = (of: (report: BenchReport) => number) =>
    reports.reduce((total, { report }) => total + of(report), 0);
  const elapsedMs = Math.max(...reports.map(({ report }) => report.elapsedMs));
  const perSecond = (amount: number) => elapsedMs > 0 ? amount / (elapsedMs / 1000) : 0;
  const operationsPerSecond = perSecond(sum((r) => r.operations));
  const offered = reports.every(({ report }) => report.rate) ? sum((r) => r.rate!.offered) : null;
  const lost = reports.some(({ report }) => report.lost !== undefined)
    ? sum((r) => r.lost ?? 0)
    : undefined;
  const counted = reports.flatMap(({ report }) => report.errors ? [report.errors] : []);
  return {
    mode: first.report.mode,
    ...first.report.protocol && { protocol: first.report.protocol },
    ...first.report.url && {
      url: [...new Set(reports.map(({ report }) => report.url))].join(", "),
    },
    target: [...new Set(reports.map(({ report }) => report.target))].join(", "),
    connections: sum((r) => r.connections),
    size: first.report.size,
    workers: sum((r) => r.workers),
    elapsedMs,
    operations: sum((r) => r.operations),
    bytes: sum((r) => r.bytes),
    operationsPerSecond,
    megabytesPerSecond: perSecond(sum((r) => r.bytes) / 1e6),
    latencyMs: latencies?.summary() ?? null,
    histogram: latencies && encodeHistogram(latencies),
    intervals: combineIntervals(reports.map(({ report }) => report.intervals.map(partOf))),
    startTimeMs: Math.min(...reports.map(({ report }) => report.startTimeMs)),
    shard: null,
    warmupMs: Math.max(...reports.map(({ report }) => report.warmupMs)),
    rate: offered === null ? null : {
      offered,
      achieved: operationsPerSecond,
      shortfallPercent: Math.max(0, 100 * (1 - operationsPerSecond / offered)),
    },
    ...lost !== undefined && { lost },
    ...counted.length > 0 && { errors: addErrors(counted) },
    parts: reports.map(({ file, report }) => ({ ...report, file })),
  };
}

/** Shards of one split load: all of them, each once; or no shards at all. */
function checkShards(reports: NamedReport[]): void {
  const [first] = reports;
  const count = first.report.shard?.count;
  const seen = new Map<number, string>();
  for (const { file, report } of reports) {
    const shard = report.shard;
    if (shard?.count !== count) {
      const what = (n: number | undefined) => n === undefined ? "no shard" : `a shard of ${n}`;
      throw new ReportFileError(
        `cannot merge ${file}: ${what(shard?.count)}, not ${what(count)} like ${first.file}`,
      );
    }
    if (!shard) continue;
    const again = seen.get(shard.index);
    if (again !== undefined) {
      throw new ReportFileError(
        `cannot merge ${file}: shard ${shard.index} of ${shard.count} again (also ${again})`,
      );
    }
    seen.set(shard.index, file);
  }
  if (count === undefined || seen.size === count) return;
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !seen.has(i));
  throw new ReportFileError(
    `cannot merge: shard${missing.length > 1 ? "s" : ""} ${missing.join(", ")} of ${count} ` +
      `missing (a shard that failed writes no report)`,
  );
}

function partOf({ histogram, ...interval }: BenchReport["intervals"][0]): IntervalPart {
  return { ...interval, latencies: histogram === null ? null : decodeHistogram(histogram) };
}
