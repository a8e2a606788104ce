/**
 * The WebSocket encoding side (websocket.ts): the handshake key, frames as
 * RFC 6455 §5.7 writes them, every length form, masking at every alignment,
 * close payloads, and a writer whose concurrent frames never interleave.
 */
import assert from "node:assert/strict";
import { text } from "../../cli/test_util_ws.ts";
import {
  applyMask,
  CLOSE,
  encodeClose,
  encodeFrame,
  encodeFrameHeader,
  FrameWriter,
  headerLines,
  isValidCloseCode,
  isWebSocketKey,
  OPCODE,
  parseClose,
  websocketAccept,
  WebSocketProtocolError,
} from "./websocket.ts";

const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");

Deno.test("websocketAccept gives RFC 6455's example accept key", async () => {
  assert.equal(await websocketAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
});

Deno.test("isWebSocketKey takes 16 bytes in base64 and nothing else", () => {
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  assert.ok(isWebSocketKey(key));
  assert.ok(isWebSocketKey("dGhlIHNhbXBsZSBub25jZQ=="));
  for (const bad of ["", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ==x", "a b", "dGhl"]) {
    assert.ok(!isWebSocketKey(bad), bad);
  }
  assert.ok(!isWebSocketKey(btoa("seventeen bytes!!")), "17 bytes");
});

Deno.test("headerLines writes each header as sent and refuses CR or LF", () => {
  assert.equal(headerLines([["X-A", "1"], ["X-A", "2"]]), "X-A: 1\r\nX-A: 2\r\n");
  assert.equal(headerLines({ "X-Echo-Instance": "web-1" }), "X-Echo-Instance: web-1\r\n");
  assert.throws(() => headerLines({ "X-A": "1\r\nSet-Cookie: x" }), TypeError);
  assert.throws(() => headerLines([["X-A\n", "1"]]), TypeError);
});

Deno.test("encodeFrame writes RFC 6455's examples byte for byte", () => {
  const key = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);
  assert.equal(hex(encodeFrame(OPCODE.text, text("Hello"))), "81 05 48 65 6c 6c 6f");
  assert.equal(
    hex(encodeFrame(OPCODE.text, text("Hello"), { maskKey: key })),
    "81 85 37 fa 21 3d 7f 9f 4d 51 58",
  );
  assert.equal(hex(encodeFrame(OPCODE.text, text("Hel"), { fin: false })), "01 03 48 65 6c");
  assert.equal(hex(encodeFrame(OPCODE.continuation, text("lo"))), "80 02 6c 6f");
  assert.equal(hex(encodeFrame(OPCODE.ping, text("Hello"))), "89 05 48 65 6c 6c 6f");
  assert.equal(
    hex(encodeFrame(OPCODE.pong, text("Hello"), { maskKey: key })),
    "8a 85 37 fa 21 3d 7f 9f 4d 51 58",
  );
  assert.equal(hex(encodeFrame(OPCODE.binary, new Uint8Array(256)).subarray(0, 4)), "82 7e 01 00");
  assert.equal(
    hex(encodeFrame(OPCODE.binary, new Uint8Array(65536)).subarray(0, 10)),
    "82 7f 00 00 00 00 00 01 00 00",
  );
});

Deno.test("encodeFrameHeader uses the shortest length form at each boundary", () => {
  const cases: [number, string][] = [
    [0, "82 00"],
    [125, "82 7d"],
    [126, "82 7e 00 7e"],
    [65535, "82 7e ff ff"],
    [65536, "82 7f 00 00 00 00 00 01 00 00"],
    [2 ** 32 + 5, "82 7f 00 00 00 01 00 00 00 05"],
    [2 ** 53 - 1, "82 7f 00 1f ff ff ff ff ff ff"],
  ];
  for (const [length, bytes] of cases) {
    assert.equal(hex(encodeFrameHeader(OPCODE.binary, length)), bytes, `${length}`);
  }
  const key = new Uint8Array([1, 2, 3, 4]);
  assert.equal(
    hex(encodeFrameHeader(OPCODE.text, 126, { fin: false, maskKey: key })),
    "01 fe 00 7e 01 02 03 04",
  );
});

Deno.test("applyMask equals the byte-by-byte XOR at every alignment and length, and undoes itself", () => {
  const key = new Uint8Array([0x9a, 0x01, 0xff, 0x42]);
  const backing = new Uint8Array(64).map((_, i) => i * 7);
  for (let offset = 0; offset < 8; offset++) {
    for (let length = 0; length <= 40; length++) {
      const bytes = backing.slice().subarray(offset, offset + length);
      const original = bytes.slice();
      applyMask(bytes, key);
      assert.deepEqual(bytes, original.map((b, i) => b ^ key[i % 4]), `${offset}+${length}`);
      applyMask(bytes, key);
      assert.deepEqual(bytes, original);
    }
  }
});

Deno.test("masked frames get a fresh random key each, and the caller's bytes are left alone", () => {
  const payload = text("same payload");
  const keys = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const frame = encodeFrame(OPCODE.binary, payload, { mask: true });
    assert.equal(frame[1], 0x80 | payload.length);
    const key = frame.subarray(2, 6);
    keys.add(hex(key));
    const unmasked = frame.slice(6);
    applyMask(unmasked, key);
    assert.deepEqual(unmasked, payload);
  }
  assert.deepEqual(payload, text("same payload"));
  // 2000 draws from 2^32 keys: a repeat is a one-in-2000 event, more would be a broken pool.
  assert.ok(keys.size >= 1998, `${keys.size} distinct keys`);
});

Deno.test("close payloads: a code and reason round trip, no code is 1005", () => {
  assert.equal(hex(encodeClose(1000, "bye")), "03 e8 62 79 65");
  assert.deepEqual(parseClose(encodeClose(1000, "bye")), { code: 1000, reason: "bye" });
  assert.deepEqual(parseClose(encodeClose(4999, "é")), { code: 4999, reason: "é" });
  assert.deepEqual(parseClose(new Uint8Array()), { code: CLOSE.noStatus, reason: "" });
  assert.equal(encodeClose().length, 0);
  assert.equal(encodeClose(1000, "x".repeat(123)).length, 125);
  assert.throws(() => encodeClose(1000, "x".repeat(124)), RangeError);
  assert.throws(() => encodeClose(1006), RangeError);
});

Deno.test("close codes: which may be sent (RFC 6455 §7.4 and Python websockets agree)", () => {
  const valid = [
    1000,
    1001,
    1002,
    1003,
    1007,
    1008,
    1009,
    1010,
    1011,
    1012,
    1013,
    1014,
    3000,
    4999,
  ];
  const invalid = [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535];
  for (const code of valid) assert.ok(isValidCloseCode(code), `${code}`);
  for (const code of invalid) assert.ok(!isValidCloseCode(code), `${code}`);
});

Deno.test("parseClose refuses a 1-byte payload and unsendable codes (1002), a reason not UTF-8 (1007)", () => {
  const closeCode = (payload: number[]) => {
    try {
      parseClose(new Uint8Array(payload));
    } catch (error) {
      assert.ok(error instanceof WebSocketProtocolError);
      return error.closeCode;
    }
    assert.fail(`accepted ${payload}`);
  };
  assert.equal(closeCode([0x03]), 1002);
  assert.equal(closeCode([0x03, 0xee]), 1002); // 1006
  assert.equal(closeCode([0x03, 0xed]), 1002); // 1005
  assert.equal(closeCode([0x00, 0x00]), 1002);
  assert.equal(closeCode([0x03, 0xe8, 0xff]), 1007);
  assert.equal(closeCode([0x03, 0xe8, 0xce]), 1007); // a code point cut short
});

/** A connection whose writes take at most `chunk` bytes each and yield before they return. */
function slowConn(chunk: number) {
  const written: number[] = [];
  return {
    written,
    async write(bytes: Uint8Array) {
      await Promise.resolve();
      const n = Math.min(chunk, bytes.length);
      written.push(...bytes.subarray(0, n));
      return n;
    },
  };
}

Deno.test("FrameWriter queues concurrent frames whole, in call order, even over partial writes", async () => {
  const conn = slowConn(7);
  const writer = new FrameWriter(conn);
  const big = new Uint8Array(70_000).fill(7);
  await Promise.all([
    writer.write(OPCODE.text, text("first")),
    writer.write(OPCODE.ping, text("p")),
    writer.write(OPCODE.binary, big),
    writer.write(OPCODE.text, text("last")),
  ]);
  const expected = [
    ...encodeFrame(OPCODE.text, text("first")),
    ...encodeFrame(OPCODE.ping, text("p")),
    ...encodeFrame(OPCODE.binary, big),
    ...encodeFrame(OPCODE.text, text("last")),
  ];
  assert.equal(conn.written.length, expected.length);
  assert.deepEqual(new Uint8Array(conn.written), new Uint8Array(expected));
});

Deno.test("FrameWriter masks every frame for a client, and a failed write does not stop the queue", async () => {
  let fail = true;
  const written: Uint8Array[] = [];
  const conn = {
    write(bytes: Uint8Array) {
      if (fail) {
        fail = false;
        return Promise.reject(new Deno.errors.BrokenPipe("gone"));
      }
      written.push(bytes.slice());
      return Promise.resolve(bytes.length);
    },
  };
  const writer = new FrameWriter(conn, { mask: true });
  const [first, second] = await Promise.allSettled([
    writer.write(OPCODE.text, text("lost")),
    writer.write(OPCODE.text, text("kept")),
  ]);
  assert.equal(first.status, "rejected");
  assert.equal(second.status, "fulfilled");
  assert.equal(written.length, 1);
  const frame = written[0];
  assert.equal(hex(frame.subarray(0, 2)), "81 84");
  const payload = frame.slice(6);
  applyMask(payload, frame.subarray(2, 6));
  assert.equal(new TextDecoder().decode(payload), "kept");
});
