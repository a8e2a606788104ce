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
  /** How far {@linkcode takeHead} looked in vain: a head cut into many reads is scanned once. */
  #scanned = 0;

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
      this.#scanned = Math.max(0, this.#scanned - this.#start);
      this.#start = 0;
    }
    let n;
    try {
      n = await this.#conn.read(this.#buffer.subarray(this.#end));
    } catch (error) {
      throw this.#tools.dropped(error, received, expected);
    }
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
   * The next head if it is all held: the bytes up to and including the
   * first empty line (CRLF CRLF), taken; else undefined. (Not awaiting when
   * the answer came whole in one read, which is most of them, is a good part
   * of what a load's client costs.)
   */
  takeHead(): Uint8Array | undefined {
    // From line feed to line feed (a native search), not byte by byte; never past the held ones.
    const buffer = this.#buffer.subarray(0, this.#end);
    for (let i = Math.max(this.#start, this.#scanned - 3);;) {
      const lf = buffer.indexOf(10, i);
      if (lf < 0) break;
      if (
        lf >= this.#start + 3 && buffer[lf - 1] === 13 && buffer[lf - 2] === 10 &&
        buffer[lf - 3] === 13
      ) {
        const head = buffer.subarray(this.#start, lf + 1);
        this.#start = lf + 1;
        return head;
      }
      i = lf + 1;
    }
    this.#scanned = this.#end;
    return undefined;
  }

  /**
   * The next head (as {@linkcode takeHead}), read for as long as it takes.
   * At the end of the connection first, a `ClosedEarlyError` saying that
   * nothing of `expected` bytes came.
   */
  async head(expected = 0): Promise<Uint8Array> {
    let head;
    while ((head = this.takeHead()) === undefined) {
      if (!await this.more(0, expected)) throw this.#tools.closed(0, expected);
    }
    return head;
  }

  /**
   * The next HTTP response head: its status, its reason phrase (only when
   * the status is not 2xx: nothing is decoded that will not be shown) and
   * the values of the fields `names` (lower case), the first of each, as
   * sent. An answer that is not HTTP/1.x is an `HttpResponseError` showing
   * how it began.
   */
  async responseHead(expected: number, names: readonly string[]): Promise<ResponseHead> {
    return this.parseHead(this.takeHead() ?? await this.head(expected), names);
  }

  /** A head's bytes, from {@linkcode takeHead}, read as {@linkcode responseHead} reads them. */
  parseHead(bytes: Uint8Array, names: readonly string[]): ResponseHead {
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
    const text = (from: number, to: number) =>
      String.fromCharCode.apply(null, bytes.subarray(from, to) as unknown as number[]);
    const values: (string | undefined)[] = names.map(() => undefined);
    // The fields are found on the bytes, names compared case-blind: decoding
    // and lower-casing the whole head was a fifth of a load's client time.
    for (let line = lineEnd(0) + 2; line < bytes.length - 2; line = lineEnd(line) + 2) {
      const colon = bytes.indexOf(0x3a, line);
      if (colon < 0) break;
      for (let k = 0; k < names.length; k++) {
        const name = names[k];
        if (values[k] !== undefined || name.length !== colon - line) continue;
        let i = 0;
        while (i < name.length && (bytes[line + i] | 0x20) === name.charCodeAt(i)) i++;
        if (i === name.length) values[k] = text(colon + 1, lineEnd(colon)).trim();
      }
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
   * Takes up to `length` of the held bytes into `into` from `at` (or drops
   * them when `into` is null), without reading; returns how many.
   */
  take(into: Uint8Array | null, at: number, length: number): number {
    const n = Math.min(this.held, length);
    into?.set(this.#buffer.subarray(this.#start, this.#start + n), at);
    this.#start += n;
    return n;
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
    for (let got = this.take(into, at, length); got < length;) {
      // Nothing held: read straight into place, never past what was asked.
      const n = into === null
        ? (await this.more(at + got, expected) ? this.take(null, 0, length - got) : null)
        : await this.#read(into.subarray(at + got, at + length), at + got, expected);
      if (n === null) throw this.#tools.closed(at + got, expected);
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
