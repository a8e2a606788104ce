/**
 * `sockecho bench`: loads an echo server and prints what it measured, as a
 * table or as JSON, with a live progress line on a terminal.
 *
 * @example
 * ```ts
 * import { runCommand } from "../command.ts";
 * import { consoleIo } from "../io.ts";
 * import { benchCommand } from "./bench.ts";
 *
 * await runCommand(benchCommand, ["127.0.0.1", "-c", "8", "-d", "2"], consoleIo);
 * ```
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import {
  bench,
  BENCH_MODES,
  type BenchMode,
  type BenchProtocol,
  type BenchReport,
  type HttpTarget,
} from "../../bench/bench.ts";
import { missedThresholds, needsLatency, parseThresholds } from "../../bench/expect.ts";
import { formatHlog } from "../../bench/hlog.ts";
import { jsonStream } from "../../bench/stream.ts";
import { parseHostArgument } from "../address.ts";
import { type Parsed, parseSeconds, parseWhole, UsageError } from "../args.ts";
import type { Command } from "../command.ts";
import { ECHO_CLIENT_EXITS, EXIT, exitCodeHelp } from "../exit.ts";
import { inform, type MainIo } from "../io.ts";
import { interruption } from "../interrupt.ts";
import { runFacts } from "../facts.ts";
import { requireWrite, writeReportFile } from "../report_files.ts";
import { renderReport } from "../../bench/report.ts";
import { parseShard, parseStartAt, SHARD_HELP, SHARD_OPTIONS } from "../shard_options.ts";

import { ThresholdError } from "../../bench/expect.ts";
import { formatCount, formatSeconds, plural } from "../../net/format.ts";
import { DEFAULT_PORT } from "../../server.ts";
import { MAX_DATAGRAM_BYTES } from "../../net/udp.ts";
import { MIN_DATAGRAM_BYTES } from "../../bench/udp.ts";
import { urlTarget } from "../../diag/send_http.ts";
import { destination, wantsHttp } from "./send_http.ts";
import { formatReport, nounsOf } from "./bench_report.ts";
import {
  CLIENT_TRANSPORT_OPTIONS,
  clientTransport,
  clientTransportHelp,
} from "./transport_options.ts";

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
  port: { type: "string", short: "p" },
  json: { type: "boolean", default: false },
  force: { type: "boolean", default: false },
  // No default here: it is 1 s, but --udp takes none (see runBench).
  warmup: { type: "string" },
  rate: { type: "string" },
  expect: { type: "string" },
  "json-stream": { type: "boolean", default: false },
  hlog: { type: "string" },
  html: { type: "string" },
  ...SHARD_OPTIONS,
  ...CLIENT_TRANSPORT_OPTIONS,
  udp: { type: "boolean", default: false },
  http: { type: "boolean" },
  ws: { type: "boolean" },
} satisfies ParseArgsOptionsConfig;

const HELP = `Usage: sockecho bench HOST [options]
       sockecho bench --unix PATH [options]
       sockecho bench --http URL|HOST [options]
       sockecho bench --ws URL|HOST [options]

Loads an echo server and reports round trips/s, MB/s, connections/s and latency
(min/p50/p90/p99/p99.9/max). Every echoed byte is verified; a mismatch is an error.
Modes: pingpong (send a message, wait for its whole echo, repeat), bulk (stream
while reading the echo back), connect (connect, one echo, close, repeat).
HOST may be HOST:PORT, [IPv6] or [IPv6]:PORT, as the server prints it; a URL
as HOST implies --http or --ws by its scheme.

Options:
  -m, --mode MODE          pingpong, bulk or connect                  [pingpong]
  -c, --connections N      connections kept busy at once                [1]
  -s, --size BYTES         bytes per message (per write in bulk)        [64; bulk 65536]
  -d, --duration SECONDS   how long to run                              [5; ${BENCH_MAX_SECONDS} with -n]
  -n, --count N            stop after N messages in all (round trips,
                           connections, or bulk writes), or at the
                           duration if that comes first
  -w, --workers N          spread connections over N worker threads,
                           at most one per connection                   [1]
  -p, --port PORT          server port                                  [${DEFAULT_PORT}]
      --json               print the report as JSON, with its latencies and
                           each second's as HdrHistogram V2 compressed
                           histograms (ns), and the command and machine
      --hlog FILE          write the latencies of each second to FILE as an
                           HdrHistogram interval log (needs -W)
      --html FILE          write the report to FILE as a self-contained HTML
                           page with its plots, as sockecho report draws it
                           (needs -W)
      --udp                pingpong over UDP, one socket per connection:
                           a datagram not echoed within 1 s is counted
                           lost and the next one sent; size ${MIN_DATAGRAM_BYTES} to
                           ${MAX_DATAGRAM_BYTES}; the server's --udp-rate limits it
      --http               HOST, or URL (http://HOST[:PORT]/PATH?QUERY,
                           https://…; ports 80 and 443 by default, with
                           HOST -p or ${DEFAULT_PORT} and path /), is an HTTP/1.1
                           server ("serve --http"): each round trip POSTs
                           the message with Accept: application/octet-stream
                           (the raw format) on a kept-alive connection, one
                           request in flight per connection, and verifies
                           the echoed body; https:// or --tls take --ca,
                           --pin, --insecure, --servername; with --unix PATH
                           the URL gives only Host and path
      --ws                 the same over WebSocket (ws://, wss:// or HOST):
                           one binary message in flight per connection, its
                           echo verified. With --http or --ws a round trip
                           the server cuts or answers with a status other
                           than 2xx is counted in errors and the load goes
                           on (on a new connection if need be); not with
                           bulk or --udp
      --force              allow over ${BENCH_MAX_SECONDS} s or ${BENCH_MAX_CONNECTIONS} connections
      --warmup SECONDS     run this long first, counting nothing
                           (not with --udp)                             [1]
      --rate R             send R round trips (or connections) per second
                           in all on a fixed schedule; latency counts from
                           when each was due (not for bulk or --udp)
      --json-stream        one JSON line a second while running, the
                           report last (schema: docs/json.md)
      --expect LIST        thresholds the run must meet, e.g.
                           'p99<5ms,rate>10000,errors=0' (figures: min p50
                           p90 p99 p99.9 max in us/ms/s, rate, mbps,
                           shortfall %, errors); a miss exits 14
${SHARD_HELP}
${clientTransportHelp(27)}
  -h, --help               this text

A live progress line is shown once a second when stdout is a terminal.
Latency percentiles come from an HdrHistogram of ns (3 significant digits:
within 0.1 %). Shards' JSON reports add up with sockecho merge.
Ctrl+C ends the load early: the summary of what was measured is printed,
marked as cut short, and bench exits 130; a second Ctrl+C or SIGTERM exits
at once.

Exit codes:
${
  exitCodeHelp(
    [...ECHO_CLIENT_EXITS, EXIT.threshold, EXIT.badReport, EXIT.interrupted],
    {
      [EXIT.badReport]: "the --hlog or --html FILE cannot be written (after the summary)",
      [EXIT.interrupted]: "cut short by Ctrl+C (after the summary, or at once on a second one)",
    },
  )
}`;

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
  args: string[],
): Promise<number> {
  const mode = values.mode as BenchMode;
  if (!BENCH_MODES.includes(mode)) {
    throw new UsageError(`invalid --mode "${values.mode}": expected ${BENCH_MODES.join(", ")}`);
  }
  const { hostname, port, protocol, request, secure } = parseTarget(values, positionals, mode);
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
  if (values.udp && (values.tls || values.unix !== undefined)) {
    throw new UsageError("--udp cannot be combined with --tls or --unix");
  }
  if (values.udp) checkUdpLoad(mode, values.workers, values.size);
  const measure = parseMeasureOptions(values, mode);
  const split = parseSplitOptions(values, mode, connections);
  const size = values.size === undefined ? undefined : parseWhole(values.size, "--size");
  const workers = parseWhole(values.workers, "--workers");
  if (workers > connections) {
    inform(
      io,
      `running ${plural(connections, "worker")}, not ${formatCount(workers)}: ` +
        `a worker needs a connection of its own (-c ${connections})`,
    );
  }
  const stream = values["json-stream"] ? jsonStream(io.out) : undefined;
  const interrupt = interruption(io);
  let report: BenchReport;
  try {
    report = await bench({
      hostname,
      port,
      mode,
      connections,
      size,
      durationMs,
      count,
      workers,
      warmupMs: measure.warmupMs,
      rate: measure.rate,
      ...split,
      ...await clientTransport({ ...values, tls: secure }, io),
      udp: values.udp,
      protocol,
      request,
      signal: interrupt.signal,
      onProgress: io.status &&
        (({ elapsedMs, operations, bytes }) =>
          io.status!(
            `${(elapsedMs / 1000).toFixed(0)} s: ${
              plural(operations, ...nounsOf(mode, protocol))
            }, ` +
              `${(bytes / 1e6).toFixed(1)} MB echoed`,
          )),
      // Scripts reading the stream get its lines instead of the live status line.
      ...stream && { onProgress: stream.interval },
    });
  } finally {
    interrupt.dispose();
  }
  io.status?.("");
  const cutShort = interrupt.signal.aborted;
  // Over HTTP and WebSocket a counted error took its place in the count too.
  const done = report.operations + (report.errors?.count ?? 0);
  if (count !== undefined && done < count && !cutShort) {
    inform(
      io,
      `the ${formatSeconds(durationMs)} duration ended the run after ` +
        `${formatCount(done)} of --count ${plural(count, ...nounsOf(mode, protocol))}`,
    );
  }
  const final = { ...report, ...cutShort && { cutShort }, ...runFacts(["bench", ...args]) };
  if (stream) stream.end(final);
  else if (values.json) io.out(JSON.stringify(final, null, 2));
  else formatReport(report, cutShort).forEach((line) => io.out(line));
  // After the summary is out: a folder that is not there loses a file, not the figures.
  if (values.hlog !== undefined) await writeReportFile(values.hlog, formatHlog(report));
  if (values.html !== undefined) {
    await writeReportFile(values.html, renderReport([{ name: report.target, report: final }]));
  }
  // A run cut short says so by its exit code; its figures are not held to the thresholds.
  if (cutShort) return EXIT.interrupted;
  const missed = missedThresholds(measure.thresholds, report);
  if (missed.length > 0) throw new ThresholdError(`bench missed --expect ${missed.join(", ")}`);
  return EXIT.ok;
}

/**
 * What is loaded: HOST (with -p) over TCP, or with --http or --ws (or a URL
 * as HOST) the URL's server, its Host and path, and whether it speaks TLS.
 */
function parseTarget(
  values: Parsed<typeof OPTIONS>["values"],
  positionals: string[],
  mode: BenchMode,
): {
  hostname: string;
  port: number;
  protocol: BenchProtocol;
  request?: HttpTarget;
  secure: boolean;
} {
  const tooMany = (extra: string) => `bench takes one HOST, not also "${extra}"`;
  if (!wantsHttp(values, positionals)) {
    const { target } = parseHostArgument(positionals, {
      command: "bench",
      unix: values.unix,
      port: values.port,
      fallback: DEFAULT_PORT,
      tooMany,
    });
    return { ...target, protocol: "tcp", secure: values.tls };
  }
  const to = destination(values, positionals, { name: "bench", rest: 0, tooMany });
  const flag = to.ws ? "--ws" : "--http";
  if (mode === "bulk") throw new UsageError(`${flag} runs pingpong or connect, not bulk`);
  if (values.udp) throw new UsageError(`--udp cannot be combined with ${flag}`);
  const { hostname, port, host, path, secure } = urlTarget(to.url);
  return { hostname, port, protocol: to.ws ? "ws" : "http", request: { host, path }, secure };
}

/** Checks --warmup, --rate, --expect and --json-stream against the mode and each other. */
function parseMeasureOptions(values: Parsed<typeof OPTIONS>["values"], mode: BenchMode) {
  if (values.udp && (values.warmup ?? values.rate) !== undefined) {
    const flag = values.warmup === undefined ? "--rate" : "--warmup";
    throw new UsageError(`${flag} applies to TCP, TLS and Unix sockets, not --udp`);
  }
  // UDP has no connections to warm and nothing to compile ahead: no warm-up by default.
  const warmupMs = parseSeconds(values.warmup ?? (values.udp ? "0" : "1"), "--warmup", 0);
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

/** Checks --shard, --shards, --start-at, --hlog and --html; the shard and start time for bench(). */
function parseSplitOptions(
  values: Parsed<typeof OPTIONS>["values"],
  mode: BenchMode,
  connections: number,
) {
  const shard = parseShard(values);
  const startText = values["start-at"];
  if (values.udp && (shard !== undefined || startText !== undefined)) {
    const flag = startText === undefined ? "--shard" : "--start-at";
    throw new UsageError(`${flag} applies to TCP, TLS and Unix sockets, not --udp`);
  }
  if (shard && connections < shard.count) {
    throw new UsageError(
      `${shard.count} shards need at least ${shard.count} connections (-c ${connections})`,
    );
  }
  if (values.hlog !== undefined) {
    if (mode === "bulk") throw new UsageError("--hlog: bulk measures no latency");
    requireWrite(values.hlog);
  }
  if (values.html !== undefined) requireWrite(values.html);
  const startAt = startText === undefined ? undefined : parseStartAt(startText, Date.now());
  return { shard, startAt };
}

function parsePositive(text: string, flag: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value <= 0) {
    throw new UsageError(`invalid ${flag} "${text}": expected a number above 0`);
  }
  return value;
}

/** `--udp` runs pingpong only, in one thread, with sizes that fit a datagram. */
function checkUdpLoad(mode: BenchMode, workers: string, size: string | undefined): void {
  if (mode !== "pingpong") throw new UsageError(`--udp runs pingpong only, not --mode ${mode}`);
  if (workers !== "1") throw new UsageError("--udp runs in one thread: leave out --workers");
  const bytes = size === undefined ? 64 : parseWhole(size, "--size");
  if (bytes < MIN_DATAGRAM_BYTES || bytes > MAX_DATAGRAM_BYTES) {
    throw new UsageError(
      `invalid --size "${size}" with --udp: expected ${MIN_DATAGRAM_BYTES} to ${MAX_DATAGRAM_BYTES}`,
    );
  }
}
