/**
 * Exit codes, one per kind of failure, and the one place that turns an error
 * into its line on stderr and its code. Scripts depend on these numbers.
 *
 * @example
 * ```ts
 * import { EXIT, reportError } from "./exit.ts";
 * import { consoleIo } from "./io.ts";
 *
 * const code = reportError(new Error("boom"), consoleIo); // EXIT.internal
 * ```
 *
 * @module
 */

import {
  AddressInUseError,
  AddressUnavailableError,
  BindPermissionError,
  ClosedEarlyError,
  ConnectError,
  EchoCorruptedError,
  EchoIncompleteError,
  HalfCloseError,
  IdleCutError,
  MismatchError,
  OneClientAtATimeError,
  ResolveError,
  SockechoError,
  TimeoutError,
} from "../errors.ts";
import { UsageError } from "./args.ts";
import type { MainIo } from "./io.ts";

/** Exit codes, one per kind of failure. */
export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  resolve: 3,
  connect: 4,
  timeout: 5,
  closedEarly: 6,
  mismatch: 7,
  addressInUse: 8,
  bindPermission: 9,
  addressUnavailable: 10,
  // 11 and 12 are kept for TLS (verification failed; the peer does not speak TLS), 13 for a
  // missing Deno permission, 14 for a missed bench threshold.
  echoCorrupted: 15,
  echoIncomplete: 16,
  halfClose: 17,
  oneClientAtATime: 18,
  idleCut: 19,
  interrupted: 130,
} as const;

type ErrorClass = abstract new (...args: never[]) => Error;

/** Which exit code each typed error ends the program with, and what it means. */
const ERROR_EXITS: [ErrorClass, number, string][] = [
  [ResolveError, EXIT.resolve, "the host name does not resolve"],
  [ConnectError, EXIT.connect, "connection refused or host unreachable"],
  [TimeoutError, EXIT.timeout, "timed out (connect or echo)"],
  [ClosedEarlyError, EXIT.closedEarly, "server closed or reset before the whole echo came back"],
  [MismatchError, EXIT.mismatch, "the echo differs from what was sent"],
  [AddressInUseError, EXIT.addressInUse, "serve: the address is already in use"],
  [BindPermissionError, EXIT.bindPermission, "serve: not permitted to bind the address"],
  [AddressUnavailableError, EXIT.addressUnavailable, "serve: the address is not this machine's"],
  [EchoCorruptedError, EXIT.echoCorrupted, "check: the echo differs from what was sent"],
  [
    EchoIncompleteError,
    EXIT.echoIncomplete,
    "check: the echo stopped short (closed, reset, silent)",
  ],
  [HalfCloseError, EXIT.halfClose, "check: after our half-close the echo was cut or never ended"],
  [OneClientAtATimeError, EXIT.oneClientAtATime, "check: a second client was not served"],
  [IdleCutError, EXIT.idleCut, "check --idle: idle connections are cut before MAX"],
];

/** The "Exit codes:" block of the help texts. */
export const EXIT_CODE_HELP: string = [
  `  ${EXIT.ok}    success`,
  `  ${EXIT.internal}    internal error (a bug: please report it)`,
  `  ${EXIT.usage}    bad arguments`,
  ...ERROR_EXITS.map(([, code, meaning]) => `  ${String(code).padEnd(4)} ${meaning}`),
  `  ${EXIT.interrupted}  serve: stopped at once by a second Ctrl+C`,
].join("\n");

/**
 * Writes the one line that says what went wrong and returns the exit code:
 * a typed error's own code, or {@linkcode EXIT.internal} for anything else.
 */
export function reportError(error: unknown, io: MainIo): number {
  if (error instanceof UsageError) {
    io.err(error.message);
    return EXIT.usage;
  }
  if (error instanceof SockechoError) {
    io.err(error.message);
    return ERROR_EXITS.find(([kind]) => error instanceof kind)?.[1] ?? EXIT.internal;
  }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  io.err(`internal error: ${message}`);
  return EXIT.internal;
}

/**
 * The exit code {@linkcode reportError} gives `error`, without printing: for
 * reports that have already said what failed (a probe series, `check`).
 *
 * @example
 * ```ts
 * import { TimeoutError } from "../errors.ts";
 * import { exitCodeOf } from "./exit.ts";
 *
 * exitCodeOf(new TimeoutError("slow")); // 5
 * ```
 */
export function exitCodeOf(error: unknown): number {
  return reportError(error, { out() {}, err() {} });
}
