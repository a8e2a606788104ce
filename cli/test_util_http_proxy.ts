/**
 * A tiny HTTP/1.1 proxy for the tests, each way of misbehaving a switch: it
 * can read every request whole before forwarding it (a buffering proxy),
 * flip one byte of the first response's body (a corrupting path), or close
 * the client's connection without a status when a request head is over a
 * bound (a proxy that cuts rather than refuses). After an `Upgrade` request
 * it pipes both ways untouched.
 *
 * @example
 * ```ts
 * import { withHttpProxy } from "./test_util_http_proxy.ts";
 *
 * await withHttpProxy(8080, { bufferRequests: true }, async (port) => {
 *   console.log(`proxying 127.0.0.1:${port} to 127.0.0.1:8080`);
 * });
 * ```
 *
 * @module
 */

import { closeQuietly, concatBytes, writeAll } from "../net/io.ts";

/** How the proxy misbehaves; nothing by default. */
export interface ProxyOptions {
  /** Read each request whole (head and body) before forwarding any of it. */
  bufferRequests?: boolean;
  /** Flip (XOR 0xff) the byte at this offset of the first response's body. */
  corruptBodyByte?: number;
  /** Close the client's connection, with no status, on a request head longer than this. */
  maxHeadBytes?: number;
}

/** Runs `body` with the proxy on 127.0.0.1 and a free port, in front of 127.0.0.1:`upstream`. */
export async function withHttpProxy(
  upstream: number,
  options: ProxyOptions,
  body: (port: number) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const served: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const client of listener) {
      open.add(client);
      served.push(proxy(client, upstream, options, open).catch(() => closeQuietly(client)));
    }
  })();
  try {
    await body(listener.addr.port);
  } finally {
    listener.close();
    await accepting.catch(() => {});
    open.forEach(closeQuietly);
    await Promise.all(served);
  }
}

async function proxy(
  client: Deno.Conn,
  upstream: number,
  options: ProxyOptions,
  open: Set<Deno.Conn>,
): Promise<void> {
  const server = await Deno.connect({ hostname: "127.0.0.1", port: upstream });
  open.add(server);
  const end = () => [client, server].forEach(closeQuietly);
  await Promise.allSettled([
    forwardRequests(new Reader(client), server, options).finally(end),
    forwardResponses(server, client, options.corruptBodyByte).finally(end),
  ]);
  open.delete(client);
  open.delete(server);
}

/** Request by request: the head, then the body by Content-Length or chunks. */
async function forwardRequests(from: Reader, to: Deno.Conn, options: ProxyOptions) {
  for (;;) {
    const max = options.maxHeadBytes ?? 1 << 20;
    const head = await from.through(CRLF2, max);
    if (head === null) return;
    if (head.length > max) throw new Error(`a request head over ${max} bytes`);
    const text = new TextDecoder().decode(head).toLowerCase();
    const parts = [head];
    const send = async (bytes: Uint8Array) => {
      if (options.bufferRequests) parts.push(bytes);
      else await writeAll(to, bytes);
    };
    if (!options.bufferRequests) await writeAll(to, parts.pop()!);
    const length = /\r\ncontent-length: *(\d+)/.exec(text);
    if (/\r\ntransfer-encoding: *chunked/.test(text)) {
      for (let size = -1; size !== 0;) {
        const line = (await from.through(CRLF, 1024))!;
        size = parseInt(new TextDecoder().decode(line), 16);
        await send(line);
        await send((await from.exactly(size + 2))!); // the chunk and its CRLF (the last: trailers' end)
      }
    } else if (length) await send((await from.exactly(Number(length[1])))!);
    if (options.bufferRequests) { for (const part of parts) await writeAll(to, part); }
    if (/\r\nupgrade:/.test(text)) {
      for (let bytes; (bytes = await from.some()) !== null;) await writeAll(to, bytes);
      return;
    }
  }
}

/** Everything the server sends, with one byte of the first body flipped when asked. */
async function forwardResponses(from: Deno.Conn, to: Deno.Conn, corrupt?: number) {
  const reader = new Reader(from);
  if (corrupt !== undefined) {
    const head = await reader.through(CRLF2, 1 << 20);
    if (head === null) return;
    await writeAll(to, head);
    const before = await reader.exactly(corrupt);
    const byte = await reader.exactly(1);
    if (before === null || byte === null) return;
    await writeAll(to, before);
    await writeAll(to, new Uint8Array([byte[0] ^ 0xff]));
  }
  for (let bytes; (bytes = await reader.some()) !== null;) await writeAll(to, bytes);
}

const CRLF = new Uint8Array([13, 10]);
const CRLF2 = new Uint8Array([13, 10, 13, 10]);

/** Buffered reads: up to a delimiter, an exact count, or whatever comes. */
class Reader {
  #held: Uint8Array = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  /** Bytes up to and including `delimiter`; null at the end; throws past `max`. */
  async through(delimiter: Uint8Array, max: number): Promise<Uint8Array | null> {
    for (;;) {
      const at = indexOf(this.#held, delimiter);
      if (at >= 0) return this.#take(at + delimiter.length);
      if (this.#held.length > max) throw new Error(`over ${max} bytes without a delimiter`);
      if (!await this.#more()) return null;
    }
  }

  /** Exactly `count` bytes, or null when the connection ends first. */
  async exactly(count: number): Promise<Uint8Array | null> {
    while (this.#held.length < count) if (!await this.#more()) return null;
    return this.#take(count);
  }

  /** What is held, or the next read; null at the end. */
  async some(): Promise<Uint8Array | null> {
    if (this.#held.length === 0 && !await this.#more()) return null;
    return this.#take(this.#held.length);
  }

  #take(count: number): Uint8Array {
    const taken = this.#held.slice(0, count);
    this.#held = this.#held.subarray(count);
    return taken;
  }

  async #more(): Promise<boolean> {
    const buffer = new Uint8Array(64 * 1024);
    const n = await this.conn.read(buffer);
    if (n !== null) this.#held = concatBytes([this.#held, buffer.subarray(0, n)]);
    return n !== null;
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
