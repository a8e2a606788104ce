import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fc from "fast-check";
import { concat, pattern, readExactly, withTimeout } from "../../cli/test_util.ts";
import {
  HTTP_TEST_INSTANCE,
  rawExchange,
  readResponses,
  ResponseStream,
  withHttpServer,
} from "../../cli/test_util_http.ts";
import { rawWebSocket } from "../../cli/test_util_ws.ts";
import { encodeProxyHeader, proxyHeaderStep } from "../access/proxy_protocol.ts";
import { closeQuietly, writeAll } from "../io.ts";
import { httpHandler, InstanceNameError } from "./handler.ts";
import { encodeFrame, OPCODE } from "./websocket.ts";

const GET = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: test\r\n${extra}\r\n`;
const json = (text: string) => JSON.parse(text);

Deno.test("pipelined requests in one write get their replies in order on one connection", async () => {
  await withHttpServer({}, async ({ port, served }) => {
    const replies = await rawExchange(port, GET("/a?x=1") + GET("/b", "X-A: 1\r\nx-a: 2\r\n"), 2);
    assert.deepEqual(replies.map((reply) => reply.status), [200, 200]);
    const [first, second] = replies.map((reply) => json(reply.text));
    assert.equal(first.path, "/a");
    assert.equal(first.query, "x=1");
    assert.deepEqual(second.headers, [["Host", "test"], ["X-A", "1"], ["x-a", "2"]]);
    assert.deepEqual([first.connection, second.connection], [{ id: 1, request: 1 }, {
      id: 1,
      request: 2,
    }]);
    assert.equal(replies[1].header("x-echo-request"), "2");
    assert.equal(replies[1].header("x-echo-instance"), HTTP_TEST_INSTANCE);
    assert.equal(replies[0].header("content-type"), "application/json");
    assert.equal(served.length, 2);
  });
});

Deno.test("the description names peer, protocol, method and the body's digest and data", async () => {
  await withHttpServer({ maxEchoBodyBytes: 8 }, async ({ port }) => {
    const post = (body: Uint8Array, path = "/p") =>
      concat([
        new TextEncoder().encode(
          `POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\n\r\n`,
        ),
        body,
      ]);
    const [text, binary, long] = (await rawExchange(
      port,
      concat([
        post(new TextEncoder().encode("héllo")),
        post(new Uint8Array([0xff, 0])),
        post(pattern(20)),
      ]),
      3,
    )).map((reply) => json(reply.text));
    assert.equal(text.protocol, "HTTP/1.1");
    assert.equal(text.method, "POST");
    assert.equal(text.peer.address, "127.0.0.1");
    assert.equal(typeof text.peer.port, "number");
    assert.equal(text.client, undefined);
    assert.equal(text.headersMerged, false);
    assert.deepEqual(text.body, {
      bytes: 6,
      sha256: createHash("sha256").update("héllo").digest("hex"),
      encoding: "utf-8",
      data: "héllo",
    });
    assert.deepEqual(binary.body.encoding, "base64");
    assert.deepEqual(binary.body.data, "/wA=");
    assert.deepEqual(long.body, {
      bytes: 20,
      sha256: createHash("sha256").update(pattern(20)).digest("hex"),
      truncated: true,
    });
  });
});

Deno.test("format: text lines, raw body back with its type, and a 400 for an unknown one", async () => {
  await withHttpServer({}, async ({ port }) => {
    const [text] = await rawExchange(port, GET("/t", "Accept: text/plain\r\n"), 1);
    assert.match(text.text, /^instance: {3}http-test-1\nprotocol: {3}HTTP\/1\.1\nmethod: {5}GET\n/);
    assert.match(text.text, /\nheaders:\n {2}Host: test\n {2}Accept: text\/plain\n$/);
    const body = "raw body\r\n\x00";
    const [raw] = await rawExchange(
      port,
      `PUT /r?format=raw HTTP/1.1\r\nHost: t\r\nContent-Type: x/y\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      1,
    );
    assert.equal(raw.text, body);
    assert.equal(raw.header("content-type"), "x/y");
    assert.equal(raw.header("x-echo-method"), "PUT");
    assert.equal(raw.header("x-echo-path"), "/r");
    assert.match(raw.header("x-echo-peer")!, /^127\.0\.0\.1:\d+$/);
    const [bad] = await rawExchange(port, GET("/?format=xml"));
    assert.equal(bad.status, 400);
    assert.equal(bad.text, "bad parameter format: expected json, text or raw\n");
  });
});

Deno.test("the raw echo streams: the first part comes back before the rest is sent", async () => {
  await withHttpServer({}, async ({ port }) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      const body = pattern(1 << 20);
      await writeAll(
        conn,
        new TextEncoder().encode(
          `POST /s?format=raw HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\n\r\n`,
        ),
      );
      await writeAll(conn, body.subarray(0, 1000));
      const stream = new TextDecoder();
      let seen = "";
      while (!seen.includes("\r\n\r\n")) {
        seen += stream.decode(await readExactly(conn, 1), { stream: true });
      }
      assert.match(seen, /^HTTP\/1\.1 200 OK\r\n.*Content-Length: 1048576\r\n/s);
      assert.deepEqual(await readExactly(conn, 1000), body.subarray(0, 1000));
      const [, rest] = await Promise.all([
        writeAll(conn, body.subarray(1000)),
        readExactly(conn, body.length - 1000),
      ]);
      assert.deepEqual(rest, body.subarray(1000));
    } finally {
      conn.close();
    }
  });
});

Deno.test("a chunked body comes back chunked in raw, close-delimited to HTTP/1.0", async () => {
  await withHttpServer({}, async ({ port }) => {
    const chunked = "Transfer-Encoding: chunked\r\nAccept: application/octet-stream\r\n\r\n" +
      "3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nTrailer: 1\r\n\r\n";
    const [reply, after] = await rawExchange(
      port,
      `POST / HTTP/1.1\r\nHost: t\r\n${chunked}` + GET("/next"),
      2,
    );
    assert.equal(reply.header("transfer-encoding"), "chunked");
    assert.equal(reply.text, "abcdefg");
    assert.equal(json(after.text).path, "/next", "the connection goes on after a chunked body");
    const old = await rawExchange(port, `POST / HTTP/1.0\r\n${chunked}`);
    assert.equal(old.length, 1);
    assert.equal(old[0].header("connection"), "close");
    assert.equal(old[0].header("content-length"), undefined);
    assert.equal(old[0].text, "abcdefg");
  });
});

Deno.test("HTTP/1.0 closes after its reply unless it asked for keep-alive", async () => {
  await withHttpServer({}, async ({ port }) => {
    const closed = await rawExchange(port, "GET /1 HTTP/1.0\r\n\r\n" + "GET /2 HTTP/1.0\r\n\r\n");
    assert.equal(closed.length, 1);
    assert.equal(closed[0].header("connection"), "close");
    const kept = await rawExchange(
      port,
      "GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".repeat(2),
      2,
    );
    assert.equal(kept[0].header("connection"), "keep-alive");
    assert.equal(json(kept[1].text).protocol, "HTTP/1.0");
    const last = await rawExchange(port, GET("/x", "Connection: close\r\n") + GET("/y"));
    assert.equal(last.length, 1, "Connection: close ends the connection after the reply");
  });
});

Deno.test("Expect: 100-continue is answered before the client sends its body", async () => {
  await withHttpServer({}, async ({ port }) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await writeAll(
        conn,
        new TextEncoder().encode(
          "POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        ),
      );
      const continued = "HTTP/1.1 100 Continue\r\n\r\n";
      assert.equal(new TextDecoder().decode(await readExactly(conn, continued.length)), continued);
      await writeAll(conn, new TextEncoder().encode("hello"));
      const [reply] = await readResponses(conn, 1);
      assert.equal(json(reply.text).body.data, "hello");
    } finally {
      conn.close();
    }
  });
});

Deno.test("HEAD gets the head a GET would, with its length and no body", async () => {
  await withHttpServer({}, async ({ port }) => {
    const [get] = await rawExchange(port, GET("/h"), 1);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await writeAll(
        conn,
        new TextEncoder().encode(`HEAD /h HTTP/1.1\r\nHost: test\r\n\r\n` + GET("/after")),
      );
      const stream = new ResponseStream(conn);
      const head = await stream.next(true);
      assert.equal(head?.status, 200);
      // The description it would carry names HEAD, one letter longer than GET.
      assert.equal(Number(head.header("content-length")), Number(get.header("content-length")) + 1);
      // No body came: the next bytes are the next reply's head.
      const after = await stream.next();
      assert.equal(json(after!.text).path, "/after");
    } finally {
      conn.close();
    }
  });
});

Deno.test("malformed requests: the status, a one-line reason, Connection: close, one callback", async () => {
  const cases: [string, number, string][] = [
    [
      "GET / HTTP/1.1\r\nHost: a\r\nBad header\r\n\r\n",
      400,
      "bad request: header line without a colon\n",
    ],
    ["\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, ""],
    [`GET / HTTP/1.1\r\nHost: a\r\nX: ${"v".repeat(70_000)}\r\n\r\n`, 431, ""],
    ["POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, ""],
    ["GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505, ""],
    ["POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n", 413, ""],
    [
      GET("/", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"),
      426,
      "",
    ],
  ];
  await withHttpServer({ maxBodyBytes: 10 }, async ({ port, refused }) => {
    for (const [request, status, body] of cases) {
      const replies = await rawExchange(port, request + GET("/never"));
      assert.equal(replies.length, 1, JSON.stringify(request.slice(0, 30)));
      const [reply] = replies;
      assert.equal(reply.status, status, JSON.stringify(request.slice(0, 30)));
      assert.equal(reply.header("connection"), "close");
      assert.match(reply.text, /^[a-z0-9 ]+: [^\n]+\n$/);
      if (body) assert.equal(reply.text, body);
      assert.equal(reply.header("x-echo-instance"), HTTP_TEST_INSTANCE);
    }
    assert.deepEqual(refused.map((error) => error.status), cases.map(([, status]) => status));
    const [upgrade] = await rawExchange(port, cases[6][0]);
    assert.equal(upgrade.header("sec-websocket-version"), "13");
  });
});

Deno.test("/healthz and /readyz; draining: 503, and every reply closes its connection", async () => {
  let draining = false;
  await withHttpServer({ isDraining: () => draining }, async ({ port }) => {
    const before = await rawExchange(port, GET("/healthz") + GET("/readyz"), 2);
    assert.deepEqual(before.map((reply) => [reply.status, reply.text]), [[200, "ok\n"], [
      200,
      "ready\n",
    ]]);
    draining = true;
    const after = await rawExchange(port, GET("/readyz") + GET("/healthz"));
    assert.equal(after.length, 1, "draining closes after the reply");
    assert.deepEqual([after[0].status, after[0].text], [503, "draining\n"]);
    assert.equal(after[0].header("connection"), "close");
    const [echo] = await rawExchange(port, GET("/work"));
    assert.equal(echo.status, 200);
    assert.equal(echo.header("connection"), "close");
  });
});

Deno.test("behind --proxy-protocol the description names the client and the balancer", async () => {
  const prepare = proxyHeaderStep({});
  await withHttpServer({ serve: { prepare } }, async ({ port }) => {
    const header = encodeProxyHeader(2, { hostname: "203.0.113.9", port: 4000 }, {
      hostname: "10.0.0.1",
      port: 80,
    });
    const [reply] = await rawExchange(
      port,
      concat([header, new TextEncoder().encode(GET("/p"))]),
      1,
    );
    const description = json(reply.text);
    assert.deepEqual(description.client, { address: "203.0.113.9", port: 4000 });
    assert.equal(description.peer.address, "127.0.0.1");
    const [raw] = await rawExchange(
      port,
      concat([header, new TextEncoder().encode(GET("/p?format=raw"))]),
      1,
    );
    assert.equal(raw.header("x-echo-client"), "203.0.113.9:4000");
  });
});

Deno.test("shaping: status, headers and a size pattern; reset cuts the reply after N bytes", async () => {
  await withHttpServer({}, async ({ port, served }) => {
    const [shaped] = await rawExchange(port, GET("/?status=503&header=X-A:1&size=30"), 1);
    assert.equal(shaped.status, 503);
    assert.equal(shaped.header("x-a"), "1");
    assert.equal(shaped.text, "abcdefghijklmnopqrstuvwxyzabcd");
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const cut = await (async () => {
      try {
        await writeAll(conn, new TextEncoder().encode(GET("/?size=100000&reset=100")));
        const chunks: Uint8Array[] = [];
        const buffer = new Uint8Array(65536);
        for (let n; (n = await conn.read(buffer).catch(() => null)) !== null;) {
          chunks.push(buffer.slice(0, n));
        }
        return concat(chunks);
      } finally {
        closeQuietly(conn);
      }
    })();
    assert.equal(cut.length, 100);
    assert.match(new TextDecoder().decode(cut), /^HTTP\/1\.1 200 OK\r\n/);
    const [afterHeaders] = await rawExchange(port, GET("/?close=after-headers")).catch(
      (error) => [error],
    );
    assert.match(String(afterHeaders), /closed after 0 of \d+ body bytes/);
    const [bad] = await rawExchange(port, GET("/", "X-Echo-Delay: 20s\r\n"));
    assert.equal(bad.status, 400);
    assert.equal(bad.text, "bad parameter delay: 20s is above --max-delay 10s\n");
    assert.ok(served.length >= 3);
  });
});

Deno.test("a shaped delay ends at once when the server closes the connection under it", async () => {
  await withHttpServer({}, async ({ port, server }) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await writeAll(conn, new TextEncoder().encode(GET("/?delay=9s")));
      const started = performance.now();
      while (server.activeConnections === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      await withTimeout(server.shutdown({ graceMs: 0 }), 3000, "shutdown under a delay");
      assert.ok(performance.now() - started < 3000);
    } finally {
      conn.close();
    }
  });
});

Deno.test("a WebSocket upgrade gets the 101 with X-Echo-Instance, then its frames echoed", async () => {
  await withHttpServer({}, async ({ port, served }) => {
    const conn = await rawWebSocket(port);
    try {
      const frame = encodeFrame(OPCODE.text, new TextEncoder().encode("hi"), { mask: true });
      await writeAll(conn, frame);
      const echo = await readExactly(conn, 4);
      assert.deepEqual([...echo], [0x81, 2, 0x68, 0x69]);
    } finally {
      conn.close();
    }
    await withTimeout(
      (async () => {
        while (served.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      })(),
      5000,
      "the upgrade reported",
    );
    assert.equal(served[0].status, 101);
  });
});

Deno.test("an instance name no header can carry is refused", () => {
  for (const instance of ["", "two words", "tab\t", "é"]) {
    assert.throws(() => httpHandler({ instance }), InstanceNameError);
  }
});

Deno.test("property: any bytes on a connection get replies or a refusal, never a crash", async () => {
  const valid = GET("/ok");
  const input = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.array(
      fc.constantFrom(
        "GET / HTTP/1.1\r\n",
        "Host: a\r\n",
        "Content-Length: 3\r\n",
        "Transfer-Encoding: chunked\r\n",
        "\r\n",
        "3\r\nabc\r\n",
        "0\r\n\r\n",
        "Expect: 100-continue\r\n",
        "Upgrade: websocket\r\n",
        "POST /?status=201&delay=1ms HTTP/1.0\r\n",
        "?format=raw",
        "\x00\xff",
      ),
      { maxLength: 12 },
    ).map((parts) => new TextEncoder().encode(parts.join(""))),
  );
  await withHttpServer({}, async ({ port, closed }) => {
    await fc.assert(
      fc.asyncProperty(input, async (bytes) => {
        const replies = await rawExchange(port, bytes, Infinity, { halfClose: true, ms: 10_000 })
          .catch((error) => {
            // A reply cut by the peer's half-close is fine; a hang is not.
            if (/closed (inside|after)/.test(String(error))) return [];
            throw error;
          });
        for (const reply of replies) assert.ok(reply.status >= 100 && reply.status < 600);
      }),
      { numRuns: 300 },
    );
    const [after] = await rawExchange(port, valid, 1);
    assert.equal(after.status, 200, "the server still serves");
    const failures = closed.filter((summary) => summary.reason === "error");
    assert.deepEqual(failures.map((summary) => String(summary.error)), []);
  });
});
