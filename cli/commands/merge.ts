/**
 * `sockecho merge`: adds up the `bench --json` reports of the shards of one
 * load (or of runs made side by side) and prints a row per file and the
 * total, as a table or as JSON, judging `--expect` on the total.
 *
 * @example
 * ```ts
 * import { runCommand } from "../command.ts";
 * import { consoleIo } from "../io.ts";
 * import { mergeCommand } from "./merge.ts";
 *
 * await runCommand(mergeCommand, ["shard-0.json", "shard-1.json", "--expect", "p99<5ms"], consoleIo);
 * ```
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import { missedThresholds, parseThresholds, ThresholdError } from "../../bench/expect.ts";
import { mergeReports } from "../../bench/merge.ts";
import type { BenchReport } from "../../bench/bench.ts";
import { type Parsed, UsageError } from "../args.ts";
import type { Command } from "../command.ts";
import { EXIT, exitCodeHelp } from "../exit.ts";
import type { MainIo } from "../io.ts";
import { runFacts } from "../facts.ts";
import { readReportFiles } from "../report_files.ts";
import { formatCount } from "../../net/format.ts";

const OPTIONS = {
  json: { type: "boolean", default: false },
  expect: { type: "string" },
} satisfies ParseArgsOptionsConfig;

const HELP = `Usage: sockecho merge FILE... [options]

Adds up the reports of sockecho bench --json (the shards of one load, run with
--shard or --shards, or runs made side by side): latency histograms are added
exactly (same geometry required: an average of percentiles would be wrong),
counters summed, and each second's intervals added up. Prints a row per file
and the total. Every shard of a split load must be there, once.

Options:
      --json               print the merged report as JSON (the shape of
                           bench --json, with a "parts" row per file)
      --expect LIST        thresholds the total must meet, as bench's
                           (e.g. 'p99<5ms,rate>10000'); a miss exits 14
  -h, --help               this text

Reading the files needs -R (--allow-read).

Exit codes:
${exitCodeHelp([EXIT.threshold, EXIT.badReport])}`;

/** The `merge` command. */
export const mergeCommand: Command<typeof OPTIONS> = {
  name: "merge",
  synopsis: "merge FILE... [options]",
  summary: "add up bench --json reports (shards) exactly",
  options: OPTIONS,
  help: HELP,
  run: runMerge,
};

async function runMerge(
  { values, positionals }: Parsed<typeof OPTIONS>,
  io: MainIo,
  args: string[],
): Promise<number> {
  if (positionals.length === 0) throw new UsageError("merge needs at least one FILE");
  let thresholds;
  try {
    thresholds = values.expect === undefined ? [] : parseThresholds(values.expect);
  } catch (error) {
    throw new UsageError(`invalid --expect: ${(error as Error).message}`);
  }
  const reports = await readReportFiles(positionals, "merge");
  const merged = mergeReports(reports);
  if (values.json) {
    io.out(JSON.stringify({ ...merged, ...runFacts(["merge", ...args]) }, null, 2));
  } else {
    formatTable(merged.parts, merged).forEach((line) => io.out(line));
  }
  const missed = missedThresholds(thresholds, merged);
  if (missed.length > 0) throw new ThresholdError(`merge missed --expect ${missed.join(", ")}`);
  return EXIT.ok;
}

/** A row per file, then the total: what each did and the latencies it saw. */
function formatTable(parts: (BenchReport & { file: string })[], total: BenchReport): string[] {
  const ms = (value: number | undefined) => (value === undefined ? "-" : value.toFixed(3));
  const row = (name: string, report: BenchReport) =>
    [
      name.padEnd(8),
      formatCount(report.operations).padStart(12),
      formatCount(Math.round(report.operationsPerSecond)).padStart(10),
      ...[report.latencyMs?.p50, report.latencyMs?.p90, report.latencyMs?.p99].map((value) =>
        ms(value).padStart(8)
      ),
      ms(report.latencyMs?.p999).padStart(8),
      ms(report.latencyMs?.max).padStart(9),
    ].join(" ");
  const header = [
    "shard".padEnd(8),
    "operations".padStart(12),
    "per s".padStart(10),
    ..."p50 p90 p99 p99.9".split(" ").map((name) => `${name} ms`.padStart(8)),
    "max ms".padStart(9),
  ].join(" ");
  return [
    header,
    ...parts.map((part, i) =>
      `${
        row(part.shard ? `${part.shard.index}/${part.shard.count}` : String(i), part)
      }  ${part.file}`
    ),
    row("total", total),
    `${total.mode}, ${formatCount(total.connections)} connections × ${formatCount(total.size)} B` +
    (total.rate
      ? `, ${formatCount(Math.round(total.rate.achieved))}/s of ` +
        `${formatCount(Math.round(total.rate.offered))} offered ` +
        `(${total.rate.shortfallPercent.toFixed(1)} % short)`
      : ""),
  ];
}
