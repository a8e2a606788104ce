/**
 * A load generator for echo servers. Three workloads, every echoed byte
 * verified:
 *
 * - `pingpong`: each connection sends a message, waits for all of its echo,
 *   repeats (round trips/s and latency);
 * - `bulk`: each connection streams while reading the echo back (MB/s);
 * - `connect`: connect, one small echo, close, repeated (connections/s).
 *
 * The load can be spread over several workers so the generator is not what
 * saturates. The module never prints: progress goes to a callback.
 *
 * @example
 * ```ts
 * import { bench } from "./bench.ts";
 *
 * const report = await bench({ hostname: "127.0.0.1", port: 4321, durationMs: 2000 });
 * console.log(report.operationsPerSecond, "round trips/s");
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { isIP } from "node:net";
import { Histogram, type LatencySummary } from "./histogram.ts";
import { encodeHistogram } from "./histogram_codec.ts";
import { type BenchInterval, combineIntervals, type RunFigures } from "./intervals.ts";
import type {
  BenchMode,
  BenchProgress,
  BenchProtocol,
  HttpTarget,
  LoadErrors,
  LoadFailure,
  LoadShare,
  Shard,
  ShareResult,
} from "./share.ts";
import { runLoad, shardOf } from "./workers.ts";
import { addErrors, noneAnswered, typedError } from "./failures.ts";
import { udpPingpong, type UdpResult } from "./udp.ts";
import { ConnectError, describeOsError, SockechoError } from "../net/errors.ts";
import { formatAddress } from "../net/format.ts";
import { resolveHost } from "../net/resolve.ts";
import { DEFAULT_PORT } from "../net/listen.ts";
import { connectTls, type TlsClientOptions } from "../net/tls/client.ts";

export type {
  BenchInterval,
  BenchMode,
  BenchProgress,
  BenchProtocol,
  HttpTarget,
  LatencySummary,
  LoadErrors,
  Shard,
};

/** The workloads {@linkcode bench} can generate. */
export const BENCH_MODES: readonly BenchMode[] = ["pingpong", "bulk", "connect"];

/** Options for {@linkcode bench}. */
export interface BenchOptions {
  /** The server: a host name or an address (its first address is used). */
  hostname: string;
  /** The server's port. @default {4321} */
  port?: number;
  /** The workload. @default {"pingpong"} */
  mode?: BenchMode;
  /** Connections kept busy at once. @default {1} */
  connections?: number;
  /** Bytes per message (per write in `bulk`). @default {64, or 65536 for bulk} */
  size?: number;
  /** Stop after this long, in ms. @default {5000 when `count` is not set} */
  durationMs?: number;
  /** Stop after this many messages in all (round trips, connections, or writes in bulk). */
  count?: number;
  /** Worker threads to spread the connections over; 1 runs in this thread. @default {1} */
  workers?: number;
  /** Run this long before measuring; nothing in it is counted. @default {0} */
  warmupMs?: number;
  /**
   * Round trips (pingpong) or connections (connect) per second in all, sent on
   * a fixed schedule (open model); latency then counts from when each was
   * due, so a server that stalls shows in the tail. Not for bulk.
   * @default {unset: each connection sends again as soon as its echo is back}
   */
  rate?: number;
  /**
   * How long a load may run past its duration (or past 60 s when only
   * `count` bounds it) before it is cut and reported as a timeout.
   * @default {5000}
   */
  overrunMs?: number;
  /** Called about once a second with the totals so far. */
  onProgress?: (progress: BenchProgress) => void;
  /**
   * Ends the load early when aborted: the messages in flight are finished
   * and the report covers the load until then.
   */
  signal?: AbortSignal;
  /** Speak TLS, trusting the server as `send` would (checked once before the load). */
  tls?: TlsClientOptions;
  /** Load this Unix domain socket instead of `hostname` and `port`. */
  path?: string;
  /** Pingpong over UDP (`bench/udp.ts`), one socket per connection, in this thread. */
  udp?: boolean;
  /**
   * What a round trip is: the message echoed as it is (`tcp`), the body of an
   * HTTP/1.1 POST in the raw format, kept alive (`http`), or a WebSocket
   * binary message (`ws`). Over HTTP and WebSocket a cut or a status other
   * than 2xx is counted in the report's `errors` and the load goes on (on a
   * new connection if need be); not for bulk or UDP.
   * @default {"tcp"}
   */
  protocol?: BenchProtocol;
  /**
   * With `http` or `ws`: the `Host` header and the request target.
   * @default {{ host: "HOSTNAME:PORT", path: "/" }}
   */
  request?: HttpTarget;
  /** With `udp`: how long to wait for an echo before counting the datagram lost, in ms. @default {1000} */
  lossTimeoutMs?: number;
  /**
   * Run this shard of a load split over several machines: its part of the
   * connections and the count and, under a rate, the arrivals i ≡ index
   * (mod count) of the one schedule, so the shards add up to one machine's load.
   */
  shard?: Shard;
  /** Start the load's clock then (ms since the epoch), once connected: shards start together. */
  startAt?: number;
}

/** What {@linkcode bench} measured. */
export interface BenchReport extends RunFigures {
  mode: BenchMode;
  /** What a round trip was (absent in reports of sockecho before HTTP: tcp). */
  protocol?: BenchProtocol;
  /** With `http` or `ws`: the URL loaded (scheme, `Host` and path). */
  url?: string;
  /** The address loaded, `host:port` or a Unix socket's path. */
  target: string;
  connections: number;
  size: number;
  workers: number;
  /** From the first message to the last echo, in ms (connection set-up excluded). */
  elapsedMs: number;
  /** The run second by second, warm-up first. */
  intervals: BenchInterval[];
  /** When the load's clock started (its first thread's), in ms since the epoch. */
  startTimeMs: number;
  /** The shard this run was, or null for a whole load. */
  shard: Shard | null;
  /** The warm-up run before the measured time, in ms. */
  warmupMs: number;
  /** The rate asked for (per second) and how far the run fell short of it; null without one. */
  rate: { offered: number; achieved: number; shortfallPercent: number } | null;
  /** With `udp`: datagrams whose echo did not come back in time. */
  lost?: number;
  /** With `http` or `ws`: the round trips that failed but did not end the run. */
  errors?: LoadErrors & { count: number };
}

/**
 * Runs one load against an echo server and reports what it measured. Throws
 * `ResolveError`, {@linkcode ConnectError}, {@linkcode TimeoutError} (the
 * server stopped answering), {@linkcode ClosedEarlyError} or
 * {@linkcode MismatchError}.
 *
 * @example
 * ```ts
 * import { bench } from "./bench.ts";
 *
 * const { megabytesPerSecond } = await bench({
 *   hostname: "127.0.0.1",
 *   mode: "bulk",
 *   connections: 8,
 *   workers: 2,
 *   durationMs: 3000,
 * });
 * ```
 */
export async function bench(options: BenchOptions): Promise<BenchReport> {
  const mode = options.mode ?? "pingpong";
  const protocol = options.protocol ?? "tcp";
  const shard = options.shard ?? { index: 0, count: 1 };
  if (options.rate !== undefined && mode === "bulk") {
    throw new RangeError("a rate applies to pingpong and connect, not bulk");
  }
  if (protocol !== "tcp" && (mode === "bulk" || options.udp)) {
    throw new RangeError(`${protocol} round trips are pingpong or connect, not bulk or UDP`);
  }
  if (options.udp && (options.rate !== undefined || options.warmupMs)) {
    throw new RangeError("a rate and a warm-up apply to TCP, TLS and Unix sockets, not UDP");
  }
  const port = options.port ?? DEFAULT_PORT;
  const [address] = options.path === undefined ? await resolveHost(options.hostname) : [""];
  const request = options.request ??
    { host: formatAddress({ hostname: options.hostname, port }), path: "/" };
  const share: LoadShare = shardOf({
    mode,
    hostname: address,
    port,
    path: options.path,
    tls: options.tls && await loadTrust(options.hostname, address, port, options.tls),
    connections: options.connections ?? 1,
    size: options.size ?? (mode === "bulk" ? 65536 : 64),
    durationMs: options.durationMs ?? (options.count === undefined ? 5000 : undefined),
    count: options.count,
    warmupMs: options.warmupMs ?? 0,
    rate: options.rate,
    startAt: options.startAt,
    overrunMs: options.overrunMs ?? 5000,
    ...protocol !== "tcp" && { protocol, http: request },
  }, shard);
  const { connections } = share;
  const workers = Math.max(1, Math.min(options.workers ?? 1, connections));
  let results: ShareResult<Histogram>[];
  try {
    results = options.udp
      ? [
        await udpPingpong(
          {
            ...share,
            sockets: connections,
            lossTimeoutMs: options.lossTimeoutMs ?? 1000,
          },
          options.onProgress,
          options.signal,
        ),
      ]
      : await runLoad(share, workers, options.onProgress, options.signal);
  } catch (error) {
    throw typedError(error as LoadFailure);
  }
  const errors = protocol === "tcp" ? undefined : addErrors(results.map((r) => r.errors));
  const operations = results.reduce((sum, r) => sum + r.operations, 0);
  if (errors && errors.count > 0 && operations === 0) throw noneAnswered(errors, share.size);
  const elapsedMs = Math.max(...results.map((r) => r.elapsedMs));
  const bytes = results.reduce((sum, r) => sum + r.bytes, 0);
  // Zero when Ctrl+C came during the warm-up: nothing was measured.
  const perSecond = (amount: number) => elapsedMs > 0 ? amount / (elapsedMs / 1000) : 0;
  const operationsPerSecond = perSecond(operations);
  const latencies = mergeLatencies(results);
  const offered = share.rate === undefined ? undefined : share.rate / shard.count;
  const scheme = protocol === "ws" ? "ws" : "http";
  return {
    mode,
    protocol,
    ...protocol !== "tcp" &&
      { url: `${scheme}${options.tls ? "s" : ""}://${request.host}${request.path}` },
    target: share.path ?? formatAddress(share),
    connections,
    size: share.size,
    workers,
    elapsedMs,
    operations,
    bytes,
    operationsPerSecond,
    megabytesPerSecond: perSecond(bytes / 1e6),
    latencyMs: mode === "bulk" ? null : latencies.summary(),
    histogram: mode === "bulk" ? null : encodeHistogram(latencies),
    intervals: combineIntervals(
      results.map(({ intervals }) =>
        intervals.map(({ counts, ...interval }) => ({
          ...interval,
          latencies: mode === "bulk" ? null : withCounts(counts),
        }))
      ),
    ),
    startTimeMs: Math.min(...results.map((r) => r.startMs)),
    shard: options.shard ?? null,
    warmupMs: share.warmupMs,
    rate: offered === undefined ? null : {
      offered,
      achieved: operationsPerSecond,
      shortfallPercent: Math.max(0, 100 * (1 - operationsPerSecond / offered)),
    },
    ...options.udp && { lost: (results[0] as UdpResult).lost },
    ...errors && { errors },
  };
}

/**
 * Checks the server's certificate once, exactly as `send` does (so a refused
 * one fails with the same error), and says what the load's `Deno.startTls`
 * must trust: the `--ca` files, or, when pinned or insecure, the very
 * certificate just checked (it cannot skip verification).
 */
async function loadTrust(
  hostname: string,
  address: string,
  port: number,
  tls: TlsClientOptions,
): Promise<LoadShare["tls"]> {
  const where = formatAddress({ hostname: address, port });
  const cannot = (why: string, cause: unknown) =>
    new ConnectError(`cannot load ${where} over TLS: ${why}`, { cause });
  const { conn, session } = await connectTls({ hostname, address, port, tls }).catch((error) => {
    throw error instanceof SockechoError ? error : cannot(describeOsError(error), error);
  });
  conn.close();
  const serverName = tls.servername ?? (isIP(hostname) ? address : hostname);
  if (tls.pin === undefined && !tls.insecure) return { caCerts: tls.ca, serverName };
  const base64 = Buffer.from(session.certificate).toString("base64").replace(/.{64}/g, "$&\n");
  const trust = {
    caCerts: [`-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`],
    serverName,
  };
  // Deno's TLS takes the pinned certificate as the one to trust only if it is
  // a leaf for this name (sockecho's own is); say so now rather than mid-load.
  try {
    const trial = await Deno.connectTls({ hostname: address, port, ...trust });
    await trial.handshake().finally(() => trial.close());
  } catch (error) {
    throw cannot(
      `its certificate cannot be trusted as pinned by the load (${describeOsError(error)}); ` +
        `use --ca with its issuer and --servername if needed`,
      error,
    );
  }
  return trust;
}

/** All the threads' latencies in one histogram, exactly. */
function mergeLatencies(results: ShareResult<Histogram>[]): Histogram {
  const all = new Histogram();
  for (const result of results) all.add(result.latencies);
  return all;
}

/** A histogram holding the counts an interval took. */
function withCounts(counts: number[]): Histogram {
  const histogram = new Histogram();
  histogram.addSparse(counts);
  return histogram;
}
