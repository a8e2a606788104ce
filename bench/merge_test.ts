import assert from "node:assert/strict";
import { bench, type BenchReport } from "./bench.ts";
import { Histogram } from "./histogram.ts";
import { decodeHistogram, encodeHistogram } from "./histogram_codec.ts";
import { mergeReports, parseReport } from "./merge.ts";
import { shardOf, splitShare } from "./workers.ts";
import type { LoadShare } from "./share.ts";
import { EXIT } from "../main.ts";
import { runMain, withServer } from "../cli/test_util.ts";

const WHOLE: LoadShare = {
  mode: "pingpong",
  hostname: "127.0.0.1",
  port: 4321,
  connections: 7,
  size: 64,
  rate: 700,
  warmupMs: 0,
  overrunMs: 5000,
};

Deno.test("shards and their workers send every arrival of the one schedule, each once", () => {
  for (const [shards, workers] of [[1, 1], [1, 3], [3, 1], [3, 2], [7, 1]]) {
    const sent: number[] = [];
    for (let index = 0; index < shards; index++) {
      for (const part of splitShare(shardOf(WHOLE, { index, count: shards }), workers)) {
        const { first, step, stride } = part.arrivals!;
        // Connection j's slots: arrivals first + step·j, then every stride-th, below 70.
        for (let j = 0; j < part.connections; j++) {
          for (let i = first + step * j; i < 70; i += stride) sent.push(i);
        }
      }
    }
    assert.deepEqual(
      sent.sort((a, b) => a - b),
      Array.from({ length: 70 }, (_, i) => i),
      `${shards} shards × ${workers} workers`,
    );
  }
  assert.throws(() => shardOf(WHOLE, { index: 0, count: 8 }), /8 shards need at least/);
});

/** Three shards of one load run side by side here, as three machines would. */
async function threeShards(port: number): Promise<BenchReport[]> {
  const startAt = Date.now() + 300;
  return await Promise.all([0, 1, 2].map((index) =>
    bench({
      hostname: "127.0.0.1",
      port,
      connections: 3,
      durationMs: 500,
      rate: 300,
      startAt,
      shard: { index, count: 3 },
    })
  ));
}

Deno.test("merge adds shards' histograms exactly and sums their counters", async () => {
  await withServer({}, async ({ addr }) => {
    const shards = await threeShards(addr.port);
    const merged = mergeReports(
      shards.map((report, i) => parseReport(JSON.stringify(report), `shard-${i}.json`)),
    );
    // 300/s for 0.5 s is 150 sends, 50 per shard, whatever the machine's speed.
    assert.deepEqual(shards.map((report) => report.operations), [50, 50, 50]);
    assert.equal(merged.operations, 150);
    assert.equal(merged.rate?.offered, 300);
    const sum = new Histogram();
    shards.forEach((report) => sum.add(decodeHistogram(report.histogram!)));
    assert.deepEqual([...decodeHistogram(merged.histogram!).counts], [...sum.counts]);
    assert.deepEqual(merged.latencyMs, sum.summary());
    const measured = merged.intervals.filter((interval) => interval.phase === "measure");
    assert.equal(measured.reduce((total, i) => total + i.operations, 0), 150);
    assert.deepEqual(
      merged.parts.map((part) => part.file),
      [0, 1, 2].map((i) => `shard-${i}.json`),
    );
  });
});

Deno.test("sockecho merge prints a row per shard and the total, and judges --expect on it", async () => {
  await withServer({}, async ({ addr }) => {
    const dir = await Deno.makeTempDir();
    try {
      const files = await Promise.all((await threeShards(addr.port)).map(async (report, i) => {
        const file = `${dir}/shard-${i}.json`;
        await Deno.writeTextFile(file, JSON.stringify(report));
        return file;
      }));
      const table = await runMain(["merge", ...files, "--expect", "rate>0"]);
      assert.equal(table.code, EXIT.ok, table.err.join("\n"));
      assert.match(table.out[0], /^shard +operations +per s +p50 ms/);
      assert.deepEqual(table.out.slice(1, 4).map((row) => row.split(/ +/)[0]), [
        "0/3",
        "1/3",
        "2/3",
      ]);
      assert.match(table.out[4], /^total +150 /);
      const json = await runMain(["merge", ...files, "--json", "--expect", "p99<1us"]);
      assert.equal(json.code, EXIT.threshold);
      assert.match(json.err[0], /^merge missed --expect p99<1us \(p99 was [\d.]+ ms\)$/);
      const merged = JSON.parse(json.out.join("\n"));
      assert.deepEqual([merged.operations, merged.command[0], merged.parts.length], [
        150,
        "merge",
        3,
      ]);
      // A shard that failed wrote no report: the merge says which are missing.
      const partial = await runMain(["merge", files[0], files[2]]);
      assert.deepEqual(partial, {
        code: EXIT.badReport,
        out: [],
        err: ["cannot merge: shard 1 of 3 missing (a shard that failed writes no report)"],
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("merge refuses a cut, foreign or mismatched report with one line naming the file", () => {
  // The smallest whole report, and variations of it.
  const base = JSON.parse(
    '{"mode":"pingpong","target":"127.0.0.1:4321","connections":1,"size":64,"workers":1,' +
      '"elapsedMs":1000,"operations":1,"bytes":64,"operationsPerSecond":1,"megabytesPerSecond":0,' +
      '"latencyMs":null,"intervals":[],"startTimeMs":0,"shard":null,"warmupMs":0,"rate":null}',
  );
  const report = (fields: Partial<BenchReport>): string =>
    JSON.stringify({ ...base, histogram: encodeHistogram(new Histogram()), ...fields });
  const good = parseReport(report({}), "good.json");
  const refusal = (text: string, file = "bad.json") => {
    try {
      mergeReports([good, parseReport(text, file)]);
    } catch (error) {
      return (error as Error).message;
    }
    return "merged";
  };
  assert.match(
    refusal(report({}).slice(0, 50)),
    /^cannot merge bad\.json: not JSON, or cut short \(/,
  );
  assert.equal(
    refusal('{"metrics": {}}'),
    'cannot merge bad.json: not a sockecho bench --json report (no "mode" in it)',
  );
  assert.equal(
    refusal(report({ histogram: encodeHistogram(new Histogram()).slice(0, -8) })),
    "cannot merge bad.json: a histogram in it does not decode: truncated: 28 of 33 compressed bytes",
  );
  assert.equal(
    refusal(report({ histogram: encodeHistogram(new Histogram(1000, 3_600_000_000_000, 2)) })),
    "cannot merge bad.json: its histogram's geometry (1000..3600000000000 at 2 digits) differs " +
      "from good.json's (1..3600000000000 at 3 digits): they cannot be added exactly",
  );
  assert.equal(
    refusal(report({ mode: "connect" })),
    "cannot merge bad.json: a connect run of 64 B, not pingpong of 64 B like good.json",
  );
  assert.equal(
    refusal(report({ protocol: "http" })),
    "cannot merge bad.json: a run over http, not tcp like good.json",
  );
  assert.equal(
    refusal(report({ shard: { index: 0, count: 2 } })),
    "cannot merge bad.json: a shard of 2, not no shard like good.json",
  );
  const shard = (index: number, file: string) =>
    parseReport(report({ shard: { index, count: 2 } }), file);
  assert.throws(
    () => mergeReports([shard(1, "a.json"), shard(1, "b.json")]),
    /^ReportFileError: cannot merge b\.json: shard 1 of 2 again \(also a\.json\)$/,
  );
  assert.equal(refusal(report({})), "merged");
});

Deno.test("merge adds the errors HTTP shards counted and keeps their URL", () => {
  const shard = (index: number, errors: BenchReport["errors"]) =>
    parseReport(
      JSON.stringify({
        mode: "pingpong",
        protocol: "http",
        url: "http://echo.test/",
        target: "127.0.0.1:4321",
        connections: 1,
        size: 64,
        workers: 1,
        elapsedMs: 1000,
        operations: 10,
        bytes: 640,
        warmupMs: 0,
        startTimeMs: 0,
        histogram: encodeHistogram(new Histogram()),
        intervals: [],
        shard: { index, count: 2 },
        rate: null,
        errors,
      }),
      `shard-${index}.json`,
    );
  const merged = mergeReports([
    shard(0, { count: 3, closed: 1, status: { "503": 2 } }),
    shard(1, { count: 2, closed: 0, status: { "503": 1, "429": 1 } }),
  ]);
  assert.deepEqual(
    [merged.protocol, merged.url, merged.errors],
    ["http", "http://echo.test/", { count: 5, closed: 1, status: { "503": 3, "429": 1 } }],
  );
});

Deno.test("sockecho merge names a file it cannot read, and needs a FILE", async () => {
  assert.deepEqual(await runMain(["merge", "/nonexistent/shard-0.json"]), {
    code: EXIT.badReport,
    out: [],
    err: ["cannot read /nonexistent/shard-0.json: no such file"],
  });
  const none = await runMain(["merge"]);
  assert.deepEqual([none.code, none.err], [EXIT.usage, [
    "merge needs at least one FILE (try: sockecho merge --help)",
  ]]);
});
