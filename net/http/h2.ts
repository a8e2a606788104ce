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

import type { StreamConn } from "../io.ts";
import {
  BodyDigest,
  type BodyFacts,
  chooseFormat,
  type DescribeInput,
  EMPTY_BODY,
  type RequestDescription,
  type TlsFacts,
} from "./describe.ts";
import { describe, echoHeaders, rawHeaders } from "./exchange.ts";
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
  refusalReply,
  type Reply,
  reservedReply,
} from "./reply.ts";
import { badParameter, HttpRequestError } from "./request.ts";
import { statusHasBody } from "./response.ts";
import { DEFAULT_SHAPING_LIMITS, parseShaping, ShapingError, UNSHAPED } from "./shaping.ts";

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
    conn: StreamConn,
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

/** One request of an h2 connection, as its answer is built (an `Exchange`'s facts). */
interface H2Exchange {
  readonly options: HttpHandlerOptions;
  readonly info: HttpConnectionInfo;
  readonly tls?: TlsFacts;
  /** Which request of its connection, from 1. */
  readonly request: number;
  readonly relayed: Relayed<H2Connection>;
  readonly incoming: Request;
  readonly head: DescribeInput["head"];
  /** The headers every reply carries (`X-Echo-Instance`, `-Connection`, `-Request`). */
  readonly echo: HeaderList;
}

async function answer(
  options: HttpHandlerOptions,
  incoming: Request,
  relayed: Relayed<H2Connection>,
  completed: Promise<void>,
): Promise<Response> {
  const { info, tls } = relayed.facts;
  const { authority, path, query } = splitUrl(incoming.url);
  const facts = { options, info, tls, request: ++relayed.requests };
  const exchange: H2Exchange = {
    ...facts,
    relayed,
    incoming,
    head: {
      method: incoming.method,
      path,
      query,
      version: tls ? "h2" : "h2c",
      headers: [[":authority", authority], ...incoming.headers],
    },
    echo: echoHeaders(facts),
  };
  const draining = options.isDraining?.() ?? false;
  // Answered, then GOAWAY: HTTP/2's Connection: close.
  if (draining) relayed.retire().catch(() => {}); // close() waits for it
  const reserved = reservedReply(exchange.head.path, draining, exchange.echo);
  if (reserved) {
    const described = () => describeH2(exchange, EMPTY_BODY);
    return send(
      exchange,
      reserved.status,
      replyBody(reserved),
      reserved.headers,
      described,
      completed,
    );
  }
  try {
    return await answerEcho(exchange, completed);
  } catch (error) {
    const refusal = error instanceof ShapingError ? badParameter(error.message) : error;
    if (!(refusal instanceof HttpRequestError)) throw error;
    options.onRefused?.(info, refusal);
    const reply = refusalReply(refusal, exchange.echo);
    // Only this stream was refused: the connection goes on.
    return new Response(replyBody(reply), { status: reply.status, headers: reply.headers });
  }
}

/** The echo: the description, the raw body back, or a shaped reply. */
async function answerEcho(exchange: H2Exchange, completed: Promise<void>): Promise<Response> {
  const { options, incoming, head, relayed } = exchange;
  const format = chooseFormat(head.query, incoming.headers.get("accept") ?? undefined);
  if (format === undefined) throw badParameter("bad parameter format: expected json, text or raw");
  const plan = head.query === "" && !head.headers.some(([name]) => name.startsWith("x-echo-"))
    ? UNSHAPED
    : parseShaping(
      new URLSearchParams(head.query),
      (name) => incoming.headers.get(name) ?? undefined,
      options.shaping ?? DEFAULT_SHAPING_LIMITS,
    );
  if (plan.status < 200) {
    throw badParameter(
      `bad parameter status: ${plan.status} is informational; HTTP/2 cannot end a request with it`,
    );
  }
  const maxBody = options.maxBodyBytes ?? Infinity;
  const declared = Number(incoming.headers.get("content-length") ?? 0);
  if (declared > maxBody) {
    throw new HttpRequestError(413, `body of ${declared} bytes is over --max-body ${maxBody}`);
  }
  const digest = new BodyDigest(options.maxEchoBodyBytes ?? DEFAULT_MAX_ECHO_BODY);
  const withPlan = (more: HeaderList): HeaderList => [...exchange.echo, ...more, ...plan.headers];
  const limit = plan.close === "after-headers" ? 0 : plan.resetAfter;
  if (format === "raw" && plan.size === undefined) {
    await pause(plan.delayMs, relayed.ended);
    const echoed = incoming.body?.pipeThrough(bodyMeter(digest, maxBody)) ?? null;
    if (!statusHasBody(plan.status)) await echoed?.pipeTo(new WritableStream());
    const body = cutAfter(statusHasBody(plan.status) ? echoed : null, limit, relayed);
    const headers = withPlan(
      rawHeaders(exchange, head, incoming.headers.get("content-type") ?? undefined),
    );
    const described = () => describeH2(exchange, digest.finish());
    return send(exchange, plan.status, body, headers, described, completed);
  }
  await incoming.body?.pipeThrough(bodyMeter(digest, maxBody)).pipeTo(new WritableStream());
  await pause(plan.delayMs, relayed.ended);
  const description = describeH2(exchange, digest.finish());
  const reply: Reply = plan.size !== undefined
    ? patternReply(plan.size, plan.status, withPlan([]))
    : describedReply(format === "text" ? "text" : "json", description, plan.status, withPlan([]));
  const body = cutAfter(statusHasBody(reply.status) ? replyBody(reply) : null, limit, relayed);
  return send(exchange, reply.status, body, reply.headers, () => description, completed);
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
    onRequest!(exchange.info, { description: described(), status, bytesOut: sent });
  };
  // Reported either way: a reply cut on purpose, or to a client that left, was still served.
  if (onRequest) completed.then(report, report);
  else completed.catch(() => {});
  return new Response(counted, { status, headers });
}

/**
 * A request's URL as `Deno.serve` builds it (scheme, `://`, the authority,
 * then `:path` as the client sent it) taken apart without `new URL`, which
 * would resolve dot segments and re-encode: the path is shown as received.
 */
function splitUrl(url: string): { authority: string; path: string; query: string } {
  const start = url.indexOf("//") + 2;
  const slash = url.indexOf("/", start);
  const at = slash === -1 ? url.length : slash;
  const target = url.slice(at);
  const mark = target.indexOf("?");
  return {
    authority: url.slice(start, at),
    path: mark === -1 ? target : target.slice(0, mark),
    query: mark === -1 ? "" : target.slice(mark + 1),
  };
}

/** The description of the request (its headers merged, as Fetch's are), with its body's facts. */
function describeH2(exchange: H2Exchange, body: BodyFacts): RequestDescription {
  return describe(exchange, exchange.head, body, true);
}
