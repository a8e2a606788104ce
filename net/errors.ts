/**
 * Typed errors of the network layer, raised by {@linkcode serve},
 * {@linkcode send} and everything built on them: each class is one kind of
 * failure, and `cli/exit.ts` maps each to one exit code. The path checker's
 * own verdicts are in `diag/errors.ts`.
 *
 * @example
 * ```ts
 * import { send } from "../diag/send.ts";
 * import { ConnectError } from "./errors.ts";
 *
 * try {
 *   await send({ hostname: "127.0.0.1", port: 1 });
 * } catch (error) {
 *   if (error instanceof ConnectError) console.log(error.message);
 * }
 * ```
 *
 * @module
 */

/** Base class of every failure sockecho reports on purpose. */
export class SockechoError extends Error {
  /** Creates an error with a one-line, user-facing message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A host name did not resolve to any address. */
export class ResolveError extends SockechoError {}

/** Every address of the host refused or could not be reached. */
export class ConnectError extends SockechoError {}

/** The operation did not finish within its time limit. */
export class TimeoutError extends SockechoError {}

/** The peer closed or reset the connection before the whole echo came back. */
export class ClosedEarlyError extends SockechoError {
  /** Creates the error; `received` of `expected` bytes had come back. */
  constructor(
    message: string,
    readonly received: number,
    readonly expected: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The echo differs from what was sent. */
export class MismatchError extends SockechoError {
  /** Creates the error; `offset` is the index of the first differing byte. */
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

/** The server closed a connection that made no progress for its idle timeout. */
export class IdleTimeoutError extends SockechoError {}

/** The listening address is already taken by another socket. */
export class AddressInUseError extends SockechoError {}

/** The operating system refused to bind the address (e.g. a port below 1024). */
export class BindPermissionError extends SockechoError {}

/** The address is not one of this machine's (it cannot be bound). */
export class AddressUnavailableError extends SockechoError {}

/**
 * Deno refused an operation for want of a permission flag; the message names
 * the flag to add (e.g. `-N`, `-R=cert.pem`).
 */
export class MissingPermissionError extends SockechoError {}

/**
 * The server's TLS certificate was not accepted: unknown issuer, expired,
 * not for this name, or not the pinned one. The message says which.
 */
export class TlsVerifyError extends SockechoError {}

/**
 * The peer does not speak TLS though `--tls` asked for it, or answered with
 * TLS though it was not asked for.
 */
export class NotTlsError extends SockechoError {}

/** A client's TLS handshake failed or did not finish in time (the server closes it). */
export class TlsHandshakeError extends SockechoError {}
/** Describes an OS error in a few words, e.g. "connection refused". */
export function describeOsError(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionRefused) return "connection refused";
  if (error instanceof Deno.errors.ConnectionReset) {
    return "connection reset by peer";
  }
  if (error instanceof Deno.errors.TimedOut) return "timed out";
  if (error instanceof Deno.errors.NetworkUnreachable) {
    return "network unreachable";
  }
  if (error instanceof Deno.errors.AddrInUse) return "address already in use";
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return "address not available on this machine";
  }
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  // Strip Deno's " (os error N)" suffix: the words already say it.
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/ \(os error \d+\)$/, "").toLowerCase();
}
