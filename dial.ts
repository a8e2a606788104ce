/**
 * Opening a connection for the diagnostics (`send` probe series, `check`):
 * one small function type, {@linkcode Dialer}, so that other transports (TLS,
 * Unix sockets) plug in beside {@linkcode dialTcp} without the probes knowing.
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
import { ConnectError, describeOsError, TimeoutError } from "./errors.ts";
import { formatAddress } from "./format.ts";
import { resolveHost } from "./resolve.ts";

/** Where to connect. */
export interface DialTarget {
  /** A host name, an IPv4 or an IPv6 address. */
  hostname: string;
  /** The port. */
  port: number;
}

/**
 * Opens a stream connection to `target`, or throws `ConnectError`,
 * `ResolveError`, or `TimeoutError` once `signal` aborts.
 */
export type Dialer = (target: DialTarget, signal: AbortSignal) => Promise<Deno.Conn>;

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
export async function dialTcp(target: DialTarget, signal: AbortSignal): Promise<Deno.Conn> {
  // An address literal needs no resolver round trip, which would count as connect time.
  const addresses = isIP(target.hostname)
    ? [target.hostname]
    : await Promise.race([resolveHost(target.hostname), aborted(signal, target)]);
  const failures: string[] = [];
  for (const hostname of addresses) {
    try {
      const conn = await Deno.connect({ hostname, port: target.port, signal });
      conn.setNoDelay(true);
      return conn;
    } catch (error) {
      if (signal.aborted) throw timedOut(target);
      failures.push(`${formatAddress({ hostname, port: target.port })}: ${describeOsError(error)}`);
    }
  }
  throw new ConnectError(`cannot connect to ${failures.join("; ")}`);
}

/**
 * Dials with a time limit that `signal` (Ctrl+C) can also cut short, and
 * times the connect.
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
): Promise<{ conn: Deno.Conn; connectMs: number }> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const onStop = () => abort.abort();
  signal.addEventListener("abort", onStop, { once: true });
  try {
    // Timed around the dial alone: a process's first timer costs milliseconds of its own.
    const startedAt = performance.now();
    const conn = await dial(target, abort.signal);
    return { conn, connectMs: performance.now() - startedAt };
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
export function describeRemote(conn: Deno.Conn): string {
  const addr = conn.remoteAddr;
  if ("hostname" in addr) return formatAddress(addr);
  return "path" in addr ? addr.path : `vsock ${addr.cid}:${addr.port}`;
}

function timedOut(target: DialTarget): TimeoutError {
  return new TimeoutError(`timed out connecting to ${formatAddress(target)}`);
}

function aborted(signal: AbortSignal, target: DialTarget): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(timedOut(target));
    signal.addEventListener("abort", () => reject(timedOut(target)), { once: true });
  });
}
