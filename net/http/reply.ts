/**
 * The replies of `serve --http`, written to a {@linkcode ResponseSink}: one
 * whose body is known before it is sent (a description, a reserved path's
 * word, a refusal, `size`'s pattern, streamed from one shared chunk), and
 * the raw echo, whose body is the request's own, written back piece by piece
 * as it is read, with the request's framing (Content-Length, or chunked).
 *
 * @example
 * ```ts
 * import { sendReply, textReply } from "./reply.ts";
 * import { ResponseSink } from "./response.ts";
 *
 * const conn = await Deno.connect({ port: 8080 });
 * const sink = new ResponseSink(conn, { bytes: 0 });
 * await sendReply(sink, { version: "HTTP/1.1", method: "GET" }, textReply(200, "ok\n", []), true);
 * conn.close();
 * ```
 *
 * @module
 */

import { closeAfter } from "../io.ts";
import { type ConnReader, readBody } from "./body.ts";
import type { BodyDigest, EchoFormat, RequestDescription } from "./describe.ts";
import { formatJson, formatText } from "./describe.ts";
import type { BodyFraming } from "./body.ts";
import type { HttpRequestError, RequestHead } from "./request.ts";
import {
  chunkFrame,
  LAST_CHUNK,
  reasonPhrase,
  responseHead,
  type ResponseSink,
  statusHasBody,
} from "./response.ts";

/** A response header list. */
export type Headers = [string, string][];

/** A reply whose body is known before it is sent: bytes, or `pattern` bytes of the size pattern. */
export interface Reply {
  /** The status. */
  status: number;
  /** Headers but the framing and `Connection`, which {@linkcode sendReply} adds. */
  headers: Headers;
  /** The body: text (sent as UTF-8), or `pattern` bytes of the size pattern. */
  body: string | { pattern: number };
}

/** What the request line says that decides the reply's shape. */
export type RequestLine = Pick<RequestHead, "version" | "method">;

const encoder = new TextEncoder();

/** The `size` pattern's period: `abcdefghijklmnopqrstuvwxyz`, over and over. */
export const PATTERN_TEXT = "abcdefghijklmnopqrstuvwxyz";
// A whole number of periods, so each chunk written starts at "a" again.
const PATTERN_CHUNK = encoder.encode(PATTERN_TEXT.repeat(2521));

/**
 * The first `length` bytes of the `size` pattern (for tests and clients
 * that check a shaped body).
 *
 * @example
 * ```ts
 * import { patternText } from "./reply.ts";
 *
 * patternText(28); // "abcdefghijklmnopqrstuvwxyzab"
 * ```
 */
export function patternText(length: number): string {
  return PATTERN_TEXT.repeat(Math.ceil(length / PATTERN_TEXT.length)).slice(0, length);
}

/** A plain-text reply. */
export function textReply(status: number, text: string, headers: Headers): Reply {
  return {
    status,
    headers: [["Content-Type", "text/plain; charset=utf-8"], ...headers],
    body: text,
  };
}

/**
 * The reply of a reserved path: `/healthz` 200 `ok`, `/readyz` 200 `ready`
 * or, `draining`, 503 `draining`; `undefined` for any other path.
 *
 * @example
 * ```ts
 * import { reservedReply } from "./reply.ts";
 *
 * reservedReply("/readyz", true, [])?.status; // 503
 * reservedReply("/other", false, []); // undefined
 * ```
 */
export function reservedReply(
  path: string,
  draining: boolean,
  headers: Headers,
): Reply | undefined {
  if (path === "/healthz") return textReply(200, "ok\n", headers);
  if (path !== "/readyz") return undefined;
  return draining ? textReply(503, "draining\n", headers) : textReply(200, "ready\n", headers);
}

/** The description as a JSON or text reply. */
export function describedReply(
  format: Exclude<EchoFormat, "raw">,
  description: RequestDescription,
  status: number,
  headers: Headers,
  jsonPrefix?: string,
): Reply {
  if (format === "text") return textReply(status, formatText(description), headers);
  return {
    status,
    headers: [["Content-Type", "application/json"], ...headers],
    body: formatJson(description, jsonPrefix),
  };
}

/** `size`'s reply: `length` bytes of the pattern. */
export function patternReply(length: number, status: number, headers: Headers): Reply {
  return {
    status,
    headers: [["Content-Type", "text/plain; charset=utf-8"], ...headers],
    body: { pattern: length },
  };
}

/**
 * Writes `reply`: head and body in one write when the body is bytes, the
 * pattern streamed in 64 KiB writes. No body for HEAD, for a status that has
 * none, or with `afterHeaders` (the `close=after-headers` fault: the head
 * announces a body that never comes).
 */
export async function sendReply(
  sink: ResponseSink,
  request: RequestLine,
  reply: Reply,
  keepAlive: boolean,
  afterHeaders = false,
): Promise<void> {
  const { body, status } = reply;
  const hasBody = statusHasBody(status);
  const headFor = (length: number) => {
    const headers = [...reply.headers];
    if (hasBody) headers.push(["Content-Length", String(length)]);
    return responseHead("HTTP/1.1", status, withConnection(headers, request, keepAlive));
  };
  const bodyToo = hasBody && request.method !== "HEAD" && !afterHeaders;
  if (typeof body === "string") return await sink.writeHeadAndText(headFor, body, bodyToo);
  const head = encoder.encode(headFor(body.pattern));
  if (!bodyToo || body.pattern === 0) return await sink.write(head);
  sink.hold(head);
  for (let sent = 0; sent < body.pattern; sent += PATTERN_CHUNK.length) {
    await sink.write(
      PATTERN_CHUNK.subarray(0, Math.min(PATTERN_CHUNK.length, body.pattern - sent)),
    );
  }
}

/** The raw echo's reply: what {@linkcode echoBody} sends. */
export interface EchoReply {
  /** The status (200 unless shaped). */
  status: number;
  /** Headers but the framing and `Connection`. */
  headers: Headers;
  /** Whether the connection may go on after it. */
  keepAlive: boolean;
  /** `close=after-headers`: the head only. */
  afterHeaders: boolean;
}

/**
 * The raw format: the request's body written back as it is read, never held
 * whole, under a head that frames it as the request did (Content-Length, or
 * chunked; to an HTTP/1.0 client a chunked body comes back close-delimited).
 * Each piece also goes through `digest`. Resolves whether the connection may
 * go on.
 */
export async function echoBody(
  sink: ResponseSink,
  reader: ConnReader,
  request: RequestLine,
  framing: BodyFraming,
  maxBodyBytes: number,
  reply: EchoReply,
  digest: BodyDigest,
): Promise<boolean> {
  const headers = [...reply.headers];
  const hasBody = statusHasBody(reply.status) && request.method !== "HEAD";
  let { keepAlive } = reply;
  const chunked = framing.kind === "chunked" && request.version === "HTTP/1.1";
  if (statusHasBody(reply.status)) {
    if (framing.kind !== "chunked") {
      headers.push(["Content-Length", String(framing.kind === "length" ? framing.length : 0)]);
    } else if (chunked) {
      headers.push(["Transfer-Encoding", "chunked"]);
    } else {
      keepAlive = false; // the end of the body is the end of the connection
    }
  }
  const head = encoder.encode(
    responseHead("HTTP/1.1", reply.status, withConnection(headers, request, keepAlive)),
  );
  if (reply.afterHeaders) {
    await sink.write(head);
    return false;
  }
  sink.hold(head);
  await readBody(reader, framing, async (piece) => {
    digest.update(piece);
    if (hasBody) await sink.write(chunked ? chunkFrame(piece) : piece);
  }, maxBodyBytes);
  if (hasBody && chunked) await sink.write(LAST_CHUNK);
  await sink.flush();
  return keepAlive;
}

/**
 * A refusal's reply: its status and one line, `options.line` or
 * `<status words>: <reason>` (`bad request: header line without a colon`).
 */
export function refusalReply(error: HttpRequestError, headers: Headers): Reply {
  const line = error.options.line ??
    `${reasonPhrase(error.status).toLowerCase() || "error"}: ${error.reason}`;
  return textReply(error.status, line + "\n", [...headers, ...error.options.headers ?? []]);
}

/**
 * Answers a refused request: its status, `Connection: close`, and one line
 * naming the reason (`bad request: header line without a colon`); then
 * half-closes and reads what the client still sends, for at most 2 s, so
 * that closing with its bytes unread does not reset the connection before
 * the client has read why.
 */
export async function sendRefusal(
  sink: ResponseSink,
  reader: ConnReader,
  error: HttpRequestError,
  headers: Headers,
): Promise<void> {
  const reply = refusalReply(error, headers);
  await sendReply(sink, { version: "HTTP/1.1", method: "GET" }, reply, false);
  const conn = sink.conn as Partial<Pick<Deno.Conn, "closeWrite" | "close">>;
  if (!conn.closeWrite || !conn.close) return;
  await conn.closeWrite();
  const deadline = closeAfter(conn as Deno.Conn, 2000);
  try {
    for (let drained = 0; drained < 1 << 20 && await reader.fill();) {
      drained += reader.bytes.length;
      reader.consume(reader.bytes.length);
    }
  } catch {
    // Closed by the deadline or reset by the client: the reply was written, nothing more to do.
  } finally {
    deadline.clear();
  }
}

/** `headers` and the `Connection` header the reply needs: `close`, or `keep-alive` to HTTP/1.0. */
function withConnection(headers: Headers, request: RequestLine, keepAlive: boolean): Headers {
  if (!keepAlive) headers.push(["Connection", "close"]);
  else if (request.version === "HTTP/1.0") headers.push(["Connection", "keep-alive"]);
  return headers;
}
