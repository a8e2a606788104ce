/**
 * HdrHistogram's V2 compressed encoding of a {@linkcode Histogram}, as every
 * port (Java, C, Go, Rust, Python, JS) writes and reads it: base64 of the
 * cookie `0x1c849314`, the length, then the zlib-wrapped (not raw deflate)
 * V2 encoding, whose 40-byte header (cookie `0x1c849313`, payload length,
 * normalizing offset, digits, lowest, highest, conversion ratio) is followed
 * by the counts as ZigZag LEB128 (at most 9 bytes each), a run of empty slots
 * written as its negative length. Only the compressed form is written; the
 * compression level differs between ports, so compare decoded figures, never
 * base64 text.
 *
 * @example
 * ```ts
 * import { Histogram } from "./histogram.ts";
 * import { decodeHistogram, encodeHistogram } from "./histogram_codec.ts";
 *
 * const histogram = new Histogram();
 * histogram.record(1_500_000);
 * const text = encodeHistogram(histogram); // "HISTFAAAA…"
 * console.log(decodeHistogram(text).totalCount); // 1
 * ```
 *
 * @module
 */

import { deflateSync, inflateSync } from "node:zlib";
import { Histogram } from "./histogram.ts";

/** The cookie of the V2 encoding (its low nibble of the top byte's word-size bits masked). */
const V2_COOKIE = 0x1c849313;
/** The cookie of the V2 compressed encoding. */
const V2_COMPRESSED_COOKIE = 0x1c849314;
/** The word-size bits of a cookie, which readers ignore. */
const WORD_SIZE_BITS = 0xf0;
const HEADER_BYTES = 40;

/**
 * The base64 V2 compressed encoding of `histogram` (what Java's
 * `encodeIntoCompressedByteBuffer` and then base64 give, up to compression).
 *
 * @example
 * ```ts
 * import { Histogram } from "./histogram.ts";
 * import { encodeHistogram } from "./histogram_codec.ts";
 *
 * encodeHistogram(new Histogram()); // an empty histogram is 56 characters
 * ```
 */
export function encodeHistogram(histogram: Histogram): string {
  const deflated = deflateSync(encodeV2(histogram), { level: 9 });
  const out = new Uint8Array(8 + deflated.length);
  const view = new DataView(out.buffer);
  view.setInt32(0, V2_COMPRESSED_COOKIE);
  view.setInt32(4, deflated.length);
  out.set(deflated, 8);
  return out.toBase64();
}

/**
 * The histogram in a base64 V2 compressed encoding, sized by its header as
 * the reference sizes it. Throws a `TypeError` saying what is wrong with one
 * that is not base64, not V2 (V0 and V1 logs, a DoubleHistogram), truncated,
 * or counts beyond its own range.
 *
 * @example
 * ```ts
 * import { decodeHistogram } from "./histogram_codec.ts";
 *
 * // 1.5 ms, once, as encodeHistogram writes it
 * const histogram = decodeHistogram("HISTFAAAACV42pNpmSzMwMDAwgABzFCaEch0M9ixgMH+A0Tg/TZGJgBl2wX3");
 * console.log(histogram.totalCount, histogram.max); // 1 1500159
 * ```
 */
export function decodeHistogram(base64: string): Histogram {
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.fromBase64(base64.trim());
  } catch {
    throw new TypeError("not base64");
  }
  if (bytes.length < 8) throw new TypeError(`${bytes.length} bytes: too short for a histogram`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const cookie = view.getInt32(0);
  if ((cookie & ~WORD_SIZE_BITS) !== (V2_COMPRESSED_COOKIE & ~WORD_SIZE_BITS)) {
    throw new TypeError(
      `cookie 0x${(cookie >>> 0).toString(16)} is not HdrHistogram's V2 compressed encoding`,
    );
  }
  const length = view.getInt32(4);
  if (length < 0 || 8 + length > bytes.length) {
    throw new TypeError(`truncated: ${bytes.length - 8} of ${length} compressed bytes`);
  }
  let inflated: Uint8Array;
  try {
    inflated = inflateSync(bytes.subarray(8, 8 + length));
  } catch (error) {
    throw new TypeError(`the compressed counts do not inflate (${(error as Error).message})`);
  }
  return decodeV2(inflated);
}

/** The uncompressed V2 encoding: the header, then the counts up to the largest one's slot. */
function encodeV2(histogram: Histogram): Uint8Array {
  const { counts } = histogram;
  // Java writes up to the max's slot (one slot when empty); an all-zero tail is not written.
  const limit = histogram.totalCount === 0 ? 1 : histogram.indexOf(histogram.maxRecorded) + 1;
  const out = new Uint8Array(HEADER_BYTES + 9 * limit);
  const view = new DataView(out.buffer);
  view.setInt32(0, V2_COOKIE);
  view.setInt32(8, 0); // normalizing index offset: none
  view.setInt32(12, histogram.significantDigits);
  view.setBigInt64(16, BigInt(histogram.lowestDiscernibleValue));
  view.setBigInt64(24, BigInt(histogram.highestTrackableValue));
  view.setFloat64(32, 1); // integer-to-double conversion ratio: an integer histogram
  let at = HEADER_BYTES;
  for (let i = 0; i < limit;) {
    const count = counts[i++];
    let zeros = 0;
    if (count === 0) {
      for (zeros = 1; i < limit && counts[i] === 0; i++) zeros++;
    }
    at = putZigZag(out, at, zeros > 1 ? -zeros : count);
  }
  view.setInt32(4, at - HEADER_BYTES);
  return out.subarray(0, at);
}

function decodeV2(bytes: Uint8Array): Histogram {
  if (bytes.length < HEADER_BYTES) {
    throw new TypeError(`truncated: a ${bytes.length}-byte header, not ${HEADER_BYTES}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const cookie = view.getInt32(0);
  if ((cookie & ~WORD_SIZE_BITS) !== (V2_COOKIE & ~WORD_SIZE_BITS)) {
    throw new TypeError(`inner cookie 0x${(cookie >>> 0).toString(16)} is not V2's`);
  }
  const payload = view.getInt32(4);
  if (payload < 0 || HEADER_BYTES + payload > bytes.length) {
    throw new TypeError(`truncated: ${bytes.length - HEADER_BYTES} of ${payload} payload bytes`);
  }
  // The normalizing index offset (byte 8) is 0 in every integer histogram the ports write.
  if (view.getFloat64(32) !== 1) throw new TypeError("a DoubleHistogram is not supported");
  let histogram: Histogram;
  try {
    histogram = new Histogram(
      Number(view.getBigInt64(16)),
      Number(view.getBigInt64(24)),
      view.getInt32(12),
    );
  } catch (error) {
    throw new TypeError(`unsupported geometry: ${(error as Error).message}`);
  }
  const end = HEADER_BYTES + payload;
  let index = 0;
  for (let at = HEADER_BYTES; at < end;) {
    const [value, next] = getZigZag(bytes, at, end);
    at = next;
    if (value < 0) index += -value;
    else if (index >= histogram.counts.length) {
      throw new TypeError(`counts beyond the ${histogram.counts.length} slots of its range`);
    } else histogram.addAt(index++, value);
  }
  return histogram;
}

/** Writes `value` (|value| < 2^52) as ZigZag LEB128-64b9B at `at`; returns the next offset. */
function putZigZag(out: Uint8Array, at: number, value: number): number {
  let v = value >= 0 ? value * 2 : -value * 2 - 1;
  for (let i = 0; i < 8; i++) {
    if (v < 0x80) {
      out[at++] = v;
      return at;
    }
    out[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[at++] = v; // the 9th byte carries 8 bits and no continuation flag
  return at;
}

/** Reads one ZigZag LEB128-64b9B number before `end`: [value, next offset]. */
function getZigZag(bytes: Uint8Array, at: number, end: number): [number, number] {
  let v = 0;
  let scale = 1;
  for (let i = 0; i < 9; i++) {
    if (at >= end) throw new TypeError("truncated: a count is cut off");
    const byte = bytes[at++];
    if (i === 8) {
      v += byte * scale;
      break;
    }
    v += (byte & 0x7f) * scale;
    scale *= 0x80;
    if ((byte & 0x80) === 0) break;
  }
  if (v > Number.MAX_SAFE_INTEGER) throw new TypeError("a count too large to hold exactly");
  return [v % 2 === 0 ? v / 2 : -(v + 1) / 2, at];
}
