import assert from "node:assert/strict";
import { type Dialer, dialStream, dialTcp, tlsDialer } from "../net/dial.ts";
import { EchoMismatchError, echoPayload, hexView } from "./echo.ts";
import {
  ClosedEarlyError,
  ConnectError,
  NotTlsError,
  TimeoutError,
  TlsVerifyError,
} from "../net/errors.ts";
import { writeAll } from "../net/io.ts";
import { bytesPayload, patternBytes, patternPayload, streamPayload } from "./payload.ts";
import { type ProbeResult, probeSeries, type SeriesSummary, stats } from "./probe.ts";
import {
  readToEnd,
  testCertificate,
  withFakeServer,
  withServer,
  withTlsServer,
  withUnixServer,
  WRONG_PIN,
} from "../cli/test_util.ts";

const PING = bytesPayload(new TextEncoder().encode("ping\n"));
const pair = await testCertificate();
const pinned = tlsDialer({ pin: pair.fingerprint });

/** A server that echoes everything but replaces the byte at `offset` with 0xee. */
function corruptingPeer(offset: number) {
  return async (conn: Deno.Conn) => {
    const buffer = new Uint8Array(4096);
    let seen = 0;
    for (let n; (n = await conn.read(buffer)) !== null;) {
      const chunk = buffer.slice(0, n);
      if (offset >= seen && offset < seen + n) chunk[offset - seen] = 0xee;
      seen += n;
      await writeAll(conn, chunk);
    }
  };
}

/** Runs three probes against sockecho serve; counts the connections it saw. */
async function threeProbes(reconnect: boolean) {
  let connections = 0;
  const probes: ProbeResult[] = [];
  let summary: SeriesSummary | undefined;
  await withServer({ onConnection: () => connections++ }, async ({ addr }) => {
    summary = await probeSeries({
      target: { hostname: "127.0.0.1", port: addr.port },
      payload: PING,
      count: 3,
      intervalMs: 0,
      reconnect,
      onProbe: (probe) => probes.push(probe),
    });
  });
  return { connections, probes, summary: summary! };
}

Deno.test("a probe series sends every probe on one connection", async () => {
  const { connections, probes, summary } = await threeProbes(false);
  assert.deepEqual([summary.sent, summary.echoed, summary.failed], [3, 3, 0]);
  assert.equal(summary.interrupted, false);
  assert.ok(summary.time!.min <= summary.time!.max);
  assert.equal(connections, 1);
  assert.deepEqual(probes.map((p) => [p.seq, p.bytes, p.error]), [
    [1, 5, undefined],
    [2, 5, undefined],
    [3, 5, undefined],
  ]);
  assert.ok(probes[0].connectMs !== undefined && probes[1].connectMs === undefined);
});

Deno.test("--reconnect opens a connection per probe and times each connect", async () => {
  const { connections, probes, summary } = await threeProbes(true);
  assert.equal(connections, 3);
  assert.equal(summary.connect !== undefined, true);
  assert.ok(probes.every((p) => p.connectMs !== undefined && p.timeMs !== undefined));
});

Deno.test("a corrupted probe fails with the offset and a hex view, and the next reconnects", async () => {
  let connections = 0;
  const probes: ProbeResult[] = [];
  await withFakeServer(async (conn) => {
    connections++;
    await corruptingPeer(3)(conn);
  }, async (port) => {
    const summary = await probeSeries({
      target: { hostname: "127.0.0.1", port },
      payload: PING,
      count: 2,
      intervalMs: 0,
      onProbe: (probe) => probes.push(probe),
    });
    assert.deepEqual([summary.sent, summary.echoed, summary.failed], [2, 0, 2]);
    assert.ok(summary.firstError instanceof EchoMismatchError);
  });
  assert.equal(connections, 2);
  const error = probes[0].error as EchoMismatchError;
  assert.equal(error.offset, 3);
  assert.equal(error.message, "echo differs from what was sent at byte 3: sent 0x67, got 0xee");
  assert.equal(error.view, "sent  00000000  70 69 6e [67] 0a\ngot   00000000  70 69 6e [ee] 0a");
});

Deno.test("an abort ends the wait between probes at once", async () => {
  const stop = new AbortController();
  await withServer({}, async ({ addr }) => {
    const startedAt = performance.now();
    const summary = await probeSeries({
      target: { hostname: "127.0.0.1", port: addr.port },
      payload: PING,
      count: 0,
      intervalMs: 600_000,
      signal: stop.signal,
      onProbe: () => stop.abort(),
    });
    assert.deepEqual([summary.sent, summary.echoed, summary.interrupted], [1, 1, true]);
    assert.ok(performance.now() - startedAt < 60_000, "the ten-minute interval was not cut");
  });
});

Deno.test("an abort drops the probe in flight without counting it", async () => {
  const stop = new AbortController();
  await withFakeServer(async (conn) => {
    await conn.read(new Uint8Array(16));
    stop.abort(); // the probe's bytes arrived; its echo never will
    await readToEnd(conn);
  }, async (port) => {
    const summary = await probeSeries({
      target: { hostname: "127.0.0.1", port },
      payload: PING,
      timeoutMs: 600_000,
      signal: stop.signal,
    });
    assert.deepEqual([summary.sent, summary.failed, summary.interrupted], [0, 0, true]);
  });
});

Deno.test("a refused connect is a failed probe with a ConnectError", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const summary = await probeSeries({
    target: { hostname: "127.0.0.1", port },
    payload: PING,
    count: 1,
  });
  assert.ok(summary.firstError instanceof ConnectError);
  assert.match(
    summary.firstError.message,
    /^cannot connect to 127\.0\.0\.1:\d+: connection refused$/,
  );
});

Deno.test("a silent server makes the probe time out", async () => {
  await withFakeServer(async (conn) => {
    await readToEnd(conn);
  }, async (port) => {
    const summary = await probeSeries({
      target: { hostname: "127.0.0.1", port },
      payload: PING,
      timeoutMs: 100,
    });
    assert.ok(summary.firstError instanceof TimeoutError);
  });
});

Deno.test("echoPayload checks a 3 MiB pattern streamed in chunks", async () => {
  await withServer({}, async ({ addr }) => {
    const conn = await dialTcp(
      { hostname: "127.0.0.1", port: addr.port },
      new AbortController().signal,
    );
    try {
      const result = await echoPayload(conn, patternPayload(3 << 20), { timeoutMs: 10_000 });
      assert.equal(result.bytes, 3 << 20);
      assert.equal(result.reads.reduce((a, b) => a + b, 0), 3 << 20);
    } finally {
      conn.close();
    }
  });
});

Deno.test("echoPayload streams a payload of unknown size and ends at the server's FIN", async () => {
  const bytes = patternBytes(7, 200_000);
  await withServer({}, async ({ addr }) => {
    const conn = await dialTcp(
      { hostname: "127.0.0.1", port: addr.port },
      new AbortController().signal,
    );
    try {
      const payload = streamPayload(ReadableStream.from([bytes.slice(0, 1000), bytes.slice(1000)]));
      const result = await echoPayload(conn, payload, { timeoutMs: 10_000, halfClose: true });
      assert.equal(result.bytes, bytes.length);
    } finally {
      conn.close();
    }
  });
});

Deno.test("echoPayload reports a server that closes halfway as closed early", async () => {
  await withFakeServer(async (conn) => {
    const buffer = new Uint8Array(3);
    await conn.read(buffer);
    await writeAll(conn, buffer);
  }, async (port) => {
    const conn = await dialTcp({ hostname: "127.0.0.1", port }, new AbortController().signal);
    const error = await echoPayload(conn, PING, { timeoutMs: 5000 }).catch((e) => e);
    assert.ok(error instanceof ClosedEarlyError);
    assert.equal(error.received, 3);
    assert.match(error.message, /closed the connection after echoing 3 of 5 bytes$/);
  });
});

Deno.test("echoPayload reports bytes beyond what was sent", async () => {
  await withFakeServer(async (conn) => {
    const buffer = new Uint8Array(5);
    await conn.read(buffer);
    await writeAll(conn, new TextEncoder().encode("pong\nX"));
  }, async (port) => {
    const conn = await dialTcp({ hostname: "127.0.0.1", port }, new AbortController().signal);
    const payload = bytesPayload(new TextEncoder().encode("pong\n"));
    const error = await echoPayload(conn, payload, { timeoutMs: 5000, halfClose: true })
      .catch((e) => e);
    assert.ok(error instanceof EchoMismatchError);
    assert.equal(error.message, "more bytes came back than were sent (from byte 5)");
  });
});

Deno.test("echoPayload fails at once, with the payload's own error, when it changes size", async () => {
  await withServer({}, async ({ addr }) => {
    const conn = await dialTcp(
      { hostname: "127.0.0.1", port: addr.port },
      new AbortController().signal,
    );
    const shrunk = { ...patternPayload(10), chunks: patternPayload(5).chunks };
    const error = await echoPayload(conn, shrunk, { timeoutMs: 600_000 }).catch((e) => e);
    assert.equal(error.message, "the payload changed size while it was sent (5 bytes)");
  });
});

Deno.test("stats computes nearest-rank percentiles and ping's mdev", () => {
  const s = stats([4, 1, 3, 2])!;
  assert.deepEqual([s.min, s.p50, s.p90, s.p99, s.max, s.avg], [1, 2, 4, 4, 4, 2.5]);
  assert.equal(s.mdev.toFixed(4), Math.sqrt(1.25).toFixed(4));
  assert.equal(stats([]), undefined);
});

Deno.test("hexView marks the first wrong byte", () => {
  assert.equal(
    hexView(0x10, [1, 2, 3], [1, 2, 0xff], 2),
    "sent  00000010  01 02 [03]\ngot   00000010  01 02 [ff]",
  );
});

Deno.test("the pattern has a prime period of 251", () => {
  assert.deepEqual([...patternBytes(249, 4)], [249, 250, 0, 1]);
});

// Over TLS (through tlsDialer) and a Unix socket (through dialStream).

Deno.test("series over TLS with --reconnect: every probe exact, connect and handshake timed apart", async () => {
  await withTlsServer({}, async (port) => {
    const probes: { connectMs?: number; handshakeMs?: number; bytes: number }[] = [];
    const summary = await probeSeries({
      target: { hostname: "127.0.0.1", port },
      payload: patternPayload(100_000),
      count: 3,
      intervalMs: 0,
      reconnect: true,
      dial: pinned,
      onProbe: (probe) => probes.push(probe),
    });
    assert.deepEqual([summary.sent, summary.echoed, summary.firstError], [3, 3, undefined]);
    for (const probe of probes) {
      assert.equal(probe.bytes, 100_000);
      assert.ok(probe.connectMs! >= 0 && probe.handshakeMs! > 0, JSON.stringify(probe));
    }
    assert.ok(summary.handshake && summary.connect, "both summarised");
  });
});

Deno.test("series over plain TCP has no handshake time", async () => {
  await withServer({}, async ({ addr }) => {
    const summary = await probeSeries({
      target: { hostname: "127.0.0.1", port: addr.port },
      payload: patternPayload(10),
      count: 2,
      intervalMs: 0,
      reconnect: true,
    });
    assert.equal(summary.echoed, 2);
    assert.ok(summary.connect);
    assert.equal(summary.handshake, undefined);
  });
});

Deno.test("series over TLS: a wrong pin fails every probe with TlsVerifyError, a plain server with NotTlsError", async () => {
  const series = (port: number, dial: Dialer) =>
    probeSeries({
      target: { hostname: "127.0.0.1", port },
      payload: patternPayload(10),
      count: 2,
      intervalMs: 0,
      dial,
    });
  await withTlsServer({}, async (port) => {
    const summary = await series(port, tlsDialer({ pin: WRONG_PIN }));
    assert.deepEqual([summary.sent, summary.failed], [2, 2]);
    assert.ok(summary.firstError instanceof TlsVerifyError, String(summary.firstError));
  });
  await withServer({}, async ({ addr }) => {
    const summary = await series(addr.port, pinned);
    assert.ok(summary.firstError instanceof NotTlsError, String(summary.firstError));
  });
});

Deno.test("series over a Unix socket: every probe exact, from the socket's path", async () => {
  await withUnixServer({}, async (path) => {
    const remotes: (string | undefined)[] = [];
    const summary = await probeSeries({
      target: { path },
      payload: patternPayload(70_000),
      count: 3,
      intervalMs: 0,
      reconnect: true,
      dial: dialStream,
      onProbe: (probe) => remotes.push(probe.remote),
    });
    assert.deepEqual([summary.sent, summary.echoed], [3, 3]);
    assert.deepEqual(remotes, [path, path, path]);
  });
});
