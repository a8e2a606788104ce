/**
 * HTTP/2 reply bodies (h2_body.ts) as a reader of the stream sees them: the
 * request body metered and bounded, the delay, the size pattern, and the
 * cut of the `close`/`reset` faults, which waits for what it passed to
 * leave (as the relay counts it) before it errors.
 */
import assert from "node:assert/strict";
import { BodyDigest } from "./describe.ts";
import { type Body, bodyMeter, cutAfter, pause, replyBody } from "./h2_body.ts";
import { patternReply, patternText, textReply } from "./reply.ts";
import { HttpRequestError } from "./request.ts";
import { ResponseCutError } from "./response.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** Every byte of `body` until it ends or errors, and the error. */
async function drain(body: Body) {
  const stream = body instanceof Uint8Array ? ReadableStream.from([body]) : body!;
  const chunks: Uint8Array[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk);
    return { text: new TextDecoder().decode(concatAll(chunks)), chunks, error: undefined };
  } catch (error) {
    return { text: new TextDecoder().decode(concatAll(chunks)), chunks, error };
  }
}

function concatAll(chunks: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(chunks.reduce((n, chunk) => n + chunk.length, 0));
  chunks.reduce((at, chunk) => (all.set(chunk, at), at + chunk.length), 0);
  return all;
}

Deno.test("bodyMeter: every byte into the digest; one past --max-body errors with a 413", async () => {
  const digest = new BodyDigest(1024);
  const source = () => ReadableStream.from([text("hel"), text("lo")]);
  assert.equal((await drain(source().pipeThrough(bodyMeter(digest, 5)))).text, "hello");
  const { bytes, data } = digest.finish();
  assert.deepEqual([bytes, data], [5, "hello"]);
  const over = await drain(source().pipeThrough(bodyMeter(new BodyDigest(1024), 4)));
  assert.ok(over.error instanceof HttpRequestError);
  assert.equal(over.error.status, 413);
  assert.equal(over.text, "hel", "what came before the bound still passed");
});

Deno.test("pause: waits its time, or ends at once when the connection ends", async () => {
  const started = performance.now();
  await pause(20, new AbortController().signal);
  assert.ok(performance.now() - started >= 19);
  const ended = new AbortController();
  const waiting = pause(60_000, ended.signal);
  ended.abort();
  await waiting; // the sanitizers would catch its timer left behind
  await pause(0, ended.signal);
});

Deno.test("replyBody: bytes as they are, the size pattern streamed in whole periods", async () => {
  assert.equal((await drain(replyBody(textReply(200, "ok\n", [])))).text, "ok\n");
  const big = await drain(replyBody(patternReply(200_000, 200, [])));
  assert.equal(big.text, patternText(200_000));
  assert.ok(big.chunks.length > 1, "streamed, not one buffer");
  assert.ok(big.chunks.slice(0, -1).every((chunk) => chunk[0] === 0x61), "each piece starts at a");
  assert.equal((await drain(replyBody(patternReply(0, 200, [])))).text, "");
});

/** A relay's count of bytes sent, moved by the test; records what the cut waited for. */
function fakeRelayed(sent: number) {
  const waited: number[] = [];
  return {
    sent,
    waited,
    sentAtLeast(bytes: number) {
      waited.push(bytes - sent);
      return Promise.resolve();
    },
  };
}

Deno.test("cutAfter: N bytes pass, then, once they are on the wire, the stream errors", async () => {
  const relayed = fakeRelayed(1000);
  const source = ReadableStream.from([text("abcdef"), text("ghijkl")]);
  const cut = await drain(cutAfter(source, 8, relayed));
  assert.equal(cut.text, "abcdefgh");
  assert.ok(cut.error instanceof ResponseCutError);
  // At least a HEADERS frame (10 bytes), 8 bytes of body and one DATA frame header left first.
  assert.deepEqual(relayed.waited, [10 + 8 + 9]);
});

Deno.test("cutAfter: 0 is the head only; a body shorter than N goes whole, then the reset; no limit, no cut", async () => {
  const headersOnly = fakeRelayed(0);
  const none = await drain(cutAfter(text("hello"), 0, headersOnly));
  assert.deepEqual([none.text, none.error instanceof ResponseCutError], ["", true]);
  assert.deepEqual(headersOnly.waited, [10]);
  const short = await drain(cutAfter(text("hello"), 1000, fakeRelayed(0)));
  assert.deepEqual([short.text, short.error instanceof ResponseCutError], ["hello", true]);
  const bytes = text("whole");
  assert.equal(cutAfter(bytes, undefined, fakeRelayed(0)), bytes);
  const empty = await drain(cutAfter(null, 5, fakeRelayed(0)));
  assert.deepEqual([empty.text, empty.error instanceof ResponseCutError], ["", true]);
});
