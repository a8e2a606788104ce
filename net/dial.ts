/**
 * Opening a connection for the diagnostics (`send` probe series, `check`):
 * one small function type, {@linkcode Dialer}, so that the transports (TCP,
 * a Unix socket: {@linkcode dialStream}; TLS: {@linkcode tlsDialer}) plug in
 * without the probes knowing.
 *
 * @example
 * ```ts
 * import { dialTcp } from "./dial.ts";
 *
 * const conn = await dialTcp({ hostname: "127.0.0.1", port: 4321 }, AbortSignal.timeout(5000));
 * conn.close();
 * ```
 *
 * @module
 */

import { isIP } from "node:net";
import {
  ConnectError,
  describeOsError,
  MissingPermissionError,
  SockechoError,
  TimeoutError,
} from "./errors.ts";
import { formatAddress, formatSeconds } from "./format.ts";
import { resolveHost } from "./resolve.ts";
import type { StreamConn } from "./io.ts";
import { connectTls, type TlsClientOptions, type TlsSession } from "./tls/client.ts";

/** A host and port to connect to. */
export interface NetTarget {
  /** A host name, an IPv4 or an IPv6 address. */
  hostname: string;
  /** The port. */
  port: number;
}

/** A Unix domain socket to connect to. */
export interface UnixTarget {
  /** The socket's path. */
  path: string;
}

/** Where to connect. */
export type DialTarget = NetTarget | UnixTarget;

/** An open connection; over TLS, with what its handshake settled. */
export interface DialedConn extends StreamConn {
  /** With TLS: the session, whose `handshakeMs` is part of the dial's time. */
  readonly tls?: TlsSession;
}

/**
 * Opens a stream connection to `target`, or throws `ConnectError`,
 * `ResolveError`, `MissingPermissionError`, or `TimeoutError` once `signal`
 * aborts (over TLS also `TlsVerifyError` and `NotTlsError`).
 */
export type Dialer = (target: DialTarget, signal: AbortSignal) => Promise<DialedConn>;

/** Turns a host name into the addresses to try, in order. */
export type Resolver = (hostname: string) => Promise<string[]>;

/**
 * Names a target: `host:port`, or the socket's path.
 *
 * @example
 * ```ts
 * import { describeTarget } from "./dial.ts";
 *
 * describeTarget({ hostname: "::1", port: 4321 }); // "[::1]:4321"
 * describeTarget({ path: "/tmp/echo.sock" }); // "/tmp/echo.sock"
 * ```
 */
export function describeTarget(target: DialTarget): string {
  return "path" in target ? target.path : formatAddress(target);
}

/**
 * A {@linkcode Dialer} for TCP to a {@linkcode NetTarget} (its host's
 * addresses from `resolve`), or to a {@linkcode UnixTarget}'s socket: the
 * plain (not TLS) transports.
 *
 * @example
 * ```ts
 * import { streamDialer } from "./dial.ts";
 *
 * const dial = streamDialer(() => Promise.resolve(["127.0.0.1"]));
 * const conn = await dial({ hostname: "echo.test", port: 4321 }, AbortSignal.timeout(2000));
 * conn.close();
 * ```
 */
export function streamDialer(resolve: Resolver = resolveHost): Dialer {
  return async (target, signal) => {
    if (!("path" in target)) return await dialTcp(target, signal, resolve);
    try {
      return await Deno.connect({ transport: "unix", path: target.path });
    } catch (error) {
      throw permissionError(target.path, error) ??
        new ConnectError(`cannot connect to ${target.path}: ${describeOsError(error)}`, {
          cause: error,
        });
    }
  };
}

/**
 * Connects over TCP to a {@linkcode NetTarget}, or to a
 * {@linkcode UnixTarget}'s socket: {@linkcode streamDialer} with the system resolver.
 *
 * @example
 * ```ts
 * import { dialStream } from "./dial.ts";
 *
 * const conn = await dialStream({ path: "/tmp/echo.sock" }, AbortSignal.timeout(2000));
 * conn.close();
 * ```
 */
export const dialStream: Dialer = streamDialer();

/**
 * A {@linkcode Dialer} for TLS over TCP, trusting the server as `trust`
 * says; the connection it opens carries its {@linkcode TlsSession}.
 *
 * @example
 * ```ts
 * import { tlsDialer } from "./dial.ts";
 *
 * const dial = tlsDialer({ insecure: true });
 * const conn = await dial({ hostname: "127.0.0.1", port: 4433 }, AbortSignal.timeout(2000));
 * console.log(conn.tls?.handshakeMs);
 * conn.close();
 * ```
 */
export function tlsDialer(trust: TlsClientOptions, resolve: Resolver = resolveHost): Dialer {
  return (target, signal) => {
    if ("path" in target) throw new RangeError("TLS is dialed over TCP, not a Unix socket");
    return eachAddress(target, signal, resolve, async (address) => {
      const { hostname, port } = target;
      const { conn, session } = await connectTls({ hostname, address, port, tls: trust, signal });
      return Object.assign(conn, { tls: session });
    });
  };
}

/**
 * The error to throw when a connect was refused for want of a Deno
 * permission, naming the flags to add; undefined for any other error.
 *
 * @example
 * ```ts
 * import { permissionError } from "./dial.ts";
 *
 * permissionError("/tmp/echo.sock", new Deno.errors.NotCapable("no")); // MissingPermissionError
 * ```
 */
export function permissionError(
  where: string,
  error: unknown,
): MissingPermissionError | undefined {
  if (!(error instanceof Deno.errors.NotCapable)) return undefined;
  return new MissingPermissionError(
    `cannot connect to ${where}: Deno needs read and write permission for it: ` +
      `add -R=${where} -W=${where}`,
    { cause: error },
  );
}

/**
 * Connects over TCP, trying each address of the host in turn, with Nagle off
 * so that small probes are timed, not batched.
 *
 * @example
 * ```ts
 * import { dialTcp } from "./dial.ts";
 *
 * const conn = await dialTcp({ hostname: "localhost", port: 4321 }, AbortSignal.timeout(2000));
 * conn.close();
 * ```
 */
export function dialTcp(
  target: NetTarget,
  signal: AbortSignal,
  resolve: Resolver = resolveHost,
): Promise<Deno.TcpConn> {
  return eachAddress(target, signal, resolve, async (hostname) => {
    const conn = await Deno.connect({ hostname, port: target.port, signal });
    conn.setNoDelay(true);
    return conn;
  });
}

/**
 * Resolves the host and tries `connect` on each of its addresses in turn
 * until `signal` aborts; a typed refusal (a TLS verdict) ends the tries, as
 * no other address will do.
 */
async function eachAddress<C>(
  target: NetTarget,
  signal: AbortSignal,
  resolve: Resolver,
  connect: (address: string) => Promise<C>,
): Promise<C> {
  const { hostname, port } = target;
  // An address literal needs no resolver round trip, which would count as connect time.
  const addresses = isIP(hostname)
    ? [hostname]
    : await Promise.race([resolve(hostname), aborted(signal, `resolving ${hostname}`)]);
  let lastError: unknown;
  for (const address of addresses) {
    try {
      return await connect(address);
    } catch (error) {
      if (signal.aborted) {
        throw timedOut(signal, `connecting to ${formatAddress({ hostname: address, port })}`);
      }
      if (error instanceof SockechoError) throw error;
      lastError = error;
    }
  }
  const tried = addresses.length > 1 ? ` (tried ${addresses.join(", ")})` : "";
  const where = formatAddress({ hostname: addresses.length > 1 ? hostname : addresses[0], port });
  throw new ConnectError(`cannot connect to ${where}${tried}: ${describeOsError(lastError)}`, {
    cause: lastError,
  });
}

/** What {@linkcode dialWithin} opened and measured. */
export interface Dialed {
  /** The connection. */
  conn: DialedConn;
  /** Time to connect, in ms: over TLS, up to the start of the handshake. */
  connectMs: number;
  /** Over TLS: the handshake's time, in ms. */
  handshakeMs?: number;
}

/**
 * Dials with a time limit that `signal` (Ctrl+C) can also cut short, and
 * times the connect (and the TLS handshake apart).
 *
 * @example
 * ```ts
 * import { dialTcp, dialWithin } from "./dial.ts";
 *
 * const target = { hostname: "127.0.0.1", port: 4321 };
 * const { conn, connectMs } = await dialWithin(dialTcp, target, 2000, new AbortController().signal);
 * conn.close();
 * ```
 */
export async function dialWithin(
  dial: Dialer,
  target: DialTarget,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<Dialed> {
  const abort = new AbortController();
  // The reason words the timeout: eachAddress adds what it was doing.
  const limit = new TimeoutError(`timed out after ${formatSeconds(timeoutMs)}`);
  const timer = setTimeout(() => abort.abort(limit), timeoutMs);
  const onStop = () => abort.abort();
  signal.addEventListener("abort", onStop, { once: true });
  try {
    // Timed around the dial alone: a process's first timer costs milliseconds of its own.
    const startedAt = performance.now();
    const conn = await dial(target, abort.signal);
    const handshakeMs = conn.tls?.handshakeMs;
    return { conn, connectMs: performance.now() - startedAt - (handshakeMs ?? 0), handshakeMs };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onStop);
  }
}

/**
 * Names the far end of a connection: `host:port`, or the socket path.
 *
 * @example
 * ```ts
 * import { describeRemote, dialTcp } from "./dial.ts";
 *
 * const conn = await dialTcp({ hostname: "::1", port: 4321 }, new AbortController().signal);
 * describeRemote(conn); // "[::1]:4321"
 * conn.close();
 * ```
 */
export function describeRemote(conn: { readonly remoteAddr: Deno.Addr }): string {
  const addr = conn.remoteAddr;
  if ("hostname" in addr) return formatAddress(addr);
  return "path" in addr ? addr.path : `vsock ${addr.cid}:${addr.port}`;
}

/** "timed out after 2 s resolving …" when {@linkcode dialWithin}'s limit struck, else "timed out …". */
function timedOut(signal: AbortSignal, doing: string): TimeoutError {
  const limit = signal.reason instanceof TimeoutError ? signal.reason.message : "timed out";
  return new TimeoutError(`${limit} ${doing}`);
}

function aborted(signal: AbortSignal, doing: string): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(timedOut(signal, doing));
    signal.addEventListener("abort", () => reject(timedOut(signal, doing)), { once: true });
  });
}

/** How to reach the server, as the transport options say: `send`'s and `bench`'s client options. */
export interface ClientTransport {
  /** Speak TLS, trusting the server as these options say. */
  tls?: TlsClientOptions;
  /** Connect to this Unix domain socket instead of a host and port. */
  path?: string;
}

/**
 * The target and the dialer for `hostname:port` or a socket path, plain or TLS.
 *
 * @example
 * ```ts
 * import { dialerFor } from "./dial.ts";
 *
 * const { target, dial } = dialerFor({ hostname: "localhost", port: 4433 }, { tls: {} });
 * const conn = await dial(target, AbortSignal.timeout(2000));
 * conn.close();
 * ```
 */
export function dialerFor(
  net: NetTarget,
  { tls, path }: ClientTransport,
  resolve: Resolver = resolveHost,
): { target: DialTarget; dial: Dialer } {
  return {
    target: path === undefined ? net : { path },
    dial: tls === undefined ? streamDialer(resolve) : tlsDialer(tls, resolve),
  };
}
