/**
 * The WebSocket client (ws_client.ts) against a real peer implementation,
 * Deno.serve's `Deno.upgradeWebSocket` (its pings, its close), against our own
 * echo, and against scripted servers that answer the handshake wrongly, not
 * at all, or send frames a server may not.
 */
import assert from "node:assert/strict";
import { concat, WAIT_MS, withFakeServer, withTimeout } from "../../cli/test_util.ts";
import { ALL_BYTES, TEST_INSTANCE, text, withWsEchoServer } from "../../cli/test_util_ws.ts";
import { TimeoutError } from "../errors.ts";
import { writeAll } from "../io.ts";
import {
  encodeFrame,
  OPCODE,
  parseClose,
  WebSocketClosedError,
  WebSocketHandshakeError,
  WebSocketProtocolError,
} from "./websocket.ts";
import { connectWebSocket, readHead } from "./ws_client.ts";
import { upgradeResponse } from "./ws_echo.ts";
import { FrameReader } from "./ws_reader.ts";

/** Opens our client on 127.0.0.1:`port`. */
async function open(port: number, options: { timeoutMs?: number; path?: string } = {}) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  return connectWebSocket(conn, { host: `127.0.0.1:${port}`, ...options });
}

/**
 * Runs `body` with a Deno.serve WebSocket server whose sockets `onSocket`
 * sets up (an echo unless given); resolves once the server has shut down
 * and every socket has closed, with the close events the server saw.
 */
async function withDenoServer(
  options: { idleTimeout?: number; onSocket?: (socket: WebSocket) => void },
  body: (port: number) => Promise<void>,
): Promise<CloseEvent[]> {
  const closes: Promise<CloseEvent>[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request, {
      idleTimeout: options.idleTimeout,
    });
    closes.push(new Promise((resolve) => socket.addEventListener("close", resolve)));
    socket.binaryType = "arraybuffer";
    (options.onSocket ?? ((ws) => ws.onmessage = (event) => ws.send(event.data)))(socket);
    response.headers.set("X-Echo-Instance", "deno-serve");
    return response;
  });
  try {
    await body(server.addr.port);
  } finally {
    await server.shutdown();
  }
  return await withTimeout(Promise.all(closes), WAIT_MS, "the server's sockets to close");
}

Deno.test("interop: against Deno.upgradeWebSocket, text, all 256 byte values and 1 MiB come back, close 1000 is echoed", async () => {
  const closes = await withDenoServer({}, async (port) => {
    const ws = await open(port, { path: "/echo?x=1" });
    assert.equal(ws.header("x-echo-instance"), "deno-serve");
    assert.equal(ws.statusLine, "HTTP/1.1 101 Switching Protocols");
    await ws.send("héllo");
    assert.deepEqual(await ws.receive(), { opcode: OPCODE.text, data: text("héllo") });
    await ws.send(ALL_BYTES);
    assert.deepEqual(await ws.receive(), { opcode: OPCODE.binary, data: ALL_BYTES });
    const big = new Uint8Array(1 << 20).map((_, i) => i * 7 % 251);
    await ws.send(big);
    assert.deepEqual(await ws.receive(), { opcode: OPCODE.binary, data: big });
    assert.equal(await ws.close(1000, "done"), 1000);
    assert.equal(await ws.close(), 1000, "a second close says the same");
  });
  assert.deepEqual(closes.map((e) => [e.code, e.reason, e.wasClean]), [[1000, "done", true]]);
});

Deno.test("interop: the client answers Deno's pings, so Deno (idleTimeout 1 s) keeps the connection past its cut", async () => {
  const closes = await withDenoServer({
    idleTimeout: 1,
    // Deno pings after 0.5 s of quiet and closes 1001 when no pong came by 1 s.
    onSocket: (socket) => socket.onopen = () => setTimeout(() => socket.send("still here"), 1500),
  }, async (port) => {
    const ws = await open(port);
    assert.deepEqual(await ws.receive(), { opcode: OPCODE.text, data: text("still here") });
    assert.equal(await ws.close(), 1000);
  });
  assert.deepEqual(closes.map((e) => e.code), [1000]);
});

Deno.test("interop: a close from Deno's server is echoed and thrown as a WebSocketClosedError with its code", async () => {
  const closes = await withDenoServer({
    onSocket: (socket) => socket.onopen = () => socket.close(4003, "server bye"),
  }, async (port) => {
    const ws = await open(port);
    const error = await ws.receive().catch((caught) => caught);
    assert.ok(error instanceof WebSocketClosedError, String(error));
    assert.deepEqual([error.code, error.reason], [4003, "server bye"]);
    assert.equal(await ws.close(), 4003);
    await assert.rejects(ws.receive(), WebSocketClosedError);
  });
  assert.deepEqual(closes.map((e) => [e.code, e.wasClean]), [[4003, true]]);
});

Deno.test("against our echo: the instance header, masked frames it accepts, a close code echoed", async () => {
  await withWsEchoServer({}, async (server) => {
    const ws = await open(server.port);
    assert.equal(ws.header("X-Echo-Instance"), TEST_INSTANCE);
    // Sent together: the writes queue and the echoes come back in order.
    await Promise.all(["a", "b", "c"].map((word) => ws.send(word)));
    const echoes = [await ws.receive(), await ws.receive(), await ws.receive()];
    assert.deepEqual(echoes.map((m) => new TextDecoder().decode(m.data)), ["a", "b", "c"]);
    assert.equal(await ws.close(4001, "bye"), 4001);
    assert.deepEqual(await server.result(0), { messages: 3, bytes: 3, closeCode: 4001 });
  });
});

/** A scripted server: reads the request head, then `answer(conn, key, rest)` plays the server. */
function handshakeThen(
  answer: (conn: Deno.Conn, key: string, rest: Uint8Array) => Promise<void>,
): (conn: Deno.Conn) => Promise<void> {
  return async (conn) => {
    const { head, rest } = await readHead(conn);
    const key = head.match(/^sec-websocket-key: (\S+)\r$/im)?.[1] ?? "";
    await answer(conn, key, rest);
  };
}

/** The error `connectWebSocket` fails with against `peer`. */
async function handshakeError(peer: (conn: Deno.Conn) => Promise<void>, timeoutMs?: number) {
  let error: unknown;
  await withFakeServer(peer, async (port) => {
    error = await open(port, { timeoutMs }).then(
      () => assert.fail("connected"),
      (caught) => caught,
    );
  });
  return error;
}

Deno.test("the request is a version 13 upgrade with a fresh 16-byte key each time", async () => {
  const heads: string[] = [];
  const peer = handshakeThen(async (conn, key) => {
    heads.push(key);
    await writeAll(conn, await upgradeResponse(key));
  });
  await withFakeServer(async (conn) => {
    const { head } = await readHead(conn);
    heads.push(head);
  }, async (port) => {
    await open(port, { timeoutMs: 200 }).catch(() => {});
  });
  assert.match(heads[0], /^GET \/ HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\nUpgrade: websocket\r\n/);
  assert.match(heads[0], /\r\nConnection: Upgrade\r\nSec-WebSocket-Key: [A-Za-z0-9+/]{22}==\r\n/);
  assert.match(heads[0], /\r\nSec-WebSocket-Version: 13\r\n\r\n$/);
  await withFakeServer(peer, async (port) => {
    for (let i = 0; i < 3; i++) await (await open(port, { timeoutMs: 500 })).close();
  });
  assert.equal(new Set(heads.slice(1)).size, 3);
});

Deno.test("a handshake answered with another status, a wrong accept key or an extension fails, naming why", async () => {
  const refused = await handshakeError(async (conn) => {
    await readHead(conn);
    await writeAll(conn, text("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"));
  });
  assert.ok(refused instanceof WebSocketHandshakeError);
  assert.equal(
    refused.message,
    'WebSocket upgrade refused: the server answered "HTTP/1.1 404 Not Found"',
  );
  const wrongKey = await handshakeError(async (conn) => {
    await readHead(conn);
    await writeAll(conn, await upgradeResponse("dGhlIHNhbXBsZSBub25jZQ=="));
  });
  assert.ok(wrongKey instanceof WebSocketHandshakeError);
  assert.match(wrongKey.message, /Sec-WebSocket-Accept does not match the key/);
  const extension = await handshakeError(handshakeThen(async (conn, key) => {
    await writeAll(
      conn,
      await upgradeResponse(key, { "Sec-WebSocket-Extensions": "permessage-deflate" }),
    );
  }));
  assert.ok(extension instanceof WebSocketHandshakeError);
  assert.match(extension.message, /chose an extension/);
});

Deno.test("a server that ends the connection or says nothing fails the handshake, or times out", async () => {
  const ended = await handshakeError(async (conn) => void await readHead(conn));
  assert.ok(ended instanceof WebSocketHandshakeError);
  assert.equal(ended.message, "connection ended after 0 bytes of an HTTP head");
  const silent = await handshakeError(async (conn) => {
    await readHead(conn);
    await conn.read(new Uint8Array(1)); // until the client gives up
  }, 200);
  assert.ok(silent instanceof TimeoutError);
  assert.equal(silent.message, "no WebSocket handshake within 0.2 s");
});

Deno.test("frames that came with the 101 are read first, and a masked server frame is closed with 1002", async () => {
  const sentBack: Uint8Array[] = [];
  await withFakeServer(
    handshakeThen(async (conn, key) => {
      const head = await upgradeResponse(key);
      await writeAll(
        conn,
        concat([
          head,
          encodeFrame(OPCODE.text, text("with the head")),
          encodeFrame(OPCODE.text, text("masked"), {
            mask: true,
          }),
        ]),
      );
      const reader = new FrameReader(conn, { expectMasked: true });
      for (let frame; (frame = await reader.readFrame()) !== null;) sentBack.push(frame.payload);
    }),
    async (port) => {
      const ws = await open(port);
      assert.deepEqual(await ws.receive(), { opcode: OPCODE.text, data: text("with the head") });
      const error = await ws.receive().catch((caught) => caught);
      assert.ok(error instanceof WebSocketProtocolError);
      assert.equal(error.closeCode, 1002);
      assert.equal(await ws.close(), 1002, "closed by the client, with the code it sent");
    },
  );
  assert.deepEqual(sentBack.map(parseClose), [{
    code: 1002,
    reason: "masked frame from a server",
  }]);
});

Deno.test("a server that ends without a close frame is a WebSocketClosedError 1006", async () => {
  await withFakeServer(
    handshakeThen(async (conn, key) => {
      await writeAll(conn, await upgradeResponse(key));
    }),
    async (port) => {
      const ws = await open(port);
      const error = await ws.receive().catch((caught) => caught);
      assert.ok(error instanceof WebSocketClosedError);
      assert.equal(error.code, 1006);
    },
  );
});
