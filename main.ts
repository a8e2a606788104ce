/**
 * The `sockecho` command line: parses arguments, runs a subcommand through the
 * library modules, prints, and maps every failure to one exit code.
 *
 * @example
 * ```sh
 * deno run -N main.ts serve --port 4321
 * deno run -N main.ts send 127.0.0.1 "hello"
 * ```
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { bench, BENCH_MODES, type BenchMode, type BenchReport } from "./bench.ts";
import { send } from "./client.ts";
import {
  AddressInUseError,
  AddressUnavailableError,
  BindPermissionError,
  ClosedEarlyError,
  ConnectError,
  describeOsError,
  MismatchError,
  ResolveError,
  SockechoError,
  TimeoutError,
} from "./errors.ts";
import { escapeBytes, formatAddress, formatEpochMicros } from "./format.ts";
import { RateLimitedLog } from "./log.ts";
import { DEFAULT_PORT, serve } from "./server.ts";

/** The version `--version` prints. */
export const VERSION = "0.1.0";

/** `serve` reports failing accepts (e.g. out of descriptors) at most this often. */
const ACCEPT_COMPLAINT_INTERVAL_MS = 10_000;

/** Exit codes, one per kind of failure. */
export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  resolve: 3,
  connect: 4,
  timeout: 5,
  closedEarly: 6,
  mismatch: 7,
  addressInUse: 8,
  bindPermission: 9,
  addressUnavailable: 10,
  interrupted: 130,
} as const;

type ErrorClass = abstract new (...args: never[]) => Error;

/** Which exit code each typed error ends the program with, and what it means. */
const ERROR_EXITS: [ErrorClass, number, string][] = [
  [ResolveError, EXIT.resolve, "the host name does not resolve"],
  [ConnectError, EXIT.connect, "connection refused or host unreachable"],
  [TimeoutError, EXIT.timeout, "timed out (connect or echo)"],
  [ClosedEarlyError, EXIT.closedEarly, "server closed or reset before the whole echo came back"],
  [MismatchError, EXIT.mismatch, "the echo differs from what was sent"],
  [AddressInUseError, EXIT.addressInUse, "serve: the address is already in use"],
  [BindPermissionError, EXIT.bindPermission, "serve: not permitted to bind the address"],
  [AddressUnavailableError, EXIT.addressUnavailable, "serve: the address is not this machine's"],
];

/** A usage mistake: bad option, missing argument, value out of range. */
class UsageError extends SockechoError {}

const EXIT_CODE_HELP = [
  `  ${EXIT.ok}    success`,
  `  ${EXIT.internal}    internal error (a bug: please report it)`,
  `  ${EXIT.usage}    bad arguments`,
  ...ERROR_EXITS.map(([, code, meaning]) => `  ${String(code).padEnd(4)} ${meaning}`),
  `  ${EXIT.interrupted}  serve: stopped at once by a second Ctrl+C`,
].join("\n");

const MAIN_HELP = `sockecho ${VERSION}: a TCP echo server and client

Usage:
  sockecho serve [options]            echo every byte back to every client
  sockecho send HOST [MESSAGE] [opts] send a message, check its echo, print it
  sockecho bench HOST [options]       measure an echo server: round trips, MB/s, latency
  sockecho help COMMAND               options of a command

Options:
  -h, --help       this text
  -V, --version    print the version

Exit codes:
${EXIT_CODE_HELP}`;

const SERVE_HELP = `Usage: sockecho serve [options]

Listens on HOST:PORT, serves any number of clients at once, prints where each
connection came from and what it sent (escaped, shortened), and echoes every
byte back. Ctrl+C or SIGTERM stops accepting, lets open connections finish for
the grace period, prints a summary and exits 0; a second Ctrl+C exits at once.

Options:
  -H, --host HOST      address to listen on (e.g. 127.0.0.1, ::)  [0.0.0.0]
  -p, --port PORT      port to listen on, 0 for any free one       [${DEFAULT_PORT}]
  -g, --grace SECONDS  how long open connections may finish        [5]
  -m, --max-connections N
                       most connections open at once; one more is
                       closed at once (and logged); 0: no limit    [10000]
  -i, --idle-timeout SECONDS
                       close a connection that made no progress
                       (nothing received and echoed) that long;
                       0: never, like the C server                 [0]
  -q, --quiet          print no line per connection or chunk
      --log-rate N     connection and data lines per second, most  [100]
  -h, --help           this text

Exit codes:
${EXIT_CODE_HELP}`;

const SEND_HELP = `Usage: sockecho send HOST [MESSAGE] [options]

Connects to HOST (a name, an IPv4 or an IPv6 address; every address of a name
is tried in turn), sends MESSAGE, reads until all of it has come back, checks it
byte for byte, and prints "server message: " and the echo. Without MESSAGE it
sends what the C client sends: "你好啊服务器!\\n" and its NUL terminator, 21 bytes.

Options:
  -p, --port PORT        server port                                [${DEFAULT_PORT}]
  -t, --timeout SECONDS  time for resolving, connecting and the echo [5]
  -v, --verbose          also print who answered and the round trip (stderr)
  -h, --help             this text

Exit codes:
${EXIT_CODE_HELP}`;

/** Longest load \`bench\` runs without --force, in seconds. */
export const BENCH_MAX_SECONDS = 60;
/** Most connections \`bench\` opens without --force. */
export const BENCH_MAX_CONNECTIONS = 10_000;

const BENCH_HELP = `Usage: sockecho bench HOST [options]

Loads an echo server and reports round trips/s, MB/s, connections/s and latency
(min/p50/p90/p99/max). Every echoed byte is verified; a mismatch is an error.
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
  -h, --help               this text

A live progress line is shown once a second when stdout is a terminal.

Exit codes:
${EXIT_CODE_HELP}`;

const COMMAND_HELP: Record<string, string> = {
  serve: SERVE_HELP,
  send: SEND_HELP,
  bench: BENCH_HELP,
};

/** Where the command line writes; tests pass their own. */
export interface MainIo {
  /** Writes one line to standard output. */
  out(line: string): void;
  /** Writes one error or notice line to standard error, after "sockecho: ". */
  err(message: string): void;
  /** Shows a transient status line (bench progress); absent when stdout is not a terminal. */
  status?(line: string): void;
  /**
   * Stops `serve` like Ctrl+C when aborted. Without it, `serve` listens for
   * SIGINT and SIGTERM, and a second SIGINT exits at once.
   */
  stop?: AbortSignal;
}

const encoder = new TextEncoder();

const consoleIo: MainIo = {
  out(line) {
    writeSafely(() => console.log("%s", line));
  },
  ...Deno.stdout.isTerminal() && {
    status(line: string) {
      // Carriage return and erase-line: the status line rewrites itself in place.
      writeSafely(() => Deno.stdout.writeSync(encoder.encode(`\r\x1b[2K${line}`)));
    },
  },
  err(message) {
    // %c styling is dropped by Deno itself when stderr is not a terminal or NO_COLOR is set.
    writeSafely(() =>
      console.error("%csockecho:%c %s", "color: red; font-weight: bold", "", message)
    );
  },
};

/** Writes, ignoring a closed pipe: `sockecho serve | head` must not crash the server. */
function writeSafely(write: () => void): void {
  try {
    write();
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}

/**
 * Runs the command line with `args` and resolves with the exit code. Prints
 * through `io`; never calls `Deno.exit` except on a second Ctrl+C.
 *
 * @example
 * ```ts
 * import { main } from "./main.ts";
 *
 * const code = await main(["send", "127.0.0.1", "hello"]);
 * ```
 */
export async function main(args: string[], io: MainIo = consoleIo): Promise<number> {
  try {
    const [command, ...rest] = args;
    switch (command) {
      case "serve":
        return await runCommand(rest, SERVE_OPTIONS, SERVE_HELP, runServe, io);
      case "send":
        return await runCommand(rest, SEND_OPTIONS, SEND_HELP, runSend, io);
      case "bench":
        return await runCommand(rest, BENCH_OPTIONS, BENCH_HELP, runBench, io);
      case "help":
        io.out(COMMAND_HELP[rest[0]] ?? MAIN_HELP);
        return EXIT.ok;
      case "-V":
      case "--version":
        io.out(`sockecho ${VERSION}`);
        return EXIT.ok;
      case undefined:
      case "-h":
      case "--help":
        io.out(MAIN_HELP);
        return EXIT.ok;
      default:
        throw new UsageError(`unknown command "${command}" (try: sockecho --help)`);
    }
  } catch (error) {
    return reportError(error, io);
  }
}

function reportError(error: unknown, io: MainIo): number {
  if (error instanceof UsageError) {
    io.err(error.message);
    return EXIT.usage;
  }
  if (error instanceof SockechoError) {
    io.err(error.message);
    return ERROR_EXITS.find(([kind]) => error instanceof kind)?.[1] ?? EXIT.internal;
  }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  io.err(`internal error: ${message}`);
  return EXIT.internal;
}

const SERVE_OPTIONS = {
  host: { type: "string", short: "H", default: "0.0.0.0" },
  port: { type: "string", short: "p", default: String(DEFAULT_PORT) },
  grace: { type: "string", short: "g", default: "5" },
  "max-connections": { type: "string", short: "m", default: "10000" },
  "idle-timeout": { type: "string", short: "i", default: "0" },
  quiet: { type: "boolean", short: "q", default: false },
  "log-rate": { type: "string", default: "100" },
} satisfies ParseArgsOptionsConfig;

async function runServe(
  { values, positionals }: Parsed<typeof SERVE_OPTIONS>,
  io: MainIo,
): Promise<number> {
  if (positionals.length > 0) throw new UsageError(`serve takes no argument "${positionals[0]}"`);
  const port = parsePort(values.port, 0);
  const graceMs = parseSeconds(values.grace, "--grace", 0);
  const maxConnections = parseWhole(values["max-connections"], "--max-connections", 0) || Infinity;
  const idleTimeoutMs = parseSeconds(values["idle-timeout"], "--idle-timeout", 0);
  const linesPerSecond = parseWhole(values["log-rate"], "--log-rate");
  const log = new RateLimitedLog(io.out, linesPerSecond);
  const line = values.quiet ? () => {} : (make: () => string) => log.line(make);
  let acceptFailing = false;
  let lastAcceptComplaint = -Infinity;

  const server = await serve({
    hostname: values.host,
    port,
    onConnection: ({ remoteAddr, openedAt }) => {
      if (acceptFailing) io.err("accepting connections again");
      acceptFailing = false;
      line(() =>
        `You got a connection from client's ip ${remoteAddr.hostname}, port ${remoteAddr.port} ` +
        `at time ${formatEpochMicros(openedAt)}`
      );
    },
    onData: ({ remoteAddr }, chunk) =>
      line(() =>
        `${formatAddress(remoteAddr)} sent ${chunk.length} bytes: ` +
        escapeBytes(chunk, { maxBytes: 200 })
      ),
    onClose: ({ remoteAddr }, { bytes, durationMs, error }) =>
      line(() =>
        `${formatAddress(remoteAddr)} closed: ${bytes} bytes echoed in ` +
        `${(durationMs / 1000).toFixed(3)} s${error ? ` (${describeEnd(error)})` : ""}`
      ),
    onReject: (remoteAddr) =>
      line(() =>
        `refused ${formatAddress(remoteAddr)}: ${maxConnections} connections open ` +
        "(--max-connections)"
      ),
    onAcceptError: (error) => {
      // It fails every 50 ms until descriptors free up, and may flap while
      // they do: say so once, and again only after a quiet spell.
      const now = performance.now();
      if (now - lastAcceptComplaint < ACCEPT_COMPLAINT_INTERVAL_MS) return;
      lastAcceptComplaint = now;
      acceptFailing = true;
      io.err(`cannot accept connections: ${describeOsError(error)}; retrying until it works`);
    },
    maxConnections,
    idleTimeoutMs,
  });
  io.out(`Listening on ${formatAddress(server.addr)}`);
  const flushing = setInterval(() => log.flush(), 1000);
  try {
    await stopRequested(io);
    io.err(
      `stopping: no new connections; ${server.activeConnections} open, ${
        graceMs / 1000
      } s to finish`,
    );
    const { connections, bytes, forced: cut } = await server.shutdown({ graceMs });
    log.flush();
    io.err(
      `stopped: ${connections} connections, ${bytes} bytes echoed` +
        (cut > 0 ? `, ${cut} closed at the end of the grace period` : ""),
    );
    return EXIT.ok;
  } finally {
    clearInterval(flushing);
    await server.shutdown({ graceMs: 0 });
  }
}

function describeEnd(error: Error): string {
  if (error instanceof SockechoError) return error.message;
  if (error instanceof Deno.errors.ConnectionReset) return "reset by the client";
  if (error instanceof Deno.errors.BrokenPipe) return "client stopped reading";
  return describeOsError(error);
}

/**
 * Resolves when serving should stop: on `io.stop`, or on the first SIGINT or
 * SIGTERM. A second SIGINT exits the process at once with code 130.
 */
function stopRequested(io: MainIo): Promise<void> {
  const { stop } = io;
  if (stop) {
    return new Promise((resolve) => {
      if (stop.aborted) resolve();
      stop.addEventListener("abort", () => resolve(), { once: true });
    });
  }
  return new Promise((resolve) => {
    let signals = 0;
    const onSignal = () => {
      if (++signals === 1) {
        Deno.removeSignalListener("SIGTERM", onSignal);
        resolve();
      } else {
        io.err("second interrupt: exiting at once");
        Deno.exit(EXIT.interrupted);
      }
    };
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
  });
}

const SEND_OPTIONS = {
  port: { type: "string", short: "p", default: String(DEFAULT_PORT) },
  timeout: { type: "string", short: "t", default: "5" },
  verbose: { type: "boolean", short: "v", default: false },
} satisfies ParseArgsOptionsConfig;

async function runSend(
  { values, positionals }: Parsed<typeof SEND_OPTIONS>,
  io: MainIo,
): Promise<number> {
  const [hostname, text, extra] = positionals;
  if (hostname === undefined) throw new UsageError("send needs a HOST (try: sockecho send --help)");
  if (extra !== undefined) {
    throw new UsageError(`send takes HOST and one MESSAGE; quote a message with spaces`);
  }
  const message = text === undefined ? undefined : new TextEncoder().encode(text);
  const { echo, remoteAddr, roundTripMs } = await send({
    hostname,
    port: parsePort(values.port, 1),
    message,
    timeoutMs: parseSeconds(values.timeout, "--timeout", 0.001),
  });
  const shown = echo.at(-1) === 0 ? echo.subarray(0, -1) : echo;
  const line = shown.at(-1) === 0x0a ? shown.subarray(0, -1) : shown;
  io.out(`server message: ${escapeBytes(line, { dropTrailingNul: false })}`);
  if (values.verbose) {
    io.err(
      `${echo.length} bytes echoed by ${formatAddress(remoteAddr)} in ${roundTripMs.toFixed(3)} ms`,
    );
  }
  return EXIT.ok;
}

const BENCH_OPTIONS = {
  mode: { type: "string", short: "m", default: "pingpong" },
  connections: { type: "string", short: "c", default: "1" },
  size: { type: "string", short: "s" },
  duration: { type: "string", short: "d" },
  count: { type: "string", short: "n" },
  workers: { type: "string", short: "w", default: "1" },
  port: { type: "string", short: "p", default: String(DEFAULT_PORT) },
  json: { type: "boolean", default: false },
  force: { type: "boolean", default: false },
} satisfies ParseArgsOptionsConfig;

async function runBench(
  { values, positionals }: Parsed<typeof BENCH_OPTIONS>,
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
  const report = await bench({
    hostname,
    port: parsePort(values.port, 1),
    mode,
    connections,
    size: values.size === undefined ? undefined : parseWhole(values.size, "--size"),
    durationMs,
    count,
    workers: parseWhole(values.workers, "--workers"),
    onProgress: io.status &&
      (({ elapsedMs, operations, bytes }) =>
        io.status!(
          `${(elapsedMs / 1000).toFixed(0)} s: ${operations} ${unitOf(mode)}, ` +
            `${(bytes / 1e6).toFixed(1)} MB echoed`,
        )),
  });
  io.status?.("");
  if (count !== undefined && report.operations < count) {
    io.err(
      `the ${durationMs / 1000} s duration ended the run after ${report.operations} of ` +
        `--count ${count} ${unitOf(mode)}`,
    );
  }
  if (values.json) io.out(JSON.stringify(report, null, 2));
  else formatReport(report).forEach((line) => io.out(line));
  return EXIT.ok;
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
    } s`,
    `${unitOf(mode).padEnd(13)}${report.operations.toLocaleString("en-US")} (${rate}/s)`,
    `throughput   ${report.megabytesPerSecond.toFixed(1)} MB/s echoed and verified`,
    ...latency
      ? [
        `latency ms   min ${ms(latency.min)}  p50 ${ms(latency.p50)}  p90 ${ms(latency.p90)}  ` +
        `p99 ${ms(latency.p99)}  max ${ms(latency.max)}`,
      ]
      : [],
  ];
}

function parseWhole(text: string, flag: string, lowest = 1): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < lowest) {
    throw new UsageError(
      `invalid ${flag} "${text}": expected a whole number of at least ${lowest}`,
    );
  }
  return value;
}

/** What `parseArgs` makes of a command's arguments with `options`. */
type Parsed<T extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ options: T; allowPositionals: true; strict: true }>
>;

/** Parses a command's arguments, answers `--help` with `help`, else runs it. */
function runCommand<T extends ParseArgsOptionsConfig>(
  args: string[],
  options: T,
  help: string,
  run: (parsed: Parsed<T>, io: MainIo) => Promise<number>,
  io: MainIo,
): Promise<number> {
  const end = args.indexOf("--"); // after it, "--help" is a message, not a flag
  const flags = end === -1 ? args : args.slice(0, end);
  if (flags.includes("-h") || flags.includes("--help")) {
    io.out(help);
    return Promise.resolve(EXIT.ok);
  }
  let parsed: Parsed<T>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    // node:util's messages are multi-line and mention "parseArgs": keep the first line's point.
    const message = (error as Error).message.split("\n")[0].replace(/\.( To specify.*)?$/, "");
    throw new UsageError(message.charAt(0).toLowerCase() + message.slice(1));
  }
  return run(parsed, io);
}

function parsePort(text: string, lowest: number): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < lowest || port > 65535) {
    throw new UsageError(`invalid port "${text}": expected a whole number from ${lowest} to 65535`);
  }
  return port;
}

/** Parses a duration in seconds (decimals allowed) into milliseconds. */
function parseSeconds(text: string, flag: string, lowest: number): number {
  return parseNumber(text, flag, lowest) * 1000;
}

function parseNumber(text: string, flag: string, lowest: number): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < lowest) {
    throw new UsageError(`invalid ${flag} "${text}": expected a number of at least ${lowest}`);
  }
  return value;
}

if (import.meta.main) {
  // A bug must still end in one line and exit code 1, not Deno's coloured stack trace.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    Deno.exit(reportError(event.reason, consoleIo));
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    Deno.exit(reportError(event.error, consoleIo));
  });
  Deno.exit(await main(Deno.args));
}
