import assert from "node:assert/strict";
import { ConnReader } from "./body.ts";
import { BodyDigest } from "./describe.ts";
import {
  echoBody,
  patternReply,
  patternText,
  type RequestLine,
  sendReply,
  textReply,
} from "./reply.ts";
import type { BodyFraming } from "./body.ts";
import { ResponseSink } from "./response.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

/** A sink whose connection records every write call. */
function recordingSink() {
  const writes: Uint8Array[] = [];
  const conn = {
    write: (data: Uint8Array) => (writes.push(data.slice()), Promise.resolve(data.length)),
  };
  const text = () => writes.map((write) => new TextDecoder().decode(write)).join("");
  return { sink: new ResponseSink(conn, { bytes: 0 }), writes, text };
}

/** A reader over `input`, delivered in reads of at most `perRead` bytes. */
function readerOf(input: string, perRead = Infinity): ConnReader {
  let at = 0;
  const data = bytes(input);
  return new ConnReader({
    read(buffer) {
      if (at === data.length) return Promise.resolve(null);
      const n = Math.min(buffer.length, perRead, data.length - at);
      buffer.set(data.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  }, { bytes: 0 });
}

const GET = { version: "HTTP/1.1", method: "GET" } as const;

/** What echoBody writes for `input` read as a body framed by `framing`, and whether it goes on. */
async function echoed(input: string, request: RequestLine, framing: BodyFraming) {
  const { sink, text } = recordingSink();
  const reply = { status: 200, headers: [], keepAlive: true, afterHeaders: false };
  const goOn = await echoBody(
    sink,
    readerOf(input),
    request,
    framing,
    Infinity,
    reply,
    new BodyDigest(0),
  );
  return { goOn, text: text() };
}

Deno.test("a known body goes with its head in one write, framed by Content-Length", async () => {
  const { sink, writes, text } = recordingSink();
  await sendReply(sink, GET, textReply(200, "ok\n", [["X-A", "1"]]), true);
  assert.equal(writes.length, 1);
  assert.match(
    text(),
    /^HTTP\/1\.1 200 OK\r\nContent-Type: text\/plain; charset=utf-8\r\nX-A: 1\r\nContent-Length: 3\r\nDate: [^\r]+\r\n\r\nok\n$/,
  );
});

Deno.test("Connection: close when not kept alive, keep-alive to an HTTP/1.0 client that is", async () => {
  const closing = recordingSink();
  await sendReply(closing.sink, GET, textReply(200, "x", []), false);
  assert.match(closing.text(), /\r\nConnection: close\r\n/);
  const old = recordingSink();
  await sendReply(old.sink, { version: "HTTP/1.0", method: "GET" }, textReply(200, "x", []), true);
  assert.match(old.text(), /\r\nConnection: keep-alive\r\n/);
});

Deno.test("the size pattern streams in 64 KiB writes, the head with the first", async () => {
  const { sink, writes, text } = recordingSink();
  const size = 150_000;
  await sendReply(sink, GET, patternReply(size, 200, []), true);
  assert.equal(writes.length, 3);
  const all = text();
  assert.equal(all.slice(all.indexOf("\r\n\r\n") + 4), patternText(size));
  assert.equal(patternText(28), "abcdefghijklmnopqrstuvwxyzab");
});

Deno.test("no body for HEAD, 204, or after-headers; the length is still announced", async () => {
  const head = recordingSink();
  await sendReply(
    head.sink,
    { version: "HTTP/1.1", method: "HEAD" },
    textReply(200, "abc", []),
    true,
  );
  assert.match(head.text(), /Content-Length: 3\r\nDate: [^\r]+\r\n\r\n$/);
  const none = recordingSink();
  await sendReply(none.sink, GET, textReply(204, "abc", []), true);
  assert.ok(!none.text().includes("Content-Length"));
  assert.ok(none.text().endsWith("\r\n\r\n"));
  const cut = recordingSink();
  await sendReply(cut.sink, GET, patternReply(1000, 200, []), false, true);
  assert.match(cut.text(), /Content-Length: 1000\r\n.*\r\n\r\n$/s);
});

Deno.test("the raw echo frames its body as the request did, piece by piece as it is read", async () => {
  const reply = { status: 200, headers: [], keepAlive: true, afterHeaders: false };
  const sized = recordingSink();
  const digest = new BodyDigest(100);
  const goOn = await echoBody(
    sized.sink,
    readerOf("hello world", 4),
    GET,
    {
      kind: "length",
      length: 11,
    },
    Infinity,
    reply,
    digest,
  );
  assert.equal(goOn, true);
  assert.ok(sized.writes.length >= 3, "written as read, not held whole");
  assert.match(sized.text(), /Content-Length: 11\r\n.*\r\n\r\nhello world$/s);
  assert.equal(digest.finish().data, "hello world");
  const chunked = await echoed("5\r\nhello\r\n0\r\n\r\n", GET, { kind: "chunked" });
  assert.match(chunked.text, /Transfer-Encoding: chunked\r\n.*\r\n\r\n5\r\nhello\r\n0\r\n\r\n$/s);
  const old = await echoed("5\r\nhello\r\n0\r\n\r\n", { version: "HTTP/1.0", method: "POST" }, {
    kind: "chunked",
  });
  assert.equal(old.goOn, false, "close-delimited: the connection ends with the body");
  assert.match(old.text, /Connection: close\r\n.*\r\n\r\nhello$/s);
  const empty = await echoed("", GET, { kind: "none" });
  assert.match(empty.text, /Content-Length: 0\r\n/);
});
