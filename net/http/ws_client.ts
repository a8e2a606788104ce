/**
 * A WebSocket client over any connection the caller opened (`net/dial.ts`:
 * TCP, TLS with its pins, a Unix socket): the opening handshake with a fresh
 * key, checked against `Sec-WebSocket-Accept`; messages sent masked with
 * random keys and received whole; server pings answered; the closing
 * handshake. The response's headers are kept, so the caller can read which
 * instance answered (`X-Echo-Instance`). Used by `send --ws` and `bench --ws`.
 *
 * @example
 * ```ts
 * import { connectWebSocket } from "./ws_client.ts";
 *
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: 4321 });
 * const ws = await connectWebSocket(conn, { host: "127.0.0.1:4321", path: "/" });
 * console.log(ws.header("X-Echo-Instance"));
 * await ws.send("hello");
 * const { opcode, data } = await ws.receive(); // 1 (text), "hello" as bytes
 * await ws.close(); // 1000, echoed by the server
 * ```
 *
 * @module
 */

import { TimeoutError } from "../errors.ts";
import type { StreamConn } from "../io.ts";
import { closeAfter, closeQuietly, writeAll } from "../io.ts";
import {
  CLOSE,
  DEFAULT_MAX_MESSAGE_BYTES,
  encodeClose,
  FrameWriter,
  headerLines,
  MAX_CONTROL_BYTES,
  OPCODE,
  websocketAccept,
  WebSocketClosedError,
  WebSocketHandshakeError,
  WebSocketProtocolError,
} from "./websocket.ts";
import { type ByteSource, FrameReader } from "./ws_reader.ts";

/** The largest HTTP response head the client reads. */
export const MAX_HEAD_BYTES = 64 * 1024;

/**
 * Reads an HTTP head (up to and including the empty line) off `source`,
 * bounded by `maxBytes`; returns it as text and the bytes read past it.
 * Throws a WebSocketHandshakeError when the source ends first or the head is too long.
 *
 * @example
 * ```ts
 * import { readHead } from "./ws_client.ts";
 *
 * const conn = await Deno.connect({ port: 8080 });
 * const { head, rest } = await readHead(conn); // "HTTP/1.1 101 …\r\n\r\n", the first frames
 * ```
 */
export async function readHead(
  source: ByteSource,
  maxBytes = MAX_HEAD_BYTES,
): Promise<{ head: string; rest: Uint8Array }> {
  const buffer = new Uint8Array(maxBytes);
  let length = 0;
  for (let scanned = 0;;) {
    const n = await source.read(buffer.subarray(length));
    if (n === null) {
      throw new WebSocketHandshakeError(`connection ended after ${length} bytes of an HTTP head`);
    }
    length += n;
    for (let i = Math.max(scanned - 3, 0); i + 3 < length; i++) {
      if (
        buffer[i] === 13 && buffer[i + 1] === 10 && buffer[i + 2] === 13 && buffer[i + 3] === 10
      ) {
        const head = new TextDecoder("latin1").decode(buffer.subarray(0, i + 4));
        return { head, rest: buffer.slice(i + 4, length) };
      }
    }
    scanned = length;
    if (length === maxBytes) throw new WebSocketHandshakeError(`HTTP head over ${maxBytes} bytes`);
  }
}

/** Options for {@linkcode connectWebSocket}. */
export interface ConnectWebSocketOptions {
  /** The `Host` header: the host, and `:port` unless it is the scheme's default. */
  host: string;
  /** The request target. @default {"/"} */
  path?: string;
  /** More request headers, after the handshake's own. @default {none} */
  headers?: Record<string, string> | [string, string][];
  /** How long the opening handshake, and the closing one, may take. @default {10000} */
  timeoutMs?: number;
  /** The bound on one message received; beyond it, close 1009. @default {16 MiB} */
  maxMessageBytes?: number;
}

/** A message received: text (valid UTF-8) or binary. */
export interface ReceivedMessage {
  /** {@linkcode OPCODE.text} or {@linkcode OPCODE.binary}. */
  readonly opcode: number;
  /** The payload. */
  readonly data: Uint8Array;
}

/**
 * Opens a WebSocket over `conn`, which is the client's from then on: closed
 * when the handshake fails, by {@linkcode WebSocketClient.close} and when the
 * server closes. Throws a WebSocketHandshakeError for an answer other than a
 * sound 101, a TimeoutError when none comes within `timeoutMs`.
 *
 * @example
 * ```ts
 * import { connectWebSocket } from "./ws_client.ts";
 *
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: 4321 });
 * const ws = await connectWebSocket(conn, { host: "127.0.0.1:4321", timeoutMs: 5000 });
 * await ws.close(1000);
 * ```
 */
export async function connectWebSocket(
  conn: StreamConn,
  options: ConnectWebSocketOptions,
): Promise<WebSocketClient> {
  const { host, path = "/", headers = {}, timeoutMs = 10_000 } = options;
  if (!/^\/[\x21-\x7e]*$/.test(path)) throw new TypeError(`request path ${JSON.stringify(path)}`);
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  const request = `GET ${path} HTTP/1.1\r\n` + headerLines([
    ["Host", host],
    ["Upgrade", "websocket"],
    ["Connection", "Upgrade"],
    ["Sec-WebSocket-Key", key],
    ["Sec-WebSocket-Version", "13"],
  ]) + headerLines(headers) + "\r\n";
  const deadline = closeAfter(conn, timeoutMs);
  try {
    await writeAll(conn, new TextEncoder().encode(request));
    const { head, rest } = await readHead(conn);
    const response = parseResponseHead(head);
    await checkUpgrade(response, key);
    return new WebSocketClient(conn, response, rest, options);
  } catch (error) {
    closeQuietly(conn);
    if (deadline.fired) {
      throw new TimeoutError(`no WebSocket handshake within ${timeoutMs / 1000} s`);
    }
    if (error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe) {
      throw new WebSocketHandshakeError("the server reset the connection during the handshake");
    }
    throw error;
  } finally {
    deadline.clear();
  }
}

interface ResponseHead {
  statusLine: string;
  status: number;
  headers: [string, string][];
}

function parseResponseHead(head: string): ResponseHead {
  const [statusLine, ...lines] = head.slice(0, -4).split("\r\n");
  const status = statusLine.match(/^HTTP\/1\.[01] (\d{3})(?: |$)/);
  if (!status) {
    throw new WebSocketHandshakeError(`not an HTTP response: ${JSON.stringify(statusLine)}`);
  }
  const headers = lines.map((line): [string, string] => {
    const colon = line.indexOf(":");
    if (colon <= 0) {
      throw new WebSocketHandshakeError(`malformed header line ${JSON.stringify(line)}`);
    }
    return [line.slice(0, colon), line.slice(colon + 1).trim()];
  });
  return { statusLine, status: Number(status[1]), headers };
}

function headerOf(headers: readonly [string, string][], name: string): string | undefined {
  return headers.find(([found]) => found.toLowerCase() === name.toLowerCase())?.[1];
}

/** Fails unless the response completes the handshake (RFC 6455 §4.1, the client's checks). */
async function checkUpgrade(response: ResponseHead, key: string): Promise<void> {
  const fail = (why: string) => {
    throw new WebSocketHandshakeError(`WebSocket upgrade refused: ${why}`);
  };
  if (response.status !== 101) fail(`the server answered "${response.statusLine}"`);
  const header = (name: string) => headerOf(response.headers, name);
  if (header("Upgrade")?.toLowerCase() !== "websocket") fail("no Upgrade: websocket");
  if (!/(^|,)\s*upgrade\s*(,|$)/i.test(header("Connection") ?? "")) fail("no Connection: Upgrade");
  if (header("Sec-WebSocket-Accept") !== await websocketAccept(key)) {
    fail("Sec-WebSocket-Accept does not match the key");
  }
  // We offered neither: a server that picks one speaks something we cannot read.
  if (header("Sec-WebSocket-Extensions")) fail("the server chose an extension");
  if (header("Sec-WebSocket-Protocol")) fail("the server chose a subprotocol");
}

/**
 * An open WebSocket, from {@linkcode connectWebSocket}. One `receive` (or
 * `close`) at a time; `send` may be called alongside.
 */
export class WebSocketClient {
  /** The response's status line. */
  readonly statusLine: string;
  /** The response's headers, in arrival order, names as sent. */
  readonly headers: readonly [string, string][];
  #conn: StreamConn;
  #reader: FrameReader;
  #writer: FrameWriter;
  #timeoutMs: number;
  /** The close code once the closing handshake is over (or the connection gone). */
  #closed?: number;

  /** Wraps a connection whose handshake `connectWebSocket` completed. */
  constructor(
    conn: StreamConn,
    response: { statusLine: string; headers: [string, string][] },
    pending: Uint8Array,
    options: { timeoutMs?: number; maxMessageBytes?: number } = {},
  ) {
    const { timeoutMs = 10_000, maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES } = options;
    this.statusLine = response.statusLine;
    this.headers = response.headers;
    this.#conn = conn;
    this.#reader = new FrameReader(conn, { pending, maxMessageBytes, expectMasked: false });
    this.#writer = new FrameWriter(conn, { mask: true });
    this.#timeoutMs = timeoutMs;
  }

  /** The first response header called `name` (any case), if any. */
  header(name: string): string | undefined {
    return headerOf(this.headers, name);
  }

  /** Sends one message: a string as text, bytes as binary. */
  send(data: Uint8Array | string): Promise<void> {
    return typeof data === "string"
      ? this.#writer.write(OPCODE.text, new TextEncoder().encode(data))
      : this.#writer.write(OPCODE.binary, data);
  }

  /**
   * The next text or binary message, answering pings on the way. When the
   * server closes, its close is echoed and a WebSocketClosedError thrown
   * with its code (1006 when the connection ended without one); a server
   * breaking the protocol is closed and its WebSocketProtocolError thrown.
   */
  async receive(): Promise<ReceivedMessage> {
    if (this.#closed !== undefined) {
      throw new WebSocketClosedError("the WebSocket is closed", this.#closed);
    }
    try {
      for (;;) {
        const message = await this.#reader.readMessage();
        if (message === null) {
          this.#end(CLOSE.abnormal);
          throw new WebSocketClosedError(
            "the server ended the connection without a close frame",
            CLOSE.abnormal,
          );
        }
        const { opcode, data } = message;
        if (opcode === OPCODE.ping) await this.#writer.write(OPCODE.pong, data);
        if (opcode === OPCODE.text || opcode === OPCODE.binary) return { opcode, data };
        if (opcode === OPCODE.close) {
          const { code, reason } = message.close!;
          await this.#writer.write(OPCODE.close, data).catch(() => {});
          await this.#awaitEnd();
          this.#end(code);
          throw new WebSocketClosedError(
            `the server closed the WebSocket with ${code}${reason ? ` (${reason})` : ""}`,
            code,
            reason,
          );
        }
      }
    } catch (error) {
      if (error instanceof WebSocketProtocolError && this.#closed === undefined) {
        const reason = error.message.slice(0, MAX_CONTROL_BYTES - 2);
        if (error.closeCode !== CLOSE.abnormal) {
          await this.#writer.write(OPCODE.close, encodeClose(error.closeCode, reason)).catch(
            () => {},
          );
        }
        this.#end(error.closeCode);
      }
      throw error;
    }
  }

  /**
   * The closing handshake: sends a close with `code` and `reason`, drops
   * messages still on their way, waits (at most `timeoutMs`) for the
   * server's close and its end of the connection, closes it. Resolves with
   * the server's close code: what it echoed, 1005 for a close without a
   * code, 1006 when none came. A second call resolves with the same code.
   */
  async close(code: number = CLOSE.normal, reason = ""): Promise<number> {
    if (this.#closed !== undefined) return this.#closed;
    const deadline = closeAfter(this.#conn, this.#timeoutMs);
    let echoed: number = CLOSE.abnormal;
    try {
      await this.#writer.write(OPCODE.close, encodeClose(code, reason));
      for (let message; (message = await this.#reader.readMessage()) !== null;) {
        if (message.opcode === OPCODE.close) {
          echoed = message.close!.code;
          break;
        }
      }
      await this.#awaitEnd();
    } catch {
      // Reset, a protocol error or the deadline: the close code says what came.
    } finally {
      deadline.clear();
      this.#end(echoed);
    }
    return echoed;
  }

  /** Waits for the server to end TCP (it should, first: RFC 6455 §7.1.1), bounded. */
  async #awaitEnd(): Promise<void> {
    const deadline = closeAfter(this.#conn, this.#timeoutMs);
    try {
      await this.#conn.closeWrite();
      while (await this.#reader.readFrame() !== null) {
        // What still comes after the close is dropped.
      }
    } catch {
      // Reset, trailing garbage or the deadline: the connection is over either way.
    } finally {
      deadline.clear();
    }
  }

  #end(code: number): void {
    this.#closed = code;
    closeQuietly(this.#conn);
  }
}
