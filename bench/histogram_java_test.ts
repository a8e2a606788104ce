/**
 * The reference implementation as witness: Java's HdrHistogram (Debian's
 * libhdrhistogram-java) decodes what we write to the same figures, its
 * HistogramLogProcessor reads `bench --hlog`'s log (and prints the percentile
 * steps the HTML report draws), and we decode what it writes. Figures are
 * compared, never base64 text (compression differs). `testdata/HdrProbe.java`
 * is launched as a single source file, so it needs a JDK (the compiler), not
 * only a JRE.
 */

import assert from "node:assert/strict";
import { Histogram } from "./histogram.ts";
import { decodeHistogram, encodeHistogram } from "./histogram_codec.ts";
import { formatHlog, javaFixed } from "./hlog.ts";
import { percentileSteps } from "./report.ts";
import type { BenchReport } from "./bench.ts";
import { hasCommand, needs, skipped } from "../cli/test_util_process.ts";
import { EXIT } from "../main.ts";
import { runMain, WAIT_MS, withServer, withTimeout } from "../cli/test_util.ts";

const JAR = "/usr/share/java/hdrhistogram.jar";
const PROBE = new URL("./testdata/HdrProbe.java", import.meta.url).pathname;
const haveJava = await hasCommand("java") && await hasCommand("javac") &&
  await Deno.stat(JAR).then(() => true, () => false);
const needsJava = {
  ignore: !haveJava,
  suffix: skipped(needs(haveJava, "java, javac and libhdrhistogram-java")),
};

/** Runs Java with the jar on the class path, `input` on stdin; resolves with stdout's lines. */
async function java(args: string[], input = ""): Promise<string[]> {
  const child = new Deno.Command("java", {
    args: ["-cp", JAR, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Written while the output is read: a full pipe would stall both sides.
  const output = child.output();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const timer = setTimeout(() => child.kill(), WAIT_MS);
  try {
    const { success, stdout, stderr } = await withTimeout(output, WAIT_MS + 5000, "java");
    assert.ok(success, new TextDecoder().decode(stderr));
    return new TextDecoder().decode(stdout).trimEnd().split("\n");
  } finally {
    clearTimeout(timer);
  }
}

/** The probe's summary line of `histogram`, computed our way. */
function summaryOf(histogram: Histogram): string {
  const percentiles = [0, 50, 90, 99, 99.9, 99.99, 100].map((p) =>
    `p${Number.isInteger(p) ? p.toFixed(1) : p}=${histogram.valueAtPercentile(p)}`
  );
  let [buckets, sum, squares] = [0, 0n, 0n];
  histogram.counts.forEach((count, i) => {
    if (count === 0) return;
    const value = BigInt(histogram.highestEquivalent(histogram.valueFromIndex(i)));
    buckets++;
    sum += value * BigInt(count);
    squares += value * value * BigInt(count);
  });
  return [
    `count=${histogram.totalCount} min=${histogram.min} max=${histogram.max}`,
    ...percentiles,
    `buckets=${buckets} sum=${sum} squares=${squares}`,
  ].join(" ");
}

function recorded(values: Iterable<number>): Histogram {
  const histogram = new Histogram();
  for (const value of values) histogram.record(value);
  return histogram;
}

Deno.test({
  name: "Java's HdrHistogram decodes our histograms to the same figures" + needsJava.suffix,
  ignore: needsJava.ignore,
  async fn() {
    let seed = 1;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const lognormal = () =>
      Math.exp(
        Math.log(200_000) + 0.8 * Math.sqrt(-2 * Math.log(random())) *
            Math.cos(2 * Math.PI * random()),
      );
    const merged = recorded(Array.from({ length: 5000 }, lognormal));
    merged.add(recorded([0, 1, 2047, 2048, 3e9, 3.6e12]));
    const ours = [
      recorded(Array.from({ length: 100_000 }, () => random() * 1e7 + random())),
      recorded(Array.from({ length: 20_000 }, lognormal)),
      recorded([5e9, 60e9, 3.6e12, 7.2e12]), // seconds to past the hour
      new Histogram(),
      merged,
    ];
    // And a real run's, whole and second by second.
    await withServer({}, async ({ addr }) => {
      const { out } = await runMain([
        "bench",
        "127.0.0.1",
        "-p",
        `${addr.port}`,
        "-c",
        "2",
        "-w",
        "2",
        "-d",
        "1.5",
        "--warmup",
        "0",
        "--json",
      ]);
      const report = JSON.parse(out.join("\n"));
      for (
        const text of [
          report.histogram,
          ...report.intervals.map((i: { histogram: string }) => i.histogram),
        ]
      ) {
        ours.push(decodeHistogram(text));
      }
    });
    const lines = ours.map(encodeHistogram);
    assert.deepEqual(await java([PROBE, "decode"], lines.join("\n") + "\n"), ours.map(summaryOf));
  },
});

Deno.test({
  name: "we decode Java's HdrHistogram encodings to the same figures" + needsJava.suffix,
  ignore: needsJava.ignore,
  async fn() {
    const written = (await java([PROBE, "write"])).map((line) => line.split("\t"));
    assert.ok(written.length >= 8, `${written.length} histograms from Java`);
    for (const [name, base64, summary] of written) {
      assert.equal(summaryOf(decodeHistogram(base64)), summary, name);
    }
  },
});

Deno.test({
  name: "HistogramLogProcessor reads bench --hlog's log: count, max and percentiles" +
    needsJava.suffix,
  ignore: needsJava.ignore,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const log = `${dir}/run.hlog`;
      let report: { histogram: string; intervals: { phase: string; operations: number }[] };
      await withServer({}, async ({ addr }) => {
        const run = await runMain([
          "bench",
          "127.0.0.1",
          "-p",
          `${addr.port}`,
          "-d",
          "2",
          "--warmup",
          "1",
          "--rate",
          "400",
          "--hlog",
          log,
          "--json",
        ]);
        assert.equal(run.code, EXIT.ok, run.err.join("\n"));
        report = JSON.parse(run.out.join("\n"));
      });
      const text = await Deno.readTextFile(log);
      assert.match(text, /^#\[Histogram log format version 1\.3\]\n#\[StartTime: \d+\.\d{3} /);
      assert.match(text, /\nTag=warmup,/);
      const processed = (await java(["org.HdrHistogram.HistogramLogProcessor", "-i", log])).join(
        "\n",
      );
      const total = decodeHistogram(report!.histogram);
      const ms = (ns: number) => javaFixed(ns / 1e6, 3);
      const footer = processed.match(/#\[Max += +([\d.]+), Total count += +(\d+)\]/);
      assert.deepEqual(footer?.slice(1), [ms(total.max), String(total.totalCount)], processed);
      for (const p of [50, 90]) {
        const row = processed.match(new RegExp(`^ +([\\d.]+) ${javaFixed(p / 100, 12)} `, "m"));
        assert.equal(row?.[1], ms(total.valueAtPercentile(p)), `p${p}: ${processed}`);
      }
      // The warm-up, by its tag: every latency of it, and none of the measured window.
      const warmup = await java([
        "org.HdrHistogram.HistogramLogProcessor",
        "-i",
        log,
        "-tag",
        "warmup",
      ]);
      const warmed = report!.intervals.filter((i) => i.phase === "warmup")
        .reduce((sum, i) => sum + i.operations, 0);
      assert.match(warmup.join("\n"), new RegExp(`Total count += +${warmed}\\]`));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "we read the histograms of Java's HistogramLogWriter log" + needsJava.suffix,
  ignore: needsJava.ignore,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const log = `${dir}/java.hlog`;
      const summaries = await java([PROBE, "hlog", log]);
      // Interval lines: [Tag=…,]start,length,max,histogram; the rest are comments and the legend.
      const intervals = (await Deno.readTextFile(log)).split("\n")
        .filter((line) => /^(Tag=[^,]*,)?\d/.test(line))
        .map((line) => line.split(","));
      assert.deepEqual(intervals.map((fields) => fields[0].startsWith("Tag=") ? fields[0] : ""), [
        "",
        "Tag=A",
        "",
      ]);
      assert.deepEqual(
        intervals.map((fields) => summaryOf(decodeHistogram(fields.at(-1)!))),
        summaries,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "our percentile steps are HistogramLogProcessor's percentile distribution" +
    needsJava.suffix,
  ignore: needsJava.ignore,
  async fn() {
    let seed = 5;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const cases = [
      recorded(Array.from({ length: 30_000 }, () => 1e5 * Math.exp(2 * random()))),
      recorded(Array.from({ length: 1000 }, () => random() * 1e7)),
      recorded([1000, 2000, 3000, 4000]),
      recorded([250_000]),
      recorded([0, 1, 2047, 2048, 3e9, 3.6e12]),
    ];
    const dir = await Deno.makeTempDir();
    try {
      for (const [i, histogram] of cases.entries()) {
        const log = `${dir}/${i}.hlog`;
        const interval = {
          phase: "measure",
          startMs: 1000,
          endMs: 2000,
          latencyMs: histogram.summary(),
          histogram: encodeHistogram(histogram),
        } as BenchReport["intervals"][0];
        await Deno.writeTextFile(log, formatHlog({ startTimeMs: 0, intervals: [interval] }));
        const printed = await java(["org.HdrHistogram.HistogramLogProcessor", "-i", log]);
        const rows = printed.flatMap((line) => {
          const row = line.match(/^ +([\d.]+) +([\d.]+) +\d+/);
          return row ? [[row[1], row[2]]] : [];
        });
        const ours = percentileSteps(histogram).map((step) => [
          javaFixed(step.valueNs / 1e6, 3),
          javaFixed(step.percentile / 100, 12),
        ]);
        assert.deepEqual(ours, rows, `case ${i}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
