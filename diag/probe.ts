/**
 * A probe series, `send --count` (ping's and tcping's view of an echo path):
 * N verified echoes, one connection for all or a new one per probe, each
 * reported as it ends, and a summary with latency statistics.
 *
 * @example
 * ```ts
 * import { bytesPayload } from "./payload.ts";
 * import { probeSeries } from "./probe.ts";
 *
 * const summary = await probeSeries({
 *   target: { hostname: "127.0.0.1", port: 4321 },
 *   payload: bytesPayload(new TextEncoder().encode("ping\n")),
 *   count: 3,
 *   onProbe: (probe) => console.log(probe.seq, probe.timeMs),
 * });
 * console.log(summary.echoed, "of", summary.sent);
 * ```
 *
 * @module
 */

import {
  describeRemote,
  type DialedConn,
  type Dialer,
  dialStream,
  type DialTarget,
  dialWithin,
} from "../net/dial.ts";
import { ECHO_EXCHANGE, type ProbeExchange } from "./probe_exchange.ts";
import {
  ClosedEarlyError,
  ConnectError,
  MismatchError,
  NotTlsError,
  ResolveError,
  TimeoutError,
  TlsVerifyError,
} from "../net/errors.ts";
import { HttpResponseError, HttpStatusError } from "../net/http/client.ts";
import { closeQuietly } from "../net/io.ts";
import type { Payload } from "./payload.ts";
import { nearestRank, type Spread, spreadOf } from "./spread.ts";

/** Options for {@linkcode probeSeries}. */
export interface ProbeOptions<S = DialedConn> {
  /** The echo server. */
  target: DialTarget;
  /** What each probe sends. */
  payload: Payload;
  /** Probes to send; 0 sends until `signal` aborts. @default {1} */
  count?: number;
  /** From the start of one probe to the start of the next, in ms. @default {1000} */
  intervalMs?: number;
  /** Open a new connection for each probe and time the connect apart. @default {false} */
  reconnect?: boolean;
  /** Time allowed for each connect and each echo, in ms. @default {5000} */
  timeoutMs?: number;
  /** Stops the series (Ctrl+C); the probe in flight is dropped, not counted. */
  signal?: AbortSignal;
  /** Opens connections (`tlsDialer` for TLS). @default {dialStream} */
  dial?: Dialer;
  /** How a probe talks over a connection (HTTP, WebSocket). @default {the plain echo} */
  exchange?: ProbeExchange<S>;
  /** Called as each probe ends. */
  onProbe?: (probe: ProbeResult) => void;
}

/** One probe's outcome. */
export interface ProbeResult {
  /** Its number, from 1. */
  readonly seq: number;
  /** Who answered, when a connection was open. */
  readonly remote?: string;
  /** Bytes echoed exact (the payload's size when it succeeded). */
  readonly bytes: number;
  /** Time to connect, in ms, when this probe opened a connection. */
  readonly connectMs?: number;
  /** Time of the TLS handshake, in ms, when this probe opened a TLS connection. */
  readonly handshakeMs?: number;
  /** Time of the exchange's upgrade (WebSocket's), in ms, when this probe opened a connection. */
  readonly upgradeMs?: number;
  /** Which connection of the series (from 1) carried it, when one was open. */
  readonly connection?: number;
  /** Which server answered, when it said. */
  readonly instance?: string;
  /** From the first byte sent to the last byte echoed, in ms; absent when it failed. */
  readonly timeMs?: number;
  /** Why it failed. */
  readonly error?: Error;
}

/** Latency statistics in ms; `mdev` is the standard deviation, as ping prints it. */
export interface Stats {
  readonly min: number;
  readonly avg: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mdev: number;
}

/** What {@linkcode probeSeries} did. */
export interface SeriesSummary {
  /** Probes finished (the one in flight at an interrupt is not counted). */
  readonly sent: number;
  /** Probes whose echo came back exact. */
  readonly echoed: number;
  /** Probes that failed. */
  readonly failed: number;
  /** Echo times of the exact probes, or undefined when there was none. */
  readonly time?: Stats;
  /** Connect times, or undefined when no probe opened a connection. */
  readonly connect?: Stats;
  /** TLS handshake times, or undefined when no probe opened a TLS connection. */
  readonly handshake?: Stats;
  /** Upgrade times, or undefined when the exchange has no upgrade. */
  readonly upgrade?: Stats;
  /**
   * How the exact replies spread over the instances that answered: every
   * reply, and the first of each connection (where a sticky keep-alive
   * shows); undefined when no reply named its instance.
   */
  readonly spread?: { readonly perRequest: Spread; readonly perConnection: Spread };
  /** The first failure, which decides the exit code. */
  readonly firstError?: Error;
  /** True when `signal` stopped the series. */
  readonly interrupted: boolean;
}

/**
 * Runs the series. On one connection, a failed probe closes it and the next
 * probe opens a new one. A payload read only once (stdin) allows one probe.
 *
 * @example
 * ```ts
 * import { patternPayload } from "./payload.ts";
 * import { probeSeries } from "./probe.ts";
 *
 * const summary = await probeSeries({
 *   target: { hostname: "127.0.0.1", port: 4321 },
 *   payload: patternPayload(1000),
 *   count: 5,
 *   intervalMs: 200,
 *   reconnect: true,
 * });
 * console.log(summary.connect?.p50, summary.time?.p50);
 * ```
 */
export async function probeSeries<S = DialedConn>(
  options: ProbeOptions<S>,
): Promise<SeriesSummary> {
  const {
    target,
    payload,
    count = 1,
    intervalMs = 1000,
    reconnect = false,
    timeoutMs = 5000,
    signal = new AbortController().signal,
    dial = dialStream,
  } = options;
  const exchange = options.exchange ?? ECHO_EXCHANGE as unknown as ProbeExchange<S>;
  /** Ends a connection that served its probe: politely, as the exchange says. */
  const ended = async (conn: DialedConn, session: S) => {
    await exchange.close?.(session).catch(() => {});
    return closed(conn);
  };
  if (!payload.repeatable && count !== 1) {
    throw new RangeError("a one-time payload allows one probe");
  }
  // Stdin's size is known only at its end: our FIN tells the server, its FIN ends the echo.
  const halfClose = payload.size === undefined;
  const results: ProbeResult[] = [];
  let conn: DialedConn | undefined;
  let session: S | undefined;
  let connections = 0;
  /** Opens the next connection, readied by the exchange; what it took. */
  const open = async () => {
    const dialed = await dialWithin(dial, target, timeoutMs, signal);
    conn = dialed.conn;
    connections++;
    session = conn as S;
    const openedAt = performance.now();
    if (exchange.open) session = await exchange.open(conn, { timeoutMs, signal });
    const upgradeMs = exchange.open ? performance.now() - openedAt : undefined;
    return { connectMs: dialed.connectMs, handshakeMs: dialed.handshakeMs, upgradeMs };
  };
  try {
    for (let seq = 1; count === 0 || seq <= count; seq++) {
      const startedAt = performance.now();
      let connectMs: number | undefined;
      let handshakeMs: number | undefined;
      let upgradeMs: number | undefined;
      let result: ProbeResult;
      try {
        const reused = conn !== undefined;
        if (!reused) ({ connectMs, handshakeMs, upgradeMs } = await open());
        const options = { timeoutMs, signal, halfClose };
        let echo = await exchange.echo(session!, payload, options).catch(async (error) => {
          // The server closed the kept-alive connection while it idled: once more on a new one.
          if (!reused || signal.aborted || !exchange.stale?.(error)) throw error;
          closed(conn!);
          ({ connectMs, handshakeMs, upgradeMs } = await open());
          return undefined;
        });
        echo ??= await exchange.echo(session!, payload, options);
        result = {
          seq,
          remote: describeRemote(conn!),
          bytes: echo.bytes,
          connectMs,
          handshakeMs,
          upgradeMs,
          connection: connections,
          instance: echo.instance,
          timeMs: echo.ms,
        };
        if (reconnect || !echo.reusable) conn = await ended(conn!, session!);
      } catch (error) {
        if (signal.aborted) break;
        const remote = conn && describeRemote(conn);
        const connection = conn && connections;
        if (conn) conn = closed(conn);
        const bytes = error instanceof ClosedEarlyError ? error.received : 0;
        result = {
          seq,
          remote,
          bytes,
          connectMs,
          handshakeMs,
          upgradeMs,
          connection,
          error: error as Error,
        };
      }
      results.push(result);
      options.onProbe?.(result);
      if (count !== 0 && seq === count) break;
      if (!await pause(startedAt + intervalMs - performance.now(), signal)) break;
    }
  } finally {
    if (conn) await ended(conn, session!);
  }
  const good = results.filter((r) => r.timeMs !== undefined);
  const measured = (ms: (r: ProbeResult) => number | undefined) =>
    stats(results.flatMap((r) => ms(r) ?? []));
  return {
    sent: results.length,
    echoed: good.length,
    failed: results.length - good.length,
    time: stats(good.map((r) => r.timeMs!)),
    connect: measured((r) => r.connectMs),
    handshake: measured((r) => r.handshakeMs),
    upgrade: measured((r) => r.upgradeMs),
    spread: spreads(good),
    firstError: results.find((r) => r.error)?.error,
    interrupted: signal.aborted,
  };
}

/** Every exact reply, and the first of each connection, by instance; undefined when none named one. */
function spreads(good: ProbeResult[]): SeriesSummary["spread"] {
  if (good.every((r) => r.instance === undefined)) return undefined;
  const sample = (r: ProbeResult) => ({ instance: r.instance ?? "(unnamed)", ms: r.timeMs! });
  const firsts = good.filter((r, i) => good.findIndex((o) => o.connection === r.connection) === i);
  return { perRequest: spreadOf(good.map(sample)), perConnection: spreadOf(firsts.map(sample)) };
}

function closed(conn: DialedConn): undefined {
  closeQuietly(conn);
  return undefined;
}

/**
 * Waits `ms`; resolves false at once if `signal` aborts first.
 *
 * @example
 * ```ts
 * import { pause } from "./probe.ts";
 *
 * const waited = await pause(100, new AbortController().signal); // true
 * ```
 */
export function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onStop = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onStop);
      resolve(true);
    }, Math.max(0, ms));
    signal.addEventListener("abort", onStop, { once: true });
  });
}

/**
 * Min, mean, nearest-rank percentiles, max and standard deviation of
 * `values`, or undefined for none.
 *
 * @example
 * ```ts
 * import { stats } from "./probe.ts";
 *
 * stats([1, 2, 3, 4])!.p50; // 2
 * ```
 */
export function stats(values: number[]): Stats | undefined {
  if (values.length === 0) return undefined;
  const sorted = values.toSorted((a, b) => a - b);
  const rank = (p: number) => nearestRank(sorted, p);
  const avg = sorted.reduce((sum, v) => sum + v, 0) / sorted.length;
  const meanSquare = sorted.reduce((sum, v) => sum + v * v, 0) / sorted.length;
  return {
    min: sorted[0],
    avg,
    p50: rank(0.5),
    p90: rank(0.9),
    p99: rank(0.99),
    max: sorted.at(-1)!,
    mdev: Math.sqrt(Math.max(0, meanSquare - avg * avg)),
  };
}

/**
 * A stable one-word name for a failure, for `--json` consumers: `resolve`,
 * `connect`, `timeout`, `closed`, `mismatch`, `tls-verify`, `not-tls`, `http-status`
 * (an HTTP status of 300 or more), `not-http` or `error`.
 *
 * @example
 * ```ts
 * import { TimeoutError } from "../net/errors.ts";
 * import { failureKind } from "./probe.ts";
 *
 * failureKind(new TimeoutError("slow")); // "timeout"
 * ```
 */
export function failureKind(error: Error): string {
  if (error instanceof ResolveError) return "resolve";
  if (error instanceof ConnectError) return "connect";
  if (error instanceof TimeoutError) return "timeout";
  if (error instanceof ClosedEarlyError) return "closed";
  if (error instanceof MismatchError) return "mismatch";
  if (error instanceof TlsVerifyError) return "tls-verify";
  if (error instanceof NotTlsError) return "not-tls";
  if (error instanceof HttpStatusError) return "http-status";
  if (error instanceof HttpResponseError) return "not-http";
  return "error";
}
