/**
 * The verdicts of the path checker (`check`, `check --idle`) as typed errors:
 * each names one way an echo path fails, and `cli/exit.ts` maps each to its
 * own exit code (15 to 19).
 *
 * @example
 * ```ts
 * import { check } from "./check.ts";
 * import { HalfCloseError } from "./errors.ts";
 *
 * const report = await check({ hostname: "127.0.0.1", port: 4321 });
 * if (report.failure instanceof HalfCloseError) console.log(report.failure.message);
 * ```
 *
 * @module
 */

import { SockechoError } from "../net/errors.ts";

/** `check`: the echo differs from what was sent (a byte changed, or extra bytes came). */
export class EchoCorruptedError extends SockechoError {}

/** `check`: the echo stopped short: the server closed, reset or fell silent. */
export class EchoIncompleteError extends SockechoError {}

/** `check`: after our half-close the echo was cut, reset, or never ended with a FIN. */
export class HalfCloseError extends SockechoError {}

/** `check`: a second connection got no echo while the first stayed open. */
export class OneClientAtATimeError extends SockechoError {}

/** `check --idle`: an idle connection was cut before the longest idle time tried. */
export class IdleCutError extends SockechoError {}
