/**
 * The shapes `serve --http`'s connection handler is built from and reports
 * through: the connection facts it reads, its options, what it reports of a
 * request, and the hand-off of an HTTP/2 connection. Apart from
 * `handler.ts` so that the loop's helpers (`exchange.ts`) can name them
 * without importing the loop.
 *
 * @example
 * ```ts
 * import type { HttpHandlerOptions } from "./options.ts";
 *
 * const options: HttpHandlerOptions = { instance: "web-1", isDraining: () => false };
 * ```
 *
 * @module
 */

import type { StreamConn } from "../io.ts";
import type { SocketAddr } from "../listen.ts";
import type { RequestDescription, TlsFacts } from "./describe.ts";
import type { HttpRequestError } from "./request.ts";
import type { ShapingLimits } from "./shaping.ts";
import type { EchoWebSocketOptions } from "./ws_echo.ts";

/** The connection facts the handler needs (`server.ts`'s `ConnectionInfo` has them). */
export interface HttpConnectionInfo {
  /** Sequence number of the connection, from 1. */
  readonly id: number;
  /** The client: the PROXY-declared one when there was a header, else the peer. */
  readonly remoteAddr: SocketAddr;
  /** The connection's peer when a PROXY header named `remoteAddr` as the client. */
  readonly proxyAddr?: SocketAddr;
  /** The server's end of the connection. */
  readonly localAddr: SocketAddr;
  /** Over TLS: what the handshake settled. */
  readonly tls?: TlsFacts;
}

/** One request served, for the log and the ledger. */
export interface ServedRequest {
  /** The request's description (the JSON reply's object, body digest included). */
  readonly description: RequestDescription;
  /** The status answered (101 for a WebSocket upgrade). */
  readonly status: number;
  /** Bytes of response written (head included; for a WebSocket, the 101's). */
  readonly bytesOut: number;
}

/** Options for {@linkcode httpHandler}. */
export interface HttpHandlerOptions {
  /** The instance name every reply carries (`X-Echo-Instance`, `instance`): visible ASCII. */
  instance: string;
  /** Keep at most this many body bytes in a description (`--max-echo-body`). @default {65536} */
  maxEchoBodyBytes?: number;
  /** Refuse bodies larger than this with a 413 (`--max-body`). @default {Infinity} */
  maxBodyBytes?: number;
  /** The bounds of shaping (`--max-delay`, `--max-size`). @default {DEFAULT_SHAPING_LIMITS} */
  shaping?: ShapingLimits;
  /** The WebSocket echo's bound and pings (`--max-ws-message`, `--ws-ping`). @default {its own} */
  webSocket?: Pick<EchoWebSocketOptions, "maxMessageBytes" | "pingIntervalMs">;
  /**
   * Whether the server is draining (after SIGTERM): `/readyz` answers 503
   * and every reply closes its connection. @default {never}
   */
  isDraining?: () => boolean;
  /** Called after each request has been answered (or its reply cut by a fault it asked for). */
  onRequest?: (info: HttpConnectionInfo, served: ServedRequest) => void;
  /** Called for each request refused (400, 413, 414, 426, 431, 501, 505), before the refusal goes. */
  onRefused?: (info: HttpConnectionInfo, error: HttpRequestError) => void;
  /**
   * HTTP/2 (`net/http/h2.ts`'s `H2Server`): connections whose TLS agreed
   * on `h2` by ALPN, or that open with the HTTP/2 client preface, are
   * handed to it, with what was read of them. @default {none: HTTP/1.1 only}
   */
  h2?: H2Handoff;
}

/** Where `httpHandler` hands an HTTP/2 connection (`net/http/h2.ts`'s `H2Server`). */
export interface H2Handoff {
  /** Serves the connection until it ends. */
  serve(
    conn: StreamConn,
    info: HttpConnectionInfo,
    pending: Uint8Array,
    progress: { bytes: number },
    tls?: TlsFacts,
  ): Promise<void>;
}

/** What `server.ts` runs for each prepared connection. */
export type ConnectionHandler = (
  conn: StreamConn,
  info: HttpConnectionInfo,
  pending: Uint8Array | undefined,
  progress: { bytes: number },
) => Promise<void>;
