/**
 * Verified echoes over WebSocket, `send --ws`'s library side: the upgrade
 * (`net/http/ws_client.ts`), then each probe one binary message whose echo
 * is checked by `echo.ts`'s code, as a TCP echo is (the same errors, the
 * same hex view at the first wrong byte). The 101's `X-Echo-Instance` names
 * the instance for every message on the connection.
 *
 * @example
 * ```ts
 * import { sendWs } from "./send_ws.ts";
 *
 * const { instance, echo } = await sendWs({ url: "ws://127.0.0.1:4321/" });
 * console.log(instance, new TextDecoder().decode(echo));
 * ```
 *
 * @module
 */

import { describeRemote, type DialedConn, type Resolver } from "../net/dial.ts";
import { ClosedEarlyError } from "../net/errors.ts";
import { plural } from "../net/format.ts";
import { CLOSE, WebSocketClosedError } from "../net/http/websocket.ts";
import { connectWebSocket, type WebSocketClient } from "../net/http/ws_client.ts";
import { closeQuietly, concatBytes } from "../net/io.ts";
import type { TlsClientOptions, TlsSession } from "../net/tls/client.ts";
import { echoPayload } from "./echo.ts";
import { bytesPayload } from "./payload.ts";
import type { ProbeExchange } from "./probe_exchange.ts";
import { C_CLIENT_MESSAGE } from "./send.ts";
import { dialUrl } from "./send_http.ts";

/** The WebSocket's request: where to upgrade. */
export interface WsRequest {
  /** The `Host` header. */
  host: string;
  /** The request target. @default {"/"} */
  path?: string;
}

/** A WebSocket and the connection under it, as a probe series holds them. */
export interface WsSession {
  readonly conn: DialedConn;
  readonly ws: WebSocketClient;
}

/**
 * A probe series' exchange over WebSocket: the upgrade once per connection
 * (its time is the probe's `upgradeMs`), then one binary message per probe,
 * its echo verified; the closing handshake when the series is done with it.
 *
 * @example
 * ```ts
 * import { patternPayload } from "./payload.ts";
 * import { probeSeries } from "./probe.ts";
 * import { wsExchange } from "./send_ws.ts";
 *
 * const summary = await probeSeries({
 *   target: { hostname: "127.0.0.1", port: 4321 },
 *   payload: patternPayload(100),
 *   count: 10,
 *   exchange: wsExchange({ host: "127.0.0.1:4321" }),
 * });
 * console.log(summary.spread?.perRequest.instances);
 * ```
 */
export function wsExchange(req: WsRequest): ProbeExchange<WsSession> {
  return {
    async open(conn, { timeoutMs }) {
      // The client needs only read, write, closeWrite and close, which every dialed connection has.
      const ws = await connectWebSocket(conn as unknown as Deno.Conn, { ...req, timeoutMs });
      return { conn, ws };
    },
    async echo({ conn, ws }, payload, options) {
      const echo = await echoPayload(new MessageExchange(conn, ws), payload, {
        ...options,
        halfClose: true,
      });
      return { ...echo, instance: ws.header("X-Echo-Instance"), reusable: true };
    },
    async close({ ws }) {
      await ws.close(CLOSE.normal);
    },
    // A WebSocket closed while it idled: ended, or closed normally or as going away.
    stale: (error) =>
      error instanceof ClosedEarlyError && error.cause instanceof WebSocketClosedError &&
      [CLOSE.normal, GOING_AWAY, CLOSE.abnormal].includes(error.cause.code),
  };
}

/**
 * One message seen as the connection `echoPayload` writes to and reads
 * from: what is written is the message (sent whole at the half-close), what
 * is read is the echoed message, then the end.
 */
class MessageExchange implements DialedConn {
  readonly localAddr: Deno.NetAddr | Deno.UnixAddr;
  readonly remoteAddr: Deno.NetAddr | Deno.UnixAddr;
  readonly tls: DialedConn["tls"];
  readonly #conn: DialedConn;
  readonly #ws: WebSocketClient;
  #parts: Uint8Array[] = [];
  #sent = 0;
  #reply?: Uint8Array;
  #at = 0;

  constructor(conn: DialedConn, ws: WebSocketClient) {
    ({ localAddr: this.localAddr, remoteAddr: this.remoteAddr, tls: this.tls } = conn);
    this.#conn = conn;
    this.#ws = ws;
  }

  write(bytes: Uint8Array): Promise<number> {
    this.#parts.push(bytes.slice());
    this.#sent += bytes.length;
    return Promise.resolve(bytes.length);
  }

  async closeWrite(): Promise<void> {
    const message = concatBytes(this.#parts);
    this.#parts = [];
    await this.#ws.send(message);
  }

  async read(into: Uint8Array): Promise<number | null> {
    try {
      this.#reply ??= (await this.#ws.receive()).data;
    } catch (error) {
      if (!(error instanceof WebSocketClosedError)) throw error;
      throw new ClosedEarlyError(
        `${describeRemote(this)}: ${error.message} after echoing 0 of ${
          plural(this.#sent, "byte")
        }`,
        0,
        this.#sent,
        { cause: error },
      );
    }
    if (this.#at === this.#reply.length) return null;
    const n = Math.min(into.length, this.#reply.length - this.#at);
    into.set(this.#reply.subarray(this.#at, this.#at + n));
    this.#at += n;
    return n;
  }

  close(): void {
    closeQuietly(this.#conn);
  }
}

/** Options for {@linkcode sendWs}. */
export interface SendWsOptions {
  /** A `ws://` or `wss://` URL: where to connect, the `Host` header and the path. */
  url: string | URL;
  /** The message to send (binary) and expect back. @default {C_CLIENT_MESSAGE} */
  message?: Uint8Array;
  /** Time allowed for resolving, connecting, the upgrade and the echo, in ms. @default {5000} */
  timeoutMs?: number;
  /** Turns the host name into addresses to try in order. @default {resolveHost} */
  resolve?: Resolver;
  /** How to trust a `wss://` server. @default {the system's roots} */
  tls?: TlsClientOptions;
  /** Connect to this Unix domain socket instead (the URL still gives `Host` and the path). */
  path?: string;
}

/** What {@linkcode sendWs} got back. */
export interface SendWsResult {
  /** The upgrade's status line, e.g. `HTTP/1.1 101 Switching Protocols`. */
  statusLine: string;
  /** `X-Echo-Instance` of the 101: which server answered, when it says. */
  instance?: string;
  /** The echoed message, equal to the one sent. */
  echo: Uint8Array;
  /** The address that answered. */
  remoteAddr: Deno.NetAddr | Deno.UnixAddr;
  /** Over TLS: what the handshake settled. */
  tls?: TlsSession;
  /** From the first byte of the message to the last byte of its echo, in ms (the upgrade apart). */
  roundTripMs: number;
  /** The close code the server echoed (1000 when all went well). */
  closeCode: number;
}

/** RFC 6455's 1001: the server is shutting down or the idle connection is dropped. */
const GOING_AWAY = 1001;

/** Nothing stops a send but its own timeout. */
const NEVER = new AbortController().signal;

/**
 * Opens a WebSocket, sends the message as one binary message, checks its
 * echo and closes. Throws what `sendHttp` throws for the connection,
 * `WebSocketHandshakeError` when the upgrade is refused,
 * `WebSocketProtocolError` when the server breaks the protocol,
 * `ClosedEarlyError` when it closes first, `MismatchError` for a wrong echo.
 *
 * @example
 * ```ts
 * import { sendWs } from "./send_ws.ts";
 *
 * const message = new TextEncoder().encode("ping");
 * const { roundTripMs, closeCode } = await sendWs({ url: "wss://echo.example/", message });
 * ```
 */
export async function sendWs(options: SendWsOptions): Promise<SendWsResult> {
  const { message = C_CLIENT_MESSAGE } = options;
  const { conn, target: url, deadline } = await dialUrl(options);
  const left = () => Math.max(1, deadline - performance.now());
  try {
    const exchange = wsExchange({ host: url.host, path: url.path });
    const session = await exchange.open!(conn, { timeoutMs: left(), signal: NEVER });
    const echo = await exchange.echo(session, bytesPayload(message), { timeoutMs: left() });
    return {
      statusLine: session.ws.statusLine,
      instance: echo.instance,
      echo: message,
      remoteAddr: conn.remoteAddr,
      roundTripMs: echo.ms,
      closeCode: await session.ws.close(CLOSE.normal),
      ...conn.tls && { tls: conn.tls },
    };
  } finally {
    closeQuietly(conn);
  }
}
