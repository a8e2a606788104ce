/**
 * The PROXY protocol (HAProxy's `doc/proxy-protocol.txt`): the header a load
 * balancer (HAProxy, AWS NLB, Envoy) writes first on each connection to name
 * the original client. Version 1 is one text line
 * (`PROXY TCP4 203.0.113.7 10.0.0.1 51234 4321\r\n`), version 2 a binary block
 * (a 12-byte signature, version and command, family, length, addresses, then
 * TLVs). Parsing is pure over bytes; {@linkcode readProxyHeader} reads one off
 * a connection, bounded in size and time, and hands back the bytes that came
 * after it. Who may send one is a list of CIDR ranges (`cidr.ts`).
 *
 * @example
 * ```ts
 * import { encodeProxyHeader, parseProxyHeader } from "./proxy_protocol.ts";
 *
 * const bytes = encodeProxyHeader(2, { hostname: "203.0.113.7", port: 51234 }, {
 *   hostname: "10.0.0.1",
 *   port: 4321,
 * });
 * const header = parseProxyHeader(bytes); // { version: 2, source: { hostname: "203.0.113.7", … } }
 * ```
 *
 * @module
 */

import { SockechoError } from "../errors.ts";
import { escapeBytes, formatAddress } from "../format.ts";
import { closeAfter, type StreamConn } from "../io.ts";
import type { Prepared } from "../listen.ts";
import {
  type Cidr,
  cidrContains,
  formatIp,
  LOOPBACK_CIDRS,
  parseCidrList,
  parseIp,
  toIPv6,
} from "./cidr.ts";

/** A connection's PROXY header was missing, malformed, too slow or from an untrusted peer. */
export class ProxyHeaderError extends SockechoError {}

/** An address as a PROXY header carries it. */
export interface ProxyAddress {
  /** An IPv4 or IPv6 address, in its usual text form. */
  readonly hostname: string;
  /** A port, 0 to 65535. */
  readonly port: number;
}

/** A parsed PROXY header. */
export interface ProxyHeader {
  /** 1 (text) or 2 (binary). */
  readonly version: 1 | 2;
  /**
   * The original client and the address it connected to; absent for a v2
   * LOCAL header (the balancer's own health check), `PROXY UNKNOWN` and
   * families without an IP address: then the connection's own peer stands.
   */
  readonly source?: ProxyAddress;
  /** The address the client connected to (the balancer's). */
  readonly destination?: ProxyAddress;
  /** The header's size in bytes: what follows it is the client's data. */
  readonly length: number;
}

/** The v2 signature: starts with CRLF CRLF NUL so that no text protocol can look like it. */
const V2_SIGNATURE = new Uint8Array([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);
const V1_PREFIX = new TextEncoder().encode("PROXY ");
/** The spec's bound on a v1 line, CRLF included. */
const V1_MAX_BYTES = 107;
const V1_ADDRESS_BYTES: Record<string, number> = { TCP4: 4, TCP6: 16 };
const V2_FIXED_BYTES = 16;
/** v2 families (high nibble of byte 13): IPv4, IPv6; the address block each needs by number. */
const V2_INET = 0x1;
const V2_INET6 = 0x2;
/** UNSPEC 0, INET 12, INET6 36, UNIX 216 bytes. */
const V2_ADDRESS_BYTES: Record<number, number> = { 0: 0, 1: 12, 2: 36, 3: 216 };

/** The largest header {@linkcode readProxyHeader} accepts by default: room for generous TLVs. */
export const MAX_PROXY_HEADER_BYTES = 4096;

/**
 * Parses the PROXY header at the start of `bytes`. Returns `undefined` when
 * the bytes so far are a valid beginning but not yet a whole header; throws
 * {@linkcode ProxyHeaderError} as soon as they cannot be one, or when a v2
 * header is longer than `maxBytes`. TLVs are skipped, checked only to fit.
 *
 * @example
 * ```ts
 * import { parseProxyHeader } from "./proxy_protocol.ts";
 *
 * const text = "PROXY TCP4 192.0.2.1 192.0.2.2 5000 4321\r\nhello";
 * parseProxyHeader(new TextEncoder().encode(text))?.length; // 42
 * ```
 */
export function parseProxyHeader(
  bytes: Uint8Array,
  maxBytes: number = MAX_PROXY_HEADER_BYTES,
): ProxyHeader | undefined {
  if (startsWith(bytes, V2_SIGNATURE)) return parseV2(bytes, maxBytes);
  if (startsWith(bytes, V1_PREFIX)) return parseV1(bytes);
  const prefix = bytes.subarray(0, V2_SIGNATURE.length);
  if (startsWith(V2_SIGNATURE, prefix) || startsWith(V1_PREFIX, prefix)) return undefined;
  throw new ProxyHeaderError(
    `no PROXY header: the connection began with "${
      escapeBytes(bytes, { maxBytes: 16, dropTrailingNul: false })
    }"`,
  );
}

function parseV1(bytes: Uint8Array): ProxyHeader | undefined {
  const end = indexOfCrlf(bytes.subarray(0, V1_MAX_BYTES));
  if (end < 0) {
    if (bytes.length < V1_MAX_BYTES) return undefined;
    throw new ProxyHeaderError(`PROXY v1 line without CRLF in its first ${V1_MAX_BYTES} bytes`);
  }
  const line = bytes.subarray(0, end);
  const fields = new TextDecoder().decode(line).split(" ");
  const malformed = () => new ProxyHeaderError(`malformed PROXY v1 line "${escapeBytes(line)}"`);
  // UNKNOWN: the balancer could not tell; the rest of the line means nothing.
  if (fields[1] === "UNKNOWN") return { version: 1, length: end + 2 };
  const size = V1_ADDRESS_BYTES[fields[1]];
  if (size === undefined || fields.length !== 6) throw malformed();
  const address = (host: string, port: string) => {
    const ip = parseIp(host);
    if (ip?.length !== size || !/^(0|[1-9]\d{0,4})$/.test(port) || Number(port) > 65535) {
      throw malformed();
    }
    return { hostname: formatIp(ip), port: Number(port) };
  };
  return {
    version: 1,
    source: address(fields[2], fields[4]),
    destination: address(fields[3], fields[5]),
    length: end + 2,
  };
}

function parseV2(bytes: Uint8Array, maxBytes: number): ProxyHeader | undefined {
  if (bytes.length < V2_FIXED_BYTES) return undefined;
  const versionCommand = bytes[12];
  const command = versionCommand & 0x0f;
  if (versionCommand >> 4 !== 2 || command > 1) {
    throw new ProxyHeaderError(
      `PROXY v2 header with bad version/command byte 0x${versionCommand.toString(16)}`,
    );
  }
  const family = bytes[13] >> 4;
  const transport = bytes[13] & 0x0f;
  const length = V2_FIXED_BYTES + ((bytes[14] << 8) | bytes[15]);
  if (length > maxBytes) {
    throw new ProxyHeaderError(`PROXY v2 header of ${length} bytes, over the ${maxBytes} allowed`);
  }
  if (bytes.length < length) return undefined;
  const body = bytes.subarray(V2_FIXED_BYTES, length);
  // LOCAL: the balancer speaking for itself (a health check); the block means nothing.
  if (command === 0) return { version: 2, length };
  const addressBytes = V2_ADDRESS_BYTES[family];
  if (addressBytes === undefined || transport > 2 || body.length < addressBytes) {
    throw new ProxyHeaderError(
      `PROXY v2 header with bad family/transport byte 0x${bytes[13].toString(16)} ` +
        `or a ${body.length}-byte address block`,
    );
  }
  if (transport === 2) {
    throw new ProxyHeaderError("PROXY v2 header for a datagram flow on a stream connection");
  }
  checkTlvs(body.subarray(addressBytes));
  if (family !== V2_INET && family !== V2_INET6) return { version: 2, length }; // UNSPEC, UNIX
  const size = family === V2_INET ? 4 : 16;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const address = (at: number, portAt: number) => ({
    hostname: formatIp(body.subarray(at, at + size)),
    port: view.getUint16(portAt),
  });
  return {
    version: 2,
    source: address(0, 2 * size),
    destination: address(size, 2 * size + 2),
    length,
  };
}

/** Walks the TLVs (type, 16-bit length, value) so that a truncated one is refused, not overread. */
function checkTlvs(tlvs: Uint8Array): void {
  for (let at = 0; at < tlvs.length;) {
    if (at + 3 > tlvs.length || at + 3 + ((tlvs[at + 1] << 8) | tlvs[at + 2]) > tlvs.length) {
      throw new ProxyHeaderError(`PROXY v2 header with a truncated TLV at byte ${at}`);
    }
    at += 3 + ((tlvs[at + 1] << 8) | tlvs[at + 2]);
  }
}

/** Options for {@linkcode readProxyHeader}. */
export interface ReadProxyHeaderOptions {
  /** Give up (and close the connection) after this many ms. @default {3000} */
  timeoutMs?: number;
  /** Refuse a header longer than this. @default {MAX_PROXY_HEADER_BYTES} */
  maxBytes?: number;
}

/**
 * Reads the PROXY header that must open `conn`. Resolves with it and the
 * bytes read past it (the client's first data, to be served before anything
 * else is read). Throws {@linkcode ProxyHeaderError} when the connection does
 * not start with a valid header, closes first, or takes longer than
 * `timeoutMs` (the connection is then closed).
 *
 * @example
 * ```ts
 * import { readProxyHeader } from "./proxy_protocol.ts";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const conn = await listener.accept();
 * const { header, rest } = await readProxyHeader(conn, { timeoutMs: 1000 });
 * ```
 */
export async function readProxyHeader(
  conn: StreamConn,
  { timeoutMs = 3000, maxBytes = MAX_PROXY_HEADER_BYTES }: ReadProxyHeaderOptions = {},
): Promise<{ header: ProxyHeader; rest: Uint8Array }> {
  const buffer = new Uint8Array(maxBytes);
  let got = 0;
  const deadline = closeAfter(conn, timeoutMs);
  try {
    for (;;) {
      const header = parseProxyHeader(buffer.subarray(0, got), maxBytes);
      if (header) return { header, rest: buffer.slice(header.length, got) };
      // Only a v1 line longer than maxBytes could fill the buffer unfinished.
      if (got === buffer.length) throw new ProxyHeaderError("PROXY header too long");
      const n = await conn.read(buffer.subarray(got));
      if (n === null) {
        throw new ProxyHeaderError(`closed after ${got} bytes, before a complete PROXY header`);
      }
      got += n;
    }
  } catch (error) {
    if (deadline.fired) {
      throw new ProxyHeaderError(`no complete PROXY header within ${timeoutMs / 1000} s`);
    }
    throw error;
  } finally {
    deadline.clear();
  }
}

/** Options for {@linkcode proxyHeaderStep}. */
export interface ProxyHeaderStepOptions extends ReadProxyHeaderOptions {
  /** Peers allowed to send a header; a connection from any other is closed. @default {loopback} */
  trusted?: Cidr[];
}

/**
 * The server's `prepare` step for `serve --proxy-protocol`: refuses a peer
 * outside `trusted` (so that no one else can forge a client address), reads
 * the header and names its source as the client. A v2 LOCAL header (a health
 * check) or `PROXY UNKNOWN` leaves the connection's own peer as the client.
 *
 * @example
 * ```ts
 * import { parseCidrList } from "./cidr.ts";
 * import { proxyHeaderStep } from "./proxy_protocol.ts";
 * import { serve } from "../../server.ts";
 *
 * const server = await serve({
 *   port: 0,
 *   prepare: proxyHeaderStep({ trusted: parseCidrList("10.0.0.0/8")! }),
 * });
 * await server.shutdown();
 * ```
 */
export function proxyHeaderStep(
  { trusted = parseCidrList(LOOPBACK_CIDRS)!, ...read }: ProxyHeaderStepOptions = {},
): (conn: StreamConn) => Promise<Prepared> {
  return async (conn) => {
    const peer = conn.remoteAddr;
    if (peer.transport !== "tcp" || !cidrContains(trusted, peer.hostname)) {
      const who = peer.transport === "tcp" ? formatAddress(peer) : peer.transport;
      throw new ProxyHeaderError(`${who} may not send a PROXY header (not in --proxy-from)`);
    }
    const { header, rest } = await readProxyHeader(conn, read);
    const clientAddr = header.source && { transport: "tcp" as const, ...header.source };
    return { clientAddr, pending: rest };
  };
}

/**
 * Makes the PROXY header a balancer would send for a client at `source`
 * that connected to `destination` (both IPv4 or both IPv6; an IPv4 address
 * next to an IPv6 one is written in its `::ffff:` form).
 *
 * @example
 * ```ts
 * import { encodeProxyHeader } from "./proxy_protocol.ts";
 *
 * const line = encodeProxyHeader(1, { hostname: "::1", port: 5000 }, { hostname: "::1", port: 80 });
 * new TextDecoder().decode(line); // "PROXY TCP6 ::1 ::1 5000 80\r\n"
 * ```
 */
export function encodeProxyHeader(
  version: 1 | 2,
  source: ProxyAddress,
  destination: ProxyAddress,
): Uint8Array {
  let [from, to] = [source, destination].map(({ hostname }) => {
    const bytes = parseIp(hostname);
    if (!bytes) throw new ProxyHeaderError(`not an IP address: "${hostname}"`);
    return bytes;
  });
  if (from.length !== to.length) [from, to] = [toIPv6(from), toIPv6(to)];
  if (version === 1) {
    const family = from.length === 4 ? "TCP4" : "TCP6";
    return new TextEncoder().encode(
      `PROXY ${family} ${formatIp(from)} ${formatIp(to)} ${source.port} ${destination.port}\r\n`,
    );
  }
  const block = 2 * from.length + 4;
  const bytes = new Uint8Array(V2_FIXED_BYTES + block);
  const view = new DataView(bytes.buffer);
  bytes.set(V2_SIGNATURE);
  bytes[12] = 0x21; // version 2, command PROXY
  bytes[13] = ((from.length === 4 ? V2_INET : V2_INET6) << 4) | 0x1; // STREAM
  view.setUint16(14, block);
  bytes.set(from, V2_FIXED_BYTES);
  bytes.set(to, V2_FIXED_BYTES + from.length);
  view.setUint16(V2_FIXED_BYTES + 2 * from.length, source.port);
  view.setUint16(V2_FIXED_BYTES + 2 * from.length + 2, destination.port);
  return bytes;
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  return bytes.length >= prefix.length && prefix.every((byte, i) => bytes[i] === byte);
}

function indexOfCrlf(bytes: Uint8Array): number {
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i] === 0x0d && bytes[i + 1] === 0x0a) return i;
  }
  return -1;
}
