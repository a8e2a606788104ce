/**
 * How the echo server listens: over TCP, TLS or a Unix domain socket. Every
 * transport yields `Deno.Conn`s for the one echo loop of `server.ts`; a
 * transport decides only how the listener is made, how a fresh connection is
 * readied (socket options, the TLS handshake: `tls/server.ts`), how a peer is
 * named and what is left to clean up.
 *
 * @example
 * ```ts
 * import { listenTransport } from "./listen.ts";
 *
 * const transport = await listenTransport({ hostname: "127.0.0.1", port: 0 });
 * console.log(transport.listener.addr);
 * transport.close();
 * ```
 *
 * @module
 */

import {
  AddressInUseError,
  AddressUnavailableError,
  BindPermissionError,
  describeOsError,
  MissingPermissionError,
  SockechoError,
} from "./errors.ts";
import { formatAddress } from "./format.ts";
import { closeQuietly } from "./io.ts";
import { acceptTls, type TlsServerConn, type TlsServerOptions } from "./tls/server.ts";

/** The port the C server listens on, and ours by default. */
export const DEFAULT_PORT = 4321;

/** A socket's address: IP and port, or a Unix socket's path. */
export type SocketAddr = Deno.NetAddr | Deno.UnixAddr;

/** What a step between accept and the echo (`serve`'s `prepare`) learnt before the echo. */
export interface Prepared {
  /** The original client, when the connection's peer relays for it. */
  clientAddr?: Deno.NetAddr;
  /** Bytes read past what the step consumed: the client's first data, echoed first. */
  pending?: Uint8Array;
}

/** A certificate chain and its private key, both PEM. */
export interface TlsCertificate {
  /** The certificate chain, PEM, leaf first. */
  cert: string;
  /** The private key, PEM. */
  key: string;
}

/** Where and how to listen. */
export interface TransportOptions {
  /** Address to listen on (already resolved); ignored with `path`. */
  hostname: string;
  /** Port to listen on; ignored with `path`. */
  port: number;
  /** Serve TLS with this certificate instead of plain TCP. */
  tls?: TlsCertificate;
  /** With `tls`: how long a client may take to finish its handshake, in ms. @default {10000} */
  handshakeTimeoutMs?: number;
  /** With `tls`: the ALPN protocols offered, most preferred first. @default {none} */
  alpnProtocols?: string[];
  /** Listen on this Unix domain socket path instead of `hostname` and `port`. */
  path?: string;
}

/** A listening transport. */
export interface Transport {
  /** The listener: TCP (for TLS too: the handshake is `ready`'s) or a Unix socket. */
  readonly listener: Deno.TcpListener | Deno.UnixListener;
  /**
   * Readies a fresh connection for the echo: sets its socket options, and
   * over TLS returns the handshake to wait for, which yields the secure
   * connection to echo on (plain TCP and Unix sockets echo on `conn` itself).
   */
  ready(conn: Deno.TcpConn | Deno.UnixConn): Promise<TlsServerConn> | undefined;
  /** Names an address of one of its connections (peer or local) as the server reports it. */
  nameOf(addr: Deno.Addr): SocketAddr;
  /** Closes the listener and removes what listening left behind (a Unix socket's file). */
  close(): void;
}

/**
 * Starts listening. Throws {@linkcode AddressInUseError},
 * {@linkcode BindPermissionError}, {@linkcode AddressUnavailableError} or
 * {@linkcode MissingPermissionError} (a Unix socket needs `-R` and `-W`).
 *
 * @example
 * ```ts
 * import { listenTransport } from "./listen.ts";
 *
 * const transport = await listenTransport({ hostname: "", port: 0, path: "/tmp/echo.sock" });
 * transport.close(); // and /tmp/echo.sock is gone
 * ```
 */
export async function listenTransport(options: TransportOptions): Promise<Transport> {
  const { hostname, port, tls, handshakeTimeoutMs, alpnProtocols, path } = options;
  if (path !== undefined) return await listenUnix(path);
  const where = formatAddress({ hostname, port });
  // TLS too: the server accepts the TCP connection itself, so that it owns the socket.
  const listener = bind(where, () => Deno.listen({ hostname, port, transport: "tcp" }));
  const close = () => closeQuietly(listener);
  if (tls === undefined) return { listener, ready: readyTcp, nameOf: unmapped, close };
  const secure: TlsServerOptions = { ...tls, alpnProtocols, handshakeTimeoutMs };
  return {
    listener,
    ready(conn) {
      readyTcp(conn); // before the handshake, whose flights are small writes too
      return acceptTls(conn, secure);
    },
    nameOf: unmapped,
    close,
  };
}

/**
 * An IPv4 client of a dual-stack (`::`) listener shows up as `::ffff:a.b.c.d`;
 * it is named as the IPv4 address it is.
 */
function unmapped(addr: Deno.Addr): Deno.NetAddr {
  const tcp = addr as Deno.NetAddr; // a TCP or TLS listener's, so an IP address
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(tcp.hostname)?.[1];
  return v4 === undefined ? tcp : { ...tcp, hostname: v4 };
}

function readyTcp(conn: Deno.Conn): undefined {
  const tcp = conn as Deno.TcpConn;
  // Echoes are small and interactive: never hold them back for Nagle.
  tcp.setNoDelay(true);
  // Finds peers that vanished without a FIN or RST (cable pulled, host down).
  tcp.setKeepAlive(true);
}

/**
 * Listens on a Unix socket path. A socket file left by a dead server (nobody
 * accepts on it) is replaced; a live one is an {@linkcode AddressInUseError}.
 */
async function listenUnix(path: string): Promise<Transport> {
  const open = () => bind(path, () => Deno.listen({ transport: "unix", path }), true);
  let listener: Deno.UnixListener;
  try {
    listener = open();
  } catch (error) {
    if (!(error instanceof AddressInUseError) || await isLive(path)) throw error;
    if (!(await Deno.lstat(path)).isSocket) {
      throw new AddressInUseError(`cannot listen on ${path}: the file exists and is not a socket`);
    }
    await Deno.remove(path); // stale: its server is gone
    listener = open();
  }
  return {
    listener,
    ready: () => undefined,
    // A Unix socket's peer is a path (usually empty): nothing to rename.
    nameOf: (addr) => addr as Deno.UnixAddr,
    close() {
      closeQuietly(listener);
      try {
        Deno.removeSync(path);
      } catch {
        // Already gone (removed by hand): nothing left to clean.
      }
    },
  };
}

/** Whether a server accepts on the Unix socket at `path`. */
async function isLive(path: string): Promise<boolean> {
  try {
    (await Deno.connect({ transport: "unix", path })).close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `listen`, turning its failure into one typed error about `where`. A
 * missing permission is named here for a Unix socket (`isPath`), which needs
 * both -R and -W; a TCP one is left for the CLI to map (cli/permission.ts).
 */
function bind<L>(where: string, listen: () => L, isPath = false): L {
  try {
    return listen();
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable && isPath) {
      throw new MissingPermissionError(
        `cannot listen on ${where}: Deno needs read and write permission for it: ` +
          `add -R=${where} -W=${where}`,
        { cause: error },
      );
    }
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
