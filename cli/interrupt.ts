/**
 * Ctrl+C as an abort signal, for commands that stop early and still report
 * what they did (`send --count`, `check --idle`). Tests pass `io.stop`.
 *
 * @example
 * ```ts
 * import { interruption } from "./interrupt.ts";
 * import { consoleIo } from "./io.ts";
 *
 * const stop = interruption(consoleIo);
 * try {
 *   // … long work that watches stop.signal …
 * } finally {
 *   stop.dispose();
 * }
 * ```
 *
 * @module
 */

import type { MainIo } from "./io.ts";

/** Ctrl+C (or `io.stop`) as an abort signal, until `dispose()`. */
export function interruption(io: MainIo): { signal: AbortSignal; dispose(): void } {
  if (io.stop) return { signal: io.stop, dispose() {} };
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  return { signal: abort.signal, dispose: () => Deno.removeSignalListener("SIGINT", onSignal) };
}
