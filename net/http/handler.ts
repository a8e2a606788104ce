/**
 * `serve --http`: the HTTP/1.1 loop of one connection, plugged into the
 * echo server's accept loop (`server.ts`'s `handler` option), so that
 * `--allow`/`--deny`, `--max-connections`, `--idle-timeout`, the PROXY
 * protocol and TLS apply as they do to the TCP echo. Requests are read one
 * after another (keep-alive, pipelining: what arrived with a request is kept
 * for the next), each answered with its description (JSON or text), its own
 * body (raw, streamed back as it arrives) or a shaped reply (`shaping.ts`);
 * `/healthz` and `/readyz` are reserved; `Upgrade: websocket` hands the
 * connection to the WebSocket echo (`ws_echo.ts`); a malformed request gets
 * a status naming why, and the connection closes. No input makes it throw
 * but the connection's own end.
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
import { type BodyFraming, bodyFraming, ConnReader, readBody, waitWatching } from "./body.ts";
import { BodyDigest, chooseFormat, EMPTY_BODY } from "./describe.ts";
import { opensWithPreface } from "./h2_relay.ts";
import {
  describe,
  echoHeaders,
  type Exchange,
  jsonPrefixOf,
  persistent,
  rawHeaders,
  report,
  resetConnection,
} from "./exchange.ts";
import {
  describedReply,
  echoBody,
  type Headers,
  patternReply,
  type Reply,
  reservedReply,
  sendRefusal,
  sendReply,
} from "./reply.ts";
import {
  badParameter,
  hasToken,
  headerValue,
  HeadParser,
  HttpRequestError,
  type RequestHead,
} from "./request.ts";
import { ResponseCutError, ResponseSink } from "./response.ts";
import {
  DEFAULT_SHAPING_LIMITS,
  parseShaping,
  ShapingError,
  type ShapingLimits,
  type ShapingPlan,
  UNSHAPED,
} from "./shaping.ts";
import { echoWebSocket, upgradeResponse } from "./ws_echo.ts";
import { WebSocketHandshakeError } from "./websocket.ts";
import type { ConnectionHandler, HttpHandlerOptions } from "./options.ts";

export type {
  ConnectionHandler,
  H2Handoff,
  HttpConnectionInfo,
  HttpHandlerOptions,
  ServedRequest,
} from "./options.ts";

/** The default `--max-echo-body`: 64 KiB. */
export const DEFAULT_MAX_ECHO_BODY = 64 * 1024;

/** An instance name that cannot go in a header (empty, spaces, control or non-ASCII characters). */
export class InstanceNameError extends SockechoError {}

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
    const { tls } = info;
    const reader = new ConnReader(conn, progress, pending);
    if (options.h2 && (tls?.alpn === "h2" || await opensWithPreface(reader))) {
      return await options.h2.serve(conn, info, reader.bytes.slice(), progress, tls);
    }
    const exchange: Exchange = { conn, info, reader, progress, options, tls, request: 0 };
    const parser = new HeadParser();
    for (;;) {
      exchange.request++;
      try {
        const head = await readHead(exchange.reader, parser);
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
async function readHead(reader: ConnReader, parser: HeadParser): Promise<RequestHead | undefined> {
  for (;;) {
    const head = parser.parse(reader.bytes);
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
  const reserved = reservedReply(head.path, draining, headers);
  if (reserved) {
    if (framing.kind !== "none") {
      await continueIfAsked(exchange, head);
      await readBody(reader, framing, () => {}, maxBody);
    }
    const sink = new ResponseSink(exchange.conn, exchange.progress);
    await sendReply(sink, head, reserved, keepAlive);
    report(exchange, head, EMPTY_BODY, reserved.status, sink.bytes);
    return keepAlive;
  }
  if (hasToken(head, "upgrade", "websocket")) {
    await upgradeToWebSocket(exchange, head, framing, headers);
    return false;
  }
  const format = chooseFormat(head.query, headerValue(head, "accept"));
  if (format === undefined) {
    throw badParameter("bad parameter format: expected json, text or raw");
  }
  const plan = shapingPlanOf(head, options.shaping ?? DEFAULT_SHAPING_LIMITS);
  // A 1xx as the final status leaves the client waiting for another: close after it.
  const goOn = keepAlive && plan.status >= 200 && plan.close === undefined &&
    plan.resetAfter === undefined;
  const sink = new ResponseSink(exchange.conn, exchange.progress, plan.resetAfter);
  const digest = new BodyDigest(options.maxEchoBodyBytes ?? DEFAULT_MAX_ECHO_BODY);
  const withPlan = (more: Headers): Headers => [...headers, ...more, ...plan.headers];
  if (framing.kind !== "none") await continueIfAsked(exchange, head);
  let started = false;
  try {
    if (format === "raw" && plan.size === undefined) {
      if (plan.delayMs > 0) await waitWatching(reader, plan.delayMs);
      started = true;
      const reply = {
        status: plan.status,
        headers: withPlan(rawHeaders(exchange, head, headerValue(head, "content-type"))),
        keepAlive: goOn,
        afterHeaders: plan.close === "after-headers",
      };
      const canGoOn = await echoBody(sink, reader, head, framing, maxBody, reply, digest);
      report(exchange, head, digest.finish(), plan.status, sink.bytes);
      // reset=N past the whole reply: it all went, and the reset follows it.
      if (plan.resetAfter !== undefined) resetConnection(exchange.conn);
      return canGoOn;
    }
    if (framing.kind !== "none") {
      await readBody(reader, framing, (chunk) => digest.update(chunk), maxBody);
    }
    if (plan.delayMs > 0) await waitWatching(reader, plan.delayMs);
    started = true;
    const description = describe(exchange, head, digest.finish());
    const reply: Reply = plan.size !== undefined
      ? patternReply(plan.size, plan.status, withPlan([]))
      : format === "text"
      ? describedReply("text", description, plan.status, withPlan([]))
      : describedReply(
        "json",
        description,
        plan.status,
        withPlan([]),
        jsonPrefixOf(exchange, head, description),
      );
    await sendReply(sink, head, reply, goOn, plan.close === "after-headers");
    options.onRequest?.(exchange.info, { description, status: plan.status, bytesOut: sink.bytes });
    if (plan.resetAfter !== undefined) resetConnection(exchange.conn);
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

/**
 * The request's shaping plan: the unshaped one, without parsing, when
 * nothing in the query or the headers could ask for any (most requests).
 */
function shapingPlanOf(head: RequestHead, limits: ShapingLimits): ShapingPlan {
  if (head.query === "" && !head.names.some((name) => name.startsWith("x-echo-"))) return UNSHAPED;
  try {
    return parseShaping(
      new URLSearchParams(head.query),
      (name) => headerValue(head, name.toLowerCase()),
      limits,
    );
  } catch (error) {
    if (error instanceof ShapingError) throw badParameter(error.message);
    throw error;
  }
}

/**
 * Answers a WebSocket upgrade with the 101 and hands the connection to the
 * echo, with what was read past the head. Throws {@linkcode HttpRequestError}
 * for an upgrade request RFC 6455 §4.2.1 refuses.
 */
async function upgradeToWebSocket(
  exchange: Exchange,
  head: RequestHead,
  framing: BodyFraming,
  headers: Headers,
): Promise<void> {
  if (head.method !== "GET" || head.version !== "HTTP/1.1") {
    throw new HttpRequestError(400, "a WebSocket upgrade is a GET over HTTP/1.1");
  }
  if (!hasToken(head, "connection", "upgrade")) {
    throw new HttpRequestError(400, "a WebSocket upgrade without Connection: Upgrade");
  }
  if (framing.kind !== "none") throw new HttpRequestError(400, "a WebSocket upgrade with a body");
  if (headerValue(head, "sec-websocket-version") !== "13") {
    throw new HttpRequestError(426, "Sec-WebSocket-Version must be 13", {
      headers: [["Sec-WebSocket-Version", "13"]],
    });
  }
  let response: Uint8Array;
  try {
    response = await upgradeResponse(headerValue(head, "sec-websocket-key") ?? "", headers);
  } catch (error) {
    if (error instanceof WebSocketHandshakeError) throw new HttpRequestError(400, error.message);
    throw error;
  }
  const sink = new ResponseSink(exchange.conn, exchange.progress);
  await sink.write(response);
  report(exchange, head, EMPTY_BODY, 101, sink.bytes);
  const { reader, progress, options } = exchange;
  const pending = reader.bytes.slice();
  reader.consume(pending.length);
  await echoWebSocket(exchange.conn, pending, { ...options.webSocket, progress });
}

/** Writes `100 Continue` when an HTTP/1.1 client waits for it before sending the body it has. */
async function continueIfAsked(exchange: Exchange, head: RequestHead) {
  if (head.version !== "HTTP/1.1") return;
  if (headerValue(head, "expect")?.toLowerCase() !== "100-continue") return;
  await new ResponseSink(exchange.conn, exchange.progress).writeText(
    "HTTP/1.1 100 Continue\r\n\r\n",
  );
}
