/**
 * HTTP test helpers: `serve --http`'s handler on a loopback server with
 * what its callbacks saw, and a raw client that writes exact bytes and reads
 * the responses back off the wire (Content-Length, chunked or
 * close-delimited bodies), so a test can see every byte the server wrote.
 *
 * @example
 * ```ts
 * import { rawExchange, withHttpServer } from "./test_util_http.ts";
 *
 * await withHttpServer({}, async ({ port }) => {
 *   const [reply] = await rawExchange(port, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1);
 *   console.log(reply.status, reply.header("x-echo-instance"));
 * });
 * ```
 *
 * @module
 */

import { httpHandler, type HttpHandlerOptions, type ServedRequest } from "../net/http/handler.ts";
import type { HttpRequestError } from "../net/http/request.ts";
import { closeQuietly, writeAll } from "../net/io.ts";
import type { ConnectionSummary, EchoServer, ServeOptions } from "../server.ts";
import { concat, WAIT_MS, withServer, withTimeout } from "./test_util.ts";

/** The instance name of {@linkcode withHttpServer}'s server. */
export const HTTP_TEST_INSTANCE = "http-test-1";

/** What the test server's callbacks saw. */
export interface HttpTestServer {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** The server. */
  readonly server: EchoServer;
  /** Each request served, in order. */
  readonly served: ServedRequest[];
  /** Each request refused, in order. */
  readonly refused: HttpRequestError[];
  /** Each connection's summary once closed. */
  readonly closed: ConnectionSummary[];
}

/** Runs `body` with an HTTP server (the handler with `options`) on 127.0.0.1 and a free port. */
export async function withHttpServer(
  options: Partial<HttpHandlerOptions> & { serve?: Omit<ServeOptions, "path"> },
  body: (server: HttpTestServer) => Promise<void>,
): Promise<void> {
  const served: ServedRequest[] = [];
  const refused: HttpRequestError[] = [];
  const closed: ConnectionSummary[] = [];
  const handler = httpHandler({
    instance: HTTP_TEST_INSTANCE,
    ...options,
    onRequest: (info, request) => {
      served.push(request);
      options.onRequest?.(info, request);
    },
    onRefused: (info, error) => {
      refused.push(error);
      options.onRefused?.(info, error);
    },
  });
  await withServer({
    ...options.serve,
    handler,
    onClose: (info, summary) => {
      closed.push(summary);
      options.serve?.onClose?.(info, summary);
    },
  }, (server) => body({ port: server.addr.port, server, served, refused, closed }));
}

/** A response as read off the wire. */
export interface RawResponse {
  /** The status line's code. */
  readonly status: number;
  /** The status line as sent. */
  readonly statusLine: string;
  /** The headers in order, names as sent. */
  readonly headers: [string, string][];
  /** The body (de-chunked). */
  readonly body: Uint8Array;
  /** The body as text. */
  readonly text: string;
  /** The first value of a header, by case-insensitive name. */
  header(name: string): string | undefined;
}

/**
 * Writes `request` (text or bytes) on a fresh connection to 127.0.0.1:`port`,
 * then reads responses until `count` have come (or, without `count`, until the
 * server closes); 1xx responses are returned too. With `halfClose`, half-closes
 * after writing. Fails after `ms`.
 */
export async function rawExchange(
  port: number,
  request: string | Uint8Array,
  count = Infinity,
  { halfClose = false, ms = WAIT_MS }: { halfClose?: boolean; ms?: number } = {},
): Promise<RawResponse[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const bytes = typeof request === "string" ? new TextEncoder().encode(request) : request;
    await writeAll(conn, bytes);
    if (halfClose) await conn.closeWrite();
    return await withTimeout(readResponses(conn, count), ms, `${count} responses`);
  } finally {
    closeQuietly(conn);
  }
}

/** Reads responses from `conn` until `count` have come or the server closes. */
export async function readResponses(conn: Deno.Conn, count = Infinity): Promise<RawResponse[]> {
  const stream = new ResponseStream(conn);
  const responses: RawResponse[] = [];
  while (responses.length < count) {
    const response = await stream.next();
    if (response === undefined) break;
    responses.push(response);
  }
  return responses;
}

/** Parses responses from a connection one at a time. */
export class ResponseStream {
  #held: Uint8Array = new Uint8Array();
  #ended = false;

  /** Reads from `conn`. */
  constructor(readonly conn: Deno.Conn) {}

  /**
   * The next response, or `undefined` when the server closed before one
   * began; `toHead` says it answers a HEAD (a length but no body).
   */
  async next(toHead = false): Promise<RawResponse | undefined> {
    let end: number;
    while ((end = indexOf(this.#held, "\r\n\r\n")) === -1) {
      if (!await this.#more()) {
        if (this.#held.length === 0) return undefined;
        throw new Error(`closed inside a head: ${new TextDecoder().decode(this.#held)}`);
      }
    }
    const [statusLine, ...lines] = new TextDecoder().decode(this.#held.subarray(0, end)).split(
      "\r\n",
    );
    this.#held = this.#held.subarray(end + 4);
    const headers = lines.map((line): [string, string] => {
      const colon = line.indexOf(":");
      return [line.slice(0, colon), line.slice(colon + 1).trim()];
    });
    const header = (name: string) =>
      headers.find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];
    const status = Number(statusLine.split(" ")[1]);
    const body = toHead ? new Uint8Array() : await this.#body(status, header);
    return { status, statusLine, headers, body, text: new TextDecoder().decode(body), header };
  }

  async #body(status: number, header: (name: string) => string | undefined): Promise<Uint8Array> {
    if (status < 200 || status === 204 || status === 304) return new Uint8Array();
    const length = header("content-length");
    if (length !== undefined) return await this.#take(Number(length));
    if (header("transfer-encoding") === "chunked") {
      const parts: Uint8Array[] = [];
      for (;;) {
        const line = new TextDecoder().decode(await this.#line());
        const size = parseInt(line, 16);
        if (size === 0) {
          await this.#line();
          return concat(parts);
        }
        parts.push(await this.#take(size));
        await this.#take(2);
      }
    }
    while (await this.#more());
    const all = this.#held;
    this.#held = new Uint8Array();
    return all;
  }

  async #line(): Promise<Uint8Array> {
    let at: number;
    while ((at = indexOf(this.#held, "\r\n")) === -1) {
      if (!await this.#more()) throw new Error("closed inside a chunk line");
    }
    const line = this.#held.slice(0, at);
    this.#held = this.#held.subarray(at + 2);
    return line;
  }

  async #take(n: number): Promise<Uint8Array> {
    while (this.#held.length < n) {
      if (!await this.#more()) {
        throw new Error(`closed after ${this.#held.length} of ${n} body bytes`);
      }
    }
    const taken = this.#held.slice(0, n);
    this.#held = this.#held.subarray(n);
    return taken;
  }

  async #more(): Promise<boolean> {
    if (this.#ended) return false;
    const buffer = new Uint8Array(64 * 1024);
    const n = await this.conn.read(buffer).catch((error) => {
      if (error instanceof Deno.errors.ConnectionReset) return null;
      throw error;
    });
    if (n === null) {
      this.#ended = true;
      return false;
    }
    this.#held = concat([this.#held, buffer.subarray(0, n)]);
    return true;
  }
}

function indexOf(bytes: Uint8Array, text: string): number {
  const needle = new TextEncoder().encode(text);
  outer: for (let i = 0; i + needle.length <= bytes.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
