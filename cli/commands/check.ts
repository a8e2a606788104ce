/**
 * `sockecho check HOST`: runs the checks of `check.ts` against an echo server
 * and prints a table of verdicts (or `--json`); the first failure's kind is
 * the exit code. With `--idle MAX` it discovers the idle timeout instead.
 * `check --http URL|HOST` runs `check_http.ts`'s HTTP checks into the same
 * table (with `--idle`, the keep-alive and WebSocket idle timeouts as rows).
 *
 * @example
 * ```ts
 * import { runCommand } from "../command.ts";
 * import { consoleIo } from "../io.ts";
 * import { checkCommand } from "./check.ts";
 *
 * await runCommand(checkCommand, ["127.0.0.1"], consoleIo);
 * ```
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import { parseHostArgument } from "../address.ts";
import { type Parsed, parseSeconds, parseWhole, UsageError } from "../args.ts";
import type { Command } from "../command.ts";
import { EXIT, exitCodeHelp, exitCodeOf, HTTP_CLIENT_EXITS } from "../exit.ts";
import { interruption } from "../interrupt.ts";
import type { MainIo } from "../io.ts";
import { check, type CheckReport } from "../../diag/check.ts";
import { checkHttp } from "../../diag/check_http.ts";
import { describeTarget, type Dialer, dialerFor, type DialTarget } from "../../net/dial.ts";

import { IdleCutError } from "../../diag/errors.ts";
import {
  discoverIdleTimeout,
  type IdleProgress,
  type IdleReport,
  idleSummary,
  MAX_IDLE_FLOWS,
} from "../../diag/idle.ts";
import { DEFAULT_PORT } from "../../server.ts";
import {
  DEFAULT_MAX_BODY,
  HTTP_CHECK_HELP,
  HTTP_CHECK_OPTIONS,
  httpCheckOptions,
  wantsHttpCheck,
} from "./check_http.ts";
import {
  CLIENT_TRANSPORT_OPTIONS,
  clientTransport,
  clientTransportHelp,
} from "./transport_options.ts";

const OPTIONS = {
  port: { type: "string", short: "p" },
  timeout: { type: "string", short: "t", default: "3" },
  json: { type: "boolean", default: false },
  idle: { type: "string" },
  "idle-flows": { type: "string", default: "20" },
  ...HTTP_CHECK_OPTIONS,
  ...CLIENT_TRANSPORT_OPTIONS,
} satisfies ParseArgsOptionsConfig;

const HELP = `Usage: sockecho check HOST [options]
       sockecho check --unix PATH [options]
       sockecho check --http URL|HOST [options]

Tests the echo server at HOST and everything between, and prints a verdict per
check: connect time; all 256 byte values, then a 1 MiB pattern, echoed exact on
one connection (on a difference, the first wrong byte's offset in the
connection, then in the pattern, and a hex view around it); how the reply was
segmented (information only); a second connection served while the first
stays open; half-close (64 KiB, then our FIN: does all of the echo come back,
and then the server's FIN?). Every step is bounded by --timeout.
HOST may be HOST:PORT, [IPv6] or [IPv6]:PORT, as the server prints it.
Over --tls the TLS handshake is its own row (time, protocol, cipher, the
certificate's SHA-256); a refused certificate exits 11, a peer that does not
speak TLS 12. With --unix PATH the checks run over a Unix domain socket.

Options:
  -p, --port PORT        server port                                [${DEFAULT_PORT}]
  -t, --timeout SECONDS  time for each step (connect, echo, FIN)    [3]
      --json             print the report as one JSON object
      --idle MAX         instead (with --http: as well), find how long an
                         idle connection lives (server, firewall, NAT,
                         load balancer), up to MAX seconds; takes about
                         1.25 × MAX
      --idle-flows N     connections for --idle, at most ${MAX_IDLE_FLOWS}        [20]
      --http             check HTTP instead (below); implied by a URL
      --max-body BYTES   the largest body --http tries        [${DEFAULT_MAX_BODY}]
${clientTransportHelp(25)}
  -h, --help             this text

The exit code is that of the first failed check (15 to 18 below, or 3, 4, 5
when HOST cannot be reached, 11, 12 when TLS fails).

${HTTP_CHECK_HELP}

Idle-timeout discovery (--idle MAX): N connections in parallel each exchange
one echo, stay idle for MAX × 1/N, 2/N … MAX, then send a probe. It reports
the longest idle time that survived, the shortest after which a flow was cut,
and how each died: FIN or reset (seen the moment it comes, so timed exactly)
or silence (the probe got no answer). Flows start staggered over MAX/4, so a
far end that sweeps idle flows only now and then is caught at many phases.
Exit 0 when every flow survived, 19 when some were cut. E.g. for HAProxy's
"timeout client 5s": sockecho check HOST -p PORT --idle 8. Over --tls
and --unix too.

Exit codes:
${
  exitCodeHelp(
    [
      EXIT.resolve,
      EXIT.connect,
      EXIT.timeout,
      EXIT.tlsVerify,
      EXIT.notTls,
      EXIT.echoCorrupted,
      EXIT.echoIncomplete,
      EXIT.halfClose,
      EXIT.oneClientAtATime,
      EXIT.idleCut,
      ...HTTP_CLIENT_EXITS,
      EXIT.interrupted,
    ],
    { [EXIT.interrupted]: "--idle stopped at once by a second Ctrl+C or SIGTERM" },
  )
}`;

/** The `check` command. */
export const checkCommand: Command<typeof OPTIONS> = {
  name: "check",
  synopsis: "check HOST|URL [options]",
  summary: "is this echo path whole? a table of verdicts",
  options: OPTIONS,
  help: HELP,
  run: runCheck,
};

async function runCheck(
  { values, positionals }: Parsed<typeof OPTIONS>,
  io: MainIo,
): Promise<number> {
  const timeoutMs = parseSeconds(values.timeout, "--timeout", 0.001);
  const idle = values.idle === undefined ? undefined : {
    maxMs: parseSeconds(values.idle, "--idle", 0.1),
    flows: parseIdleFlows(values["idle-flows"]),
  };
  if (wantsHttpCheck(values, positionals)) {
    return await runHttpCheck(values, positionals, { timeoutMs, idle }, io);
  }
  if (values["max-body"] !== undefined) {
    throw new UsageError("--max-body is for --http: leave it out of a TCP check");
  }
  const { target: net } = parseHostArgument(positionals, {
    command: "check",
    unix: values.unix,
    port: values.port,
    fallback: DEFAULT_PORT,
    tooMany: (extra) =>
      values.unix === undefined
        ? `check takes one HOST, not also "${extra}"`
        : `check --unix PATH takes no HOST, not "${extra}"`,
  });
  const { target, dial } = dialerFor(net, await clientTransport(values, io));
  const where = describeTarget(target);
  if (idle) return await runIdle(where, { target, dial, timeoutMs, ...idle }, values.json, io);
  return report(where, await check({ target, dial, timeoutMs }), values.json, io);
}

function parseIdleFlows(text: string): number {
  const flows = parseWhole(text, "--idle-flows");
  if (flows > MAX_IDLE_FLOWS) {
    throw new UsageError(
      `invalid --idle-flows "${text}": expected a whole number from 1 to ${MAX_IDLE_FLOWS}`,
    );
  }
  return flows;
}

/** `check --http`: the checks, with the idle timeouts when `--idle` asks, then the table. */
async function runHttpCheck(
  values: Parsed<typeof OPTIONS>["values"],
  positionals: string[],
  { timeoutMs, idle }: { timeoutMs: number; idle?: { maxMs: number; flows: number } },
  io: MainIo,
): Promise<number> {
  const options = await httpCheckOptions(values, positionals, io);
  const stop = idle && interruption(io);
  try {
    const found = await checkHttp({
      ...options,
      timeoutMs,
      idle: idle && { ...idle, signal: stop!.signal, onProgress: showProgress(io) },
    });
    const where = options.path ? `${options.url.href} over ${options.path}` : options.url.href;
    return report(where, found, values.json, io, "HTTP");
  } finally {
    stop?.dispose();
    if (idle) io.status?.("");
  }
}

/** Prints the report as the table or JSON; throws its failure, whose kind is the exit code. */
function report(
  where: string,
  found: CheckReport,
  json: boolean,
  io: MainIo,
  what = "echo",
): number {
  if (json) io.out(JSON.stringify(reportJson(where, found)));
  else reportLines(where, found, what).forEach((line) => io.out(line));
  if (found.failure) throw found.failure;
  return EXIT.ok;
}

/** The progress line of an idle discovery, on a terminal. */
function showProgress(io: MainIo): (progress: IdleProgress) => void {
  return ({ elapsedMs, totalMs, done, cut, flows }) =>
    io.status?.(
      `${(elapsedMs / 1000).toFixed(0)} s of ${(totalMs / 1000).toFixed(0)} s: ` +
        `${done} of ${flows} flows done, ${cut} cut`,
    );
}

/** The table: one row per check, a hex view under a corrupted echo, a verdict line. */
function reportLines(where: string, { rows }: CheckReport, what: string): string[] {
  const failed = rows.filter((row) => row.verdict === "fail").length;
  const checked = rows.filter((row) => row.verdict === "pass" || row.verdict === "fail").length;
  const width = Math.max(15, ...rows.map((row) => row.name.length + 1));
  return [
    `check ${where}`,
    ...rows.flatMap((row) => [
      `  ${row.name.padEnd(width)}${row.verdict.padEnd(6)}` +
      `${row.ms === undefined ? "" : `${row.ms.toFixed(3)} ms`}`.padStart(12) + `  ${row.detail}`,
      ...(row.view?.split("\n").map((line) => `${" ".repeat(width + 20)}${line}`) ?? []),
    ]),
    failed === 0
      ? `verdict: the ${what} path is whole`
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
      ...row.facts && { facts: row.facts },
    })),
  };
}

/** `check --idle`: the discovery, its progress line, its table or JSON. */
async function runIdle(
  where: string,
  options: {
    target: DialTarget;
    dial: Dialer;
    maxMs: number;
    flows: number;
    timeoutMs: number;
  },
  json: boolean,
  io: MainIo,
): Promise<number> {
  const { maxMs, flows } = options;
  if (!json) {
    io.out(
      `idle check ${where}: ${flows} connections idle up to ${maxMs / 1000} s (about ${
        (maxMs * 1.25 / 1000).toFixed(1)
      } s)`,
    );
  }
  const stop = interruption(io);
  let report: IdleReport;
  try {
    report = await discoverIdleTimeout({
      ...options,
      signal: stop.signal,
      onProgress: showProgress(io),
    });
  } finally {
    stop.dispose();
    io.status?.("");
  }
  const cutError = report.shortestCutMs === undefined ? undefined : new IdleCutError(
    `idle connections are cut after ${seconds(report.shortestCutMs)} s` +
      (report.longestSurvivedMs === undefined
        ? ""
        : ` (${seconds(report.longestSurvivedMs)} s survived)`),
  );
  if (json) io.out(JSON.stringify(idleJson(where, maxMs, report, cutError)));
  else idleLines(report, maxMs).forEach((line) => io.out(line));
  if (cutError) throw cutError;
  return EXIT.ok;
}

function idleLines(
  { flows, longestSurvivedMs, shortestCutMs, interrupted }: IdleReport,
  maxMs: number,
): string[] {
  const deaths = ["fin", "reset", "silence"].map((death) =>
    `${death === "fin" ? "FIN" : death} ${flows.filter((flow) => flow.death === death).length}`
  ).join(", ");
  return [
    "  idle s    result",
    ...flows.map((flow) =>
      `  ${seconds(flow.idleMs).padStart(7)}   ` +
      (flow.survived
        ? "survived"
        : flow.error
        ? `failed to start: ${flow.error.message}`
        : flow.death === "silence"
        ? "cut: the probe got no answer"
        : `cut by ${flow.death === "fin" ? "FIN" : "reset"} after ${
          seconds(flow.cutAfterMs!)
        } s idle`)
    ),
    `longest idle that survived: ${
      longestSurvivedMs === undefined ? "none" : `${seconds(longestSurvivedMs)} s`
    }`,
    `shortest idle that was cut: ${
      shortestCutMs === undefined ? "none" : `${seconds(shortestCutMs)} s (${deaths})`
    }`,
    ...(shortestCutMs !== undefined && longestSurvivedMs !== undefined &&
        longestSurvivedMs > shortestCutMs
      ? ["(longer idle times survived too: the far end looks for idle flows only now and then)"]
      : []),
    (interrupted ? "interrupted; " : "") +
    (shortestCutMs === undefined
      ? `verdict: no idle connection was cut within ${maxMs / 1000} s`
      : `verdict: idle connections are cut after about ${seconds(shortestCutMs)} s`),
  ];
}

function idleJson(where: string, maxMs: number, report: IdleReport, cutError?: Error) {
  const { longestSurvivedS, shortestCutS, interrupted, flows } = idleSummary(report);
  return {
    target: where,
    maxS: maxMs / 1000,
    longestSurvivedS,
    shortestCutS,
    interrupted,
    exitCode: cutError ? exitCodeOf(cutError) : EXIT.ok,
    flows,
  };
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}
