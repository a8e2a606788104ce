/**
 * IP addresses and CIDR ranges as bytes: parsing an address or a list of
 * networks (`10.0.0.0/8,fd00::/8`), testing whether an address falls in one,
 * and writing address bytes back as text. The address rules of `acl.ts`
 * (`--allow`, `--deny`) and the trusted peers of `proxy_protocol.ts`
 * (`--proxy-from`) are both such lists.
 *
 * @example
 * ```ts
 * import { cidrContains, parseCidrList } from "./cidr.ts";
 *
 * const ranges = parseCidrList("10.0.0.0/8,::1")!;
 * cidrContains(ranges, "::ffff:10.9.8.7"); // true: an IPv4-mapped address counts as IPv4
 * ```
 *
 * @module
 */

/** An address range: the first `prefix` bits of `network` (4 or 16 bytes). */
export interface Cidr {
  /** The range's address bytes. */
  readonly network: Uint8Array;
  /** How many leading bits must match. */
  readonly prefix: number;
}

/** Loopback, IPv4 and IPv6: the peers trusted to send a PROXY header unless told otherwise. */
export const LOOPBACK_CIDRS = "127.0.0.0/8,::1/128";

/**
 * Parses a comma-separated list of CIDR ranges (`10.0.0.0/8,fd00::/8`); a
 * bare address is a range of one. A range inside the IPv4-mapped block
 * (`::ffff:10.0.0.0/104`) is the IPv4 range it names (`10.0.0.0/8`), since
 * {@linkcode cidrContains} matches mapped addresses as IPv4. Returns
 * `undefined` if any item is invalid.
 *
 * @example
 * ```ts
 * import { cidrContains, parseCidrList } from "./cidr.ts";
 *
 * const ranges = parseCidrList("10.0.0.0/8,::1")!;
 * cidrContains(ranges, "10.1.2.3"); // true
 * ```
 */
export function parseCidrList(text: string): Cidr[] | undefined {
  const ranges: Cidr[] = [];
  for (const item of text.split(",")) {
    const [address, bits, extra] = item.trim().split("/");
    const network = parseIp(address);
    if (!network || extra !== undefined) return undefined;
    const prefix = bits === undefined ? network.length * 8 : Number(bits);
    if (bits !== undefined && !/^\d{1,3}$/.test(bits) || prefix > network.length * 8) {
      return undefined;
    }
    const mapped = network.length === 16 && prefix >= 96 && isIPv4Mapped(network);
    ranges.push(mapped ? { network: network.slice(12), prefix: prefix - 96 } : { network, prefix });
  }
  return ranges;
}

/**
 * Whether `hostname` (an IP address) is in any of `ranges`. An IPv4-mapped
 * IPv6 address (`::ffff:127.0.0.1`, what a socket on `::` reports for an IPv4
 * peer) counts as its IPv4 address.
 *
 * @example
 * ```ts
 * import { cidrContains, parseCidrList } from "./cidr.ts";
 *
 * cidrContains(parseCidrList("127.0.0.0/8")!, "::ffff:127.0.0.1"); // true
 * ```
 */
export function cidrContains(ranges: Cidr[], hostname: string): boolean {
  let address = parseIp(hostname);
  if (address?.length === 16 && isIPv4Mapped(address)) address = address.subarray(12);
  return address !== undefined && ranges.some(({ network, prefix }) => {
    if (network.length !== address.length) return false;
    const whole = prefix >> 3;
    for (let i = 0; i < whole; i++) if (network[i] !== address[i]) return false;
    const mask = (0xff00 >> (prefix & 7)) & 0xff;
    return mask === 0 || (network[whole] & mask) === (address[whole] & mask);
  });
}

/** The bytes of an IPv4 (4) or IPv6 (16) address in text form, or `undefined`. */
export function parseIp(text: string): Uint8Array | undefined {
  return text.includes(":") ? parseIPv6(text) : parseIPv4(text);
}

function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((part) => /^(0|[1-9]\d{0,2})$/.test(part))) {
    return undefined;
  }
  const bytes = parts.map(Number);
  return bytes.every((byte) => byte <= 255) ? new Uint8Array(bytes) : undefined;
}

function parseIPv6(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  // An embedded IPv4 address (::ffff:192.0.2.1) may only end the address.
  const parsed = halves.map((half, i) => half === "" ? [] : wordsOf(half, i === halves.length - 1));
  if (parsed.some((words) => words === undefined)) return undefined;
  const [head, tail] = parsed as number[][];
  const missing = 8 - head.length - (tail?.length ?? 0);
  if (tail === undefined ? missing !== 0 : missing < 1) return undefined;
  const words = [...head, ...new Array(tail === undefined ? 0 : missing).fill(0), ...(tail ?? [])];
  const bytes = new Uint8Array(16);
  words.forEach((word, i) => {
    bytes[2 * i] = word >> 8;
    bytes[2 * i + 1] = word & 0xff;
  });
  return bytes;
}

/** The 16-bit words of colon-separated hex groups, the last maybe an IPv4 address. */
function wordsOf(groups: string, ipv4Last: boolean): number[] | undefined {
  const words: number[] = [];
  const list = groups.split(":");
  for (const [i, group] of list.entries()) {
    const ipv4 = ipv4Last && i === list.length - 1 ? parseIPv4(group) : undefined;
    if (ipv4) words.push((ipv4[0] << 8) | ipv4[1], (ipv4[2] << 8) | ipv4[3]);
    else if (/^[0-9a-fA-F]{1,4}$/.test(group)) words.push(parseInt(group, 16));
    else return undefined;
  }
  return words;
}

/** Text form of 4 or 16 address bytes; IPv6 with the longest zero run as `::` (RFC 5952). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  if (isIPv4Mapped(bytes)) return `::ffff:${bytes.subarray(12).join(".")}`;
  const words = Array.from({ length: 8 }, (_, i) => (bytes[2 * i] << 8) | bytes[2 * i + 1]);
  let best = { at: -1, length: 1 };
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > best.length) best = { at: i, length: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = (list: number[]) => list.map((word) => word.toString(16)).join(":");
  if (best.at < 0) return hex(words);
  return `${hex(words.slice(0, best.at))}::${hex(words.slice(best.at + best.length))}`;
}

function isIPv4Mapped(bytes: Uint8Array): boolean {
  return bytes.subarray(0, 10).every((byte) => byte === 0) && bytes[10] === 0xff &&
    bytes[11] === 0xff;
}

/** The 16 bytes of an IPv6 address for 4 or 16 bytes; IPv4 in its `::ffff:` form. */
export function toIPv6(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 16) return bytes;
  const mapped = new Uint8Array(16);
  mapped[10] = mapped[11] = 0xff;
  mapped.set(bytes, 12);
  return mapped;
}
