import assert from "node:assert/strict";
import { bench } from "./bench.ts";
import { LatencyHistogram } from "./latency.ts";
import type { BenchProgress } from "./share.ts";
import { ClosedEarlyError, MismatchError, TimeoutError, TlsVerifyError } from "../net/errors.ts";
import { writeAll } from "../net/io.ts";
import { serve } from "../server.ts";
import {
  readExactly,
  readToEnd,
  testCertificate,
  withFakeServer,
  withResettingServer,
  withServer,
  withSocketPath,
  withTlsServer,
} from "../cli/test_util.ts";

const pair = await testCertificate();

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
    const latency = report.latencyMs!;
    const values = [latency.min, latency.p50, latency.p90, latency.p99, latency.max];
    // Loopback round trips: positive, ordered, and well under the 30 s a stall would show.
    assert.ok(latency.min > 0, `min ${latency.min}`);
    assert.deepEqual(values, values.toSorted((a, b) => a - b));
    assert.ok(latency.max < 30_000, `max ${latency.max}`);
    assert.ok(report.elapsedMs >= latency.max, "no round trip outlasts the run");
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

Deno.test("bench latency percentiles are nearest-rank over every thread's histogram", () => {
  // Values below 2,048 µs are counted exactly, so nearest rank gives the sample itself.
  const summaryOf = (...parts: number[][]) => {
    const merged = new LatencyHistogram();
    for (const part of parts) {
      const histogram = new LatencyHistogram();
      part.forEach((us) => histogram.record(us));
      merged.merge(histogram);
    }
    return merged.summary();
  };
  // 10..1000 µs (0.01..1 ms), shuffled and split unevenly over two threads.
  const all = Array.from({ length: 100 }, (_, i) => (((i * 37) % 100) + 1) * 10);
  assert.deepEqual(summaryOf(all.slice(0, 30), all.slice(30)), {
    min: 0.01,
    p50: 0.5,
    p90: 0.9,
    p99: 0.99,
    p999: 1,
    max: 1,
    count: 100,
  });
  assert.deepEqual(summaryOf([7]), {
    min: 0.007,
    p50: 0.007,
    p90: 0.007,
    p99: 0.007,
    p999: 0.007,
    max: 0.007,
    count: 1,
  });
  // Ten samples: p50 is the 5th, p90 the 9th, p99 the 10th; ordered as numbers, not text.
  const ten = [1000, 90, 800, 20, 700, 300, 600, 400, 500, 100];
  assert.deepEqual(summaryOf(ten), {
    min: 0.02,
    p50: 0.4,
    p90: 0.8,
    p99: 1,
    p999: 1,
    max: 1,
    count: 10,
  });
  assert.equal(summaryOf([]), null);
});

Deno.test("bench reports a server that resets as ClosedEarlyError, also from a worker", async () => {
  await withResettingServer(async (port) => {
    for (const [mode, workers] of [["pingpong", 1], ["pingpong", 2], ["connect", 1]] as const) {
      await assert.rejects(
        () => bench({ hostname: "127.0.0.1", port, mode, connections: 2, workers, count: 10 }),
        (error) =>
          error instanceof ClosedEarlyError && error.expected === 64 &&
          error.message === `127.0.0.1:${port} failed (connection reset by peer) ` +
              "after echoing 0 of 64 bytes",
        `${mode}, ${workers} worker(s)`,
      );
    }
    await assert.rejects(
      () => bench({ hostname: "127.0.0.1", port, mode: "bulk", size: 1000, count: 5 }),
      (error) =>
        error instanceof ClosedEarlyError &&
        /^127\.0\.0\.1:\d+ failed \((connection reset by peer|broken pipe)\) after echoing 0 of \d+ bytes$/
          .test(error.message),
    );
  });
});

Deno.test("bench progress adds up every worker's totals", async () => {
  const ROUND_TRIPS = 10;
  // Each connection gets 10 echoes, then no answer: both workers stop at 10, and
  // a progress line that showed worker 0 alone would never reach 20.
  await withFakeServer(async (conn) => {
    for (let i = 0; i < ROUND_TRIPS; i++) await writeAll(conn, await readExactly(conn, 64));
    await readToEnd(conn);
  }, async (port) => {
    const progress: BenchProgress[] = [];
    await assert.rejects(
      () =>
        bench({
          hostname: "127.0.0.1",
          port,
          connections: 2,
          workers: 2,
          durationMs: 2500,
          overrunMs: 1000,
          onProgress: (p) => progress.push(p),
        }),
      TimeoutError,
    );
    assert.ok(progress.length >= 2, `${progress.length} progress reports`);
    // By the last report each worker has reported its 10 at least once.
    assert.deepEqual(
      { operations: progress.at(-1)!.operations, bytes: progress.at(-1)!.bytes },
      { operations: 2 * ROUND_TRIPS, bytes: 2 * ROUND_TRIPS * 64 },
    );
  });
});

Deno.test("tls: bench loads a TLS server, pinned or with --ca, verifying every byte", async () => {
  await withTlsServer({}, async (port) => {
    for (const tls of [{ pin: pair.fingerprint }, { ca: [pair.cert] }, { insecure: true }]) {
      const report = await bench({ hostname: "127.0.0.1", port, count: 50, connections: 2, tls });
      assert.equal(report.operations, 50);
      assert.equal(report.bytes, 50 * 64);
    }
    await assert.rejects(
      () => bench({ hostname: "127.0.0.1", port, count: 1, tls: {} }),
      TlsVerifyError,
    );
  });
});

Deno.test("unix: bench loads a Unix socket server, verifying every byte", async () => {
  await withSocketPath(async (path) => {
    const server = await serve({ path });
    try {
      const report = await bench({ hostname: "", path, count: 40, connections: 2, workers: 2 });
      assert.equal(report.target, path);
      assert.equal(report.operations, 40);
      assert.equal(report.bytes, 40 * 64);
    } finally {
      await server.shutdown({ graceMs: 0 });
    }
  });
});

Deno.test("unix: bench reports a server that resets as ClosedEarlyError naming the socket", async () => {
  await withSocketPath(async (path) => {
    const listener = Deno.listen({ transport: "unix", path });
    // Closing with bytes still unread resets the client's side of a Unix stream socket.
    const resetting = (async () => {
      const conn = await listener.accept();
      await conn.read(new Uint8Array(1));
      conn.close();
    })();
    try {
      await assert.rejects(
        () => bench({ hostname: "", path, count: 5, durationMs: 5000 }),
        (error) =>
          error instanceof ClosedEarlyError &&
          error.message === `${path} failed (connection reset by peer) after echoing 0 of 64 bytes`,
      );
    } finally {
      listener.close();
      await resetting;
    }
  });
});
