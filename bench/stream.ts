/**
 * `--json-stream`: one JSON line per progress tick with the figures of that
 * interval, then one with the whole report, in the manner of iperf3's
 * `--json-stream`. Each line is an object `{ event, data }`:
 *
 * - `{"event":"interval","data":{"start":1,"end":2,"operations":…,"bytes":…,
 *   "operationsPerSecond":…,"megabytesPerSecond":…}}`, times in seconds since
 *   the measured part of the run began (the warm-up has none);
 * - `{"event":"end","data":REPORT}`, the report `--json` prints, last.
 *
 * @example
 * ```ts
 * import { bench } from "./bench.ts";
 * import { jsonStream } from "./stream.ts";
 *
 * const stream = jsonStream(console.log);
 * stream.end(await bench({ hostname: "127.0.0.1", durationMs: 3000, onProgress: stream.interval }));
 * ```
 *
 * @module
 */

import type { BenchProgress, BenchReport } from "./bench.ts";

/** Writes the lines of one run, through `out` (one call per line). */
export interface JsonStream {
  /** A progress callback for `bench()`: writes the interval since the last tick. */
  interval: (progress: BenchProgress) => void;
  /** Writes the final report. */
  end: (report: BenchReport) => void;
}

/**
 * A stream of JSON lines written with `out`.
 *
 * @example
 * ```ts
 * import { jsonStream } from "./stream.ts";
 *
 * jsonStream(console.log).interval({ elapsedMs: 1000, operations: 10, bytes: 640 });
 * ```
 */
export function jsonStream(out: (line: string) => void): JsonStream {
  let last: BenchProgress = { elapsedMs: 0, operations: 0, bytes: 0 };
  return {
    interval(progress) {
      const seconds = (progress.elapsedMs - last.elapsedMs) / 1000;
      const operations = progress.operations - last.operations;
      const bytes = progress.bytes - last.bytes;
      out(JSON.stringify({
        event: "interval",
        data: {
          start: last.elapsedMs / 1000,
          end: progress.elapsedMs / 1000,
          operations,
          bytes,
          operationsPerSecond: operations / seconds,
          megabytesPerSecond: bytes / 1e6 / seconds,
        },
      }));
      last = progress;
    },
    end(report) {
      out(JSON.stringify({ event: "end", data: report }));
    },
  };
}
