/**
 * The WebSocket echo (ws_echo.ts): the 101 response, then what a client
 * sees on the wire for each thing it sends (messages, fragments, pings, its
 * close, frames that break the protocol, a half-close, a reset), and real
 * clients against it: Python's `websockets` (Debian's /usr/bin/python3; the
 * tests are ignored, with the reason, where it is missing) and Deno's own
 * `WebSocket`.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { concat, readToEnd, WAIT_MS, withTimeout } from "../../cli/test_util.ts";
import { canRun, needs, skipped } from "../../cli/test_util_process.ts";
import {
  ALL_BYTES,
  rawWebSocket,
  TEST_INSTANCE,
  text,
  withWsEchoServer,
} from "../../cli/test_util_ws.ts";
import { writeAll } from "../io.ts";
import {
  encodeClose,
  encodeFrame,
  OPCODE,
  parseClose,
  WebSocketHandshakeError,
} from "./websocket.ts";
import { CLOSE_LINGER_MS, upgradeResponse } from "./ws_echo.ts";
import { FrameReader, type Message } from "./ws_reader.ts";

/** Reads what the server sends back as a client reads it (frames unmasked). */
const serverFrames = (conn: Deno.Conn) => new FrameReader(conn, { expectMasked: false });

/** Every message the server sends until it ends the connection. */
async function messagesUntilEnd(conn: Deno.Conn): Promise<Message[]> {
  const reader = serverFrames(conn);
  const messages: Message[] = [];
  const reading = (async () => {
    for (let message; (message = await reader.readMessage()) !== null;) messages.push(message);
  })();
  await withTimeout(reading, WAIT_MS, "the server to end the connection");
  return messages;
}

Deno.test("upgradeResponse: the 101 with the accept key, then the extra headers in order", async () => {
  const head = new TextDecoder().decode(
    await upgradeResponse("dGhlIHNhbXBsZSBub25jZQ==", [["X-Echo-Instance", "web-1"], ["X-A", "2"]]),
  );
  assert.equal(
    head,
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Echo-Instance: web-1\r\nX-A: 2\r\n\r\n",
  );
  await assert.rejects(upgradeResponse("short"), WebSocketHandshakeError);
  await assert.rejects(upgradeResponse("dGhlIHNhbXBsZSBub25jZQ==", { "X-A": "1\r\n" }), TypeError);
});

Deno.test("echoWebSocket echoes text and binary exactly, unmasked, a fragmented message whole, and pongs each ping", async () => {
  const seen: [number, number][] = [];
  const progress = { bytes: 0 };
  const onMessage = (opcode: number, bytes: Uint8Array) => seen.push([opcode, bytes.length]);
  await withWsEchoServer({ onMessage, progress }, async (server) => {
    const conn = await rawWebSocket(server.port);
    const sent = [
      encodeFrame(OPCODE.text, text("Hello"), { mask: true }),
      encodeFrame(OPCODE.binary, ALL_BYTES, { mask: true }),
      encodeFrame(OPCODE.ping, text("are you there"), { mask: true }),
      encodeFrame(OPCODE.text, text("frag"), { fin: false, mask: true }),
      encodeFrame(OPCODE.ping, new Uint8Array(), { mask: true }),
      encodeFrame(OPCODE.continuation, text("mented"), { mask: true }),
      encodeFrame(OPCODE.binary, new Uint8Array(), { mask: true }),
      encodeFrame(OPCODE.close, encodeClose(4001, "bye"), { mask: true }),
    ];
    await writeAll(conn, concat(sent));
    const wire = await readToEnd(conn);
    conn.close();
    assert.deepEqual(
      wire,
      concat([
        encodeFrame(OPCODE.text, text("Hello")),
        encodeFrame(OPCODE.binary, ALL_BYTES),
        encodeFrame(OPCODE.pong, text("are you there")),
        encodeFrame(OPCODE.pong, new Uint8Array()),
        encodeFrame(OPCODE.text, text("fragmented")),
        encodeFrame(OPCODE.binary, new Uint8Array()),
        encodeFrame(OPCODE.close, encodeClose(4001, "bye")),
      ]),
    );
    const result = await server.result(0);
    assert.deepEqual(result, { messages: 4, bytes: 5 + 256 + 10, closeCode: 4001 });
    assert.deepEqual(seen, [[1, 5], [2, 256], [1, 10], [2, 0]]);
    assert.equal(progress.bytes, concat(sent).length);
  });
});

Deno.test("echoWebSocket reads frames that came with the request head first", async () => {
  await withWsEchoServer({}, async (server) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const request = "GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    await writeAll(
      conn,
      concat([
        text(request),
        encodeFrame(OPCODE.text, text("early"), { mask: true }),
        encodeFrame(OPCODE.close, encodeClose(1000), { mask: true }),
      ]),
    );
    const wire = await readToEnd(conn);
    conn.close();
    const echo = concat([
      encodeFrame(OPCODE.text, text("early")),
      encodeFrame(OPCODE.close, encodeClose(1000)),
    ]);
    const head = new TextDecoder().decode(wire.subarray(0, wire.length - echo.length));
    assert.match(
      head,
      new RegExp(`^HTTP/1\\.1 101 .*\r\nX-Echo-Instance: ${TEST_INSTANCE}\r\n\r\n$`, "s"),
    );
    assert.deepEqual(wire.subarray(head.length), echo);
    assert.equal((await server.result(0)).closeCode, 1000);
  });
});

Deno.test("a close without a code is echoed without one (1005)", async () => {
  await withWsEchoServer({}, async (server) => {
    const conn = await rawWebSocket(server.port);
    await writeAll(conn, encodeFrame(OPCODE.close, new Uint8Array(), { mask: true }));
    assert.deepEqual(await readToEnd(conn), encodeFrame(OPCODE.close, new Uint8Array()));
    conn.close();
    assert.equal((await server.result(0)).closeCode, 1005);
  });
});

/** What the server closes with after `frames`, as the client reads it, and the server's result code. */
async function serverCloseAfter(frames: Uint8Array, maxMessageBytes?: number) {
  let codes: { sent: number; reason: string; result?: number } | undefined;
  await withWsEchoServer({ maxMessageBytes }, async (server) => {
    const conn = await rawWebSocket(server.port);
    // Written alongside the read: the server may close before it has read all of it.
    const writing = writeAll(conn, frames).catch(() => {});
    const messages = await messagesUntilEnd(conn);
    await writing;
    conn.close();
    const close = messages.at(-1);
    assert.equal(close?.opcode, OPCODE.close, JSON.stringify(messages));
    const { code, reason } = parseClose(close.data);
    codes = { sent: code, reason, result: (await server.result(0)).closeCode };
  });
  return codes!;
}

Deno.test("an unmasked client frame is closed with 1002", async () => {
  const closed = await serverCloseAfter(encodeFrame(OPCODE.text, text("bare")));
  assert.deepEqual(closed, { sent: 1002, reason: "unmasked frame from a client", result: 1002 });
});

Deno.test("text that is not UTF-8 is closed with 1007, after the messages before it are echoed", async () => {
  const frames = concat([
    encodeFrame(OPCODE.text, text("fine"), { mask: true }),
    encodeFrame(OPCODE.text, new Uint8Array([0x66, 0xff]), { mask: true }),
  ]);
  let echoed: Message[] = [];
  await withWsEchoServer({}, async (server) => {
    const conn = await rawWebSocket(server.port);
    await writeAll(conn, frames);
    echoed = await messagesUntilEnd(conn);
    conn.close();
    assert.equal((await server.result(0)).closeCode, 1007);
  });
  assert.deepEqual(echoed.map((m) => m.opcode), [OPCODE.text, OPCODE.close]);
  assert.deepEqual(echoed[0].data, text("fine"));
  assert.equal(parseClose(echoed[1].data).code, 1007);
});

Deno.test("a message over maxMessageBytes is closed with 1009, and the rest the client sends is read, not reset", async () => {
  const big = encodeFrame(OPCODE.binary, new Uint8Array(4 << 20), { mask: true });
  const progress = { bytes: 0 };
  await withWsEchoServer({ maxMessageBytes: 1000, progress }, async (server) => {
    const conn = await rawWebSocket(server.port);
    // Written alongside the read: the server closes long before it has read it all.
    const writing = writeAll(conn, big);
    const messages = await messagesUntilEnd(conn);
    await writing; // no EPIPE or reset: the server read on after its close frame
    await conn.closeWrite();
    assert.deepEqual(messages.map((m) => m.opcode), [OPCODE.close]);
    assert.deepEqual(parseClose(messages[0].data), {
      code: 1009,
      reason: `message over 1000 bytes (${4 << 20} so far)`,
    });
    assert.equal((await server.result(0)).closeCode, 1009);
    conn.close();
  });
  assert.equal(progress.bytes, big.length);
});

Deno.test("after its close frame the server waits for the client's end at most CLOSE_LINGER_MS", async () => {
  await withWsEchoServer({}, async (server) => {
    const conn = await rawWebSocket(server.port);
    await writeAll(conn, encodeFrame(OPCODE.close, encodeClose(1000), { mask: true }));
    // The client never ends its side; the server ends the connection anyway.
    assert.deepEqual(await readToEnd(conn), encodeFrame(OPCODE.close, encodeClose(1000)));
    const started = performance.now();
    assert.equal((await server.result(0)).closeCode, 1000);
    assert.ok(performance.now() - started < CLOSE_LINGER_MS + 1000);
    conn.close();
  });
});

Deno.test("a half-close gets every echo, then the end (1006: no close frame)", async () => {
  await withWsEchoServer({}, async (server) => {
    const conn = await rawWebSocket(server.port);
    const sent = ["one", "two", "three"].map((word) =>
      encodeFrame(OPCODE.text, text(word), { mask: true })
    );
    await writeAll(conn, concat(sent));
    await conn.closeWrite();
    const messages = await messagesUntilEnd(conn);
    conn.close();
    assert.deepEqual(messages.map((m) => new TextDecoder().decode(m.data)), [
      "one",
      "two",
      "three",
    ]);
    assert.deepEqual(await server.result(0), { messages: 3, bytes: 11, closeCode: 1006 });
  });
});

Deno.test("a client that resets ends the echo quietly (1006), whatever it had sent", async () => {
  await withWsEchoServer({}, async (server) => {
    const socket = net.connect(server.port, "127.0.0.1");
    socket.on("error", () => {});
    const request = "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    socket.write(request);
    // Half a frame, then a reset once the 101 is in: the server must not throw.
    socket.write(encodeFrame(OPCODE.binary, new Uint8Array(1000), { mask: true }).subarray(0, 300));
    await withTimeout(new Promise((resolve) => socket.once("data", resolve)), WAIT_MS, "the 101");
    socket.resetAndDestroy();
    assert.deepEqual(await server.result(0), { messages: 0, bytes: 0, closeCode: 1006 });
  });
});

Deno.test("pingIntervalMs sends pings; none are sent by default", async () => {
  await withWsEchoServer({ pingIntervalMs: 20 }, async (server) => {
    const conn = await rawWebSocket(server.port);
    const reader = serverFrames(conn);
    for (let i = 0; i < 3; i++) {
      const frame = await withTimeout(reader.readFrame(), WAIT_MS, "a ping");
      assert.deepEqual(frame, {
        fin: true,
        opcode: OPCODE.ping,
        masked: false,
        payload: new Uint8Array(),
      });
    }
    conn.close();
  });
  await withWsEchoServer({}, async (server) => {
    const conn = await rawWebSocket(server.port);
    // Nothing to await for an absence: the client stays quiet for 300 ms, then speaks first.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await writeAll(conn, encodeFrame(OPCODE.text, text("first"), { mask: true }));
    const frame = await serverFrames(conn).readFrame();
    assert.equal(frame?.opcode, OPCODE.text, "the echo, not a ping, is the first frame");
    conn.close();
  });
});

// --- Real clients ---

const PYTHON = "/usr/bin/python3";

/** Why the Python interop tests cannot run here, or undefined. */
async function whyNoPython(): Promise<string | undefined> {
  if (!canRun) return "needs --allow-run";
  const probe = await new Deno.Command(PYTHON, {
    args: ["-c", "import websockets"],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => undefined);
  return needs(probe?.success === true, "python3 with websockets (Debian python3-websockets)");
}
const noPython = await whyNoPython();

/** Runs a Python `websockets` client script against `port`; resolves with its JSON output. */
async function python(script: string, port: number): Promise<Record<string, unknown>> {
  const child = new Deno.Command(PYTHON, {
    args: ["-c", script, `ws://127.0.0.1:${port}/py`],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { code, stdout, stderr } = await withTimeout(child.output(), WAIT_MS, "python to exit")
    .catch((error) => {
      child.kill("SIGKILL");
      throw error;
    });
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

const PYTHON_ECHO = `
import asyncio, json, sys, websockets
async def main():
    out = {}
    async with websockets.connect(sys.argv[1], max_size=None, compression=None) as ws:
        out["instance"] = ws.response_headers.get("X-Echo-Instance")
        await ws.send("héllo, wörld")
        out["text"] = await ws.recv()
        await ws.send(bytes(range(256)))
        out["binary"] = list(await ws.recv())
        big = bytes(i * 7 % 251 for i in range(1 << 20))
        await ws.send(big)
        echo = await ws.recv()
        out["big"] = [len(echo), echo == big, isinstance(echo, bytes)]
        pong = await ws.ping(b"ping-data")
        await asyncio.wait_for(pong, 10)
        out["pong"] = True
        await ws.close(code=4001, reason="bye")
        out["close"] = [ws.close_code, ws.close_reason]
    print(json.dumps(out))
asyncio.run(main())
`;

Deno.test({
  name:
    "interop: Python websockets gets text, all 256 byte values, 1 MiB, a pong and its close code back" +
    skipped(noPython),
  ignore: noPython !== undefined,
  async fn() {
    await withWsEchoServer({}, async (server) => {
      const out = await python(PYTHON_ECHO, server.port);
      assert.deepEqual(out, {
        instance: TEST_INSTANCE,
        text: "héllo, wörld",
        binary: [...ALL_BYTES],
        big: [1 << 20, true, true],
        pong: true,
        close: [4001, "bye"],
      });
      assert.deepEqual(await server.result(0), {
        messages: 3,
        bytes: text("héllo, wörld").length + 256 + (1 << 20),
        closeCode: 4001,
      });
    });
  },
});

const PYTHON_TOO_BIG = `
import asyncio, json, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1], compression=None) as ws:
        await ws.send(bytes(2000))
        try:
            await ws.recv()
        except websockets.ConnectionClosedError as closed:
            print(json.dumps({"code": closed.rcvd.code, "reason": closed.rcvd.reason}))
asyncio.run(main())
`;

Deno.test({
  name: "interop: Python websockets sees close 1009 for a message over the bound" +
    skipped(noPython),
  ignore: noPython !== undefined,
  async fn() {
    await withWsEchoServer({ maxMessageBytes: 1000 }, async (server) => {
      const out = await python(PYTHON_TOO_BIG, server.port);
      assert.deepEqual(out, { code: 1009, reason: "message over 1000 bytes (2000 so far)" });
    });
  },
});

Deno.test("interop: Deno's WebSocket client gets its text, binary and close code back", async () => {
  await withWsEchoServer({}, async (server) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/deno`);
    ws.binaryType = "arraybuffer";
    const received: (string | number[])[] = [];
    const closed = new Promise<CloseEvent>((resolve) => ws.onclose = resolve);
    ws.onopen = () => {
      ws.send("hello from Deno");
      ws.send(ALL_BYTES);
    };
    ws.onmessage = (event) => {
      received.push(typeof event.data === "string" ? event.data : [...new Uint8Array(event.data)]);
      if (received.length === 2) ws.close(4002, "done");
    };
    const event = await withTimeout(closed, WAIT_MS, "Deno's WebSocket to close");
    assert.deepEqual(received, ["hello from Deno", [...ALL_BYTES]]);
    assert.deepEqual([event.code, event.reason, event.wasClean], [4002, "done", true]);
    assert.deepEqual(await server.result(0), { messages: 2, bytes: 15 + 256, closeCode: 4002 });
  });
});
