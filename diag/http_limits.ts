/**
 * How large a header and a body pass, for `check --http`: the bound is tried
 * first, then a binary search finds the largest size that passes, in a
 * bounded number of requests, each on its own connection (a refusal often
 * closes it). A header passes when sockecho's description lists it as sent;
 * a body when its raw echo comes back exact. Above the limit, a status (431,
 * 413, 400) is a clean refusal; a connection closed, reset or silent instead,
 * or a header or body that arrives changed, is the path failing.
 *
 * @example
 * ```ts
 * import { dialStream } from "../net/dial.ts";
 * import { largestHeader } from "./http_limits.ts";
 *
 * const target = { hostname: "127.0.0.1", port: 4321 };
 * const found = await largestHeader({
 *   connect: () => dialStream(target, AbortSignal.timeout(3000)),
 *   host: "127.0.0.1:4321",
 *   path: "/",
 *   timeoutMs: 3000,
 * });
 * console.log(found.largest, found.above?.detail);
 * ```
 *
 * @module
 */

import type { DialedConn } from "../net/dial.ts";
import { formatCount } from "../net/format.ts";
import { HttpStatusError } from "../net/http/client.ts";
import { closeQuietly } from "../net/io.ts";
import { EchoMismatchError } from "./echo.ts";
import { httpEcho } from "./http_echo.ts";
import { askDescription } from "./http_seen.ts";
import { patternPayload } from "./payload.ts";

/** How one size fared. */
export type Trial =
  | { readonly kind: "pass" }
  /** Refused with a status: `detail` is the status line and the reason. */
  | { readonly kind: "refused"; readonly status: number; readonly detail: string }
  /** No status came: closed, reset or silent. */
  | { readonly kind: "cut"; readonly detail: string; readonly error: Error }
  /** It arrived changed. */
  | { readonly kind: "altered"; readonly detail: string; readonly error: Error; view?: string };

/** A size that did not pass, and how. */
export type Failed = { readonly size: number } & Exclude<Trial, { kind: "pass" }>;

/** What a search found. */
export interface Limit {
  /** The largest size that passed (the search's floor when none above it did). */
  readonly largest: number;
  /** The bound, tried first. */
  readonly bound: number;
  /** The smallest size that failed, and how (none when the bound passed). */
  readonly above?: Failed;
  /** The first size that was cut or altered rather than refused: the check fails. */
  readonly broken?: Failed;
  /** Requests made. */
  readonly requests: number;
}

/** Options of a search: where, and how long each request may take. */
export interface LimitOptions {
  /** Opens a fresh connection (each size gets its own). */
  connect: () => Promise<DialedConn>;
  /** The `Host` header. */
  host: string;
  /** The request target. */
  path: string;
  /** Time allowed for each request, in ms (a body's grows with its size). */
  timeoutMs: number;
}

/** The header that carries the size, and its value's alphabet (a cut or shift shows). */
export const PAD_HEADER = "X-Sockecho-Pad";
const PAD_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/**
 * Finds the largest size from `floor` (assumed to pass) to `bound` that
 * passes, to within `step`: the bound first, then halving. An altered trial
 * ends the search (the path corrupts; sizes no longer tell a limit).
 *
 * @example
 * ```ts
 * import { findLargest } from "./http_limits.ts";
 *
 * const found = await findLargest(0, 1000, 1, (size) =>
 *   Promise.resolve(size <= 600 ? { kind: "pass" } : { kind: "refused", status: 431, detail: "431" })
 * );
 * found.largest; // 600
 * ```
 */
export async function findLargest(
  floor: number,
  bound: number,
  step: number,
  trial: (size: number) => Promise<Trial>,
): Promise<Limit> {
  let requests = 0;
  let broken: Failed | undefined;
  let above: Failed | undefined;
  const attempt = async (size: number) => {
    requests++;
    const outcome = await trial(size);
    if (outcome.kind === "pass") return true;
    above = { size, ...outcome };
    if (outcome.kind !== "refused") broken ??= above;
    return false;
  };
  if (await attempt(bound)) return { largest: bound, bound, requests };
  let [low, high] = [floor, bound];
  while (high - low > step && broken?.kind !== "altered") {
    const middle = low + Math.max(step, Math.floor((high - low) / 2 / step) * step);
    if (await attempt(middle)) low = middle;
    else high = middle;
  }
  return { largest: low, bound, above, broken, requests };
}

/**
 * The largest `X-Sockecho-Pad` header value (in bytes) that arrives whole,
 * up to `bound` (64 KiB): at most 18 requests.
 *
 * @example
 * ```ts
 * import { dialStream } from "../net/dial.ts";
 * import { largestHeader } from "./http_limits.ts";
 *
 * const target = { hostname: "127.0.0.1", port: 4321 };
 * const connect = () => dialStream(target, AbortSignal.timeout(3000));
 * const { largest } = await largestHeader({ connect, host: "127.0.0.1:4321", path: "/", timeoutMs: 3000 });
 * ```
 */
export function largestHeader(options: LimitOptions, bound = 64 * 1024): Promise<Limit> {
  return findLargest(0, bound, 1, (size) => headerTrial(options, size));
}

/**
 * The largest body (in bytes) echoed exact, from `floor` (known to pass) up
 * to `bound`, to within 64 KiB: at most 9 requests.
 *
 * @example
 * ```ts
 * import { dialStream } from "../net/dial.ts";
 * import { largestBody } from "./http_limits.ts";
 *
 * const target = { hostname: "127.0.0.1", port: 4321 };
 * const connect = () => dialStream(target, AbortSignal.timeout(3000));
 * const options = { connect, host: "127.0.0.1:4321", path: "/", timeoutMs: 3000 };
 * const { largest } = await largestBody(options, 1 << 20, 16 << 20);
 * ```
 */
export function largestBody(options: LimitOptions, floor: number, bound: number): Promise<Limit> {
  return findLargest(floor, bound, 64 * 1024, (size) => bodyTrial(options, size));
}

/** The pad value of `size` bytes. */
function padValue(size: number): string {
  return PAD_ALPHABET.repeat(Math.ceil(size / PAD_ALPHABET.length)).slice(0, size);
}

async function headerTrial(
  { connect, host, path, timeoutMs }: LimitOptions,
  size: number,
): Promise<Trial> {
  const value = padValue(size);
  let conn: DialedConn | undefined;
  try {
    conn = await connect();
    const headers: [string, string][] = [
      ["Host", host],
      ["Accept", "application/json"],
      [PAD_HEADER, value],
    ];
    const reply = await askDescription(conn, { path, headers, timeoutMs });
    if (reply.status >= 300) {
      const { status, reason, firstLine } = reply;
      return {
        kind: "refused",
        status,
        detail: `${status} ${reason}${firstLine && `: ${firstLine}`}`,
      };
    }
    // Another server than sockecho's: a success is all there is to see.
    if (!reply.description) return { kind: "pass" };
    const seen = reply.description.headers.filter(([name]) =>
      name.toLowerCase() === "x-sockecho-pad"
    );
    if (seen.length === 1 && seen[0][1] === value) return { kind: "pass" };
    const detail = seen.length === 0
      ? `a header of ${formatCount(size)} B did not arrive (the server saw none)`
      : `a header of ${formatCount(size)} B arrived as ${
        seen.map(([, got]) => `${formatCount(got.length)} B`).join(" and ")
      }, not as sent`;
    return { kind: "altered", detail, error: new Error(detail) };
  } catch (error) {
    const detail = `a header of ${formatCount(size)} B got no status: ${(error as Error).message}`;
    return { kind: "cut", detail, error: error as Error };
  } finally {
    if (conn) closeQuietly(conn);
  }
}

async function bodyTrial(
  { connect, host, path, timeoutMs }: LimitOptions,
  size: number,
): Promise<Trial> {
  let conn: DialedConn | undefined;
  try {
    conn = await connect();
    // A large body takes longer than a step: at least 1 MB/s on top of the step's time.
    const allowedMs = timeoutMs + size / 1000;
    await httpEcho(conn, patternPayload(size), { host, path }, { timeoutMs: allowedMs });
    return { kind: "pass" };
  } catch (error) {
    if (error instanceof HttpStatusError) {
      // "127.0.0.1:80 answered 413 Payload Too Large: …": from the status on.
      const detail = error.message.slice(error.message.indexOf(" answered ") + 10);
      return { kind: "refused", status: error.status, detail };
    }
    const message = (error as Error).message;
    if (error instanceof EchoMismatchError) {
      const detail = `a body of ${formatCount(size)} B: ${message}`;
      return { kind: "altered", detail, error, view: error.view };
    }
    return {
      kind: "cut",
      detail: `a body of ${formatCount(size)} B: ${message}`,
      error: error as Error,
    };
  } finally {
    if (conn) closeQuietly(conn);
  }
}
