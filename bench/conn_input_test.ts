/**
 * `ConnInput`, the buffered reading of the HTTP and WebSocket round trips,
 * over a scripted connection whose reads return given pieces; and
 * `HttpRoundTrip`'s framing over it, every response cut into two reads at
 * every place.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { httpResponseBytes, httpResponses, mutated } from "../cli/test_util_fc.ts";
import { ConnInput } from "./conn_input.ts";
import { HttpRoundTrip } from "./http_trip.ts";
import type { LoadFailure, TripTools } from "./share.ts";

const encoder = new TextEncoder();

/** A connection whose reads return `pieces` in turn (no more than asked), then the end. */
function scriptedConn(pieces: Uint8Array[]): Deno.Conn & { written: number } {
  const queue = pieces.map((piece) => piece.slice());
  const conn = {
    written: 0,
    read(into: Uint8Array): Promise<number | null> {
      const piece = queue[0];
      if (piece === undefined) return Promise.resolve(null);
      const n = Math.min(into.length, piece.length);
      into.set(piece.subarray(0, n));
      if (n === piece.length) queue.shift();
      else queue[0] = piece.subarray(n);
      return Promise.resolve(n);
    },
    write(bytes: Uint8Array): Promise<number> {
      conn.written += bytes.length;
      return Promise.resolve(bytes.length);
    },
  };
  return conn as unknown as Deno.Conn & { written: number };
}

const fail = (name: LoadFailure["name"], message: string, fields = {}) =>
  Object.assign(new Error(message), { name, ...fields }) as LoadFailure;
const tools: TripTools = {
  fail,
  dropped: (error) => error,
  closed: (received, expected) =>
    fail("ClosedEarlyError", `closed after ${received} of ${expected}`, { received, expected }),
};

/** An HTTP round trip of `size`-byte bodies on `conn`. */
function tripOn(conn: Deno.Conn, size: number, target = { host: "h", path: "/" }): HttpRoundTrip {
  return new HttpRoundTrip(conn, new ConnInput(conn, tools), target, size, tools);
}

Deno.test("ConnInput reads a head, lines and exact counts, holding what came past them", async () => {
  const text = "HTTP/1.1 200 OK\r\nA: 1\r\n\r\nline one\r\nline two\nabcdefghij";
  const bytes = encoder.encode(text);
  // Cut into reads of 3 bytes: every call must gather across reads.
  const pieces = Array.from(
    { length: Math.ceil(bytes.length / 3) },
    (_, i) => bytes.subarray(3 * i, 3 * i + 3),
  );
  const input = new ConnInput(scriptedConn(pieces), tools);
  assert.equal(new TextDecoder().decode(await input.head()), "HTTP/1.1 200 OK\r\nA: 1\r\n\r\n");
  assert.equal(await input.line(0, 0), "line one");
  assert.equal(await input.line(0, 0), "line two");
  const into = new Uint8Array(8);
  await input.readInto(into, 2, 4, 8);
  assert.equal(new TextDecoder().decode(into.subarray(2, 6)), "abcd");
  await input.readInto(null, 0, 2, 8);
  assert.equal(await input.readToEnd(into, 0), 4);
  assert.equal(new TextDecoder().decode(into.subarray(0, 4)), "ghij");
});

Deno.test("ConnInput finds fields case-blind, and refuses an answer that is not HTTP", async () => {
  const head = "HTTP/1.0 503 Busy Now\r\ncontent-LENGTH:  12 \r\nX-Other: y\r\n\r\n";
  const input = new ConnInput(scriptedConn([encoder.encode(head)]), tools);
  assert.deepEqual(await input.responseHead(0, ["content-length", "connection", "x-other"]), {
    status: 503,
    reason: "Busy Now",
    values: ["12", undefined, "y"],
    version: 0x30,
  });
  const other = new ConnInput(scriptedConn([encoder.encode("HTTP/2 200\r\n\r\n")]), tools);
  await assert.rejects(() => other.responseHead(0, []), /not an HTTP\/1\.x response/);
  const long = new ConnInput(scriptedConn([new Uint8Array(70_000).fill(0x41)]), tools);
  await assert.rejects(() => long.head(), /a line or head over 65536 bytes/);
  const cut = new ConnInput(scriptedConn([encoder.encode("HTTP/1.1 200")]), tools);
  await assert.rejects(() => cut.head(64), { name: "ClosedEarlyError", received: 0, expected: 64 });
});

/** The body "hello world" framed each way a server may frame it, and what follows on the connection. */
const FRAMINGS: [string, string, boolean][] = [
  ["length", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", true],
  [
    "chunked, with an extension and trailers",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nA: 1\r\nB: 2\r\n\r\n",
    true,
  ],
  [
    "after an interim 100",
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
    true,
  ],
  ["HTTP/1.0, closed", "HTTP/1.0 200 OK\r\nContent-Length: 11\r\n\r\nhello world", false],
  [
    "HTTP/1.0 kept alive",
    "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 11\r\n\r\nhello world",
    true,
  ],
  [
    "Connection: close",
    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 11\r\n\r\nhello world",
    false,
  ],
  ["to the close", "HTTP/1.1 200 OK\r\n\r\nhello world", false],
];

Deno.test("HttpRoundTrip reads each framing however the response is cut into reads", async () => {
  const message = encoder.encode("hello world");
  for (const [framing, text, reusable] of FRAMINGS) {
    const bytes = encoder.encode(text);
    for (let cut = 1; cut < bytes.length; cut++) {
      const conn = scriptedConn([bytes.subarray(0, cut), bytes.subarray(cut)]);
      const trip = tripOn(conn, 11);
      const echo = new Uint8Array(11);
      const length = await trip.roundTrip(message, echo);
      const what = `${framing}, cut at ${cut}`;
      assert.deepEqual([length, new TextDecoder().decode(echo)], [11, "hello world"], what);
      assert.equal(trip.reusable, reusable, what);
    }
  }
});

Deno.test("HttpRoundTrip writes one request: the head and the body in one write", async () => {
  const written: string[] = [];
  const conn = scriptedConn([encoder.encode("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")]);
  conn.write = (bytes: Uint8Array) => {
    written.push(new TextDecoder().decode(bytes));
    return Promise.resolve(bytes.length);
  };
  const trip = tripOn(conn, 2, { host: "a:1", path: "/p?q" });
  await trip.roundTrip(encoder.encode("hi"), new Uint8Array(2));
  assert.deepEqual(written, [
    "POST /p?q HTTP/1.1\r\nHost: a:1\r\nAccept: application/octet-stream\r\n" +
    "Content-Type: application/octet-stream\r\nContent-Length: 2\r\n\r\nhi",
  ]);
});

Deno.test("HttpRoundTrip drops the body of an error status and says whether the connection lasts", async () => {
  const conn = scriptedConn([
    encoder.encode("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nbusy\n"),
    encoder.encode("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
  ]);
  const trip = tripOn(conn, 2);
  await assert.rejects(() => trip.roundTrip(encoder.encode("hi"), new Uint8Array(2)), {
    name: "HttpStatusError",
    message: "the server answered 503 (Service Unavailable)",
    status: 503,
    keepAlive: true,
  });
  // The next response on the connection is read from its own start.
  assert.equal(await trip.roundTrip(encoder.encode("hi"), new Uint8Array(2)), 2);
});

// --- Properties (fast-check): any framing however cut; random and mutated replies ---

const echoed = httpResponses(fc.integer({ min: 200, max: 299 }).filter((status) => status !== 204));

/** `bytes` as the reads of a connection, in pieces of the sizes given in turn. */
function cutInto(bytes: Uint8Array, sizes: number[]): Uint8Array[] {
  const pieces = [];
  for (let at = 0, i = 0; at < bytes.length; at += sizes[i++ % sizes.length]) {
    pieces.push(bytes.subarray(at, at + sizes[i % sizes.length]));
  }
  return pieces;
}

const cuts = fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 });

Deno.test("property: an echoed body reads back exactly in any framing, however cut", async () => {
  await fc.assert(
    fc.asyncProperty(echoed, cuts, async (reply, sizes) => {
      const conn = scriptedConn(cutInto(httpResponseBytes(reply), sizes));
      const { length } = reply.body;
      const trip = tripOn(conn, length);
      const echo = new Uint8Array(length);
      assert.equal(await trip.roundTrip(reply.body, echo), length);
      assert.deepEqual(echo, reply.body);
      assert.equal(trip.reusable, reply.framing !== "close");
    }),
    { numRuns: 3000 },
  );
});

Deno.test("property: random and mutated replies give an echo or a named failure, nothing else", async () => {
  const seen: Record<string, number> = {};
  const named = ["HttpResponseError", "HttpStatusError", "ClosedEarlyError"];
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        { arbitrary: mutated(httpResponses().map(httpResponseBytes)), weight: 4 },
        fc.uint8Array({ maxLength: 200 }),
        fc.tuple(fc.constant(encoder.encode("HTTP/1.1 ")), fc.uint8Array({ maxLength: 200 }))
          .map(([start, rest]) => new Uint8Array([...start, ...rest])),
      ),
      cuts,
      fc.integer({ min: 0, max: 300 }),
      async (bytes, sizes, size) => {
        const conn = scriptedConn(cutInto(bytes, sizes));
        const trip = tripOn(conn, size);
        const echo = new Uint8Array(size);
        try {
          const length = await trip.roundTrip(new Uint8Array(size), echo);
          assert.ok(Number.isInteger(length) && length >= 0 && length <= bytes.length);
          seen.answered = (seen.answered ?? 0) + 1;
        } catch (error) {
          const { name } = error as Error;
          if (!named.includes(name)) throw error;
          seen[name] = (seen[name] ?? 0) + 1;
        }
      },
    ),
    { numRuns: 10_000 },
  );
  // Each outcome came up in earnest.
  assert.ok(
    ["answered", ...named].every((outcome) => (seen[outcome] ?? 0) > 200),
    JSON.stringify(seen),
  );
});
