/**
 * The server side of the WebSocket echo, run on a connection once the
 * caller has read the upgrade request and written {@linkcode upgradeResponse}:
 * text and binary messages echoed exactly (same opcode, same payload; a
 * fragmented one comes back whole), pings answered with the same payload,
 * the client's close echoed with its code. A client that breaks the protocol
 * is closed with the code RFC 6455 asks for (1002, 1007, 1009). The server
 * sends no pings unless asked: a keep-alive would hide the idle timeout of
 * the middlebox a user is trying to find.
 *
 * @example
 * ```ts
 * import { echoWebSocket, upgradeResponse } from "./ws_echo.ts";
 *
 * const conn = await Deno.listen({ port: 8080 }).accept();
 * // … read the request head, its Sec-WebSocket-Key, and what came after it …
 * const key = "dGhlIHNhbXBsZSBub25jZQ==";
 * await conn.write(await upgradeResponse(key, { "X-Echo-Instance": "web-1" }));
 * const { messages, closeCode } = await echoWebSocket(conn, new Uint8Array());
 * ```
 *
 * @module
 */

import { closeAfter, closeQuietly, type StreamConn } from "../io.ts";
import {
  CLOSE,
  DEFAULT_MAX_MESSAGE_BYTES,
  encodeClose,
  FrameWriter,
  headerLines,
  isWebSocketKey,
  MAX_CONTROL_BYTES,
  OPCODE,
  websocketAccept,
  WebSocketHandshakeError,
  WebSocketProtocolError,
} from "./websocket.ts";
import { FrameReader } from "./ws_reader.ts";

/**
 * How long the client has to end the TCP connection once the server's close
 * frame is out (it may still be sending, e.g. the rest of a message over the
 * bound, which is read and dropped so that the close frame is not lost to a reset).
 */
export const CLOSE_LINGER_MS = 2000;

/**
 * The `101 Switching Protocols` response to an upgrade request with
 * `Sec-WebSocket-Key: key`, with `extraHeaders` after the handshake's own.
 * Throws a WebSocketHandshakeError when `key` is not 16 bytes in base64 (the
 * request deserves a 400) and a TypeError when a header holds CR or LF.
 *
 * @example
 * ```ts
 * import { upgradeResponse } from "./ws_echo.ts";
 *
 * const head = await upgradeResponse("dGhlIHNhbXBsZSBub25jZQ==", [["X-Echo-Instance", "web-1"]]);
 * // "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n…\r\n\r\n" as bytes
 * ```
 */
export async function upgradeResponse(
  key: string,
  extraHeaders: Record<string, string> | [string, string][] = {},
): Promise<Uint8Array> {
  if (!isWebSocketKey(key)) {
    throw new WebSocketHandshakeError("Sec-WebSocket-Key is not 16 bytes in base64");
  }
  const head = "HTTP/1.1 101 Switching Protocols\r\n" +
    headerLines([
      ["Upgrade", "websocket"],
      ["Connection", "Upgrade"],
      ["Sec-WebSocket-Accept", await websocketAccept(key)],
    ]) + headerLines(extraHeaders) + "\r\n";
  return new TextEncoder().encode(head);
}

/** Options for {@linkcode echoWebSocket}. */
export interface EchoWebSocketOptions {
  /** The bound on one message (fragments added up); beyond it, close 1009. @default {16 MiB} */
  maxMessageBytes?: number;
  /** How often the server pings the client; 0 never does (`--ws-ping`). @default {0} */
  pingIntervalMs?: number;
  /** Called with each text or binary message before it is echoed. @default {undefined} */
  onMessage?: (opcode: number, bytes: Uint8Array) => void;
  /** Counts every byte read from the client, so an idle sweeper sees progress. @default {undefined} */
  progress?: { bytes: number };
}

/** What {@linkcode echoWebSocket} did. */
export interface EchoWebSocketResult {
  /** Text and binary messages echoed. */
  messages: number;
  /** Their payload bytes. */
  bytes: number;
  /**
   * The close code: the client's, echoed (1005 for a close without one), or
   * the one the server closed a misbehaving client with; 1006 when the
   * connection ended, or was reset, without a close frame.
   */
  closeCode?: number;
}

/**
 * Echoes WebSocket messages on `conn` (after the 101) until the close
 * handshake, the client's end or its reset; `pending` is what was read past
 * the request head. Ends the connection before it returns. Errors other than
 * the client's own end (the connection closed under it, say) are thrown.
 *
 * @example
 * ```ts
 * import { echoWebSocket } from "./ws_echo.ts";
 *
 * const conn = await Deno.listen({ port: 8080 }).accept(); // the 101 already written
 * const progress = { bytes: 0 };
 * const result = await echoWebSocket(conn, new Uint8Array(), { pingIntervalMs: 20_000, progress });
 * console.log(result.messages, result.closeCode);
 * ```
 */
export async function echoWebSocket(
  conn: StreamConn,
  pending: Uint8Array,
  options: EchoWebSocketOptions = {},
): Promise<EchoWebSocketResult> {
  const { maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES, pingIntervalMs = 0 } = options;
  const progress = options.progress ?? { bytes: 0 };
  const reader = new FrameReader(conn, { pending, maxMessageBytes, expectMasked: true, progress });
  const writer = new FrameWriter(conn);
  const result: EchoWebSocketResult = { messages: 0, bytes: 0 };
  // A failed ping needs no handling: the read loop meets the same dead connection.
  const pinger = pingIntervalMs > 0
    ? setInterval(() => writer.write(OPCODE.ping, new Uint8Array()).catch(() => {}), pingIntervalMs)
    : undefined;
  try {
    for (;;) {
      const message = await reader.readMessage();
      if (message === null) return { ...result, closeCode: CLOSE.abnormal };
      const { opcode, data } = message;
      if (opcode === OPCODE.text || opcode === OPCODE.binary) {
        options.onMessage?.(opcode, data);
        await writer.write(opcode, data);
        result.messages++;
        result.bytes += data.length;
      } else if (opcode === OPCODE.ping) {
        await writer.write(OPCODE.pong, data);
      } else if (opcode === OPCODE.close) {
        await writer.write(OPCODE.close, data);
        await linger(conn, progress);
        return { ...result, closeCode: message.close!.code };
      }
    }
  } catch (error) {
    if (error instanceof WebSocketProtocolError) {
      if (error.closeCode !== CLOSE.abnormal) {
        const reason = error.message.slice(0, MAX_CONTROL_BYTES - 2);
        await writer.write(OPCODE.close, encodeClose(error.closeCode, reason)).catch(() => {});
        await linger(conn, progress);
      }
      return { ...result, closeCode: error.closeCode };
    }
    if (isPeerGone(error)) return { ...result, closeCode: CLOSE.abnormal };
    throw error;
  } finally {
    clearInterval(pinger);
    closeQuietly(conn);
  }
}

/**
 * After the server's close frame: a FIN (the server ends TCP first, RFC 6455
 * §7.1.1), then whatever the client still sends is read and dropped until it
 * ends too, for at most {@linkcode CLOSE_LINGER_MS}.
 */
async function linger(conn: StreamConn, progress: { bytes: number }): Promise<void> {
  const deadline = closeAfter(conn, CLOSE_LINGER_MS);
  try {
    await conn.closeWrite();
    const sink = new Uint8Array(16 * 1024);
    for (let n; (n = await conn.read(sink)) !== null;) progress.bytes += n;
  } catch {
    // Reset, or closed by the deadline: either way the client is done.
  } finally {
    deadline.clear();
  }
}

/** Whether `error` is the client gone: reset, or a write to a connection it closed. */
function isPeerGone(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionAborted || error instanceof Deno.errors.UnexpectedEof;
}
