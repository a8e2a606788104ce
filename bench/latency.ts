/**
 * Latency histograms for `sockecho bench`: HDR histograms (the layout of
 * HdrHistogram at 3 significant digits) of round-trip times in whole
 * microseconds. Memory stays the same however long a run lasts (176 KiB),
 * recording is a few integer operations, and histograms from several
 * worker threads merge exactly by adding their counts.
 *
 * The class is self-contained (it refers to nothing outside itself), so the
 * load engine's worker source can carry its text; a histogram crosses a
 * worker boundary as its plain fields and {@linkcode LatencyHistogram.from}
 * makes it whole again.
 *
 * @example
 * ```ts
 * import { LatencyHistogram } from "./latency.ts";
 *
 * const histogram = new LatencyHistogram();
 * histogram.record(250); // µs
 * console.log(histogram.summary()?.p99); // 0.25 (ms)
 * ```
 *
 * @module
 */

/** Latency percentiles in ms. */
export interface LatencySummary {
  min: number;
  p50: number;
  p90: number;
  p99: number;
  /** The 99.9th percentile. */
  p999: number;
  max: number;
  /** How many latencies were recorded. */
  count: number;
}

/**
 * Counts of values in µs: exact below 2,048 µs, then 1,024 buckets per
 * power of two, so any value is reported at most 0.1 % above what was
 * recorded (as HdrHistogram with 3 significant digits). Values are kept up
 * to 2³¹ − 1 µs (35 minutes); anything longer counts as that.
 */
export class LatencyHistogram {
  /** Values below this are counted exactly. */
  static readonly EXACT_BELOW = 2048;
  /** Buckets per power of two above EXACT_BELOW. */
  static readonly HALF = 1024;
  /** The largest value kept, 2³¹ − 1 µs. */
  static readonly LARGEST = 0x7fffffff;

  counts: Float64Array = new Float64Array(
    LatencyHistogram.EXACT_BELOW + 20 * LatencyHistogram.HALF,
  );
  total = 0;
  min = Infinity;
  max = 0;

  /**
   * A histogram made whole from its plain fields, as they arrive from
   * another thread.
   *
   * @example
   * ```ts
   * import { LatencyHistogram } from "./latency.ts";
   *
   * const copy = LatencyHistogram.from(structuredClone(new LatencyHistogram()));
   * ```
   */
  static from(fields: Pick<LatencyHistogram, "counts" | "total" | "min" | "max">) {
    return Object.assign(new LatencyHistogram(), fields);
  }

  /** Counts one value in µs (rounded, and negative ones as 0). */
  record(us: number): void {
    const value = Math.min(Math.max(0, Math.round(us)), LatencyHistogram.LARGEST);
    this.counts[LatencyHistogram.indexOf(value)]++;
    this.total++;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  /** Adds every count of `other` to this one. */
  merge(other: LatencyHistogram): void {
    for (let i = 0; i < other.counts.length; i++) this.counts[i] += other.counts[i];
    this.total += other.total;
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
  }

  /**
   * The value at `percentile` (0–100) in µs: the highest value of the
   * bucket where that rank falls, at most the largest value recorded.
   */
  valueAt(percentile: number): number {
    // The tolerance keeps 99.9 % of 1,000 at rank 999 despite binary fractions.
    const rank = Math.max(1, Math.ceil((percentile / 100) * this.total - 1e-9));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(LatencyHistogram.highestOf(i), this.max);
    }
    return this.max;
  }

  /** Percentiles in ms; null when nothing was recorded. */
  summary(): LatencySummary | null {
    if (this.total === 0) return null;
    const ms = (us: number) => us / 1000;
    return {
      min: ms(this.min),
      p50: ms(this.valueAt(50)),
      p90: ms(this.valueAt(90)),
      p99: ms(this.valueAt(99)),
      p999: ms(this.valueAt(99.9)),
      max: ms(this.max),
      count: this.total,
    };
  }

  /** The bucket of a whole value from 0 to LARGEST. */
  static indexOf(value: number): number {
    const { EXACT_BELOW, HALF } = LatencyHistogram;
    if (value < EXACT_BELOW) return value;
    // 2^(shift + 11) <= value < 2^(shift + 12): keep the top 11 bits.
    const shift = 31 - Math.clz32(value) - 10;
    return EXACT_BELOW + (shift - 1) * HALF + ((value >>> shift) - HALF);
  }

  /** The highest value that falls in bucket `index`. */
  static highestOf(index: number): number {
    const { EXACT_BELOW, HALF } = LatencyHistogram;
    if (index < EXACT_BELOW) return index;
    const shift = Math.floor((index - EXACT_BELOW) / HALF) + 1;
    const top = ((index - EXACT_BELOW) % HALF) + HALF;
    return (top + 1) * 2 ** shift - 1;
  }
}
