/**
 * The rows of `check --http` that judge what was found rather than run a
 * request: what the server saw (`host`, `forwarded`, `peer`), connection
 * reuse (`keep-alive`), the header and body limits, and the idle timeouts.
 * Each is a pure function of what `check_http.ts` collected.
 *
 * @example
 * ```ts
 * import { describeConnections } from "./check_http_rows.ts";
 *
 * const row = describeConnections([
 *   { keepAlive: true, headers: [["X-Echo-Connection", "7"]], connection: 1 },
 *   { keepAlive: true, headers: [["X-Echo-Connection", "7"]], connection: 1 },
 * ]);
 * console.log(row.detail); // "2 requests on one connection, kept alive; …"
 * ```
 *
 * @module
 */

import type { DialedConn } from "../net/dial.ts";
import { headerValue, HttpResponseError, HttpStatusError } from "../net/http/client.ts";
import { WebSocketHandshakeError, WebSocketProtocolError } from "../net/http/websocket.ts";
import { escapeBytes, formatAddress, formatCount, plural } from "../net/format.ts";
import type { DescribedAddress } from "../net/http/describe.ts";
import {
  ConnectError,
  MissingPermissionError,
  ResolveError,
  SockechoError,
  TimeoutError,
  TlsVerifyError,
} from "../net/errors.ts";
import type { CheckRow } from "./check.ts";
import { EchoCorruptedError, EchoIncompleteError, IdleCutError } from "./errors.ts";
import type { Limit } from "./http_limits.ts";
import { compareHeaders, isForwarding, type SeenReply } from "./http_seen.ts";
import { type IdleReport, idleSummary } from "./idle.ts";

/** A reply on the first connections: whether it kept the connection, and its headers. */
export interface Reply {
  readonly keepAlive: boolean;
  readonly headers: [string, string][];
  /** Which of our connections carried it, from 1. */
  readonly connection?: number;
}

/** The detail of an idle row that did not run. */
export const NOT_IDLE_CHECKED = "not checked: --idle MAX discovers it";

/**
 * `keep-alive`: how many connections our requests took, and which
 * connections the server says it saw them on (`X-Echo-Connection`): the
 * same one when the path reuses its connection to the server too.
 *
 * @example
 * ```ts
 * import { describeConnections } from "./check_http_rows.ts";
 *
 * describeConnections([{ keepAlive: false, headers: [], connection: 1 }]).verdict; // "info"
 * ```
 */
export function describeConnections(replies: Reply[]): CheckRow {
  const name = "keep-alive";
  if (replies.length === 0) return { name, verdict: "skip", detail: "no reply to look at" };
  const ours = new Set(replies.map((reply) => reply.connection)).size;
  const theirs = [
    ...new Set(replies.flatMap((reply) => headerValue(reply.headers, "x-echo-connection") ?? [])),
  ];
  const requests = plural(replies.length, "request");
  const kept = replies.slice(0, -1).every((reply) => reply.keepAlive);
  let detail = ours === 1
    ? `${requests} on one connection, kept alive`
    : kept
    ? `${requests} on ${ours} connections`
    : `${requests} needed ${ours} connections: the replies closed them (Connection: close)`;
  const them = replies.length === 1 ? "it" : "them";
  if (theirs.length === 1) detail += `; the server saw ${them} on one connection (${theirs[0]})`;
  else if (theirs.length > 1) {
    detail += `; the server saw ${theirs.length} connections (${theirs.join(", ")})` +
      (theirs.length > ours ? ": the path opens connections of its own to the server" : "");
  }
  return {
    name,
    verdict: "info",
    detail,
    facts: { requests: replies.length, connections: ours, serverConnections: theirs },
  };
}

/**
 * A limit's row: `pass` with the largest size found (and how the next size
 * was refused), `fail` when a size was cut without a status (exit 16) or
 * arrived changed (exit 15).
 *
 * @example
 * ```ts
 * import { limitRow } from "./check_http_rows.ts";
 *
 * limitRow("large header", "a header", { largest: 8192, bound: 65536, requests: 14 });
 * ```
 */
export function limitRow(name: string, what: string, limit: Limit): CheckRow {
  const { largest, bound, above, broken, requests } = limit;
  const facts = {
    largestBytes: largest,
    boundBytes: bound,
    refusedBytes: above?.size ?? null,
    refusedStatus: above?.kind === "refused" ? above.status : null,
    requests,
  };
  const passed = largest === bound
    ? `${what} of ${bytes(bound)} passes (the largest tried)`
    : `${what} of ${bytes(largest)} passes`;
  if (broken) {
    const Kind = broken.kind === "altered" ? EchoCorruptedError : EchoIncompleteError;
    const detail = `${passed}; ${broken.detail}`;
    const view = broken.kind === "altered" ? broken.view : undefined;
    return { name, verdict: "fail", detail, error: new Kind(`${name}: ${detail}`), view, facts };
  }
  const refused = above?.kind === "refused"
    ? `; ${bytes(above.size)} is refused: ${above.detail}`
    : "";
  return { name, verdict: "pass", detail: passed + refused, facts };
}

/**
 * The rows of what the server saw, from its description of a request sent
 * with `sent`: `host` (kept or rewritten), `forwarded` (headers the path
 * added, dropped, changed), `peer` (this client, or something in between).
 * An `Error` instead of a reply fails `host` (exit 16) and skips the rest.
 *
 * @example
 * ```ts
 * import { seenRows } from "./check_http_rows.ts";
 *
 * const rows = seenRows([["Host", "a"]], new Error("reset"), {
 *   localAddr: { transport: "tcp", hostname: "127.0.0.1", port: 50000 },
 * });
 * rows.map((row) => row.verdict); // ["fail", "skip", "skip"]
 * ```
 */
export function seenRows(
  sent: [string, string][],
  seen: SeenReply | Error,
  conn: Pick<DialedConn, "localAddr">,
): CheckRow[] {
  const skipAll = (first: CheckRow, detail: string): CheckRow[] => [
    first,
    { name: "forwarded", verdict: "skip", detail },
    { name: "peer", verdict: "skip", detail },
  ];
  if (seen instanceof Error) {
    const detail = `no reply to a GET of the JSON description: ${seen.message}`;
    const error = new EchoIncompleteError(`host: ${detail}`, { cause: seen });
    return skipAll({ name: "host", verdict: "fail", detail, error }, "no description");
  }
  const { description } = seen;
  if (!description) {
    const detail = seen.status >= 300
      ? `not checked: ?format=json was answered ${seen.status} ${seen.reason}`
      : "not checked: the reply is not sockecho's JSON description (serve --http)";
    return skipAll({ name: "host", verdict: "skip", detail }, detail);
  }
  const changes = compareHeaders(sent, description.headers);
  const sentHost = sent[0][1];
  const hosts = description.headers.filter(([name]) => name.toLowerCase() === "host");
  const host: CheckRow = {
    name: "host",
    verdict: "info",
    detail: hosts.length === 0
      ? `Host dropped: sent "${sentHost}", the server saw none`
      : hosts.length === 1 && hosts[0][1] === sentHost
      ? `Host kept: the server saw "${sentHost}"`
      : `Host rewritten: sent "${sentHost}", the server saw ${
        hosts.map(([, value]) => `"${safe(value)}"`).join(", ")
      }`,
    facts: { sent: sentHost, seen: hosts.map(([, value]) => value) },
  };
  const forwarding = changes.added.filter(([name]) => isForwarding(name));
  const others = changes.added.filter(([name]) => !isForwarding(name));
  const list = (headers: [string, string][]) =>
    headers.map(([name, value]) => `${safe(name)}: ${safe(value)}`).join(", ");
  const notes = [
    others.length > 0 ? `also added ${list(others)}` : "",
    changes.removed.length > 0 ? `dropped ${changes.removed.map(([n]) => n).join(", ")}` : "",
    ...changes.changed.filter(([name]) => name.toLowerCase() !== "host")
      .map(([name, was, now]) => `changed ${name} from "${was}" to "${safe(now)}"`),
  ].filter((note) => note !== "");
  const forwarded: CheckRow = {
    name: "forwarded",
    verdict: "info",
    detail:
      (forwarding.length > 0
        ? `the path added ${list(forwarding)}`
        : "no X-Forwarded-*, Forwarded or Via header was added") +
      (notes.length > 0 ? `; ${notes.join("; ")}` : ""),
    facts: { added: changes.added, removed: changes.removed, changed: changes.changed },
  };
  return [host, forwarded, peerRow(conn.localAddr, description.peer, description.client)];
}

/** `peer`: whether the server's TCP peer (and a PROXY header's client) is this client. */
function peerRow(
  local: Deno.NetAddr | Deno.UnixAddr,
  peer: DescribedAddress | undefined,
  client: DescribedAddress | undefined,
): CheckRow {
  const name = "peer";
  const ours = local.transport === "unix" ? undefined : formatAddress(local);
  const show = (addr: DescribedAddress) =>
    "path" in addr
      ? `the Unix socket ${addr.path || "(unnamed)"}`
      : formatAddress({ hostname: addr.address, port: addr.port });
  if (!peer) return { name, verdict: "skip", detail: "the description names no peer" };
  const facts = { local: ours ?? null, peer: show(peer), client: client ? show(client) : null };
  if (ours === undefined) {
    return {
      name,
      verdict: "info",
      detail: `over a Unix socket; the server's peer is ${show(peer)}`,
      facts,
    };
  }
  let detail = show(peer) === ours
    ? `the server's peer is this client (${ours}): nothing in between ends the TCP connection`
    : `the server's peer is ${show(peer)}, not this client (${ours}): a proxy or NAT is in between`;
  if (client) {
    detail += show(client) === ours
      ? `; its PROXY header names this client`
      : `; its PROXY header names ${show(client)}, not this client`;
  }
  return { name, verdict: "info", detail, facts };
}

/** Failures with exit codes of their own (21, 22, 23), kept as the rows' errors. */
export const HTTP_ERRORS = [
  HttpStatusError,
  HttpResponseError,
  WebSocketHandshakeError,
  WebSocketProtocolError,
];

/** Errors with an exit code of their own, which an idle row keeps as they are. */
const OWN_CODES = [
  ...HTTP_ERRORS,
  IdleCutError,
  ConnectError,
  ResolveError,
  TimeoutError,
  TlsVerifyError,
  MissingPermissionError,
];

/**
 * An idle row from its discovery: `pass` when no flow was cut within MAX,
 * `fail` (exit 19) with the shortest cut, or `fail` with why no flow could
 * start (a refused upgrade keeps its exit 23; a reply that closes every
 * connection is 19).
 *
 * @example
 * ```ts
 * import { idleRow } from "./check_http_rows.ts";
 *
 * const report = { flows: [], interrupted: false };
 * idleRow("keep-alive idle", 5000, 20, { status: "fulfilled", value: report }).verdict; // "pass"
 * ```
 */
export function idleRow(
  name: string,
  maxMs: number,
  flows: number,
  result: PromiseSettledResult<IdleReport>,
): CheckRow {
  if (result.status === "rejected") {
    const cause = result.reason as Error;
    const kept = OWN_CODES.some((kind) => cause instanceof kind);
    const detail = `no flow could start: ${cause.message}`;
    const error = kept && cause instanceof SockechoError
      ? cause
      : new EchoIncompleteError(`${name}: ${detail}`, { cause });
    return { name, verdict: "fail", detail, error };
  }
  const report = result.value;
  const facts = { maxS: maxMs / 1000, ...idleSummary(report) };
  const { shortestCutMs, longestSurvivedMs, interrupted } = report;
  const stopped = interrupted ? " (interrupted)" : "";
  if (shortestCutMs === undefined) {
    const detail = `no idle connection was cut within ${
      seconds(maxMs)
    } s (${flows} flows)${stopped}`;
    return { name, verdict: "pass", detail, facts };
  }
  const deaths = (["fin", "reset", "silence"] as const).map((death) =>
    `${death === "fin" ? "FIN" : death} ${
      report.flows.filter((flow) => flow.death === death).length
    }`
  ).join(", ");
  const survived = longestSurvivedMs === undefined
    ? ""
    : `; ${seconds(longestSurvivedMs)} s survived`;
  const detail = `cut after ${seconds(shortestCutMs)} s idle (${deaths})${survived}${stopped}`;
  return { name, verdict: "fail", detail, error: new IdleCutError(`${name}: ${detail}`), facts };
}

/** Text from the server (header names and values), safe to print: control bytes escaped. */
function safe(text: string): string {
  return escapeBytes(new TextEncoder().encode(text));
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function bytes(count: number): string {
  return `${formatCount(count)} B`;
}
