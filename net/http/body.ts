/**
 * Request bodies: a buffered reader over a connection (the head parser and
 * the body readers share its bytes, so a pipelined request that arrived with
 * the last one's body is kept), the chunked transfer coding as a pure state
 * machine, and {@linkcode readBody}, which hands a body to a callback chunk
 * by chunk as it arrives: never held whole, whatever its size.
 *
 * @example
 * ```ts
 * import { ConnReader, readBody } from "./body.ts";
 *
 * const conn = await Deno.connect({ port: 4321 });
 * const reader = new ConnReader(conn, { bytes: 0 });
 * const bytes = await readBody(reader, { kind: "length", length: 5 }, (chunk) => {
 *   console.log(chunk.length, "bytes of body");
 * });
 * conn.close();
 * ```
 *
 * @module
 */

import { HttpRequestError, quote, type RequestHead, tokensOf } from "./request.ts";

const LF = 10;
const CR = 13;

/** A connection's reader's first buffer: one usual request head fits (curl's is 80 B, a browser's 1-2 KiB). */
export const INITIAL_READ_BYTES = 2048;
/** The largest read buffer (a head may take 72 KiB; bodies stream through it). */
export const MAX_READ_BYTES = 256 * 1024;

/**
 * The bytes read from a connection and not yet used. Bytes given at the
 * start (`pending`, what a PROXY header step read past its header) come first.
 */
export class ConnReader {
  #buffer: Uint8Array;
  #start = 0;
  #end = 0;
  #grow = false;
  #reading: Promise<boolean> | undefined;

  /** Reads `conn`; every byte read is added to `progress.bytes` (the idle watch reads it). */
  constructor(
    readonly conn: Pick<Deno.Conn, "read">,
    readonly progress: { bytes: number },
    pending?: Uint8Array,
  ) {
    this.#buffer = new Uint8Array(Math.max(INITIAL_READ_BYTES, pending?.length ?? 0));
    if (pending) {
      this.#buffer.set(pending);
      this.#end = pending.length;
    }
  }

  /** The bytes held: a view, valid until the next {@linkcode ConnReader.fill}. */
  get bytes(): Uint8Array {
    return this.#buffer.subarray(this.#start, this.#end);
  }

  /** Marks the first `n` held bytes used. */
  consume(n: number): void {
    this.#start += n;
    // Back to the front when all is used, but not under a read that is filling past the end.
    if (this.#start === this.#end && this.#reading === undefined) this.#start = this.#end = 0;
  }

  /**
   * Reads once more after the held bytes, making room first (moving them to
   * the front, or a larger buffer). Resolves `false` when the peer has
   * finished sending. A call while a read is under way joins it (a read
   * started to watch the connection during a delay is not doubled).
   */
  fill(): Promise<boolean> {
    return this.#reading ??= this.#read();
  }

  async #read(): Promise<boolean> {
    const held = this.#end - this.#start;
    if (this.#end === this.#buffer.length || this.#grow) {
      const size = this.#grow || held > this.#buffer.length / 2
        ? Math.min(this.#buffer.length * 4, Math.max(MAX_READ_BYTES, held * 2))
        : this.#buffer.length;
      const target = size === this.#buffer.length ? this.#buffer : new Uint8Array(size);
      target.set(this.#buffer.subarray(this.#start, this.#end));
      this.#buffer = target;
      this.#start = 0;
      this.#end = held;
      this.#grow = false;
    }
    const free = this.#buffer.length - this.#end;
    let n: number | null;
    try {
      n = await this.conn.read(this.#buffer.subarray(this.#end));
    } finally {
      this.#reading = undefined;
    }
    if (n === null) return false;
    this.#end += n;
    this.progress.bytes += n;
    // A read that fills all the room is a stream in full flow: a larger buffer reads it in fewer calls.
    this.#grow = n === free && this.#buffer.length < MAX_READ_BYTES;
    return true;
  }
}

/**
 * Waits `ms` (a shaped delay) while watching the connection: one read goes
 * on meanwhile, so a connection closed under the wait (the client's reset,
 * the server's shutdown or idle timeout) ends it at once with that read's
 * error instead of holding the connection to the end of the delay. What the
 * read brings (the next pipelined request, or the client's half-close) is
 * kept for later: a half-closed client still gets its reply.
 *
 * @example
 * ```ts
 * import { ConnReader, waitWatching } from "./body.ts";
 *
 * const conn = await Deno.connect({ port: 4321 });
 * await waitWatching(new ConnReader(conn, { bytes: 0 }), 250);
 * conn.close();
 * ```
 */
export async function waitWatching(reader: ConnReader, ms: number): Promise<void> {
  if (ms <= 0) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const elapsed = new Promise<"elapsed">((resolve) => timer = setTimeout(resolve, ms, "elapsed"));
  try {
    const first = await Promise.race([elapsed, reader.fill().then(() => "read" as const)]);
    if (first === "read") await elapsed;
  } finally {
    clearTimeout(timer);
  }
}

/** The limits of a chunked body's framing (its data is bounded by the caller). */
export interface ChunkedLimits {
  /** The longest chunk-size line, extensions included. @default {4096} */
  maxLineBytes: number;
  /** The most bytes of trailer lines (else 431). @default {65536} */
  maxTrailerBytes: number;
}

/** What one {@linkcode ChunkedDecoder.decode} call found. */
export interface ChunkedStep {
  /** How many input bytes it used (the data's among them). */
  readonly consumed: number;
  /** Body data found: a view of the input. */
  readonly data?: Uint8Array;
  /** Whether the body (last chunk and trailers) is over. */
  readonly done: boolean;
}

/**
 * The chunked transfer coding (RFC 9112 §7.1) decoded incrementally: feed it
 * the unused input, it says how much it used and what body data that held.
 * Chunk extensions and trailers are read and dropped.
 *
 * @example
 * ```ts
 * import { ChunkedDecoder } from "./body.ts";
 *
 * const decoder = new ChunkedDecoder();
 * const input = new TextEncoder().encode("5\r\nhello\r\n0\r\n\r\n");
 * decoder.decode(input); // { consumed: 8, data: "hello" (bytes), done: false }
 * decoder.decode(input.subarray(8)); // { consumed: 7, done: true }
 * ```
 */
export class ChunkedDecoder {
  #state: "size" | "data" | "data-end" | "trailer" | "done" = "size";
  #remaining = 0;
  #trailerBytes = 0;

  /** Creates a decoder at the start of a body. */
  constructor(
    readonly limits: Readonly<ChunkedLimits> = { maxLineBytes: 4096, maxTrailerBytes: 65536 },
  ) {}

  /**
   * Decodes from the start of `input` until it finds data (returned at once),
   * the end of the body, or the end of what is complete. Throws
   * {@linkcode HttpRequestError} for bad framing.
   */
  decode(input: Uint8Array): ChunkedStep {
    let at = 0;
    for (;;) {
      if (this.#state === "done") return { consumed: at, done: true };
      if (this.#state === "data") {
        if (at === input.length) return { consumed: at, done: false };
        const n = Math.min(this.#remaining, input.length - at);
        this.#remaining -= n;
        if (this.#remaining === 0) this.#state = "data-end";
        return { consumed: at + n, data: input.subarray(at, at + n), done: false };
      }
      if (this.#state === "data-end") {
        const crlf = input[at] === CR ? 2 : 1;
        if (at + crlf > input.length) return { consumed: at, done: false };
        if (input[at + crlf - 1] !== LF) throw bad("chunk data not followed by CRLF");
        at += crlf;
        this.#state = "size";
        continue;
      }
      const lf = input.indexOf(LF, at);
      const limit = this.#state === "size" ? this.limits.maxLineBytes : this.#trailerRoom();
      if (lf === -1 ? input.length - at > limit : lf - at > limit) {
        if (this.#state === "size") throw bad("chunk size line too long");
        throw new HttpRequestError(
          431,
          `trailers longer than ${this.limits.maxTrailerBytes} bytes`,
        );
      }
      if (lf === -1) return { consumed: at, done: false };
      const line = lineText(input.subarray(at, lf));
      if (this.#state === "trailer") this.#trailerBytes += lf + 1 - at;
      at = lf + 1;
      if (this.#state === "size") {
        const size = chunkSize(line);
        this.#state = size === 0 ? "trailer" : "data";
        this.#remaining = size;
      } else if (line === "") {
        this.#state = "done";
      } else if (!line.includes(":")) {
        throw bad("trailer line without a colon");
      }
    }
  }

  #trailerRoom(): number {
    return this.limits.maxTrailerBytes - this.#trailerBytes;
  }
}

/**
 * Reads the body `framing` describes from `reader`, handing each piece to
 * `onChunk` as it arrives (a view of the reader's buffer, valid until
 * `onChunk`'s promise settles: copy it to keep it). Resolves with the body's
 * length. Throws {@linkcode HttpRequestError}: 413 past `maxBytes`, 400 for
 * bad chunked framing or a body the client ended early.
 *
 * @example
 * ```ts
 * import { ConnReader, readBody } from "./body.ts";
 *
 * const conn = await Deno.connect({ port: 4321 });
 * const reader = new ConnReader(conn, { bytes: 0 });
 * await readBody(reader, { kind: "chunked" }, () => {}, 1 << 20);
 * conn.close();
 * ```
 */
export async function readBody(
  reader: ConnReader,
  framing: BodyFraming,
  onChunk: (chunk: Uint8Array) => void | Promise<void>,
  maxBytes = Infinity,
): Promise<number> {
  if (framing.kind === "none") return 0;
  let total = 0;
  const take = async (chunk: Uint8Array) => {
    total += chunk.length;
    if (total > maxBytes) {
      throw new HttpRequestError(413, `body larger than ${maxBytes} bytes (--max-body)`);
    }
    await onChunk(chunk);
  };
  if (framing.kind === "length") {
    if (framing.length > maxBytes) {
      throw new HttpRequestError(
        413,
        `body of ${framing.length} bytes is over --max-body ${maxBytes}`,
      );
    }
    while (total < framing.length) {
      const held = reader.bytes;
      if (held.length === 0) {
        if (!await reader.fill()) throw endedEarly(total, `of ${framing.length} bytes`);
        continue;
      }
      const chunk = held.subarray(0, Math.min(held.length, framing.length - total));
      reader.consume(chunk.length);
      await take(chunk);
    }
    return total;
  }
  const decoder = new ChunkedDecoder();
  for (;;) {
    const step = decoder.decode(reader.bytes);
    reader.consume(step.consumed);
    if (step.data) await take(step.data);
    if (step.done) return total;
    if (step.consumed === 0 && !await reader.fill()) throw endedEarly(total, "of a chunked body");
  }
}

function endedEarly(got: number, of: string): HttpRequestError {
  return bad(`the client finished sending after ${got} bytes ${of}`);
}

/** A chunk-size line's size: hex digits, then optional `;extensions`. */
function chunkSize(line: string): number {
  const match = /^([0-9A-Fa-f]+)[ \t]*(?:;.*)?$/.exec(line);
  if (!match) throw bad(`chunk size line ${JSON.stringify(line.slice(0, 40))} is not hex`);
  const digits = match[1].replace(/^0+(?=.)/, "");
  // 13 hex digits pass 2^52: no body that large could be meant.
  if (digits.length > 13) throw bad("chunk size too large");
  return parseInt(digits, 16);
}

/** An ASCII line without its CR; another CR is refused. */
function lineText(bytes: Uint8Array): string {
  let text = "";
  const end = bytes[bytes.length - 1] === CR ? bytes.length - 1 : bytes.length;
  for (let i = 0; i < end; i++) {
    if (bytes[i] === CR) throw bad("a bare CR in the chunked framing");
    text += String.fromCharCode(bytes[i]);
  }
  return text;
}

function bad(reason: string): HttpRequestError {
  return new HttpRequestError(400, reason);
}

/** How a request's body is delimited (RFC 9112 §6.3). */
export type BodyFraming =
  | { readonly kind: "none" }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "chunked" };

/**
 * How the body after `head` is framed. Refuses what could be read two ways
 * (request smuggling): Transfer-Encoding with Content-Length, differing
 * lengths, a length that is not digits; a transfer coding other than plain
 * `chunked` is a 501 (nothing here decodes gzip).
 *
 * @example
 * ```ts
 * import { bodyFraming } from "./body.ts";
 * import { parseRequestHead } from "./request.ts";
 *
 * const head = parseRequestHead(new TextEncoder().encode("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"))!;
 * bodyFraming(head); // { kind: "chunked" }
 * ```
 */
export function bodyFraming(head: RequestHead): BodyFraming {
  if (!head.names.includes("transfer-encoding") && !head.names.includes("content-length")) {
    return NO_BODY;
  }
  const codings = tokensOf(head, "transfer-encoding");
  const lengths = head.headers.filter((_, i) => head.names[i] === "content-length")
    .flatMap(([, value]) => value.split(",").map((part) => part.trim()));
  if (codings.length > 0 || head.names.includes("transfer-encoding")) {
    if (lengths.length > 0) {
      throw new HttpRequestError(400, "both Transfer-Encoding and Content-Length");
    }
    if (codings.length !== 1 || codings[0] !== "chunked") {
      throw new HttpRequestError(
        501,
        `Transfer-Encoding ${codings.join(", ") || "(empty)"} is not supported, only chunked`,
      );
    }
    return { kind: "chunked" };
  }
  if (lengths.length === 0) return NO_BODY;
  if (lengths.some((value) => value !== lengths[0])) {
    throw new HttpRequestError(400, "differing Content-Length values");
  }
  if (!/^\d{1,15}$/.test(lengths[0])) {
    throw new HttpRequestError(400, `Content-Length ${quote(lengths[0])} is not a length`);
  }
  const length = Number(lengths[0]);
  return length === 0 ? NO_BODY : { kind: "length", length };
}

const NO_BODY: BodyFraming = Object.freeze({ kind: "none" });
