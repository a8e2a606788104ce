/**
 * Buffered reading of one connection for the HTTP and WebSocket round trips
 * of the load engine (`http_trip.ts`, `ws_trip.ts`): a response head up to
 * its empty line (its status and fields), a line, exact byte counts read straight into the caller's buffer,
 * and the rest up to the close. Bytes read past what was asked stay held
 * for the next call.
 *
 * The class refers to nothing outside itself, like the engine, so the
 * worker source (`workers.ts`) can carry its text; the engine gets it passed
 * in with the round trips.
 *
 * @example
 * ```ts
 * import { ConnInput } from "./conn_input.ts";
 * import type { TripTools } from "./share.ts";
 *
 * declare const conn: Deno.Conn;
 * declare const tools: TripTools;
 * const input = new ConnInput(conn, tools);
 * const head = await input.head(); // "HTTP/1.1 200 OK\r\n…\r\n\r\n" as bytes
 * const body = new Uint8Array(5);
 * await input.readInto(body, 0, 5, 5);
 * ```
 *
 * @module
 */

import type { TripTools } from "./share.ts";

/** A response head as {@linkcode ConnInput.responseHead} read it. */
export interface ResponseHead {
  status: number;
  /** The reason phrase, when the status is not 2xx; else empty. */
  reason: string;
  /** The values of the fields asked for, in the same order (undefined: not sent). */
  values: (string | undefined)[];
  /** The minor version: 0x31 for HTTP/1.1, 0x30 for 1.0. */
  version: number;
}

/** Held bytes of a connection, read in pieces as the round trips ask. */
export class ConnInput {
  /** The largest head (status line and headers) it reads: as `net/http/client.ts`'s. */
  static readonly MAX_HEAD_BYTES = 64 * 1024;
  /** "HTTP/1.", how a response starts. */
  static readonly #VERSION = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e];

  readonly #conn: Deno.Conn;
  readonly #tools: TripTools;
  // 4 KiB holds a whole small answer; a longer head grows it, up to the bound.
  #buffer = new Uint8Array(4096);
  #start = 0;
  #end = 0;

  /** Reads `conn`; failures are made by `tools`. */
  constructor(conn: Deno.Conn, tools: TripTools) {
    this.#conn = conn;
    this.#tools = tools;
  }

  /** How many bytes are held, read but not yet taken. */
  get held(): number {
    return this.#end - this.#start;
  }

  /**
   * Reads more into the held bytes (making room first, growing the buffer to
   * the head bound when full); false at the end of the connection. A reset
   * fails as the server's doing, after `received` of `expected` bytes.
   */
  async more(received = 0, expected = 0): Promise<boolean> {
    if (this.#end === this.#buffer.length) {
      if (this.#start > 0) {
        this.#buffer.copyWithin(0, this.#start, this.#end);
      } else if (this.#buffer.length < ConnInput.MAX_HEAD_BYTES) {
        const grown = new Uint8Array(ConnInput.MAX_HEAD_BYTES);
        grown.set(this.#buffer);
        this.#buffer = grown;
      } else {
        throw this.#tools.fail(
          "HttpResponseError",
          `the server sent a line or head over ${ConnInput.MAX_HEAD_BYTES} bytes`,
        );
      }
      this.#end -= this.#start;
      this.#start = 0;
    }
    const n = await this.#read(this.#buffer.subarray(this.#end), received, expected);
    if (n === null) return false;
    this.#end += n;
    return true;
  }

  async #read(into: Uint8Array, received: number, expected: number): Promise<number | null> {
    try {
      return await this.#conn.read(into);
    } catch (error) {
      throw this.#tools.dropped(error, received, expected);
    }
  }

  /**
   * The next head: the bytes up to and including the first empty line
   * (CRLF CRLF), taken. At the end of the connection first, a
   * `ClosedEarlyError` saying that nothing of `expected` bytes came.
   */
  async head(expected = 0): Promise<Uint8Array> {
    for (let scanned = 0;;) {
      const buffer = this.#buffer;
      for (let i = this.#start + Math.max(0, scanned - 3); i + 3 < this.#end; i++) {
        if (
          buffer[i + 3] === 10 && buffer[i + 2] === 13 && buffer[i + 1] === 10 && buffer[i] === 13
        ) {
          const head = buffer.subarray(this.#start, i + 4);
          this.#start = i + 4;
          return head;
        }
      }
      scanned = this.held;
      if (!await this.more(0, expected)) throw this.#tools.closed(0, expected);
    }
  }

  /**
   * The next HTTP response head: its status, its reason phrase (only when
   * the status is not 2xx: nothing is decoded that will not be shown) and
   * the values of the fields `names` (lower case), the first of each, as
   * sent. An answer that is not HTTP/1.x is an `HttpResponseError` showing
   * how it began.
   */
  async responseHead(expected: number, names: readonly string[]): Promise<ResponseHead> {
    const bytes = await this.head(expected);
    // "HTTP/1.x NNN", checked on the bytes.
    const digit = (i: number) => bytes[i] >= 0x30 && bytes[i] <= 0x39;
    const http = ConnInput.#VERSION.every((byte, i) => bytes[i] === byte);
    if (!http || !digit(7) || bytes[8] !== 0x20 || !digit(9) || !digit(10) || !digit(11)) {
      throw this.#tools.fail(
        "HttpResponseError",
        `the server's answer is not an HTTP/1.x response: received ${this.quote(bytes)}`,
      );
    }
    const status = (bytes[9] - 0x30) * 100 + (bytes[10] - 0x30) * 10 + bytes[11] - 0x30;
    const lineEnd = (from: number) => bytes.indexOf(13, from);
    const text = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));
    const values: (string | undefined)[] = names.map(() => undefined);
    // The fields are found on the bytes, names compared case-blind: decoding
    // and lower-casing the whole head was a fifth of a load's client time.
    for (let line = lineEnd(0) + 2; line < bytes.length - 2; line = lineEnd(line) + 2) {
      const colon = bytes.indexOf(0x3a, line);
      if (colon < 0) break;
      names.forEach((name, k) => {
        if (values[k] !== undefined || name.length !== colon - line) return;
        for (let i = 0; i < name.length; i++) {
          if ((bytes[line + i] | 0x20) !== name.charCodeAt(i)) return;
        }
        values[k] = text(colon + 1, lineEnd(colon)).trim();
      });
    }
    const ok = status >= 200 && status < 300;
    return { status, reason: ok ? "" : text(13, lineEnd(0)).trim(), values, version: bytes[7] };
  }

  /** The next line without its CRLF (or LF), as Latin-1 text, taken. */
  async line(received: number, expected: number): Promise<string> {
    for (let scanned = 0;;) {
      const lf = this.#buffer.subarray(this.#start + scanned, this.#end).indexOf(10);
      if (lf >= 0) {
        const end = this.#start + scanned + lf;
        const line = String.fromCharCode(...this.#buffer.subarray(this.#start, end));
        this.#start = end + 1;
        return line.endsWith("\r") ? line.slice(0, -1) : line;
      }
      scanned = this.held;
      if (!await this.more(received, expected)) throw this.#tools.closed(received, expected);
    }
  }

  /**
   * The next `length` bytes, taken: a view of the held bytes, valid until the
   * next call (for a frame's header or a control frame's payload, ≤ 125 B).
   */
  async bytes(length: number, received: number, expected: number): Promise<Uint8Array> {
    while (this.held < length) {
      if (!await this.more(received, expected)) throw this.#tools.closed(received, expected);
    }
    this.#start += length;
    return this.#buffer.subarray(this.#start - length, this.#start);
  }

  /**
   * Reads exactly `length` bytes into `into` from `at` (or drops them when
   * `into` is null): the held ones copied, the rest read straight into it.
   * At the end of the connection first, a `ClosedEarlyError` of how many of
   * `expected` bytes came.
   */
  async readInto(
    into: Uint8Array | null,
    at: number,
    length: number,
    expected: number,
  ): Promise<void> {
    for (let got = 0; got < length;) {
      if (this.held === 0) {
        // Nothing held: read straight into place, never past what was asked.
        const n = into === null
          ? (await this.more(at + got, expected) ? this.held : null)
          : await this.#read(into.subarray(at + got, at + length), at + got, expected);
        if (n === null) throw this.#tools.closed(at + got, expected);
        if (into !== null) {
          got += n;
          continue;
        }
      }
      const n = Math.min(this.held, length - got);
      into?.set(this.#buffer.subarray(this.#start, this.#start + n), at + got);
      this.#start += n;
      got += n;
    }
  }

  /**
   * Reads to the end of the connection into `into` from `at`, keeping what
   * fits; returns how many bytes came in all (more than fit is a mismatch the
   * caller reports).
   */
  async readToEnd(into: Uint8Array | null, at: number): Promise<number> {
    let total = at;
    do {
      const n = this.held;
      if (into !== null && total < into.length) {
        into.set(
          this.#buffer.subarray(this.#start, this.#start + Math.min(n, into.length - total)),
          total,
        );
      }
      total += n;
      this.#start = this.#end;
    } while (await this.more(total, total));
    return total;
  }

  /** A quoted, safe view of the first bytes of `bytes`, for an error message. */
  quote(bytes: Uint8Array): string {
    const shown = Array.from(
      bytes.subarray(0, 48),
      (byte) =>
        byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c
          ? String.fromCharCode(byte)
          : byte === 13
          ? "\\r"
          : byte === 10
          ? "\\n"
          : `\\x${byte.toString(16).padStart(2, "0")}`,
    ).join("");
    return `"${shown}${bytes.length > 48 ? "…" : ""}"`;
  }
}
