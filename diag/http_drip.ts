/**
 * Does the path stream or buffer? `check --http` drips a chunked body (4
 * chunks 200 ms apart by default) to sockecho's raw echo, which answers
 * each chunk as it comes; the first echoed byte is timed against the moment
 * the last chunk was sent. Before it: every hop streams. Only after it:
 * something held the request (or the response) until it was whole, as a
 * buffering proxy does. The echo is checked byte for byte too.
 *
 * @example
 * ```ts
 * import { dialTcp } from "../net/dial.ts";
 * import { dripEcho } from "./http_drip.ts";
 *
 * const conn = await dialTcp({ hostname: "127.0.0.1", port: 4321 }, AbortSignal.timeout(3000));
 * const drip = await dripEcho(conn, { host: "127.0.0.1:4321", path: "/" }, { timeoutMs: 3000 });
 * console.log(drip.mode, drip.firstByteMs, drip.lastChunkMs);
 * conn.close();
 * ```
 *
 * @module
 */

import { describeRemote, type DialedConn } from "../net/dial.ts";
import { type HttpResponse, HttpStatusError, request } from "../net/http/client.ts";
import { closeQuietly } from "../net/io.ts";
import { echoPayload } from "./echo.ts";
import { patternBytes, type Payload } from "./payload.ts";
import { pause } from "./probe.ts";

/** How the drip is sent. */
export interface DripOptions {
  /** Chunks sent. @default {4} */
  chunks?: number;
  /** Time between chunks, in ms. @default {200} */
  intervalMs?: number;
  /** Bytes in each chunk. @default {1024} */
  chunkBytes?: number;
  /** Time allowed on top of the drip's own, in ms. */
  timeoutMs: number;
}

/** What {@linkcode dripEcho} timed, in ms from the first chunk. */
export interface DripResult {
  /** `streams`: the echo began before the last chunk was sent; `buffers`: only after. */
  readonly mode: "streams" | "buffers";
  /** When the response's head came. */
  readonly headMs: number;
  /** When the first echoed byte came. */
  readonly firstByteMs: number;
  /** When the last chunk was sent. */
  readonly lastChunkMs: number;
  /** When the whole echo had come. */
  readonly ms: number;
  /** Bytes sent, and echoed exact. */
  readonly bytes: number;
  /** Whether the connection may carry another request. */
  readonly keepAlive: boolean;
  /** The response's headers, in arrival order. */
  readonly headers: [string, string][];
  /** The drip's shape: chunks, and the time between them. */
  readonly chunks: number;
  readonly intervalMs: number;
}

/**
 * Drips a chunked POST asking for the raw echo on `conn` and checks the
 * echo as it comes, by `echo.ts`'s check. Throws what `echoPayload` throws
 * (`EchoMismatchError` with a hex view, `ClosedEarlyError`,
 * `EchoTimeoutError`; the connection then closed) and an `HttpStatusError`
 * for a status of 300 or more; the connection is left open on success (a
 * kept-alive connection can carry the next request).
 *
 * @example
 * ```ts
 * import { dialTcp } from "../net/dial.ts";
 * import { dripEcho } from "./http_drip.ts";
 *
 * const conn = await dialTcp({ hostname: "127.0.0.1", port: 4321 }, AbortSignal.timeout(3000));
 * const options = { chunks: 3, intervalMs: 100, timeoutMs: 3000 };
 * const { mode } = await dripEcho(conn, { host: "127.0.0.1:4321", path: "/" }, options);
 * conn.close();
 * ```
 */
export async function dripEcho(
  conn: DialedConn,
  { host, path }: { host: string; path: string },
  { chunks = 4, intervalMs = 200, chunkBytes = 1024, timeoutMs }: DripOptions,
): Promise<DripResult> {
  const stop = new AbortController();
  const startedAt = performance.now();
  let lastChunkMs = Infinity;
  // No size: the client sends it chunked, each chunk as it is yielded.
  const drip: Payload = {
    size: undefined,
    repeatable: false,
    async *chunks() {
      for (let i = 0; i < chunks; i++) {
        if (i > 0 && !await pause(intervalMs, stop.signal)) return;
        if (i === chunks - 1) lastChunkMs = performance.now() - startedAt;
        yield patternBytes(i * chunkBytes, chunkBytes);
      }
    },
  };
  const exchange = new DripExchange(conn, host, path, startedAt);
  try {
    const echo = await echoPayload(exchange, drip, {
      timeoutMs: timeoutMs + chunks * intervalMs,
      halfClose: true,
    });
    const { headMs, firstByteMs } = exchange;
    const { keepAlive, headers } = await exchange.responding;
    return {
      keepAlive,
      headers,
      mode: firstByteMs < lastChunkMs ? "streams" : "buffers",
      headMs,
      firstByteMs,
      lastChunkMs,
      ms: echo.ms,
      bytes: echo.bytes,
      chunks,
      intervalMs,
    };
  } finally {
    stop.abort();
  }
}

/**
 * One request as the connection `echoPayload` writes to (the chunked body)
 * and reads from (the response body), timing the head and the first byte.
 */
class DripExchange implements DialedConn {
  readonly localAddr: Deno.NetAddr | Deno.UnixAddr;
  readonly remoteAddr: Deno.NetAddr | Deno.UnixAddr;
  readonly tls: DialedConn["tls"];
  headMs = Infinity;
  firstByteMs = Infinity;
  readonly #conn: DialedConn;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly responding: Promise<HttpResponse>;
  readonly #startedAt: number;

  constructor(conn: DialedConn, host: string, path: string, startedAt: number) {
    ({ localAddr: this.localAddr, remoteAddr: this.remoteAddr, tls: this.tls } = conn);
    this.#conn = conn;
    this.#startedAt = startedAt;
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    this.#writer = writable.getWriter();
    const headers: [string, string][] = [["Accept", "application/octet-stream"]];
    this.responding = request(conn, { method: "POST", host, path, headers, body: readable });
    this.responding.then(() => this.headMs = performance.now() - startedAt, () => {});
    // A request that fails before it reads its body must not leave the drip's writes waiting.
    this.responding.catch((error) => this.#writer.abort(error).catch(() => {}));
  }

  async write(bytes: Uint8Array): Promise<number> {
    await this.#writer.write(bytes);
    return bytes.length;
  }

  async closeWrite(): Promise<void> {
    await this.#writer.close();
  }

  async read(into: Uint8Array): Promise<number | null> {
    const response = await this.responding;
    if (response.status >= 300) {
      const { status, reason } = response;
      throw new HttpStatusError(
        `${describeRemote(this)} answered ${status}${reason ? ` ${reason}` : ""} to a dripped body`,
        status,
        reason,
      );
    }
    const n = await response.body.read(into);
    if (n !== null && n > 0) {
      this.firstByteMs = Math.min(this.firstByteMs, performance.now() - this.#startedAt);
    }
    return n;
  }

  close(): void {
    closeQuietly(this.#conn);
    this.#writer.abort(new Deno.errors.BadResource("closed")).catch(() => {});
  }
}
