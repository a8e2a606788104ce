/**
 * `request()` over real connections: the exact bytes of a request (each body
 * framing), keep-alive reuse against the raw stub, a large streamed body
 * echoed while it is still being sent, and a third-party server
 * (`Deno.serve`, hyper inside) for chunked requests and its own framing.
 * Parsing of every kind of reply is in client_response_test.ts.
 */
import assert from "node:assert/strict";
import { dialTcp } from "../dial.ts";
import { closeQuietly } from "../io.ts";
import { pattern, readExactly, withFakeServer, withTimeout } from "../../cli/test_util.ts";
import { withHttpStub } from "../../cli/test_util_http_stub.ts";
import { headerValue, request } from "./client.ts";

const text = (value: string) => new TextEncoder().encode(value);
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const connect = (port: number) =>
  dialTcp({ hostname: "127.0.0.1", port }, AbortSignal.timeout(5000));

/** What `request()` wrote for `body` (and `headers`), as the peer read it. */
async function wireBytes(
  body: Uint8Array | ReadableStream<Uint8Array> | undefined,
  method: string,
  headers: [string, string][] = [],
): Promise<string> {
  let seen = "";
  await withFakeServer(async (conn) => {
    const buffer = new Uint8Array(4096);
    for (let n; !complete(seen) && (n = await conn.read(buffer)) !== null;) {
      seen += decode(buffer.subarray(0, n));
    }
    await conn.write(text("HTTP/1.1 204 No Content\r\n\r\n"));
  }, async (port) => {
    const conn = await connect(port);
    try {
      const response = await request(conn, {
        method,
        host: "echo.test",
        path: "/p?q=1",
        headers,
        body,
      });
      assert.equal(response.status, 204);
      assert.equal(await response.sent, undefined);
    } finally {
      conn.close();
    }
  });
  return seen;
}

/** Whether `seen` is a whole request: its head, and its body as the head frames it. */
function complete(seen: string): boolean {
  const end = seen.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const [head, body] = [seen.slice(0, end), seen.slice(end + 4)];
  if (/chunked/i.test(head)) return body.endsWith("0\r\n\r\n");
  return body.length >= Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
}

Deno.test("request writes the request line, Host, the headers and the framing it needs", async () => {
  assert.equal(
    await wireBytes(text("hello"), "POST", [["Accept", "application/octet-stream"]]),
    "POST /p?q=1 HTTP/1.1\r\nHost: echo.test\r\nAccept: application/octet-stream\r\n" +
      "Content-Length: 5\r\n\r\nhello",
  );
  assert.equal(await wireBytes(undefined, "GET"), "GET /p?q=1 HTTP/1.1\r\nHost: echo.test\r\n\r\n");
  assert.equal(
    await wireBytes(undefined, "POST"),
    "POST /p?q=1 HTTP/1.1\r\nHost: echo.test\r\nContent-Length: 0\r\n\r\n",
  );
  const stream = () =>
    ReadableStream.from([text("abc"), new Uint8Array(), text("0123456789abcdefg")]);
  assert.equal(
    await wireBytes(stream(), "PUT"),
    "PUT /p?q=1 HTTP/1.1\r\nHost: echo.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
      "3\r\nabc\r\n11\r\n0123456789abcdefg\r\n0\r\n\r\n",
  );
  assert.equal(
    await wireBytes(stream(), "POST", [["Content-Length", "20"]]),
    "POST /p?q=1 HTTP/1.1\r\nHost: echo.test\r\nContent-Length: 20\r\n\r\nabc0123456789abcdefg",
  );
});

Deno.test("request refuses a method, target or header that would break the request", async () => {
  const conn = { read: () => Promise.resolve(null) } as unknown as Deno.TcpConn;
  for (
    const [req, message] of [
      [{ method: "GE T" }, /invalid HTTP method "GE T"/],
      [{ path: "/a b" }, /invalid request target "\/a b"/],
      [{ headers: [["X-A", "1\r\nX-Evil: 1"]] }, /invalid HTTP header/],
      [{ headers: [["Bad Name", "1"]] }, /invalid HTTP header/],
    ] as const
  ) {
    await assert.rejects(request(conn, { host: "h", ...req } as never), message);
  }
});

Deno.test("one connection carries request after request to the stub, its answers in order", async () => {
  await withHttpStub({ instance: "web-1" }, async (stub) => {
    const conn = await connect(stub.port);
    try {
      for (let n = 1; n <= 3; n++) {
        const body = pattern(n * 1000, n);
        const response = await request(conn, { method: "POST", host: "stub", body });
        assert.deepEqual(await response.body.bytes(), body);
        assert.equal(headerValue(response.headers, "x-echo-instance"), "web-1");
        assert.equal(headerValue(response.headers, "x-echo-request"), String(n));
        assert.equal(response.keepAlive, true);
      }
      assert.equal(stub.connections, 1);
    } finally {
      conn.close();
    }
  });
});

Deno.test("two responses that arrive in one segment are both read, the second kept for its request", async () => {
  const both = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none" +
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n";
  await withFakeServer(async (conn) => {
    await readExactly(conn, 1);
    await conn.write(text(both));
    await new Response(conn.readable).arrayBuffer();
  }, async (port) => {
    const conn = await connect(port);
    try {
      const first = await request(conn, { host: "h" });
      assert.equal(decode(await first.body.bytes()), "one");
      const second = await request(conn, { host: "h" });
      assert.equal(decode(await second.body.bytes()), "two");
    } finally {
      conn.close();
    }
  });
});

Deno.test("a 16 MiB streamed body is echoed back while it is still being written", async () => {
  await withHttpStub({}, async (stub) => {
    const conn = await connect(stub.port);
    try {
      const size = 16 << 20;
      let written = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (written === size) return controller.close();
          const chunk = pattern(64 * 1024, written / 65536);
          written += chunk.length;
          controller.enqueue(chunk);
        },
      });
      const response = await withTimeout(
        request(conn, { method: "POST", host: "stub", body }),
        30_000,
        "the response head",
      );
      // The stub answers as it reads: the head comes long before the last byte is written.
      assert.ok(written < size, `${written} of ${size} written before the head came`);
      let got = 0;
      const buffer = new Uint8Array(100_000);
      for (let n; (n = await response.body.read(buffer)) !== null;) {
        const expected = pattern(64 * 1024, Math.floor(got / 65536)).subarray(got % 65536);
        assert.deepEqual(buffer.subarray(0, Math.min(n, expected.length)), expected.subarray(0, n));
        got += n;
      }
      assert.equal(got, size);
      assert.equal(await response.sent, undefined);
    } finally {
      conn.close();
    }
  });
});

Deno.test("against Deno.serve: chunked and sized requests, its framing, keep-alive, Connection: close", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req, info) => {
      const body = new Uint8Array(await req.arrayBuffer());
      const peer = `${(info.remoteAddr as Deno.NetAddr).port}`;
      // A stream makes hyper answer chunked; bytes get a Content-Length.
      const answer = req.headers.get("x-as") === "stream" ? ReadableStream.from([body]) : body;
      return new Response(answer, { headers: { "X-Peer": peer } });
    },
  );
  try {
    const conn = await connect(server.addr.port);
    try {
      const peers = new Set<string>();
      for (const as of ["stream", "bytes"]) {
        for (const body of [text("sized"), ReadableStream.from([text("chun"), text("ked")])]) {
          const response = await request(conn, {
            method: "POST",
            host: "deno",
            headers: [["X-As", as]],
            body,
          });
          const expected = body instanceof Uint8Array ? "sized" : "chunked";
          assert.equal(decode(await response.body.bytes()), expected);
          const framing = headerValue(response.headers, "transfer-encoding") ?? "length";
          assert.equal(framing, as === "stream" ? "chunked" : "length");
          peers.add(headerValue(response.headers, "x-peer")!);
        }
      }
      assert.deepEqual([...peers], [String(conn.localAddr.port)], "one connection for all four");
      const last = await request(conn, { host: "deno", headers: [["Connection", "close"]] });
      await last.body.bytes();
      assert.equal(last.keepAlive, false);
    } finally {
      conn.close();
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("a response before the request body is read keeps the write's error for sent", async () => {
  await withFakeServer(async (conn) => {
    await readExactly(conn, 10);
    await conn.write(
      text("HTTP/1.1 413 Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
    );
  }, async (port) => {
    const conn = await connect(port);
    try {
      const body = ReadableStream.from((function* () {
        for (let i = 0; i < 4096; i++) yield pattern(64 * 1024, i);
      })());
      const response = await request(conn, { method: "POST", host: "h", body });
      assert.deepEqual([response.status, response.keepAlive], [413, false]);
      closeQuietly(conn);
      assert.ok((await response.sent) instanceof Error);
    } finally {
      closeQuietly(conn);
    }
  });
});
