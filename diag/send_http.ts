/**
 * One verified echo over HTTP, `send --http`'s library side: connect to the
 * URL's host (TLS for `https://`), POST the message asking for the raw
 * format, check the echoed body byte for byte, and say which instance
 * answered. The module never prints: it returns a {@linkcode SendHttpResult}
 * or throws a typed error.
 *
 * @example
 * ```ts
 * import { sendHttp } from "./send_http.ts";
 *
 * const { status, instance, echo } = await sendHttp({ url: "http://127.0.0.1:4321/" });
 * console.log(status, instance, new TextDecoder().decode(echo));
 * ```
 *
 * @module
 */

import {
  type DialedConn,
  dialerFor,
  dialWithin,
  type NetTarget,
  type Resolver,
} from "../net/dial.ts";
import { closeQuietly } from "../net/io.ts";
import { resolveHost } from "../net/resolve.ts";
import type { TlsClientOptions, TlsSession } from "../net/tls/client.ts";
import { httpEcho } from "./http_echo.ts";
import { bytesPayload } from "./payload.ts";
import { C_CLIENT_MESSAGE } from "./send.ts";

/** Options for {@linkcode sendHttp}. */
export interface SendHttpOptions {
  /** An `http://` or `https://` URL: where to connect, the `Host` header and the path. */
  url: string | URL;
  /** The body to send and expect back. @default {C_CLIENT_MESSAGE} */
  message?: Uint8Array;
  /** The method; GET and HEAD send no body, and the reply is returned as it came. @default {"POST"} */
  method?: string;
  /** More request headers. @default {[]} */
  headers?: [string, string][];
  /** Time allowed for resolving, connecting and the whole exchange, in ms. @default {5000} */
  timeoutMs?: number;
  /** Turns the host name into addresses to try in order. @default {resolveHost} */
  resolve?: Resolver;
  /** How to trust an `https://` server. @default {the system's roots} */
  tls?: TlsClientOptions;
  /** Connect to this Unix domain socket instead (the URL still gives `Host` and the path). */
  path?: string;
}

/** What {@linkcode sendHttp} got back. */
export interface SendHttpResult {
  /** The status (below 300: above is an `HttpStatusError`). */
  status: number;
  /** Its reason phrase. */
  reason: string;
  /** The response's protocol, `HTTP/1.1` or `HTTP/1.0`. */
  protocol: string;
  /** `X-Echo-Instance`: which server answered, when it says. */
  instance?: string;
  /** The echoed body, equal to the message; for GET and HEAD the body's start as it came. */
  echo: Uint8Array;
  /** The response headers, in arrival order. */
  headers: [string, string][];
  /** The address that answered. */
  remoteAddr: Deno.NetAddr | Deno.UnixAddr;
  /** Over TLS: what the handshake settled. */
  tls?: TlsSession;
  /** From the first byte of the request to the last byte of the response, in ms. */
  roundTripMs: number;
}

/** Where a URL points, and what its requests carry. */
export interface UrlTarget extends NetTarget {
  /** `https://` or `wss://`: TLS. */
  secure: boolean;
  /** The `Host` header: the host, and the port when it is not the scheme's. */
  host: string;
  /** The request target: the path and the query (the fragment is not sent). */
  path: string;
}

const SCHEMES: Record<string, { port: number; secure: boolean }> = {
  "http:": { port: 80, secure: false },
  "https:": { port: 443, secure: true },
  "ws:": { port: 80, secure: false },
  "wss:": { port: 443, secure: true },
};

/** Nothing stops a send but its own timeout. */
const NEVER = new AbortController().signal;

/**
 * Where `url` (`http`, `https`, `ws` or `wss`) points; a `RangeError` says
 * why another URL cannot be used.
 *
 * @example
 * ```ts
 * import { urlTarget } from "./send_http.ts";
 *
 * urlTarget(new URL("https://[::1]:8443/a?b=1#c"));
 * // { hostname: "::1", port: 8443, secure: true, host: "[::1]:8443", path: "/a?b=1" }
 * ```
 */
export function urlTarget(url: URL): UrlTarget {
  const scheme = SCHEMES[url.protocol];
  if (scheme === undefined) {
    throw new RangeError(`${url.protocol}// is not one of http://, https://, ws:// and wss://`);
  }
  if (url.username || url.password) {
    throw new RangeError("a user name or password in the URL is not sent: leave out user:pass@");
  }
  if (url.hostname === "") throw new RangeError("the URL names no host");
  return {
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port === "" ? scheme.port : Number(url.port),
    secure: scheme.secure,
    host: url.host,
    path: `${url.pathname || "/"}${url.search}`,
  };
}

/** What {@linkcode dialUrl} needs: where, and how to connect and trust it. */
export type UrlDialOptions = Pick<
  SendHttpOptions,
  "url" | "timeoutMs" | "resolve" | "tls" | "path"
>;

/**
 * Connects to where `url` points (TLS with ALPN `http/1.1` for `https://`
 * and `wss://`, or the Unix socket `path`), within `timeoutMs`; resolves
 * with the connection, the URL's target and the deadline of the whole send.
 *
 * @example
 * ```ts
 * import { dialUrl } from "./send_http.ts";
 *
 * const { conn, target } = await dialUrl({ url: "https://example.com/", timeoutMs: 5000 });
 * console.log(target.host, conn.tls?.alpn);
 * conn.close();
 * ```
 */
export async function dialUrl(
  options: UrlDialOptions,
): Promise<{ conn: DialedConn; target: UrlTarget; deadline: number }> {
  const { timeoutMs = 5000, resolve = resolveHost, tls = {} } = options;
  const target = urlTarget(new URL(options.url));
  const deadline = performance.now() + timeoutMs;
  const { hostname, port, secure } = target;
  const dialer = dialerFor({ hostname, port }, {
    tls: secure ? { ...tls, alpn: ["http/1.1"] } : undefined,
    path: options.path,
  }, resolve);
  const { conn } = await dialWithin(dialer.dial, dialer.target, timeoutMs, NEVER);
  return { conn, target, deadline };
}

/**
 * Sends the message to an HTTP echo server and checks the echoed body.
 * Throws `ResolveError`, `ConnectError`, `TimeoutError`, `ClosedEarlyError`,
 * `MismatchError` (with a hex view), `HttpStatusError` (300 or above),
 * `HttpResponseError` (not HTTP/1.x), and over TLS `TlsVerifyError` and
 * `NotTlsError`.
 *
 * @example
 * ```ts
 * import { sendHttp } from "./send_http.ts";
 *
 * const message = new TextEncoder().encode("ping");
 * const { instance, roundTripMs } = await sendHttp({ url: "https://echo.example/", message });
 * ```
 */
export async function sendHttp(options: SendHttpOptions): Promise<SendHttpResult> {
  const { message = C_CLIENT_MESSAGE, method = "POST", headers } = options;
  const { conn, target: url, deadline } = await dialUrl(options);
  try {
    const reply = await httpEcho(conn, bytesPayload(message), {
      method,
      host: url.host,
      path: url.path,
      headers,
    }, { timeoutMs: Math.max(1, deadline - performance.now()) });
    return {
      status: reply.status,
      reason: reply.reason,
      protocol: reply.version,
      instance: reply.instance,
      echo: reply.body ?? message,
      headers: reply.headers,
      remoteAddr: conn.remoteAddr,
      roundTripMs: reply.ms,
      ...conn.tls && { tls: conn.tls },
    };
  } finally {
    closeQuietly(conn);
  }
}
