/**
 * WebSocket test helpers: an echo server as the HTTP handler will run it
 * (Deno.listen on 127.0.0.1 port 0, the request head read, `upgradeResponse`
 * and `echoWebSocket`), with the result of each connection for the test to
 * check; a raw client that writes frames exactly as given; and a real
 * client, Python's `websockets` (Debian's /usr/bin/python3), run on a script.
 *
 * @example
 * ```ts
 * import { withWsEchoServer } from "./test_util_ws.ts";
 *
 * await withWsEchoServer({}, async (server) => {
 *   const ws = new WebSocket(`ws://127.0.0.1:${server.port}`);
 *   // … send, receive, close …
 *   console.log((await server.result(0)).closeCode);
 * });
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { closeQuietly, writeAll } from "../net/io.ts";
import { readHead } from "../net/http/ws_client.ts";
import {
  echoWebSocket,
  type EchoWebSocketOptions,
  type EchoWebSocketResult,
  upgradeResponse,
} from "../net/http/ws_echo.ts";
import { WAIT_MS, withTimeout } from "./test_util.ts";
import { canRun, needs } from "./test_util_process.ts";

/** `s` as UTF-8 bytes. */
export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
/** Every byte value, 0 to 255, once. */
export const ALL_BYTES: Uint8Array = new Uint8Array(256).map((_, i) => i);

/** The instance name the test server puts in `X-Echo-Instance`. */
export const TEST_INSTANCE = "ws-test-1";

/** A running test echo server, from {@linkcode withWsEchoServer}. */
export interface WsEchoServer {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** The result of the `index`-th connection (from 0) once it has ended; fails after 30 s. */
  result(index: number): Promise<EchoWebSocketResult>;
}

/**
 * Runs `body` with a WebSocket echo server on 127.0.0.1 and a free port;
 * then closes it and waits for every connection to end.
 */
export async function withWsEchoServer(
  options: EchoWebSocketOptions,
  body: (server: WsEchoServer) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served: Promise<EchoWebSocketResult>[] = [];
  let wake: () => void = () => {};
  let accepted = new Promise<void>((resolve) => wake = resolve);
  const accepting = (async () => {
    for await (const conn of listener) {
      const serving = serveOne(conn, options);
      serving.catch(() => {}); // a test that cares awaits result(); the rest is not a failure
      served.push(serving);
      wake();
      accepted = new Promise<void>((resolve) => wake = resolve);
    }
  })();
  const result = (index: number) =>
    withTimeout(
      (async () => {
        while (served.length <= index) await accepted;
        return await served[index];
      })(),
      WAIT_MS,
      `WebSocket connection ${index + 1} to end`,
    );
  try {
    await body({ port: listener.addr.port, result });
  } finally {
    listener.close();
    await accepting.catch(() => {});
    wake();
    await Promise.allSettled(served);
  }
}

async function serveOne(
  conn: Deno.TcpConn,
  options: EchoWebSocketOptions,
): Promise<EchoWebSocketResult> {
  try {
    const { head, rest } = await readHead(conn);
    const key = head.match(/^sec-websocket-key:\s*(\S+)\s*$/im)?.[1] ?? "";
    await writeAll(conn, await upgradeResponse(key, { "X-Echo-Instance": TEST_INSTANCE }));
    return await echoWebSocket(conn, rest, options);
  } finally {
    closeQuietly(conn);
  }
}

/**
 * A TCP connection to `port` that has done the WebSocket handshake by hand
 * (any valid key; the 101 is read and dropped): a client that writes
 * whatever frames a test gives it, well-formed or not.
 */
export async function rawWebSocket(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" +
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
    "Sec-WebSocket-Version: 13\r\n\r\n";
  await writeAll(conn, new TextEncoder().encode(request));
  const { head, rest } = await readHead(conn);
  if (!head.startsWith("HTTP/1.1 101 ") || rest.length > 0) throw new Error(`handshake: ${head}`);
  return conn;
}

/** Debian's Python, which has `websockets` (python3-websockets). */
const PYTHON = "/usr/bin/python3";

/** Why the Python `websockets` client cannot run here, or undefined. */
async function whyNoPython(): Promise<string | undefined> {
  if (!canRun) return "needs --allow-run";
  const probe = await new Deno.Command(PYTHON, {
    args: ["-c", "import websockets"],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => undefined);
  return needs(probe?.success === true, "python3 with websockets (Debian python3-websockets)");
}

/** Why Python `websockets` tests cannot run here (for `skipped`), or undefined when they can. */
export const noPythonWebsockets: string | undefined = await whyNoPython();

/**
 * Runs a Python `websockets` client `script` with `url` as its argument
 * (bounded); fails unless it exits 0, else resolves with the JSON it printed.
 */
export async function python(script: string, url: string): Promise<Record<string, unknown>> {
  const child = new Deno.Command(PYTHON, {
    args: ["-c", script, url],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { code, stdout, stderr } = await withTimeout(child.output(), WAIT_MS, "python to exit")
    .catch((error) => {
      child.kill("SIGKILL");
      throw error;
    });
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

/**
 * A {@linkcode python} script: text, all 256 byte values and 1 MiB echoed,
 * a ping's pong, a close with code 4001 "bye"; prints what it saw as JSON
 * (`instance`, `text`, `binary`, `big`, `pong`, `close`).
 */
export const PYTHON_ECHO = `
import asyncio, json, sys, websockets
async def main():
    out = {}
    async with websockets.connect(sys.argv[1], max_size=None, compression=None) as ws:
        out["instance"] = ws.response_headers.get("X-Echo-Instance")
        await ws.send("héllo, wörld")
        out["text"] = await ws.recv()
        await ws.send(bytes(range(256)))
        out["binary"] = list(await ws.recv())
        big = bytes(i * 7 % 251 for i in range(1 << 20))
        await ws.send(big)
        echo = await ws.recv()
        out["big"] = [len(echo), echo == big, isinstance(echo, bytes)]
        pong = await ws.ping(b"ping-data")
        await asyncio.wait_for(pong, 10)
        out["pong"] = True
        await ws.close(code=4001, reason="bye")
        out["close"] = [ws.close_code, ws.close_reason]
    print(json.dumps(out))
asyncio.run(main())
`;
