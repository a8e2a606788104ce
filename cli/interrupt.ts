/**
 * Ctrl+C as a two-step stop, the same for every command that runs for a
 * while (`serve`, `bench`, `send --count`, `check --idle`): the first Ctrl+C
 * or SIGTERM asks for a graceful end (the command still reports what it did),
 * a second one of either exits at once with code 130. Tests pass `io.stop`.
 *
 * @example
 * ```ts
 * import { consoleIo } from "./io.ts";
 * import { interruption } from "./interrupt.ts";
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

import { EXIT } from "./exit.ts";
import type { MainIo } from "./io.ts";

/** A graceful-stop request and the means to stop listening for one. */
export interface Interruption {
  /** Aborted on the first Ctrl+C or SIGTERM, or when `io.stop` is. */
  readonly signal: AbortSignal;
  /** Removes the signal listeners (a no-op with `io.stop`). */
  dispose(): void;
}

/**
 * Listens for SIGINT and SIGTERM, or uses `io.stop` when the caller (a test)
 * gives one. The first signal aborts `signal`; a second one prints one line
 * and exits the process at once with {@linkcode EXIT.interrupted}.
 *
 * @example
 * ```ts
 * import { interruption } from "./interrupt.ts";
 *
 * const stop = new AbortController();
 * const { signal } = interruption({ out() {}, err() {}, stop: stop.signal });
 * ```
 */
export function interruption(io: MainIo): Interruption {
  if (io.stop) return { signal: io.stop, dispose() {} };
  const first = new AbortController();
  const onSignal = () => {
    if (!first.signal.aborted) {
      first.abort();
    } else {
      io.err("second interrupt: exiting at once");
      Deno.exit(EXIT.interrupted);
    }
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  return {
    signal: first.signal,
    dispose() {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
    },
  };
}
