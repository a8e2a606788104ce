/**
 * The few DER (ASN.1 Distinguished Encoding Rules, X.690) encoders a
 * self-signed certificate needs: tag-length-value, sequences and sets,
 * integers, object identifiers, strings, times, booleans and bit strings.
 * Encoding only: sockecho never parses DER.
 *
 * @example
 * ```ts
 * import { integer, oid, sequence } from "./der.ts";
 *
 * sequence(oid("2.5.4.3"), integer(new Uint8Array([2]))); // 30 08 06 03 55 04 03 02 01 02
 * ```
 *
 * @module
 */

/** The universal tags used here, and the first context-specific ones. */
export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  utf8String: 0x0c,
  sequence: 0x30,
  set: 0x31,
  utcTime: 0x17,
  generalizedTime: 0x18,
  /** `[n]` IMPLICIT, primitive: add n. */
  context: 0x80,
  /** `[n]` EXPLICIT (constructed): add n. */
  explicit: 0xa0,
} as const;

/**
 * One DER element: `tag`, the definite length of the joined `content`, the
 * content.
 *
 * @example
 * ```ts
 * import { TAG, tlv } from "./der.ts";
 *
 * tlv(TAG.octetString, new Uint8Array([1, 2])); // 04 02 01 02
 * ```
 */
export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const body = join(content);
  const length = body.length < 0x80 ? [body.length] : longLength(body.length);
  return join([new Uint8Array([tag, ...length]), body]);
}

/**
 * A SEQUENCE of `elements`, already encoded.
 *
 * @example
 * ```ts
 * import { sequence } from "./der.ts";
 *
 * sequence(); // 30 00
 * ```
 */
export function sequence(...elements: Uint8Array[]): Uint8Array<ArrayBuffer> {
  return tlv(TAG.sequence, ...elements);
}

/**
 * An INTEGER from its unsigned big-endian bytes: leading zeros dropped, and
 * one zero put back where the top bit would make it negative.
 *
 * @example
 * ```ts
 * import { integer } from "./der.ts";
 *
 * integer(new Uint8Array([0x00, 0x80])); // 02 02 00 80
 * ```
 */
export function integer(unsigned: Uint8Array): Uint8Array<ArrayBuffer> {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start++;
  const digits = unsigned.subarray(start);
  return tlv(TAG.integer, digits[0] & 0x80 ? new Uint8Array([0]) : new Uint8Array(), digits);
}

/**
 * An OBJECT IDENTIFIER from its dotted form.
 *
 * @example
 * ```ts
 * import { oid } from "./der.ts";
 *
 * oid("1.2.840.10045.4.3.2"); // 06 08 2a 86 48 ce 3d 04 03 02 (ecdsa-with-SHA256)
 * ```
 */
export function oid(dotted: string): Uint8Array<ArrayBuffer> {
  const [first, second, ...rest] = dotted.split(".").map(Number);
  const bytes = [40 * first + second, ...rest].flatMap((arc) => {
    const groups = [arc & 0x7f];
    for (let left = Math.floor(arc / 128); left > 0; left = Math.floor(left / 128)) {
      groups.unshift(0x80 | (left & 0x7f)); // base 128, high bit on all but the last
    }
    return groups;
  });
  return tlv(TAG.oid, new Uint8Array(bytes));
}

/**
 * A UTF8String.
 *
 * @example
 * ```ts
 * import { utf8 } from "./der.ts";
 *
 * utf8("localhost"); // 0c 09 6c 6f …
 * ```
 */
export function utf8(text: string): Uint8Array<ArrayBuffer> {
  return tlv(TAG.utf8String, new TextEncoder().encode(text));
}

/**
 * A certificate validity time: UTCTime (`YYMMDDHHMMSSZ`) from 1950 to 2049,
 * GeneralizedTime (`YYYYMMDDHHMMSSZ`) otherwise, as RFC 5280 requires.
 *
 * @example
 * ```ts
 * import { time } from "./der.ts";
 *
 * time(new Date("2030-01-02T03:04:05Z")); // UTCTime "300102030405Z"
 * ```
 */
export function time(date: Date): Uint8Array<ArrayBuffer> {
  const digits = date.toISOString().replace(/\.\d+Z$/, "Z").replace(/[-:T]/g, "");
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050
    ? tlv(TAG.utcTime, new TextEncoder().encode(digits.slice(2)))
    : tlv(TAG.generalizedTime, new TextEncoder().encode(digits));
}

/**
 * A BOOLEAN: DER writes true as 0xff.
 *
 * @example
 * ```ts
 * import { boolean } from "./der.ts";
 *
 * boolean(true); // 01 01 ff
 * ```
 */
export function boolean(value: boolean): Uint8Array<ArrayBuffer> {
  return tlv(TAG.boolean, new Uint8Array([value ? 0xff : 0]));
}

/**
 * A BIT STRING of whole bytes, or of `bits` when its last byte is not
 * full: the first content byte counts the unused bits at the end.
 *
 * @example
 * ```ts
 * import { bitString } from "./der.ts";
 *
 * bitString(new Uint8Array([0x80]), 1); // 03 02 07 80 (the first bit set, e.g. a key usage)
 * ```
 */
export function bitString(bytes: Uint8Array, bits = bytes.length * 8): Uint8Array<ArrayBuffer> {
  return tlv(TAG.bitString, new Uint8Array([bytes.length * 8 - bits]), bytes);
}

/** The long form of a length: 0x80 plus the count of the big-endian bytes that follow. */
function longLength(length: number): number[] {
  const bytes: number[] = [];
  for (let left = length; left > 0; left = Math.floor(left / 256)) bytes.unshift(left & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

/** The parts one after another (a certificate is a few hundred bytes: spreading them is cheap). */
function join(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  return new Uint8Array(parts.flatMap((part) => [...part]));
}
