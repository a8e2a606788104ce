import assert from "node:assert/strict";
import {
  chunkFrame,
  httpDate,
  reasonPhrase,
  ResponseCutError,
  responseHead,
  ResponseSink,
  statusHasBody,
} from "./response.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** A connection that records what is written, at most `perWrite` bytes a call. */
function recording(perWrite = Infinity) {
  const written: Uint8Array[] = [];
  const conn = {
    write(bytes: Uint8Array) {
      const n = Math.min(bytes.length, perWrite);
      written.push(bytes.slice(0, n));
      return Promise.resolve(n);
    },
  };
  return { conn, written, all: () => written.map(text).join("") };
}

Deno.test("a response head: status line, headers in order, Date, blank line", () => {
  const head = responseHead("HTTP/1.1", 503, [["X-A", "1"], ["x-a", "2"]]);
  assert.match(
    head,
    /^HTTP\/1\.1 503 Service Unavailable\r\nX-A: 1\r\nx-a: 2\r\nDate: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT\r\n\r\n$/,
  );
  assert.equal(responseHead("HTTP/1.1", 299, []).split("\r\n")[0], "HTTP/1.1 299 ");
  assert.equal(httpDate(), new Date(Math.floor(Date.now() / 1000) * 1000).toUTCString());
  assert.equal(reasonPhrase(431), "Request Header Fields Too Large");
  assert.deepEqual([100, 101, 200, 204, 304, 404].map(statusHasBody), [
    false,
    false,
    true,
    false,
    false,
    true,
  ]);
});

Deno.test("chunk frames carry the size in hex", () => {
  assert.equal(text(chunkFrame(new Uint8Array(26).fill(97))), "1a\r\n" + "a".repeat(26) + "\r\n");
});

Deno.test("the sink writes all of a short write, sends a held head with the next write, counts", async () => {
  const { conn, written, all } = recording(3);
  const progress = { bytes: 0 };
  const sink = new ResponseSink(conn, progress);
  sink.hold(new TextEncoder().encode("HEAD|"));
  await sink.writeText("body");
  assert.equal(all(), "HEAD|body");
  assert.equal(written.length, 3, "written 3 bytes at a time, in one write call's loop");
  assert.equal(sink.bytes, 9);
  assert.equal(progress.bytes, 9);
  sink.hold(new TextEncoder().encode("only"));
  await sink.flush();
  await sink.flush();
  assert.equal(all(), "HEAD|bodyonly");
});

Deno.test("with a cut, the sink writes exactly that many bytes, then throws", async () => {
  const { conn, all } = recording();
  const sink = new ResponseSink(conn, { bytes: 0 }, 6);
  await sink.writeText("abc");
  await assert.rejects(sink.writeText("defgh"), ResponseCutError);
  assert.equal(all(), "abcdef");
  const zero = new ResponseSink(recording().conn, { bytes: 0 }, 0);
  await assert.rejects(zero.writeText("x"), ResponseCutError, "reset=0: nothing goes");
});
