/**
 * Writing HTTP/1.1 responses: the status line and header block as one
 * string, reason phrases, the `Date` header (formatted once a second, not
 * per response), chunked framing, and a sink that counts what it writes and
 * can stop after N bytes (the `reset` and `close=after-headers` faults).
 *
 * @example
 * ```ts
 * import { responseHead } from "./response.ts";
 *
 * responseHead("HTTP/1.1", 200, [["Content-Length", "3"]]);
 * // "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nDate: …\r\n\r\n"
 * ```
 *
 * @module
 */

import { SockechoError } from "../errors.ts";
import { writeAll } from "../io.ts";

const REASONS: Readonly<Record<number, string>> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  413: "Content Too Large",
  414: "URI Too Long",
  426: "Upgrade Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** The reason phrase of `status` (empty for a code without one, which HTTP allows). */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? "";
}

/** Whether a response with `status` may carry a body (RFC 9110: not 1xx, 204, 304). */
export function statusHasBody(status: number): boolean {
  return status >= 200 && status !== 204 && status !== 304;
}

let dateSecond = -1;
let dateText = "";

/** The `Date` header's value now, formatted at most once a second. */
export function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/**
 * The status line and header block of a response, blank line included.
 *
 * @example
 * ```ts
 * import { responseHead } from "./response.ts";
 *
 * responseHead("HTTP/1.0", 503, [["Content-Length", "9"], ["Connection", "close"]]);
 * ```
 */
export function responseHead(
  version: string,
  status: number,
  headers: readonly (readonly [string, string])[],
): string {
  let head = `${version} ${status} ${reasonPhrase(status)}\r\n`;
  for (const [name, value] of headers) head += `${name}: ${value}\r\n`;
  return head + `Date: ${httpDate()}\r\n\r\n`;
}

/** One chunk of a chunked body: size line, data, CRLF. */
export function chunkFrame(data: Uint8Array): Uint8Array {
  const size = encoder.encode(`${data.length.toString(16)}\r\n`);
  const frame = new Uint8Array(size.length + data.length + 2);
  frame.set(size);
  frame.set(data, size.length);
  frame.set(CRLF, size.length + data.length);
  return frame;
}

/** The last chunk of a chunked body, with no trailers. */
export const LAST_CHUNK: Uint8Array = new TextEncoder().encode("0\r\n\r\n");

const encoder = new TextEncoder();
const CRLF = encoder.encode("\r\n");

/** `a` then `b`, in one new array. */
export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

// The pool of reply buffers: a usual description (a few hundred bytes) fits one, and a
// connection holds one only while its reply is written, so idle connections cost none.
const POOLED_BYTES = 16 * 1024;
const HEAD_ROOM = 4096;
const MAX_POOLED = 64;
const POOL: Uint8Array[] = [];

/** A sink reached the byte budget its fault set: the connection is to be reset (or closed). */
export class ResponseCutError extends SockechoError {}

/**
 * Writes a response to a connection, counting its bytes; with `cutAfter`,
 * writes only that many bytes in all and then throws
 * {@linkcode ResponseCutError}, so the caller cuts the connection there.
 *
 * @example
 * ```ts
 * import { ResponseSink } from "./response.ts";
 *
 * const conn = await Deno.connect({ port: 8080 });
 * const sink = new ResponseSink(conn, { bytes: 0 }, 10);
 * await sink.write(new TextEncoder().encode("HTTP/1.1 200 OK\r\n")).catch(() => conn.close());
 * ```
 */
export class ResponseSink {
  /** Bytes written so far. */
  bytes = 0;
  #held: Uint8Array | undefined;

  /** Writes to `conn`, adding each write to `progress.bytes` (the idle watch sees a reply go out). */
  constructor(
    readonly conn: Pick<Deno.Conn, "write">,
    readonly progress: { bytes: number },
    readonly cutAfter = Infinity,
  ) {}

  /**
   * Keeps `bytes` (a response head) to go out with the next write, so a
   * head and the first of a streamed body leave in one segment.
   */
  hold(bytes: Uint8Array): void {
    this.#held = bytes;
  }

  /** Writes what {@linkcode ResponseSink.hold} kept, if it is still held. */
  async flush(): Promise<void> {
    if (this.#held) await this.write(new Uint8Array());
  }

  /** Writes all of `bytes`, or up to the cut and then throws {@linkcode ResponseCutError}. */
  async write(data: Uint8Array): Promise<void> {
    const bytes = this.#held ? concat(this.#held, data) : data;
    this.#held = undefined;
    const room = this.cutAfter - this.bytes;
    const part = bytes.length > room ? bytes.subarray(0, room) : bytes;
    if (part.length > 0) await writeAll(this.conn, part);
    this.bytes += part.length;
    this.progress.bytes += part.length;
    if (part !== bytes || this.bytes === this.cutAfter) {
      throw new ResponseCutError(`response cut after ${this.cutAfter} bytes`);
    }
  }

  /** Writes `text` as UTF-8. */
  writeText(text: string): Promise<void> {
    return this.write(encoder.encode(text));
  }

  /**
   * Writes a head and a text body in one write: `headFor` makes the head
   * once the body's UTF-8 length is known (its Content-Length). Both are
   * encoded into a pooled buffer, head just before body, so a usual reply
   * costs no allocation and no copy; a larger one gets arrays of its own.
   * With `bodyToo` false only the head goes (HEAD, after-headers).
   */
  async writeHeadAndText(
    headFor: (bodyBytes: number) => string,
    body: string,
    bodyToo = true,
  ): Promise<void> {
    const buffer = POOL.pop() ?? new Uint8Array(POOLED_BYTES);
    try {
      const encodedBody = encoder.encodeInto(body, buffer.subarray(HEAD_ROOM));
      if (encodedBody.read === body.length) {
        const head = headFor(encodedBody.written);
        const encodedHead = encoder.encodeInto(head, buffer.subarray(0, HEAD_ROOM));
        if (encodedHead.read === head.length) {
          const start = HEAD_ROOM - encodedHead.written;
          buffer.copyWithin(start, 0, encodedHead.written);
          const end = bodyToo ? HEAD_ROOM + encodedBody.written : HEAD_ROOM;
          return await this.write(buffer.subarray(start, end));
        }
      }
    } finally {
      // Written by now (the write resolved or failed), so the buffer is free again.
      if (POOL.length < MAX_POOLED) POOL.push(buffer);
    }
    const bytes = encoder.encode(body);
    const head = encoder.encode(headFor(bytes.length));
    await this.write(bodyToo ? concat(head, bytes) : head);
  }
}
