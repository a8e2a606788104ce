import assert from "node:assert/strict";
import { bench } from "./bench.ts";
import { ClosedEarlyError, MismatchError, TimeoutError } from "../errors.ts";
import { writeAll } from "../io.ts";
import { readToEnd, withFakeServer, withServer } from "../test_util.ts";

Deno.test("bench pingpong completes exactly the counted round trips, all verified", async () => {
  let echoed = 0;
  await withServer({ onData: (_, chunk) => void (echoed += chunk.length) }, async ({ addr }) => {
    const report = await bench({
      hostname: "127.0.0.1",
      port: addr.port,
      connections: 3,
      size: 100,
      count: 300,
    });
    assert.equal(report.operations, 300);
    assert.equal(report.bytes, 30_000);
    assert.equal(report.target, `127.0.0.1:${addr.port}`);
    assert.ok(report.latencyMs !== null && report.latencyMs.min <= report.latencyMs.p99);
  });
  assert.equal(echoed, 30_000);
});

Deno.test("bench bulk streams and verifies every byte written", async () => {
  await withServer({}, async ({ addr }) => {
    const report = await bench({
      hostname: "127.0.0.1",
      port: addr.port,
      mode: "bulk",
      connections: 2,
      size: 100_000,
      count: 40,
    });
    assert.equal(report.operations, 40);
    assert.equal(report.bytes, 4_000_000);
    assert.equal(report.latencyMs, null);
  });
});

Deno.test("bench connect opens one connection per counted echo", async () => {
  let opened = 0;
  await withServer({ onConnection: () => void opened++ }, async ({ addr }) => {
    const report = await bench({
      hostname: "127.0.0.1",
      port: addr.port,
      mode: "connect",
      connections: 2,
      count: 50,
    });
    assert.equal(report.operations, 50);
  });
  assert.equal(opened, 50);
});

Deno.test("bench spreads its load over worker threads", async () => {
  let opened = 0;
  await withServer({ onConnection: () => void opened++ }, async ({ addr }) => {
    const report = await bench({
      hostname: "127.0.0.1",
      port: addr.port,
      connections: 4,
      workers: 2,
      count: 101,
    });
    assert.deepEqual([report.workers, report.operations, report.bytes], [2, 101, 101 * 64]);
  });
  assert.equal(opened, 4);
});

Deno.test("bench reports a corrupted echo as MismatchError, also from a worker", async () => {
  await withFakeServer(async (conn) => {
    const buffer = new Uint8Array(64);
    for (let n; (n = await conn.read(buffer)) !== null;) {
      buffer[0] ^= 1;
      await writeAll(conn, buffer.subarray(0, n));
    }
  }, async (port) => {
    for (const workers of [1, 2]) {
      await assert.rejects(
        () => bench({ hostname: "127.0.0.1", port, connections: 2, workers, count: 10 }),
        (error) => error instanceof MismatchError && error.offset === 0,
      );
    }
  });
});

Deno.test("bench reports a server that closes mid-message as ClosedEarlyError", async () => {
  await withFakeServer(async (conn) => {
    await conn.read(new Uint8Array(10));
  }, async (port) => {
    await assert.rejects(
      () => bench({ hostname: "127.0.0.1", port, size: 1000, count: 5 }),
      ClosedEarlyError,
    );
  });
});

Deno.test("bench stops by itself when the server stops answering", async () => {
  await withFakeServer(async (conn) => void await readToEnd(conn), async (port) => {
    await assert.rejects(
      () => bench({ hostname: "127.0.0.1", port, durationMs: 50, overrunMs: 100 }),
      TimeoutError,
    );
  });
});
