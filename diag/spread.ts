/**
 * How replies spread over the instances behind a load balancer: for each
 * instance its count, share and latency percentiles, and one imbalance
 * figure, the max/min share and a chi-square goodness-of-fit p-value
 * against an even spread, so that "round robin, sticky or skewed?" has a
 * one-line answer. The chi-square survival function is computed here
 * (the regularized upper incomplete gamma function), with no dependency.
 *
 * @example
 * ```ts
 * import { spreadOf } from "./spread.ts";
 *
 * const view = spreadOf([
 *   { instance: "web-1", ms: 1.2 },
 *   { instance: "web-2", ms: 0.9 },
 *   { instance: "web-1", ms: 1.0 },
 * ]);
 * console.log(view.instances.map((i) => `${i.instance} ${i.share}`), view.imbalance?.pValue);
 * ```
 *
 * @module
 */

/** One reply: who sent it and how long it took. */
export interface SpreadSample {
  /** The instance that answered. */
  readonly instance: string;
  /** The reply's time, in ms. */
  readonly ms: number;
}

/** One instance's part of the replies. */
export interface InstanceShare {
  readonly instance: string;
  /** Replies it sent. */
  readonly count: number;
  /** Its part of all replies, 0 to 1. */
  readonly share: number;
  /** Nearest-rank median and 99th percentile of its reply times, in ms. */
  readonly p50: number;
  readonly p99: number;
}

/** How far a spread is from even. */
export interface Imbalance {
  /** The largest share over the smallest (1 when even). */
  readonly maxMinShare: number;
  /** Pearson's chi-square statistic against equal counts. */
  readonly chiSquare: number;
  /** Its degrees of freedom: the instances less one. */
  readonly degreesOfFreedom: number;
  /** The chance of a statistic this large from an even spread (1 for exactly even counts). */
  readonly pValue: number;
}

/** The replies of a series, instance by instance. */
export interface Spread {
  /** Replies counted. */
  readonly total: number;
  /** Each instance that answered, in natural order of their names (web-2 before web-10). */
  readonly instances: InstanceShare[];
  /** Against an even spread over the instances that answered; absent with fewer than two. */
  readonly imbalance?: Imbalance;
}

/**
 * The spread of `samples` over their instances.
 *
 * @example
 * ```ts
 * import { spreadOf } from "./spread.ts";
 *
 * spreadOf([{ instance: "a", ms: 1 }, { instance: "b", ms: 2 }]).imbalance?.pValue; // 1
 * ```
 */
export function spreadOf(samples: readonly SpreadSample[]): Spread {
  const times = new Map<string, number[]>();
  for (const { instance, ms } of samples) {
    const list = times.get(instance) ?? [];
    list.push(ms);
    times.set(instance, list);
  }
  const total = samples.length;
  const instances = [...times].sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }))
    .map(([instance, list]): InstanceShare => {
      const sorted = list.toSorted((a, b) => a - b);
      return {
        instance,
        count: list.length,
        share: list.length / total,
        p50: nearestRank(sorted, 0.5),
        p99: nearestRank(sorted, 0.99),
      };
    });
  if (instances.length < 2) return { total, instances };
  const counts = instances.map((i) => i.count);
  const expected = total / counts.length;
  const chiSquare = counts.reduce((sum, n) => sum + (n - expected) ** 2 / expected, 0);
  const degreesOfFreedom = counts.length - 1;
  return {
    total,
    instances,
    imbalance: {
      maxMinShare: Math.max(...counts) / Math.min(...counts),
      chiSquare,
      degreesOfFreedom,
      pValue: chiSquarePValue(chiSquare, degreesOfFreedom),
    },
  };
}

/**
 * The nearest-rank percentile `p` (0 to 1) of `sorted`, ascending and not empty.
 *
 * @example
 * ```ts
 * import { nearestRank } from "./spread.ts";
 *
 * nearestRank([1, 2, 3, 4], 0.5); // 2
 * ```
 */
export function nearestRank(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
}

/**
 * The chi-square distribution's survival function: the chance that a
 * statistic with `df` degrees of freedom is at least `chiSquare`.
 *
 * @example
 * ```ts
 * import { chiSquarePValue } from "./spread.ts";
 *
 * chiSquarePValue(3.841458820694124, 1); // 0.05
 * ```
 */
export function chiSquarePValue(chiSquare: number, df: number): number {
  if (df <= 0) return chiSquare > 0 ? 0 : 1;
  return regularizedUpperGamma(df / 2, chiSquare / 2);
}

const EPSILON = 1e-15;
const TINY = 1e-300;
const MAX_TERMS = 10_000;

/**
 * Q(a, x) = Γ(a, x) / Γ(a), for a > 0 and x ≥ 0: by its power series below
 * x = a + 1 (where it converges fast) and by Lentz's continued fraction
 * above (where the series would not), as Numerical Recipes does.
 *
 * @example
 * ```ts
 * import { regularizedUpperGamma } from "./spread.ts";
 *
 * regularizedUpperGamma(1, 2); // e^-2 ≈ 0.1353
 * ```
 */
export function regularizedUpperGamma(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) throw new RangeError(`Q(${a}, ${x}) needs a > 0 and x ≥ 0`);
  if (x === 0) return 1;
  const front = Math.exp(-x + a * Math.log(x) - logGamma(a));
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < MAX_TERMS && Math.abs(term) > Math.abs(sum) * EPSILON; n++) {
      term *= x / (a + n);
      sum += term;
    }
    return Math.max(0, 1 - front * sum);
  }
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let fraction = d;
  for (let i = 1; i < MAX_TERMS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const step = d * c;
    fraction *= step;
    if (Math.abs(step - 1) < EPSILON) break;
  }
  return front * fraction;
}

/** Lanczos' coefficients for g = 7, n = 9: ln Γ to about 15 digits. */
const LANCZOS = [
  0.99999999999980993,
  676.5203681218851,
  -1259.1392167224028,
  771.32342877765313,
  -176.61502916214059,
  12.507343278686905,
  -0.13857109526572012,
  9.9843695780195716e-6,
  1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (the reflection formula below one half). */
function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let sum = LANCZOS[0];
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}
