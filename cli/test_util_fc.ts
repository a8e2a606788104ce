/**
 * fast-check helpers shared by the property tests of the parsers: bytes a
 * valid encoder wrote, then damaged as a broken or hostile peer would; and
 * HTTP/1.1 responses in each framing, for the two clients that read them
 * (`net/http/client.ts` and `bench/http_trip.ts`).
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { mutated } from "./test_util_fc.ts";
 *
 * const damaged = mutated(fc.constant(new TextEncoder().encode("HTTP/1.1 200 OK\r\n\r\n")));
 * fc.assert(fc.property(damaged, (bytes) => bytes.length >= 0));
 * ```
 *
 * @module
 */

import fc from "fast-check";

/**
 * `valid` bytes with up to `maxEdits` (at least `minEdits`) bytes replaced,
 * inserted, removed, or the rest cut off.
 */
export function mutated(
  valid: fc.Arbitrary<Uint8Array>,
  { minEdits = 0, maxEdits = 4 }: { minEdits?: number; maxEdits?: number } = {},
): fc.Arbitrary<Uint8Array> {
  const edit = fc.tuple(fc.constantFrom("set", "insert", "delete", "cut"), fc.nat(), fc.nat(255));
  return fc.tuple(valid, fc.array(edit, { minLength: minEdits, maxLength: maxEdits })).map(
    ([bytes, edits]) => {
      let result = [...bytes];
      for (const [kind, at, value] of edits) {
        const i = at % (result.length + 1);
        if (kind === "set") result[i] = value;
        if (kind === "insert") result.splice(i, 0, value);
        if (kind === "delete") result.splice(i, 1);
        if (kind === "cut") result = result.slice(0, i);
      }
      return new Uint8Array(result);
    },
  );
}

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
const fieldValue = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,20}[\x21-\x7e])?$/);

/** An HTTP/1.1 response as {@linkcode httpResponses} makes it. */
export interface ArbitraryResponse {
  status: number;
  /** Other fields than the framing's and `Connection`. */
  headers: [string, string][];
  body: Uint8Array;
  framing: "length" | "chunked" | "close";
  /** With `chunked`: the sizes of its chunks, in turn. */
  chunks: number[];
}

/**
 * Responses with a status from `statuses` (by default 200 to 599 but 204
 * and 304, which have no body), up to 6 other fields, and a body of up to 300
 * bytes framed by Content-Length, chunked or the close.
 */
export function httpResponses(
  statuses: fc.Arbitrary<number> = fc.integer({ min: 200, max: 599 })
    .filter((status) => status !== 204 && status !== 304),
): fc.Arbitrary<ArbitraryResponse> {
  return fc.record({
    status: statuses,
    headers: fc.array(
      fc.tuple(token, fieldValue).filter(([name]) =>
        !["content-length", "transfer-encoding", "connection"].includes(name.toLowerCase())
      ),
      { maxLength: 6 },
    ),
    body: fc.uint8Array({ maxLength: 300 }),
    framing: fc.constantFrom("length" as const, "chunked" as const, "close" as const),
    chunks: fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 5 }),
  });
}

/** A response's bytes as a server writes them, the body framed as it says. */
export function httpResponseBytes(
  { status, headers, body, framing, chunks }: ArbitraryResponse,
): Uint8Array {
  const text = (line: string) => new TextEncoder().encode(line);
  const head = [`HTTP/1.1 ${status} Reason`, ...headers.map(([n, v]) => `${n}: ${v}`)];
  if (framing === "length") head.push(`Content-Length: ${body.length}`);
  if (framing === "chunked") head.push("Transfer-Encoding: chunked");
  const parts: Uint8Array[] = [text(`${head.join("\r\n")}\r\n\r\n`)];
  if (framing !== "chunked") parts.push(body);
  for (let at = 0, i = 0; framing === "chunked" && at < body.length; i++) {
    const part = body.subarray(at, at + chunks[i % chunks.length]);
    parts.push(text(`${part.length.toString(16)}\r\n`), part, text("\r\n"));
    at += part.length;
  }
  if (framing === "chunked") parts.push(text("0\r\n\r\n"));
  return new Uint8Array(parts.flatMap((part) => [...part]));
}
