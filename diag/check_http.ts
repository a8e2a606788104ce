/**
 * `sockecho check --http`: is this HTTP path whole, and what does it do to
 * a request? The same table of verdicts as `check`, a layer up: body bytes
 * exact both ways (sockecho's raw echo), the largest header and body that
 * pass, whether the path streams or buffers, what the server saw (`Host`,
 * headers added, its TCP peer), connection reuse, h2 on offer, a WebSocket
 * upgrade with a verified echo, and with `idle` the keep-alive and
 * WebSocket idle timeouts. Every step is bounded in time.
 *
 * @example
 * ```ts
 * import { checkHttp } from "./check_http.ts";
 *
 * const report = await checkHttp({ url: "http://127.0.0.1:4321/" });
 * for (const row of report.rows) console.log(row.name, row.verdict, row.detail);
 * ```
 *
 * @module
 */

import { type DialedConn, dialerFor, dialWithin, type Resolver, tlsDialer } from "../net/dial.ts";
import { formatCount } from "../net/format.ts";
import { closeQuietly } from "../net/io.ts";
import { resolveHost } from "../net/resolve.ts";
import type { TlsClientOptions } from "../net/tls/client.ts";
import {
  ALL_BYTES,
  attempt,
  type CheckReport,
  type CheckRow,
  Connections,
  openFirst,
} from "./check.ts";
import {
  describeConnections,
  HTTP_ERRORS,
  idleRow,
  limitRow,
  NOT_IDLE_CHECKED,
  type Reply,
  seenRows,
} from "./check_http_rows.ts";
import { describeAlpn, probeH2c } from "./h2_probe.ts";
import { httpEcho } from "./http_echo.ts";
import { dripEcho } from "./http_drip.ts";
import { largestBody, largestHeader } from "./http_limits.ts";
import { askDescription } from "./http_seen.ts";
import { discoverIdleTimeout, type IdleProgress, type IdleReport } from "./idle.ts";
import { httpIdleFlow, webSocketIdleFlow } from "./idle_http.ts";
import { bytesPayload, patternPayload } from "./payload.ts";
import { urlTarget } from "./send_http.ts";
import { wsExchange } from "./send_ws.ts";

/** Options for {@linkcode checkHttp}. */
export interface CheckHttpOptions {
  /** An `http://` or `https://` URL: where to connect, the `Host` header and the path. */
  url: string | URL;
  /** Connect to this Unix domain socket instead (the URL still gives `Host` and the path). */
  path?: string;
  /** How to trust an `https://` server. @default {the system's roots} */
  tls?: TlsClientOptions;
  /** Turns the host name into addresses. @default {resolveHost} */
  resolve?: Resolver;
  /** Time allowed for each step (a connect, a request), in ms. @default {3000} */
  timeoutMs?: number;
  /** Size of the patterned body. @default {1048576} */
  bulkBytes?: number;
  /** The largest body tried. @default {16777216} */
  maxBodyBytes?: number;
  /** The largest header value tried. @default {65536} */
  maxHeaderBytes?: number;
  /** The drip of the streaming check: chunks, and ms between them. @default {{ chunks: 4, intervalMs: 200 }} */
  drip?: { chunks: number; intervalMs: number };
  /** Discover the keep-alive and WebSocket idle timeouts, up to `maxMs`. @default {not discovered} */
  idle?: IdleCheckOptions;
}

/** How `check --http --idle` discovers its idle timeouts. */
export interface IdleCheckOptions {
  /** The longest idle time tried, in ms. */
  maxMs: number;
  /** Flows of each kind. @default {20} */
  flows?: number;
  /** Stops the discovery (Ctrl+C). */
  signal?: AbortSignal;
  /** Progress of both discoveries together, about once a second. */
  onProgress?: (progress: IdleProgress) => void;
}

/** The rows after the first connection's, in order: all skipped when it fails. */
const LATER_ROWS = [
  "byte values",
  "bulk",
  "streaming",
  "host",
  "forwarded",
  "peer",
  "keep-alive",
  "large header",
  "large body",
  "h2",
  "websocket",
  "keep-alive idle",
  "websocket idle",
];

/**
 * Runs every check and reports; never throws for what the path does (a
 * URL it cannot use is a `RangeError`).
 *
 * @example
 * ```ts
 * import { checkHttp } from "./check_http.ts";
 *
 * const { failure } = await checkHttp({
 *   url: "https://echo.example/",
 *   idle: { maxMs: 10_000 },
 * });
 * if (failure) console.error(failure.message);
 * ```
 */
export async function checkHttp(options: CheckHttpOptions): Promise<CheckReport> {
  const {
    timeoutMs = 3000,
    bulkBytes = 1024 * 1024,
    maxBodyBytes = 16 * 1024 * 1024,
    maxHeaderBytes = 64 * 1024,
    resolve = resolveHost,
    tls = {},
  } = options;
  const url = urlTarget(new URL(options.url));
  const net = { hostname: url.hostname, port: url.port };
  const { target, dial } = dialerFor(net, {
    tls: url.secure ? { ...tls, alpn: ["http/1.1"] } : undefined,
    path: options.path,
  }, resolve);
  const request = { host: url.host, path: url.path };
  const rows: CheckRow[] = [];
  const connections = new Connections(dial, target, timeoutMs);
  const never = new AbortController().signal;
  const connect = () => connections.connect();
  try {
    let conn = await openFirst(rows, () => connections.dial(), LATER_ROWS);
    if (!conn) return { rows, failure: rows.find((row) => row.error)?.error };
    // The first requests share a connection while the replies keep it alive.
    const replies: Reply[] = [];
    let reusable = true;
    let connection = 1;
    const onConnection = async <R extends Reply>(run: (conn: DialedConn) => Promise<R>) => {
      if (!reusable) [conn, connection] = [await connect(), connection + 1];
      reusable = false; // a failed request closes it
      const reply = await run(conn!);
      reusable = reply.keepAlive;
      replies.push({ ...reply, connection });
      return reply;
    };
    const echoed = (bytes: number, ms: number) =>
      `${formatCount(bytes)} B echoed exact (${(bytes / ms / 1000).toFixed(1)} MB/s)`;

    await attempt(
      rows,
      "byte values",
      () => onConnection((conn) => httpEcho(conn, bytesPayload(ALL_BYTES), request, { timeoutMs })),
      {
        pass: () => "all 256 byte values echoed exact (a POST body, the raw format)",
        keep: HTTP_ERRORS,
      },
    );
    const bulk = await attempt(
      rows,
      "bulk",
      () =>
        onConnection((conn) => httpEcho(conn, patternPayload(bulkBytes), request, { timeoutMs })),
      {
        pass: (reply) => `a patterned body of ${echoed(reply.bytes, reply.ms)}`,
        keep: HTTP_ERRORS,
      },
    );
    const drip = options.drip ?? { chunks: 4, intervalMs: 200 };
    await attempt(rows, "streaming", () =>
      onConnection(async (conn) => {
        const result = await dripEcho(conn, request, { ...drip, timeoutMs });
        return { ...result, reads: [] };
      }), {
      verdict: "info",
      pass: describeDrip,
      keep: HTTP_ERRORS,
      facts: ({ mode, headMs, firstByteMs, lastChunkMs, chunks, intervalMs }) => ({
        mode,
        headMs: Math.round(headMs),
        firstByteMs: Math.round(firstByteMs),
        lastChunkMs: Math.round(lastChunkMs),
        chunks,
        intervalMs,
      }),
    });

    const sent: [string, string][] = [
      ["Host", url.host],
      ["Accept", "application/json"],
      ["User-Agent", "sockecho-check"],
      ["X-Sockecho-Check", crypto.randomUUID()],
    ];
    try {
      const seen = await onConnection((conn) =>
        askDescription(conn, { path: url.path, headers: sent, timeoutMs })
      );
      rows.push(...seenRows(sent, seen, conn!));
    } catch (error) {
      rows.push(...seenRows(sent, error as Error, conn!));
    }
    rows.push(describeConnections(replies));

    const trials = { connect, host: url.host, path: url.path, timeoutMs };
    rows.push(limitRow("large header", "a header", await largestHeader(trials, maxHeaderBytes)));
    rows.push(
      bulk === undefined
        ? { name: "large body", verdict: "skip", detail: "the bulk body did not pass" }
        : limitRow("large body", "a body", await largestBody(trials, bulkBytes, maxBodyBytes)),
    );
    rows.push(
      await h2Row(
        url.secure && options.path === undefined
          ? () =>
            dialWithin(
              tlsDialer({ ...tls, alpn: ["h2", "http/1.1"] }, resolve),
              net,
              timeoutMs,
              never,
            )
          : undefined,
        connect,
        timeoutMs,
      ),
    );
    await attempt(rows, "websocket", async () => {
      const ws = wsExchange(request);
      const session = await ws.open!(await connect(), { timeoutMs, signal: never });
      const echo = await ws.echo(session, bytesPayload(ALL_BYTES), { timeoutMs });
      return { ...echo, statusLine: session.ws.statusLine, closeCode: await session.ws.close() };
    }, {
      pass: (result) =>
        `${result.statusLine.slice(9)}, 256 byte values echoed exact in a binary message, ` +
        `close ${result.closeCode} echoed`,
      keep: HTTP_ERRORS,
    });
    connections.closeAll();
    rows.push(...await idleRows(options.idle, { target, dial, timeoutMs, request }));
    return { rows, failure: rows.find((row) => row.error)?.error };
  } finally {
    connections.closeAll();
  }
}

/** The streaming row's words: which, and the times that tell. */
function describeDrip(
  { mode, firstByteMs, lastChunkMs, chunks, intervalMs }: Awaited<ReturnType<typeof dripEcho>>,
): string {
  const drip = `${chunks} chunks ${intervalMs} ms apart`;
  return mode === "streams"
    ? `streams: the first echoed byte came at ${firstByteMs.toFixed(0)} ms, before the last ` +
      `of ${drip} was sent (${lastChunkMs.toFixed(0)} ms)`
    : `buffers: nothing came back before the last of ${drip} was sent ` +
      `(${lastChunkMs.toFixed(0)} ms); the first echoed byte came at ${firstByteMs.toFixed(0)} ms`;
}

/** `h2`: over TLS, what ALPN chooses from h2 and http/1.1; in clear text, h2c with prior knowledge. */
async function h2Row(
  alpnDial: (() => Promise<{ conn: DialedConn }>) | undefined,
  connect: () => Promise<DialedConn>,
  timeoutMs: number,
): Promise<CheckRow> {
  try {
    if (alpnDial) {
      const { conn } = await alpnDial();
      closeQuietly(conn);
      const alpn = conn.tls?.alpn ?? null;
      return { name: "h2", verdict: "info", detail: describeAlpn(conn.tls?.alpn), facts: { alpn } };
    }
    const { speaks, answer } = await probeH2c(await connect(), timeoutMs);
    const detail = speaks
      ? "h2c: HTTP/2 with prior knowledge was answered with a SETTINGS frame"
      : `no h2c: HTTP/2 with prior knowledge was answered with ${answer}`;
    return { name: "h2", verdict: "info", detail, facts: { h2c: speaks, answer } };
  } catch (error) {
    return { name: "h2", verdict: "skip", detail: `not checked: ${(error as Error).message}` };
  }
}

/** The idle rows: both discoveries at once, or skipped rows without `idle`. */
async function idleRows(
  idle: IdleCheckOptions | undefined,
  flow: Pick<Parameters<typeof discoverIdleTimeout>[0], "target" | "dial" | "timeoutMs"> & {
    request: { host: string; path: string };
  },
): Promise<CheckRow[]> {
  const names = ["keep-alive idle", "websocket idle"];
  if (!idle) return names.map((name) => ({ name, verdict: "skip", detail: NOT_IDLE_CHECKED }));
  const { maxMs, flows = 20, signal, onProgress } = idle;
  const progress: IdleProgress[] = [];
  const discover = (index: number, kind: ReturnType<typeof httpIdleFlow>) =>
    discoverIdleTimeout({
      ...flow,
      maxMs,
      flows,
      signal,
      kind,
      onProgress(each) {
        progress[index] = each;
        if (progress.length < 2 || !onProgress) return;
        const [a, b] = progress;
        onProgress({
          elapsedMs: Math.max(a.elapsedMs, b.elapsedMs),
          totalMs: Math.max(a.totalMs, b.totalMs),
          done: a.done + b.done,
          cut: a.cut + b.cut,
          flows: a.flows + b.flows,
        });
      },
    });
  const settled: PromiseSettledResult<IdleReport>[] = await Promise.allSettled([
    discover(0, httpIdleFlow(flow.request)),
    discover(1, webSocketIdleFlow(flow.request)),
  ]);
  return settled.map((result, i) => idleRow(names[i], maxMs, flows, result));
}
