/**
 * Where a load runs: in this thread when it has one share, else split into
 * one share per worker thread, their progress summed and their results
 * handed back side by side.
 *
 * A worker runs a `blob:` module made of source text: the engine
 * (`load.ts`), its connections (`channels.ts`, with the classes of
 * `conn_input.ts`, `http_trip.ts` and `ws_trip.ts`), the classes of
 * `schedule.ts` and `tally.ts` and the latency histogram (`histogram.ts`),
 * each self-contained, since a worker started from a module file needs read
 * permission and sockecho runs with `-N` only. The engine is put together
 * here twice, in this thread's code and in the worker's text: the two must
 * pass it the same things.
 *
 * @example
 * ```ts
 * import { runLoad } from "./workers.ts";
 *
 * const share = {
 *   mode: "bulk",
 *   hostname: "127.0.0.1",
 *   port: 4321,
 *   connections: 8,
 *   size: 65536,
 *   durationMs: 3000,
 *   warmupMs: 0,
 *   overrunMs: 5000,
 * } as const;
 * const results = await runLoad(share, 2); // 4 connections in each of 2 workers
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { channelKit } from "./channels.ts";
import { ConnInput } from "./conn_input.ts";
import { Histogram } from "./histogram.ts";
import { HttpRoundTrip } from "./http_trip.ts";
import { loadEngine } from "./load.ts";
import { WsRoundTrip } from "./ws_trip.ts";
import { Budget, Pacer } from "./schedule.ts";
import { Tally } from "./tally.ts";
import type { BenchProgress, LoadFailure, LoadShare, Shard, ShareResult } from "./share.ts";

/**
 * Runs `share` over `workers` threads (1: this one), connections and count
 * divided as evenly as they go (each thread sends its connections' arrivals
 * of the schedule), and resolves with each thread's result.
 * Rejects with the first thread's {@linkcode LoadFailure}.
 */
export async function runLoad(
  share: LoadShare,
  workers: number,
  onProgress?: (progress: BenchProgress) => void,
  signal?: AbortSignal,
): Promise<ShareResult<Histogram>[]> {
  const shares = splitShare(share, workers);
  if (shares.length > 1) return await runInWorkers(shares, onProgress, signal);
  const engine = loadEngine(
    Buffer.compare,
    () => new Histogram(),
    { Budget, Pacer, Tally },
    channelKit({ ConnInput, HttpRoundTrip, WsRoundTrip }),
  );
  return [await engine.runShare(shares[0], onProgress, signal)];
}

/**
 * The part of the whole load `share` that shard `shard.index` of
 * `shard.count` runs: its part of the connections and the count and, under a
 * rate, the arrivals i ≡ index (mod count) of the one schedule, so that the
 * shards add up to exactly one machine's load. Throws a `RangeError` for a
 * shard that does not exist or would have no connection.
 *
 * @example
 * ```ts
 * import { shardOf } from "./workers.ts";
 *
 * const whole = {
 *   mode: "pingpong",
 *   hostname: "127.0.0.1",
 *   port: 4321,
 *   connections: 10,
 *   size: 64,
 *   rate: 1000,
 *   warmupMs: 0,
 *   overrunMs: 5000,
 * } as const;
 * shardOf(whole, { index: 1, count: 4 }).arrivals; // { first: 1, step: 4, stride: 12 }
 * ```
 */
export function shardOf(share: LoadShare, { index, count }: Shard): LoadShare {
  if (!(Number.isInteger(index) && index >= 0 && index < count)) {
    throw new RangeError(`shard ${index} of ${count}: expected 0 to ${count - 1}`);
  }
  if (share.connections < count) {
    throw new RangeError(`${count} shards need at least as many connections`);
  }
  const connections = splitEvenly(share.connections, count, index);
  return {
    ...share,
    connections,
    count: share.count === undefined ? undefined : splitEvenly(share.count, count, index),
    // Shard K's connection j sends arrivals K + N·j, then every N·connections-th.
    arrivals: { first: index, step: count, stride: count * connections },
  };
}

/**
 * `parts` shares of `share`, the first ones a connection (and message) more
 * when it does not divide; each keeps its connections' arrivals of the
 * schedule, so together they send exactly what `share` would.
 *
 * @example
 * ```ts
 * import { splitShare } from "./workers.ts";
 *
 * const share = {
 *   mode: "pingpong",
 *   hostname: "127.0.0.1",
 *   port: 4321,
 *   connections: 5,
 *   size: 64,
 *   warmupMs: 0,
 *   overrunMs: 5000,
 * } as const;
 * splitShare(share, 2).map((part) => part.arrivals?.first); // [0, 3]
 * ```
 */
export function splitShare(share: LoadShare, parts: number): LoadShare[] {
  const { first, step, stride } = share.arrivals ??
    { first: 0, step: 1, stride: share.connections };
  let connectionsBefore = 0;
  return Array.from({ length: parts }, (_, i) => {
    const connections = splitEvenly(share.connections, parts, i);
    const part = {
      ...share,
      connections,
      count: share.count === undefined ? undefined : splitEvenly(share.count, parts, i),
      arrivals: { first: first + step * connectionsBefore, step, stride },
    };
    connectionsBefore += connections;
    return part;
  });
}

/**
 * Part `i` of `total` split in `parts` as evenly as it goes, the first parts
 * one more when it does not divide: also how many of the arrivals 0 … total−1
 * are ≡ i (mod parts).
 *
 * @example
 * ```ts
 * import { splitEvenly } from "./workers.ts";
 *
 * [0, 1, 2].map((i) => splitEvenly(10, 3, i)); // [4, 3, 3]
 * ```
 */
export function splitEvenly(total: number, parts: number, i: number): number {
  return Math.floor(total / parts) + (i < total % parts ? 1 : 0);
}

/** A message from a worker running `workerSource()`: latencies come encoded. */
interface WorkerMessage {
  progress?: BenchProgress;
  result?: ShareResult<Histogram>;
  error?: LoadFailure;
}

/** Runs each share in a worker of its own; worker 0's ticks pace the summed progress. */
async function runInWorkers(
  shares: LoadShare[],
  onProgress?: (progress: BenchProgress) => void,
  signal?: AbortSignal,
): Promise<ShareResult<Histogram>[]> {
  const source = URL.createObjectURL(new Blob([workerSource()], { type: "text/javascript" }));
  const latest = shares.map(() => ({ elapsedMs: 0, operations: 0, bytes: 0 }));
  const workers = shares.map(() => new Worker(source, { type: "module" }));
  const stop = () => workers.forEach((worker) => worker.postMessage({ stop: true }));
  signal?.addEventListener("abort", stop);
  try {
    return await Promise.all(
      workers.map((worker, i) =>
        new Promise<ShareResult<Histogram>>((resolve, reject) => {
          worker.onmessage = ({ data }: MessageEvent<WorkerMessage>) => {
            if (data.result) {
              return resolve({
                ...data.result,
                latencies: Histogram.from(data.result.latencies),
              });
            }
            if (data.error) return reject(data.error);
            latest[i] = data.progress!;
            // Worker 0's tick paces the combined progress report.
            if (i === 0) {
              onProgress?.({
                elapsedMs: latest[0].elapsedMs,
                operations: latest.reduce((sum, p) => sum + p.operations, 0),
                bytes: latest.reduce((sum, p) => sum + p.bytes, 0),
              });
            }
          };
          worker.onerror = (event) => {
            event.preventDefault();
            reject(new Error(event.message));
          };
          worker.postMessage(shares[i]);
          if (signal?.aborted) worker.postMessage({ stop: true });
        })
      ),
    );
  } finally {
    signal?.removeEventListener("abort", stop);
    workers.forEach((worker) => worker.terminate());
    URL.revokeObjectURL(source);
  }
}

/**
 * The source of a worker module that runs `loadEngine`: it answers a posted
 * `LoadShare` with progress messages and then `{ result }` (its latencies as
 * a `Histogram`'s plain fields) or `{ error }`; a posted
 * `{ stop: true }` ends the load early.
 */
function workerSource(): string {
  return `import { Buffer } from "node:buffer";
const Histogram = (${Histogram.toString()});
const schedule = {
  Budget: (${Budget.toString()}),
  Pacer: (${Pacer.toString()}),
  Tally: (${Tally.toString()}),
};
const kit = (${channelKit.toString()})({
  ConnInput: (${ConnInput.toString()}),
  HttpRoundTrip: (${HttpRoundTrip.toString()}),
  WsRoundTrip: (${WsRoundTrip.toString()}),
});
const { runShare } = (${loadEngine.toString()})(Buffer.compare, () => new Histogram(), schedule, kit);
const stop = new AbortController();
self.onmessage = async ({ data }) => {
  if (data.stop) return stop.abort();
  try {
    const result = await runShare(data, (progress) => self.postMessage({ progress }), stop.signal);
    self.postMessage({ result }, [result.latencies.counts.buffer]);
  } catch (error) {
    const { name, message, offset, received, expected, reply } = error;
    self.postMessage({ error: { name, message, offset, received, expected, reply } });
  }
};
`;
}
