import assert from "node:assert/strict";
import { bench, type BenchReport } from "./bench.ts";
import { missedThresholds, parseThresholds } from "./expect.ts";
import { jsonStream } from "./stream.ts";
import { EXIT, main } from "../main.ts";
import { writeAll } from "../net/io.ts";
import { recorder, runMain, withFakeServer, withServer } from "../cli/testing.ts";

const run = (args: string[]) => runMain(args);

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
  histogram: null,
  intervals: [],
  startTimeMs: 0,
  shard: null,
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

Deno.test("main bench --json-stream prints JSON lines only, the report last", async () => {
  await withServer({}, async ({ addr }) => {
    const args = ["bench", "127.0.0.1", "-p", String(addr.port), "-d", "2.5", "--warmup", "0"];
    const { code, out } = await run([...args, "--json-stream"]);
    assert.equal(code, EXIT.ok);
    const events = out.map((line) => JSON.parse(line));
    assert.ok(events.length >= 2, out.join("\n"));
    assert.ok(events.slice(0, -1).every((event) => event.event === "interval"));
    assert.equal(events.at(-1).event, "end");
    assert.equal(events.at(-1).data.mode, "pingpong");
  });
});

Deno.test("main bench --json-stream cut short by Ctrl+C still ends with the report, marked", async () => {
  const stop = new AbortController();
  // Ctrl+C once the load is running: when the server has echoed its first bytes.
  await withServer({ onData: () => stop.abort() }, async ({ addr }) => {
    const { io, out, err } = recorder(stop.signal);
    const args = ["bench", `127.0.0.1:${addr.port}`, "-d", "30", "--warmup", "0", "--json-stream"];
    const code = await main([...args, "--expect", "p50<0.0001us"], io);
    // Cut short exits 130 even with a threshold missed: its figures are not the whole run.
    assert.deepEqual({ code, err }, { code: EXIT.interrupted, err: [] });
    const end = JSON.parse(out.at(-1)!);
    assert.equal(end.event, "end");
    assert.equal(end.data.cutShort, true);
    assert.ok(end.data.elapsedMs < 30_000);
  });
});

Deno.test("main bench exits 14 naming the --expect threshold it missed", async () => {
  await withServer({}, async ({ addr }) => {
    const args = ["bench", "127.0.0.1", "-p", String(addr.port), "-n", "20", "--warmup", "0"];
    const missed = await run([...args, "--expect", "errors=0,p50<0.0001us"]);
    assert.equal(missed.code, EXIT.threshold);
    assert.match(
      missed.err.join("\n"),
      /^bench missed --expect p50<0\.0001us \(p50 was [\d.]+ ms\)$/,
    );
    assert.match(missed.out[0], /^mode +pingpong$/);
    const met = await run([...args, "--expect", "errors=0,rate>0"]);
    assert.deepEqual([met.code, met.err], [EXIT.ok, []]);
  });
});

Deno.test("main bench rejects bad measuring options with exit code 2", async () => {
  const cases: [string[], string][] = [
    [["--rate", "0"], 'invalid --rate "0": expected a number above 0'],
    [["-m", "bulk", "--rate", "10"], "--rate applies to pingpong and connect, not bulk"],
    [["--warmup=-1"], 'invalid --warmup "-1": expected a number of at least 0'],
    [["--json", "--json-stream"], "--json and --json-stream do not go together: pick one"],
    [["--udp", "--rate", "10"], "--rate applies to TCP, TLS and Unix sockets, not --udp"],
    [["--udp", "--warmup", "1"], "--warmup applies to TCP, TLS and Unix sockets, not --udp"],
    [
      ["--expect", "p99"],
      'invalid --expect: "p99" is not FIGURE<NUMBER (e.g. p99<5ms, rate>=1000)',
    ],
    [
      ["-m", "bulk", "--expect", "p99<1ms"],
      'invalid --expect: bulk measures no latency ("p99<1ms")',
    ],
  ];
  for (const [args, message] of cases) {
    assert.deepEqual(await run(["bench", "127.0.0.1", ...args]), {
      code: EXIT.usage,
      out: [],
      err: [`${message} (try: sockecho bench --help)`],
    });
  }
});
