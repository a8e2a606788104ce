import assert from "node:assert/strict";
import fc from "fast-check";
import { Histogram, type LatencySummary } from "./histogram.ts";
import { decodeHistogram, encodeHistogram } from "./histogram_codec.ts";

/** Runs per property: each case records up to 200 values into histograms of 264 KiB. */
const RUNS = 200;

const HOUR_NS = 3_600_000_000_000;
/** Latencies as the engine records them: fractional ns, mostly short, some long. */
const latency = fc.oneof(
  fc.double({ min: 0, max: 2 ** 31, noNaN: true }),
  fc.double({ min: 2 ** 31, max: HOUR_NS, noNaN: true }),
  fc.integer({ min: 0, max: 4096 }),
);
const latencies = fc.array(latency, { maxLength: 200 });

function recorded(values: number[]): Histogram {
  const histogram = new Histogram();
  values.forEach((value) => histogram.record(value));
  return histogram;
}

/** Everything a reader sees: the counts and the figures derived from them. */
function figures(histogram: Histogram) {
  return {
    counts: [...histogram.counts],
    total: histogram.totalCount,
    min: histogram.min,
    max: histogram.max,
    percentiles: [0, 50, 90, 99, 99.9, 100].map((p) => histogram.valueAtPercentile(p)),
  };
}

Deno.test("a histogram counts 1 ns to an hour in HdrHistogram's geometry at 3 digits", () => {
  const histogram = new Histogram();
  assert.deepEqual(
    [histogram.subBucketCount, histogram.bucketCount, histogram.counts.length],
    [2048, 32, 33_792],
  );
  // Exact below 2,048; then a slot 2^k wide for values in [1024·2^k, 2048·2^k).
  for (const [value, lowest, highest] of [[0, 0, 0], [2047, 2047, 2047], [2048, 2048, 2049]]) {
    assert.deepEqual([histogram.lowestEquivalent(value), histogram.highestEquivalent(value)], [
      lowest,
      highest,
    ]);
  }
  assert.equal(histogram.highestEquivalent(123_456_789), 123_469_823); // as Java's getMaxValue
  assert.equal(histogram.highestEquivalent(HOUR_NS), 3_601_330_077_695); // Java's too
  histogram.record(HOUR_NS * 10); // beyond the range: counts as its top
  assert.equal(histogram.max, 4_398_046_511_103);
});

Deno.test("a histogram reports nearest-rank percentiles as the reference does", () => {
  // 10 to 1,000 µs, shuffled: the top of each value's slot, in ms.
  const values = Array.from({ length: 100 }, (_, i) => (((i * 37) % 100) + 1) * 10_000);
  const top = (ns: number) => new Histogram().highestEquivalent(ns) / 1e6;
  assert.deepEqual(
    recorded(values).summary(),
    {
      min: 0.01,
      p50: top(500_000),
      p90: top(900_000),
      p99: top(990_000),
      p999: top(1_000_000),
      max: top(1_000_000),
      count: 100,
    } satisfies LatencySummary,
  );
  // 3,000, 3,001, 3,002 and 12,345 ns: p100 is the top of 12,345's slot, not 12,345.
  const four = recorded([3000, 3001, 3002, 12_345]);
  assert.deepEqual(
    [0, 50, 75, 100].map((p) => four.valueAtPercentile(p)),
    [3000, 3001, 3003, 12_351],
  );
  assert.equal(recorded([]).summary(), null);
});

Deno.test("a histogram crosses a thread boundary as its plain fields", () => {
  const histogram = recorded([5, 70_000, 3e9]);
  const copy = Histogram.from(structuredClone(histogram));
  assert.deepEqual(figures(copy), figures(histogram));
  // The worker source carries the class as text: it must stand on its own.
  const rebuilt = new Function(`return (${Histogram.toString()})`)() as typeof Histogram;
  const inWorker = new rebuilt();
  [5, 70_000, 3e9].forEach((value) => inWorker.record(value));
  assert.deepEqual([...inWorker.counts], [...histogram.counts]);
});

Deno.test("a drained interval leaves the histogram empty and adds back exactly", () => {
  const interval = recorded([1, 2, 2, 5000, 7e9]);
  const before = figures(interval);
  const sparse = interval.drain();
  assert.deepEqual(figures(interval), figures(new Histogram()));
  const total = new Histogram();
  total.addSparse(sparse);
  assert.deepEqual(figures(total), before);
});

Deno.test("histograms of different geometry refuse to add", () => {
  assert.throws(
    () => new Histogram().add(new Histogram(1000, HOUR_NS, 2)),
    /different geometry do not add up exactly \(1000\.\.3600000000000 at 2 digits, not 1\.\.3600000000000 at 3 digits\)/,
  );
  assert.throws(() => new Histogram(0), RangeError);
  assert.throws(() => new Histogram(1, 1), RangeError);
  assert.throws(() => new Histogram(1, HOUR_NS, 6), RangeError);
});

Deno.test(`property (${RUNS} runs): each percentile is within 0.1 % above its nearest-rank value`, () => {
  fc.assert(
    fc.property(latencies.filter((values) => values.length > 0), (values) => {
      const histogram = recorded(values);
      const sorted = values.map(Math.trunc).sort((a, b) => a - b);
      for (const p of [0, 1, 50, 90, 99, 99.9, 100]) {
        const exact = sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
        const read = histogram.valueAtPercentile(p);
        if (p === 0) {
          // The bottom of the least value's slot: at most 0.1 % below.
          assert.ok(read <= exact && exact - read <= exact / 1024, `p0 ${read} for ${exact}`);
        } else {
          assert.ok(read >= exact && read - exact < Math.max(1, exact / 1024), `p${p} ${read}`);
        }
        if (exact < 2048) assert.equal(read, exact, `exact below 2048 ns (p${p})`);
      }
      assert.equal(histogram.totalCount, values.length);
    }),
    { numRuns: RUNS },
  );
});

Deno.test(`property (${RUNS} runs): adding two histograms equals recording both`, () => {
  fc.assert(
    fc.property(latencies, latencies, (a, b) => {
      const merged = recorded(a);
      merged.add(recorded(b));
      assert.deepEqual(figures(merged), figures(recorded([...a, ...b])));
    }),
    { numRuns: RUNS },
  );
});

Deno.test(`property (${RUNS} runs): decoding the V2 compressed encoding gives the histogram back`, () => {
  fc.assert(
    fc.property(latencies, fc.integer({ min: 1, max: 2 ** 40 }), (values, weight) => {
      const histogram = recorded(values);
      // Large counts too: they take more bytes of LEB128.
      if (values.length > 0) histogram.addAt(histogram.indexOf(Math.trunc(values[0])), weight);
      assert.deepEqual(figures(decodeHistogram(encodeHistogram(histogram))), figures(histogram));
    }),
    { numRuns: RUNS },
  );
});
