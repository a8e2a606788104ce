/**
 * What the echo server reports of its connections: who each one is from, why
 * it ended and what it carried, and the totals of the server's life. The
 * server (`server.ts`) makes these; its callbacks and `shutdown()` hand them on.
 *
 * @example
 * ```ts
 * import type { ConnectionInfo, ConnectionSummary } from "./connection.ts";
 *
 * const onClose = (info: ConnectionInfo, { bytes, reason }: ConnectionSummary) =>
 *   console.log(info.id, bytes, reason);
 * ```
 *
 * @module
 */

import type { SocketAddr } from "./listen.ts";
import type { TlsFacts } from "./tls/server.ts";

/** A client connection as reported to the callbacks. */
export interface ConnectionInfo {
  /** Sequence number of the connection, from 1. */
  readonly id: number;
  /**
   * The client's address: the original client's when the `prepare` step
   * learnt it (from a PROXY header), else the connection's peer (for a Unix
   * socket client, a path that is usually empty).
   */
  readonly remoteAddr: SocketAddr;
  /** The connection's peer when it relays for `remoteAddr` (a load balancer). */
  readonly proxyAddr?: SocketAddr;
  /** The server's end of the connection. */
  readonly localAddr: SocketAddr;
  /** When it was accepted, in epoch milliseconds with a fraction. */
  readonly openedAt: number;
  /** Over TLS: what the handshake settled (version, cipher, ALPN protocol). */
  readonly tls?: TlsFacts;
}

/**
 * Why a connection ended. `connection_limit` and `denied` name connections
 * closed right after accept (over `maxConnections`; refused by an address
 * rule); `error` is any other failure.
 */
export type CloseReason =
  | "client_fin"
  | "client_reset"
  | "idle_timeout"
  | "connection_limit"
  | "shutdown"
  | "handshake_failure"
  | "denied"
  | "error";

/** What became of a connection once it closed. */
export interface ConnectionSummary {
  /** Bytes received, and so echoed, on this connection. */
  readonly bytes: number;
  /** How long it was open, in milliseconds. */
  readonly durationMs: number;
  /**
   * Why it ended, if not by the client finishing: the client's reset, an
   * an `IdleTimeoutError` (`net/errors.ts`), or the end of the shutdown grace period.
   */
  readonly error?: Error;
  /** Why it ended. */
  readonly reason: CloseReason;
}

/** Totals for the server's whole life, which its `shutdown()` returns. */
export interface ServerSummary {
  /** Connections accepted. */
  readonly connections: number;
  /** Bytes echoed over all connections. */
  readonly bytes: number;
  /** Connections still open when the grace period ran out, closed by force. */
  readonly forced: number;
}
