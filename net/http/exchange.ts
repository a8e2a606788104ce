/**
 * One connection as `serve --http` serves it, and what each reply on it says
 * of it: the headers every reply carries (`X-Echo-Instance`,
 * `X-Echo-Connection`, `X-Echo-Request`), the raw format's description in
 * headers, the description object, the TLS facts known of the connection,
 * whether it may carry another request, and how it is cut for the `reset`
 * fault.
 *
 * @example
 * ```ts
 * import { echoHeaders, type Exchange } from "./exchange.ts";
 *
 * declare const exchange: Exchange;
 * echoHeaders(exchange); // [["X-Echo-Instance", "web-1"], ["X-Echo-Connection", "3"], ["X-Echo-Request", "1"]]
 * ```
 *
 * @module
 */

import { formatAddress } from "../format.ts";
import { closeQuietly, type StreamConn } from "../io.ts";
import type { SocketAddr } from "../listen.ts";
import type { ConnReader } from "./body.ts";
import {
  type BodyFacts,
  type DescribeInput,
  describeRequest,
  jsonPrefix,
  type RequestDescription,
  type TlsFacts,
} from "./describe.ts";
import type { HttpConnectionInfo, HttpHandlerOptions } from "./options.ts";
import type { Headers } from "./reply.ts";
import { hasToken, type RequestHead } from "./request.ts";

/** One connection as the loop serves it. */
export interface Exchange {
  /** The connection. */
  readonly conn: StreamConn;
  /** Its facts, as the server reports them. */
  readonly info: HttpConnectionInfo;
  /** Its bytes read and not yet used. */
  readonly reader: ConnReader;
  /** Bytes read and written, for the idle watch and the totals. */
  readonly progress: { bytes: number };
  /** The handler's options. */
  readonly options: HttpHandlerOptions;
  /** What is known of its TLS, over TLS. */
  readonly tls?: TlsFacts;
  /** The request being served, from 1. */
  request: number;
  /** The JSON reply's prefix for the last head described (a repeated head reuses it). */
  prefix?: { head: RequestHead; text: string };
}

/** The headers every reply carries. */
export function echoHeaders(
  { options, info, request }: Pick<Exchange, "options" | "info" | "request">,
): Headers {
  return [
    ["X-Echo-Instance", options.instance],
    ["X-Echo-Connection", String(info.id)],
    ["X-Echo-Request", String(request)],
  ];
}

/**
 * The raw format's description, in headers (its body is the request's own,
 * and so is its `contentType`).
 */
export function rawHeaders(
  { info, tls }: Pick<Exchange, "info" | "tls">,
  head: DescribeInput["head"],
  contentType: string | undefined,
): Headers {
  const headers: Headers = [
    ["Content-Type", contentType || "application/octet-stream"],
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
  return formatAddress(addr) || "unix";
}

/**
 * The description of `head` on this connection, with its body's facts;
 * `headersMerged` where the runtime merged its headers (HTTP/2).
 */
export function describe(
  exchange: Pick<Exchange, "options" | "info" | "tls" | "request">,
  head: DescribeInput["head"],
  body: BodyFacts,
  headersMerged = false,
): RequestDescription {
  const { info } = exchange;
  return describeRequest({
    instance: exchange.options.instance,
    head,
    headersMerged,
    peer: info.proxyAddr ?? info.remoteAddr,
    client: info.proxyAddr ? info.remoteAddr : undefined,
    tls: exchange.tls,
    connection: { id: info.id, request: exchange.request },
    body,
  });
}

/** Tells `onRequest`, building the description only when someone listens. */
export function report(
  exchange: Exchange,
  head: RequestHead,
  body: BodyFacts,
  status: number,
  bytesOut: number,
): void {
  const { onRequest } = exchange.options;
  if (onRequest) {
    onRequest(exchange.info, { description: describe(exchange, head, body), status, bytesOut });
  }
}

/** The JSON reply's prefix for `description` of `head`, kept for the next request with the same head. */
export function jsonPrefixOf(
  exchange: Exchange,
  head: RequestHead,
  description: RequestDescription,
): string {
  if (exchange.prefix?.head !== head) exchange.prefix = { head, text: jsonPrefix(description) };
  return exchange.prefix.text;
}

/** Whether the connection may carry another request after this one (RFC 9112 §9.3). */
export function persistent(head: RequestHead): boolean {
  return head.version === "HTTP/1.1"
    ? !hasToken(head, "connection", "close")
    : hasToken(head, "connection", "keep-alive");
}

/**
 * Ends a connection abortively (the `reset` fault) where its transport can:
 * a `reset()` method, as a node:net socket has (`resetAndDestroy`). Deno's
 * own TCP connection offers no SO_LINGER, and its `close()` sends a FIN even
 * with bytes unread (measured), so there the cut is a close.
 */
export function resetConnection(conn: StreamConn): void {
  const resettable = conn as { reset?: () => void };
  if (typeof resettable.reset === "function") resettable.reset();
  else closeQuietly(conn);
}
