/**
 * Where the command line writes: {@linkcode MainIo}, and the console
 * implementation the program uses. Tests pass their own recorder.
 *
 * @example
 * ```ts
 * import { consoleIo } from "./io.ts";
 *
 * consoleIo.out("Listening on 127.0.0.1:4321");
 * consoleIo.err("cannot listen on 127.0.0.1:4321: address already in use");
 * ```
 *
 * @module
 */

import { fstatSync } from "node:fs";

/** Standard input, as `send` reads it. */
export interface StandardInput {
  /** Its bytes; read once. */
  readonly readable: ReadableStream<Uint8Array>;
  /**
   * True when it is a pipe or a regular file (`echo hi |`, `< file`): input
   * given on purpose. False for a terminal, `/dev/null`, or none at all
   * (Deno opens `/dev/null` on a closed descriptor 0), where nothing must
   * wait for input.
   */
  redirected(): boolean;
}

/** Where the command line writes, and its standard input; tests pass their own. */
export interface MainIo {
  /** Writes one line to standard output. */
  out(line: string): void;
  /** Writes one error or notice line to standard error, after "sockecho: ". */
  err(message: string): void;
  /**
   * Writes one status line (stopping, stopped, a report: not an error) to
   * standard error, after "sockecho: " but not styled as an error. Where it
   * is absent, {@linkcode inform} falls back to `err`.
   */
  info?(message: string): void;
  /** Shows a transient status line (bench progress); absent when stdout is not a terminal. */
  status?(line: string): void;
  /**
   * Stops `serve` like Ctrl+C when aborted. Without it, `serve` listens for
   * SIGINT and SIGTERM, and a second SIGINT exits at once.
   */
  stop?: AbortSignal;
  /** Standard input; absent means there is none (a MESSAGE "-" is then empty). */
  stdin?: StandardInput;
}

const encoder = new TextEncoder();

/** Standard output and error; `status` only when stdout is a terminal. */
export const consoleIo: MainIo = {
  out(line) {
    writeSafely(() => console.log("%s", line));
  },
  ...Deno.stdout.isTerminal() && {
    status(line: string) {
      // Carriage return and erase-line: the status line rewrites itself in place.
      writeSafely(() => Deno.stdout.writeSync(encoder.encode(`\r\x1b[2K${line}`)));
    },
  },
  err(message) {
    // %c styling is dropped by Deno itself when stderr is not a terminal or NO_COLOR is set.
    writeSafely(() =>
      console.error("%csockecho:%c %s", "color: red; font-weight: bold", "", message)
    );
  },
  info(message) {
    writeSafely(() => console.error("sockecho: %s", message));
  },
  stdin: {
    get readable() {
      return Deno.stdin.readable;
    },
    redirected() {
      // node:fs's fstat of descriptor 0 needs no permission; Deno.stdin has no stat, and
      // Deno.statSync("/dev/stdin") wants -R, which the compiled binary does not have.
      // A terminal and /dev/null are character devices; a socket is not taken either.
      const stat = fstatSync(0);
      return stat.isFIFO() || stat.isFile();
    },
  },
};

/**
 * Writes a status line through `io.info`, or `io.err` where there is none.
 *
 * @example
 * ```ts
 * import { consoleIo, inform } from "./io.ts";
 *
 * inform(consoleIo, "stopped: 1 connection, 21 bytes echoed");
 * ```
 */
export function inform(io: MainIo, message: string): void {
  (io.info ?? io.err)(message);
}

/** Writes, ignoring a closed pipe: `sockecho serve | head` must not crash the server. */
function writeSafely(write: () => void): void {
  try {
    write();
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}
