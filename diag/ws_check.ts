/**
 * One verified echo over WebSocket, for `check --http`: the upgrade on a
 * dialed connection, then a binary message checked by `echo.ts`'s own code
 * (the same errors, the same hex view at the first wrong byte), then the
 * closing handshake. The WebSocket is seen as a connection that
 * `echoPayload` writes to (a message per write) and reads from (the
 * messages' bytes, in order).
 *
 * @example
 * ```ts
 * import { dialTcp } from "../net/dial.ts";
 * import { webSocketCheck } from "./ws_check.ts";
 *
 * const conn = await dialTcp({ hostname: "127.0.0.1", port: 4321 }, AbortSignal.timeout(3000));
 * const message = Uint8Array.from({ length: 256 }, (_, i) => i);
 * const result = await webSocketCheck(conn, message, { host: "127.0.0.1:4321", timeoutMs: 3000 });
 * console.log(result.upgradeMs, result.echo.ms, result.closeCode);
 * ```
 *
 * @module
 */

import type { DialedConn } from "../net/dial.ts";
import { closeQuietly } from "../net/io.ts";
import { connectWebSocket, type WebSocketClient } from "../net/http/ws_client.ts";
import { echoPayload, type EchoResult } from "./echo.ts";
import { bytesPayload } from "./payload.ts";

/** Where the upgrade goes, and how long each step may take. */
export interface WebSocketTarget {
  /** The `Host` header. */
  host: string;
  /** The request target. @default {"/"} */
  path?: string;
  /** Time allowed for the upgrade, the echo and the close, each, in ms. */
  timeoutMs: number;
  /** Aborting it closes the connection (Ctrl+C). */
  signal?: AbortSignal;
}

/** What {@linkcode webSocketCheck} saw. */
export interface WebSocketCheckResult {
  /** The 101's status line. */
  readonly statusLine: string;
  /** `X-Echo-Instance` of the 101, when it says. */
  readonly instance?: string;
  /** From the upgrade request to the 101, in ms. */
  readonly upgradeMs: number;
  /** The message's echo. */
  readonly echo: EchoResult;
  /** The server's close code, echoing our 1000 (1005 for none, 1006 when none came). */
  readonly closeCode: number;
}

/**
 * Upgrades `conn` and has one binary message echoed, verified byte for byte,
 * without closing: the WebSocket is returned open (`check --http --idle`'s
 * flows then idle on it). Throws `WebSocketHandshakeError` (no sound 101),
 * `TimeoutError`, and what `echoPayload` throws (the connection then closed).
 *
 * @example
 * ```ts
 * import { dialTcp } from "../net/dial.ts";
 * import { openWebSocketEcho } from "./ws_check.ts";
 *
 * const conn = await dialTcp({ hostname: "127.0.0.1", port: 4321 }, AbortSignal.timeout(3000));
 * const message = new TextEncoder().encode("ping");
 * const { ws } = await openWebSocketEcho(conn, message, { host: "127.0.0.1:4321", timeoutMs: 3000 });
 * await ws.close();
 * ```
 */
export async function openWebSocketEcho(
  conn: DialedConn,
  message: Uint8Array,
  { host, path = "/", timeoutMs, signal }: WebSocketTarget,
): Promise<{ ws: WebSocketClient; upgradeMs: number; echo: EchoResult }> {
  const startedAt = performance.now();
  const onAbort = () => closeQuietly(conn);
  signal?.addEventListener("abort", onAbort, { once: true });
  let ws: WebSocketClient;
  try {
    ws = await connectWebSocket(conn, { host, path, timeoutMs });
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  const upgradeMs = performance.now() - startedAt;
  const echo = await echoPayload(new MessagePipe(conn, ws), bytesPayload(message), {
    timeoutMs,
    signal,
  });
  return { ws, upgradeMs, echo };
}

/**
 * The whole check: upgrade, one verified echo of `message`, the closing
 * handshake with 1000. The connection is closed at the end, whatever happened.
 *
 * @example
 * ```ts
 * import { dialTcp } from "../net/dial.ts";
 * import { webSocketCheck } from "./ws_check.ts";
 *
 * const conn = await dialTcp({ hostname: "127.0.0.1", port: 4321 }, AbortSignal.timeout(3000));
 * const { closeCode } = await webSocketCheck(conn, new Uint8Array([1, 2, 3]), {
 *   host: "127.0.0.1:4321",
 *   timeoutMs: 3000,
 * });
 * ```
 */
export async function webSocketCheck(
  conn: DialedConn,
  message: Uint8Array,
  target: WebSocketTarget,
): Promise<WebSocketCheckResult> {
  try {
    const { ws, upgradeMs, echo } = await openWebSocketEcho(conn, message, target);
    return {
      statusLine: ws.statusLine,
      instance: ws.header("X-Echo-Instance"),
      upgradeMs,
      echo,
      closeCode: await ws.close(),
    };
  } finally {
    closeQuietly(conn);
  }
}

/** A WebSocket as a connection: each write one binary message, reads the messages' bytes. */
class MessagePipe implements DialedConn {
  readonly localAddr: Deno.NetAddr | Deno.UnixAddr;
  readonly remoteAddr: Deno.NetAddr | Deno.UnixAddr;
  readonly tls: DialedConn["tls"];
  readonly #conn: DialedConn;
  readonly #ws: WebSocketClient;
  /** What is left of the last message received. */
  #rest: Uint8Array = new Uint8Array();

  constructor(conn: DialedConn, ws: WebSocketClient) {
    ({ localAddr: this.localAddr, remoteAddr: this.remoteAddr, tls: this.tls } = conn);
    this.#conn = conn;
    this.#ws = ws;
  }

  async write(bytes: Uint8Array): Promise<number> {
    await this.#ws.send(bytes);
    return bytes.length;
  }

  async read(into: Uint8Array): Promise<number | null> {
    while (this.#rest.length === 0) this.#rest = (await this.#ws.receive()).data;
    const n = Math.min(into.length, this.#rest.length);
    into.set(this.#rest.subarray(0, n));
    this.#rest = this.#rest.subarray(n);
    return n;
  }

  /** The echo ends by its size: a WebSocket has no half-close to send. */
  closeWrite(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {
    closeQuietly(this.#conn);
  }
}
