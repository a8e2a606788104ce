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
  MismatchError,
  MissingPermissionError,
  NotTlsError,
  ResolveError,
  SockechoError,
  TimeoutError,
  TlsVerifyError,
} from "../net/errors.ts";
import { HttpResponseError, HttpStatusError } from "../net/http/client.ts";
import { WebSocketHandshakeError, WebSocketProtocolError } from "../net/http/websocket.ts";
import { ThresholdError } from "../bench/expect.ts";
import { ReportFileError } from "../bench/merge.ts";
import {
  EchoCorruptedError,
  EchoIncompleteError,
  HalfCloseError,
  IdleCutError,
  OneClientAtATimeError,
} from "../diag/errors.ts";
import { UsageError } from "./args.ts";
import type { MainIo } from "./io.ts";
import { missingPermission } from "./permission.ts";

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
  tlsVerify: 11,
  notTls: 12,
  missingPermission: 13,
  threshold: 14,
  echoCorrupted: 15,
  echoIncomplete: 16,
  halfClose: 17,
  oneClientAtATime: 18,
  idleCut: 19,
  badReport: 20,
  httpStatus: 21,
  notHttp: 22,
  webSocket: 23,
  interrupted: 130,
} as const;

type ErrorClass = abstract new (...args: never[]) => Error;

const WEBSOCKET_FAILED = "the WebSocket upgrade was refused, or the server broke the protocol";

/** Which exit code each typed error ends the program with, and what it means. */
const ERROR_EXITS: [ErrorClass, number, string][] = [
  [ResolveError, EXIT.resolve, "the host name does not resolve"],
  [ConnectError, EXIT.connect, "connection refused or host unreachable"],
  [TimeoutError, EXIT.timeout, "timed out (connect or echo)"],
  [ClosedEarlyError, EXIT.closedEarly, "server closed or reset before the whole echo came back"],
  [MismatchError, EXIT.mismatch, "the echo differs from what was sent"],
  [AddressInUseError, EXIT.addressInUse, "the address is already in use"],
  [BindPermissionError, EXIT.bindPermission, "not permitted to bind the address"],
  [AddressUnavailableError, EXIT.addressUnavailable, "the address is not this machine's"],
  [TlsVerifyError, EXIT.tlsVerify, "the server's TLS certificate was not accepted"],
  [NotTlsError, EXIT.notTls, "the peer does not speak TLS, or answered with TLS"],
  [MissingPermissionError, EXIT.missingPermission, "a Deno permission flag is missing"],
  [EchoCorruptedError, EXIT.echoCorrupted, "the echo differs from what was sent"],
  [EchoIncompleteError, EXIT.echoIncomplete, "the echo stopped short (closed, reset, silent)"],
  [HalfCloseError, EXIT.halfClose, "after our half-close the echo was cut or never ended"],
  [OneClientAtATimeError, EXIT.oneClientAtATime, "a second client was not served"],
  [IdleCutError, EXIT.idleCut, "idle connections are cut before MAX"],
  [ThresholdError, EXIT.threshold, "a run missed an --expect threshold"],
  [ReportFileError, EXIT.badReport, "a report file cannot be merged (unreadable, foreign, cut)"],
  [
    HttpStatusError,
    EXIT.httpStatus,
    "the HTTP server answered 300 or above",
  ],
  [HttpResponseError, EXIT.notHttp, "the reply is not HTTP/1.x, malformed or too big"],
  [WebSocketHandshakeError, EXIT.webSocket, WEBSOCKET_FAILED],
  [WebSocketProtocolError, EXIT.webSocket, WEBSOCKET_FAILED],
];

/** The codes of a command that sends and checks an echo (send, bench), over any transport. */
export const ECHO_CLIENT_EXITS: readonly number[] = [
  EXIT.resolve,
  EXIT.connect,
  EXIT.timeout,
  EXIT.closedEarly,
  EXIT.mismatch,
  EXIT.tlsVerify,
  EXIT.notTls,
];

/** The codes `send` adds over HTTP and WebSocket. */
export const HTTP_CLIENT_EXITS: readonly number[] = [EXIT.httpStatus, EXIT.notHttp, EXIT.webSocket];

/** What each exit code means, for the help texts. */
const EXIT_MEANINGS: ReadonlyMap<number, string> = new Map([
  [EXIT.ok, "success"],
  [EXIT.internal, "internal error (a bug: please report it)"],
  [EXIT.usage, "bad arguments"],
  ...ERROR_EXITS.map(([, code, meaning]): [number, string] => [code, meaning]),
  [EXIT.interrupted, "interrupted by Ctrl+C"],
]);

/** Codes every command can end with: success, a bug, bad arguments, a missing permission. */
const COMMON_EXITS = [EXIT.ok, EXIT.internal, EXIT.usage, EXIT.missingPermission];

/**
 * The "Exit codes:" block of a command's help: the common codes plus `codes`,
 * in order, each with its meaning or the command's own words from `meanings`.
 *
 * @example
 * ```ts
 * import { EXIT, exitCodeHelp } from "./exit.ts";
 *
 * exitCodeHelp([EXIT.connect], { [EXIT.interrupted]: "stopped at once" });
 * ```
 */
export function exitCodeHelp(
  codes: readonly number[],
  meanings: Readonly<Record<number, string>> = {},
): string {
  return [...new Set([...COMMON_EXITS, ...codes])].sort((a, b) => a - b)
    .map((code) => `  ${String(code).padEnd(4)} ${meanings[code] ?? EXIT_MEANINGS.get(code)}`)
    .join("\n");
}

/** The "Exit codes:" block of the general help: every code, and which command ends with it. */
export const EXIT_CODE_HELP: string = exitCodeHelp([...EXIT_MEANINGS.keys()], {
  ...commandNamed("serve", [EXIT.addressInUse, EXIT.bindPermission, EXIT.addressUnavailable]),
  ...commandNamed("check", [
    EXIT.echoCorrupted,
    EXIT.echoIncomplete,
    EXIT.halfClose,
    EXIT.oneClientAtATime,
  ]),
  ...commandNamed("check --idle", [EXIT.idleCut]),
  ...commandNamed("bench, merge", [EXIT.threshold]),
  ...commandNamed("merge", [EXIT.badReport]),
  ...commandNamed("send --http, --ws", HTTP_CLIENT_EXITS),
  [EXIT.interrupted]: "stopped by a second Ctrl+C or SIGTERM; bench: cut short by Ctrl+C",
});

/** The meanings of `codes`, each prefixed with who ends with it. */
function commandNamed(who: string, codes: readonly number[]): Record<number, string> {
  return Object.fromEntries(codes.map((code) => [code, `${who}: ${EXIT_MEANINGS.get(code)}`]));
}

/**
 * Writes the one line that says what went wrong and returns the exit code:
 * a typed error's own code, or {@linkcode EXIT.internal} for anything else.
 */
export function reportError(thrown: unknown, io: MainIo): number {
  const error = missingPermission(thrown) ?? thrown;
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
 * import { TimeoutError } from "../net/errors.ts";
 * import { exitCodeOf } from "./exit.ts";
 *
 * exitCodeOf(new TimeoutError("slow")); // 5
 * ```
 */
export function exitCodeOf(error: unknown): number {
  return reportError(error, { out() {}, err() {} });
}
