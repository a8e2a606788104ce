/**
 * Reading an HTTP/1.x response off a connection, for `client.ts`: the head
 * (status line and headers, bounded) and the body as its framing says
 * (RFC 9112 §6.3: none, Content-Length, chunked, or up to the close). Bytes
 * read past a response stay held for the next one. Every malformed or
 * oversized reply is an {@linkcode HttpResponseError}, every early end an
 * {@linkcode HttpClosedError}; nothing else is thrown for what a peer sends.
 *
 * @example
 * ```ts
 * import { dialTcp } from "../dial.ts";
 * import { writeAll } from "../io.ts";
 * import { ResponseReader } from "./client_response.ts";
 *
 * const conn = await dialTcp({ hostname: "127.0.0.1", port: 4321 }, AbortSignal.timeout(5000));
 * await writeAll(conn, new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
 * const reader = new ResponseReader(conn);
 * const head = await reader.head(65536, "GET");
 * console.log(head.status, await reader.body(head, () => {}).bytes());
 * conn.close();
 * ```
 *
 * @module
 */

import { describeRemote } from "../dial.ts";
import { ClosedEarlyError, NotTlsError, SockechoError } from "../errors.ts";
import { formatCount, plural, quoteBytes } from "../format.ts";
import { concatBytes } from "../io.ts";
import type { StreamConn } from "../io.ts";

/** The reply is not HTTP/1.x, is malformed (a header, the framing), or is over a bound. */
export class HttpResponseError extends SockechoError {}

/**
 * The connection ended before the whole response came: `received` of
 * `expected` body bytes had come (`expected` is `received` when the body's
 * length was not known, and both are 0 when the head was cut).
 */
export class HttpClosedError extends ClosedEarlyError {}

/**
 * The connection ended before any byte of a response came: on a kept-alive
 * connection, most often the server's idle timeout closing it between
 * requests, so another connection may well be answered.
 */
export class HttpNoResponseError extends HttpClosedError {}

/** How the body is delimited. */
type Framing =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

/** A response's head, as {@linkcode ResponseReader.head} parsed it. */
export interface ResponseHead {
  readonly version: string;
  readonly status: number;
  readonly reason: string;
  readonly headers: [string, string][];
  /** Whether the connection may carry another request after this response. */
  readonly keepAlive: boolean;
  /** A 1xx other than 101, to be followed by the real response. */
  readonly interim: boolean;
  readonly framing: Framing;
}

/** A response body's reader (the shape `client.ts` exports as `HttpBody`). */
export interface BodyReader {
  read(into: Uint8Array): Promise<number | null>;
  bytes(maxBytes?: number): Promise<Uint8Array>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS_LINE = /^HTTP\/(\d)\.(\d) ([1-9]\d\d)(?: (.*))?$/s;
/** A chunk-size line's bound: the size and any extensions. */
const MAX_CHUNK_LINE = 4096;
/** The trailer section's bound, after the last chunk. */
const MAX_TRAILER_BYTES = 65536;

/** The responses of one connection, in order, with the bytes read past the last one. */
export class ResponseReader {
  readonly #conn: StreamConn;
  readonly #where: string;
  #held: Uint8Array = new Uint8Array(0);
  readonly #scratch = new Uint8Array(16 * 1024);

  /** Reads responses from `conn`. */
  constructor(conn: StreamConn) {
    this.#conn = conn;
    this.#where = describeRemote(conn);
  }

  /** Reads and parses the next head (at most `maxBytes`); `method` decides whether a body follows. */
  async head(maxBytes: number, method: string): Promise<ResponseHead> {
    const where = this.#where;
    if (this.#held.length === 0 && !await this.#fill()) {
      throw new HttpNoResponseError(`${where} closed the connection without a response`, 0, 0);
    }
    if ((this.#held[0] === 0x15 || this.#held[0] === 0x16) && this.#held[1] === 0x03) {
      throw new NotTlsError(`${where} answered with TLS: use https:// (or wss://)`);
    }
    let left = maxBytes;
    const next = async () => {
      const line = await this.line(
        left,
        () =>
          new HttpResponseError(
            `the response head from ${where} is over ${plural(maxBytes, "byte")}`,
          ),
        (got) =>
          new HttpClosedError(
            `${where} closed the connection in the middle of the response head (after ${
              plural(maxBytes - left + got, "byte")
            })`,
            0,
            0,
          ),
      );
      left -= line.length + 2;
      return line;
    };
    const first = await next();
    const match = STATUS_LINE.exec(latin1(first));
    if (!match || !visible(match[4] ?? "")) {
      throw new HttpResponseError(`${where} did not answer with HTTP/1.x: ${quoteBytes(first)}`);
    }
    const [, major, minor, code, reason = ""] = match;
    if (major !== "1") {
      throw new HttpResponseError(
        `${where} answered HTTP/${major}.${minor}: only HTTP/1.x is read`,
      );
    }
    const headers: [string, string][] = [];
    for (let line; (line = await next()).length > 0;) headers.push(this.#header(line));
    const version = minor === "0" ? "HTTP/1.0" : "HTTP/1.1";
    const status = Number(code);
    const framing = this.#framing(headers, status, method);
    const tokens = values(headers, "connection").map((token) => token.toLowerCase());
    const persistent = version === "HTTP/1.1"
      ? !tokens.includes("close")
      : tokens.includes("keep-alive");
    // Both lengths at once is how requests are smuggled: read it, then never reuse the connection.
    const ambiguous = framing.kind === "chunked" && values(headers, "content-length").length > 0;
    return {
      version,
      status,
      reason,
      headers,
      keepAlive: persistent && framing.kind !== "close" && status !== 101 && !ambiguous,
      interim: status < 200 && status !== 101,
      framing,
    };
  }

  /** The body of `head`; `onEnd` is called once it has been read to its end. */
  body(head: ResponseHead, onEnd: () => void): BodyReader {
    return new ResponseBody(this, head.framing, onEnd);
  }

  /** Reads what is held, else from the connection: a count, or null at its end. */
  async read(into: Uint8Array): Promise<number | null> {
    if (this.#held.length === 0) return await this.#conn.read(into);
    const n = Math.min(into.length, this.#held.length);
    into.set(this.#held.subarray(0, n));
    this.#held = this.#held.subarray(n);
    return n;
  }

  /** Names the peer in errors. */
  get where(): string {
    return this.#where;
  }

  /**
   * The next line without its CRLF (or LF), line and ending at most `max`
   * bytes: `tooLong()` beyond, `cut(bytes)` at the connection's end.
   */
  async line(
    max: number,
    tooLong: () => Error,
    cut: (got: number) => Error,
  ): Promise<Uint8Array> {
    for (let scanned = 0;;) {
      const lf = this.#held.indexOf(0x0a, scanned);
      if (lf >= max || (lf < 0 && this.#held.length >= max)) throw tooLong();
      if (lf >= 0) {
        const end = lf > 0 && this.#held[lf - 1] === 0x0d ? lf - 1 : lf;
        const line = this.#held.slice(0, end);
        this.#held = this.#held.subarray(lf + 1);
        if (line.includes(0x0d)) {
          throw new HttpResponseError(`${this.#where} sent a bare CR in ${quoteBytes(line)}`);
        }
        return line;
      }
      scanned = this.#held.length;
      if (!await this.#fill()) throw cut(this.#held.length);
    }
  }

  /** Reads more from the connection into what is held; false at its end. */
  async #fill(): Promise<boolean> {
    const n = await this.#conn.read(this.#scratch);
    if (n === null) return false;
    this.#held = concatBytes([this.#held, this.#scratch.subarray(0, n)]);
    return true;
  }

  #header(line: Uint8Array): [string, string] {
    const text = latin1(line);
    const colon = text.indexOf(":");
    const name = text.slice(0, Math.max(colon, 0));
    if (text[0] === " " || text[0] === "\t") {
      throw new HttpResponseError(
        `${this.#where} sent a folded header line (obsolete): ${quoteBytes(line)}`,
      );
    }
    if (!TOKEN.test(name) || text.includes("\0")) {
      throw new HttpResponseError(
        `${this.#where} sent a malformed header line: ${quoteBytes(line)}`,
      );
    }
    return [name, text.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "")];
  }

  #framing(headers: [string, string][], status: number, method: string): Framing {
    if (method === "HEAD" || status < 200 || status === 204 || status === 304) {
      return { kind: "none" };
    }
    const codings = values(headers, "transfer-encoding");
    if (codings.length > 0) {
      return codings.at(-1)!.toLowerCase() === "chunked" ? { kind: "chunked" } : { kind: "close" };
    }
    const lengths = values(headers, "content-length");
    if (lengths.length === 0) return { kind: "close" };
    if (!lengths.every((length) => /^\d{1,15}$/.test(length) && length === lengths[0])) {
      const shown = JSON.stringify(lengths.join(", "));
      throw new HttpResponseError(`${this.#where} sent an invalid Content-Length: ${shown}`);
    }
    return { kind: "length", length: Number(lengths[0]) };
  }
}

/** A body as its framing delimits it. */
class ResponseBody implements BodyReader {
  readonly #reader: ResponseReader;
  readonly #framing: Framing;
  readonly #onEnd: () => void;
  #ended = false;
  #received = 0;
  /** Bytes left in the current chunk (chunked) or the body (Content-Length). */
  #left: number;
  /** Whether a chunk's data has been read and its CRLF has not. */
  #afterChunk = false;

  constructor(reader: ResponseReader, framing: Framing, onEnd: () => void) {
    this.#reader = reader;
    this.#framing = framing;
    this.#onEnd = onEnd;
    this.#left = framing.kind === "length" ? framing.length : 0;
    if (framing.kind === "none" || (framing.kind === "length" && this.#left === 0)) this.#end();
  }

  async read(into: Uint8Array): Promise<number | null> {
    if (this.#ended) return null;
    if (this.#framing.kind === "chunked" && this.#left === 0 && !await this.#nextChunk()) {
      return null;
    }
    const limit = this.#framing.kind === "close" ? into.length : Math.min(into.length, this.#left);
    const n = await this.#reader.read(into.subarray(0, limit));
    if (n === null) {
      if (this.#framing.kind === "close") {
        this.#end();
        return null;
      }
      throw this.#cut();
    }
    this.#received += n;
    this.#left -= n;
    if (this.#framing.kind === "length" && this.#left === 0) this.#end();
    return n;
  }

  async bytes(maxBytes = 16 * 1024 * 1024): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    const buffer = new Uint8Array(64 * 1024);
    let total = 0;
    for (let n; (n = await this.read(buffer)) !== null;) {
      total += n;
      if (total > maxBytes) {
        throw new HttpResponseError(
          `the response body from ${this.#reader.where} is over ${plural(maxBytes, "byte")}`,
        );
      }
      parts.push(buffer.slice(0, n));
    }
    return concatBytes(parts);
  }

  /** Reads up to the next chunk's data; false (and the trailers read) after the last chunk. */
  async #nextChunk(): Promise<boolean> {
    const where = this.#reader.where;
    const cut = () => this.#cut();
    if (this.#afterChunk) {
      await this.#reader.line(
        2,
        () => new HttpResponseError(`${where} sent chunk data longer than its chunk size`),
        cut,
      );
    }
    const sizeLine = await this.#reader.line(
      MAX_CHUNK_LINE,
      () =>
        new HttpResponseError(
          `${where} sent a chunk size line over ${plural(MAX_CHUNK_LINE, "byte")}`,
        ),
      cut,
    );
    const size = /^([0-9A-Fa-f]{1,16})[ \t]*(?:;.*)?$/.exec(latin1(sizeLine));
    const length = size ? parseInt(size[1], 16) : NaN;
    if (!Number.isSafeInteger(length)) {
      throw new HttpResponseError(`${where} sent a malformed chunk size: ${quoteBytes(sizeLine)}`);
    }
    this.#afterChunk = true;
    this.#left = length;
    if (length > 0) return true;
    let left = MAX_TRAILER_BYTES;
    for (let line; (line = await this.#trailer(left)).length > 0;) left -= line.length + 2;
    this.#end();
    return false;
  }

  #trailer(left: number): Promise<Uint8Array> {
    const where = this.#reader.where;
    return this.#reader.line(
      left,
      () =>
        new HttpResponseError(
          `the trailers from ${where} are over ${plural(MAX_TRAILER_BYTES, "byte")}`,
        ),
      () => this.#cut(),
    );
  }

  #end(): void {
    this.#ended = true;
    this.#onEnd();
  }

  #cut(): HttpClosedError {
    const where = this.#reader.where;
    if (this.#framing.kind === "length") {
      const { length } = this.#framing;
      return new HttpClosedError(
        `${where} closed the connection after ${formatCount(this.#received)} of ${
          plural(length, "byte")
        } of the response body`,
        this.#received,
        length,
      );
    }
    return new HttpClosedError(
      `${where} closed the connection in the middle of the chunked response body (after ${
        plural(this.#received, "byte")
      })`,
      this.#received,
      this.#received,
    );
  }
}

/** Whether a reason phrase is made of tabs, spaces and visible characters only. */
function visible(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) return false;
  }
  return true;
}

/** Every value of header `name`, comma lists split, blanks dropped. */
function values(headers: [string, string][], name: string): string[] {
  return headers.filter(([key]) => key.toLowerCase() === name)
    .flatMap(([, value]) => value.split(",").map((part) => part.trim()).filter(Boolean));
}

/** Bytes as ISO-8859-1 text: one character per byte, as HTTP's field values are. */
function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return text;
}
