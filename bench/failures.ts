/**
 * What went wrong in a load, as `bench.ts` reports it: the engine's named
 * failures (plain errors, since class identity does not cross a worker
 * boundary) turned back into the classes of `net/errors.ts` and
 * `net/http/`, and the errors an HTTP or WebSocket load counted and went on
 * from, added up over threads or shards.
 *
 * @example
 * ```ts
 * import { addErrors, typedError } from "./failures.ts";
 * import type { LoadFailure } from "./share.ts";
 *
 * declare const failure: LoadFailure;
 * addErrors([{ closed: 1, status: {} }]).count; // 1
 * throw typedError(failure);
 * ```
 *
 * @module
 */

import type { LoadErrors, LoadFailure } from "./share.ts";
import {
  ClosedEarlyError,
  ConnectError,
  MismatchError,
  SockechoError,
  TimeoutError,
} from "../net/errors.ts";
import { formatCount, quoteBytes } from "../net/format.ts";
import { HttpResponseError, HttpStatusError } from "../net/http/client.ts";
import { WebSocketHandshakeError } from "../net/http/websocket.ts";

/**
 * The counted errors of several threads (or shards) in one, with their sum.
 *
 * @example
 * ```ts
 * import { addErrors } from "./failures.ts";
 *
 * addErrors([{ closed: 1, status: { "503": 2 } }, { closed: 0, status: { "503": 1 } }]);
 * // { count: 4, closed: 1, status: { "503": 3 } }
 * ```
 */
export function addErrors(parts: LoadErrors[]): LoadErrors & { count: number } {
  const sum = { count: 0, closed: 0, status: {} as Record<string, number> };
  for (const { closed, status } of parts) {
    sum.closed += closed;
    sum.count += closed;
    for (const [code, count] of Object.entries(status)) {
      sum.status[code] = (sum.status[code] ?? 0) + count;
      sum.count += count;
    }
  }
  return sum;
}

/**
 * Counted errors in words, the most frequent status first.
 *
 * @example
 * ```ts
 * import { describeErrors } from "./failures.ts";
 *
 * describeErrors({ closed: 2, status: { "503": 7 } }); // "2 cut by the server, 7 answered 503"
 * ```
 */
export function describeErrors(errors: LoadErrors): string {
  const statuses = Object.entries(errors.status).sort(([, a], [, b]) => b - a);
  return [
    ...errors.closed > 0 ? [`${formatCount(errors.closed)} cut by the server`] : [],
    ...statuses.map(([code, count]) => `${formatCount(count)} answered ${code}`),
  ].join(", ");
}

/**
 * Not one round trip of an HTTP or WebSocket load came back whole: the
 * run fails as its most frequent failure would (a status or a cut), with
 * the counts.
 */
export function noneAnswered(errors: LoadErrors & { count: number }, size: number): Error {
  const message = `not one round trip came back with its echo: ${describeErrors(errors)}`;
  const [top] = Object.entries(errors.status).sort(([, a], [, b]) => b - a);
  return top && top[1] > errors.closed
    ? new HttpStatusError(message, Number(top[0]), "")
    : new ClosedEarlyError(message, 0, size);
}

/** Turns the engine's named failures back into the classes of `errors.ts`. */
export function typedError(error: LoadFailure): Error {
  if (error instanceof SockechoError) return error; // already typed: the UDP load runs in-thread
  const { message } = error;
  switch (error.name) {
    case "MismatchError":
      // What came back instead says at once what answered (a web server, a banner).
      return new MismatchError(`${message}; received ${quoteBytes(error.reply!)}`, error.offset!);
    case "ClosedEarlyError":
      return new ClosedEarlyError(message, error.received!, error.expected!);
    case "ConnectError":
      return new ConnectError(message, { cause: error.cause });
    case "TimeoutError":
      return new TimeoutError(message);
    case "HttpResponseError":
      return new HttpResponseError(message);
    case "WebSocketHandshakeError":
      return new WebSocketHandshakeError(message);
    default:
      return error;
  }
}
