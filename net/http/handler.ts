/**
 * `serve --http`: the HTTP/1.1 loop of one connection, plugged into the
 * echo server's accept loop (`server.ts`'s `handler` option), so that
 * `--allow`/`--deny`, `--max-connections`, `--idle-timeout`, the PROXY
 * protocol and TLS apply as they do to the TCP echo. Requests are read one
 * after another (keep-alive, pipelining: what arrived with a request is kept
 * for the next), each answered with its description (JSON or text), its own
 * body (raw, streamed back as it arrives) or a shaped reply; `/healthz` and
 * `/readyz` are reserved; a malformed request gets a status naming why, and
 * the connection closes. No input makes it throw but the connection's own end.
 *
 * @example
 * ```ts
 * import { serve } from "../../server.ts";
 * import { httpHandler } from "./handler.ts";
 *
 * const server = await serve({ port: 8080, handler: httpHandler({ instance: "web-1" }) });
 * // curl -s http://127.0.0.1:8080/hello
 * await server.shutdown();
 * ```
 *
 * @module
 */

import { SockechoError } from "../errors.ts";
import { closeQuietly } from "../io.ts";
import type { SocketAddr } from "../listen.ts";
import { ConnReader, readBody, waitWatching } from "./body.ts";
import {
  BodyDigest,
  type BodyFacts,
  chooseFormat,
  describeRequest,
  EMPTY_BODY,
  type RequestDescription,
  type TlsFacts,
} from "./describe.ts";
import {
  describedReply,
  echoBody,
  type Headers,
  patternReply,
  type Reply,
  sendRefusal,
  sendReply,
  textReply,
} from "./reply.ts";
import {
  bodyFraming,
  DEFAULT_HEAD_LIMITS,
  hasToken,
  headerValue,
  HttpRequestError,
  parseRequestHead,
  type RequestHead,
} from "./request.ts";
import { ResponseCutError, ResponseSink } from "./response.ts";

/** The connection facts the handler needs (`server.ts`'s `ConnectionInfo` has them). */
export interface HttpConnectionInfo {
  /** Sequence number of the connection, from 1. */
  readonly id: number;
  /** The client: the PROXY-declared one when there was a header, else the peer. */
  readonly remoteAddr: SocketAddr;
  /** The connection's peer when a PROXY header named `remoteAddr` as the client. */
  readonly proxyAddr?: SocketAddr;
  /** The server's end of the connection. */
  readonly localAddr: SocketAddr;
}

/** One request served, for the log and the ledger. */
export interface ServedRequest {
  /** The request's description (the JSON reply's object, body digest included). */
  readonly description: RequestDescription;
  /** The status answered. */
  readonly status: number;
  /** Bytes of response written (head included). */
  readonly bytesOut: number;
}

/** Options for {@linkcode httpHandler}. */
export interface HttpHandlerOptions {
  /** The instance name every reply carries (`X-Echo-Instance`, `instance`): visible ASCII. */
  instance: string;
  /** Keep at most this many body bytes in a description (`--max-echo-body`). @default {65536} */
  maxEchoBodyBytes?: number;
  /** Refuse bodies larger than this with a 413 (`--max-body`). @default {Infinity} */
  maxBodyBytes?: number;
  /** The bounds of shaping (`--max-delay`, `--max-size`). @default {DEFAULT_SHAPING_LIMITS} */
  shaping?: ShapingLimits;
  /**
   * Whether the server is draining (after SIGTERM): `/readyz` answers 503
   * and every reply closes its connection. @default {never}
   */
  isDraining?: () => boolean;
  /** Called after each request has been answered (or its reply cut by a fault it asked for). */
  onRequest?: (info: HttpConnectionInfo, served: ServedRequest) => void;
  /** Called for each request refused (400, 413, 414, 431, 501, 505), before the refusal is sent. */
  onRefused?: (info: HttpConnectionInfo, error: HttpRequestError) => void;
}

/** What `server.ts` runs for each prepared connection. */
export type ConnectionHandler = (
  conn: Deno.Conn,
  info: HttpConnectionInfo,
  pending: Uint8Array | undefined,
  progress: { bytes: number },
) => Promise<void>;

/** The default `--max-echo-body`: 64 KiB. */
export const DEFAULT_MAX_ECHO_BODY = 64 * 1024;

/** An instance name that cannot go in a header (empty, spaces, control or non-ASCII characters). */
export class InstanceNameError extends SockechoError {}

// ---------------------------------------------------------------------------
// INTEGRATION POINT (shaping): `net/http/shaping.ts` lands from branch
// `shaping`; until then every request gets the unshaped plan below.
/** The shaping bounds (`net/http/shaping.ts`'s `ShapingLimits`). */
export interface ShapingLimits {
  /** The longest `delay`, in ms. */
  maxDelayMs: number;
  /** The largest `size` and `reset`, in bytes. */
  maxSize: number;
}
/** What a request's shaping asks (`net/http/shaping.ts`'s `ShapingPlan`). */
interface ShapingPlan {
  status: number;
  delayMs: number;
  size?: number;
  headers: [string, string][];
  close?: "after-headers";
  resetAfter?: number;
}
function shapingPlanOf(_head: RequestHead, _limits?: ShapingLimits): ShapingPlan {
  return { status: 200, delayMs: 0, headers: [] };
}
// ---------------------------------------------------------------------------

/** One connection as the loop serves it. */
interface Exchange {
  readonly conn: Deno.Conn;
  readonly info: HttpConnectionInfo;
  readonly reader: ConnReader;
  readonly progress: { bytes: number };
  readonly options: HttpHandlerOptions;
  readonly tls?: TlsFacts;
  /** The request being served, from 1. */
  request: number;
}

/**
 * The connection handler of `serve --http`: serves HTTP/1.1 requests on a
 * connection until the client closes it, a reply closes it, or a request is
 * refused. Throws {@linkcode InstanceNameError} for an instance name no
 * header can carry.
 *
 * @example
 * ```ts
 * import { httpHandler } from "./handler.ts";
 *
 * const handler = httpHandler({ instance: "web-1", isDraining: () => false });
 * ```
 */
export function httpHandler(options: HttpHandlerOptions): ConnectionHandler {
  if (!/^[\x21-\x7e]+$/.test(options.instance)) {
    throw new InstanceNameError(
      `invalid instance name ${JSON.stringify(options.instance)}: use visible ASCII, no spaces`,
    );
  }
  return async (conn, info, pending, progress) => {
    const exchange: Exchange = {
      conn,
      info,
      reader: new ConnReader(conn, progress, pending),
      progress,
      options,
      tls: await tlsFactsOf(conn),
      request: 0,
    };
    for (;;) {
      exchange.request++;
      try {
        const head = await readHead(exchange.reader);
        if (head === undefined) return; // the client closed between requests
        exchange.reader.consume(head.length);
        if (!await serveRequest(exchange, head)) return;
      } catch (error) {
        if (!(error instanceof HttpRequestError)) throw error;
        options.onRefused?.(info, error);
        const sink = new ResponseSink(conn, progress);
        return await sendRefusal(sink, exchange.reader, error, echoHeaders(exchange));
      }
    }
  };
}

/** Reads until a whole head is held; `undefined` when the client closed before sending a byte of it. */
async function readHead(reader: ConnReader): Promise<RequestHead | undefined> {
  for (;;) {
    const head = parseRequestHead(reader.bytes, DEFAULT_HEAD_LIMITS);
    if (head !== undefined) return head;
    if (!await reader.fill()) {
      if (reader.bytes.length === 0) return undefined;
      throw new HttpRequestError(
        400,
        "the client finished sending in the middle of a request head",
      );
    }
  }
}

/**
 * Answers one request; resolves whether the connection goes on to the next.
 * Throws {@linkcode HttpRequestError} for a request refused before any of its
 * reply was written.
 */
async function serveRequest(exchange: Exchange, head: RequestHead): Promise<boolean> {
  const { options, reader } = exchange;
  const framing = bodyFraming(head);
  const maxBody = options.maxBodyBytes ?? Infinity;
  if (framing.kind === "length" && framing.length > maxBody) {
    throw new HttpRequestError(
      413,
      `body of ${framing.length} bytes is over --max-body ${maxBody}`,
    );
  }
  const draining = options.isDraining?.() ?? false;
  const keepAlive = !draining && persistent(head);
  const headers = echoHeaders(exchange);
  if (head.path === "/healthz" || head.path === "/readyz") {
    await continueIfAsked(exchange, head, framing.kind);
    await readBody(reader, framing, () => {}, maxBody);
    const sink = new ResponseSink(exchange.conn, exchange.progress);
    const reply = head.path === "/healthz"
      ? textReply(200, "ok\n", headers)
      : draining
      ? textReply(503, "draining\n", headers)
      : textReply(200, "ready\n", headers);
    await sendReply(sink, head, reply, keepAlive);
    report(exchange, head, EMPTY_BODY, reply.status, sink.bytes);
    return keepAlive;
  }
  if (hasToken(head, "upgrade", "websocket")) {
    // INTEGRATION POINT (websocket): the 101 and echoWebSocket() land from branch `websocket`.
    throw new HttpRequestError(501, "WebSocket echo is not available in this build");
  }
  const format = chooseFormat(head.query, headerValue(head, "accept"));
  if (format === undefined) {
    throw new HttpRequestError(400, "bad parameter format: expected json, text or raw");
  }
  const plan = shapingPlanOf(head, options.shaping);
  // A 1xx as the final status leaves the client waiting for another: close after it.
  const goOn = keepAlive && plan.status >= 200 && plan.close === undefined &&
    plan.resetAfter === undefined;
  const sink = new ResponseSink(exchange.conn, exchange.progress, plan.resetAfter);
  const digest = new BodyDigest(options.maxEchoBodyBytes ?? DEFAULT_MAX_ECHO_BODY);
  const extra = (more: Headers): Headers => [...headers, ...more, ...plan.headers];
  await continueIfAsked(exchange, head, framing.kind);
  let started = false;
  try {
    if (format === "raw" && plan.size === undefined) {
      await waitWatching(reader, plan.delayMs);
      started = true;
      const reply = {
        status: plan.status,
        headers: extra(rawHeaders(exchange, head)),
        keepAlive: goOn,
        afterHeaders: plan.close === "after-headers",
      };
      const canGoOn = await echoBody(sink, reader, head, framing, maxBody, reply, digest);
      report(exchange, head, digest.finish(), plan.status, sink.bytes);
      return canGoOn;
    }
    await readBody(reader, framing, (chunk) => digest.update(chunk), maxBody);
    await waitWatching(reader, plan.delayMs);
    started = true;
    const description = describe(exchange, head, digest.finish());
    const reply: Reply = plan.size !== undefined
      ? patternReply(plan.size, plan.status, extra([]))
      : describedReply(format === "raw" ? "json" : format, description, plan.status, extra([]));
    await sendReply(sink, head, reply, goOn, plan.close === "after-headers");
    options.onRequest?.(exchange.info, { description, status: plan.status, bytesOut: sink.bytes });
    return goOn;
  } catch (error) {
    if (error instanceof ResponseCutError) {
      report(exchange, head, digest.finish(), plan.status, sink.bytes);
      resetConnection(exchange.conn);
      return false;
    }
    // Once a reply has begun a refusal cannot be sent: only the connection ends.
    if (started && error instanceof HttpRequestError) return false;
    throw error;
  }
}

/** Writes `100 Continue` when an HTTP/1.1 client waits for it before sending its body. */
async function continueIfAsked(exchange: Exchange, head: RequestHead, body: string): Promise<void> {
  if (body === "none" || head.version !== "HTTP/1.1") return;
  if (headerValue(head, "expect")?.toLowerCase() !== "100-continue") return;
  await new ResponseSink(exchange.conn, exchange.progress).writeText(
    "HTTP/1.1 100 Continue\r\n\r\n",
  );
}

/** Whether the connection may carry another request after this one (RFC 9112 §9.3). */
function persistent(head: RequestHead): boolean {
  return head.version === "HTTP/1.1"
    ? !hasToken(head, "connection", "close")
    : hasToken(head, "connection", "keep-alive");
}

/** The headers every reply carries. */
function echoHeaders({ options, info, request }: Exchange): Headers {
  return [
    ["X-Echo-Instance", options.instance],
    ["X-Echo-Connection", String(info.id)],
    ["X-Echo-Request", String(request)],
  ];
}

/** The raw format's description, in headers (its body is the request's). */
function rawHeaders({ info, tls }: Exchange, head: RequestHead): Headers {
  const headers: Headers = [
    ["Content-Type", headerValue(head, "content-type") || "application/octet-stream"],
    ["X-Echo-Protocol", head.version],
    ["X-Echo-Method", head.method],
    ["X-Echo-Path", head.path],
    ["X-Echo-Peer", addressText(info.proxyAddr ?? info.remoteAddr)],
  ];
  if (info.proxyAddr) headers.push(["X-Echo-Client", addressText(info.remoteAddr)]);
  if (tls) {
    const facts = [tls.version, tls.cipher, tls.alpn && `alpn=${tls.alpn}`].filter(Boolean);
    headers.push(["X-Echo-Tls", facts.join(" ") || "yes"]);
  }
  return headers;
}

function addressText(addr: SocketAddr): string {
  if ("path" in addr) return addr.path || "unix";
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

function describe(exchange: Exchange, head: RequestHead, body: BodyFacts): RequestDescription {
  const { info } = exchange;
  return describeRequest({
    instance: exchange.options.instance,
    head,
    peer: info.proxyAddr ?? info.remoteAddr,
    client: info.proxyAddr ? info.remoteAddr : undefined,
    tls: exchange.tls,
    connection: { id: info.id, request: exchange.request },
    body,
  });
}

/** Tells `onRequest`, building the description only when someone listens. */
function report(
  exchange: Exchange,
  head: RequestHead,
  body: BodyFacts,
  status: number,
  bytesOut: number,
) {
  const { onRequest } = exchange.options;
  if (onRequest) {
    onRequest(exchange.info, { description: describe(exchange, head, body), status, bytesOut });
  }
}

/**
 * The TLS facts of a connection: those a transport attached (`conn.tls`),
 * else what Deno's TLS connection tells (the ALPN protocol), else none.
 */
async function tlsFactsOf(conn: Deno.Conn): Promise<TlsFacts | undefined> {
  const attached = (conn as { tls?: TlsFacts }).tls;
  if (attached) return attached;
  const tls = conn as Partial<Pick<Deno.TlsConn, "handshake">>;
  if (typeof tls.handshake !== "function") return undefined;
  const { alpnProtocol } = await tls.handshake(); // done already: this reads its result
  return { alpn: alpnProtocol };
}

/**
 * Ends a connection abortively (the `reset` fault) where the transport can
 * (a `reset()` method, as a node:net socket has); a Deno TCP connection has
 * no SO_LINGER, so it is closed with a FIN after the bytes asked for.
 */
function resetConnection(conn: Deno.Conn): void {
  const resettable = conn as { reset?: () => void };
  if (typeof resettable.reset === "function") resettable.reset();
  else closeQuietly(conn);
}
