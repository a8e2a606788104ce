/**
 * The spread's statistics: shares and percentiles per instance, the
 * imbalance figures, and the chi-square survival function against the
 * tables' critical values and against closed forms (fast-check: for even
 * degrees of freedom Q is a finite sum, for df 2 a plain exponential).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { chiSquarePValue, nearestRank, regularizedUpperGamma, spreadOf } from "./spread.ts";

/** Whether `actual` is within a relative `tolerance` of `expected`. */
function near(actual: number, expected: number, tolerance = 1e-9): boolean {
  return Math.abs(actual - expected) <= tolerance * Math.max(Math.abs(expected), 1e-300);
}

Deno.test("chi-square p-values match the tables' critical values", () => {
  const table: [number, number, number][] = [
    // [statistic, df, p]: the 5 % and 1 % points, and exact values.
    [3.841458820694124, 1, 0.05],
    [6.634896601021214, 1, 0.01],
    [5.991464547107979, 2, 0.05],
    [7.814727903251178, 3, 0.05],
    [11.070497693516351, 5, 0.05],
    [18.307038053275146, 10, 0.05],
    [124.34211340400407, 100, 0.05],
    [1, 1, 0.31731050786291415],
    [10, 3, 0.018566135463043],
  ];
  for (const [statistic, df, p] of table) {
    const got = chiSquarePValue(statistic, df);
    assert.ok(near(got, p, 1e-8), `chi2=${statistic}, df=${df}: ${got}, not ${p}`);
  }
  assert.ok(near(chiSquarePValue(3.84, 1), 0.05004352124870519, 1e-8));
});

Deno.test("chi-square p is 1 at 0, falls toward 0 far out, and df 0 is certain", () => {
  for (const df of [1, 2, 7, 50]) assert.equal(chiSquarePValue(0, df), 1);
  assert.ok(chiSquarePValue(1000, 10) < 1e-200);
  assert.ok(chiSquarePValue(1000, 10) >= 0);
  assert.deepEqual([chiSquarePValue(0, 0), chiSquarePValue(2, 0)], [1, 0]);
  assert.throws(() => regularizedUpperGamma(0, 1), RangeError);
});

Deno.test("property: Q(k, x) for whole k is e^-x times the first k terms of e^x", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 60 }),
      fc.double({ min: 0, max: 200, noNaN: true }),
      (k, x) => {
        let term = 1;
        let sum = 1;
        for (let j = 1; j < k; j++) sum += term *= x / j;
        const expected = Math.exp(-x) * sum;
        const got = regularizedUpperGamma(k, x);
        // Relative error where Q is not tiny; absolute where it underflows.
        assert.ok(
          near(got, expected, 1e-9) || Math.abs(got - expected) < 1e-280,
          `Q(${k}, ${x}) = ${got}, not ${expected}`,
        );
      },
    ),
    { numRuns: 5000 },
  );
});

Deno.test("property: p falls as the statistic grows, and stays in [0, 1]", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 200 }),
      fc.double({ min: 0, max: 500, noNaN: true }),
      fc.double({ min: 0, max: 50, noNaN: true }),
      (df, statistic, more) => {
        const p = chiSquarePValue(statistic, df);
        assert.ok(p >= 0 && p <= 1);
        assert.ok(chiSquarePValue(statistic + more, df) <= p + 1e-12);
      },
    ),
    { numRuns: 5000 },
  );
});

Deno.test("spreadOf counts, shares and percentiles each instance, names in natural order", () => {
  const samples = [
    ...[5, 1, 3].map((ms) => ({ instance: "web-10", ms })),
    ...[2, 4].map((ms) => ({ instance: "web-2", ms })),
    { instance: "web-1", ms: 7 },
  ];
  const { total, instances, imbalance } = spreadOf(samples);
  assert.equal(total, 6);
  assert.deepEqual(instances, [
    { instance: "web-1", count: 1, share: 1 / 6, p50: 7, p99: 7 },
    { instance: "web-2", count: 2, share: 2 / 6, p50: 2, p99: 4 },
    { instance: "web-10", count: 3, share: 3 / 6, p50: 3, p99: 5 },
  ]);
  // Expected 2 each: (1-2)²/2 + 0 + (3-2)²/2 = 1, with 2 df: p = e^-0.5.
  assert.deepEqual({ ...imbalance!, pValue: 0 }, {
    maxMinShare: 3,
    chiSquare: 1,
    degreesOfFreedom: 2,
    pValue: 0,
  });
  assert.ok(near(imbalance!.pValue, Math.exp(-0.5)));
});

Deno.test("an exactly even spread has p 1; one instance has no imbalance figure", () => {
  const even = spreadOf(["a", "b", "c", "a", "b", "c"].map((instance) => ({ instance, ms: 1 })));
  assert.deepEqual(even.imbalance, {
    maxMinShare: 1,
    chiSquare: 0,
    degreesOfFreedom: 2,
    pValue: 1,
  });
  const sticky = spreadOf([{ instance: "a", ms: 1 }, { instance: "a", ms: 2 }]);
  assert.deepEqual([sticky.instances.length, sticky.imbalance], [1, undefined]);
  assert.deepEqual(spreadOf([]), { total: 0, instances: [] });
});

Deno.test("a skewed spread is told apart from an even one", () => {
  const skewed = spreadOf([
    ...Array(90).fill("a"),
    ...Array(10).fill("b"),
  ].map((instance) => ({ instance, ms: 1 })));
  assert.equal(skewed.imbalance!.maxMinShare, 9);
  assert.ok(skewed.imbalance!.pValue < 1e-10);
});

Deno.test("nearestRank takes the ceiling rank", () => {
  assert.deepEqual([0.5, 0.9, 0.99, 1].map((p) => nearestRank([1, 2, 3, 4], p)), [2, 4, 4, 4]);
});
