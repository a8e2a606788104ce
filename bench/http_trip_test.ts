/**
 * `bench --http`'s round trips, through `bench()`: against the real
 * `serve --http` handler (in-process, on the server's own accept loop),
 * against the HTTP stub of `cli/test_util_http_stub.ts` (written apart from
 * both), and against scripted servers that corrupt, cut or frame otherwise.
 */
import assert from "node:assert/strict";
import { bench, type BenchOptions } from "./bench.ts";
import { HttpResponseError, HttpStatusError } from "../net/http/client.ts";
import { ClosedEarlyError, MismatchError } from "../net/errors.ts";
import { writeAll } from "../net/io.ts";
import { withFakeServer } from "../cli/test_util.ts";
import { withHttpServer } from "../cli/test_util_http.ts";
import { withHttpStub } from "../cli/test_util_http_stub.ts";

/** `bench` over HTTP against 127.0.0.1:`port`. */
const loadHttp = (port: number, options: Partial<BenchOptions>) =>
  bench({ hostname: "127.0.0.1", port, protocol: "http", ...options });

const encoder = new TextEncoder();

/**
 * Reads requests off `conn` (a head, then a Content-Length body) and answers
 * each with what `answer` says: bytes, or `{ last }` to write them and end the
 * connection.
 */
async function answerRequests(
  conn: Deno.Conn,
  answer: (body: Uint8Array, n: number) => Uint8Array | { last: Uint8Array },
): Promise<void> {
  let held = new Uint8Array(0);
  const buffer = new Uint8Array(65536);
  for (let n = 1;; n++) {
    let end;
    while ((end = new TextDecoder().decode(held).indexOf("\r\n\r\n")) < 0) {
      const got = await conn.read(buffer);
      if (got === null) return;
      held = new Uint8Array([...held, ...buffer.subarray(0, got)]);
    }
    const head = new TextDecoder().decode(held.subarray(0, end));
    const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    while (held.length < end + 4 + length) {
      const got = await conn.read(buffer);
      if (got === null) return;
      held = new Uint8Array([...held, ...buffer.subarray(0, got)]);
    }
    const reply = answer(held.slice(end + 4, end + 4 + length), n);
    held = held.slice(end + 4 + length);
    if (reply instanceof Uint8Array) {
      await writeAll(conn, reply);
    } else {
      return await writeAll(conn, reply.last);
    }
  }
}

function response(head: string, body: Uint8Array): Uint8Array {
  return new Uint8Array([...encoder.encode(head), ...body]);
}

Deno.test("bench --http completes exactly the counted requests against serve --http, all verified", async () => {
  await withHttpServer({}, async ({ port, served, closed }) => {
    const report = await loadHttp(port, {
      request: { host: "echo.test", path: "/load?x=1" },
      connections: 3,
      size: 1000,
      count: 300,
    });
    assert.equal(report.operations, 300);
    assert.equal(report.bytes, 300_000);
    assert.deepEqual(report.errors, { count: 0, closed: 0, status: {} });
    assert.equal(report.url, "http://echo.test/load?x=1");
    assert.equal(report.protocol, "http");
    assert.equal(report.latencyMs?.count, 300);
    // Kept alive: three connections carried every request, each a POST of the raw format.
    assert.equal(served.length, 300);
    assert.ok(closed.length <= 3);
    const { description } = served[0];
    assert.deepEqual(
      [description.method, description.path, description.query, description.body.bytes],
      ["POST", "/load", "x=1", 1000],
    );
    const header = (name: string) => description.headers.find(([key]) => key === name)?.[1];
    assert.deepEqual([header("Host"), header("Accept")], ["echo.test", "application/octet-stream"]);
  });
});

Deno.test("bench --http spreads over workers and streams bodies larger than a read", async () => {
  await withHttpServer({}, async ({ port, served }) => {
    const report = await loadHttp(port, {
      connections: 4,
      workers: 2,
      size: 300_000,
      count: 20,
    });
    assert.deepEqual([report.operations, report.bytes, report.workers], [20, 6_000_000, 2]);
    assert.equal(served.length, 20);
  });
});

Deno.test("bench --http in connect mode opens a connection per counted request", async () => {
  await withHttpServer({}, async ({ port, served, closed }) => {
    const report = await loadHttp(port, {
      mode: "connect",
      connections: 2,
      count: 30,
    });
    assert.equal(report.operations, 30);
    assert.equal(served.length, 30);
    assert.equal(new Set(served.map(({ description }) => description.connection.id)).size, 30);
    assert.ok(closed.length <= 30);
  });
});

Deno.test("bench --http --rate sends rate × duration requests, on schedule", async () => {
  await withHttpServer({}, async ({ port, served }) => {
    const report = await loadHttp(port, {
      connections: 4,
      durationMs: 1000,
      rate: 100,
    });
    assert.equal(report.operations, 100);
    assert.equal(served.length, 100);
    assert.equal(report.rate?.offered, 100);
  });
});

Deno.test("bench --http catches a server that corrupts one byte of one body, also in a worker", async () => {
  for (const workers of [1, 2]) {
    await withFakeServer(async (conn) => {
      await answerRequests(conn, (body, n) => {
        if (n === 5) body[17] ^= 0x01;
        return response(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`, body);
      });
    }, async (port) => {
      const error = await loadHttp(port, {
        connections: workers,
        workers,
        count: 10 * workers,
        size: 64,
      }).catch((error) => error);
      assert.ok(error instanceof MismatchError, String(error));
      // The fifth message of a connection starts 4 × 64 bytes into its pattern.
      assert.equal(error.offset, 4 * 64 + 17);
      assert.match(error.message, /^echo differs from what was sent at byte 273: sent 0x/);
    });
  }
});

Deno.test("bench --http reads chunked bodies and takes a body of another length for a mismatch", async () => {
  await withFakeServer(async (conn) => {
    await answerRequests(conn, (body) => {
      const split = [body.subarray(0, 10), body.subarray(10)];
      const chunks = split.map((part) => `${part.length.toString(16)}\r\n`);
      return new Uint8Array([
        ...encoder.encode("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ...encoder.encode(chunks[0]),
        ...split[0],
        ...encoder.encode(`\r\n${chunks[1]}`),
        ...split[1],
        ...encoder.encode("\r\n0\r\nX-Trailer: 1\r\n\r\n"),
      ]);
    });
  }, async (port) => {
    const report = await loadHttp(port, { count: 20 });
    assert.equal(report.operations, 20);
  });
  await withFakeServer(async (conn) => {
    await answerRequests(
      conn,
      (body) =>
        response(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length - 1}\r\n\r\n`, body.slice(1)),
    );
  }, async (port) => {
    const error = await loadHttp(port, { count: 5 })
      .catch((error) => error);
    assert.ok(error instanceof MismatchError);
    assert.equal(error.offset, 0);
  });
  await withFakeServer(async (conn) => {
    await answerRequests(
      conn,
      (body) =>
        response(
          `HTTP/1.1 200 OK\r\nContent-Length: ${body.length - 1}\r\n\r\n`,
          body.slice(0, -1),
        ),
    );
  }, async (port) => {
    const error = await loadHttp(port, { count: 5 })
      .catch((error) => error);
    assert.ok(error instanceof MismatchError);
    assert.match(error.message, /^the echo is 63 bytes, not the 64 sent/);
    assert.equal(error.offset, 63);
  });
});

Deno.test("bench --http counts the requests of connections the server closes, and goes on", async () => {
  // Silently closed after 5 requests, as a keep-alive timeout does: the 6th is cut.
  await withHttpStub({ silentCloseAfter: 5 }, async (stub) => {
    const report = await loadHttp(stub.port, {
      count: 30,
    });
    assert.deepEqual(report.errors, { count: 5, closed: 5, status: {} });
    assert.equal(report.operations, 25);
    // Each connection carried 5 answered and 1 cut: the 30th was the 5th connection's cut.
    assert.equal(stub.connections, 5);
  });
  // Closed with Connection: close after 4: nothing is lost, the next goes on a new one.
  await withHttpStub({ requestsPerConnection: 4 }, async (stub) => {
    const report = await loadHttp(stub.port, {
      count: 20,
    });
    assert.deepEqual([report.operations, report.errors?.count], [20, 0]);
    assert.equal(stub.connections, 5);
  });
});

Deno.test("bench --http counts error statuses; a run with nothing but errors fails", async () => {
  await withFakeServer(async (conn) => {
    await answerRequests(
      conn,
      (body, n) =>
        n % 4 === 0
          ? response("HTTP/1.1 503 Busy\r\nContent-Length: 5\r\n\r\n", encoder.encode("busy\n"))
          : response(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`, body),
    );
  }, async (port) => {
    const report = await loadHttp(port, { count: 40 });
    assert.deepEqual(report.errors, { count: 10, closed: 0, status: { "503": 10 } });
    assert.equal(report.operations, 30);
  });
  await withHttpStub({}, async (stub) => {
    const error = await loadHttp(stub.port, {
      request: { host: "stub", path: "/?status=404" },
      count: 12,
    }).catch((error) => error);
    assert.ok(error instanceof HttpStatusError, String(error));
    assert.equal(error.message, "not one round trip came back with its echo: 12 answered 404");
    assert.equal(stub.requests.length, 12);
  });
});

Deno.test("bench --http names a server that does not answer HTTP, or cuts a body", async () => {
  await withFakeServer(async (conn) => {
    await answerRequests(conn, () => encoder.encode("SSH-2.0-OpenSSH_9.6\r\n\r\n"));
  }, async (port) => {
    const error = await loadHttp(port, { count: 1 })
      .catch((error) => error);
    assert.ok(error instanceof HttpResponseError);
    assert.equal(
      error.message,
      'the server\'s answer is not an HTTP/1.x response: received "SSH-2.0-OpenSSH_9.6\\r\\n\\r\\n"',
    );
  });
  await withFakeServer(async (conn) => {
    await answerRequests(conn, (body) => {
      const whole = response(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`, body);
      return { last: whole.subarray(0, whole.length - 10) };
    });
  }, async (port) => {
    const error = await loadHttp(port, { count: 3 })
      .catch((error) => error);
    // Every request was cut, so the run fails, as the cut it counted.
    assert.ok(error instanceof ClosedEarlyError, String(error));
    assert.equal(error.message, "not one round trip came back with its echo: 3 cut by the server");
  });
});

Deno.test("bench --http shards of one rate add up to its schedule", async () => {
  await withHttpServer({}, async ({ port, served }) => {
    const startAt = Date.now() + 300;
    const shards = await Promise.all([0, 1].map((index) =>
      loadHttp(port, {
        connections: 2,
        durationMs: 500,
        rate: 200,
        startAt,
        shard: { index, count: 2 },
      })
    ));
    // 200/s for 0.5 s is 100 requests, 50 per shard.
    assert.deepEqual(shards.map((report) => report.operations), [50, 50]);
    assert.equal(served.length, 100);
  });
});
