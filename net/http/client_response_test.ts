/**
 * Reading responses (`client_response.ts` through `request()`), over an in-memory
 * connection whose reads cut the reply anywhere: each framing, keep-alive
 * and its absence, interim responses, every refusal with its typed error;
 * and fast-check properties: valid responses read back exactly however they
 * are split, random and mutated heads give a response or a typed error.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { httpResponseBytes, httpResponses, mutated } from "../../cli/test_util_fc.ts";
import { NotTlsError } from "../errors.ts";
import {
  HttpClosedError,
  type HttpRequest,
  type HttpResponse,
  HttpResponseError,
  request,
} from "./client.ts";

const encoder = new TextEncoder();
const text = (value: string) => encoder.encode(value);
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/**
 * A connection whose reads return `reply` in pieces of the given sizes (the
 * last size repeating), then the end; what is written is kept in `written`.
 */
function memoryConn(reply: Uint8Array, pieces: number[] = [1 << 20]) {
  let at = 0;
  let read = 0;
  const written: Uint8Array[] = [];
  return {
    written,
    localAddr: { transport: "tcp" as const, hostname: "127.0.0.1", port: 50000 },
    remoteAddr: { transport: "tcp" as const, hostname: "127.0.0.1", port: 4321 },
    read(into: Uint8Array): Promise<number | null> {
      const size = Math.max(1, pieces[Math.min(read++, pieces.length - 1)]);
      const n = Math.min(into.length, size, reply.length - at);
      into.set(reply.subarray(at, at + n));
      at += n;
      return Promise.resolve(n === 0 ? null : n);
    },
    write(bytes: Uint8Array): Promise<number> {
      written.push(bytes.slice());
      return Promise.resolve(bytes.length);
    },
    closeWrite: () => Promise.resolve(),
    close() {},
  };
}

const GET: HttpRequest = { host: "echo.test" };

/** The response to one GET over `reply`, and its body read whole. */
async function fetchOne(reply: string | Uint8Array, req: Partial<HttpRequest> = {}) {
  const conn = memoryConn(typeof reply === "string" ? text(reply) : reply);
  const response = await request(conn, { ...GET, ...req });
  return { response, body: decode(await response.body.bytes()) };
}

Deno.test("a Content-Length body is read exactly and the connection is kept", async () => {
  const { response, body } = await fetchOne(
    "HTTP/1.1 200 OK\r\nX-Echo-Instance: web-1\r\nContent-Length: 5\r\n\r\nhello",
  );
  assert.deepEqual(
    [response.version, response.status, response.reason, response.keepAlive, body],
    ["HTTP/1.1", 200, "OK", true, "hello"],
  );
  assert.deepEqual(response.headers, [["X-Echo-Instance", "web-1"], ["Content-Length", "5"]]);
});

Deno.test("a chunked body with extensions and trailers is read across any cut", async () => {
  const reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "5;name=value\r\nhello\r\n1 \r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n";
  for (const piece of [1, 2, 3, 7, 1000]) {
    const conn = memoryConn(text(reply), [piece]);
    const response = await request(conn, GET);
    assert.equal(decode(await response.body.bytes()), "hello world", `pieces of ${piece}`);
    assert.equal(response.keepAlive, true);
  }
});

Deno.test("a body without a length ends at the close, and the connection is spent", async () => {
  const conn = memoryConn(text("HTTP/1.1 200 OK\r\n\r\nuntil the end"));
  const response = await request(conn, GET);
  assert.equal(decode(await response.body.bytes()), "until the end");
  assert.equal(response.keepAlive, false);
  await assert.rejects(request(conn, GET), /cannot carry another request: the response closed it/);
});

Deno.test("Connection: close and HTTP/1.0 decide keep-alive", async () => {
  const cases: [string, boolean][] = [
    ["HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n", false],
    ["HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false],
    ["HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", true],
    ["HTTP/1.1 200 OK\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false],
  ];
  for (const [reply, keepAlive] of cases) {
    assert.equal((await fetchOne(reply)).response.keepAlive, keepAlive, JSON.stringify(reply));
  }
});

Deno.test("HEAD, 204 and 304 have no body whatever their Content-Length says", async () => {
  const after = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext";
  const cases: [string, string][] = [
    ["HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"],
    ["GET", "HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n"],
    ["GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"],
  ];
  for (const [method, reply] of cases) {
    const conn = memoryConn(text(reply + after));
    const first = await request(conn, { ...GET, method });
    // No read of the empty body is needed before the next request.
    const second = await request(conn, GET);
    assert.deepEqual([await first.body.read(new Uint8Array(9)), first.keepAlive], [null, true]);
    assert.equal(decode(await second.body.bytes()), "next", reply);
  }
});

Deno.test("interim 1xx responses are skipped; 101 is the response", async () => {
  const { response, body } = await fetchOne(
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" +
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
  );
  assert.deepEqual([response.status, body], [201, "ok"]);
  const upgraded = await fetchOne("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
  assert.deepEqual([upgraded.response.status, upgraded.response.keepAlive], [101, false]);
  await assert.rejects(
    fetchOne("HTTP/1.1 100 Continue\r\n\r\n".repeat(17)),
    (error) => error instanceof HttpResponseError && /over 16 interim/.test(error.message),
  );
});

Deno.test("bare LF line ends and an empty reason phrase are read", async () => {
  const { response, body } = await fetchOne("HTTP/1.1 404\nContent-Length: 2\n\nno");
  assert.deepEqual([response.status, response.reason, body], [404, "", "no"]);
});

Deno.test("each malformed reply is an HttpResponseError naming what was wrong", async () => {
  const cases: [string, RegExp][] = [
    ["SSH-2.0-OpenSSH_9.2\r\n", /^127\.0\.0\.1:4321 did not answer with HTTP\/1\.x: "SSH-2\.0/],
    ["HTTP/2.0 200 OK\r\n\r\n", /answered HTTP\/2\.0: only HTTP\/1\.x is read/],
    ["HTTP/1.1 200 O\x01K\r\n\r\n", /did not answer with HTTP\/1\.x/],
    ["HTTP/1.1 200 OK\r\n folded: x\r\n\r\n", /folded header line/],
    ["HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", /malformed header line: "Bad Name: x"/],
    ["HTTP/1.1 200 OK\r\nno colon\r\n\r\n", /malformed header line/],
    ["HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", /bare CR/],
    ["HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", /invalid Content-Length: "-1"/],
    ["HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", /"2, 3"/],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", /malformed chunk size: "zz"/],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", /longer than/],
  ];
  for (const [reply, message] of cases) {
    await assert.rejects(
      fetchOne(reply),
      (error) => error instanceof HttpResponseError && message.test(error.message),
      JSON.stringify(reply),
    );
  }
});

Deno.test("a head over maxHeadBytes and a body over bytes(max) are refused", async () => {
  const big = `HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(200)}\r\n\r\n`;
  await assert.rejects(
    fetchOne(big, { maxHeadBytes: 100 }),
    (error) =>
      error instanceof HttpResponseError &&
      error.message === "the response head from 127.0.0.1:4321 is over 100 bytes",
  );
  assert.equal((await fetchOne(big, { maxHeadBytes: 300 })).response.status, 200);
  const conn = memoryConn(text("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789"));
  const response = await request(conn, GET);
  await assert.rejects(response.body.bytes(9), /response body from 127\.0\.0\.1:4321 is over 9/);
});

Deno.test("an early end is an HttpClosedError with what had come", async () => {
  await assert.rejects(fetchOne(""), (error) =>
    error instanceof HttpClosedError &&
    error.message === "127.0.0.1:4321 closed the connection without a response");
  await assert.rejects(
    fetchOne("HTTP/1.1 200 OK\r\nX-A"),
    (error) =>
      error instanceof HttpClosedError &&
      /in the middle of the response head \(after 20 bytes\)/.test(error.message),
  );
  await assert.rejects(
    fetchOne("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
    (error) =>
      error instanceof HttpClosedError && error.received === 3 && error.expected === 10 &&
      error.message ===
        "127.0.0.1:4321 closed the connection after 3 of 10 bytes of the response body",
  );
  await assert.rejects(
    fetchOne("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"),
    (error) =>
      error instanceof HttpClosedError &&
      /chunked response body \(after 2 bytes\)/.test(error.message),
  );
});

Deno.test("a TLS record where a response should be is a NotTlsError", async () => {
  const alert = new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]);
  await assert.rejects(
    fetchOne(alert),
    (error) =>
      error instanceof NotTlsError && /answered with TLS: use https:\/\//.test(error.message),
  );
});

Deno.test("a second request waits for the first body to be read", async () => {
  const conn = memoryConn(text("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"));
  await request(conn, GET);
  await assert.rejects(request(conn, GET), /previous response's body was not read to its end/);
});

// --- Properties (fast-check): any split, any framing; random and mutated heads ---

const framed = httpResponses();

Deno.test("property: a valid response reads back exactly however the connection cuts it", async () => {
  await fc.assert(
    fc.asyncProperty(
      framed,
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }),
      async (reply, pieces) => {
        const conn = memoryConn(httpResponseBytes(reply), pieces);
        const response = await request(conn, GET);
        assert.equal(response.status, reply.status);
        assert.deepEqual(response.headers.slice(0, reply.headers.length), reply.headers);
        assert.deepEqual(await response.body.bytes(), reply.body);
        assert.equal(response.keepAlive, reply.framing !== "close");
      },
    ),
    { numRuns: 3000 },
  );
});

/** A valid response with bytes replaced, inserted, removed or cut short. */
const damaged = mutated(framed.map(httpResponseBytes), { minEdits: 1 });

/** The response and its body, or the error: anything but a typed one fails the property. */
async function outcome(bytes: Uint8Array, pieces: number[], maxHeadBytes: number) {
  let response: HttpResponse | undefined;
  try {
    response = await request(memoryConn(bytes, pieces), { ...GET, maxHeadBytes });
    return { response, body: await response.body.bytes(1000) };
  } catch (error) {
    const typed = error instanceof HttpResponseError || error instanceof HttpClosedError ||
      error instanceof NotTlsError;
    if (!typed) throw error;
    return { response, error };
  }
}

Deno.test("property: random and mutated replies give a response or a typed error, nothing else", async () => {
  const seen = { responses: 0, refused: 0, closed: 0 };
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        { arbitrary: damaged, weight: 4 },
        fc.uint8Array({ maxLength: 200 }),
        fc.tuple(fc.constant(text("HTTP/1.1 ")), fc.uint8Array({ maxLength: 200 }))
          .map(([start, rest]) => new Uint8Array([...start, ...rest])),
      ),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 4 }),
      fc.integer({ min: 16, max: 400 }),
      async (bytes, pieces, maxHeadBytes) => {
        const { response, error, body } = await outcome(bytes, pieces, maxHeadBytes);
        if (error instanceof HttpClosedError) seen.closed++;
        else if (error) seen.refused++;
        else seen.responses++;
        if (response) {
          assert.ok(response.status >= 100 && response.status <= 999);
          assert.ok(
            response.headers.every(([name]) => /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)),
          );
          assert.ok(body === undefined || body.length <= bytes.length);
        }
      },
    ),
    { numRuns: 10_000 },
  );
  // Each outcome came up in earnest, not just the refusals.
  assert.ok(Object.values(seen).every((n) => n > 500), JSON.stringify(seen));
});
