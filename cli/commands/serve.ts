/**
 * `sockecho serve`: the echo server as a command. Logs each connection and
 * chunk as the C server did (rate-limited), stops gracefully on the first
 * Ctrl+C or SIGTERM and at once on a second one.
 *
 * @example
 * ```ts
 * import { runCommand } from "../command.ts";
 * import { consoleIo } from "../io.ts";
 * import { serveCommand } from "./serve.ts";
 *
 * await runCommand(serveCommand, ["-H", "127.0.0.1", "-p", "0"], consoleIo);
 * ```
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import { pickPort } from "../address.ts";
import { type Parsed, parsePort, parseSeconds, parseWhole, UsageError } from "../args.ts";
import type { Command } from "../command.ts";
import { EXIT, exitCodeHelp } from "../exit.ts";
import { inform, type MainIo } from "../io.ts";
import { interruption } from "../interrupt.ts";
import { describeOsError, SockechoError } from "../../net/errors.ts";
import {
  escapeBytes,
  formatAddress,
  formatCount,
  formatEpochMicros,
  formatSeconds,
  plural,
} from "../../net/format.ts";
import { Ledger } from "../ledger.ts";
import { RateLimitedLog } from "../log.ts";
import { LOOPBACK_CIDRS, parseCidrList } from "../../net/access/cidr.ts";
import { proxyHeaderStep } from "../../net/access/proxy_protocol.ts";
import { DEFAULT_PORT, serve, type ServeOptions, type SocketAddr } from "../../server.ts";
import { DEFAULT_UDP_RATE } from "../../net/udp.ts";
import { accessFilter, startUdpEcho } from "./serve_udp.ts";
import { describeDrain, HTTP_HELP, HTTP_OPTIONS, httpServing } from "./serve_http.ts";
import {
  SERVE_TRANSPORT_HELP,
  SERVE_TRANSPORT_OPTIONS,
  serveTransport,
} from "./transport_options.ts";

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
  "log-format": { type: "string", default: "text" },
  "proxy-protocol": { type: "boolean", default: false },
  "proxy-from": { type: "string" },
  ...SERVE_TRANSPORT_OPTIONS,
  udp: { type: "boolean", default: false },
  "udp-rate": { type: "string" },
  allow: { type: "string", multiple: true },
  deny: { type: "string", multiple: true },
  ...HTTP_OPTIONS,
} satisfies ParseArgsOptionsConfig;

const HELP = `Usage: sockecho serve [PORT] [options]

Listens on HOST:PORT, serves any number of clients at once, prints where each
connection came from and what it sent (escaped, shortened), and echoes every
byte back. Ctrl+C or SIGTERM stops accepting, lets open connections finish for
the grace period, prints a summary and exits 0; a second Ctrl+C or SIGTERM
exits at once (130). PORT, as \`nc -l PORT\` takes it, is the same as -p PORT.

Options:
  -H, --host HOST      address to listen on (e.g. 127.0.0.1, ::)  [0.0.0.0]
  -p, --port PORT      port to listen on, 0 for any free one       [${DEFAULT_PORT}]
  -g, --grace SECONDS  how long open connections may finish        [5]
  -m, --max-connections N
                       most connections open at once, TLS ones
                       from before their handshake; one more is
                       closed at once (and logged); 0: no limit    [10000]
  -i, --idle-timeout SECONDS
                       close a connection that made no progress
                       (nothing received and echoed) that long;
                       0: never, like the C server                 [0]
  -q, --quiet          print no line per connection or chunk
      --log-rate N     connection and data lines per second, most  [100]
      --log-format FORMAT
                       text, or json: one JSON object a line per
                       event (listening, open, data, close, refused,
                       error, stopping, stopped...), all on stdout;
                       the fields are in docs/json.md              [text]
      --proxy-protocol read the PROXY header (v1 or v2) a load
                       balancer sends first, log its client as the
                       client, echo the rest; a connection without
                       a valid header within 3 s is closed
      --proxy-from CIDR[,CIDR...]
                       peers allowed to send the PROXY header; any
                       other is closed  [127.0.0.0/8,::1/128]
${HTTP_HELP}
      --udp            also echo UDP datagrams on the same port
                       (RFC 862); no answer to source ports
                       7, 13, 17, 19, 37 (echo/chargen loops)
      --udp-rate N     answers per second to one source address;
                       past it datagrams are dropped and counted;
                       0: no limit                                 [${DEFAULT_UDP_RATE}]
      --allow CIDR[,CIDR...]
                       serve only these networks (TCP and UDP),
                       e.g. 10.0.0.0/8,::1; repeatable
      --deny CIDR[,CIDR...]
                       never serve these networks; wins over
                       --allow; repeatable. A denied connection is
                       closed unread and logged; a denied datagram
                       is dropped and counted
${SERVE_TRANSPORT_HELP}
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
      [EXIT.interrupted]: "stopped at once by a second Ctrl+C or SIGTERM",
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
  if (values.udp && (values.tls || values.unix !== undefined)) {
    throw new UsageError("--udp cannot be combined with --tls or --unix");
  }
  if (values.unix !== undefined && (values.allow || values.deny)) {
    throw new UsageError("--allow and --deny name IP networks: a Unix socket's clients have none");
  }
  if (values["proxy-protocol"] && (values.tls || values.unix !== undefined)) {
    // The TLS handshake starts at accept, where a balancer's header would come first;
    // a Unix socket's peer has no address to check against --proxy-from.
    throw new UsageError("--proxy-protocol works over plain TCP only, not with --tls or --unix");
  }
  const transport = await serveTransport(values, values.http);
  const transportName = transport.path !== undefined ? "unix" : transport.tls ? "tls" : "tcp";
  const ledger = parseLogFormat(values["log-format"], transportName, values.http);
  const prepare = parseProxyOptions(values);
  const log = new RateLimitedLog(
    io.out,
    linesPerSecond,
    ledger && ((dropped, limit) => ledger.suppressed(dropped, limit)),
  );
  // The ledger is one stream: in JSON, the text log's status lines go to stdout too.
  const notice = (json: () => string, text: string) => ledger ? io.out(json()) : inform(io, text);
  const line = values.quiet ? () => {} : (make: () => string) => log.line(make);
  const http = httpServing(values, { line, ledger });
  const carried = http ? "in and out" : "echoed";
  const acceptFrom = accessFilter(values.allow, values.deny);
  if (values["udp-rate"] !== undefined && !values.udp) {
    throw new UsageError("--udp-rate needs --udp");
  }
  const ratePerSource = parseWhole(values["udp-rate"] ?? String(DEFAULT_UDP_RATE), "--udp-rate", 0);
  let acceptFailing = false;
  let lastAcceptComplaint = -Infinity;

  const server = await serve({
    hostname: values.host,
    port,
    ...transport,
    alpnProtocols: transport.tls ? http?.alpnProtocols : undefined,
    prepare,
    handler: http?.handler,
    onConnection: (info) => {
      const { id, remoteAddr, proxyAddr, openedAt } = info;
      if (acceptFailing) {
        notice(() => ledger!.error("accepting connections again"), "accepting connections again");
      }
      acceptFailing = false;
      line(() =>
        ledger?.open(info) ??
          ("path" in remoteAddr
              ? `You got a connection from ${clientName(remoteAddr, id)} `
              : `You got a connection from client's ip ${remoteAddr.hostname}, port ${remoteAddr.port} `) +
            (proxyAddr ? `via ${formatAddress(proxyAddr)} ` : "") +
            `at time ${formatEpochMicros(openedAt)}`
      );
    },
    onData: (info, chunk) =>
      line(() =>
        ledger?.data(info, chunk) ??
          `${clientName(info.remoteAddr, info.id)} sent ${plural(chunk.length, "byte")}: ` +
            escapeBytes(chunk, { maxBytes: 200 })
      ),
    onClose: (info, summary) => {
      const { bytes, durationMs, error } = summary;
      line(() =>
        ledger?.close(info, summary, error && describeEnd(error)) ??
          `${clientName(info.remoteAddr, info.id)} closed: ${
              plural(bytes, "byte")
            } ${carried} in ` +
            `${(durationMs / 1000).toFixed(3)} s${error ? ` (${describeEnd(error)})` : ""}`
      );
    },
    onReject: (remoteAddr) =>
      line(() =>
        ledger?.refused(remoteAddr, maxConnections) ??
          `refused ${clientName(remoteAddr)}: ${plural(maxConnections, "connection")} open ` +
            "(--max-connections)"
      ),
    onAcceptError: (error) => {
      // It fails every 50 ms until descriptors free up, and may flap while
      // they do: say so once, and again only after a quiet spell.
      const now = performance.now();
      if (now - lastAcceptComplaint < ACCEPT_COMPLAINT_INTERVAL_MS) return;
      lastAcceptComplaint = now;
      acceptFailing = true;
      const message = "cannot accept connections: " + describeOsError(error) +
        "; retrying until it works";
      // An error, not a status line: to stderr even where status lines go elsewhere.
      ledger ? io.out(ledger.error(message)) : io.err(message);
    },
    maxConnections,
    idleTimeoutMs,
    acceptFrom,
    onDeny: (remoteAddr) =>
      line(() =>
        ledger?.denied(remoteAddr, "--allow/--deny") ??
          `denied ${formatAddress(remoteAddr)} (--allow/--deny)`
      ),
  });
  const udp = values.udp
    ? await startUdpEcho({
      hostname: values.host,
      // --udp goes with TCP only, checked above: the address has a port.
      port: (server.addr as Deno.NetAddr).port,
      ratePerSource,
      acceptFrom,
      log,
      ledger: ledger && new Ledger("udp"),
      quiet: values.quiet,
    }).catch(async (error) => {
      await server.shutdown({ graceMs: 0 });
      throw error;
    })
    : undefined;
  // Listening for Ctrl+C before saying "Listening": a script may send it as soon as it reads that.
  const stopping = stopRequested(io);
  const how = http
    ? ` (${transport.tls ? "TLS, " : ""}HTTP, instance ${http.instance})`
    : transport.tls
    ? " (TLS)"
    : "";
  io.out(
    ledger?.listening(server.addr, http?.instance) ??
      `Listening on ${formatAddress(server.addr)}${how}`,
  );
  // In JSON the ledger owns stdout: the certificate's line goes to stderr there.
  transport.announce?.(server.addr, ledger ? io.err : io.out);
  if (udp) io.out(udp.listening);
  const flushing = setInterval(() => {
    log.flush();
    udp?.reportDrops();
  }, 1000);
  let draining: ReturnType<typeof setTimeout> | undefined;
  try {
    await stopping;
    notice(
      () => ledger!.stopping(server.activeConnections, graceMs),
      http
        ? describeDrain(graceMs)
        : `stopping: no new connections; ${formatCount(server.activeConnections)} open, ${
          formatSeconds(graceMs)
        } to finish (Ctrl+C again to exit at once)`,
    );
    // HTTP drains as Kubernetes expects: still serving (new connections too) while the
    // endpoint is taken out of rotation, /readyz saying 503; then it stops at once.
    http?.drain();
    if (http) await new Promise((resolve) => draining = setTimeout(resolve, graceMs));
    const summary = await server.shutdown({ graceMs: http ? 0 : graceMs });
    const { connections, bytes, forced: cut } = summary;
    const udpSummary = await udp?.stop();
    log.flush();
    notice(
      () => ledger!.stopped(summary),
      `stopped: ${plural(connections, "connection")}, ${plural(bytes, "byte")} ${carried}` +
        (cut > 0 ? `, ${formatCount(cut)} closed at the end of the grace period` : "") +
        (udpSummary ? `; ${udpSummary}` : ""),
    );
    return EXIT.ok;
  } finally {
    clearInterval(flushing);
    clearTimeout(draining);
    await server.shutdown({ graceMs: 0 });
    await http?.close();
    await udp?.stop();
  }
}

/**
 * How the log names a client: `host:port`, or for a Unix socket client,
 * which has no name of its own, its connection number.
 */
function clientName(addr: SocketAddr, id?: number): string {
  return formatAddress(addr) || `unix client${id === undefined ? "" : ` #${id}`}`;
}

/** The ledger for `--log-format json` (of `transport`), or `undefined` for the text log. */
function parseLogFormat(format: string, transport: string, http = false): Ledger | undefined {
  if (format === "json") return new Ledger(transport, Date.now, http ? "http" : "echo");
  if (format === "text") return undefined;
  throw new UsageError(`invalid --log-format "${format}": expected text or json`);
}

/** The `prepare` step that reads the PROXY header, or `undefined` without `--proxy-protocol`. */
function parseProxyOptions(
  values: Parsed<typeof OPTIONS>["values"],
): ServeOptions["prepare"] {
  const from = values["proxy-from"];
  if (!values["proxy-protocol"]) {
    if (from !== undefined) throw new UsageError("--proxy-from needs --proxy-protocol");
    return undefined;
  }
  const trusted = parseCidrList(from ?? LOOPBACK_CIDRS);
  if (!trusted) {
    throw new UsageError(
      `invalid --proxy-from "${from}": expected addresses or CIDR ranges, e.g. 10.0.0.0/8,::1`,
    );
  }
  return proxyHeaderStep({ trusted });
}

function describeEnd(error: Error): string {
  if (error instanceof SockechoError) return error.message;
  if (error instanceof Deno.errors.ConnectionReset) return "reset by the client";
  if (error instanceof Deno.errors.BrokenPipe) return "client stopped reading";
  if (error instanceof Deno.errors.UnexpectedEof) return "client closed without a TLS close_notify";
  return describeOsError(error);
}

/**
 * Resolves when serving should stop: on `io.stop`, or on the first SIGINT or
 * SIGTERM. A second one of either exits the process at once with code 130.
 */
function stopRequested(io: MainIo): Promise<void> {
  const { signal } = interruption(io);
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
