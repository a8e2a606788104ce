/**
 * What the server saw of a request, for `check --http`: one GET asking for
 * sockecho's JSON description (`?format=json`), whose `headers` list the
 * request as it arrived, after everything in between. Compared with what
 * was sent, it says whether `Host` was rewritten, which headers the path
 * added (`X-Forwarded-For`, `Via`, `Forwarded` …), dropped or changed, and
 * whether the server's peer is us or something in between.
 *
 * @example
 * ```ts
 * import { dialTcp } from "../net/dial.ts";
 * import { askDescription, compareHeaders } from "./http_seen.ts";
 *
 * const conn = await dialTcp({ hostname: "127.0.0.1", port: 4321 }, AbortSignal.timeout(3000));
 * const sent: [string, string][] = [["Host", "127.0.0.1:4321"], ["Accept", "application/json"]];
 * const seen = await askDescription(conn, { path: "/", headers: sent, timeoutMs: 3000 });
 * if (seen.description) console.log(compareHeaders(sent, seen.description.headers));
 * conn.close();
 * ```
 *
 * @module
 */

import { describeRemote, type DialedConn } from "../net/dial.ts";
import { SockechoError, TimeoutError } from "../net/errors.ts";
import { escapeBytes, formatSeconds } from "../net/format.ts";
import { request } from "../net/http/client.ts";
import type { DescribedAddress, RequestDescription } from "../net/http/describe.ts";
import { closeAfter } from "../net/io.ts";

/** The request {@linkcode askDescription} makes. */
export interface DescriptionRequest {
  /** The request target; `format=json` is added to its query. */
  path: string;
  /** Every header to send, `Host` first (send `Accept: application/json` too). */
  headers: [string, string][];
  /** Time allowed for the whole exchange, in ms. */
  timeoutMs: number;
}

/** The part of sockecho's description `check --http` reads. */
export type SeenRequest = Pick<RequestDescription, "headers" | "peer" | "client" | "instance">;

/** What came back. */
export interface SeenReply {
  /** The response's status and reason phrase. */
  readonly status: number;
  readonly reason: string;
  /** Whether the connection may carry another request. */
  readonly keepAlive: boolean;
  /** The response's headers, in arrival order. */
  readonly headers: [string, string][];
  /** The description, when the body was one (sockecho's JSON); else undefined. */
  readonly description?: SeenRequest;
  /** The body's first line, safe to print (a refusal's reason). */
  readonly firstLine: string;
}

/** How the headers that arrived differ from those sent. */
export interface HeaderChanges {
  /** Arrived, but not sent (by name, any case), in arrival order. */
  readonly added: [string, string][];
  /** Sent, but none of the name arrived. */
  readonly removed: [string, string][];
  /** Sent and arrived under the name, with other values: [name, sent, arrived]. */
  readonly changed: [string, string, string][];
}

/** Most of a description read: sockecho's stays far below (its body data is at most 64 KiB). */
const MAX_DESCRIPTION_BYTES = 4 * 1024 * 1024;

/**
 * The request target with `parameter` added to its query.
 *
 * @example
 * ```ts
 * import { withQuery } from "./http_seen.ts";
 *
 * withQuery("/a?b=1", "format=json"); // "/a?b=1&format=json"
 * ```
 */
export function withQuery(path: string, parameter: string): string {
  return `${path}${path.includes("?") ? "&" : "?"}${parameter}`;
}

/**
 * Asks for the JSON description on `conn` (the body read whole, bounded),
 * within `timeoutMs`. Any status comes back as it is: the caller judges.
 * Throws a `TimeoutError`, or what the HTTP client throws (a cut or
 * malformed reply); the connection is then closed.
 *
 * @example
 * ```ts
 * import { dialTcp } from "../net/dial.ts";
 * import { askDescription } from "./http_seen.ts";
 *
 * const conn = await dialTcp({ hostname: "127.0.0.1", port: 4321 }, AbortSignal.timeout(3000));
 * const headers: [string, string][] = [["Host", "127.0.0.1:4321"]];
 * const { status, description } = await askDescription(conn, { path: "/", headers, timeoutMs: 3000 });
 * conn.close();
 * ```
 */
export async function askDescription(
  conn: DialedConn,
  { path, headers, timeoutMs }: DescriptionRequest,
): Promise<SeenReply> {
  const [[, host], ...rest] = headers;
  const deadline = closeAfter(conn, timeoutMs);
  try {
    const response = await request(conn, {
      host,
      path: withQuery(path, "format=json"),
      headers: rest,
    });
    const body = await response.body.bytes(MAX_DESCRIPTION_BYTES);
    const lineEnd = body.indexOf(0x0a);
    const { status, reason, keepAlive } = response;
    return {
      status,
      reason,
      keepAlive,
      headers: response.headers,
      description: status < 300 ? parseDescription(body) : undefined,
      firstLine: escapeBytes(body.subarray(0, lineEnd < 0 ? Math.min(body.length, 200) : lineEnd))
        .replace(/\\r$/, ""),
    };
  } catch (error) {
    conn.close();
    if (deadline.fired) {
      throw new TimeoutError(
        `timed out after ${formatSeconds(timeoutMs)} waiting for ${describeRemote(conn)}'s reply`,
      );
    }
    if (error instanceof SockechoError) throw error;
    throw new SockechoError(`${describeRemote(conn)}: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    deadline.clear();
  }
}

/** The description in `body`, or undefined when it is not one (another kind of server). */
function parseDescription(body: Uint8Array): SeenRequest | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return undefined;
  }
  const { headers, peer, client, instance } = (parsed ?? {}) as Record<string, unknown>;
  const isPair = (pair: unknown) =>
    Array.isArray(pair) && pair.length === 2 && pair.every((part) => typeof part === "string");
  if (!Array.isArray(headers) || !headers.every(isPair)) return undefined;
  return {
    headers: headers as [string, string][],
    peer: peer as DescribedAddress,
    ...client !== undefined && { client: client as DescribedAddress },
    instance: typeof instance === "string" ? instance : "",
  };
}

/**
 * Which headers the path added, dropped or changed, by name (any case); the
 * values of a repeated name are compared joined by `, ` (how a proxy may
 * merge them).
 *
 * @example
 * ```ts
 * import { compareHeaders } from "./http_seen.ts";
 *
 * compareHeaders([["Host", "a"], ["X-A", "1"]], [["host", "a"], ["X-Forwarded-For", "10.0.0.1"]]);
 * // { added: [["X-Forwarded-For", "10.0.0.1"]], removed: [["X-A", "1"]], changed: [] }
 * ```
 */
export function compareHeaders(
  sent: readonly (readonly [string, string])[],
  seen: readonly (readonly [string, string])[],
): HeaderChanges {
  const joined = (headers: readonly (readonly [string, string])[]) => {
    const values = new Map<string, { name: string; values: string[] }>();
    for (const [name, value] of headers) {
      const key = name.toLowerCase();
      const entry = values.get(key) ?? values.set(key, { name, values: [] }).get(key)!;
      entry.values.push(value);
    }
    return values;
  };
  const before = joined(sent);
  const after = joined(seen);
  const changes: HeaderChanges = { added: [], removed: [], changed: [] };
  for (const [name, value] of seen) {
    if (!before.has(name.toLowerCase())) changes.added.push([name, value]);
  }
  for (const [key, { name, values }] of before) {
    const arrived = after.get(key);
    if (arrived === undefined) changes.removed.push([name, values.join(", ")]);
    else if (arrived.values.join(", ") !== values.join(", ")) {
      changes.changed.push([name, values.join(", "), arrived.values.join(", ")]);
    }
  }
  return changes;
}

/** Headers by which a proxy tells the server about the client (RFC 7239 and the de facto ones). */
const FORWARDING = /^(x-forwarded-|forwarded$|via$|x-real-ip$|x-client-ip$|true-client-ip$)/i;

/**
 * Whether `name` is a header by which a proxy passes on the client (its
 * address, the scheme, the host asked for) or itself (`Via`).
 *
 * @example
 * ```ts
 * import { isForwarding } from "./http_seen.ts";
 *
 * isForwarding("X-Forwarded-For"); // true
 * isForwarding("Connection"); // false
 * ```
 */
export function isForwarding(name: string): boolean {
  return FORWARDING.test(name);
}
