/**
 * A share of a load: what one thread of `sockecho bench` is asked to run
 * ({@linkcode LoadShare}) and what it answers (progress, then a
 * {@linkcode ShareResult} or a {@linkcode LoadFailure}). These are the
 * messages between `bench.ts`, its workers (`workers.ts`) and the engine
 * (`load.ts`), so they are plain data that a worker boundary can carry.
 *
 * @example
 * ```ts
 * import type { LoadShare } from "./share.ts";
 *
 * const share: LoadShare = {
 *   mode: "pingpong",
 *   hostname: "127.0.0.1",
 *   port: 4321,
 *   connections: 50,
 *   size: 64,
 *   durationMs: 5000,
 *   warmupMs: 1000,
 *   overrunMs: 5000,
 * };
 * ```
 *
 * @module
 */

/** One machine's part of a load split over several: shard `index` (from 0) of `count`. */
export interface Shard {
  index: number;
  count: number;
}

/** One of the workloads. */
export type BenchMode = "pingpong" | "bulk" | "connect";

/**
 * What one round trip is: a message echoed as it is (`tcp`), the body of an
 * HTTP/1.1 POST asking for the raw format (`http`), or a WebSocket binary
 * message (`ws`).
 */
export type BenchProtocol = "tcp" | "http" | "ws";

/** Where an HTTP or WebSocket load's requests go. */
export interface HttpTarget {
  /** The `Host` header: the host, with the port when it is not the scheme's. */
  host: string;
  /** The request target: a path and query. */
  path: string;
}

/**
 * One connection's round trips in one protocol (`http_trip.ts`,
 * `ws_trip.ts`; TCP's is the engine's own): send a message, fill `echo`
 * with what came back for it.
 */
export interface RoundTripper {
  /**
   * Sends `message` and reads its echo into `echo` (as long as `message`);
   * resolves with the echo's length, which the engine checks (of a longer
   * one, what fits is in `echo`).
   */
  roundTrip(message: Uint8Array, echo: Uint8Array): Promise<number>;
  /** False once the server said the connection carries nothing more (`Connection: close`). */
  readonly reusable: boolean;
}

/** How a round tripper reports what went wrong, as the engine words and names it. */
export interface TripTools {
  /** A {@linkcode LoadFailure} of that name, message and fields. */
  fail(name: LoadFailure["name"], message: string, fields?: Partial<LoadFailure>): LoadFailure;
  /**
   * A reset or broken pipe as a `ClosedEarlyError` naming the server and how
   * much of the echo came (any other error is returned as it is).
   */
  dropped(error: unknown, received: number, expected: number): unknown;
  /** The `ClosedEarlyError` of a server that ended the connection after `received` of `expected` bytes. */
  closed(received: number, expected: number): LoadFailure;
}

/** What went wrong but did not end an HTTP or WebSocket load: it was counted, and went on. */
export interface LoadErrors {
  /** Round trips the server cut: closed or reset before the whole answer came. */
  closed: number;
  /** Answers with a status other than 2xx, by status. */
  status: Record<string, number>;
}

/** The part of a load one thread runs. */
export interface LoadShare {
  /** The workload. */
  mode: BenchMode;
  /** The server's address (already resolved). */
  hostname: string;
  /** The server's port. */
  port: number;
  /** Connections this share keeps busy at once. */
  connections: number;
  /** Bytes per message (per write in `bulk`). */
  size: number;
  /** How long the measured part runs, in ms; unset, `count` alone bounds it. */
  durationMs?: number;
  /** Messages this share sends in all (round trips, connections, or writes in bulk). */
  count?: number;
  /** Run this long first without counting anything (connections warm, code compiled). */
  warmupMs: number;
  /**
   * Round trips (or connections) per second of the whole schedule this share
   * is part of: arrival i is due `i / rate` s after the start, and latency
   * counts from when each send was due. Unset: each connection sends again as
   * soon as its echo is back.
   */
  rate?: number;
  /**
   * Under a rate, which arrivals this share sends: its connection j those
   * ≡ `first + step × j` (mod `stride`), so the shares of several threads and
   * machines add up to the one schedule. Unset: all of them, connection j
   * those ≡ j (mod `connections`).
   */
  arrivals?: { first: number; step: number; stride: number };
  /** Start the clock then (ms since the epoch), once connected; unset: as soon as connected. */
  startAt?: number;
  /** How long past its time a load may run before it is cut as a timeout. */
  overrunMs: number;
  /** Connect to this Unix domain socket instead of `hostname` and `port`. */
  path?: string;
  /** Speak TLS: trust these certificates (PEM) and verify this name. */
  tls?: { caCerts?: string[]; serverName: string };
  /** What a round trip is. @default {"tcp"} */
  protocol?: BenchProtocol;
  /** For `http` and `ws`: the `Host` header and the request target. */
  http?: HttpTarget;
}

/** Totals so far, for a live display. */
export interface BenchProgress {
  /** Time since the measured part of the load started, in ms. */
  elapsedMs: number;
  /** Round trips, connections or writes completed. */
  operations: number;
  /** Bytes echoed and verified. */
  bytes: number;
}

/** What the engine needs of a latency histogram (values in ns). */
export interface LatencyRecorder {
  /** Counts one latency, in ns. */
  record(ns: number): void;
  /** Adds what {@linkcode LatencyRecorder.drain} took from another. */
  addSparse(sparse: number[]): void;
  /** How many latencies it holds. */
  totalCount: number;
  /** Takes every count out as `[index, count, …]`, leaving it empty. */
  drain(): number[];
}

/** One interval of a load (about a second), as the engine measured it. */
export interface ShareInterval {
  /** The warm-up (latencies only) or the measured window. */
  phase: "warmup" | "measure";
  /** When it began and ended, in ms since the epoch. */
  startMs: number;
  endMs: number;
  /** Round trips, connections or writes completed in it. */
  operations: number;
  /** Bytes echoed and verified in it. */
  bytes: number;
  /** Its latencies, as {@linkcode LatencyRecorder.drain} takes them. */
  counts: number[];
}

/** What one thread measured. */
export interface ShareResult<H extends LatencyRecorder = LatencyRecorder> {
  /** When the load's clock started, in ms since the epoch. */
  startMs: number;
  /** How long the measured part took, in ms. */
  elapsedMs: number;
  /** Round trips, connections or writes completed in it. */
  operations: number;
  /** Bytes echoed and verified in it. */
  bytes: number;
  /** Latencies in ns (pingpong and connect). */
  latencies: H;
  /** The load, second by second, warm-up first. */
  intervals: ShareInterval[];
  /** HTTP and WebSocket: the round trips that failed and were counted. */
  errors: LoadErrors;
}

/**
 * A failure as the engine reports it: a plain `Error` whose `name` is one of
 * `net/errors.ts`'s classes and which carries their fields, since class
 * identity does not cross a worker boundary.
 */
export type LoadFailure = Error & {
  name:
    | "ConnectError"
    | "TimeoutError"
    | "ClosedEarlyError"
    | "MismatchError"
    | "HttpStatusError"
    | "HttpResponseError"
    | "WebSocketHandshakeError";
  cause?: unknown;
  /** For a status: the code, and whether the connection is still usable after it. */
  status?: number;
  keepAlive?: boolean;
  offset?: number;
  received?: number;
  expected?: number;
  /** For a mismatch: the bytes that came back instead of the echo. */
  reply?: Uint8Array;
};
