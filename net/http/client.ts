/**
 * An HTTP/1.1 client over any connection `net/dial.ts` opens (TCP, TLS, a
 * Unix socket): {@linkcode request} writes one request and reads the
 * response's head; the body is read from the returned reader, framed by
 * Content-Length, chunked or the connection's close. When the response
 * allows it, the same connection carries the next request. Not `fetch()`:
 * that hides the connection, the peer's address and whether it was reused,
 * which are what a path checker looks at.
 *
 * @example
 * ```ts
 * import { dialTcp } from "../dial.ts";
 * import { request } from "./client.ts";
 *
 * const conn = await dialTcp({ hostname: "127.0.0.1", port: 4321 }, AbortSignal.timeout(5000));
 * const body = new TextEncoder().encode("hello");
 * const response = await request(conn, { method: "POST", host: "127.0.0.1:4321", body });
 * console.log(response.status, new TextDecoder().decode(await response.body.bytes()));
 * conn.close();
 * ```
 *
 * @module
 */

import { describeRemote } from "../dial.ts";
import { SockechoError } from "../errors.ts";
import { concatBytes, writeAll } from "../io.ts";
import type { StreamConn } from "../io.ts";
import { HttpResponseError, ResponseReader } from "./client_response.ts";

export { HttpClosedError, HttpNoResponseError, HttpResponseError } from "./client_response.ts";

/**
 * The server answered with an error status (400 or above): `reason` is the
 * first line of its body (sockecho's says which parameter and why), or the
 * reason phrase when the body is empty.
 */
export class HttpStatusError extends SockechoError {
  /** Creates the error. */
  constructor(
    message: string,
    readonly status: number,
    readonly reason: string,
    readonly instance?: string,
  ) {
    super(message);
  }
}

/** What {@linkcode request} sends. */
export interface HttpRequest {
  /** The method, a token. @default {"GET"} */
  method?: string;
  /** The `Host` header: the URL's host, with the port when it is not the scheme's. */
  host: string;
  /** The request target: a path and query. @default {"/"} */
  path?: string;
  /**
   * More headers, in order. A `Content-Length` given here with a stream body
   * sends the stream as it is (it must be that long); otherwise the framing
   * headers are added: `Content-Length` for bytes, chunked for a stream.
   * @default {[]}
   */
  headers?: [string, string][];
  /** The body: bytes, a stream (chunked), or none. @default {undefined} */
  body?: Uint8Array | ReadableStream<Uint8Array>;
  /** Most bytes of a response head (status line and headers). @default {65536} */
  maxHeadBytes?: number;
}

/** A response body: read it to its end (`null`) before the next request on the connection. */
export interface HttpBody {
  /** Reads into `into`; resolves with the count, or `null` at the end of the body. */
  read(into: Uint8Array): Promise<number | null>;
  /**
   * The whole body; throws {@linkcode HttpResponseError} beyond `maxBytes`.
   * @default {16777216}
   */
  bytes(maxBytes?: number): Promise<Uint8Array>;
}

/** What {@linkcode request} read: the response head, and its body to read. */
export interface HttpResponse {
  /** `HTTP/1.1` or `HTTP/1.0`. */
  readonly version: string;
  /** The status code, 100 to 999 (interim 1xx responses but 101 are skipped). */
  readonly status: number;
  /** The reason phrase, as sent (may be empty). */
  readonly reason: string;
  /** Every header in arrival order, duplicates kept, names as sent. */
  readonly headers: [string, string][];
  /** The body. */
  readonly body: HttpBody;
  /** Whether the connection can carry another request once the body is read. */
  readonly keepAlive: boolean;
  /** Settles once the whole request is written: with undefined, or the write's error. */
  readonly sent: Promise<Error | undefined>;
}

/** What a connection carries between requests. */
interface ConnState {
  reader: ResponseReader;
  /** Why it cannot carry another request, if it cannot. */
  spent?: string;
  /** The previous request's write. */
  writing: Promise<Error | undefined>;
}

const states = new WeakMap<StreamConn, ConnState>();

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const CRLF = new Uint8Array([0x0d, 0x0a]);
const LAST_CHUNK = latin1Bytes("0\r\n\r\n");
/** Bodies up to this size go out in the head's write: one segment for a small probe. */
const COALESCE_BYTES = 64 * 1024;
/** Interim responses (100 Continue, 103 Early Hints) skipped before it is an error. */
const MAX_INTERIM = 16;

/**
 * Sends `req` on `conn` and resolves once the response's head has come,
 * while the request body is still being written (an echo server answers as
 * it reads: waiting for the write first would deadlock a large body).
 * Throws {@linkcode HttpResponseError} when the reply is not HTTP/1.x or is
 * over a bound, {@linkcode HttpClosedError} when the connection ends first,
 * `NotTlsError` when a TLS server answers; the body's reads throw the same.
 * There is no timer here: close `conn` to give up. Bytes after the response
 * belong to the next request, so read `conn` only through this module.
 *
 * @example
 * ```ts
 * import { dialTcp } from "../dial.ts";
 * import { headerValue, request } from "./client.ts";
 *
 * const conn = await dialTcp({ hostname: "127.0.0.1", port: 4321 }, AbortSignal.timeout(5000));
 * for (let i = 0; i < 2; i++) {
 *   const response = await request(conn, { host: "127.0.0.1:4321", path: "/healthz" });
 *   await response.body.bytes();
 *   console.log(headerValue(response.headers, "x-echo-instance"), response.keepAlive);
 * }
 * conn.close();
 * ```
 */
export async function request(conn: StreamConn, req: HttpRequest): Promise<HttpResponse> {
  const method = req.method ?? "GET";
  const head = encodeHead(method, req);
  const state = states.get(conn) ?? newState(conn);
  if (state.spent) throw new Error(`this connection cannot carry another request: ${state.spent}`);
  const previousWrite = await state.writing;
  if (previousWrite) throw new Error("this connection's previous request failed to write");
  state.spent = "the previous response's body was not read to its end";
  const writing = writeRequest(conn, head, req.body).then(() => undefined, (error: Error) => error);
  state.writing = writing;
  try {
    let response = await state.reader.head(req.maxHeadBytes ?? 65536, method);
    for (let interim = 0; response.interim; interim++) {
      if (interim === MAX_INTERIM) {
        throw new HttpResponseError(
          `${describeRemote(conn)} sent over ${MAX_INTERIM} interim (1xx) responses`,
        );
      }
      response = await state.reader.head(req.maxHeadBytes ?? 65536, method);
    }
    const { version, status, reason, headers, keepAlive } = response;
    const body = state.reader.body(response, () => {
      state.spent = keepAlive ? undefined : closing(version, status);
    });
    return { version, status, reason, headers, body, keepAlive, sent: writing };
  } catch (error) {
    state.spent = "its previous response failed";
    throw error;
  }
}

/**
 * The first value of header `name` (any case), or undefined.
 *
 * @example
 * ```ts
 * import { headerValue } from "./client.ts";
 *
 * headerValue([["X-Echo-Instance", "web-1"]], "x-echo-instance"); // "web-1"
 * ```
 */
export function headerValue(headers: [string, string][], name: string): string | undefined {
  const wanted = name.toLowerCase();
  return headers.find(([key]) => key.toLowerCase() === wanted)?.[1];
}

function newState(conn: StreamConn): ConnState {
  const state = { reader: new ResponseReader(conn), writing: Promise.resolve(undefined) };
  states.set(conn, state);
  return state;
}

function closing(version: string, status: number): string {
  if (status === 101) return "it switched protocols";
  return version === "HTTP/1.0"
    ? "the HTTP/1.0 response did not keep it alive"
    : "the response closed it (Connection: close, or a body ended by the close)";
}

/**
 * The request line and headers, and whether a stream body goes chunked; a
 * bad method, target or header is the caller's bug (a `RangeError`).
 */
function encodeHead(method: string, req: HttpRequest): { head: Uint8Array; chunked: boolean } {
  const { host, path = "/", headers = [], body } = req;
  if (!TOKEN.test(method)) throw new RangeError(`invalid HTTP method ${JSON.stringify(method)}`);
  if (!/^[\x21-\x7e]+$/.test(path)) {
    throw new RangeError(`invalid request target ${JSON.stringify(path)}`);
  }
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${host}`];
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  const given = headers.some(([name]) => name.toLowerCase() === "content-length");
  if (body instanceof Uint8Array && !given) lines.push(`Content-Length: ${body.length}`);
  else if (body instanceof ReadableStream && !given) lines.push("Transfer-Encoding: chunked");
  else if (body === undefined && ["POST", "PUT", "PATCH"].includes(method) && !given) {
    lines.push("Content-Length: 0");
  }
  for (const [name, value] of [["Host", host], ...headers]) {
    if (!TOKEN.test(name) || /[\0\r\n]/.test(value)) {
      throw new RangeError(`invalid HTTP header ${JSON.stringify(`${name}: ${value}`)}`);
    }
  }
  const head = latin1Bytes(`${lines.join("\r\n")}\r\n\r\n`);
  return { head, chunked: body instanceof ReadableStream && !given };
}

async function writeRequest(
  conn: StreamConn,
  { head, chunked }: { head: Uint8Array; chunked: boolean },
  body: HttpRequest["body"],
): Promise<void> {
  if (body === undefined) return await writeAll(conn, head);
  if (body instanceof Uint8Array) {
    if (body.length > COALESCE_BYTES) {
      await writeAll(conn, head);
      return await writeAll(conn, body);
    }
    return await writeAll(conn, concatBytes([head, body]));
  }
  const reader = body.getReader();
  let pending = head;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (value.length === 0) continue;
      const size = latin1Bytes(`${value.length.toString(16)}\r\n`);
      await writeAll(conn, concatBytes(chunked ? [pending, size, value, CRLF] : [pending, value]));
      pending = new Uint8Array();
    }
  } catch (error) {
    await reader.cancel(error).catch(() => {});
    throw error;
  } finally {
    reader.releaseLock();
  }
  await writeAll(conn, chunked ? concatBytes([pending, LAST_CHUNK]) : pending);
}

/**
 * Text (ISO-8859-1, as a request head is) as bytes.
 *
 * @example
 * ```ts
 * import { latin1Bytes } from "./client.ts";
 *
 * latin1Bytes("GET / HTTP/1.1\r\n"); // Uint8Array(16)
 * ```
 */
export function latin1Bytes(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) throw new RangeError(`${JSON.stringify(text[i])} is not ISO-8859-1`);
    bytes[i] = code;
  }
  return bytes;
}
