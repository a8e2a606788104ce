/**
 * Latency histograms for `sockecho bench`, with the geometry of
 * HdrHistogram's `org.HdrHistogram.Histogram`: values in nanoseconds, counted
 * at 3 significant digits from 1 ns to an hour. Memory stays the same however
 * long a run lasts (264 KiB), recording is a few integer operations, and
 * histograms from several threads, intervals or machines add up exactly.
 * What the figures promise:
 *
 * - a value is truncated to whole ns, then counted exactly below 2,048 ns and
 *   in a bucket at most 1/1,024 of its value wide above that;
 * - percentiles and `max` are the top of their bucket, `min` the bottom of
 *   its bucket, as the reference implementation reports them: at most 0.1 %
 *   above (or, for `min`, below) what was recorded;
 * - values above the range (4.4·10¹² ns, 73 minutes) count as its top.
 *
 * The class refers to nothing outside itself, so the load engine's worker
 * source can carry its text (`workers.ts`); a histogram crosses a worker
 * boundary as its plain fields, and {@linkcode Histogram.from} makes it whole
 * again. Its V2 encoding, which every HdrHistogram port reads, is in
 * `histogram_codec.ts`.
 *
 * @example
 * ```ts
 * import { Histogram } from "./histogram.ts";
 *
 * const histogram = new Histogram();
 * histogram.record(250_000); // ns
 * console.log(histogram.summary()?.p99); // 0.250111 (ms: the top of 250,000's bucket)
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

/** The non-zero counts of a histogram as `[index, count, index, count, …]`, indexes rising. */
export type SparseCounts = number[];

/** What a histogram is made of: its geometry's three numbers and its counts. */
export type HistogramFields = Pick<
  Histogram,
  | "lowestDiscernibleValue"
  | "highestTrackableValue"
  | "significantDigits"
  | "counts"
  | "totalCount"
  | "maxRecorded"
  | "minNonZeroRecorded"
>;

/**
 * Counts of integer values, laid out as HdrHistogram lays them out: bucket 0
 * holds `subBucketCount` values one unit apart, each further bucket covers
 * twice the range with the same number of slots, so a value's slot is at
 * most 1/10^`significantDigits` of it wide (2,048 slots for 3 digits).
 */
export class Histogram {
  /** The smallest value told apart from 0 (rounded down to a power of two for the unit). */
  readonly lowestDiscernibleValue: number;
  /** The largest value the histogram was asked to track. */
  readonly highestTrackableValue: number;
  /** Decimal digits of precision kept over the whole range: 0 to 5. */
  readonly significantDigits: number;
  /** Slots in bucket 0; the others use the top half of theirs. */
  readonly subBucketCount: number;
  /** How many powers of two the range spans. */
  readonly bucketCount: number;
  /** The counts, in the reference's index order. */
  counts: Float64Array;
  /** How many values were counted. */
  totalCount = 0;
  /** The largest value counted (or the bottom of its slot, after a merge or a decode). */
  maxRecorded = 0;
  /** The smallest non-zero value counted (likewise); Infinity if none. */
  minNonZeroRecorded = Infinity;
  readonly #unitMagnitude: number;
  readonly #halfCount: number;
  readonly #halfCountMagnitude: number;
  /** A value's bucket is max(0, msb(value) − #shiftBase). */
  readonly #shiftBase: number;
  /** The largest value that fits; larger ones count as it. */
  readonly #largest: number;

  /**
   * An empty histogram; the defaults track 1 ns to an hour at 3 digits.
   * Throws a `RangeError` for a geometry the reference would refuse.
   */
  constructor(lowest = 1, highest = 3_600_000_000_000, digits = 3) {
    if (!Number.isSafeInteger(lowest) || lowest < 1 || lowest >= 2 ** 31) {
      // From 2^31 the reference computes its unit mask with an int shift, wrongly.
      throw new RangeError(`lowest discernible value ${lowest}: expected 1 to 2^31 - 1`);
    }
    if (!Number.isSafeInteger(highest) || highest < 2 * lowest) {
      throw new RangeError(`highest trackable value ${highest}: expected at least 2 × lowest`);
    }
    if (!Number.isInteger(digits) || digits < 0 || digits > 5) {
      throw new RangeError(`${digits} significant digits: expected 0 to 5`);
    }
    this.lowestDiscernibleValue = lowest;
    this.highestTrackableValue = highest;
    this.significantDigits = digits;
    // The reference's own floating-point formulas: the same doubles give the same geometry.
    this.#unitMagnitude = Math.floor(Math.log(lowest) / Math.log(2));
    const countMagnitude = Math.ceil(Math.log(2 * 10 ** digits) / Math.log(2));
    if (countMagnitude + this.#unitMagnitude > 62) {
      throw new RangeError(`${digits} digits above a unit of ${lowest} do not fit in 64 bits`);
    }
    this.#halfCountMagnitude = countMagnitude - 1;
    this.subBucketCount = 2 ** countMagnitude;
    this.#halfCount = this.subBucketCount / 2;
    this.#shiftBase = this.#unitMagnitude + this.#halfCountMagnitude;
    let smallestUntrackable = this.subBucketCount * 2 ** this.#unitMagnitude;
    let buckets = 1;
    for (; smallestUntrackable <= highest; buckets++) smallestUntrackable *= 2;
    this.bucketCount = buckets;
    this.counts = new Float64Array((buckets + 1) * this.#halfCount);
    this.#largest = Math.min(
      this.highestEquivalent(this.valueFromIndex(this.counts.length - 1)),
      Number.MAX_SAFE_INTEGER,
    );
  }

  /**
   * A histogram made whole from its plain fields, as they arrive from
   * another thread.
   *
   * @example
   * ```ts
   * import { Histogram } from "./histogram.ts";
   *
   * const copy = Histogram.from(structuredClone(new Histogram()));
   * ```
   */
  static from(fields: HistogramFields): Histogram {
    const { lowestDiscernibleValue, highestTrackableValue, significantDigits } = fields;
    const histogram = new Histogram(
      lowestDiscernibleValue,
      highestTrackableValue,
      significantDigits,
    );
    if (fields.counts.length !== histogram.counts.length) {
      throw new RangeError(`${fields.counts.length} counts do not fit this geometry`);
    }
    histogram.counts = fields.counts;
    histogram.totalCount = fields.totalCount;
    histogram.maxRecorded = fields.maxRecorded;
    histogram.minNonZeroRecorded = fields.minNonZeroRecorded;
    return histogram;
  }

  /**
   * Counts one value: truncated to an integer as the reference's `(long)`
   * cast does; a negative one counts as 0 and one above the range as its top.
   */
  record(value: number): void {
    let v = value;
    if (!(v >= 0)) v = 0;
    else if (v > this.#largest) v = this.#largest;
    let index: number;
    if (v < 0x80000000) {
      // Up to 2.1 s in ns: int operations only.
      v = v | 0;
      let bucket = 31 - Math.clz32(v) - this.#shiftBase;
      if (bucket < 0) bucket = 0;
      index = ((bucket + 1) << this.#halfCountMagnitude) +
        (v >>> (bucket + this.#unitMagnitude)) - this.#halfCount;
    } else {
      v = Math.floor(v);
      index = this.indexOf(v);
    }
    this.counts[index]++;
    this.totalCount++;
    if (v > this.maxRecorded) this.maxRecorded = v;
    if (v !== 0 && v < this.minNonZeroRecorded) this.minNonZeroRecorded = v;
  }

  /** Counts `count` more at slot `index` (as a decoder or a merge does). */
  addAt(index: number, count: number): void {
    if (!(index >= 0 && index < this.counts.length)) {
      throw new RangeError(`slot ${index} is beyond this histogram's ${this.counts.length}`);
    }
    if (count === 0) return;
    const value = this.valueFromIndex(index);
    this.counts[index] += count;
    this.totalCount += count;
    if (value > this.maxRecorded) this.maxRecorded = value;
    if (value !== 0 && value < this.minNonZeroRecorded) this.minNonZeroRecorded = value;
  }

  /** Whether `other` lays its values out in the same slots, so the two add up exactly. */
  sameGeometry(other: Histogram): boolean {
    return other.lowestDiscernibleValue === this.lowestDiscernibleValue &&
      other.significantDigits === this.significantDigits &&
      other.counts.length === this.counts.length;
  }

  /** Adds every count of `other`; throws a `RangeError` if its geometry differs. */
  add(other: Histogram): void {
    if (!this.sameGeometry(other)) {
      throw new RangeError(
        `histograms of different geometry do not add up exactly (${other.describe()}, ` +
          `not ${this.describe()})`,
      );
    }
    for (let i = 0; i < other.counts.length; i++) this.counts[i] += other.counts[i];
    this.totalCount += other.totalCount;
    this.maxRecorded = Math.max(this.maxRecorded, other.maxRecorded);
    this.minNonZeroRecorded = Math.min(this.minNonZeroRecorded, other.minNonZeroRecorded);
  }

  /** Adds counts taken by {@linkcode Histogram.drain} from a histogram of the same geometry. */
  addSparse(sparse: SparseCounts): void {
    for (let i = 0; i < sparse.length; i += 2) this.addAt(sparse[i], sparse[i + 1]);
  }

  /** Takes every count out, leaving this histogram empty: one interval's worth. */
  drain(): SparseCounts {
    const sparse: SparseCounts = [];
    const counts = this.counts;
    for (let i = 0; i < counts.length; i++) {
      if (counts[i] === 0) continue;
      sparse.push(i, counts[i]);
      counts[i] = 0;
    }
    this.totalCount = 0;
    this.maxRecorded = 0;
    this.minNonZeroRecorded = Infinity;
    return sparse;
  }

  /** The geometry in words, for error messages. */
  describe(): string {
    return `${this.lowestDiscernibleValue}..${this.highestTrackableValue} at ` +
      `${this.significantDigits} digits`;
  }

  /** The slot `value` (an integer from 0 to the top of the range) is counted in. */
  indexOf(value: number): number {
    const bucket = this.#bucketOf(value);
    const shift = bucket + this.#unitMagnitude;
    const sub = value < 0x100000000 ? value >>> shift : Math.floor(value / 2 ** shift);
    return (bucket + 1) * this.#halfCount + sub - this.#halfCount;
  }

  /** The lowest value counted at slot `index`. */
  valueFromIndex(index: number): number {
    let bucket = Math.floor(index / this.#halfCount) - 1;
    let sub = (index % this.#halfCount) + this.#halfCount;
    if (bucket < 0) {
      sub -= this.#halfCount;
      bucket = 0;
    }
    return sub * 2 ** (bucket + this.#unitMagnitude);
  }

  /** The lowest value counted in the same slot as `value`. */
  lowestEquivalent(value: number): number {
    return this.valueFromIndex(this.indexOf(value));
  }

  /** The highest value counted in the same slot as `value`. */
  highestEquivalent(value: number): number {
    return this.lowestEquivalent(value) + 2 ** (this.#unitMagnitude + this.#bucketOf(value)) - 1;
  }

  /** The reference's getMaxValue: the top of the largest value's slot; 0 when empty. */
  get max(): number {
    return this.maxRecorded === 0 ? 0 : this.highestEquivalent(this.maxRecorded);
  }

  /** The reference's getMinValue: 0 when empty or a 0 was counted, else the bottom of the least's slot. */
  get min(): number {
    if (this.totalCount === 0 || this.counts[0] > 0) return 0;
    return this.lowestEquivalent(this.minNonZeroRecorded);
  }

  /**
   * The reference's getValueAtPercentile (`percentile` 0–100): the top of the
   * slot where the nearest rank falls (the bottom for 0); 0 when empty.
   */
  valueAtPercentile(percentile: number): number {
    // One ulp below, as the reference steps back, so 99.9 % of 1,000 is rank 999.
    const requested = Math.min(Math.max(Histogram.#nextDown(percentile), 0), 100);
    const rank = Math.max(1, Math.ceil((requested * this.totalCount) / 100));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) {
        const value = this.valueFromIndex(i);
        return percentile === 0 ? value : this.highestEquivalent(value);
      }
    }
    return 0;
  }

  /** Percentiles in ms of values in ns; null when nothing was recorded. */
  summary(): LatencySummary | null {
    if (this.totalCount === 0) return null;
    const ms = (ns: number) => ns / 1e6;
    return {
      min: ms(this.min),
      p50: ms(this.valueAtPercentile(50)),
      p90: ms(this.valueAtPercentile(90)),
      p99: ms(this.valueAtPercentile(99)),
      p999: ms(this.valueAtPercentile(99.9)),
      max: ms(this.max),
      count: this.totalCount,
    };
  }

  #bucketOf(value: number): number {
    if (value === 0) return 0;
    const msb = value < 0x100000000
      ? 31 - Math.clz32(value)
      : 63 - Math.clz32(Math.floor(value / 0x100000000));
    return Math.max(0, msb - this.#shiftBase);
  }

  /** The double just below `x`: Java's Math.nextAfter(x, -Infinity), for finite x. */
  static #nextDown(x: number): number {
    if (x === 0) return -Number.MIN_VALUE;
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, x);
    const bits = view.getBigInt64(0);
    view.setBigInt64(0, x > 0 ? bits - 1n : bits + 1n);
    return view.getFloat64(0);
  }
}
