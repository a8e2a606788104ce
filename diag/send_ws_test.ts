/**
 * `sendWs` and `wsExchange`: a verified echo against our WebSocket echo
 * (net/http/ws_echo.ts) and against Deno's own (`Deno.upgradeWebSocket`,
 * over wss:// with a pinned certificate); a wrong byte, a close 1009, a
 * refused upgrade; a probe series on one WebSocket that ends with the
 * closing handshake.
 */
import assert from "node:assert/strict";
import { ClosedEarlyError } from "../net/errors.ts";
import { WebSocketHandshakeError } from "../net/http/websocket.ts";
import { pattern, testCertificate } from "../cli/test_util.ts";
import { withHttpStub } from "../cli/test_util_http_stub.ts";
import { ALL_BYTES, TEST_INSTANCE, withWsEchoServer } from "../cli/test_util_ws.ts";
import { EchoMismatchError } from "./echo.ts";
import { patternPayload } from "./payload.ts";
import { type ProbeResult, probeSeries } from "./probe.ts";
import { sendWs, wsExchange } from "./send_ws.ts";

const pair = await testCertificate();

/** `Deno.serve` answering upgrades with Deno's WebSocket, echoing each message through `change`. */
function denoWebSocketEcho(change: (data: Uint8Array) => Uint8Array = (data) => data) {
  return (req: Request) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.binaryType = "arraybuffer";
    socket.onmessage = ({ data }) => socket.send(change(new Uint8Array(data as ArrayBuffer)));
    response.headers.set("X-Echo-Instance", "deno-ws");
    return response;
  };
}
const quiet = { onListen() {} };

Deno.test("sendWs gets all 256 byte values back from our WebSocket echo, names it, closes 1000", async () => {
  await withWsEchoServer({}, async (server) => {
    const result = await sendWs({ url: `ws://127.0.0.1:${server.port}/any`, message: ALL_BYTES });
    assert.deepEqual(
      [result.echo, result.instance, result.closeCode, result.statusLine],
      [ALL_BYTES, TEST_INSTANCE, 1000, "HTTP/1.1 101 Switching Protocols"],
    );
    assert.equal((await server.result(0)).closeCode, 1000);
  });
});

Deno.test("sendWs over wss:// to Deno's own WebSocket, the certificate pinned", async () => {
  const { cert, key } = pair;
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, ...quiet },
    denoWebSocketEcho(),
  );
  const message = pattern(1 << 20);
  const result = await sendWs({
    url: `wss://localhost:${server.addr.port}/`,
    message,
    tls: { pin: pair.fingerprint },
    resolve: () => Promise.resolve(["127.0.0.1"]),
  });
  assert.deepEqual([result.echo.length, result.instance, result.tls?.alpn], [
    message.length,
    "deno-ws",
    "http/1.1",
  ]);
});

Deno.test("a wrong byte in the echoed message is a mismatch at its offset", async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, ...quiet },
    denoWebSocketEcho((data) => data.map((byte, i) => i === 5 ? byte ^ 1 : byte)),
  );
  await assert.rejects(
    sendWs({ url: `ws://127.0.0.1:${server.addr.port}/`, message: pattern(10) }),
    (error) => error instanceof EchoMismatchError && error.offset === 5,
  );
});

Deno.test("a close instead of the echo is closed early with the server's code", async () => {
  await withWsEchoServer({ maxMessageBytes: 10 }, async (server) => {
    await assert.rejects(
      sendWs({ url: `ws://127.0.0.1:${server.port}/`, message: pattern(11) }),
      (error) =>
        error instanceof ClosedEarlyError &&
        /: the server closed the WebSocket with 1009 .* after echoing 0 of 11 bytes$/.test(
          error.message,
        ),
    );
  });
});

Deno.test("an HTTP server that does not upgrade is a WebSocketHandshakeError", async () => {
  await withHttpStub({}, async (stub) => {
    await assert.rejects(
      sendWs({ url: `ws://127.0.0.1:${stub.port}/` }),
      (error) =>
        error instanceof WebSocketHandshakeError &&
        /answered "HTTP\/1\.1 200 OK"/.test(error.message),
    );
  });
});

Deno.test("a series over one WebSocket: the upgrade timed once, every probe named, a clean close", async () => {
  await withWsEchoServer({}, async (server) => {
    const probes: ProbeResult[] = [];
    const summary = await probeSeries({
      target: { hostname: "127.0.0.1", port: server.port },
      payload: patternPayload(70_000),
      count: 4,
      intervalMs: 0,
      exchange: wsExchange({ host: `127.0.0.1:${server.port}` }),
      onProbe: (probe) => probes.push(probe),
    });
    assert.deepEqual([summary.echoed, summary.failed], [4, 0]);
    assert.deepEqual(probes.map((p) => [p.connection, p.instance, p.upgradeMs !== undefined]), [
      [1, TEST_INSTANCE, true],
      [1, TEST_INSTANCE, false],
      [1, TEST_INSTANCE, false],
      [1, TEST_INSTANCE, false],
    ]);
    assert.equal(summary.spread?.perRequest.instances[0].count, 4);
    const served = await server.result(0);
    assert.equal(served.closeCode, 1000, "the series ends with the closing handshake");
  });
});

Deno.test("a WebSocket the server closed while it idled is reopened for the next probe", async () => {
  // Deno's WebSocket echoes one message, then closes as going away (1001).
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, ...quiet }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onmessage = ({ data }) => {
      socket.send(data);
      socket.close(1001, "idle");
    };
    return response;
  });
  const probes: ProbeResult[] = [];
  const summary = await probeSeries({
    target: { hostname: "127.0.0.1", port: server.addr.port },
    payload: patternPayload(100),
    count: 3,
    intervalMs: 50,
    exchange: wsExchange({ host: "deno" }),
    onProbe: (probe) => probes.push(probe),
  });
  assert.deepEqual([summary.echoed, summary.failed], [3, 0]);
  assert.deepEqual(probes.map((p) => [p.connection, p.upgradeMs !== undefined]), [
    [1, true],
    [2, true],
    [3, true],
  ]);
});
