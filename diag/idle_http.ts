/**
 * The flows of `check --http --idle MAX`: `idle.ts`'s staggered discovery
 * with an HTTP keep-alive connection (a request echoed, then idle, then a
 * request whose status line must come) and a WebSocket (a message echoed,
 * then idle, then a message whose frame must come back). Whichever cuts
 * first, the server, a proxy's keep-alive or tunnel timeout, or a NAT, is
 * what they find.
 *
 * @example
 * ```ts
 * import { discoverIdleTimeout } from "./idle.ts";
 * import { httpIdleFlow, webSocketIdleFlow } from "./idle_http.ts";
 *
 * const target = { hostname: "127.0.0.1", port: 4321 };
 * const request = { host: "127.0.0.1:4321", path: "/" };
 * const http = await discoverIdleTimeout({ target, maxMs: 5000, kind: httpIdleFlow(request) });
 * const ws = await discoverIdleTimeout({ target, maxMs: 5000, kind: webSocketIdleFlow(request) });
 * console.log(http.shortestCutMs, ws.shortestCutMs);
 * ```
 *
 * @module
 */

import { latin1Bytes } from "../net/http/client.ts";
import { encodeFrame, OPCODE } from "../net/http/websocket.ts";
import { httpExchange } from "./http_echo.ts";
import { exchangeFlow, type IdleFlowKind } from "./idle.ts";
import { wsExchange } from "./send_ws.ts";

/** Where the flows' requests go. */
export interface IdleRequest {
  /** The `Host` header. */
  host: string;
  /** The request target. @default {"/"} */
  path?: string;
}

/** `HTTP/1.1 200`: a status line's start is the answer that proves the connection alive. */
const STATUS_LINE_BYTES = 12;
const MESSAGE = new TextEncoder().encode("sockecho idle probe\n");

/**
 * HTTP keep-alive flows: a POST echoed (the raw format), then after the idle
 * time a GET on the same connection, alive when its status line comes. A
 * response that closes the connection fails the flow with an
 * `IdleCutError`: there is no keep-alive to time.
 *
 * @example
 * ```ts
 * import { discoverIdleTimeout } from "./idle.ts";
 * import { httpIdleFlow } from "./idle_http.ts";
 *
 * const kind = httpIdleFlow({ host: "127.0.0.1:4321" });
 * await discoverIdleTimeout({ target: { hostname: "127.0.0.1", port: 4321 }, maxMs: 3000, kind });
 * ```
 */
export function httpIdleFlow({ host, path = "/" }: IdleRequest): IdleFlowKind {
  const bytes = latin1Bytes(
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAccept: application/octet-stream\r\n\r\n`,
  );
  return exchangeFlow(httpExchange({ host, path }), { bytes, answerBytes: STATUS_LINE_BYTES });
}

/**
 * WebSocket flows: the upgrade and a binary message echoed, then after the
 * idle time another message, alive when its echoed frame comes whole.
 *
 * @example
 * ```ts
 * import { discoverIdleTimeout } from "./idle.ts";
 * import { webSocketIdleFlow } from "./idle_http.ts";
 *
 * const kind = webSocketIdleFlow({ host: "127.0.0.1:4321" });
 * await discoverIdleTimeout({ target: { hostname: "127.0.0.1", port: 4321 }, maxMs: 3000, kind });
 * ```
 */
export function webSocketIdleFlow({ host, path = "/" }: IdleRequest): IdleFlowKind {
  return exchangeFlow(wsExchange({ host, path }), {
    bytes: encodeFrame(OPCODE.binary, MESSAGE, { mask: true }),
    // The server's frame is unmasked, with a one-byte length: two header bytes.
    answerBytes: 2 + MESSAGE.length,
  });
}
