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

import { describeRemote } from "../net/dial.ts";
import { latin1Bytes } from "../net/http/client_response.ts";
import { encodeFrame, OPCODE } from "../net/http/websocket.ts";
import { IdleCutError } from "./errors.ts";
import { httpEcho } from "./http_echo.ts";
import type { IdleFlowKind } from "./idle.ts";
import { bytesPayload } from "./payload.ts";
import { openWebSocketEcho } from "./ws_check.ts";

/** Where the flows' requests go. */
export interface IdleRequest {
  /** The `Host` header. */
  host: string;
  /** The request target. @default {"/"} */
  path?: string;
}

const MESSAGE = new TextEncoder().encode("sockecho idle probe\n");
/** `HTTP/1.1 200`: a status line's start is the answer that proves the connection alive. */
const STATUS_LINE_BYTES = 12;

/**
 * HTTP keep-alive flows: a POST echoed (the raw format), then after the idle
 * time a GET on the same connection, alive when its status line comes. A
 * response that closes the connection fails the flow with an
 * {@linkcode IdleCutError}: there is no keep-alive to time.
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
  const probe = latin1Bytes(
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAccept: application/octet-stream\r\n\r\n`,
  );
  return {
    async open(conn, options) {
      const reply = await httpEcho(conn, bytesPayload(MESSAGE), { host, path }, options);
      if (!reply.keepAlive) {
        throw new IdleCutError(
          `${describeRemote(conn)} closes the connection after each response: no keep-alive`,
        );
      }
      return { bytes: probe, answerBytes: STATUS_LINE_BYTES };
    },
  };
}

/**
 * WebSocket flows: the upgrade and a binary message echoed, then after the
 * idle time the same message, alive when its echoed frame comes whole.
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
  return {
    async open(conn, { timeoutMs, signal }) {
      await openWebSocketEcho(conn, MESSAGE, { host, path, timeoutMs, signal });
      // The server's frame is unmasked, with a one-byte length: two header bytes.
      return {
        bytes: encodeFrame(OPCODE.binary, MESSAGE, { mask: true }),
        answerBytes: 2 + MESSAGE.length,
      };
    },
  };
}
