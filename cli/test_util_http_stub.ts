/**
 * An HTTP echo stub for the tests, written apart from `net/http/` so that
 * the client is checked against code it does not share: a listener on
 * 127.0.0.1 that answers as `serve --http` does in the raw format (the body
 * echoed byte for byte, streamed, framed as the request's was, with
 * `X-Echo-Instance`, `X-Echo-Connection` and `X-Echo-Request`), keeps
 * connections alive, and answers `?status=NNN` with that status and a
 * one-line body; and `serve --http` itself as a process, for the tests that
 * check the client against the real server.
 *
 * @example
 * ```ts
 * import { withHttpStub } from "./test_util_http_stub.ts";
 *
 * await withHttpStub({ instance: "web-1" }, async (stub) => {
 *   console.log(stub.port, stub.requests.length);
 * });
 * ```
 *
 * @module
 */

import { closeQuietly, writeAll } from "../net/io.ts";
import { type Spawned, spawnSockecho } from "./test_util_process.ts";

/** What the stub saw of one request. */
export interface StubRequest {
  method: string;
  target: string;
  headers: [string, string][];
  /** Which connection (from 1) carried it. */
  connection: number;
}

/** Options of {@linkcode withHttpStub}. */
export interface StubOptions {
  /** The `X-Echo-Instance` it answers with. @default {"stub"} */
  instance?: string;
  /** Answer `Connection: close` (and close) after this many requests on a connection. */
  requestsPerConnection?: number;
  /**
   * Close a connection after this many requests without saying so, as a
   * server's keep-alive timeout does while the connection idles.
   */
  silentCloseAfter?: number;
}

/** A running stub. */
export interface HttpStub {
  port: number;
  /** Every request, in the order the stub read their heads. */
  requests: StubRequest[];
  /** Connections accepted so far. */
  connections: number;
}

const encoder = new TextEncoder();

/** Runs `body` with an HTTP echo stub on 127.0.0.1 and a free port, then stops it. */
export async function withHttpStub(
  options: StubOptions,
  body: (stub: HttpStub) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const stub: HttpStub = { port: listener.addr.port, requests: [], connections: 0 };
  const conns = new Set<Deno.Conn>();
  const served: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      // The head and each body part are written apart: Nagle would hold the second for an ACK.
      conn.setNoDelay(true);
      conns.add(conn);
      const id = ++stub.connections;
      served.push(
        serveConnection(conn, id, stub, options).catch(() => {}).finally(() => {
          conns.delete(conn);
          closeQuietly(conn);
        }),
      );
    }
  })();
  try {
    await body(stub);
  } finally {
    listener.close();
    await accepting.catch(() => {});
    conns.forEach((conn) => closeQuietly(conn));
    await Promise.all(served);
  }
}

/** Buffered reading of one connection: lines and exact byte counts. */
class Input {
  #held = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  /** A line without CRLF, or null at the end of the connection. */
  async line(): Promise<string | null> {
    for (;;) {
      const lf = this.#held.indexOf(0x0a);
      if (lf >= 0) {
        const line = new TextDecoder().decode(this.#held.subarray(0, lf)).replace(/\r$/, "");
        this.#held = this.#held.subarray(lf + 1);
        return line;
      }
      if (!await this.#more()) return null;
    }
  }

  /** Up to `max` bytes (at least one), or null at the end. */
  async some(max: number): Promise<Uint8Array | null> {
    if (this.#held.length === 0 && !await this.#more()) return null;
    const part = this.#held.slice(0, max);
    this.#held = this.#held.subarray(part.length);
    return part;
  }

  async #more(): Promise<boolean> {
    const buffer = new Uint8Array(64 * 1024);
    const n = await this.conn.read(buffer);
    if (n === null) return false;
    const held = new Uint8Array(this.#held.length + n);
    held.set(this.#held);
    held.set(buffer.subarray(0, n), this.#held.length);
    this.#held = held;
    return true;
  }
}

async function serveConnection(
  conn: Deno.Conn,
  connection: number,
  stub: HttpStub,
  { instance = "stub", requestsPerConnection = Infinity, silentCloseAfter = Infinity }: StubOptions,
): Promise<void> {
  const input = new Input(conn);
  for (let n = 1;; n++) {
    const requestLine = await input.line();
    if (requestLine === null || requestLine === "") return;
    const [method, target] = requestLine.split(" ");
    const headers: [string, string][] = [];
    for (let line; (line = await input.line()) !== null && line !== "";) {
      const colon = line.indexOf(":");
      headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
    }
    stub.requests.push({ method, target, headers, connection });
    const get = (name: string) => headers.find(([key]) => key.toLowerCase() === name)?.[1];
    const close = get("connection")?.toLowerCase() === "close" || n >= requestsPerConnection;
    const chunked = get("transfer-encoding")?.toLowerCase() === "chunked";
    const length = Number(get("content-length") ?? 0);
    const status = Number(new URL(target, "http://stub").searchParams.get("status") ?? 200);
    const head = [
      `HTTP/1.1 ${status} ${status === 200 ? "OK" : "Stub Status"}`,
      `X-Echo-Instance: ${instance}`,
      `X-Echo-Connection: ${connection}`,
      `X-Echo-Request: ${n}`,
      ...close ? ["Connection: close"] : [],
    ];
    if (status !== 200) {
      await forEachBodyPart(input, chunked, length, () => Promise.resolve());
      const reason = encoder.encode(`stub answered ${status} as asked\n`);
      head.push("Content-Type: text/plain", `Content-Length: ${reason.length}`);
      await writeAll(conn, encoder.encode(`${head.join("\r\n")}\r\n\r\n`));
      await writeAll(conn, reason);
    } else {
      head.push("Content-Type: application/octet-stream");
      head.push(chunked ? "Transfer-Encoding: chunked" : `Content-Length: ${length}`);
      await writeAll(conn, encoder.encode(`${head.join("\r\n")}\r\n\r\n`));
      await forEachBodyPart(input, chunked, length, async (part) => {
        const framed = chunked
          ? [encoder.encode(`${part.length.toString(16)}\r\n`), part, encoder.encode("\r\n")]
          : [part];
        for (const bytes of framed) await writeAll(conn, bytes);
      });
      if (chunked) await writeAll(conn, encoder.encode("0\r\n\r\n"));
    }
    if (close || n >= silentCloseAfter) return;
  }
}

/** Reads a request body (Content-Length or chunked), handing each part on as it comes. */
async function forEachBodyPart(
  input: Input,
  chunked: boolean,
  length: number,
  onPart: (part: Uint8Array) => Promise<void>,
): Promise<void> {
  const exactly = async (count: number) => {
    for (let left = count; left > 0;) {
      const part = await input.some(left);
      if (part === null) throw new Error("the client closed in the middle of a body");
      left -= part.length;
      await onPart(part);
    }
  };
  if (!chunked) return await exactly(length);
  for (;;) {
    const size = parseInt((await input.line()) ?? "", 16);
    if (Number.isNaN(size)) throw new Error("bad chunk size");
    if (size === 0) break;
    await exactly(size);
    await input.line();
  }
  // Trailers: nothing to keep.
  let trailer: string | null;
  do trailer = await input.line(); while (trailer !== null && trailer !== "");
}

/** A spawned `serve --http` and what a client needs to reach it. */
export interface HttpServe extends Spawned {
  /** Its port (or undefined on a Unix socket). */
  port?: string;
  /** The instance name it announced. */
  instance: string;
  /** With --tls: its certificate's SHA-256, for --pin. */
  fingerprint?: string;
  /** Stops it (SIGTERM; pass -g 0 for no drain) and resolves with its exit code. */
  stop(): Promise<number>;
}

/**
 * Spawns `sockecho serve --http ARGS` (on 127.0.0.1 and a free port unless
 * ARGS say `--unix`); resolves once it listens.
 */
export async function spawnHttpServe(
  args: string[],
  denoFlags: string[] = [],
): Promise<HttpServe> {
  const unix = args.includes("--unix");
  const where = unix ? [] : ["-H", "127.0.0.1", "-p", "0"];
  const server = spawnSockecho(["serve", "--http", ...where, ...args], { denoFlags });
  const [, port, instance] = await server.out.match(
    /^Listening on (?:127\.0\.0\.1:(\d+)|\/\S+) \((?:TLS, )?HTTP, instance (\S+)\)$/,
  );
  const fingerprint = args.includes("--tls")
    ? (await server.out.match(/^TLS certificate: self-signed, SHA-256 ([0-9A-F:]{95});/))[1]
    : undefined;
  return {
    ...server,
    port,
    instance,
    fingerprint,
    stop() {
      server.child.kill("SIGTERM");
      return server.finish();
    },
  };
}
