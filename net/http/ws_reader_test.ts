/**
 * Reading WebSocket frames (ws_reader.ts): every length form, pending bytes
 * first, fragments joined around control frames, each protocol violation
 * with its close code; and properties (fast-check): what is encoded reads
 * back whatever the fragmentation, masking and read sizes, and random or
 * mutated byte streams end in a message, the end, or a WebSocketProtocolError
 * and nothing else.
 */
import assert from "node:assert/strict";
import { text } from "../../cli/test_util_ws.ts";
import fc from "fast-check";
import { mutated } from "../../cli/test_util_fc.ts";
import {
  type ByteSource,
  FrameReader,
  type FrameReaderOptions,
  type Message,
} from "./ws_reader.ts";
import { encodeClose, encodeFrame, OPCODE, WebSocketProtocolError } from "./websocket.ts";

const join = (parts: Uint8Array[]) => new Uint8Array(parts.flatMap((part) => [...part]));

/** A source that hands out `bytes` in reads of the given sizes (cycled), then ends. */
function scripted(bytes: Uint8Array, sizes: number[] = [1 << 30]): ByteSource & { reads: number } {
  let at = 0;
  let turn = 0;
  return {
    reads: 0,
    read(buffer: Uint8Array) {
      this.reads++;
      if (at === bytes.length) return Promise.resolve(null);
      const n = Math.min(
        buffer.length,
        bytes.length - at,
        Math.max(1, sizes[turn++ % sizes.length]),
      );
      buffer.set(bytes.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}

/** Every message until the end (or the error it ended with, which is rethrown unless a protocol error). */
async function readAll(source: ByteSource, options: FrameReaderOptions = {}) {
  const reader = new FrameReader(source, options);
  const messages: Message[] = [];
  try {
    for (let message; (message = await reader.readMessage()) !== null;) messages.push(message);
  } catch (error) {
    if (error instanceof WebSocketProtocolError) return { messages, error };
    throw error;
  }
  return { messages, error: undefined };
}

/** The close code `bytes` end with, read as a server reads a client unless told otherwise. */
async function closeCodeOf(
  bytes: Uint8Array,
  options: FrameReaderOptions = { expectMasked: true },
) {
  const { error } = await readAll(scripted(bytes), options);
  assert.ok(error, "a WebSocketProtocolError");
  return error.closeCode;
}

Deno.test("every length form reads back, masked and not, in one read and a byte at a time", async () => {
  for (const length of [0, 1, 125, 126, 127, 65535, 65536, 70_000, 1 << 20]) {
    const payload = new Uint8Array(length).map((_, i) => i * 13 + (i >> 9));
    for (const mask of [false, true]) {
      const wire = encodeFrame(OPCODE.binary, payload, { mask });
      for (const sizes of length > 70_000 ? [[1 << 30], [4093]] : [[1 << 30], [1]]) {
        const reader = new FrameReader(scripted(wire, sizes), { expectMasked: mask });
        const frame = await reader.readFrame();
        assert.deepEqual(frame, { fin: true, opcode: OPCODE.binary, masked: mask, payload });
        assert.equal(await reader.readFrame(), null);
      }
    }
  }
});

Deno.test("pending bytes are read first, then the source", async () => {
  const wire = join([
    encodeFrame(OPCODE.text, text("one"), { mask: true }),
    encodeFrame(OPCODE.text, text("two"), { mask: true }),
  ]);
  for (let split = 0; split <= wire.length; split++) {
    const { messages, error } = await readAll(scripted(wire.subarray(split)), {
      pending: wire.slice(0, split),
      expectMasked: true,
    });
    assert.equal(error, undefined);
    assert.deepEqual(messages.map((m) => new TextDecoder().decode(m.data)), ["one", "two"]);
  }
});

Deno.test("a fragmented message is joined, with pings and pongs between its fragments passed on first", async () => {
  const wire = join([
    encodeFrame(OPCODE.text, text("Hel"), { fin: false, mask: true }),
    encodeFrame(OPCODE.ping, text("p1"), { mask: true }),
    encodeFrame(OPCODE.continuation, new Uint8Array(), { fin: false, mask: true }),
    encodeFrame(OPCODE.pong, new Uint8Array(), { mask: true }),
    encodeFrame(OPCODE.continuation, text("lo"), { mask: true }),
    encodeFrame(OPCODE.binary, new Uint8Array([0]), { fin: false, mask: true }),
    encodeFrame(OPCODE.continuation, new Uint8Array([255]), { mask: true }),
    encodeFrame(OPCODE.close, encodeClose(1000, "bye"), { mask: true }),
  ]);
  const { messages, error } = await readAll(scripted(wire, [3]), { expectMasked: true });
  assert.equal(error, undefined);
  assert.deepEqual(messages, [
    { opcode: OPCODE.ping, data: text("p1") },
    { opcode: OPCODE.pong, data: new Uint8Array() },
    { opcode: OPCODE.text, data: text("Hello") },
    { opcode: OPCODE.binary, data: new Uint8Array([0, 255]) },
    { opcode: OPCODE.close, data: encodeClose(1000, "bye"), close: { code: 1000, reason: "bye" } },
  ]);
});

Deno.test("a UTF-8 character split across fragments is valid text", async () => {
  const euro = text("€"); // e2 82 ac
  const wire = join([
    encodeFrame(OPCODE.text, euro.subarray(0, 1), { fin: false }),
    encodeFrame(OPCODE.continuation, euro.subarray(1, 2), { fin: false }),
    encodeFrame(OPCODE.continuation, euro.subarray(2)),
  ]);
  const { messages, error } = await readAll(scripted(wire));
  assert.equal(error, undefined);
  assert.deepEqual(messages, [{ opcode: OPCODE.text, data: euro }]);
});

Deno.test("framing violations close with 1002", async () => {
  const masked = { mask: true };
  const violations: [string, Uint8Array, FrameReaderOptions?][] = [
    ["RSV1 set", new Uint8Array([0xc1, 0x80, 0, 0, 0, 0])],
    ["RSV3 set", new Uint8Array([0x91, 0x80, 0, 0, 0, 0])],
    ["opcode 3", new Uint8Array([0x83, 0x80, 0, 0, 0, 0])],
    ["opcode 11", new Uint8Array([0x8b, 0x80, 0, 0, 0, 0])],
    ["unmasked from a client", encodeFrame(OPCODE.text, text("hi"))],
    ["masked from a server", encodeFrame(OPCODE.text, text("hi"), masked), { expectMasked: false }],
    ["fragmented ping", encodeFrame(OPCODE.ping, text("p"), { fin: false, mask: true })],
    ["ping of 126 bytes", encodeFrame(OPCODE.ping, new Uint8Array(126), masked)],
    ["close of 1 byte", encodeFrame(OPCODE.close, new Uint8Array([3]), masked)],
    ["close code 1005", encodeFrame(OPCODE.close, new Uint8Array([3, 0xed]), masked)],
    ["lone continuation", encodeFrame(OPCODE.continuation, text("x"), masked)],
    [
      "text inside a fragmented message",
      join([
        encodeFrame(OPCODE.text, text("a"), { fin: false, mask: true }),
        encodeFrame(OPCODE.text, text("b"), masked),
      ]),
    ],
    [
      "64-bit length, top bit set",
      new Uint8Array([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]),
    ],
  ];
  for (const [what, bytes, options] of violations) {
    assert.equal(await closeCodeOf(bytes, options), 1002, what);
  }
});

Deno.test("text that is not UTF-8 closes with 1007, whole or fragmented, and so does a close reason", async () => {
  assert.equal(
    await closeCodeOf(encodeFrame(OPCODE.text, new Uint8Array([0xff]), { mask: true })),
    1007,
  );
  assert.equal(
    await closeCodeOf(encodeFrame(OPCODE.text, text("€").subarray(0, 2), { mask: true })),
    1007,
  );
  const fragmented = join([
    encodeFrame(OPCODE.text, text("ok"), { fin: false, mask: true }),
    encodeFrame(OPCODE.continuation, new Uint8Array([0xc0, 0x80]), { mask: true }),
  ]);
  assert.equal(await closeCodeOf(fragmented), 1007);
  const reason = encodeFrame(OPCODE.close, new Uint8Array([3, 0xe8, 0xff]), { mask: true });
  assert.equal(await closeCodeOf(reason), 1007);
  // Binary is not text: any bytes.
  const { error } = await readAll(scripted(encodeFrame(OPCODE.binary, new Uint8Array([0xff]))));
  assert.equal(error, undefined);
});

Deno.test("a message over the bound closes with 1009 from its header, before its payload is read", async () => {
  const options = { maxMessageBytes: 1000, expectMasked: true };
  // Only the header is there: had the reader waited for the payload, the end would be 1006.
  const header = encodeFrame(OPCODE.binary, new Uint8Array(1001), { mask: true }).subarray(0, 8);
  assert.equal(await closeCodeOf(header, options), 1009);
  const huge = new Uint8Array([
    0x82,
    0xff,
    0x7f,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    1,
    2,
    3,
    4,
  ]);
  assert.equal(await closeCodeOf(huge, {}), 1009, "2^63 - 1 bytes against the default 16 MiB");
  const fragments = join([
    encodeFrame(OPCODE.binary, new Uint8Array(600), { fin: false, mask: true }),
    encodeFrame(OPCODE.ping, new Uint8Array(125), { mask: true }),
    encodeFrame(OPCODE.continuation, new Uint8Array(401), { mask: true }).subarray(0, 8),
  ]);
  assert.equal(await closeCodeOf(fragments, options), 1009, "600 + 401 over fragments");
  const exactly = join([
    encodeFrame(OPCODE.binary, new Uint8Array(600), { fin: false, mask: true }),
    encodeFrame(OPCODE.continuation, new Uint8Array(400), { mask: true }),
    encodeFrame(OPCODE.binary, new Uint8Array(1000), { mask: true }),
  ]);
  const { messages, error } = await readAll(scripted(exactly), options);
  assert.equal(error, undefined);
  assert.deepEqual(messages.map((m) => m.data.length), [1000, 1000]);
});

Deno.test("the end between messages is null; inside a frame or a fragmented message it is 1006", async () => {
  const reader = new FrameReader(scripted(new Uint8Array()));
  assert.equal(await reader.readMessage(), null);
  const frame = encodeFrame(OPCODE.binary, new Uint8Array(300), { mask: true });
  for (const cut of [1, 2, 3, 5, 8, 9, 200, frame.length - 1]) {
    assert.equal(await closeCodeOf(frame.subarray(0, cut)), 1006, `cut at ${cut}`);
  }
  const unfinished = encodeFrame(OPCODE.text, text("half"), { fin: false, mask: true });
  assert.equal(await closeCodeOf(unfinished), 1006);
});

Deno.test("progress counts every byte read, the payload read straight into its array too", async () => {
  const wire = join([
    encodeFrame(OPCODE.ping, new Uint8Array(), { mask: true }),
    encodeFrame(OPCODE.binary, new Uint8Array(100_000), { mask: true }),
  ]);
  const progress = { bytes: 0 };
  const source = scripted(wire, [4096]);
  const { messages } = await readAll(source, { expectMasked: true, progress });
  assert.equal(messages.length, 2);
  assert.equal(progress.bytes, wire.length);
  assert.ok(source.reads < 40, `${source.reads} reads`);
});

// --- Properties (fast-check) ---

/** A message as a peer sends it, and how: fragment sizes, control frames between fragments. */
const dataMessage = fc.record({
  opcode: fc.constantFrom(OPCODE.text, OPCODE.binary),
  text: fc.string({ unit: "grapheme", maxLength: 60 }),
  bytes: fc.uint8Array({ maxLength: 300 }),
  cuts: fc.array(fc.nat(400), { maxLength: 4 }),
  between: fc.array(
    fc.record({
      opcode: fc.constantFrom(OPCODE.ping, OPCODE.pong),
      data: fc.uint8Array({ maxLength: 125 }),
    }),
    { maxLength: 3 },
  ),
});
const controlMessage = fc.record({
  opcode: fc.constantFrom(OPCODE.ping, OPCODE.pong),
  data: fc.uint8Array({ maxLength: 125 }),
});
type DataMessage = typeof dataMessage extends fc.Arbitrary<infer T> ? T : never;

/** The frames of `message` (its payload cut at `cuts`, a control frame after each of the first fragments). */
function framesOf(message: DataMessage, mask: boolean): { wire: Uint8Array[]; read: Message[] } {
  const payload = message.opcode === OPCODE.text ? text(message.text) : message.bytes;
  const cuts = [...new Set(message.cuts.map((cut) => cut % (payload.length + 1)))].sort((a, b) =>
    a - b
  );
  const bounds = [0, ...cuts, payload.length];
  const pieces = bounds.slice(1).map((end, i) => payload.subarray(bounds[i], end));
  const wire: Uint8Array[] = [];
  const read: Message[] = [];
  pieces.forEach((piece, i) => {
    const fin = i === pieces.length - 1;
    wire.push(encodeFrame(i === 0 ? message.opcode : OPCODE.continuation, piece, { fin, mask }));
    const control = message.between[i];
    if (!fin && control) {
      wire.push(encodeFrame(control.opcode, control.data, { mask }));
      read.push({ opcode: control.opcode, data: control.data });
    }
  });
  read.push({ opcode: message.opcode, data: payload });
  return { wire, read };
}

Deno.test("property: messages encoded in any fragmentation, masking and read sizes read back as sent", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof(dataMessage, controlMessage), { maxLength: 8 }),
      fc.boolean(),
      fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 5 }),
      fc.nat(2000),
      async (sent, mask, sizes, pendingBytes) => {
        const wire: Uint8Array[] = [];
        const expected: Message[] = [];
        for (const message of sent) {
          if ("cuts" in message) {
            const frames = framesOf(message, mask);
            wire.push(...frames.wire);
            expected.push(...frames.read);
          } else {
            wire.push(encodeFrame(message.opcode, message.data, { mask }));
            expected.push({ opcode: message.opcode, data: message.data });
          }
        }
        wire.push(encodeFrame(OPCODE.close, encodeClose(1000), { mask }));
        expected.push({
          opcode: OPCODE.close,
          data: encodeClose(1000),
          close: { code: 1000, reason: "" },
        });
        const bytes = join(wire);
        const split = Math.min(pendingBytes, bytes.length);
        const { messages, error } = await readAll(scripted(bytes.subarray(split), sizes), {
          pending: bytes.slice(0, split),
          expectMasked: mask,
        });
        assert.equal(error, undefined);
        assert.deepEqual(messages, expected);
      },
    ),
    { numRuns: 2000 },
  );
});

/** A valid stream (as the property above writes) with bytes replaced, inserted, removed or cut. */
const mutatedStream = mutated(
  fc.tuple(fc.array(dataMessage, { minLength: 1, maxLength: 3 }), fc.boolean()).map((
    [messages, mask],
  ) => join(messages.flatMap((message) => framesOf(message, mask).wire))),
  { minEdits: 1 },
);

Deno.test("property: random and mutated streams give messages, then the end or a WebSocketProtocolError", async () => {
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(mutatedStream, fc.uint8Array({ maxLength: 400 })),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 4 }),
      fc.option(fc.boolean()),
      fc.option(fc.integer({ min: 0, max: 500 })),
      async (bytes, sizes, expectMasked, maxMessageBytes) => {
        const options = {
          expectMasked: expectMasked ?? undefined,
          maxMessageBytes: maxMessageBytes ?? undefined,
        };
        const { messages, error } = await readAll(scripted(bytes, sizes), options);
        if (error) {
          refused++;
          assert.ok([1002, 1006, 1007, 1009].includes(error.closeCode), `${error.closeCode}`);
        }
        for (const message of messages) {
          assert.ok([1, 2, 8, 9, 10].includes(message.opcode));
          if (message.opcode >= 8) assert.ok(message.data.length <= 125);
          if (message.opcode <= 2) assert.ok(message.data.length <= (maxMessageBytes ?? 1 << 24));
          if (message.opcode === OPCODE.text) {
            new TextDecoder("utf-8", { fatal: true }).decode(message.data);
          }
        }
      },
    ),
    { numRuns: 10_000 },
  );
  assert.ok(refused > 1000, `${refused} streams refused`);
});
