/**
 * The bodies of `serve --http`'s HTTP/2 replies (`h2.ts`) as Fetch streams
 * them: the request's body metered into its digest and bounded, the `size`
 * pattern, and the `close`/`reset` faults, which end a stream with a reset
 * once the bytes it did send have left; and the delay.
 *
 * @example
 * ```ts
 * import { BodyDigest } from "./describe.ts";
 * import { bodyMeter } from "./h2_body.ts";
 *
 * const digest = new BodyDigest(1024);
 * await ReadableStream.from([new TextEncoder().encode("hello")])
 *   .pipeThrough(bodyMeter(digest, Infinity))
 *   .pipeTo(new WritableStream());
 * digest.finish().bytes; // 5
 * ```
 *
 * @module
 */

import type { BodyDigest } from "./describe.ts";
import type { Relayed } from "./h2_relay.ts";
import { patternText, type Reply } from "./reply.ts";
import { HttpRequestError } from "./request.ts";
import { ResponseCutError } from "./response.ts";

/** A response body. */
export type Body = ReadableStream<Uint8Array<ArrayBuffer>> | Uint8Array<ArrayBuffer> | null;

/** How long a stream cut on purpose waits for the bytes it sent to reach the client. */
const CUT_WAIT_MS = 2000;

/**
 * The request body as it streams through: into `digest`, and refused past
 * `maxBody` (the stream errors with a 413 {@linkcode HttpRequestError}, so
 * the request's stream is reset).
 *
 * @example
 * ```ts
 * import { BodyDigest } from "./describe.ts";
 * import { bodyMeter } from "./h2_body.ts";
 *
 * declare const request: Request;
 * const digest = new BodyDigest(65536);
 * await request.body?.pipeThrough(bodyMeter(digest, 1 << 20)).pipeTo(new WritableStream());
 * ```
 */
export function bodyMeter(
  digest: BodyDigest,
  maxBody: number,
): TransformStream<Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>> {
  let bytes = 0;
  return new TransformStream({
    transform(chunk, controller) {
      bytes += chunk.length;
      if (bytes > maxBody) {
        throw new HttpRequestError(413, `body of more than ${maxBody} bytes is over --max-body`);
      }
      digest.update(chunk);
      controller.enqueue(chunk);
    },
  });
}

/**
 * Waits `ms` (shaping's delay), or until `ended` aborts.
 *
 * @example
 * ```ts
 * import { pause } from "./h2_body.ts";
 *
 * await pause(250, new AbortController().signal);
 * ```
 */
export function pause(ms: number, ended: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      ended.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    ended.addEventListener("abort", done);
  });
}

/**
 * A reply's body as a Response takes it: bytes, or the size pattern
 * streamed a piece at a time as the client takes it.
 *
 * @example
 * ```ts
 * import { replyBody } from "./h2_body.ts";
 * import { patternReply } from "./reply.ts";
 *
 * const response = new Response(replyBody(patternReply(1 << 20, 200, [])));
 * ```
 */
export function replyBody({ body }: Reply): Exclude<Body, null> {
  if (typeof body === "string") return encoder.encode(body);
  let left = body.pattern;
  return new ReadableStream({
    pull(controller) {
      const piece = PATTERN_CHUNK.subarray(0, Math.min(left, PATTERN_CHUNK.length));
      left -= piece.length;
      if (piece.length > 0) controller.enqueue(piece);
      if (left === 0) controller.close();
    },
  }, { highWaterMark: 0 });
}

const encoder = new TextEncoder();
// Whole periods of the pattern, so each piece starts at "a" again.
const PATTERN_CHUNK = encoder.encode(patternText(26 * 2520));

/**
 * The `close` and `reset` faults over HTTP/2: the body passes until the
 * bytes asked for (none for `close=after-headers`), then, once they have
 * left for the client, the stream errors, which resets it (RST_STREAM,
 * INTERNAL_ERROR); the connection and its other streams go on. A body that
 * ends first goes whole, then the reset, as with HTTP/1.1. Without a
 * `limit`, `body` itself.
 *
 * @example
 * ```ts
 * import { cutAfter } from "./h2_body.ts";
 * import type { Relayed } from "./h2_relay.ts";
 *
 * declare const relayed: Relayed<unknown>;
 * const body = cutAfter(new TextEncoder().encode("hello"), 2, relayed); // "he", then the reset
 * ```
 */
export function cutAfter(
  body: Body,
  limit: number | undefined,
  relayed: Pick<Relayed<unknown>, "sent" | "sentAtLeast">,
): Body {
  if (limit === undefined) return body;
  const source = (body instanceof Uint8Array ? ReadableStream.from([body]) : body)?.getReader();
  const start = relayed.sent;
  let passed = 0;
  return new ReadableStream({
    async pull(controller) {
      if (passed < limit) {
        const next = source ? await source.read() : { done: true as const };
        // A reply shorter than the limit goes whole, and the reset follows it (as HTTP/1.1's).
        if (!next.done) {
          const part = next.value.subarray(0, limit - passed);
          passed += part.length;
          controller.enqueue(part);
          if (passed < limit) return;
        }
      }
      // What went out is at least a HEADERS frame (9 + 1 bytes) and a DATA frame header per 16 KiB.
      const leastOnWire = 10 + passed + 9 * Math.ceil(passed / 16384);
      await relayed.sentAtLeast(start + leastOnWire, CUT_WAIT_MS);
      await source?.cancel();
      controller.error(new ResponseCutError(`stream reset after ${passed} bytes of body`));
    },
    cancel: (reason) => source?.cancel(reason),
  }, { highWaterMark: 0 });
}
