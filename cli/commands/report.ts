/**
 * `sockecho report`: draws saved `bench --json` (or `merge --json`) reports
 * as one self-contained HTML page, every file a run overlaid on the same
 * plots, to a file or to stdout.
 *
 * @example
 * ```ts
 * import { runCommand } from "../command.ts";
 * import { consoleIo } from "../io.ts";
 * import { reportCommand } from "./report.ts";
 *
 * await runCommand(reportCommand, ["before.json", "after.json", "-o", "report.html"], consoleIo);
 * ```
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import { renderReport } from "../../bench/report.ts";
import { type Parsed, UsageError } from "../args.ts";
import type { Command } from "../command.ts";
import { EXIT, exitCodeHelp } from "../exit.ts";
import type { MainIo } from "../io.ts";
import { readReportFiles, requireWrite, writeReportFile } from "../report_files.ts";

const OPTIONS = {
  output: { type: "string", short: "o", default: "-" },
  title: { type: "string" },
} satisfies ParseArgsOptionsConfig;

const HELP = `Usage: sockecho report FILE... [options]

Draws the reports of sockecho bench --json (or sockecho merge --json) as one
self-contained HTML page: HdrHistogram's percentile plot (latency against
1/(1-p) on a log scale, 50% to 99.9% and beyond), round trips/s and p99
second by second, the counters, and each run's command and machine. Every
FILE is a run, overlaid on the same plots in its own colour: before and
after, shards and their merge. The page loads nothing and runs no script.

Options:
  -o, --output FILE        write the page to FILE (needs -W); - writes it
                           to stdout                                    [-]
      --title TEXT         the page's title and heading
                           [sockecho bench report]
  -h, --help               this text

Reading the files needs -R (--allow-read).

Exit codes:
${
  exitCodeHelp([EXIT.badReport], {
    [EXIT.badReport]: "a FILE is not a report, or -o FILE cannot be written",
  })
}`;

/** The `report` command. */
export const reportCommand: Command<typeof OPTIONS> = {
  name: "report",
  synopsis: "report FILE... [-o PAGE]",
  summary: "draw bench --json reports as one HTML page",
  options: OPTIONS,
  help: HELP,
  run: runReport,
};

async function runReport(
  { values, positionals }: Parsed<typeof OPTIONS>,
  io: MainIo,
): Promise<number> {
  if (positionals.length === 0) throw new UsageError("report needs at least one FILE");
  const toStdout = values.output === "-";
  if (!toStdout) requireWrite(values.output);
  const runs = (await readReportFiles(positionals, "plot")).map(({ file, report }) => ({
    name: file,
    report,
  }));
  const page = renderReport(runs, { title: values.title });
  if (toStdout) io.out(page.trimEnd());
  else await writeReportFile(values.output, page);
  return EXIT.ok;
}
