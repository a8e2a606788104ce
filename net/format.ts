/**
 * Safe, readable renderings of what crosses the wire: bytes as escaped text,
 * addresses and timestamps. Nothing here touches the network or prints.
 *
 * @example
 * ```ts
 * import { escapeBytes } from "./format.ts";
 *
 * escapeBytes(new TextEncoder().encode("hi\x1b[2J\n\0")); // "hi\\x1b[2J\\n"
 * ```
 *
 * @module
 */

/** Options for {@linkcode escapeBytes}. */
export interface EscapeOptions {
  /** Show at most this many input bytes, then a `… (+N bytes)` marker. @default {Infinity} */
  maxBytes?: number;
  /** Leave out one trailing NUL, the terminator a C client sends. @default {true} */
  dropTrailingNul?: boolean;
}

const NAMED_ESCAPES: Record<number, string> = {
  0x00: "\\0",
  0x09: "\\t",
  0x0a: "\\n",
  0x0d: "\\r",
  0x5c: "\\\\",
};

/**
 * Renders bytes as one line of text that is safe to write to a terminal:
 * valid UTF-8 is shown as is, except control characters, line separators and
 * bidirectional overrides, which are escaped (`\n`, `\x1b`, `\u{202e}`), as is
 * every byte that is not valid UTF-8 (`\xff`). Backslash is doubled, so the
 * rendering is unambiguous.
 *
 * @example
 * ```ts
 * import { escapeBytes } from "./format.ts";
 *
 * escapeBytes(new Uint8Array([0x68, 0xff, 0x0a])); // "h\\xff\\n"
 * ```
 */
export function escapeBytes(
  bytes: Uint8Array,
  { maxBytes = Infinity, dropTrailingNul = true }: EscapeOptions = {},
): string {
  const length = dropTrailingNul && bytes.at(-1) === 0 ? bytes.length - 1 : bytes.length;
  const [text, end] = escapePrefix(bytes, length, maxBytes);
  return end < length ? `${text}… (+${length - end} bytes)` : text;
}

/**
 * Escapes at most `maxBytes` of the first `length` bytes, never part of a
 * character, and returns the text and how many bytes it covers.
 */
function escapePrefix(bytes: Uint8Array, length: number, maxBytes: number): [string, number] {
  const shown = Math.min(length, maxBytes);
  let text = "";
  let i = 0;
  while (i < shown) {
    const [codePoint, size] = decodeUtf8At(bytes, i, length);
    if (i + size > shown) break; // never show part of a character
    if (codePoint < 0) {
      text += hexEscape(bytes[i]);
      i += 1;
    } else {
      text += escapeCodePoint(codePoint);
      i += size;
    }
  }
  return [text, i];
}

/**
 * Shows what a peer sent, for a message saying what answered instead of an
 * echo: escaped as {@linkcode escapeBytes} does, in quotes, shortened to
 * `maxBytes` with `…`, and followed by the whole count.
 *
 * @example
 * ```ts
 * import { quoteBytes } from "./format.ts";
 *
 * quoteBytes(new TextEncoder().encode("HTTP/1.0 400 Bad request\r\n\r\n"), 26);
 * // '"HTTP/1.0 400 Bad request\\r\\n…" (28 bytes)'
 * ```
 */
export function quoteBytes(bytes: Uint8Array, maxBytes = 40): string {
  const [text, end] = escapePrefix(bytes, bytes.length, maxBytes);
  return `"${text}${end < bytes.length ? "…" : ""}" (${plural(bytes.length, "byte")})`;
}

/**
 * Formats a count for a person to read, with thousands separators.
 *
 * @example
 * ```ts
 * import { formatCount } from "./format.ts";
 *
 * formatCount(2751999918); // "2,751,999,918"
 * ```
 */
export function formatCount(count: number): string {
  return count.toLocaleString("en-US");
}

/**
 * A count and its noun, singular for 1: `1 connection`, `16,359 connections`.
 *
 * @example
 * ```ts
 * import { plural } from "./format.ts";
 *
 * plural(1, "byte"); // "1 byte"
 * plural(1200, "round trip"); // "1,200 round trips"
 * ```
 */
export function plural(count: number, noun: string, nouns = `${noun}s`): string {
  return `${formatCount(count)} ${count === 1 ? noun : nouns}`;
}

/**
 * A duration in ms as the seconds a user typed: `5 s`, `0.3 s`.
 *
 * @example
 * ```ts
 * import { formatSeconds } from "./format.ts";
 *
 * formatSeconds(300); // "0.3 s"
 * ```
 */
export function formatSeconds(ms: number): string {
  // Rounding drops float noise such as 0.30000000000000004 from -t 0.3.
  return `${Number((ms / 1000).toFixed(6))} s`;
}

function escapeCodePoint(codePoint: number): string {
  const named = NAMED_ESCAPES[codePoint];
  if (named !== undefined) return named;
  if (codePoint < 0x20 || codePoint === 0x7f) return hexEscape(codePoint);
  // C1 controls, line/paragraph separators and bidi controls can rewrite what
  // a terminal shows, so they are never written raw.
  if (
    (codePoint >= 0x80 && codePoint <= 0x9f) ||
    codePoint === 0x2028 || codePoint === 0x2029 ||
    (codePoint >= 0x202a && codePoint <= 0x202e) ||
    (codePoint >= 0x2066 && codePoint <= 0x2069)
  ) {
    return `\\u{${codePoint.toString(16)}}`;
  }
  return String.fromCodePoint(codePoint);
}

function hexEscape(byte: number): string {
  return `\\x${byte.toString(16).padStart(2, "0")}`;
}

/**
 * Decodes the UTF-8 sequence starting at `start` (not reading at or past
 * `end`) and returns `[codePoint, size]`, or `[-1, 0]` if the bytes there are
 * not a valid, shortest-form sequence.
 */
function decodeUtf8At(
  bytes: Uint8Array,
  start: number,
  end: number,
): [number, number] {
  const lead = bytes[start];
  if (lead < 0x80) return [lead, 1];
  const size = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 0;
  if (size === 0 || lead > 0xf4 || start + size > end) return [-1, 0];
  let codePoint = lead & (0xff >> (size + 1));
  for (let k = 1; k < size; k++) {
    const next = bytes[start + k];
    if ((next & 0xc0) !== 0x80) return [-1, 0];
    codePoint = (codePoint << 6) | (next & 0x3f);
  }
  const smallest = [0, 0, 0x80, 0x800, 0x10000][size];
  const surrogate = codePoint >= 0xd800 && codePoint <= 0xdfff;
  if (codePoint < smallest || surrogate || codePoint > 0x10ffff) {
    return [-1, 0];
  }
  return [codePoint, size];
}

/**
 * Formats an address as `host:port`, with IPv6 hosts in brackets, or a Unix
 * socket's path (empty for an unnamed client socket).
 *
 * @example
 * ```ts
 * import { formatAddress } from "./format.ts";
 *
 * formatAddress({ hostname: "::1", port: 4321 }); // "[::1]:4321"
 * formatAddress({ transport: "unix", path: "/tmp/echo.sock" }); // "/tmp/echo.sock"
 * ```
 */
export function formatAddress(
  addr: { hostname: string; port: number } | Deno.UnixAddr,
): string {
  if (!("hostname" in addr)) return addr.path;
  const { hostname, port } = addr;
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/**
 * Formats a time in epoch milliseconds as seconds with six zero-padded
 * fraction digits, the C server's `tv_sec.tv_usec` done right.
 *
 * @example
 * ```ts
 * import { formatEpochMicros } from "./format.ts";
 *
 * formatEpochMicros(1795551096000.005); // "1795551096.000005"
 * ```
 */
export function formatEpochMicros(epochMs: number): string {
  const micros = Math.round(epochMs * 1000);
  const seconds = Math.floor(micros / 1_000_000);
  const fraction = String(micros - seconds * 1_000_000).padStart(6, "0");
  return `${seconds}.${fraction}`;
}
