import assert from "node:assert/strict";
import { bench, type BenchReport } from "./bench.ts";
import { missedThresholds, parseThresholds } from "./expect.ts";
import { LatencyHistogram } from "./latency.ts";
import { jsonStream } from "./stream.ts";
import { writeAll } from "../net/io.ts";
import { serve } from "../server.ts";
import {
  testCertificate,
  withFakeServer,
  withServer,
  withSocketPath,
  withTlsServer,
} from "../cli/test_util.ts";

const pair = await testCertificate();

Deno.test("bench leaves the warm-up out of the count and the figures", async () => {
  let echoed = 0;
  await withServer({ onData: (_, chunk) => void (echoed += chunk.length) }, async ({ addr }) => {
    const report = await bench({
      hostname: "127.0.0.1",
      port: addr.port,
      connections: 2,
      count: 50,
      warmupMs: 200,
    });
    assert.equal(report.operations, 50);
    assert.equal(report.latencyMs?.count, 50);
    assert.equal(report.warmupMs, 200);
  });
  // The warm-up's round trips reached the server too.
  assert.ok(echoed > 50 * 64, `server echoed ${echoed} bytes`);
});

Deno.test("bench merges latencies from every worker into one histogram", async () => {
  await withServer({}, async ({ addr }) => {
    const report = await bench({
      hostname: "127.0.0.1",
      port: addr.port,
      connections: 3,
      workers: 3,
      count: 90,
    });
    assert.equal(report.latencyMs?.count, 90);
    assert.ok(report.latencyMs!.p50 <= report.latencyMs!.p999);
  });
});

Deno.test("bench --rate sends no faster than its schedule", async () => {
  await withServer({}, async ({ addr }) => {
    const report = await bench({
      hostname: "127.0.0.1",
      port: addr.port,
      connections: 2,
      durationMs: 500,
      rate: 100,
    });
    // 100/s for 0.5 s is 50 slots; as fast as possible would be thousands.
    assert.ok(report.operations > 0 && report.operations <= 50, `${report.operations} sent`);
    assert.equal(report.rate?.offered, 100);
  });
});

Deno.test("bench --rate paces connections in connect mode too", async () => {
  let opened = 0;
  await withServer({ onConnection: () => void opened++ }, async ({ addr }) => {
    const report = await bench({
      hostname: "127.0.0.1",
      port: addr.port,
      mode: "connect",
      connections: 2,
      durationMs: 300,
      rate: 100,
    });
    assert.ok(report.operations > 0 && report.operations <= 30, `${report.operations} made`);
  });
  assert.ok(opened <= 30, `${opened} connections opened`);
});

Deno.test("bench --rate counts latency from when a send was due, so a stall shows", async () => {
  // Echoes at once, except that the 10th message waits 300 ms.
  await withFakeServer(async (conn) => {
    const buffer = new Uint8Array(64);
    for (let n, seen = 0; (n = await conn.read(buffer)) !== null;) {
      if (++seen === 10) await new Promise((resolve) => setTimeout(resolve, 300));
      await writeAll(conn, buffer.subarray(0, n));
    }
  }, async (port) => {
    const report = await bench({ hostname: "127.0.0.1", port, durationMs: 1000, rate: 100 });
    // The 20 slots due in the 200 ms before the stall ended all waited 100 ms or more:
    // with about 100 round trips, a fifth of them. Timed from when each went out,
    // only the stalled one would.
    assert.ok(report.latencyMs!.p90 >= 100, `p90 ${report.latencyMs!.p90} ms`);
    assert.ok(report.latencyMs!.max >= 300, `max ${report.latencyMs!.max} ms`);
  });
});

Deno.test("bench refuses a rate for bulk", async () => {
  await assert.rejects(
    () => bench({ hostname: "127.0.0.1", mode: "bulk", rate: 10 }),
    RangeError,
  );
});

Deno.test("a latency histogram keeps 3 significant digits over its whole range", () => {
  const histogram = new LatencyHistogram();
  const values = [0, 1, 2047, 2048, 4097, 123_456, 60_000_000, LatencyHistogram.LARGEST];
  for (const us of values) {
    histogram.record(us);
    const index = LatencyHistogram.indexOf(us);
    const highest = LatencyHistogram.highestOf(index);
    assert.ok(highest >= us && highest <= us * 1.001, `${us} µs reads as ${highest}`);
    assert.equal(LatencyHistogram.indexOf(highest), index);
    assert.equal(LatencyHistogram.indexOf(highest + 1), index + 1);
  }
  assert.equal(histogram.valueAt(0), 0);
  assert.equal(histogram.valueAt(50), 2049); // 2048's bucket: 2048 and 2049
  assert.equal(histogram.valueAt(100), LatencyHistogram.LARGEST);
});

Deno.test("latency histograms merge exactly, also after crossing a thread boundary", () => {
  const [a, b] = [new LatencyHistogram(), new LatencyHistogram()];
  for (let us = 1; us <= 1000; us++) (us % 2 ? a : b).record(us);
  const merged = LatencyHistogram.from(structuredClone(a));
  merged.merge(LatencyHistogram.from(structuredClone(b)));
  assert.deepEqual(merged.summary(), {
    min: 0.001,
    p50: 0.5,
    p90: 0.9,
    p99: 0.99,
    p999: 0.999,
    max: 1,
    count: 1000,
  });
});

const REPORT: BenchReport = {
  mode: "pingpong",
  target: "127.0.0.1:4321",
  connections: 1,
  size: 64,
  workers: 1,
  elapsedMs: 1000,
  operations: 5000,
  bytes: 320_000,
  operationsPerSecond: 5000,
  megabytesPerSecond: 0.32,
  latencyMs: { min: 0.1, p50: 0.2, p90: 0.5, p99: 4, p999: 9, max: 12, count: 5000 },
  warmupMs: 0,
  rate: null,
};

Deno.test("--expect thresholds hold or are named with the figure that missed", () => {
  const check = (spec: string) => missedThresholds(parseThresholds(spec), REPORT);
  assert.deepEqual(check("p99<5ms,rate>1000,errors=0,p99.9<=9000us,max<1s"), []);
  assert.deepEqual(check("p99<3ms, rate>=6000"), [
    "p99<3ms (p99 was 4.000 ms)",
    "rate>=6000 (rate was 5000)",
  ]);
  assert.deepEqual(check("shortfall<5"), ["shortfall<5 (no such figure in a pingpong run)"]);
});

Deno.test("--expect rejects what it cannot read", () => {
  for (
    const [spec, message] of [
      ["p99", /not FIGURE<NUMBER/],
      ["p42<1ms", /unknown figure "p42"/],
      ["rate>10ms", /unit "ms" in "rate>10ms": expected none/],
      ["p99<5h", /expected us, ms or s/],
    ] as const
  ) {
    assert.throws(() => parseThresholds(spec), (error: Error) => message.test(error.message));
  }
});

Deno.test("--json-stream writes each interval's own figures, then the report", () => {
  const lines: string[] = [];
  const stream = jsonStream((line) => lines.push(line));
  stream.interval({ elapsedMs: 1000, operations: 100, bytes: 6400 });
  stream.interval({ elapsedMs: 2000, operations: 300, bytes: 19200 });
  stream.end(REPORT);
  const events = lines.map((line) => JSON.parse(line));
  assert.deepEqual(events[1], {
    event: "interval",
    data: {
      start: 1,
      end: 2,
      operations: 200,
      bytes: 12800,
      operationsPerSecond: 200,
      megabytesPerSecond: 0.0128,
    },
  });
  assert.deepEqual(events[2], { event: "end", data: REPORT });
});

Deno.test("tls: bench --rate and --warmup pace and measure a TLS load", async () => {
  await withTlsServer({}, async (port) => {
    const report = await bench({
      hostname: "127.0.0.1",
      port,
      connections: 2,
      durationMs: 500,
      warmupMs: 100,
      rate: 100,
      tls: { pin: pair.fingerprint },
    });
    // 100/s for 0.5 s is 50 slots; as fast as possible would be thousands.
    assert.ok(report.operations > 0 && report.operations <= 50, `${report.operations} sent`);
    assert.deepEqual([report.rate?.offered, report.warmupMs], [100, 100]);
    assert.equal(report.latencyMs?.count, report.operations);
  });
});

Deno.test("unix: bench --rate paces a Unix socket load", async () => {
  await withSocketPath(async (path) => {
    const server = await serve({ path });
    try {
      const report = await bench({
        hostname: "",
        path,
        connections: 2,
        durationMs: 500,
        rate: 100,
      });
      // 100/s for 0.5 s is 50 slots; as fast as possible would be thousands.
      assert.ok(report.operations > 0 && report.operations <= 50, `${report.operations} sent`);
      assert.equal(report.latencyMs?.count, report.operations);
    } finally {
      await server.shutdown({ graceMs: 0 });
    }
  });
});
