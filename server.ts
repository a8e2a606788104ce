/**
 * An echo server over TCP, TLS or a Unix domain socket: every byte a client sends comes back to it, in order,
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

import { SockechoError } from "./net/errors.ts";
import { watchIdle } from "./net/idle_watch.ts";
import { closeQuietly, type StreamConn, writeAll } from "./net/io.ts";
import { resolveHost } from "./net/resolve.ts";
import {
  DEFAULT_PORT,
  listenTransport,
  type Prepared,
  type SocketAddr,
  type TlsCertificate,
} from "./net/listen.ts";
import type { TlsFacts, TlsServerConn } from "./net/tls/server.ts";
import type {
  CloseReason,
  ConnectionInfo,
  ConnectionSummary,
  ServerSummary,
} from "./net/connection.ts";

export {
  type CloseReason,
  type ConnectionInfo,
  type ConnectionSummary,
  DEFAULT_PORT,
  type Prepared,
  type ServerSummary,
  type SocketAddr,
  type TlsFacts,
};

/** Options for {@linkcode serve}. */
export interface ServeOptions {
  /** Address to listen on: an IPv4 or IPv6 address or a host name. @default {"0.0.0.0"} */
  hostname?: string;
  /** Port to listen on; 0 picks a free one. @default {4321} */
  port?: number;
  /** Serve TLS with this certificate (PEM) instead of plain TCP. */
  tls?: TlsCertificate;
  /**
   * With `tls`: close a connection whose handshake has not finished within
   * this many ms. @default {10000}
   */
  handshakeTimeoutMs?: number;
  /**
   * With `tls`: the ALPN protocols offered, most preferred first (e.g. `h2`,
   * `http/1.1`); the one chosen is in {@linkcode ConnectionInfo.tls}. @default {none}
   */
  alpnProtocols?: string[];
  /** Listen on this Unix domain socket path instead of `hostname` and `port`. */
  path?: string;
  /**
   * Runs after accept (and the TLS handshake) and before the echo, e.g. to
   * read a PROXY header. If it throws, the connection is closed and reported
   * to `onClose` only, with reason `handshake_failure`, as is a failed TLS
   * handshake. Runs under the idle timeout.
   */
  prepare?: (conn: StreamConn) => Promise<Prepared>;
  /**
   * What to do with each connection once it is ready (accepted, admitted,
   * handshaken, its `prepare` step done), instead of the echo: e.g. HTTP
   * (`net/http/handler.ts`). It gets the connection, its info, the bytes
   * `prepare` read past its header, and the connection's progress, whose
   * `bytes` it must advance as it reads and writes (the idle timeout and the
   * totals read it). The connection is closed when it settles; a rejection
   * is the connection's error, as the echo's would be. `onData` is the
   * echo's and is not called. @default {the echo}
   */
  handler?: (
    conn: StreamConn,
    info: ConnectionInfo,
    pending: Uint8Array | undefined,
    progress: { bytes: number },
  ) => Promise<void>;
  /** Called when a client connects (after the TLS handshake and `prepare`). */
  onConnection?: (info: ConnectionInfo) => void;
  /**
   * Called with each chunk received, before it is echoed. The chunk is a view
   * of a reused buffer, valid only during the call: copy it to keep it.
   */
  onData?: (info: ConnectionInfo, chunk: Uint8Array) => void;
  /** Called when a connection has closed. */
  onClose?: (info: ConnectionInfo, summary: ConnectionSummary) => void;
  /**
   * Most connections open at once; one more is accepted and closed at once,
   * after `onReject`. @default {Infinity}
   */
  maxConnections?: number;
  /**
   * Close a connection after this many ms without progress (nothing received
   * and echoed); 0 never does. @default {0}
   */
  idleTimeoutMs?: number;
  /** Called for a connection closed at once because `maxConnections` are open. */
  onReject?: (remoteAddr: SocketAddr) => void;
  /**
   * Called when accepting fails, e.g. with `EMFILE` when the process is out
   * of file descriptors; the server waits {@linkcode ACCEPT_BACKOFF_MS} and
   * accepts again.
   */
  onAcceptError?: (error: Error) => void;
  /**
   * Decides right after accept, before anything is read, whether a client is
   * served; one it refuses is closed at once, after `onDeny`. E.g.
   * `({ hostname }) => acl.allows(hostname)` with `acl.ts`. @default {every client}
   */
  acceptFrom?: (remoteAddr: Deno.NetAddr) => boolean;
  /** Called for a connection closed at once because `acceptFrom` refused it. */
  onDeny?: (remoteAddr: Deno.NetAddr) => void;
}

/** Options for {@linkcode EchoServer.shutdown}. */
export interface ShutdownOptions {
  /** How long open connections may go on before they are closed. @default {5000} */
  graceMs?: number;
}

/** A running echo server, returned by {@linkcode serve}. */
export interface EchoServer<Addr extends Deno.Addr = Deno.NetAddr> {
  /** The address it listens on (with the real port when 0 was asked for). */
  readonly addr: Addr;
  /** Connections open right now. */
  readonly activeConnections: number;
  /**
   * Stops accepting, lets open connections finish for the grace period,
   * closes the rest and resolves with the totals. Calling it again returns
   * the same promise.
   */
  shutdown(options?: ShutdownOptions): Promise<ServerSummary>;
}

/**
 * The first read buffer of every connection: small, since idle clients hold
 * it (64 B: 1 KiB made an idle connection cost more than in Node). A read
 * that fills it grows it 16-fold, so a busy client reaches the largest in three.
 */
export const INITIAL_BUFFER_BYTES = 64;
/** The largest read buffer; measured, a bigger one does not echo faster. */
export const MAX_BUFFER_BYTES = 256 * 1024;
const BUFFER_GROWTH = 16;
/** How long the accept loop pauses after a failed accept before it tries again. */
export const ACCEPT_BACKOFF_MS = 50;

/**
 * Starts an echo server. Throws `AddressInUseError`, `BindPermissionError`,
 * `AddressUnavailableError`, `MissingPermissionError` or `ResolveError`
 * when it cannot listen.
 *
 * @example
 * ```ts
 * import { serve } from "./server.ts";
 *
 * const server = await serve({ port: 0, hostname: "::1" });
 * await server.shutdown();
 * const local = await serve({ path: "/tmp/echo.sock" });
 * await local.shutdown();
 * ```
 */
export function serve(options: ServeOptions & { path: string }): Promise<EchoServer<Deno.UnixAddr>>;
/** Starts an echo server over TCP or TLS. */
export function serve(options?: ServeOptions & { path?: undefined }): Promise<EchoServer>;
/** Starts an echo server over whichever transport the options say. */
export function serve(
  options: ServeOptions,
): Promise<EchoServer<SocketAddr>>;
export async function serve(options: ServeOptions = {}): Promise<EchoServer<Deno.Addr>> {
  const {
    hostname = "0.0.0.0",
    port = DEFAULT_PORT,
    maxConnections = Infinity,
    idleTimeoutMs = 0,
  } = options;
  const [address] = options.path === undefined ? await resolveHost(hostname) : [""];
  const transport = await listenTransport({ ...options, hostname: address, port });
  const { listener } = transport;
  const open = new Map<Accepted, Connection>();
  const totals = { connections: 0, bytes: 0, forced: 0 };

  async function runConnection(conn: Accepted, state: Connection): Promise<void> {
    let info: ConnectionInfo = {
      id: ++totals.connections,
      remoteAddr: transport.nameOf(conn.remoteAddr),
      localAddr: transport.nameOf(conn.localAddr),
      openedAt: performance.timeOrigin + performance.now(),
    };
    let error: Error | undefined;
    let prepared = false;
    // What the echo runs on: `conn`, or over TLS the secure connection on top of it.
    let stream: StreamConn = conn;
    let secure: TlsServerConn | undefined;
    try {
      // Only TLS has a handshake to wait for: no extra await per plain connection.
      const handshake = transport.ready(conn);
      if (handshake) {
        stream = secure = await handshake;
        info = { ...info, tls: secure.tls };
      }
      const { clientAddr, pending }: Prepared = options.prepare
        ? await options.prepare(stream)
        : {};
      prepared = true;
      if (clientAddr) info = { ...info, remoteAddr: clientAddr, proxyAddr: info.remoteAddr };
      options.onConnection?.(info);
      if (options.handler) {
        await options.handler(stream, info, pending, state);
        return;
      }
      const onData = options.onData && ((chunk: Uint8Array) => options.onData!(info, chunk));
      if (pending?.length) {
        onData?.(pending);
        await writeAll(stream, pending);
        state.bytes += pending.length;
      }
      await echo(stream, state, onData);
    } catch (caught) {
      error = caught instanceof Error ? caught : new Error(String(caught));
    } finally {
      closeQuietly(stream);
      if (secure) await secure.released; // its close_notify may take one more write
      // Here rather than in a .finally() on its promise: one closure and promise less per
      // connection, which an idle connection holds all its life.
      open.delete(conn);
      totals.bytes += state.bytes;
      const durationMs = performance.timeOrigin + performance.now() - info.openedAt;
      const reason = state.closedBy?.reason ??
        (prepared ? closeReasonOf(error) : "handshake_failure");
      error = state.closedBy?.error ?? error;
      options.onClose?.(info, { bytes: state.bytes, durationMs, error, reason });
    }
  }

  async function acceptLoop(): Promise<void> {
    for (;;) {
      let conn: Accepted;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource) return; // closed by shutdown
        // The peer reset before we took the connection (a load balancer's TCP health
        // check does, every few seconds): nothing failed, and nothing is left to serve.
        if (error instanceof Deno.errors.NotConnected) continue;
        // Out of descriptors and the like: the listener still works, so
        // waiting for connections to free some beats dying.
        options.onAcceptError?.(error as Error);
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_BACKOFF_MS));
        continue;
      }
      const peer = transport.nameOf(conn.remoteAddr);
      // Address rules are about IP addresses: a Unix socket's clients have none.
      if ("hostname" in peer && options.acceptFrom?.(peer) === false) {
        options.onDeny?.(peer);
        closeQuietly(conn);
        continue;
      }
      if (open.size >= maxConnections) {
        options.onReject?.(peer);
        closeQuietly(conn);
        continue;
      }
      const state: Connection = { bytes: 0, done: Promise.resolve() };
      // Set before it runs: its finally, which deletes it, may come before any await.
      open.set(conn, state);
      state.done = runConnection(conn, state);
    }
  }

  const sweeper = idleTimeoutMs > 0
    ? watchIdle(open, idleTimeoutMs, (conn, state, error) => {
      closeWith(conn, state, "idle_timeout", error);
    })
    : undefined;
  const accepting = acceptLoop();
  let stopping: Promise<ServerSummary> | undefined;

  async function stop(graceMs: number): Promise<ServerSummary> {
    transport.close();
    await accepting;
    const allDone = () => Promise.all([...open.values()].map((state) => state.done));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const graceOver = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([allDone(), graceOver]);
    clearTimeout(timer);
    clearInterval(sweeper);
    totals.forced = open.size;
    const cut = new SockechoError("closed at the end of the grace period");
    for (const [conn, state] of open) closeWith(conn, state, "shutdown", cut);
    await allDone();
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

/** A connection as accepted: TCP (TLS still to come, if any) or a Unix socket. */
type Accepted = Deno.TcpConn | Deno.UnixConn;

/** What the server tracks of an open connection. */
interface Connection {
  /** Bytes echoed so far; the idle watch reads it to see progress. */
  bytes: number;
  /** Settles when the connection has closed and been reported. */
  done: Promise<void>;
  /** Why the server closed it, when the server did. */
  closedBy?: { reason: CloseReason; error: Error };
}

/** Closes a connection for a reason of the server's own, which its `onClose` then gives. */
function closeWith(conn: Deno.Conn, state: Connection, reason: CloseReason, error: Error): void {
  state.closedBy ??= { reason, error };
  closeQuietly(conn);
}

/** Why a connection that got past `prepare` ended, from the error it ended with. */
function closeReasonOf(error: Error | undefined): CloseReason {
  if (error === undefined) return "client_fin";
  // A write to a client that reset fails with EPIPE or ECONNRESET, depending on timing.
  if (error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe) {
    return "client_reset";
  }
  return "error";
}

/**
 * The data path: read, hand the chunk to `onData`, write all of it back,
 * repeat until the client finishes sending. Nothing is read while an echo is
 * unwritten, so a client that never reads holds at most one buffer. The
 * buffer starts small and grows only for a client whose reads fill it.
 */
async function echo(
  conn: StreamConn,
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
