/**
 * Ctrl+C as a two-step stop, the same for every command that runs for a
 * while: the first Ctrl+C (or SIGTERM) asks for a graceful end, a second
 * Ctrl+C exits at once with code 130.
 *
 * @example
 * ```ts
 * import { consoleIo } from "./io.ts";
 * import { interrupts } from "./interrupt.ts";
 *
 * const interrupt = interrupts(consoleIo);
 * interrupt.signal.addEventListener("abort", () => console.log("finishing up"));
 * interrupt.dispose();
 * ```
 *
 * @module
 */

import { EXIT } from "./exit.ts";
import type { MainIo } from "./io.ts";

/** A graceful-stop request and the means to stop listening for one. */
export interface Interrupts {
  /** Aborted on the first Ctrl+C or SIGTERM, or when `io.stop` is. */
  readonly signal: AbortSignal;
  /** Removes the signal listeners (a no-op with `io.stop`). */
  dispose(): void;
}

/**
 * Listens for SIGINT and SIGTERM, or uses `io.stop` when the caller (a test)
 * gives one. The first signal aborts `signal`; a second SIGINT prints one
 * line and exits the process at once with {@linkcode EXIT.interrupted}.
 *
 * @example
 * ```ts
 * import { interrupts } from "./interrupt.ts";
 *
 * const stop = new AbortController();
 * const { signal } = interrupts({ out() {}, err() {}, stop: stop.signal });
 * ```
 */
export function interrupts(io: MainIo): Interrupts {
  if (io.stop) return { signal: io.stop, dispose() {} };
  const first = new AbortController();
  const onSignal = () => {
    if (!first.signal.aborted) {
      // From here a SIGTERM ends the process the default way.
      Deno.removeSignalListener("SIGTERM", onSignal);
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
      if (!first.signal.aborted) Deno.removeSignalListener("SIGTERM", onSignal);
    },
  };
}
