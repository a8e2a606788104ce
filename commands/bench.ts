/**
 * `sockecho bench`: loads an echo server and prints what it measured, as a
 * table or as JSON, with a live progress line on a terminal.
 *
 * @example
 * ```ts
 * import { runCommand } from "../cli/command.ts";
 * import { consoleIo } from "../cli/io.ts";
 * import { benchCommand } from "./bench.ts";
 *
 * await runCommand(benchCommand, ["127.0.0.1", "-c", "8", "-d", "2"], consoleIo);
 * ```
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import { bench, BENCH_MODES, type BenchMode, type BenchReport } from "../bench/bench.ts";
import { missedThresholds, needsLatency, parseThresholds } from "../bench/expect.ts";
import { jsonStream } from "../bench/stream.ts";
import { type Parsed, parsePort, parseSeconds, parseWhole, UsageError } from "../cli/args.ts";
import type { Command } from "../cli/command.ts";
import { EXIT, EXIT_CODE_HELP } from "../cli/exit.ts";
import type { MainIo } from "../cli/io.ts";
import { ThresholdError } from "../errors.ts";
import { DEFAULT_PORT } from "../server.ts";

/** Longest load `bench` runs without --force, in seconds. */
const BENCH_MAX_SECONDS = 60;
/** Most connections `bench` opens without --force. */
const BENCH_MAX_CONNECTIONS = 10_000;

const OPTIONS = {
  mode: { type: "string", short: "m", default: "pingpong" },
  connections: { type: "string", short: "c", default: "1" },
  size: { type: "string", short: "s" },
  duration: { type: "string", short: "d" },
  count: { type: "string", short: "n" },
  workers: { type: "string", short: "w", default: "1" },
  port: { type: "string", short: "p", default: String(DEFAULT_PORT) },
  json: { type: "boolean", default: false },
  force: { type: "boolean", default: false },
  warmup: { type: "string", default: "1" },
  rate: { type: "string" },
  expect: { type: "string" },
  "json-stream": { type: "boolean", default: false },
} satisfies ParseArgsOptionsConfig;

const HELP = `Usage: sockecho bench HOST [options]

Loads an echo server and reports round trips/s, MB/s, connections/s and latency
(min/p50/p90/p99/p99.9/max). Every echoed byte is verified; a mismatch is an error.
Modes: pingpong (send a message, wait for its whole echo, repeat), bulk (stream
while reading the echo back), connect (connect, one echo, close, repeat).

Options:
  -m, --mode MODE          pingpong, bulk or connect                  [pingpong]
  -c, --connections N      connections kept busy at once                [1]
  -s, --size BYTES         bytes per message (per write in bulk)        [64; bulk 65536]
  -d, --duration SECONDS   how long to run                              [5; ${BENCH_MAX_SECONDS} with -n]
  -n, --count N            stop after N messages in all (round trips,
                           connections, or bulk writes), or at the
                           duration if that comes first
  -w, --workers N          spread connections over N worker threads     [1]
  -p, --port PORT          server port                                  [${DEFAULT_PORT}]
      --json               print the report as JSON
      --force              allow over ${BENCH_MAX_SECONDS} s or ${BENCH_MAX_CONNECTIONS} connections
      --warmup SECONDS     run this long first, counting nothing        [1]
      --rate R             send R round trips (or connections) per second
                           in all on a fixed schedule; latency counts from
                           when each was due (not for bulk)
      --json-stream        one JSON line a second while running, the
                           report last (see README for the schema)
      --expect LIST        thresholds the run must meet, e.g.
                           'p99<5ms,rate>10000,errors=0' (figures: min p50
                           p90 p99 p99.9 max in us/ms/s, rate, mbps,
                           shortfall %, errors); a miss exits 14
  -h, --help               this text

A live progress line is shown once a second when stdout is a terminal.
Latency percentiles come from an HDR histogram (3 significant digits).

Exit codes:
${EXIT_CODE_HELP}`;

/** The `bench` command. */
export const benchCommand: Command<typeof OPTIONS> = {
  name: "bench",
  synopsis: "bench HOST [options]",
  summary: "measure an echo server: round trips, MB/s, latency",
  options: OPTIONS,
  help: HELP,
  run: runBench,
};

async function runBench(
  { values, positionals }: Parsed<typeof OPTIONS>,
  io: MainIo,
): Promise<number> {
  const [hostname, extra] = positionals;
  if (hostname === undefined) {
    throw new UsageError("bench needs a HOST (try: sockecho bench --help)");
  }
  if (extra !== undefined) throw new UsageError(`bench takes one HOST, not "${extra}"`);
  const mode = values.mode as BenchMode;
  if (!BENCH_MODES.includes(mode)) {
    throw new UsageError(`invalid --mode "${values.mode}": expected ${BENCH_MODES.join(", ")}`);
  }
  const connections = parseWhole(values.connections, "--connections");
  const count = values.count === undefined ? undefined : parseWhole(values.count, "--count");
  // A counted run still stops by itself: at the count, or at the cap if that comes first.
  const durationMs = parseSeconds(
    values.duration ?? (count === undefined ? "5" : String(BENCH_MAX_SECONDS)),
    "--duration",
    0.001,
  );
  if (!values.force && durationMs > BENCH_MAX_SECONDS * 1000) {
    throw new UsageError(`--duration over ${BENCH_MAX_SECONDS} s needs --force`);
  }
  if (!values.force && connections > BENCH_MAX_CONNECTIONS) {
    throw new UsageError(`more than ${BENCH_MAX_CONNECTIONS} connections needs --force`);
  }
  const measure = parseMeasureOptions(values, mode);
  const stream = values["json-stream"] ? jsonStream(io.out) : undefined;
  const report = await bench({
    hostname,
    port: parsePort(values.port, 1),
    mode,
    connections,
    size: values.size === undefined ? undefined : parseWhole(values.size, "--size"),
    durationMs,
    count,
    workers: parseWhole(values.workers, "--workers"),
    warmupMs: measure.warmupMs,
    rate: measure.rate,
    onProgress: io.status &&
      (({ elapsedMs, operations, bytes }) =>
        io.status!(
          `${(elapsedMs / 1000).toFixed(0)} s: ${operations} ${unitOf(mode)}, ` +
            `${(bytes / 1e6).toFixed(1)} MB echoed`,
        )),
    // Scripts reading the stream get its lines instead of the live status line.
    ...stream && { onProgress: stream.interval },
  });
  io.status?.("");
  if (count !== undefined && report.operations < count) {
    io.err(
      `the ${durationMs / 1000} s duration ended the run after ${report.operations} of ` +
        `--count ${count} ${unitOf(mode)}`,
    );
  }
  if (stream) stream.end(report);
  else if (values.json) io.out(JSON.stringify(report, null, 2));
  else formatReport(report).forEach((line) => io.out(line));
  const missed = missedThresholds(measure.thresholds, report);
  if (missed.length > 0) throw new ThresholdError(`bench missed --expect ${missed.join(", ")}`);
  return EXIT.ok;
}

/** Checks --warmup, --rate, --expect and --json-stream against the mode and each other. */
function parseMeasureOptions(values: Parsed<typeof OPTIONS>["values"], mode: BenchMode) {
  const warmupMs = parseSeconds(values.warmup, "--warmup", 0);
  const rate = values.rate === undefined ? undefined : parsePositive(values.rate, "--rate");
  if (rate !== undefined && mode === "bulk") {
    throw new UsageError("--rate applies to pingpong and connect, not bulk");
  }
  if (values.json && values["json-stream"]) {
    throw new UsageError("--json and --json-stream do not go together: pick one");
  }
  let thresholds;
  try {
    thresholds = values.expect === undefined ? [] : parseThresholds(values.expect);
  } catch (error) {
    throw new UsageError(`invalid --expect: ${(error as Error).message}`);
  }
  const latencyOnly = thresholds.find((threshold) => mode === "bulk" && needsLatency(threshold));
  if (latencyOnly) {
    throw new UsageError(`invalid --expect: bulk measures no latency ("${latencyOnly.text}")`);
  }
  return { warmupMs, rate, thresholds };
}

function parsePositive(text: string, flag: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value <= 0) {
    throw new UsageError(`invalid ${flag} "${text}": expected a number above 0`);
  }
  return value;
}

function unitOf(mode: BenchMode): string {
  return { pingpong: "round trips", bulk: "writes", connect: "connections" }[mode];
}

/** The end-of-run table. */
function formatReport(report: BenchReport): string[] {
  const { mode, latencyMs: latency } = report;
  const rate = Math.round(report.operationsPerSecond).toLocaleString("en-US");
  const ms = (value: number) => value.toFixed(3);
  return [
    `mode         ${mode}`,
    `target       ${report.target}`,
    `load         ${report.connections} connections × ${report.size} B, ` +
    `${report.workers} worker${report.workers > 1 ? "s" : ""}, ${
      (report.elapsedMs / 1000).toFixed(2)
    } s${report.warmupMs > 0 ? ` after a ${report.warmupMs / 1000} s warm-up` : ""}`,
    `${unitOf(mode).padEnd(13)}${report.operations.toLocaleString("en-US")} (${rate}/s)`,
    `throughput   ${report.megabytesPerSecond.toFixed(1)} MB/s echoed and verified`,
    ...latency
      ? [
        `latency ms   min ${ms(latency.min)}  p50 ${ms(latency.p50)}  p90 ${ms(latency.p90)}  ` +
        `p99 ${ms(latency.p99)}  p99.9 ${ms(latency.p999)}  max ${ms(latency.max)}`,
      ]
      : [],
    ...report.rate ? [formatRate(report.rate, unitOf(mode))] : [],
  ];
}

/** How the achieved rate compares with the one asked for. */
function formatRate(rate: NonNullable<BenchReport["rate"]>, unit: string): string {
  const perSecond = (value: number) => Math.round(value).toLocaleString("en-US");
  return `rate         ${perSecond(rate.achieved)} ${unit}/s of ${perSecond(rate.offered)} ` +
    `offered (${rate.shortfallPercent.toFixed(1)} % short)`;
}
