import assert from "node:assert/strict";
import { deflateSync } from "node:zlib";
import { Histogram } from "./histogram.ts";
import { decodeHistogram, encodeHistogram } from "./histogram_codec.ts";

Deno.test("the V2 compressed encoding is HISTF…: cookie 0x1c849314, then zlib, inner cookie 0x1c849313", () => {
  const histogram = new Histogram();
  histogram.record(1_500_000);
  const bytes = Uint8Array.fromBase64(encodeHistogram(histogram));
  const view = new DataView(bytes.buffer);
  assert.equal(view.getUint32(0), 0x1c849314);
  assert.equal(view.getInt32(4), bytes.length - 8);
  assert.deepEqual([bytes[8], bytes[9]], [0x78, 0xda]); // a zlib header (level 9), not raw deflate
  assert.ok(encodeHistogram(histogram).startsWith("HISTF"));
});

Deno.test("decoding refuses what is not a V2 compressed histogram, saying why", () => {
  const good = encodeHistogram(new Histogram());
  const bytes = Uint8Array.fromBase64(good);
  const withCookie = (cookie: number) => {
    const copy = bytes.slice();
    new DataView(copy.buffer).setUint32(0, cookie);
    return copy.toBase64();
  };
  // A V2 header whose payload claims more bytes than follow.
  const inner = new Uint8Array(41);
  new DataView(inner.buffer).setUint32(0, 0x1c849313);
  new DataView(inner.buffer).setInt32(4, 10);
  const deflated = deflateSync(inner);
  const cutPayload = new Uint8Array(8 + deflated.length);
  new DataView(cutPayload.buffer).setUint32(0, 0x1c849314);
  new DataView(cutPayload.buffer).setInt32(4, deflated.length);
  cutPayload.set(deflated, 8);
  for (
    const [text, message] of [
      ["not base64!", /^not base64$/],
      ["HIST", /too short for a histogram/],
      [withCookie(0x1c849322), /cookie 0x1c849322 is not HdrHistogram's V2 compressed encoding/],
      [bytes.subarray(0, bytes.length - 3).toBase64(), /^truncated: \d+ of \d+ compressed bytes$/],
      [cutPayload.toBase64(), /^truncated: 1 of 10 payload bytes$/],
    ] as const
  ) {
    assert.throws(
      () => decodeHistogram(text),
      (error) => error instanceof TypeError && message.test(error.message),
      text,
    );
  }
});
