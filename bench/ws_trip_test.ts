/**
 * `bench --ws`'s round trips, through `bench()`: against the real
 * `serve --http` WebSocket echo (in-process, on the server's own accept
 * loop), and against a scripted WebSocket server that fragments, pings,
 * corrupts, answers as text or closes.
 */
import assert from "node:assert/strict";
import { bench, type BenchOptions } from "./bench.ts";
import { ClosedEarlyError, MismatchError } from "../net/errors.ts";
import { WebSocketHandshakeError } from "../net/http/websocket.ts";
import { websocketAccept } from "../net/http/websocket.ts";
import { writeAll } from "../net/io.ts";
import { readExactly, withFakeServer } from "../cli/test_util.ts";
import { withHttpServer } from "../cli/test_util_http.ts";

/** `bench` over WebSocket against 127.0.0.1:`port`. */
const loadWs = (port: number, options: Partial<BenchOptions>) =>
  bench({ hostname: "127.0.0.1", port, protocol: "ws", ...options });

const SIZE = 64;

/**
 * A scripted WebSocket server: the handshake, then each 64-byte binary
 * message of the client (one masked frame) unmasked and handed to
 * `answer`, whose frames are written back; `pongs` collects the payloads of
 * the pongs the client sent.
 */
function scriptedServer(
  answer: (payload: Uint8Array, n: number) => Uint8Array[],
  pongs: string[] = [],
): (conn: Deno.Conn) => Promise<void> {
  return async (conn) => {
    let head = "";
    const byte = new Uint8Array(1);
    while (!head.endsWith("\r\n\r\n")) {
      if (await conn.read(byte) === null) return;
      head += String.fromCharCode(byte[0]);
    }
    const key = /sec-websocket-key: *(\S+)/i.exec(head)![1];
    await writeAll(
      conn,
      new TextEncoder().encode(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${await websocketAccept(key)}\r\n\r\n`,
      ),
    );
    for (let n = 1;; n++) {
      const header = await readExactly(conn, 2).catch(() => null);
      if (header === null) return;
      const length = header[1] & 0x7f;
      const [mask, payload] = [await readExactly(conn, 4), await readExactly(conn, length)];
      payload.forEach((_, i) => payload[i] ^= mask[i & 3]);
      if ((header[0] & 0x0f) === 0xa) {
        pongs.push(new TextDecoder().decode(payload));
        n--;
        continue;
      }
      for (const frame of answer(payload, n)) await writeAll(conn, frame);
    }
  };
}

/** An unmasked server frame. */
function frame(first: number, payload: Uint8Array): Uint8Array {
  return new Uint8Array([first, payload.length, ...payload]);
}

Deno.test("bench --ws completes exactly the counted messages against serve --http, all verified", async () => {
  // Small, 16-bit and 64-bit frame lengths.
  for (const size of [64, 1000, 70_000]) {
    await withHttpServer({}, async ({ port, closed }) => {
      const report = await loadWs(port, {
        request: { host: "echo.test", path: "/ws" },
        connections: 3,
        size,
        count: 90,
      });
      assert.deepEqual([report.operations, report.bytes], [90, 90 * size]);
      assert.deepEqual(report.errors, { count: 0, closed: 0, status: {} });
      assert.equal(report.url, "ws://echo.test/ws");
      assert.equal(report.latencyMs?.count, 90);
      assert.ok(closed.length <= 3);
    });
  }
});

Deno.test("bench --ws in workers and in connect mode: a WebSocket per connection", async () => {
  await withHttpServer({}, async ({ port, closed }) => {
    const report = await loadWs(port, {
      connections: 4,
      workers: 2,
      count: 200,
    });
    assert.deepEqual([report.operations, report.workers], [200, 2]);
    const connect = await loadWs(port, {
      mode: "connect",
      connections: 2,
      count: 20,
    });
    assert.equal(connect.operations, 20);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the server's last closes, logged
    assert.ok(closed.length >= 20, `${closed.length} connections closed`);
  });
});

Deno.test("bench --ws answers the server's pings and goes on", async () => {
  await withHttpServer({ webSocket: { pingIntervalMs: 20 } }, async ({ port }) => {
    const report = await loadWs(port, {
      connections: 2,
      durationMs: 300,
      warmupMs: 0,
      rate: 100,
    });
    assert.equal(report.operations, 30);
    assert.equal(report.errors?.count, 0);
  });
  const pongs: string[] = [];
  await withFakeServer(
    scriptedServer((payload, n) => {
      const echo = [frame(0x02, payload.subarray(0, 10)), frame(0x80, payload.subarray(10))];
      // A ping between two fragments of the echo: answered, and the message still joined.
      return n === 2
        ? [echo[0], frame(0x89, new TextEncoder().encode("are you there")), echo[1]]
        : echo;
    }, pongs),
    async (port) => {
      const report = await loadWs(port, { count: 5 });
      assert.equal(report.operations, 5);
    },
  );
  assert.deepEqual(pongs, ["are you there"]);
});

Deno.test("bench --ws catches a corrupted byte, and an echo sent back as text", async () => {
  await withFakeServer(
    scriptedServer((payload, n) => {
      if (n === 3) payload[40] ^= 0x80;
      return [frame(0x82, payload)];
    }),
    async (port) => {
      const error = await loadWs(port, {
        count: 10,
        size: SIZE,
      })
        .catch((error) => error);
      assert.ok(error instanceof MismatchError, String(error));
      assert.equal(error.offset, 2 * SIZE + 40);
    },
  );
  await withFakeServer(
    scriptedServer((payload) => [frame(0x81, payload)]),
    async (port) => {
      const error = await loadWs(port, { count: 1 })
        .catch((error) => error);
      assert.ok(error instanceof MismatchError);
      assert.match(error.message, /^the message sent as binary was echoed as text/);
    },
  );
});

Deno.test("bench --ws counts messages the server closes on, and goes on", async () => {
  // Every 4th message is answered with a close (1011): counted, and a new WebSocket opened.
  await withFakeServer(
    scriptedServer((payload, n) =>
      n === 4 ? [frame(0x88, new Uint8Array([0x03, 0xf3]))] : [frame(0x82, payload)]
    ),
    async (port) => {
      const report = await loadWs(port, { count: 20 });
      assert.deepEqual(report.errors, { count: 5, closed: 5, status: {} });
      assert.equal(report.operations, 15);
    },
  );
  // The real server closes 1009 on a message over --max-ws-message: every one is cut.
  await withHttpServer({ webSocket: { maxMessageBytes: 32 } }, async ({ port }) => {
    const error = await loadWs(port, { count: 4 })
      .catch((error) => error);
    assert.ok(error instanceof ClosedEarlyError, String(error));
    assert.equal(error.message, "not one round trip came back with its echo: 4 cut by the server");
  });
});

Deno.test("bench --ws says why an upgrade failed", async () => {
  await withFakeServer(async (conn) => {
    await readExactly(conn, 1);
    await writeAll(
      conn,
      new TextEncoder().encode("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    );
  }, async (port) => {
    const error = await loadWs(port, { count: 1 })
      .catch((error) => error);
    assert.ok(error instanceof WebSocketHandshakeError, String(error));
    assert.equal(
      error.message,
      "the WebSocket upgrade failed: the server answered 404 (Not Found)",
    );
  });
  await withFakeServer(async (conn) => {
    await readExactly(conn, 1);
    await writeAll(
      conn,
      new TextEncoder().encode(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Accept: c2VjcmV0\r\n\r\n",
      ),
    );
  }, async (port) => {
    const error = await loadWs(port, { count: 1 })
      .catch((error) => error);
    assert.ok(error instanceof WebSocketHandshakeError);
    assert.match(error.message, /Sec-WebSocket-Accept does not match the key$/);
  });
});
