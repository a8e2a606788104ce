/**
 * Access control by client address, like ncat's `--allow`/`--deny` and
 * xinetd's `only_from`: lists of IPv4 and IPv6 networks in CIDR notation.
 * With an allow list, only addresses in it are let in; an address in the
 * deny list is kept out even if it is also allowed. An IPv4 client seen on
 * an IPv6 socket (`::ffff:192.0.2.7`) is matched as the IPv4 address it is.
 *
 * @example
 * ```ts
 * import { parseAccessList } from "./acl.ts";
 *
 * const acl = parseAccessList({ allow: "10.0.0.0/8,::1", deny: "10.0.0.13" });
 * acl.allows("10.1.2.3"); // true
 * acl.allows("::ffff:10.0.0.13"); // false: denied
 * acl.allows("192.0.2.1"); // false: not in the allow list
 * ```
 *
 * @module
 */

import { SockechoError } from "./errors.ts";

/** A text that is not an address or a network in CIDR notation. */
export class CidrSyntaxError extends SockechoError {}

/** A network: an address family, its masked address and its prefix length. */
export interface Cidr {
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** The network address as a number, host bits cleared. */
  readonly network: bigint;
  /** Leading bits that must match: 0–32 for IPv4, 0–128 for IPv6. */
  readonly prefix: number;
}

/** What is let in: the answer of {@linkcode parseAccessList}. */
export interface AccessList {
  /** Whether a client at `hostname` (an address literal) may be served. */
  allows(hostname: string): boolean;
}

/**
 * Parses comma-separated allow and deny lists into an {@linkcode AccessList}.
 * Throws {@linkcode CidrSyntaxError} naming the first bad entry.
 *
 * @example
 * ```ts
 * import { parseAccessList } from "./acl.ts";
 *
 * parseAccessList({ deny: "192.0.2.0/24" }).allows("192.0.2.9"); // false
 * ```
 */
export function parseAccessList(
  { allow, deny }: { allow?: string; deny?: string },
): AccessList {
  const allowed = allow === undefined ? undefined : parseCidrList(allow);
  const denied = deny === undefined ? [] : parseCidrList(deny);
  return {
    allows(hostname) {
      const address = parseAddress(hostname);
      if (address === undefined) return false; // not an IP address: nothing to vouch for it
      const inside = (cidr: Cidr) => contains(cidr, address);
      return !denied.some(inside) && (allowed === undefined || allowed.some(inside));
    },
  };
}

/** Parses `a.b.c.d[/n]` or an IPv6 address with an optional `/n`. */
export function parseCidr(text: string): Cidr {
  const [host, prefixText, extra] = text.trim().split("/");
  const address = extra === undefined ? parseAddress(host, false) : undefined;
  if (address === undefined) {
    throw new CidrSyntaxError(
      `invalid network "${text}": expected an address or a CIDR like 10.0.0.0/8 or fd00::/8`,
    );
  }
  const width = address.family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? width : Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText ?? "0") || prefix > width) {
    throw new CidrSyntaxError(
      `invalid network "${text}": the prefix length must be 0 to ${width}`,
    );
  }
  // An IPv4-mapped network (::ffff:10.0.0.0/104) is the IPv4 network it maps.
  if (address.family === 6 && isMapped(address.network) && prefix >= 96) {
    return { family: 4, network: address.network & 0xffffffffn, prefix: prefix - 96 };
  }
  return { family: address.family, network: address.network & mask(width, prefix), prefix };
}

function parseCidrList(text: string): Cidr[] {
  return text.split(",").map(parseCidr);
}

function contains(cidr: Cidr, address: Cidr): boolean {
  const width = cidr.family === 4 ? 32 : 128;
  return cidr.family === address.family &&
    (address.network & mask(width, cidr.prefix)) === cidr.network;
}

function mask(width: number, prefix: number): bigint {
  const all = (1n << BigInt(width)) - 1n;
  return all ^ ((1n << BigInt(width - prefix)) - 1n);
}

function isMapped(address: bigint): boolean {
  return address >> 32n === 0xffffn;
}

/**
 * Parses an address literal as a host (a /32 or /128); an IPv4-mapped IPv6
 * address becomes its IPv4 address unless `unmap` is false. A zone
 * (`fe80::1%eth0`) is ignored.
 */
function parseAddress(text: string, unmap = true): Cidr | undefined {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return { family: 4, network: v4, prefix: 32 };
  const v6 = parseIPv6(text.replace(/%[^%]+$/, ""));
  if (v6 === undefined) return undefined;
  if (unmap && isMapped(v6)) return { family: 4, network: v6 & 0xffffffffn, prefix: 32 };
  return { family: 6, network: v6, prefix: 128 };
}

function parseIPv4(text: string): bigint | undefined {
  const parts = text.split(".");
  // Leading zeros are refused: some tools read them as octal.
  if (parts.length !== 4 || !parts.every((part) => /^(0|[1-9]\d{0,2})$/.test(part))) {
    return undefined;
  }
  const bytes = parts.map(Number);
  if (bytes.some((byte) => byte > 255)) return undefined;
  return bytes.reduce((value, byte) => (value << 8n) | BigInt(byte), 0n);
}

function parseIPv6(text: string): bigint | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (half: string): number[] | undefined => {
    if (half === "") return [];
    const parts = half.split(":");
    const last = parts.at(-1)!;
    const tail = last.includes(".") ? parseIPv4(last) : undefined;
    if (last.includes(".") && tail === undefined) return undefined;
    const hex = tail === undefined ? parts : parts.slice(0, -1);
    if (!hex.every((group) => /^[0-9a-f]{1,4}$/i.test(group))) return undefined;
    const groups = hex.map((group) => parseInt(group, 16));
    return tail === undefined ? groups : [...groups, Number(tail >> 16n), Number(tail & 0xffffn)];
  };
  const head = groupsOf(halves[0]);
  const rest = halves.length === 2 ? groupsOf(halves[1]) : [];
  if (head === undefined || rest === undefined) return undefined;
  // An embedded IPv4 address may only end the address.
  if (halves.length === 2 && halves[0].includes(".")) return undefined;
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...Array(missing).fill(0), ...rest];
  return groups.reduce((value, group) => (value << 16n) | BigInt(group), 0n);
}
