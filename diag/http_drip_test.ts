import assert from "node:assert/strict";
import { dripEcho } from "./http_drip.ts";
import { EchoMismatchError } from "./echo.ts";
import { dialTcp } from "../net/dial.ts";
import { HttpStatusError } from "../net/http/client.ts";
import { httpHandler } from "../net/http/handler.ts";
import { closeQuietly } from "../net/io.ts";
import { withServer } from "../cli/test_util.ts";
import { withHttpStub } from "../cli/test_util_http_stub.ts";
import { withHttpProxy } from "../cli/test_util_http_proxy.ts";

const handler = httpHandler({ instance: "drip-1" });
const drip = { chunks: 3, intervalMs: 150, timeoutMs: 3000 };

async function dripTo(port: number, path = "/") {
  const conn = await dialTcp({ hostname: "127.0.0.1", port }, AbortSignal.timeout(2000));
  try {
    return await dripEcho(conn, { host: `127.0.0.1:${port}`, path }, drip);
  } finally {
    closeQuietly(conn);
  }
}

Deno.test("a dripped body to sockecho's raw echo streams: echoed before the last chunk is sent", async () => {
  await withServer({ handler }, async ({ addr }) => {
    const result = await dripTo(addr.port);
    assert.equal(result.mode, "streams");
    assert.equal(result.bytes, 3 * 1024);
    assert.ok(result.firstByteMs < 150, `first byte at ${result.firstByteMs} ms`);
    assert.ok(result.lastChunkMs >= 300, `last chunk at ${result.lastChunkMs} ms`);
    assert.equal(result.keepAlive, true);
  });
});

Deno.test("through a proxy that reads requests whole, the same drip buffers", async () => {
  await withServer({ handler }, async ({ addr }) => {
    await withHttpProxy(addr.port, { bufferRequests: true }, async (port) => {
      const result = await dripTo(port);
      assert.equal(result.mode, "buffers");
      assert.ok(result.headMs >= result.lastChunkMs, "even the head waited for the whole body");
      assert.equal(result.bytes, 3 * 1024);
    });
  });
});

Deno.test("a dripped echo with a byte changed is a mismatch with a hex view", async () => {
  await withServer({ handler }, async ({ addr }) => {
    // The raw echo is chunked like the request: after "400\r\n", byte 10 of the first chunk.
    await withHttpProxy(addr.port, { corruptBodyByte: 5 + 10 }, async (port) => {
      await assert.rejects(dripTo(port), (error: Error) => {
        assert.ok(error instanceof EchoMismatchError, error.message);
        assert.equal(
          error.message,
          "echo differs from what was sent at byte 10: sent 0x0a, got 0xf5",
        );
        assert.equal(
          error.view,
          "sent  00000002  02 03 04 05 06 07 08 09 [0a] 0b 0c 0d 0e 0f 10 11\n" +
            "got   00000002  02 03 04 05 06 07 08 09 [f5] 0b 0c 0d 0e 0f 10 11",
        );
        return true;
      });
    });
  });
});

Deno.test("a dripped body answered with an error status is an HttpStatusError", async () => {
  await withHttpStub({}, async (stub) => {
    await assert.rejects(dripTo(stub.port, "/?status=503"), HttpStatusError);
  });
});
