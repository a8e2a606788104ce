/**
 * The WebSocket round trip of `bench --ws`: after the opening handshake
 * (a fresh key, the 101 and its `Sec-WebSocket-Accept` checked), each round
 * trip sends the message as one masked binary frame and reads the echoed
 * message (fragments joined) into the echo buffer for the engine to verify.
 * One message in flight per connection; a ping is answered with its pong, a
 * close from the server ends the connection as a counted cut.
 *
 * Not `net/http/ws_client.ts`: the engine runs in `blob:` workers that may
 * import nothing, so this class refers to nothing outside itself (its
 * reading is a {@linkcode ConnInput} handed in), and its frame is built once
 * per connection: each message only copies its payload in and masks it,
 * four bytes at a time.
 *
 * @example
 * ```ts
 * import { ConnInput } from "./conn_input.ts";
 * import type { TripTools } from "./share.ts";
 * import { WsRoundTrip } from "./ws_trip.ts";
 *
 * declare const conn: Deno.Conn;
 * declare const tools: TripTools;
 * const input = new ConnInput(conn, tools);
 * const trip = await WsRoundTrip.open(conn, input, { host: "a", path: "/" }, 5, tools);
 * await trip.roundTrip(new TextEncoder().encode("hello"), new Uint8Array(5));
 * ```
 *
 * @module
 */

import type { ConnInput } from "./conn_input.ts";
import type { HttpTarget, RoundTripper, TripTools } from "./share.ts";

/** One WebSocket's messages, one at a time. */
export class WsRoundTrip implements RoundTripper {
  /** Where a frame's payload starts in its buffer: 4-aligned, after the longest header. */
  static readonly #PAYLOAD_AT = 16;

  readonly #conn: Deno.Conn;
  readonly #input: ConnInput;
  readonly #tools: TripTools;
  /** The frame: its header ending at the payload, the mask key its last 4 bytes. */
  readonly #frame: Uint8Array;
  readonly #words: Uint32Array;
  readonly #headerAt: number;
  /** Whether the server has not closed the WebSocket. */
  reusable = true;

  private constructor(conn: Deno.Conn, input: ConnInput, size: number, tools: TripTools) {
    this.#conn = conn;
    this.#input = input;
    this.#tools = tools;
    const at = WsRoundTrip.#PAYLOAD_AT;
    this.#frame = new Uint8Array(at + size + 3);
    this.#words = new Uint32Array(this.#frame.buffer, 0, (at + size) >> 2);
    const extended = size < 126 ? 0 : size < 65536 ? 2 : 8;
    this.#headerAt = at - 6 - extended;
    const frame = this.#frame;
    frame[this.#headerAt] = 0x82; // FIN, binary
    frame[this.#headerAt + 1] = 0x80 | (extended === 0 ? size : extended === 2 ? 126 : 127);
    const view = new DataView(frame.buffer);
    if (extended === 2) view.setUint16(this.#headerAt + 2, size);
    if (extended === 8) view.setBigUint64(this.#headerAt + 2, BigInt(size));
  }

  /**
   * Opens the WebSocket on `conn` (`target`'s path, `Host`) for messages of
   * `size` bytes. A status other than 101, or a 101 that is not a sound
   * WebSocket answer, is a `WebSocketHandshakeError` failure.
   */
  static async open(
    conn: Deno.Conn,
    input: ConnInput,
    { host, path }: HttpTarget,
    size: number,
    tools: TripTools,
  ): Promise<WsRoundTrip> {
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    const request = `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    const bytes = new TextEncoder().encode(request);
    try {
      for (let written = 0; written < bytes.length;) {
        written += await conn.write(bytes.subarray(written));
      }
    } catch (error) {
      throw tools.dropped(error, 0, 0);
    }
    const { status, reason, values: [upgrade, accept, extensions] } = await input.responseHead(
      0,
      ["upgrade", "sec-websocket-accept", "sec-websocket-extensions"],
    );
    const refuse = (why: string) =>
      tools.fail("WebSocketHandshakeError", `the WebSocket upgrade failed: ${why}`);
    if (status !== 101) {
      throw refuse(`the server answered ${status}${reason === "" ? "" : ` (${reason})`}`);
    }
    const digest = await crypto.subtle.digest(
      "SHA-1",
      new TextEncoder().encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
    );
    if (upgrade?.toLowerCase() !== "websocket") throw refuse("no Upgrade: websocket");
    if (accept !== btoa(String.fromCharCode(...new Uint8Array(digest)))) {
      throw refuse("Sec-WebSocket-Accept does not match the key");
    }
    if (extensions !== undefined) {
      throw refuse("the server chose an extension that was not offered");
    }
    return new WsRoundTrip(conn, input, size, tools);
  }

  /**
   * Sends `message` as one binary frame and reads the echoed message into
   * `echo`; resolves with its length (of a longer one, what fits is in `echo`).
   */
  async roundTrip(message: Uint8Array, echo: Uint8Array): Promise<number> {
    const at = WsRoundTrip.#PAYLOAD_AT;
    const frame = this.#frame;
    crypto.getRandomValues(frame.subarray(at - 4, at));
    frame.set(message, at);
    const mask = this.#words[(at >> 2) - 1];
    for (let i = at >> 2; i < this.#words.length; i++) this.#words[i] ^= mask;
    for (let i = at + (message.length & ~3); i < at + message.length; i++) {
      frame[i] ^= frame[at - 4 + (i & 3)];
    }
    const writing = this.#write(frame.subarray(this.#headerAt, at + message.length));
    // Awaited below, after the echo: until then it is not unhandled.
    writing.catch(() => {});
    try {
      const length = await this.#message(echo);
      await writing;
      return length;
    } catch (error) {
      this.reusable = false;
      await writing.catch(() => {});
      throw this.#tools.dropped(error, 0, echo.length);
    }
  }

  async #write(bytes: Uint8Array): Promise<void> {
    for (let written = 0; written < bytes.length;) {
      written += await this.#conn.write(bytes.subarray(written));
    }
  }

  /** Reads the next data message into `echo`, answering pings on the way. */
  async #message(echo: Uint8Array): Promise<number> {
    const expected = echo.length;
    let total = 0;
    let opcode = -1;
    for (;;) {
      const header = await this.#input.bytes(2, total, expected);
      const fin = (header[0] & 0x80) !== 0;
      const code = header[0] & 0x0f;
      if ((header[1] & 0x80) !== 0) throw this.#protocol("the server sent a masked frame");
      let length = header[1] & 0x7f;
      if (length === 126) {
        const ext = await this.#input.bytes(2, total, expected);
        length = (ext[0] << 8) | ext[1];
      } else if (length === 127) {
        const ext = await this.#input.bytes(8, total, expected);
        length = Number(new DataView(ext.buffer, ext.byteOffset, 8).getBigUint64(0));
      }
      if (code >= 8) {
        if (length > 125) throw this.#protocol(`a control frame of ${length} bytes`);
        const payload = (await this.#input.bytes(length, total, expected)).slice();
        if (code === 0x9) await this.#pong(payload);
        if (code === 0x8) {
          this.reusable = false;
          const status = length >= 2 ? ` (code ${(payload[0] << 8) | payload[1]})` : "";
          throw this.#tools.fail(
            "ClosedEarlyError",
            `the server closed the WebSocket${status} after echoing ${total} of ${expected} bytes`,
            { received: total, expected },
          );
        }
        continue; // a pong, or a ping answered
      }
      if ((opcode === -1) === (code === 0)) {
        throw this.#protocol(
          `a frame of opcode ${code} ${opcode === -1 ? "first" : "mid-message"}`,
        );
      }
      if (opcode === -1) opcode = code;
      const fits = Math.max(0, Math.min(length, expected - total));
      await this.#input.readInto(echo, total, fits, expected);
      await this.#input.readInto(null, 0, length - fits, expected);
      total += length;
      if (!fin) continue;
      if (opcode !== 2) {
        throw this.#tools.fail(
          "MismatchError",
          "the message sent as binary was echoed as text",
          { offset: 0, reply: echo.slice(0, Math.min(total, expected)) },
        );
      }
      return total;
    }
  }

  /** Answers a ping: a masked pong with its payload. */
  async #pong(payload: Uint8Array): Promise<void> {
    const pong = new Uint8Array(6 + payload.length);
    pong[0] = 0x8a;
    pong[1] = 0x80 | payload.length;
    crypto.getRandomValues(pong.subarray(2, 6));
    for (let i = 0; i < payload.length; i++) pong[6 + i] = payload[i] ^ pong[2 + (i & 3)];
    await this.#write(pong);
  }

  #protocol(why: string) {
    return this.#tools.fail("HttpResponseError", `the server broke the WebSocket protocol: ${why}`);
  }
}
