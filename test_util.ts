/**
 * Helpers for the tests: a loopback server on a free port, and a client that
 * sends bytes and collects their echo.
 *
 * @example
 * ```ts
 * import { echoOf, withServer } from "./test_util.ts";
 *
 * await withServer({}, async (server) => {
 *   await echoOf(server.addr.port, new Uint8Array([1, 2, 3]));
 * });
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import net from "node:net";
import { closeQuietly, writeAll } from "./io.ts";
import { type EchoServer, serve, type ServeOptions } from "./server.ts";

/** Runs `body` with an echo server on 127.0.0.1 and a free port, then shuts it down. */
export async function withServer(
  options: ServeOptions,
  body: (server: EchoServer) => Promise<void>,
): Promise<void> {
  const server = await serve({ hostname: "127.0.0.1", port: 0, ...options });
  try {
    await body(server);
  } finally {
    await server.shutdown({ graceMs: 0 });
  }
}

/** Reads from `conn` until the peer closes, and returns every byte. */
export async function readToEnd(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(64 * 1024);
  for (let n; (n = await conn.read(buffer)) !== null;) chunks.push(buffer.slice(0, n));
  return concat(chunks);
}

/** Reads exactly `length` bytes, or throws if the peer closes first. */
export async function readExactly(conn: Deno.Conn, length: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  for (let got = 0; got < length;) {
    const n = await conn.read(bytes.subarray(got));
    if (n === null) throw new Error(`peer closed after ${got} of ${length} bytes`);
    got += n;
  }
  return bytes;
}

/**
 * Connects to 127.0.0.1:`port`, writes `bytes` while reading, half-closes,
 * and returns everything that came back before the server closed.
 */
export async function echoOf(port: number, bytes: Uint8Array): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const [, echo] = await Promise.all([
      writeAll(conn, bytes).then(() => conn.closeWrite()),
      readToEnd(conn),
    ]);
    return echo;
  } finally {
    conn.close();
  }
}

/** Joins byte arrays. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** `length` bytes of a repeating, position-dependent pattern. */
export function pattern(length: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return bytes;
}

/** A listener on 127.0.0.1 that runs `peer` for each connection: a scripted fake server. */
export async function withFakeServer(
  peer: (conn: Deno.Conn) => Promise<void>,
  body: (port: number) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const peers: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      peers.push(peer(conn).catch(() => {}).finally(() => closeQuietly(conn)));
    }
  })();
  try {
    await body(listener.addr.port);
  } finally {
    listener.close();
    await accepting.catch(() => {});
    await Promise.all(peers);
  }
}

/**
 * Connects from `localAddress` to 127.0.0.1:`port`, sends `bytes`, and
 * resolves with what came back before the server closed the connection.
 */
export function echoFrom(
  localAddress: string,
  port: number,
  bytes: Uint8Array,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    const socket = net.connect(
      { host: "127.0.0.1", port, localAddress },
      () => socket.write(bytes),
    );
    socket.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    // A reset (the server closed with our bytes unread) ends it like a close.
    socket.on("error", (error: Error & { code?: string }) => {
      if (error.code !== "ECONNRESET") reject(error);
    });
    socket.on("close", () => resolve(new Uint8Array(Buffer.concat(chunks))));
  });
}
