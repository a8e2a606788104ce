/**
 * `sockecho serve`: the echo server as a command. Logs each connection and
 * chunk as the C server did (rate-limited), stops gracefully on the first
 * Ctrl+C or SIGTERM and at once on a second Ctrl+C.
 *
 * @example
 * ```ts
 * import { runCommand } from "../cli/command.ts";
 * import { consoleIo } from "../cli/io.ts";
 * import { serveCommand } from "./serve.ts";
 *
 * await runCommand(serveCommand, ["-H", "127.0.0.1", "-p", "0"], consoleIo);
 * ```
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import { pickPort } from "../cli/address.ts";
import { type Parsed, parsePort, parseSeconds, parseWhole, UsageError } from "../cli/args.ts";
import type { Command } from "../cli/command.ts";
import { EXIT, exitCodeHelp } from "../cli/exit.ts";
import { inform, type MainIo } from "../cli/io.ts";
import { interrupts } from "../cli/interrupt.ts";
import { describeOsError, SockechoError } from "../errors.ts";
import {
  escapeBytes,
  formatAddress,
  formatCount,
  formatEpochMicros,
  formatSeconds,
  plural,
} from "../format.ts";
import { RateLimitedLog } from "../log.ts";
import { DEFAULT_PORT, serve } from "../server.ts";

/** `serve` reports failing accepts (e.g. out of descriptors) at most this often. */
const ACCEPT_COMPLAINT_INTERVAL_MS = 10_000;

const OPTIONS = {
  host: { type: "string", short: "H", default: "0.0.0.0" },
  port: { type: "string", short: "p" },
  grace: { type: "string", short: "g", default: "5" },
  "max-connections": { type: "string", short: "m", default: "10000" },
  "idle-timeout": { type: "string", short: "i", default: "0" },
  quiet: { type: "boolean", short: "q", default: false },
  "log-rate": { type: "string", default: "100" },
} satisfies ParseArgsOptionsConfig;

const HELP = `Usage: sockecho serve [PORT] [options]

Listens on HOST:PORT, serves any number of clients at once, prints where each
connection came from and what it sent (escaped, shortened), and echoes every
byte back. Ctrl+C or SIGTERM stops accepting, lets open connections finish for
the grace period, prints a summary and exits 0; a second Ctrl+C exits at once.
PORT, as \`nc -l PORT\` takes it, is the same as -p PORT.

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
${
  exitCodeHelp(
    [
      EXIT.resolve,
      EXIT.addressInUse,
      EXIT.bindPermission,
      EXIT.addressUnavailable,
      EXIT.interrupted,
    ],
    {
      [EXIT.interrupted]: "stopped at once by a second Ctrl+C",
    },
  )
}`;

/** The `serve` command. */
export const serveCommand: Command<typeof OPTIONS> = {
  name: "serve",
  synopsis: "serve [PORT] [options]",
  summary: "echo every byte back to every client",
  options: OPTIONS,
  help: HELP,
  run: runServe,
};

async function runServe(
  { values, positionals }: Parsed<typeof OPTIONS>,
  io: MainIo,
): Promise<number> {
  const [argument, extra] = positionals;
  if (extra !== undefined || (argument !== undefined && !/^\d+$/.test(argument))) {
    const word = extra ?? argument;
    throw new UsageError(`serve takes one PORT, not "${word}"; listen with -H HOST -p PORT`);
  }
  const port = pickPort(
    argument === undefined ? undefined : parsePort(argument, 0),
    argument ?? "",
    values.port,
    DEFAULT_PORT,
    0,
  );
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
      if (acceptFailing) inform(io, "accepting connections again");
      acceptFailing = false;
      line(() =>
        `You got a connection from client's ip ${remoteAddr.hostname}, port ${remoteAddr.port} ` +
        `at time ${formatEpochMicros(openedAt)}`
      );
    },
    onData: ({ remoteAddr }, chunk) =>
      line(() =>
        `${formatAddress(remoteAddr)} sent ${plural(chunk.length, "byte")}: ` +
        escapeBytes(chunk, { maxBytes: 200 })
      ),
    onClose: ({ remoteAddr }, { bytes, durationMs, error }) =>
      line(() =>
        `${formatAddress(remoteAddr)} closed: ${plural(bytes, "byte")} echoed in ` +
        `${(durationMs / 1000).toFixed(3)} s${error ? ` (${describeEnd(error)})` : ""}`
      ),
    onReject: (remoteAddr) =>
      line(() =>
        `refused ${formatAddress(remoteAddr)}: ${plural(maxConnections, "connection")} open ` +
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
  // Listening for Ctrl+C before saying "Listening": a script may send it as soon as it reads that.
  const stopping = stopRequested(io);
  io.out(`Listening on ${formatAddress(server.addr)}`);
  const flushing = setInterval(() => log.flush(), 1000);
  try {
    await stopping;
    inform(
      io,
      `stopping: no new connections; ${formatCount(server.activeConnections)} open, ` +
        `${formatSeconds(graceMs)} to finish (Ctrl+C again to exit at once)`,
    );
    const { connections, bytes, forced: cut } = await server.shutdown({ graceMs });
    log.flush();
    inform(
      io,
      `stopped: ${plural(connections, "connection")}, ${plural(bytes, "byte")} echoed` +
        (cut > 0 ? `, ${formatCount(cut)} closed at the end of the grace period` : ""),
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
  const { signal } = interrupts(io);
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
