import assert from "node:assert/strict";
import { bodyFraming } from "./body.ts";
import fc from "fast-check";
import {
  DEFAULT_HEAD_LIMITS,
  headerValue,
  HttpRequestError,
  parseRequestHead,
  type RequestHead,
} from "./request.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const head = (text: string) => parseRequestHead(bytes(text));

/** The status and reason `text` is refused with. */
function refusal(text: string | Uint8Array): [number, string] {
  try {
    parseRequestHead(typeof text === "string" ? bytes(text) : text);
  } catch (error) {
    if (error instanceof HttpRequestError) return [error.status, error.reason];
    throw error;
  }
  throw new Error("not refused");
}

Deno.test("a head keeps header order, duplicates and names as sent, and its own length", () => {
  const text = "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example\r\nX-A: 1\r\nx-a:  2 \r\n\r\nBODY";
  const parsed = head(text)!;
  assert.equal(parsed.method, "GET");
  assert.equal(parsed.target, "/a/b?x=1&y=2");
  assert.equal(parsed.path, "/a/b");
  assert.equal(parsed.query, "x=1&y=2");
  assert.equal(parsed.version, "HTTP/1.1");
  assert.deepEqual(parsed.headers, [["Host", "example"], ["X-A", "1"], ["x-a", "2"]]);
  assert.deepEqual(parsed.names, ["host", "x-a", "x-a"]);
  assert.equal(parsed.length, text.length - "BODY".length);
  assert.equal(headerValue(parsed, "x-a"), "1");
});

Deno.test("bare LF line ends, empty lines before the request, HTTP/1.0 without Host", () => {
  assert.equal(head("\r\n\nGET / HTTP/1.1\nHost: a\n\n")!.length, 27);
  const old = head("GET / HTTP/1.0\r\n\r\n")!;
  assert.equal(old.version, "HTTP/1.0");
  assert.deepEqual(old.headers, []);
  assert.equal(head("GET / HTTP/1.7\r\nHost: a\r\n\r\n")!.version, "HTTP/1.1");
});

Deno.test("absolute-form and asterisk targets give the path a server would route", () => {
  assert.equal(head("GET http://example.com/a?q HTTP/1.1\r\nHost: x\r\n\r\n")!.path, "/a");
  assert.equal(head("GET http://example.com HTTP/1.1\r\nHost: x\r\n\r\n")!.path, "/");
  assert.equal(head("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")!.path, "*");
});

Deno.test("an incomplete head asks for more, at every strict prefix", () => {
  const text = "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
  for (let cut = 0; cut < text.length; cut++) {
    assert.equal(head(text.slice(0, cut)), undefined, `prefix of ${cut} bytes`);
  }
  assert.ok(head(text));
});

Deno.test("malformed heads are refused with the reason a 400 names", () => {
  const cases: [string, number, RegExp][] = [
    ["GET / HTTP/1.1\r\nHost: a\r\nBad header\r\n\r\n", 400, /without a colon/],
    ["GET / HTTP/1.1\r\nHost: a\r\nBad name: x\r\n\r\n", 400, /not a token/],
    ["GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400, /folding/],
    ["GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400, /bare CR/],
    ["GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400, /control character/],
    ["GET /  HTTP/1.1\r\n", 400, /not METHOD TARGET/],
    ["GET / HTTP/1.1 extra\r\n", 400, /not METHOD TARGET/],
    ["G(T / HTTP/1.1\r\n", 400, /not a token/],
    ["GET /\x7f HTTP/1.1\r\n", 400, /percent-encoded/],
    ["GET / FTP/1.1\r\n", 400, /not HTTP\/1\.x/],
    ["GET / HTTP/2.0\r\n", 505, /HTTP\/2\.0 is not supported/],
    ["GET /\r\n", 400, /not METHOD TARGET/],
    ["GET / HTTP/1.1\r\n\r\n", 400, /without Host/],
    ["GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400, /more than one Host/],
  ];
  for (const [text, status, reason] of cases) {
    const [got, why] = refusal(text);
    assert.equal(got, status, JSON.stringify(text));
    assert.match(why, reason, JSON.stringify(text));
  }
});

Deno.test("the limits: 414 past the request line, 431 past the header bytes or lines", () => {
  const { maxLineBytes, maxHeaderBytes, maxHeaderLines } = DEFAULT_HEAD_LIMITS;
  const longTarget = "/" + "a".repeat(maxLineBytes);
  assert.equal(refusal(`GET ${longTarget}`)[0], 414, "refused before the line ends");
  assert.equal(refusal(`GET ${longTarget} HTTP/1.1\r\n\r\n`)[0], 414);
  assert.ok(head(`GET /${"a".repeat(maxLineBytes - 20)} HTTP/1.1\r\nHost: a\r\n\r\n`));
  const big = `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${"b".repeat(maxHeaderBytes)}`;
  assert.equal(refusal(big)[0], 431, "refused before the headers end");
  const lines = Array.from({ length: maxHeaderLines }, (_, i) => `X-${i}: v\r\n`).join("");
  assert.ok(head(`GET / HTTP/1.1\r\n${lines.slice(0, -"X-99: v\r\n".length)}Host: a\r\n\r\n`));
  assert.deepEqual(refusal(`GET / HTTP/1.1\r\nHost: a\r\n${lines}\r\n`), [
    431,
    "more than 100 header lines",
  ]);
  assert.equal(
    refusal("\r\n".repeat(maxLineBytes))[1],
    "too many empty lines before the request line",
  );
});

Deno.test("body framing: length, chunked, none, and what could be read two ways", () => {
  const framing = (headers: string) =>
    bodyFraming(head(`POST / HTTP/1.1\r\nHost: a\r\n${headers}\r\n`)!);
  assert.deepEqual(framing("Content-Length: 12\r\n"), { kind: "length", length: 12 });
  assert.deepEqual(framing("Content-Length: 0\r\n"), { kind: "none" });
  assert.deepEqual(framing("Content-Length: 5\r\nContent-Length: 5\r\n"), {
    kind: "length",
    length: 5,
  });
  assert.deepEqual(framing("Transfer-Encoding: Chunked\r\n"), { kind: "chunked" });
  assert.deepEqual(framing(""), { kind: "none" });
  const refused = (headers: string): [number, string] => {
    try {
      framing(headers);
    } catch (error) {
      if (error instanceof HttpRequestError) return [error.status, error.reason];
    }
    throw new Error(`not refused: ${headers}`);
  };
  assert.deepEqual(refused("Content-Length: 5\r\nContent-Length: 6\r\n")[0], 400);
  assert.deepEqual(refused("Content-Length: 5, 6\r\n")[0], 400);
  assert.match(refused("Content-Length: -1\r\n")[1], /is not a length/);
  assert.match(refused("Content-Length: 0x10\r\n")[1], /is not a length/);
  assert.match(refused("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n")[1], /both/);
  assert.deepEqual(refused("Transfer-Encoding: gzip, chunked\r\n"), [
    501,
    "Transfer-Encoding gzip, chunked is not supported, only chunked",
  ]);
  assert.equal(refused("Transfer-Encoding: chunked, chunked\r\n")[0], 501);
  assert.equal(refused("Transfer-Encoding:\r\n")[0], 501);
});

// Property tests -------------------------------------------------------------

const TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const token = fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 12 });
const pathSegment = fc.string({
  unit: fc.constantFrom(..."abcXYZ019-._~%!$&'()*+,;=:@"),
  maxLength: 8,
});
/** A header value: visible characters and inner spaces (UTF-8 too), no edge whitespace. */
const headerValueArb = fc.string({
  unit: fc.oneof(fc.constantFrom(...'abc XYZ 019 ;,="/\t'), fc.constantFrom("é", "ü", "日")),
  maxLength: 20,
}).map((value) => value.replace(/^[ \t]+|[ \t]+$/g, ""));

/** A valid request: its parts and its bytes, with LF or CRLF line ends. */
const validRequest = fc.record({
  method: token,
  path: fc.array(pathSegment, { maxLength: 4 }).map((parts) => "/" + parts.join("/")),
  query: fc.option(fc.string({ unit: fc.constantFrom(..."ab=&%20+"), maxLength: 10 }), {
    nil: undefined,
  }),
  version: fc.constantFrom("HTTP/1.0", "HTTP/1.1"),
  headers: fc.array(fc.tuple(token, headerValueArb), { maxLength: 12 }),
  crlf: fc.boolean(),
}).map((request) => {
  const headers = request.headers.filter(([name]) => name.toLowerCase() !== "host");
  headers.unshift(["Host", "example.test"]);
  const end = request.crlf ? "\r\n" : "\n";
  const target = request.path + (request.query === undefined ? "" : `?${request.query}`);
  const text = `${request.method} ${target} ${request.version}${end}` +
    headers.map(([name, value]) => `${name}: ${value}${end}`).join("") + end;
  return { ...request, headers, target, bytes: bytes(text) };
});

/** Parses `input`; a HttpRequestError is an answer, anything else thrown fails the property. */
function parseOrRefuse(input: Uint8Array): RequestHead | HttpRequestError | undefined {
  try {
    return parseRequestHead(input);
  } catch (error) {
    if (error instanceof HttpRequestError) {
      assert.ok([400, 414, 431, 505].includes(error.status), `status ${error.status}`);
      assert.ok(!/[\r\n]/.test(error.reason), "the reason is one line");
      return error;
    }
    throw error;
  }
}

Deno.test("property: a valid request round-trips, and every strict prefix asks for more", () => {
  fc.assert(
    fc.property(validRequest, fc.uint8Array({ maxLength: 20 }), (request, after) => {
      const input = new Uint8Array([...request.bytes, ...after]);
      const parsed = parseRequestHead(input)!;
      assert.equal(parsed.method, request.method);
      assert.equal(parsed.target, request.target);
      assert.equal(parsed.path, request.path);
      assert.equal(parsed.query, request.query ?? "");
      assert.equal(parsed.version, request.version);
      assert.deepEqual(parsed.headers, request.headers);
      assert.equal(parsed.length, request.bytes.length);
      const cut = Math.floor(request.bytes.length / 2);
      assert.equal(parseRequestHead(request.bytes.subarray(0, cut)), undefined);
      assert.equal(
        parseRequestHead(request.bytes.subarray(0, request.bytes.length - 1)),
        undefined,
      );
    }),
    { numRuns: 3000 },
  );
});

Deno.test("property: random and mutated bytes give a head, a wait or an HttpRequestError", () => {
  const mutated = fc.tuple(
    validRequest,
    fc.array(
      fc.tuple(
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom("set", "insert", "delete"),
      ),
      {
        minLength: 1,
        maxLength: 4,
      },
    ),
  ).map(([request, edits]) => {
    const out = [...request.bytes];
    for (const [at, byte, how] of edits) {
      const i = at % (out.length + 1);
      if (how === "set") out[i] = byte;
      else if (how === "insert") out.splice(i, 0, byte);
      else out.splice(i, 1);
    }
    return new Uint8Array(out);
  });
  const headLike = fc.array(
    fc.constantFrom(
      "GET",
      " ",
      "/",
      "\r",
      "\n",
      ":",
      "HTTP/1.1",
      "Host",
      "a",
      "\t",
      "\x00",
      "é",
      "?",
    ),
    { maxLength: 40 },
  ).map((parts) => bytes(parts.join("")));
  const verdicts = { head: 0, wait: 0, refused: 0 };
  fc.assert(
    fc.property(fc.oneof(mutated, headLike, fc.uint8Array({ maxLength: 200 })), (input) => {
      const verdict = parseOrRefuse(input);
      if (verdict === undefined) verdicts.wait++;
      else if (verdict instanceof HttpRequestError) verdicts.refused++;
      else {
        verdicts.head++;
        assert.ok(verdict.length <= input.length);
        // A head parsed is sound: the same bytes parse the same, alone.
        assert.deepEqual(parseRequestHead(input.subarray(0, verdict.length)), verdict);
        try {
          bodyFraming(verdict);
        } catch (error) {
          if (!(error instanceof HttpRequestError)) throw error; // may refuse, never otherwise throw
        }
      }
    }),
    { numRuns: 20000 },
  );
  assert.ok(
    verdicts.head > 0 && verdicts.wait > 0 && verdicts.refused > 0,
    JSON.stringify(verdicts),
  );
});
