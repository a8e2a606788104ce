/**
 * `httpEcho`: verified echoes over HTTP against the raw stub (sized and
 * chunked bodies, keep-alive), and each way one can fail against scripted
 * servers: a wrong byte, a short body, an error status, a redirect, a reply
 * that is not HTTP (a plain TCP echo server), TLS, silence; and probe
 * series over HTTP (`httpExchange`): keep-alive, reconnects, both spreads.
 */
import assert from "node:assert/strict";
import { type Dialer, dialTcp } from "../net/dial.ts";
import { ClosedEarlyError, NotTlsError } from "../net/errors.ts";
import { HttpResponseError, HttpStatusError } from "../net/http/client.ts";
import { closeQuietly, writeAll } from "../net/io.ts";
import { pattern, readToEnd, withFakeServer, withServer, withTlsServer } from "../cli/test_util.ts";
import { type StubOptions, withHttpStub } from "../cli/test_util_http_stub.ts";
import { EchoMismatchError, EchoTimeoutError } from "./echo.ts";
import { httpEcho, httpExchange } from "./http_echo.ts";
import { bytesPayload, patternPayload, streamPayload } from "./payload.ts";
import { type ProbeOptions, type ProbeResult, probeSeries } from "./probe.ts";

const text = (value: string) => new TextEncoder().encode(value);
const connect = (port: number) =>
  dialTcp({ hostname: "127.0.0.1", port }, AbortSignal.timeout(5000));
const OPTIONS = { timeoutMs: 5000 };

/** Runs `body` with a connection to a server that answers every request with `reply`. */
async function withReply(reply: string, body: (conn: Deno.TcpConn) => Promise<void>) {
  await withFakeServer(async (conn) => {
    await conn.read(new Uint8Array(65536));
    await writeAll(conn, text(reply));
    await readToEnd(conn);
  }, async (port) => {
    const conn = await connect(port);
    try {
      await body(conn);
    } finally {
      closeQuietly(conn);
    }
  });
}

Deno.test("httpEcho verifies the echo, names the instance and keeps the connection", async () => {
  await withHttpStub({ instance: "web-2" }, async (stub) => {
    const conn = await connect(stub.port);
    try {
      for (const size of [1, 100_000, 3_000_000]) {
        const reply = await httpEcho(
          conn,
          patternPayload(size),
          { host: "stub", path: "/x?y=1" },
          OPTIONS,
        );
        assert.deepEqual(
          [reply.bytes, reply.status, reply.instance, reply.keepAlive, reply.version],
          [size, 200, "web-2", true, "HTTP/1.1"],
        );
      }
      assert.equal(stub.connections, 1);
      const [first] = stub.requests;
      assert.deepEqual([first.method, first.target], ["POST", "/x?y=1"]);
      assert.deepEqual(first.headers.slice(0, 3), [
        ["Host", "stub"],
        ["Accept", "application/octet-stream"],
        ["Content-Length", "1"],
      ]);
    } finally {
      closeQuietly(conn);
    }
  });
});

Deno.test("httpEcho sends a payload of unknown size chunked and verifies it", async () => {
  await withHttpStub({}, async (stub) => {
    const conn = await connect(stub.port);
    try {
      const bytes = pattern(200_000, 3);
      const stream = ReadableStream.from([bytes.subarray(0, 70_000), bytes.subarray(70_000)]);
      const reply = await httpEcho(conn, streamPayload(stream), { host: "stub" }, OPTIONS);
      assert.equal(reply.bytes, bytes.length);
      assert.ok(
        stub.requests[0].headers.some(([name, value]) =>
          name === "Transfer-Encoding" && value === "chunked"
        ),
      );
    } finally {
      closeQuietly(conn);
    }
  });
});

Deno.test("a wrong byte in the echoed body is a mismatch at its offset with a hex view", async () => {
  await withReply("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelpo", async (conn) => {
    await assert.rejects(
      httpEcho(conn, bytesPayload(text("hello")), { host: "h" }, OPTIONS),
      (error) =>
        error instanceof EchoMismatchError && error.offset === 3 &&
        error.message === "echo differs from what was sent at byte 3: sent 0x6c, got 0x70" &&
        error.view === "sent  00000000  68 65 6c [6c] 6f\ngot   00000000  68 65 6c [70] 6f",
    );
  });
});

Deno.test("a body that ends short is closed early with how much was echoed", async () => {
  await withReply("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhel", async (conn) => {
    await assert.rejects(
      httpEcho(conn, bytesPayload(text("hello")), { host: "h" }, OPTIONS),
      (error) =>
        error instanceof ClosedEarlyError && error.received === 3 && error.expected === 5 &&
        /:\d+ ended the response body after echoing 3 of 5 bytes$/.test(error.message),
    );
  });
});

Deno.test("an error status is an HttpStatusError with the first line of the body", async () => {
  const reply =
    "HTTP/1.1 400 Bad Request\r\nX-Echo-Instance: web-3\r\nContent-Type: text/plain\r\n" +
    "Content-Length: 60\r\n\r\n" +
    "bad parameter delay: 20s is above --max-delay 10s\r\nmore text\n";
  await withReply(reply, async (conn) => {
    await assert.rejects(
      httpEcho(conn, bytesPayload(text("hello")), { host: "h" }, OPTIONS),
      (error) =>
        error instanceof HttpStatusError && error.status === 400 && error.instance === "web-3" &&
        error.reason === "bad parameter delay: 20s is above --max-delay 10s" &&
        / answered 400 Bad Request: bad parameter delay: 20s is above --max-delay 10s$/.test(
          error.message,
        ),
    );
  });
  const redirect =
    "HTTP/1.1 301 Moved Permanently\r\nLocation: https://h/\r\nContent-Length: 0\r\n\r\n";
  await withReply(redirect, async (conn) => {
    await assert.rejects(
      httpEcho(conn, bytesPayload(text("hello")), { host: "h" }, OPTIONS),
      (error) =>
        error instanceof HttpStatusError &&
        / answered 301 Moved Permanently \(Location: https:\/\/h\/\)$/.test(error.message),
    );
  });
});

Deno.test("GET sends no body and keeps the start of the reply, unverified", async () => {
  await withReply("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nnot an echo!", async (conn) => {
    const reply = await httpEcho(
      conn,
      bytesPayload(text("ignored")),
      { host: "h", method: "GET" },
      OPTIONS,
    );
    assert.deepEqual([reply.bytes, new TextDecoder().decode(reply.body)], [12, "not an echo!"]);
  });
});

Deno.test("a plain TCP echo server's reply is not HTTP: it echoes the request head", async () => {
  await withServer({}, async ({ addr }) => {
    const conn = await connect(addr.port);
    try {
      await assert.rejects(
        httpEcho(conn, bytesPayload(text("hello")), { host: "h" }, OPTIONS),
        (error) =>
          error instanceof HttpResponseError &&
          /did not answer with HTTP\/1\.x: "POST \/ HTTP\/1\.1" \(15 bytes\)$/.test(error.message),
      );
    } finally {
      closeQuietly(conn);
    }
  });
});

Deno.test("plain HTTP to a TLS port is told the server answered with TLS", async () => {
  await withTlsServer({}, async (port) => {
    const conn = await connect(port);
    try {
      await assert.rejects(
        httpEcho(conn, bytesPayload(text("hello")), { host: "h" }, OPTIONS),
        (error) => error instanceof NotTlsError && /answered with TLS/.test(error.message),
      );
    } finally {
      closeQuietly(conn);
    }
  });
});

Deno.test("a server that never answers times out with what had come", async () => {
  await withFakeServer(async (conn) => void await readToEnd(conn), async (port) => {
    const conn = await connect(port);
    try {
      await assert.rejects(
        httpEcho(conn, bytesPayload(text("hello")), { host: "h" }, { timeoutMs: 100 }),
        (error) =>
          error instanceof EchoTimeoutError &&
          /^timed out after 0\.1 s waiting for the echo from 127\.0\.0\.1:\d+ \(got 0 of 5 bytes\)$/
            .test(error.message),
      );
    } finally {
      closeQuietly(conn);
    }
  });
});

/** Runs `body` with stubs named web-1 … web-N (`options` for each), and their ports. */
async function withStubs(
  n: number,
  options: StubOptions,
  body: (ports: number[]) => Promise<void>,
) {
  const start = async (i: number, ports: number[]): Promise<void> => {
    if (i > n) return await body(ports);
    await withHttpStub(
      { ...options, instance: `web-${i}` },
      (stub) => start(i + 1, [...ports, stub.port]),
    );
  };
  await start(1, []);
}

/** A dialer that takes the stubs in turn, as a round-robin balancer would. */
function roundRobin(ports: number[]): Dialer {
  let next = 0;
  return (_, signal) =>
    dialTcp({ hostname: "127.0.0.1", port: ports[next++ % ports.length] }, signal);
}

/** A series over HTTP of `count` probes of 1,000 bytes, connections taken from `ports` in turn. */
function seriesOver(ports: number[], count: number, more: Partial<ProbeOptions> = {}) {
  return probeSeries({
    target: { hostname: "127.0.0.1", port: 0 },
    payload: patternPayload(1000),
    count,
    intervalMs: 0,
    dial: roundRobin(ports),
    exchange: httpExchange({ host: "lb" }),
    ...more,
  });
}

Deno.test("a series over HTTP keeps one connection and names its instance in both spreads", async () => {
  await withStubs(3, {}, async (ports) => {
    const summary = await seriesOver(ports, 6);
    assert.equal(summary.echoed, 6);
    const { perRequest, perConnection } = summary.spread!;
    assert.deepEqual(perRequest.instances.map((i) => [i.instance, i.count]), [["web-1", 6]]);
    assert.deepEqual(perConnection.instances.map((i) => [i.instance, i.count]), [["web-1", 1]]);
    assert.equal(perRequest.imbalance, undefined);
  });
});

Deno.test("with --reconnect the spread over three instances taken in turn is exactly even", async () => {
  await withStubs(3, {}, async (ports) => {
    const summary = await seriesOver(ports, 9, { reconnect: true });
    const { perRequest, perConnection } = summary.spread!;
    assert.deepEqual(perRequest.instances.map((i) => [i.instance, i.count]), [
      ["web-1", 3],
      ["web-2", 3],
      ["web-3", 3],
    ]);
    assert.deepEqual(perConnection, perRequest);
    assert.deepEqual(perRequest.imbalance, {
      maxMinShare: 1,
      chiSquare: 0,
      degreesOfFreedom: 2,
      pValue: 1,
    });
  });
});

Deno.test("a server that closes each connection after two requests makes the series reconnect", async () => {
  await withStubs(2, { requestsPerConnection: 2 }, async (ports) => {
    const probes: ProbeResult[] = [];
    const summary = await seriesOver(ports, 5, { onProbe: (probe) => probes.push(probe) });
    assert.equal(summary.failed, 0);
    assert.deepEqual(probes.map((p) => [p.connection, p.instance]), [
      [1, "web-1"],
      [1, "web-1"],
      [2, "web-2"],
      [2, "web-2"],
      [3, "web-1"],
    ]);
    const { perRequest, perConnection } = summary.spread!;
    assert.deepEqual(perRequest.instances.map((i) => i.count), [3, 2]);
    assert.deepEqual(perConnection.instances.map((i) => i.count), [2, 1]);
  });
});

Deno.test("a kept-alive connection the server closed while it idled is redialed for the same probe", async () => {
  await withStubs(1, { silentCloseAfter: 1 }, async (ports) => {
    const probes: ProbeResult[] = [];
    const summary = await seriesOver(ports, 3, { onProbe: (probe) => probes.push(probe) });
    assert.deepEqual([summary.echoed, summary.failed], [3, 0]);
    assert.deepEqual(probes.map((p) => [p.connection, p.connectMs !== undefined]), [
      [1, true],
      [2, true],
      [3, true],
    ]);
  });
});

Deno.test("a probe is redialed once only: a new connection that does not answer fails it", async () => {
  let connections = 0;
  await withFakeServer(async (conn) => {
    if (++connections > 1) return;
    await conn.read(new Uint8Array(65536));
    await writeAll(conn, text("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"));
    await writeAll(conn, pattern(1000).map((_, i) => i % 251));
  }, async (port) => {
    const probes: ProbeResult[] = [];
    await seriesOver([port], 2, { onProbe: (probe) => probes.push(probe) });
    assert.deepEqual(probes.map((p) => [p.connection, p.error?.constructor.name]), [
      [1, undefined],
      [2, "HttpNoResponseError"],
    ]);
  });
});
