/**
 * `serve --http`: its options and help block, the handler they configure
 * (`net/http/handler.ts`), its log lines (one per request, one per refused
 * request, through serve's rate-limited log) and the drain that SIGTERM
 * starts (`/readyz` answers 503, replies close their connections).
 *
 * @example
 * ```ts
 * import { httpServing } from "./serve_http.ts";
 *
 * const http = httpServing({ http: true, instance: "web-1" }, { line: () => {} });
 * http?.drain(); // /readyz answers 503 from now on
 * ```
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import { parseSeconds, parseWhole, UsageError } from "../args.ts";
import type { Ledger } from "../ledger.ts";
import { formatAddress, plural } from "../../net/format.ts";
import {
  type ConnectionHandler,
  DEFAULT_MAX_ECHO_BODY,
  type HttpConnectionInfo,
  httpHandler,
  InstanceNameError,
} from "../../net/http/handler.ts";
import { defaultInstanceName } from "../../net/http/instance.ts";
import { DEFAULT_SHAPING_LIMITS } from "../../net/http/shaping.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../../net/http/websocket.ts";

/** `serve`'s HTTP options. */
export const HTTP_OPTIONS = {
  http: { type: "boolean", default: false },
  instance: { type: "string" },
  "max-echo-body": { type: "string" },
  "max-body": { type: "string" },
  "max-delay": { type: "string" },
  "max-size": { type: "string" },
  "ws-ping": { type: "string" },
  "max-ws-message": { type: "string" },
} satisfies ParseArgsOptionsConfig;

const HTTP_ONLY = [
  "instance",
  "max-echo-body",
  "max-body",
  "max-delay",
  "max-size",
  "ws-ping",
  "max-ws-message",
] as const;

/** `serve --help`'s block for the HTTP options. */
export const HTTP_HELP = `      --http           serve HTTP/1.1 instead of the byte echo: each
                       request is answered with what the server
                       received (JSON; ?format=text or Accept:
                       text/plain for lines; ?format=raw or Accept:
                       application/octet-stream for the body back,
                       streamed); keep-alive and pipelining; every
                       reply has X-Echo-Instance, X-Echo-Connection,
                       X-Echo-Request. Reserved paths: /healthz (200
                       while running), /readyz (200; 503 while
                       draining). Ctrl+C or SIGTERM drains: for the
                       grace period new connections are still served,
                       /readyz answers 503 and every reply closes its
                       connection; then the server stops. A malformed
                       request gets a 400 naming why (431 headers too
                       large, 413 body, 501 transfer coding) and one
                       log line. Nothing else is served: no
                       environment, file or shell endpoint
      --instance NAME  the name replies carry (e.g. --instance
                       $(POD_NAME))  [the host name with -S, else
                       sockecho- and 6 random hex digits]
      --max-echo-body BYTES
                       bodies up to this size are shown in the
                       description; longer ones are streamed through
                       SHA-256 and not kept                        [${DEFAULT_MAX_ECHO_BODY}]
      --max-body BYTES refuse longer request bodies (413)          [no limit]
      --max-delay SECONDS
                       the longest delay a request may ask for
                       (?delay= or X-Echo-Delay; docs/http-shaping.md
                       has status, size, header, close, reset)     [${
  DEFAULT_SHAPING_LIMITS.maxDelayMs / 1000
}]
      --max-size BYTES the largest body (?size=) and reset point
                       (?reset=) a request may ask for             [${DEFAULT_SHAPING_LIMITS.maxSize}]
      --ws-ping SECONDS
                       ping WebSocket clients this often (a ping
                       hides a middlebox's idle timeout); 0: never [0]
      --max-ws-message BYTES
                       close a WebSocket whose message is longer
                       (close code 1009)                           [${DEFAULT_MAX_MESSAGE_BYTES}]`;

/** What the serve command needs of its HTTP side. */
export interface HttpServing {
  /** The connection handler for `server.ts`. */
  readonly handler: ConnectionHandler;
  /** The instance name replies carry. */
  readonly instance: string;
  /** Starts the drain: `/readyz` answers 503, replies close their connections. */
  drain(): void;
}

/** Where the HTTP side writes its lines. */
export interface HttpLog {
  /** Serve's rate-limited (or quiet) log. */
  line: (make: () => string) => void;
  /** The ledger, with `--log-format json`. */
  ledger?: Ledger;
}

/** `serve`'s HTTP option values. */
export type HttpValues = { http?: boolean } & { [name in typeof HTTP_ONLY[number]]?: string };

/**
 * The HTTP side of `serve` from its options, or `undefined` without
 * `--http`; throws {@linkcode UsageError} for an HTTP option without
 * `--http` or a bad value.
 */
export function httpServing(values: HttpValues, log: HttpLog): HttpServing | undefined {
  if (!values.http) {
    const stray = HTTP_ONLY.find((name) => values[name] !== undefined);
    if (stray) throw new UsageError(`--${stray} needs --http`);
    return undefined;
  }
  const instance = values.instance ?? defaultInstanceName();
  let draining = false;
  const { line, ledger } = log;
  const who = (info: HttpConnectionInfo) =>
    formatAddress(info.remoteAddr) || `unix client #${info.id}`;
  try {
    const handler = httpHandler({
      instance,
      maxEchoBodyBytes: optionalBytes(values["max-echo-body"], "--max-echo-body", 0),
      maxBodyBytes: optionalBytes(values["max-body"], "--max-body", 0),
      shaping: {
        maxDelayMs: values["max-delay"] === undefined
          ? DEFAULT_SHAPING_LIMITS.maxDelayMs
          : parseSeconds(values["max-delay"], "--max-delay", 0),
        maxSize: optionalBytes(values["max-size"], "--max-size", 0) ??
          DEFAULT_SHAPING_LIMITS.maxSize,
      },
      webSocket: {
        pingIntervalMs: values["ws-ping"] === undefined
          ? 0
          : parseSeconds(values["ws-ping"], "--ws-ping", 0),
        maxMessageBytes: optionalBytes(values["max-ws-message"], "--max-ws-message", 1),
      },
      isDraining: () => draining,
      onRequest: (info, { description, status, bytesOut }) =>
        line(() =>
          ledger?.request(info, description, status, bytesOut) ??
            `${who(info)} ${description.method} ${target(description)} ${description.protocol}: ` +
              `${status}, ${plural(description.body.bytes, "byte")} in, ${bytesOut} out`
        ),
      onRefused: (info, error) =>
        line(() =>
          ledger?.badRequest(info, error.status, error.reason) ??
            `${who(info)} refused: ${error.status} ${error.reason}`
        ),
    });
    return { handler, instance, drain: () => void (draining = true) };
  } catch (error) {
    if (error instanceof InstanceNameError) {
      throw new UsageError(
        `invalid --instance ${JSON.stringify(instance)}: use visible ASCII, no spaces`,
      );
    }
    throw error;
  }
}

/** Seconds of `--grace` as the drain's words. */
export function describeDrain(graceMs: number): string {
  return `draining: /readyz answers 503, replies close their connections; stopping in ` +
    `${graceMs / 1000} s (Ctrl+C again to exit at once)`;
}

function target({ path, query }: { path: string; query: string }): string {
  return query ? `${path}?${query}` : path;
}

function optionalBytes(text: string | undefined, flag: string, lowest: number): number | undefined {
  return text === undefined ? undefined : parseWhole(text, flag, lowest);
}
