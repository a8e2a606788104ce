import assert from "node:assert/strict";
import fc from "fast-check";
import { concat } from "../../cli/test_util.ts";
import { ChunkedDecoder, ConnReader, readBody, waitWatching } from "./body.ts";
import { HttpRequestError } from "./request.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

/** A connection that yields `parts` one read at a time, then the end (or `then` thrown). */
function fakeConn(parts: Uint8Array[], then?: Error): Pick<Deno.Conn, "read"> {
  const queue = [...parts];
  return {
    read(buffer: Uint8Array) {
      const next = queue.shift();
      if (next === undefined) return then ? Promise.reject(then) : Promise.resolve(null);
      const n = Math.min(next.length, buffer.length);
      buffer.set(next.subarray(0, n));
      if (n < next.length) queue.unshift(next.subarray(n));
      return Promise.resolve(n);
    },
  };
}

/** Decodes `input` with `decoder` fed in the given split sizes, as a reader would: unused bytes carried. */
function decodeAll(input: Uint8Array, splits: number[]): { data: Uint8Array; rest: Uint8Array } {
  const decoder = new ChunkedDecoder();
  const data: Uint8Array[] = [];
  let held: Uint8Array = new Uint8Array();
  let fed = 0;
  for (let i = 0;; i++) {
    const step = decoder.decode(held);
    if (step.data) data.push(step.data.slice());
    held = held.subarray(step.consumed);
    if (step.done) return { data: concat(data), rest: held };
    if (step.consumed === 0 || held.length === 0) {
      if (fed === input.length) throw new Error("input ended before the body");
      const n = Math.max(1, splits[i % Math.max(1, splits.length)] ?? 1);
      held = concat([held, input.subarray(fed, fed + n)]);
      fed = Math.min(input.length, fed + n);
    }
  }
}

Deno.test("a chunked body decodes, extensions and trailers dropped, the next request kept", () => {
  const input = bytes(
    "5;name=value\r\nhello\r\n6\r\n world\r\n000\r\nX-Trailer: 1\r\n\r\nGET / HTTP/1.1\r\n",
  );
  const { data, rest } = decodeAll(input, [input.length]);
  assert.equal(text(data), "hello world");
  assert.equal(text(rest), "GET / HTTP/1.1\r\n");
  assert.equal(text(decodeAll(bytes("3\nabc\n0\n\n"), [1]).data), "abc", "bare LF framing");
});

Deno.test("bad chunked framing is refused, with the status to answer", () => {
  const cases: [string, number, RegExp][] = [
    ["zz\r\n", 400, /is not hex/],
    ["5\r\nhelloXX", 400, /not followed by CRLF/],
    ["5\r\nhello\r\n0\r\nno colon\r\n\r\n", 400, /trailer line without a colon/],
    ["1" + "0".repeat(13) + "0\r\n", 400, /too large/],
    ["1;" + "x".repeat(5000), 400, /size line too long/],
    ["0\r\n" + "X: y\r\n".repeat(20000), 431, /trailers longer than 65536/],
    ["5\r\r\n", 400, /bare CR/],
  ];
  for (const [input, status, reason] of cases) {
    assert.throws(
      () => decodeAll(bytes(input), [input.length]),
      (error) =>
        error instanceof HttpRequestError && error.status === status && reason.test(error.reason),
      JSON.stringify(input.slice(0, 30)),
    );
  }
  assert.equal(text(decodeAll(bytes("0000000000000000001\r\nx\r\n0\r\n\r\n"), [3]).data), "x");
});

/** A body cut into chunks of the given sizes, with optional extensions and trailers. */
const chunkedBody = fc.record({
  body: fc.uint8Array({ maxLength: 3000 }),
  sizes: fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 10 }),
  extensions: fc.boolean(),
  trailers: fc.array(fc.constantFrom("X-A: 1", "Digest: sha=abc", "x:"), { maxLength: 3 }),
  upper: fc.boolean(),
}).map(({ body, sizes, extensions, trailers, upper }) => {
  const parts: Uint8Array[] = [];
  for (let at = 0, i = 0; at < body.length; i++) {
    const n = Math.min(sizes[i % sizes.length], body.length - at);
    const size = upper ? n.toString(16).toUpperCase() : n.toString(16);
    parts.push(
      bytes(`${size}${extensions ? ";e=1" : ""}\r\n`),
      body.subarray(at, at + n),
      bytes("\r\n"),
    );
    at += n;
  }
  parts.push(bytes(`0\r\n${trailers.map((t) => t + "\r\n").join("")}\r\n`));
  return { body, encoded: concat(parts) };
});

Deno.test("property: chunked bodies decode to their bytes, however the input is split", () => {
  fc.assert(
    fc.property(
      chunkedBody,
      fc.array(fc.integer({ min: 1, max: 900 }), { maxLength: 8 }),
      (sample, splits) => {
        const trailing = bytes("NEXT");
        const { data, rest } = decodeAll(concat([sample.encoded, trailing]), splits);
        assert.deepEqual(data, sample.body);
        assert.deepEqual(rest.length <= trailing.length, true);
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("property: mutated chunked bodies decode, wait or throw only HttpRequestError", () => {
  let refused = 0;
  fc.assert(
    fc.property(
      chunkedBody,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 3,
      }),
      fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 4 }),
      (sample, edits, splits) => {
        const input = sample.encoded.slice();
        for (const [at, byte] of edits) input[at % input.length] = byte;
        try {
          decodeAll(input, splits);
        } catch (error) {
          if (error instanceof HttpRequestError) refused++;
          else if (!(error instanceof Error && error.message === "input ended before the body")) {
            throw error;
          }
        }
      },
    ),
    { numRuns: 5000 },
  );
  assert.ok(refused > 0);
});

Deno.test("readBody hands a Content-Length body over in pieces and leaves what follows", async () => {
  const reader = new ConnReader(
    fakeConn([bytes("llo wor"), bytes("ld!NEXT")]),
    { bytes: 0 },
    bytes("he"),
  );
  const seen: string[] = [];
  const length = await readBody(
    reader,
    { kind: "length", length: 12 },
    (chunk) => void seen.push(text(chunk)),
  );
  assert.equal(length, 12);
  assert.equal(seen.join(""), "hello world!");
  assert.equal(text(reader.bytes), "NEXT");
  assert.equal(reader.progress.bytes, 14, "bytes read from the connection, not the pending ones");
});

Deno.test("readBody: 413 past the bound, 400 when the client stops sending early", async () => {
  const conn = () =>
    new ConnReader(fakeConn([bytes("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n")]), { bytes: 0 });
  await assert.rejects(
    readBody(conn(), { kind: "chunked" }, () => {}, 8),
    (error) => error instanceof HttpRequestError && error.status === 413,
  );
  assert.equal(await readBody(conn(), { kind: "chunked" }, () => {}, 10), 10);
  await assert.rejects(
    readBody(
      new ConnReader(fakeConn([bytes("abc")]), { bytes: 0 }),
      { kind: "length", length: 5 },
      () => {},
    ),
    /finished sending after 3 bytes of 5 bytes/,
  );
  await assert.rejects(
    readBody(
      new ConnReader(fakeConn([bytes("5\r\nab")]), { bytes: 0 }),
      { kind: "chunked" },
      () => {},
    ),
    /finished sending after 2 bytes of a chunked body/,
  );
});

Deno.test("the reader's buffer grows for a long head and a stream in full flow", async () => {
  const long = new Uint8Array(10_000).fill(65);
  const reader = new ConnReader(fakeConn([long]), { bytes: 0 });
  while (reader.bytes.length < long.length) assert.ok(await reader.fill());
  assert.deepEqual(reader.bytes, long);
  assert.equal(await reader.fill(), false);
});

Deno.test("waitWatching waits out the delay, keeps what arrives, and ends on a reset", async () => {
  const reader = new ConnReader(fakeConn([bytes("next")]), { bytes: 0 });
  const started = performance.now();
  await waitWatching(reader, 50);
  assert.ok(performance.now() - started >= 45);
  assert.equal(text(reader.bytes), "next", "the read under the wait is kept");
  const reset = new ConnReader(fakeConn([], new Deno.errors.ConnectionReset("reset")), {
    bytes: 0,
  });
  const before = performance.now();
  await assert.rejects(waitWatching(reset, 10_000), Deno.errors.ConnectionReset);
  assert.ok(performance.now() - before < 5000, "not held to the end of the delay");
});
