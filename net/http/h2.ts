/**
 * `serve --http` over HTTP/2: h2 where TLS's ALPN agreed on it, h2c where a
 * cleartext connection opens with the client preface (prior knowledge).
 * Such a connection is relayed to Deno's own HTTP/2 server
 * (`h2_relay.ts`), whose requests get what HTTP/1.1 ones get
 * (`handler.ts`): the same description (protocol `h2` or `h2c`), formats,
 * `X-Echo-*` headers, shaping, reserved paths and drain. What differs is
 * what HTTP/2 makes differ: the headers are Fetch's (names lower-case,
 * repeats merged, so `headersMerged` is `true`, sorted by name, the
 * authority first as `:authority`); `close` and `reset` end the request's
 * stream (RST_STREAM), not the connection; a draining server answers and
 * then sends GOAWAY, as `Connection: close` does for HTTP/1.1.
 *
 * @example
 * ```ts
 * import { serve } from "../../server.ts";
 * import { httpHandler } from "./handler.ts";
 * import { H2Server } from "./h2.ts";
 *
 * const options = { instance: "web-1" };
 * const h2 = new H2Server(options);
 * const server = await serve({ port: 8080, handler: httpHandler({ ...options, h2 }) });
 * // curl -s --http2-prior-knowledge http://127.0.0.1:8080/hello
 * await server.shutdown();
 * await h2.close();
 * ```
 *
 * @module
 */

import { formatAddress } from "../format.ts";
import type { SocketAddr } from "../listen.ts";
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
  DEFAULT_MAX_ECHO_BODY,
  type HttpConnectionInfo,
  type HttpHandlerOptions,
} from "./handler.ts";
import { type Body, bodyMeter, cutAfter, pause, replyBody } from "./h2_body.ts";
import { LoopbackRelay, type Relayed } from "./h2_relay.ts";
import {
  describedReply,
  type Headers as HeaderList,
  patternReply,
  type Reply,
  textReply,
} from "./reply.ts";
import { HttpRequestError } from "./request.ts";
import { reasonPhrase, statusHasBody } from "./response.ts";
import { DEFAULT_SHAPING_LIMITS, parseShaping, ShapingError, type ShapingPlan } from "./shaping.ts";

/** What the answers of one h2 connection need to know of it. */
interface H2Connection {
  readonly info: HttpConnectionInfo;
  readonly tls?: TlsFacts;
}

/**
 * The HTTP/2 side of `serve --http`: give it to `httpHandler` (option
 * `h2`), call {@linkcode H2Server.drain} when the drain starts and
 * {@linkcode H2Server.close} after the server's shutdown.
 *
 * @example
 * ```ts
 * import { H2Server } from "./h2.ts";
 *
 * const h2 = new H2Server({ instance: "web-1" });
 * h2.drain(); // open h2 connections get GOAWAY once their requests finish
 * await h2.close();
 * ```
 */
export class H2Server {
  readonly #relay: LoopbackRelay<H2Connection>;

  /** Answers as `httpHandler(options)` does. */
  constructor(readonly options: HttpHandlerOptions) {
    this.#relay = new LoopbackRelay((request, relayed, completed) =>
      answer(options, request, relayed, completed)
    );
  }

  /** Serves an h2 connection (`pending`: what was read of it already) until it ends. */
  serve(
    conn: Deno.Conn,
    info: HttpConnectionInfo,
    pending: Uint8Array | undefined,
    progress: { bytes: number },
    tls?: TlsFacts,
  ): Promise<void> {
    return this.#relay.relay(conn, pending, progress, { info, tls });
  }

  /** Starts the drain: open h2 connections get GOAWAY once their requests in flight finish. */
  drain(): void {
    this.#relay.retire().catch(() => {}); // close() waits for it
  }

  /** Stops the internal server (after the server's shutdown has closed the connections). */
  close(): Promise<void> {
    return this.#relay.close();
  }
}

/** One request of an h2 connection, as its answer is built. */
interface H2Exchange {
  readonly options: HttpHandlerOptions;
  readonly relayed: Relayed<H2Connection>;
  readonly request: Request;
  readonly head: {
    method: string;
    path: string;
    query: string;
    version: "h2" | "h2c";
    headers: [string, string][];
  };
  /** The headers every reply carries (`X-Echo-Instance`, `-Connection`, `-Request`). */
  readonly echo: HeaderList;
  /** Which request of its connection, from 1. */
  readonly number: number;
}

async function answer(
  options: HttpHandlerOptions,
  request: Request,
  relayed: Relayed<H2Connection>,
  completed: Promise<void>,
): Promise<Response> {
  const number = ++relayed.requests;
  const { info, tls } = relayed.facts;
  const url = new URL(request.url);
  const exchange: H2Exchange = {
    options,
    relayed,
    request,
    // The URL is Deno's reading of :path (dot segments resolved, as the URL parser does).
    head: {
      method: request.method,
      path: url.pathname,
      query: url.search.slice(1),
      version: tls ? "h2" : "h2c",
      headers: [[":authority", url.host], ...request.headers],
    },
    echo: [
      ["X-Echo-Instance", options.instance],
      ["X-Echo-Connection", String(info.id)],
      ["X-Echo-Request", String(number)],
    ],
    number,
  };
  const draining = options.isDraining?.() ?? false;
  // Answered, then GOAWAY: HTTP/2's Connection: close.
  if (draining) relayed.retire().catch(() => {}); // close() waits for it
  const { path } = exchange.head;
  if (path === "/healthz" || path === "/readyz") {
    const reply = path === "/healthz"
      ? textReply(200, "ok\n", exchange.echo)
      : draining
      ? textReply(503, "draining\n", exchange.echo)
      : textReply(200, "ready\n", exchange.echo);
    const described = () => describe(exchange, EMPTY_BODY);
    return send(exchange, reply.status, replyBody(reply), reply.headers, described, completed);
  }
  try {
    return await answerEcho(exchange, completed);
  } catch (error) {
    if (error instanceof ShapingError) {
      return refuse(exchange, new HttpRequestError(400, error.message), error.message);
    }
    if (error instanceof HttpRequestError) return refuse(exchange, error);
    throw error;
  }
}

/** The echo: the description, the raw body back, or a shaped reply. */
async function answerEcho(exchange: H2Exchange, completed: Promise<void>): Promise<Response> {
  const { options, request, head } = exchange;
  const format = chooseFormat(head.query, request.headers.get("accept") ?? undefined);
  if (format === undefined) {
    throw new HttpRequestError(400, "bad parameter format: expected json, text or raw");
  }
  const plan = parseShaping(
    new URLSearchParams(head.query),
    (name) => request.headers.get(name) ?? undefined,
    options.shaping ?? DEFAULT_SHAPING_LIMITS,
  );
  if (plan.status < 200) {
    throw new HttpRequestError(
      400,
      `bad parameter status: ${plan.status} is informational, and HTTP/2 cannot end a ` +
        "request with it",
    );
  }
  const maxBody = options.maxBodyBytes ?? Infinity;
  const declared = Number(request.headers.get("content-length") ?? 0);
  if (declared > maxBody) {
    throw new HttpRequestError(413, `body of ${declared} bytes is over --max-body ${maxBody}`);
  }
  const digest = new BodyDigest(options.maxEchoBodyBytes ?? DEFAULT_MAX_ECHO_BODY);
  const meter = bodyMeter(digest, maxBody);
  const extra = (more: HeaderList): HeaderList => [...exchange.echo, ...more, ...plan.headers];
  if (format === "raw" && plan.size === undefined) {
    await pause(plan.delayMs, exchange.relayed.ended);
    const echoed = request.body?.pipeThrough(meter) ?? null;
    if (!statusHasBody(plan.status)) await echoed?.pipeTo(new WritableStream());
    const body = statusHasBody(plan.status) ? echoed : null;
    const headers = extra(rawHeaders(exchange));
    const described = () => describe(exchange, digest.finish());
    return send(
      exchange,
      plan.status,
      cutAfter(body, cutLimit(plan), exchange.relayed),
      headers,
      described,
      completed,
    );
  }
  if (request.body) await request.body.pipeThrough(meter).pipeTo(new WritableStream());
  await pause(plan.delayMs, exchange.relayed.ended);
  const description = describe(exchange, digest.finish());
  const reply: Reply = plan.size !== undefined
    ? patternReply(plan.size, plan.status, extra([]))
    : describedReply(format === "raw" ? "json" : format, description, plan.status, extra([]));
  const body = statusHasBody(reply.status) ? replyBody(reply) : null;
  return send(
    exchange,
    reply.status,
    cutAfter(body, cutLimit(plan), exchange.relayed),
    reply.headers,
    () => description,
    completed,
  );
}

/** A refusal: its status, one line naming why; the connection goes on (only the stream was bad). */
function refuse(exchange: H2Exchange, error: HttpRequestError, line?: string): Response {
  exchange.options.onRefused?.(exchange.relayed.facts.info, error);
  const text = line ?? `${reasonPhrase(error.status).toLowerCase() || "error"}: ${error.reason}`;
  const reply = textReply(error.status, text + "\n", exchange.echo);
  return new Response(replyBody(reply), { status: reply.status, headers: reply.headers });
}

/** The response; once it has been delivered (or has failed), `onRequest` hears of it. */
function send(
  exchange: H2Exchange,
  status: number,
  body: Body,
  headers: HeaderList,
  described: () => RequestDescription,
  completed: Promise<void>,
): Response {
  const { onRequest } = exchange.options;
  let bytesOut = body instanceof Uint8Array ? body.length : 0;
  const counted = onRequest && body instanceof ReadableStream
    ? body.pipeThrough(
      new TransformStream({
        transform(chunk, controller) {
          bytesOut += chunk.length;
          controller.enqueue(chunk);
        },
      }),
    )
    : body;
  const report = () => {
    const sent = exchange.head.method === "HEAD" ? 0 : bytesOut;
    onRequest!(exchange.relayed.facts.info, { description: described(), status, bytesOut: sent });
  };
  // Reported either way: a reply cut on purpose, or to a client that left, was still served.
  if (onRequest) completed.then(report, report);
  else completed.catch(() => {});
  return new Response(counted, { status, headers });
}

/** The description of the request, with its body's facts. */
function describe(exchange: H2Exchange, body: BodyFacts): RequestDescription {
  const { info, tls } = exchange.relayed.facts;
  return describeRequest({
    instance: exchange.options.instance,
    head: exchange.head,
    headersMerged: true,
    peer: info.proxyAddr ?? info.remoteAddr,
    client: info.proxyAddr ? info.remoteAddr : undefined,
    tls,
    connection: { id: info.id, request: exchange.number },
    body,
  });
}

/** The raw format's description, in headers (its body is the request's own). */
function rawHeaders({ request, head, relayed }: H2Exchange): HeaderList {
  const { info, tls } = relayed.facts;
  const headers: HeaderList = [
    ["Content-Type", request.headers.get("content-type") || "application/octet-stream"],
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

/** Where `close=after-headers` (no body byte) or `reset=N` cut the reply. */
function cutLimit(plan: ShapingPlan): number | undefined {
  return plan.close === "after-headers" ? 0 : plan.resetAfter;
}
