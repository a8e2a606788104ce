/**
 * One verified echo over HTTP/1.1, on a connection that may carry more:
 * the payload goes out as a request body asking for the raw format
 * (`Accept: application/octet-stream`, which `serve --http` answers with
 * the body as it came), and the response body is checked as `echo.ts`
 * checks a TCP echo, by the same code: the same errors, the same hex view
 * at the first wrong byte, memory bounded by what is in flight. A status
 * of 300 or more is an `HttpStatusError` carrying the first line of the
 * server's body (sockecho's 400s say which parameter and why).
 *
 * @example
 * ```ts
 * import { dialTcp } from "../net/dial.ts";
 * import { httpEcho } from "./http_echo.ts";
 * import { bytesPayload } from "./payload.ts";
 *
 * const conn = await dialTcp({ hostname: "127.0.0.1", port: 4321 }, AbortSignal.timeout(5000));
 * const payload = bytesPayload(new TextEncoder().encode("ping"));
 * const reply = await httpEcho(conn, payload, { host: "127.0.0.1:4321" }, { timeoutMs: 5000 });
 * console.log(reply.status, reply.instance, reply.ms);
 * conn.close();
 * ```
 *
 * @module
 */

import { describeRemote, type DialedConn } from "../net/dial.ts";
import { ClosedEarlyError } from "../net/errors.ts";
import { escapeBytes, formatCount, plural } from "../net/format.ts";
import {
  headerValue,
  HttpNoResponseError,
  type HttpResponse,
  HttpStatusError,
  request,
} from "../net/http/client.ts";
import { closeQuietly } from "../net/io.ts";
import { type EchoOptions, echoPayload, type EchoResult } from "./echo.ts";
import { bytesPayload, type Payload } from "./payload.ts";
import type { ProbeExchange } from "./probe_exchange.ts";

/** The request {@linkcode httpEcho} makes, but for its body. */
export interface HttpEchoRequest {
  /** The method; GET and HEAD send no body, and their reply is kept, not verified. @default {"POST"} */
  method?: string;
  /** The `Host` header. */
  host: string;
  /** The request target, path and query. @default {"/"} */
  path?: string;
  /** More headers, after `Accept`. @default {[]} */
  headers?: [string, string][];
}

/** What {@linkcode httpEcho} measured and what the server said. */
export interface HttpEchoResult extends EchoResult {
  /** The status, below 300 (above is an `HttpStatusError`). */
  readonly status: number;
  /** Its reason phrase. */
  readonly reason: string;
  /** `HTTP/1.1` or `HTTP/1.0`. */
  readonly version: string;
  /** `X-Echo-Instance`: which server answered, when it says. */
  readonly instance?: string;
  /** Every response header, in arrival order. */
  readonly headers: [string, string][];
  /** Whether the connection may carry the next request. */
  readonly keepAlive: boolean;
  /**
   * For a method that sends no body: the start of the body that came (at
   * most 64 KiB); `bytes` then counts all of it.
   */
  readonly body?: Uint8Array;
}

/** Most of a body that is shown rather than verified (GET's) kept to show. */
const KEPT_BYTES = 64 * 1024;
/** Most of an error status's body read for its first line. */
const REASON_BYTES = 1024;

const NOTHING = bytesPayload(new Uint8Array());

/**
 * Whether requests with `method` carry the payload (all but GET and HEAD).
 *
 * @example
 * ```ts
 * import { sendsBody } from "./http_echo.ts";
 *
 * sendsBody("GET"); // false
 * ```
 */
export function sendsBody(method: string): boolean {
  return method !== "GET" && method !== "HEAD";
}

/**
 * Sends `payload` as the body of one request on `conn` and verifies the
 * response body against it. Throws what `echoPayload` throws (the connection
 * then closed), and `HttpStatusError`, `HttpResponseError`, `HttpClosedError`;
 * a body that ends short is a `ClosedEarlyError`. On success the connection
 * stays open: reuse it when `keepAlive`.
 *
 * @example
 * ```ts
 * import { dialTcp } from "../net/dial.ts";
 * import { httpEcho } from "./http_echo.ts";
 * import { patternPayload } from "./payload.ts";
 *
 * const conn = await dialTcp({ hostname: "127.0.0.1", port: 4321 }, AbortSignal.timeout(5000));
 * const request = { host: "127.0.0.1:4321", path: "/a" };
 * const { keepAlive } = await httpEcho(conn, patternPayload(1 << 20), request, { timeoutMs: 5000 });
 * if (keepAlive) await httpEcho(conn, patternPayload(10), request, { timeoutMs: 5000 });
 * conn.close();
 * ```
 */
export async function httpEcho(
  conn: DialedConn,
  payload: Payload,
  req: HttpEchoRequest,
  options: Omit<EchoOptions, "halfClose">,
): Promise<HttpEchoResult> {
  const exchange = new HttpExchange(conn, payload, req);
  // The end of the response body ends the echo, as a FIN ends a TCP one.
  const echo = await echoPayload(exchange, exchange.verified ? payload : NOTHING, {
    ...options,
    halfClose: true,
  });
  const { version, status, reason, headers, keepAlive } = exchange.response!;
  return {
    ...echo,
    ...!exchange.verified && { bytes: exchange.bodyBytes, body: exchange.kept },
    version,
    status,
    reason,
    headers,
    keepAlive,
    instance: headerValue(headers, "x-echo-instance"),
  };
}

/**
 * A probe series' exchange over HTTP: each probe is {@linkcode httpEcho}'s
 * request `req`, on the same connection while the server keeps it alive.
 *
 * @example
 * ```ts
 * import { httpExchange } from "./http_echo.ts";
 * import { patternPayload } from "./payload.ts";
 * import { probeSeries } from "./probe.ts";
 *
 * const summary = await probeSeries({
 *   target: { hostname: "127.0.0.1", port: 4321 },
 *   payload: patternPayload(100),
 *   count: 10,
 *   exchange: httpExchange({ host: "127.0.0.1:4321" }),
 * });
 * console.log(summary.spread?.perRequest.instances);
 * ```
 */
export function httpExchange(req: HttpEchoRequest): ProbeExchange<DialedConn> {
  return {
    async echo(conn, payload, options) {
      const reply = await httpEcho(conn, payload, req, options);
      return { ...reply, reusable: reply.keepAlive };
    },
    // A closed idle connection ends before any response, or resets the request's write.
    stale: (error) =>
      error instanceof HttpNoResponseError ||
      (error instanceof ClosedEarlyError && error.received === 0 &&
        (error.cause instanceof Deno.errors.ConnectionReset ||
          error.cause instanceof Deno.errors.BrokenPipe)),
  };
}

/**
 * One request seen as the connection `echoPayload` writes to and reads
 * from: writes go into the request body, reads come from the response body.
 */
class HttpExchange implements DialedConn {
  readonly localAddr: Deno.NetAddr | Deno.UnixAddr;
  readonly remoteAddr: Deno.NetAddr | Deno.UnixAddr;
  readonly tls: DialedConn["tls"];
  /** Whether the response body is the echo (else it is kept to show). */
  readonly verified: boolean;
  response?: HttpResponse;
  kept = new Uint8Array();
  bodyBytes = 0;
  readonly #conn: DialedConn;
  readonly #size: number | undefined;
  readonly #writer?: WritableStreamDefaultWriter<Uint8Array>;
  readonly #responding: Promise<HttpResponse>;
  #written = 0;
  #finished = false;

  constructor(conn: DialedConn, payload: Payload, req: HttpEchoRequest) {
    ({ localAddr: this.localAddr, remoteAddr: this.remoteAddr, tls: this.tls } = conn);
    this.#conn = conn;
    this.#size = payload.size;
    const method = req.method ?? "POST";
    this.verified = sendsBody(method);
    const headers: [string, string][] = [["Accept", "application/octet-stream"]];
    let body: ReadableStream<Uint8Array> | undefined;
    if (this.verified) {
      const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
      this.#writer = writable.getWriter();
      if (payload.size !== undefined) headers.push(["Content-Length", String(payload.size)]);
      body = readable;
    }
    headers.push(...req.headers ?? []);
    this.#responding = request(conn, { method, host: req.host, path: req.path, headers, body });
    // A request that fails before it reads its body must not leave the payload's writes waiting.
    this.#responding.catch((error) => this.#writer?.abort(error).catch(() => {}));
  }

  async write(bytes: Uint8Array): Promise<number> {
    await this.#writer!.write(bytes);
    this.#written += bytes.length;
    return bytes.length;
  }

  async closeWrite(): Promise<void> {
    this.#finished = true;
    await this.#writer?.close();
  }

  async read(into: Uint8Array): Promise<number | null> {
    const response = this.response ??= await this.#responding;
    if (response.status >= 300) throw await statusError(response, describeRemote(this));
    if (!this.verified) return await this.#keep(response);
    const n = await response.body.read(into);
    if (n !== null) {
      this.bodyBytes += n;
      return n;
    }
    if (this.#finished && this.bodyBytes >= this.#written) return null;
    const sent = this.#size ?? this.#written;
    throw new ClosedEarlyError(
      `${describeRemote(this)} ended the response body after echoing ${
        formatCount(this.bodyBytes)
      } of ${plural(sent, "byte")}`,
      this.bodyBytes,
      sent,
    );
  }

  close(): void {
    closeQuietly(this.#conn);
    this.#writer?.abort(new Deno.errors.BadResource("closed")).catch(() => {});
  }

  /** Reads a body that is not an echo to its end, keeping its start. */
  async #keep(response: HttpResponse): Promise<null> {
    const kept = new Uint8Array(KEPT_BYTES);
    const buffer = new Uint8Array(64 * 1024);
    for (let n; (n = await response.body.read(buffer)) !== null;) {
      const room = Math.max(0, KEPT_BYTES - this.bodyBytes);
      kept.set(buffer.subarray(0, Math.min(n, room)), KEPT_BYTES - room);
      this.bodyBytes += n;
    }
    this.kept = kept.slice(0, Math.min(this.bodyBytes, KEPT_BYTES));
    return null;
  }
}

/**
 * The error for a status of 300 or more: the status line, and as the
 * server's reason a redirect's `Location` or the first line of a text body
 * (sockecho's refusals are one `text/plain` line; a body of another type,
 * such as a shaped status's echo, says nothing about why).
 */
async function statusError(response: HttpResponse, where: string): Promise<HttpStatusError> {
  const { status, reason, headers } = response;
  const text = /^text\/plain\b/i.test(headerValue(headers, "content-type") ?? "");
  const line = text ? await firstLine(response) : "";
  const location = headerValue(headers, "location");
  const said = location !== undefined ? ` (Location: ${location})` : line ? `: ${line}` : "";
  return new HttpStatusError(
    `${where} answered ${status}${reason ? ` ${reason}` : ""}${said}`,
    status,
    line || reason,
    headerValue(headers, "x-echo-instance"),
  );
}

/** The first line of a body (of its first KiB), escaped. */
async function firstLine(response: HttpResponse): Promise<string> {
  const start = new Uint8Array(REASON_BYTES);
  let got = 0;
  try {
    for (
      let n;
      got < REASON_BYTES && (n = await response.body.read(start.subarray(got))) !== null;
    ) {
      got += n;
    }
  } catch {
    // Cut or malformed: what came is what there is to show.
  }
  const lineEnd = start.subarray(0, got).indexOf(0x0a);
  const end = lineEnd < 0 ? got : lineEnd - (start[lineEnd - 1] === 0x0d ? 1 : 0);
  return escapeBytes(start.subarray(0, end));
}
