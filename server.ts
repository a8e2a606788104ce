/**
 * A TCP echo server: every byte a client sends comes back to it, in order,
 * whole. Any number of clients are served at once; a client that half-closes
 * gets the rest of its echo before the server closes; a client that resets
 * ends only its own connection. The module never prints: it reports through
 * the callbacks in {@linkcode ServeOptions} and the values it returns.
 *
 * @example
 * ```ts
 * import { serve } from "./server.ts";
 *
 * const server = await serve({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   onConnection: (info) => console.log("from", info.remoteAddr),
 * });
 * console.log("listening on port", server.addr.port);
 * const summary = await server.shutdown({ graceMs: 1000 });
 * console.log(summary.connections, "connections");
 * ```
 *
 * @module
 */

import {
  AddressInUseError,
  AddressUnavailableError,
  BindPermissionError,
  describeOsError,
  SockechoError,
} from "./errors.ts";
import { formatAddress } from "./format.ts";
import { closeQuietly, writeAll } from "./io.ts";
import { resolveHost } from "./resolve.ts";

/** The port the C server listens on, and ours by default. */
export const DEFAULT_PORT = 4321;

/** A client connection as reported to the callbacks. */
export interface ConnectionInfo {
  /** Sequence number of the connection, from 1. */
  readonly id: number;
  /** The client's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** When it was accepted, in epoch milliseconds with a fraction. */
  readonly openedAt: number;
}

/** What became of a connection once it closed. */
export interface ConnectionSummary {
  /** Bytes received, and so echoed, on this connection. */
  readonly bytes: number;
  /** How long it was open, in milliseconds. */
  readonly durationMs: number;
  /** Why it ended, if not by the client finishing: a reset, a timeout, a shutdown. */
  readonly error?: Error;
}

/** Totals for the server's whole life, returned by {@linkcode EchoServer.shutdown}. */
export interface ServerSummary {
  /** Connections accepted. */
  readonly connections: number;
  /** Bytes echoed over all connections. */
  readonly bytes: number;
  /** Connections still open when the grace period ran out, closed by force. */
  readonly forced: number;
}

/** Options for {@linkcode serve}. */
export interface ServeOptions {
  /** Address to listen on: an IPv4 or IPv6 address or a host name. @default {"0.0.0.0"} */
  hostname?: string;
  /** Port to listen on; 0 picks a free one. @default {4321} */
  port?: number;
  /** Called when a client connects. */
  onConnection?: (info: ConnectionInfo) => void;
  /**
   * Called with each chunk received, before it is echoed. The chunk is a view
   * of a reused buffer, valid only during the call: copy it to keep it.
   */
  onData?: (info: ConnectionInfo, chunk: Uint8Array) => void;
  /** Called when a connection has closed. */
  onClose?: (info: ConnectionInfo, summary: ConnectionSummary) => void;
  /**
   * Called when accepting fails, e.g. with `EMFILE` when the process is out
   * of file descriptors; the server waits {@linkcode ACCEPT_BACKOFF_MS} and
   * accepts again.
   */
  onAcceptError?: (error: Error) => void;
}

/** Options for {@linkcode EchoServer.shutdown}. */
export interface ShutdownOptions {
  /** How long open connections may go on before they are closed. @default {5000} */
  graceMs?: number;
}

/** A running echo server, returned by {@linkcode serve}. */
export interface EchoServer {
  /** The address it listens on (with the real port when 0 was asked for). */
  readonly addr: Deno.NetAddr;
  /** Connections open right now. */
  readonly activeConnections: number;
  /**
   * Stops accepting, lets open connections finish for the grace period,
   * closes the rest and resolves with the totals. Calling it again returns
   * the same promise.
   */
  shutdown(options?: ShutdownOptions): Promise<ServerSummary>;
}

/** The first read buffer of every connection: small, since idle clients hold it. */
export const INITIAL_BUFFER_BYTES = 1024;
/** The largest read buffer; measured, a bigger one does not echo faster. */
export const MAX_BUFFER_BYTES = 256 * 1024;
const BUFFER_GROWTH = 16;
/** How long the accept loop pauses after a failed accept before it tries again. */
export const ACCEPT_BACKOFF_MS = 50;

/**
 * Starts an echo server. Throws {@linkcode AddressInUseError},
 * {@linkcode BindPermissionError}, {@linkcode AddressUnavailableError} or
 * `ResolveError` when it cannot listen.
 *
 * @example
 * ```ts
 * import { serve } from "./server.ts";
 *
 * const server = await serve({ port: 0, hostname: "::1" });
 * await server.shutdown();
 * ```
 */
export async function serve(options: ServeOptions = {}): Promise<EchoServer> {
  const { hostname = "0.0.0.0", port = DEFAULT_PORT } = options;
  const [address] = await resolveHost(hostname);
  const listener = listen(address, port);
  const open = new Map<Deno.TcpConn, Promise<void>>();
  const totals = { connections: 0, bytes: 0, forced: 0 };

  async function runConnection(conn: Deno.TcpConn): Promise<void> {
    const info: ConnectionInfo = {
      id: ++totals.connections,
      remoteAddr: conn.remoteAddr,
      openedAt: performance.timeOrigin + performance.now(),
    };
    const progress = { bytes: 0 };
    let error: Error | undefined;
    try {
      // Echoes are small and interactive: never hold them back for Nagle.
      conn.setNoDelay(true);
      conn.setKeepAlive(true);
      options.onConnection?.(info);
      await echo(conn, progress, options.onData && ((c) => options.onData!(info, c)));
    } catch (caught) {
      error = caught instanceof Error ? caught : new Error(String(caught));
    } finally {
      closeQuietly(conn);
      totals.bytes += progress.bytes;
      const durationMs = performance.timeOrigin + performance.now() - info.openedAt;
      options.onClose?.(info, { bytes: progress.bytes, durationMs, error });
    }
  }

  async function acceptLoop(): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource) return; // closed by shutdown
        // Out of descriptors and the like: the listener still works, so
        // waiting for connections to free some beats dying.
        options.onAcceptError?.(error as Error);
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_BACKOFF_MS));
        continue;
      }
      const running = runConnection(conn).finally(() => open.delete(conn));
      open.set(conn, running);
    }
  }

  const accepting = acceptLoop();
  let stopping: Promise<ServerSummary> | undefined;

  async function stop(graceMs: number): Promise<ServerSummary> {
    listener.close();
    await accepting;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const graceOver = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.all(open.values()), graceOver]);
    clearTimeout(timer);
    totals.forced = open.size;
    for (const conn of open.keys()) closeQuietly(conn);
    await Promise.all(open.values());
    return { ...totals };
  }

  return {
    addr: listener.addr,
    get activeConnections() {
      return open.size;
    },
    shutdown({ graceMs = 5000 } = {}) {
      return stopping ??= stop(graceMs);
    },
  };
}

/**
 * The data path: read, hand the chunk to `onData`, write all of it back,
 * repeat until the client finishes sending. Nothing is read while an echo is
 * unwritten, so a client that never reads holds at most one buffer. The
 * buffer starts small and grows only for a client whose reads fill it.
 */
async function echo(
  conn: Deno.TcpConn,
  progress: { bytes: number },
  onData?: (chunk: Uint8Array) => void,
): Promise<void> {
  let buffer = new Uint8Array(INITIAL_BUFFER_BYTES);
  for (let n; (n = await conn.read(buffer)) !== null;) {
    const chunk = buffer.subarray(0, n);
    onData?.(chunk);
    await writeAll(conn, chunk);
    progress.bytes += n;
    if (n === buffer.length && n < MAX_BUFFER_BYTES) {
      buffer = new Uint8Array(n * BUFFER_GROWTH);
    }
  }
}

function listen(hostname: string, port: number): Deno.TcpListener {
  const where = formatAddress({ hostname, port });
  try {
    return Deno.listen({ hostname, port, transport: "tcp" });
  } catch (error) {
    const message = `cannot listen on ${where}: ${describeOsError(error)}`;
    if (error instanceof Deno.errors.AddrInUse) {
      throw new AddressInUseError(message, { cause: error });
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new BindPermissionError(message, { cause: error });
    }
    if (error instanceof Deno.errors.AddrNotAvailable) {
      throw new AddressUnavailableError(message, { cause: error });
    }
    throw new SockechoError(message, { cause: error });
  }
}
