import assert from "node:assert/strict";
import type { BenchReport } from "./bench.ts";
import { Histogram } from "./histogram.ts";
import { encodeHistogram } from "./histogram_codec.ts";
import { parseReport } from "./merge.ts";
import { percentileSteps, renderReport, type ReportRun } from "./report.ts";
import { markup } from "./report_svg.ts";

/** A histogram of `values` (ns). */
function recorded(values: number[]): Histogram {
  const histogram = new Histogram();
  values.forEach((value) => histogram.record(value));
  return histogram;
}

/** Lognormal-ish latencies around 200 µs with a tail, the same every time. */
function latencies(count: number, seed = 1): number[] {
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  return Array.from({ length: count }, () =>
    Math.exp(
      Math.log(200_000) + 0.7 * Math.sqrt(-2 * Math.log(random())) *
          Math.cos(2 * Math.PI * random()),
    ));
}

/** A whole pingpong report of `histogram`, each field overridable. */
function reportOf(
  histogram: Histogram | null,
  fields: Partial<ReportRun["report"]> = {},
): ReportRun["report"] {
  const second = (n: number): BenchReport["intervals"][0] => ({
    phase: "measure",
    startMs: 1_000 * n,
    endMs: 1_000 * (n + 1),
    operations: 1000 + n,
    bytes: 64_000,
    operationsPerSecond: 1000 + n,
    megabytesPerSecond: 0.064,
    latencyMs: histogram?.summary() ?? null,
    histogram: null,
  });
  return {
    mode: "pingpong",
    target: "127.0.0.1:4321",
    connections: 2,
    size: 64,
    workers: 1,
    elapsedMs: 3000,
    operations: histogram?.totalCount ?? 3000,
    bytes: 64 * 3000,
    operationsPerSecond: 1000,
    megabytesPerSecond: 0.064,
    latencyMs: histogram?.summary() ?? null,
    histogram: histogram && encodeHistogram(histogram),
    intervals: [0, 1, 2].map(second),
    startTimeMs: 0,
    shard: null,
    warmupMs: 0,
    rate: null,
    ...fields,
  };
}

/** Each polyline of the percentile plot: its data-points and its points as [x, y]. */
function curves(page: string): { declared: number; points: number[][] }[] {
  return [...page.matchAll(/<polyline class="run" [^>]*data-points="(\d+)"[^>]* points="([^"]*)"/g)]
    .map(([, declared, points]) => ({
      declared: Number(declared),
      points: points === "" ? [] : points.split(" ").map((pair) => pair.split(",").map(Number)),
    }));
}

Deno.test("percentile steps are HdrHistogram's: 5 per half distance to 100 %, then 100 %", () => {
  const steps = percentileSteps(recorded([1000, 2000, 3000, 4000]));
  // 25 % at 1,000 ns passes 0, 10, 20; 50 % at 2,000 passes 30 to 50, then ticks halve to 5…
  // (above 2,047 ns a slot is 2 ns wide: 3,000 is counted as its top, 3,001)
  assert.deepEqual(steps.map((step) => [step.percentile, step.valueNs]), [
    [0, 1000],
    [10, 1000],
    [20, 1000],
    [30, 2000],
    [40, 2000],
    [50, 2000],
    [55, 3001],
    [60, 3001],
    [65, 3001],
    [70, 3001],
    [75, 3001],
    [77.5, 4001],
    [100, 4001],
  ]);
  assert.deepEqual(percentileSteps(new Histogram()), []);
  // One value: the first level, then 100 %.
  assert.deepEqual(percentileSteps(recorded([5000])).map((step) => step.percentile), [0, 100]);
  // More ticks per half distance, more steps; levels always rise.
  const histogram = recorded(latencies(20_000));
  const [five, ten] = [percentileSteps(histogram), percentileSteps(histogram, 10)];
  assert.ok(ten.length > 1.8 * five.length, `${five.length} and ${ten.length} steps`);
  for (const steps of [five, ten]) {
    for (let i = 1; i < steps.length; i++) {
      assert.ok(steps[i].percentile > steps[i - 1].percentile);
      assert.ok(steps[i].valueNs >= steps[i - 1].valueNs);
    }
    assert.equal(steps.at(-1)!.valueNs, histogram.max);
  }
});

Deno.test("the percentile plot has its labels and one point per step below 100 %", () => {
  const histograms = [recorded(latencies(50_000)), recorded(latencies(500, 7))];
  const page = renderReport(
    histograms.map((histogram, i) => ({ name: `run ${i}`, report: reportOf(histogram) })),
  );
  const labels = [...page.matchAll(/<g class="tick-x" data-percentile="([^"]+)"/g)].map((m) =>
    m[1]
  );
  // 50,000 values reach past 99.99 %: the axis goes to the next decade, 99.999 %.
  assert.deepEqual(labels, ["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"]);
  const drawn = curves(page);
  assert.equal(drawn.length, 2);
  drawn.forEach(({ declared, points }, i) => {
    const below100 = percentileSteps(histograms[i]).filter((step) => step.percentile < 100);
    assert.equal(declared, below100.length);
    assert.equal(points.length, below100.length);
  });
  // A small run still gets the axis to 99.9 %.
  const small = renderReport([{ name: "few", report: reportOf(recorded([1e5, 2e5, 3e5])) }]);
  assert.match(small, /data-percentile="99\.9%"/);
  assert.doesNotMatch(small, /data-percentile="99\.99%"/);
});

Deno.test("x positions rise on the log scale and sit on their labels; y rises with latency", () => {
  const histogram = recorded(latencies(100_000, 3));
  const page = renderReport([{ name: "a", report: reportOf(histogram) }]);
  const [{ points }] = curves(page);
  const steps = percentileSteps(histogram);
  for (let i = 1; i < points.length; i++) {
    assert.ok(
      points[i][0] > points[i - 1][0],
      `x at step ${i}: ${points[i - 1]} then ${points[i]}`,
    );
    assert.ok(points[i][1] <= points[i - 1][1], `y at step ${i}`); // SVG's y grows downwards
  }
  const tickX = (label: string) =>
    Number(
      page.match(new RegExp(`data-percentile="${label}"><line class="grid" x1="([\\d.]+)"`))![1],
    );
  for (const [label, level] of [["0%", 0], ["50%", 50], ["90%", 90]] as const) {
    const at = steps.findIndex((step) => Math.abs(step.percentile - level) < 1e-9);
    assert.ok(at >= 0, `a step at ${level} %`);
    assert.ok(Math.abs(points[at][0] - tickX(label)) <= 0.1, `${label}: ${points[at][0]}`);
  }
  // Decades are evenly spaced: 1/(1−p) is on a log scale (99 % is not a step: 98.90625, 99.0625).
  const [d0, d1, d2, d3] = ["0%", "90%", "99%", "99.9%"].map(tickX);
  assert.ok(Math.abs((d1 - d0) - (d2 - d1)) < 0.2 && Math.abs((d2 - d1) - (d3 - d2)) < 0.2);
});

Deno.test("every text from a report is escaped: a hostile run renders as text", () => {
  const hostile = "<script>alert(1)</script>";
  const page = renderReport([{
    name: hostile,
    report: reportOf(recorded([1e5, 2e5]), {
      target: '"><img src=x onerror=alert(2)>',
      mode: "<b>pingpong</b>" as BenchReport["mode"],
      command: ["bench", "</code><script>alert(3)</script>", "it's"],
      machine: { "<i>host</i>": "<iframe src=//example.com>", cpus: 2 },
      parts: [{ file: "<svg onload=alert(4)>", command: ["<x>"] }],
      shard: { index: "<u>0</u>", count: 1 } as unknown as BenchReport["shard"],
    }),
  }], { title: "</title><script>alert(5)</script>" });
  for (
    const tag of ["<script", "<img", "<iframe", "<svg onload", "<b>pingpong", "<i>", "<u>", "<x>"]
  ) {
    assert.ok(!page.includes(tag), `${tag} got through`);
  }
  assert.ok(page.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
  // The command reads back in a shell: quoted where it must be.
  assert.ok(
    page.includes("sockecho bench &#39;&lt;/code&gt;&lt;script&gt;alert(3)&lt;/script&gt;&#39;"),
  );
  assert.ok(page.includes("&#39;it&#39;\\&#39;&#39;s&#39;"));
  assert.equal(markup`${"&"}${markup`<br>`}${["<", null, false, 1]}`.text, "&amp;<br>&lt;1");
});

Deno.test("the page needs nothing from elsewhere and runs no script", () => {
  const page = renderReport([
    { name: "a", report: reportOf(recorded(latencies(2000))) },
    { name: "b", report: reportOf(recorded(latencies(2000, 5))) },
  ]);
  assert.match(page, /^<!DOCTYPE html>\n<html lang="en">/);
  assert.match(page, /<meta http-equiv="Content-Security-Policy" content="default-src 'none';/);
  for (const remote of [/https?:/i, /\/\/[a-z0-9]/i, /url\(/i, /\b(src|href)=/i, /<script/i]) {
    assert.doesNotMatch(page, remote);
  }
  // The style sheet is the one text not escaped: its quotes are CSS's.
  assert.match(page, /<style>[^<]*"Helvetica Neue"[^<]*<\/style>/);
  const colours = [...page.matchAll(/<polyline [^>]*stroke="([^"]+)"/g)].map((m) => m[1]);
  assert.equal(new Set(colours).size, 2);
});

Deno.test("reports without latencies or intervals still render, saying what is missing", () => {
  const bulk = reportOf(null, { mode: "bulk", intervals: [] });
  const page = renderReport([{ name: "bulk", report: bulk }]);
  assert.deepEqual(curves(page), [{ declared: 0, points: [] }]);
  assert.match(page, /no measured interval of a tenth of a second\s+or more/);
  assert.doesNotMatch(page, /class="over-time"/);
  // Bulk with intervals: throughput over time, no p99 chart; a 1 ms last interval is left out.
  const withSeconds = reportOf(null, { mode: "bulk" });
  withSeconds.intervals.push({ ...withSeconds.intervals[2], startMs: 3000, endMs: 3001 });
  const charts = renderReport([{ name: "bulk", report: withSeconds }]);
  assert.equal([...charts.matchAll(/class="over-time"/g)].length, 1);
  assert.equal([...charts.matchAll(/<circle /g)].length, 3);
  // A latency run has both charts; foreign interval entries are skipped, not drawn as NaN.
  const odd = reportOf(recorded([1e5]));
  odd.intervals.push(null as never, { phase: "measure" } as never);
  const both = renderReport([{ name: "one", report: odd }]);
  assert.equal([...both.matchAll(/class="over-time"/g)].length, 2);
  assert.doesNotMatch(both, /NaN|Infinity/);
  assert.doesNotMatch(renderReport([]), /NaN|Infinity/);
});

Deno.test("a merge's report lists the files it was made of, with their commands", () => {
  const part = {
    ...reportOf(recorded([1e5])),
    file: "shard-0.json",
    command: ["bench", "-c", "4"],
  };
  const merged = reportOf(recorded([1e5, 2e5]), {
    command: ["merge", "shard-0.json"],
    machine: { hostname: "loader-1", os: "linux", cpus: 8 },
    parts: [part],
  });
  const page = renderReport([{ name: "merged.json", report: merged }]);
  assert.match(page, /<dt>merged from<\/dt><dd><ul><li><b>shard-0\.json<\/b>/);
  assert.match(page, /<code>sockecho bench -c 4<\/code>/);
  assert.match(page, /<dd>hostname loader-1 · os linux · cpus 8<\/dd>/);
});

Deno.test("a report that merely passes parseReport renders, with dashes for what it lacks", () => {
  // Only the fields parseReport requires, and intervals of the wrong shape.
  const text = '{"mode":"connect","target":"x","connections":1,"size":64,"workers":1,' +
    '"elapsedMs":1000,"operations":1,"bytes":64,"warmupMs":0,"startTimeMs":1e300,' +
    '"histogram":null,"intervals":[{"phase":"measure","startMs":"0","endMs":[],"histogram":null},' +
    '{"phase":"measure","startMs":0,"endMs":5000,"operationsPerSecond":"fast","histogram":null}],' +
    '"rate":{"offered":"many"},"shard":"a","command":"bench","machine":["linux"]}';
  const { report } = parseReport(text, "odd.json", "plot");
  const page = renderReport([{ name: "odd.json", report }]);
  assert.doesNotMatch(page, /NaN|Infinity|undefined|\[object/);
  assert.match(page, /<td>1<\/td><td>–<\/td><td>–<\/td><td>64<\/td>/);
  assert.doesNotMatch(page, /<dt>(command|machine)<\/dt>/);
  assert.throws(
    () => parseReport(text.replace('"intervals":[', '"intervals":[null,'), "odd.json", "plot"),
    /^ReportFileError: cannot plot odd\.json: a histogram in it does not decode/,
  );
});
