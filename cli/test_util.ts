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
import type { MainIo } from "./io.ts";
import { closeQuietly, concatBytes, writeAll } from "../net/io.ts";
import { main } from "../main.ts";
import { type EchoServer, serve, type ServeOptions } from "../server.ts";
import type { CertificatePair } from "../net/tls/cert.ts";

/** Runs `body` with an echo server on 127.0.0.1 and a free port, then shuts it down. */
export async function withServer(
  options: Omit<ServeOptions, "path">,
  body: (server: EchoServer) => Promise<void>,
): Promise<void> {
  const server = await serve({ hostname: "127.0.0.1", port: 0, ...options });
  try {
    await body(server);
  } finally {
    await server.shutdown({ graceMs: 0 });
  }
}

let loopbackCertificate: Promise<CertificatePair> | undefined;

/**
 * A self-signed certificate for localhost, 127.0.0.1 and ::1, made fresh in
 * memory once per test module (no key is committed).
 */
export function testCertificate(): Promise<CertificatePair> {
  // Imported when first needed: most test modules never load the X.509 code.
  loopbackCertificate ??= import("../net/tls/cert.ts").then(({ selfSignedCertificate }) =>
    selfSignedCertificate(["localhost", "127.0.0.1", "::1"])
  );
  return loopbackCertificate;
}

/** A `--pin` that matches no certificate: SHA-256 fingerprint AB:AB:…:AB. */
export const WRONG_PIN = Array(32).fill("AB").join(":");

/**
 * Runs `body` with a TLS echo server on 127.0.0.1 and a free port, using
 * `certificate` ({@linkcode testCertificate} when not given).
 */
export async function withTlsServer(
  options: Omit<ServeOptions, "path" | "tls">,
  body: (port: number) => Promise<void>,
  certificate?: CertificatePair,
): Promise<void> {
  const { cert, key } = certificate ?? await testCertificate();
  await withServer({ ...options, tls: { cert, key } }, ({ addr }) => body(addr.port));
}

/** Runs `body` with the path of a socket in a fresh temporary directory, removed after. */
export async function withSocketPath(body: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await body(`${dir}/echo.sock`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `body` with an echo server on a Unix socket in a fresh temporary directory. */
export function withUnixServer(
  options: Omit<ServeOptions, "path" | "hostname" | "port">,
  body: (path: string) => Promise<void>,
): Promise<void> {
  return withSocketPath(async (path) => {
    const server = await serve({ ...options, path });
    try {
      await body(path);
    } finally {
      await server.shutdown({ graceMs: 0 });
    }
  });
}

/**
 * How long a test helper waits for anything (a line, a close, an exit) before
 * it fails. Generous, since a loaded CI machine can stall for seconds; the
 * point is that a regression turns red instead of hanging.
 */
export const WAIT_MS = 30_000;

/**
 * Settles like `promise`, or rejects with "timed out after N s waiting for
 * `what`" after `ms`. Its timer is cleared either way (sanitizers stay quiet).
 */
export async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${ms / 1000} s waiting for ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads from `conn` until the peer closes, and returns every byte; fails after `ms`. */
export function readToEnd(conn: Deno.Conn, ms = WAIT_MS): Promise<Uint8Array> {
  const reading = (async () => {
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(64 * 1024);
    for (let n; (n = await conn.read(buffer)) !== null;) chunks.push(buffer.slice(0, n));
    return concat(chunks);
  })();
  return withTimeout(reading, ms, "the peer to close the connection");
}

/** Reads exactly `length` bytes, or throws if the peer closes first or `ms` pass. */
export function readExactly(conn: Deno.Conn, length: number, ms = WAIT_MS): Promise<Uint8Array> {
  const reading = (async () => {
    const bytes = new Uint8Array(length);
    for (let got = 0; got < length;) {
      const n = await conn.read(bytes.subarray(got));
      if (n === null) throw new Error(`peer closed after ${got} of ${length} bytes`);
      got += n;
    }
    return bytes;
  })();
  return withTimeout(reading, ms, `${length} bytes from the peer`);
}

/**
 * Runs a command to its end with `options`, killing it and failing after `ms`
 * (a hung child fails the test instead of hanging it).
 */
export async function outputOf(
  command: string,
  options: Deno.CommandOptions,
  ms = WAIT_MS,
): Promise<Deno.CommandOutput> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  try {
    const output = await new Deno.Command(command, { ...options, signal: abort.signal }).output();
    if (abort.signal.aborted) {
      throw new Error(`timed out after ${ms / 1000} s waiting for ${command} to exit`);
    }
    return output;
  } finally {
    clearTimeout(timer);
  }
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
export const concat: (chunks: readonly Uint8Array[]) => Uint8Array = concatBytes;

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

/** Echoes every chunk back, like a good server: a peer for {@linkcode withFakeServer}. */
export async function echoPeer(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  for (let n; (n = await conn.read(buffer)) !== null;) await writeAll(conn, buffer.subarray(0, n));
}

/** A fake server that serves connection number `bad` (from 1) with `peer`, the rest well. */
export function nthBroken(
  bad: number,
  peer: (conn: Deno.Conn) => Promise<void>,
): (conn: Deno.Conn) => Promise<void> {
  let connections = 0;
  return (conn: Deno.Conn) => ++connections === bad ? peer(conn) : echoPeer(conn);
}

/**
 * A listener on 127.0.0.1 whose connections read one chunk and then reset
 * (RST, as `SO_LINGER 0` does): what a crashing or hostile server looks like.
 * Deno's own `close()` sends a FIN even with data unread, hence `node:net`.
 */
export async function withResettingServer(body: (port: number) => Promise<void>): Promise<void> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.once("data", () => socket.resetAndDestroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await body((server.address() as net.AddressInfo).port);
  } finally {
    sockets.forEach((socket) => socket.destroy());
    await new Promise((resolve) => server.close(resolve));
  }
}

/**
 * What resolving `no-such-host.invalid` says: "no such host" online, the
 * EAI_AGAIN wording on a machine with no reachable name server.
 */
export const NO_SUCH_HOST =
  /^cannot resolve no-such-host\.invalid: (no such host|no answer from the name server \(temporary failure; is the network up\?\))$/;

/**
 * An io that records what main prints.
 *
 * @example
 * ```ts
 * import { main } from "../main.ts";
 * import { recorder } from "./test_util.ts";
 *
 * const { io, out } = recorder();
 * await main(["--version"], io); // out: ["sockecho 0.1.0"]
 * ```
 */
export function recorder(stop?: AbortSignal): { io: MainIo; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const io: MainIo = { out: (line) => out.push(line), err: (line) => err.push(line), stop };
  return { io, out, err };
}

/**
 * Runs `main(args)` in-process with a {@linkcode recorder}; resolves with the
 * exit code and the lines printed.
 *
 * @example
 * ```ts
 * import { runMain } from "./test_util.ts";
 *
 * const { code, out } = await runMain(["--version"]); // 0, ["sockecho 0.1.0"]
 * ```
 */
export async function runMain(
  args: string[],
  stop?: AbortSignal,
): Promise<{ code: number; out: string[]; err: string[] }> {
  const { io, out, err } = recorder(stop);
  return { code: await main(args, io), out, err };
}

/** The listening line of either log format, with the port in group 1 or 2. */
const LISTENING =
  /^Listening on 127\.0\.0\.1:(\d+)(?: \(HTTP, instance \S+\))?$|^\{.*"event":"listening",.*"local":"127\.0\.0\.1:(\d+)"/;

/**
 * Runs `main(["serve", ...args])` in-process on 127.0.0.1 and a free port;
 * resolves once it listens (text or JSON log).
 *
 * @example
 * ```ts
 * import { startServe } from "./test_util.ts";
 *
 * const server = await startServe("--log-format", "json");
 * console.log(server.port, await server.stopped());
 * ```
 */
export async function startServe(...args: string[]): Promise<{
  port: string;
  out: string[];
  err: string[];
  printed: (pattern: RegExp) => Promise<RegExpMatchArray>;
  onLine: (hook: (line: string) => void) => void;
  stopped: () => Promise<number>;
}> {
  const stop = new AbortController();
  const { io, out, err } = recorder(stop.signal);
  const watchers: ((line: string) => void)[] = [];
  /** Resolves with the first line matching `pattern`, printed already or to come. */
  const printed = (pattern: RegExp) => {
    const seen = Promise.withResolvers<RegExpMatchArray>();
    const watch = (line: string) => {
      const match = line.match(pattern);
      if (match) seen.resolve(match);
    };
    out.forEach(watch);
    watchers.push(watch);
    return withTimeout(seen.promise, WAIT_MS, `a line matching ${pattern}`);
  };
  /** Calls `hook` with each line as it is printed, inside the server's own call. */
  const onLine = (hook: (line: string) => void) => void watchers.push(hook);
  const listening = printed(LISTENING);
  const serving = main(["serve", "-H", "127.0.0.1", "-p", "0", ...args], {
    ...io,
    out(line) {
      io.out(line);
      watchers.forEach((watch) => watch(line));
    },
  });
  const [, textPort, jsonPort] = await listening;
  /** Stops the server like Ctrl+C and resolves with its exit code. */
  const stopped = () => (stop.abort(), withTimeout(serving, WAIT_MS, "serve to stop"));
  return { port: textPort ?? jsonPort, out, err, printed, onLine, stopped };
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
