/**
 * The HTTP/1.1 round trip of `bench --http`: the message goes as the body of
 * a POST that asks for the raw format (`Accept: application/octet-stream`,
 * as `send --http` does), and the response's body, framed by Content-Length,
 * chunked or the close, is read into the echo buffer for the engine to
 * verify. One request in flight per connection, kept alive as long as the
 * server allows; an interim 1xx answer is skipped. A status other than 2xx
 * is an `HttpStatusError` failure with its code (its body read and dropped,
 * so the connection stays usable when kept alive), which the engine counts.
 *
 * Not `net/http/client.ts`: the engine runs in `blob:` workers that may
 * import nothing, so this class refers to nothing outside itself (its
 * reading is a {@linkcode ConnInput} handed in); and a load tester's client
 * must cost less than the server it loads, so the request head is written
 * once per connection and a response is looked at only for what frames it.
 *
 * @example
 * ```ts
 * import { ConnInput } from "./conn_input.ts";
 * import { HttpRoundTrip } from "./http_trip.ts";
 * import type { TripTools } from "./share.ts";
 *
 * declare const conn: Deno.Conn;
 * declare const tools: TripTools;
 * const trip = new HttpRoundTrip(conn, new ConnInput(conn, tools), { host: "a", path: "/" }, 5, tools);
 * const echo = new Uint8Array(5);
 * await trip.roundTrip(new TextEncoder().encode("hello"), echo);
 * ```
 *
 * @module
 */

import type { ConnInput } from "./conn_input.ts";
import type { HttpTarget, RoundTripper, TripTools } from "./share.ts";

/** One keep-alive connection's requests, one at a time. */
export class HttpRoundTrip implements RoundTripper {
  /** Bodies up to this size go out in the head's write: one segment for a small message. */
  static readonly COALESCE_BYTES = 64 * 1024;
  /** The fields that frame a response, looked up in each. */
  static readonly #FIELDS = ["connection", "transfer-encoding", "content-length"];

  readonly #conn: Deno.Conn;
  readonly #input: ConnInput;
  readonly #tools: TripTools;
  /** The request head, then room for a small body: one write per request. */
  readonly #request: Uint8Array;
  readonly #headLength: number;
  /** Whether the server lets the connection carry another request. */
  reusable = true;

  /** Requests of `size`-byte bodies to `target` over `conn`, read through `input`. */
  constructor(
    conn: Deno.Conn,
    input: ConnInput,
    { host, path }: HttpTarget,
    size: number,
    tools: TripTools,
  ) {
    this.#conn = conn;
    this.#input = input;
    this.#tools = tools;
    const head = new TextEncoder().encode(
      `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nAccept: application/octet-stream\r\n` +
        `Content-Type: application/octet-stream\r\nContent-Length: ${size}\r\n\r\n`,
    );
    this.#headLength = head.length;
    this.#request = new Uint8Array(
      head.length + (size <= HttpRoundTrip.COALESCE_BYTES ? size : 0),
    );
    this.#request.set(head);
  }

  /**
   * Posts `message` and reads the echoed body into `echo`; resolves with the
   * body's length (of a longer one, what fits is in `echo`). The response is
   * read while the body is written (an echo server answers as it reads: a
   * large body would deadlock otherwise), and the first read is asked for as
   * the write goes out, as TCP's round trip does (`channels.ts`).
   */
  async roundTrip(message: Uint8Array, echo: Uint8Array): Promise<number> {
    const request = this.#request;
    const coalesced = request.length > this.#headLength || message.length === 0;
    if (coalesced) request.set(message, this.#headLength);
    // One write's promise rather than an async writer's: it is most requests.
    const writing = coalesced ? this.#conn.write(request) : this.#writeAll(request, message);
    const answer = this.#response(echo);
    // Awaited below, after the write: until then it is not unhandled.
    answer.catch(() => {});
    try {
      // The rest of a request the kernel took in part (rare), before any answer can come.
      for (let written = await writing; written < request.length;) {
        written += await this.#conn.write(request.subarray(written));
      }
    } catch {
      // The answer says why (a reset, a close), or came whole as the server closed.
      this.reusable = false;
    }
    try {
      return await answer;
    } catch (error) {
      this.reusable = false;
      throw error;
    }
  }

  /** A large request: its head, then the message, written while the answer is read. */
  async #writeAll(head: Uint8Array, message: Uint8Array): Promise<number> {
    for (const part of [head, message]) {
      for (let written = 0; written < part.length;) {
        written += await this.#conn.write(part.subarray(written));
      }
    }
    return head.length;
  }

  /** Reads one response (after any interim 1xx) and its body into `echo`. */
  async #response(echo: Uint8Array): Promise<number> {
    const expected = echo.length;
    const input = this.#input;
    let head;
    do {
      head = input.parseHead(input.takeHead() ?? await input.head(expected), HttpRoundTrip.#FIELDS);
    } while (head.status < 200 && head.status !== 101);
    const { status, reason, values: [connection = "", coding, length] } = head;
    const ok = status >= 200 && status < 300;
    const into = ok ? echo : null;
    const closing = connection.toLowerCase();
    this.reusable = status !== 101 &&
      (head.version === 0x31 ? !closing.includes("close") : closing.includes("keep-alive"));
    let received = 0;
    if (status === 101 || status === 204 || status === 304) {
      // No body.
    } else if (coding !== undefined) {
      if (!coding.toLowerCase().endsWith("chunked")) {
        throw this.#tools.fail(
          "HttpResponseError",
          `the server framed a response with Transfer-Encoding: ${coding}, not chunked`,
        );
      }
      received = await this.#chunked(into, expected);
    } else if (length !== undefined) {
      if (!/^\d{1,15}$/.test(length)) {
        throw this.#tools.fail(
          "HttpResponseError",
          `the server sent an invalid Content-Length: ${length}`,
        );
      }
      received = Number(length);
      // Of a body longer than the message, what fits is read for the check to show.
      const wanted = ok ? Math.min(received, expected) : received;
      const held = input.take(into, 0, wanted);
      if (held < wanted) await input.readInto(into, held, wanted - held, expected);
    } else {
      this.reusable = false; // the body ends with the connection
      received = await this.#input.readToEnd(into, 0);
    }
    if (!ok) {
      throw this.#tools.fail(
        "HttpStatusError",
        `the server answered ${status}${reason === "" ? "" : ` (${reason})`}`,
        { status, keepAlive: this.reusable },
      );
    }
    return received;
  }

  /** Reads a chunked body into `into` (or drops it), trailers too; returns its length. */
  async #chunked(into: Uint8Array | null, expected: number): Promise<number> {
    let total = 0;
    for (;;) {
      const line = await this.#input.line(total, expected);
      const size = line.split(";")[0].trim();
      if (!/^[0-9a-fA-F]{1,12}$/.test(size)) {
        throw this.#tools.fail(
          "HttpResponseError",
          `the server sent an invalid chunk size line: ${JSON.stringify(line.slice(0, 40))}`,
        );
      }
      const length = parseInt(size, 16);
      if (length === 0) break;
      if (into !== null && total + length > expected) {
        // Longer than the message: what fits is kept for the check, and the load ends there.
        await this.#input.readInto(into, total, expected - total, expected);
        return total + length;
      }
      await this.#input.readInto(into, total, length, expected);
      total += length;
      if (await this.#input.line(total, expected) !== "") {
        throw this.#tools.fail("HttpResponseError", "the server sent a chunk longer than its size");
      }
    }
    while (await this.#input.line(total, expected) !== "") {
      // A trailer field: nothing in it is kept.
    }
    return total;
  }
}
