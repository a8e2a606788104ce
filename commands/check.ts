/**
 * `sockecho check HOST`: runs the checks of `check.ts` against an echo server
 * and prints a table of verdicts (or `--json`); the first failure's kind is
 * the exit code. With `--idle MAX` it discovers the idle timeout instead.
 *
 * @example
 * ```ts
 * import { runCommand } from "../cli/command.ts";
 * import { consoleIo } from "../cli/io.ts";
 * import { checkCommand } from "./check.ts";
 *
 * await runCommand(checkCommand, ["127.0.0.1"], consoleIo);
 * ```
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import { type Parsed, parsePort, parseSeconds, UsageError } from "../cli/args.ts";
import type { Command } from "../cli/command.ts";
import { EXIT, EXIT_CODE_HELP, exitCodeOf } from "../cli/exit.ts";
import type { MainIo } from "../cli/io.ts";
import { check, type CheckReport } from "../check.ts";
import { formatAddress } from "../format.ts";
import { DEFAULT_PORT } from "../server.ts";

const OPTIONS = {
  port: { type: "string", short: "p", default: String(DEFAULT_PORT) },
  timeout: { type: "string", short: "t", default: "3" },
  json: { type: "boolean", default: false },
} satisfies ParseArgsOptionsConfig;

const HELP = `Usage: sockecho check HOST [options]

Tests the echo server at HOST and everything between, and prints a verdict per
check: connect time; all 256 byte values and a 1 MiB pattern echoed exact (on a
difference, the offset of the first wrong byte and a hex view around it); how
the reply was segmented (information only); a second connection served while
the first stays open; half-close (64 KiB, then our FIN: does all of the echo
come back, and then the server's FIN?). Every step is bounded by --timeout.

Options:
  -p, --port PORT        server port                                [${DEFAULT_PORT}]
  -t, --timeout SECONDS  time for each step (connect, echo, FIN)    [3]
      --json             print the report as one JSON object
  -h, --help             this text

The exit code is that of the first failed check (15 to 18 below, or 3, 4 when
HOST cannot be reached).

Exit codes:
${EXIT_CODE_HELP}`;

/** The `check` command. */
export const checkCommand: Command<typeof OPTIONS> = {
  name: "check",
  synopsis: "check HOST [options]",
  summary: "is this echo path whole? a table of verdicts",
  options: OPTIONS,
  help: HELP,
  run: runCheck,
};

async function runCheck(
  { values, positionals }: Parsed<typeof OPTIONS>,
  io: MainIo,
): Promise<number> {
  const [hostname, extra] = positionals;
  if (hostname === undefined) {
    throw new UsageError("check needs a HOST (try: sockecho check --help)");
  }
  if (extra !== undefined) throw new UsageError(`check takes one HOST, not "${extra}"`);
  const target = { hostname, port: parsePort(values.port, 1) };
  const report = await check({
    target,
    timeoutMs: parseSeconds(values.timeout, "--timeout", 0.001),
  });
  const where = formatAddress(target);
  if (values.json) io.out(JSON.stringify(reportJson(where, report)));
  else reportLines(where, report).forEach((line) => io.out(line));
  if (report.failure) throw report.failure;
  return EXIT.ok;
}

/** The table: one row per check, a hex view under a corrupted echo, a verdict line. */
function reportLines(where: string, { rows }: CheckReport): string[] {
  const failed = rows.filter((row) => row.verdict === "fail").length;
  const checked = rows.filter((row) => row.verdict === "pass" || row.verdict === "fail").length;
  return [
    `check ${where}`,
    ...rows.flatMap((row) => [
      `  ${row.name.padEnd(15)}${row.verdict.padEnd(6)}` +
      `${row.ms === undefined ? "" : `${row.ms.toFixed(3)} ms`}`.padStart(12) + `  ${row.detail}`,
      ...(row.view?.split("\n").map((line) => `${" ".repeat(35)}${line}`) ?? []),
    ]),
    failed === 0
      ? "verdict: the echo path is whole"
      : `verdict: ${failed} of ${checked} checks failed`,
  ];
}

function reportJson(where: string, { rows, failure }: CheckReport) {
  return {
    target: where,
    ok: failure === undefined,
    exitCode: failure ? exitCodeOf(failure) : EXIT.ok,
    checks: rows.map((row) => ({
      name: row.name,
      verdict: row.verdict,
      ms: row.ms === undefined ? null : Math.round(row.ms * 1000) / 1000,
      detail: row.detail,
      view: row.view ?? null,
      exitCode: row.error ? exitCodeOf(row.error) : null,
    })),
  };
}
