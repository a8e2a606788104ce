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
}

/**
 * A failure as the engine reports it: a plain `Error` whose `name` is one of
 * `net/errors.ts`'s classes and which carries their fields, since class
 * identity does not cross a worker boundary.
 */
export type LoadFailure = Error & {
  name: "ConnectError" | "TimeoutError" | "ClosedEarlyError" | "MismatchError";
  cause?: unknown;
  offset?: number;
  received?: number;
  expected?: number;
  /** For a mismatch: the bytes that came back instead of the echo. */
  reply?: Uint8Array;
};
