import assert from "node:assert/strict";
import net from "node:net";
import { closeQuietly, writeAll } from "../net/io.ts";
import { Ledger } from "./ledger.ts";
import { describeRequest, EMPTY_BODY } from "../net/http/describe.ts";
import { EXIT } from "../main.ts";
import type { CloseReason, ConnectionInfo, ConnectionSummary, ServeOptions } from "../server.ts";
import {
  readExactly,
  readToEnd,
  runMain,
  startServe,
  withServer,
  withTimeout,
} from "./test_util.ts";

const T0 = Date.UTC(2026, 10, 25, 21, 30, 0, 250);
const info: ConnectionInfo = {
  id: 7,
  remoteAddr: { transport: "tcp", hostname: "203.0.113.7", port: 51234 },
  proxyAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 },
  localAddr: { transport: "tcp", hostname: "::1", port: 4321 },
  openedAt: T0 - 1000.5,
};

Deno.test("an HTTP server's ledger: listening names its instance, request and bad_request events", () => {
  const ledger = new Ledger("tls", () => T0, "http");
  const description = describeRequest({
    instance: "web-1",
    head: { method: "GET", path: "/", query: "", version: "HTTP/1.1", headers: [["Host", "a"]] },
    peer: info.proxyAddr!,
    client: info.remoteAddr,
    connection: { id: 7, request: 3 },
    body: EMPTY_BODY,
  });
  const summary: ConnectionSummary = { bytes: 900, durationMs: 2, reason: "client_fin" };
  assert.deepEqual(
    [
      ledger.listening({ transport: "tcp", hostname: "0.0.0.0", port: 8080 }, "web-1"),
      ledger.request(info, description, 200, 512),
      ledger.badRequest(info, 431, "headers longer than 65536 bytes"),
      ledger.close(info, summary),
    ].map((line) => JSON.parse(line)),
    [
      {
        time: "2026-11-25T21:30:00.250Z",
        event: "listening",
        transport: "tls",
        local: "0.0.0.0:8080",
        protocol: "http",
        instance: "web-1",
      },
      {
        time: "2026-11-25T21:30:00.250Z",
        event: "request",
        transport: "tls",
        id: 7,
        local: "[::1]:4321",
        ...JSON.parse(JSON.stringify(description)),
        status: 200,
        bytes_out: 512,
      },
      {
        time: "2026-11-25T21:30:00.250Z",
        event: "bad_request",
        transport: "tls",
        id: 7,
        peer: "203.0.113.7:51234",
        proxy: "127.0.0.1:40000",
        local: "[::1]:4321",
        status: 431,
        reason: "headers longer than 65536 bytes",
      },
      {
        time: "2026-11-25T21:30:00.250Z",
        event: "close",
        transport: "tls",
        id: 7,
        peer: "203.0.113.7:51234",
        proxy: "127.0.0.1:40000",
        local: "[::1]:4321",
        bytes: 900,
        duration_ms: 2,
        reason: "client_fin",
      },
    ],
  );
});

Deno.test("ledger lines are one JSON object each, time and event first, fixed fields", () => {
  const ledger = new Ledger("tcp", () => T0);
  const summary: ConnectionSummary = {
    bytes: 21,
    durationMs: 1000.12345,
    reason: "idle_timeout",
    error: new Error("ignored: detail is given"),
  };
  const peer = info.remoteAddr;
  assert.deepEqual([
    ledger.listening({ transport: "tcp", hostname: "0.0.0.0", port: 4321 }),
    ledger.open(info),
    ledger.data(info, new TextEncoder().encode("hi\x1b[2J\n\0")),
    ledger.close(info, summary, "idle for 1 s"),
    ledger.refused(peer, 10),
    ledger.denied(peer, "--deny 203.0.113.0/24"),
    ledger.error("cannot accept connections: too many open files"),
    ledger.stopping(2, 5000),
    ledger.stopped({ connections: 3, bytes: 63, forced: 1 }),
    ledger.suppressed(912, 100),
  ], [
    '{"time":"2026-11-25T21:30:00.250Z","event":"listening","transport":"tcp","local":"0.0.0.0:4321"}',
    '{"time":"2026-11-25T21:29:59.249Z","event":"open","transport":"tcp","id":7,"peer":"203.0.113.7:51234","proxy":"127.0.0.1:40000","local":"[::1]:4321"}',
    '{"time":"2026-11-25T21:30:00.250Z","event":"data","transport":"tcp","id":7,"peer":"203.0.113.7:51234","proxy":"127.0.0.1:40000","local":"[::1]:4321","bytes":8,"data":"hi\\\\x1b[2J\\\\n"}',
    '{"time":"2026-11-25T21:30:00.250Z","event":"close","transport":"tcp","id":7,"peer":"203.0.113.7:51234","proxy":"127.0.0.1:40000","local":"[::1]:4321","bytes_in":21,"bytes_out":21,"duration_ms":1000.123,"reason":"idle_timeout","detail":"idle for 1 s"}',
    '{"time":"2026-11-25T21:30:00.250Z","event":"refused","transport":"tcp","peer":"203.0.113.7:51234","reason":"connection_limit","limit":10}',
    '{"time":"2026-11-25T21:30:00.250Z","event":"denied","transport":"tcp","peer":"203.0.113.7:51234","reason":"denied","rule":"--deny 203.0.113.0/24"}',
    '{"time":"2026-11-25T21:30:00.250Z","event":"error","message":"cannot accept connections: too many open files"}',
    '{"time":"2026-11-25T21:30:00.250Z","event":"stopping","open":2,"grace_ms":5000}',
    '{"time":"2026-11-25T21:30:00.250Z","event":"stopped","connections":3,"bytes":63,"forced":1}',
    '{"time":"2026-11-25T21:30:00.250Z","event":"suppressed","lines":912,"limit_per_second":100}',
  ]);
  // A connection that was not relayed has no proxy field, and a normal close no detail.
  const direct = { ...info, proxyAddr: undefined };
  const line = JSON.parse(ledger.close(direct, { bytes: 0, durationMs: 0, reason: "client_fin" }));
  assert.deepEqual(Object.keys(line), [
    "time",
    "event",
    "transport",
    "id",
    "peer",
    "local",
    "bytes_in",
    "bytes_out",
    "duration_ms",
    "reason",
  ]);
});

/** Serves on loopback with `options`; resolves with the reason of the first connection's close. */
async function closeReason(
  options: ServeOptions,
  client: (conn: Deno.TcpConn, shutdown: () => Promise<unknown>) => Promise<void>,
): Promise<CloseReason> {
  const closed = Promise.withResolvers<CloseReason>();
  const opened = Promise.withResolvers<void>();
  await withServer({
    ...options,
    onConnection: () => opened.resolve(),
    onClose: (_, { reason }) => closed.resolve(reason),
  }, async (server) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
    try {
      await withTimeout(opened.promise, 10_000, "open");
      await client(conn, () => server.shutdown({ graceMs: 0 }));
    } finally {
      closeQuietly(conn);
    }
    await withTimeout(closed.promise, 10_000, "close");
  });
  return closed.promise;
}

Deno.test("the server says why each connection closed", async () => {
  assert.equal(
    await closeReason({}, async (conn) => {
      conn.closeWrite();
      await readToEnd(conn);
    }),
    "client_fin",
  );
  assert.equal(
    await closeReason({ idleTimeoutMs: 50 }, async (conn) => {
      assert.equal((await readToEnd(conn)).length, 0);
    }),
    "idle_timeout",
  );
  assert.equal(await closeReason({}, (_, shutdown) => shutdown().then(() => {})), "shutdown");
});

Deno.test("the server tells a client's reset from its FIN", async () => {
  const closed = Promise.withResolvers<CloseReason>();
  await withServer({ onClose: (_, { reason }) => closed.resolve(reason) }, async ({ addr }) => {
    // Deno.Conn cannot reset (its close sends a FIN); node:net can (SO_LINGER 0).
    const socket = net.connect(addr.port, "127.0.0.1", () => socket.write("hello"));
    const socketClosed = new Promise((resolve) => socket.once("close", resolve));
    socket.once("data", () => socket.resetAndDestroy());
    socket.on("error", () => {}); // its own reset reported back to it
    assert.equal(await withTimeout(closed.promise, 10_000, "close"), "client_reset");
    await withTimeout(socketClosed, 10_000, "socket close");
  });
});

/** Runs `sockecho ARGS` in-process; returns the exit code and what it printed. */
const run = (...args: string[]) => runMain(args);

Deno.test("serve --log-format json ledgers a proxied echo, a bad header and the stop", async () => {
  const server = await startServe("--log-format", "json", "--proxy-protocol");
  const sent = await run("send", "127.0.0.1", "-p", server.port, "--proxy-protocol", "v2", "hi");
  assert.deepEqual(sent, { code: EXIT.ok, out: ["server message: hi"], err: [] });
  await withTimeout(server.printed(/"event":"close"/), 10_000, "first close");
  const plain = await run("send", "127.0.0.1", "-p", server.port, "no header");
  assert.equal(plain.code, EXIT.closedEarly);
  await withTimeout(server.printed(/"reason":"handshake_failure"/), 10_000, "second close");
  assert.equal(await withTimeout(server.stopped(), 10_000, "stop"), EXIT.ok);
  assert.deepEqual(server.err, [], "in JSON everything goes to stdout");
  const events = server.out.map((line) => JSON.parse(line));
  assert.deepEqual(events.map((event) => event.event), [
    "listening",
    "open",
    "data",
    "close",
    "close",
    "stopping",
    "stopped",
  ]);
  for (const { time } of events) assert.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const [, open, data, echoed, refused, stopping, stopped] = events;
  // send --proxy-protocol names the connection's own addresses: client and proxy are one.
  assert.equal(open.peer, open.proxy);
  assert.match(open.peer, /^127\.0\.0\.1:\d+$/);
  assert.equal(open.local, `127.0.0.1:${server.port}`);
  assert.deepEqual({ ...data, time: 0 }, { ...open, time: 0, event: "data", bytes: 2, data: "hi" });
  assert.deepEqual(
    [echoed.bytes_in, echoed.bytes_out, echoed.reason, typeof echoed.duration_ms],
    [2, 2, "client_fin", "number"],
  );
  assert.equal(refused.reason, "handshake_failure");
  assert.equal(refused.proxy, undefined);
  assert.match(refused.detail, /^no PROXY header: the connection began with "no header"$/);
  assert.deepEqual([stopping.open, stopping.grace_ms], [0, 5000]);
  assert.deepEqual([stopped.connections, stopped.bytes, stopped.forced], [2, 2, 0]);
});

Deno.test("serve --log-format json ledgers refusals and what the rate limit held back", async () => {
  const server = await startServe("--log-format", "json", "-m", "1", "--log-rate", "2");
  const first = await Deno.connect({ hostname: "127.0.0.1", port: Number(server.port) });
  try {
    await withTimeout(server.printed(/"event":"open"/), 10_000, "open");
    const second = await Deno.connect({ hostname: "127.0.0.1", port: Number(server.port) });
    await withTimeout(readToEnd(second).catch(() => new Uint8Array()), 10_000, "refused");
    second.close();
    await withTimeout(server.printed(/"event":"refused"/), 10_000, "refused line");
    // Twenty data lines in far less than the ten seconds it takes to show them at 2 a second.
    for (let i = 0; i < 20; i++) {
      await writeAll(first, new Uint8Array([i]));
      await readExactly(first, 1);
    }
    await withTimeout(server.printed(/"event":"suppressed"/), 10_000, "suppressed line");
  } finally {
    first.close();
  }
  assert.equal(await withTimeout(server.stopped(), 10_000, "stop"), EXIT.ok);
  const events = server.out.map((line) => JSON.parse(line));
  const refused = events.find((event) => event.event === "refused");
  assert.deepEqual([refused.reason, refused.limit], ["connection_limit", 1]);
  assert.match(refused.peer, /^127\.0\.0\.1:\d+$/);
  const suppressed = events.find((event) => event.event === "suppressed");
  assert.deepEqual([suppressed.lines >= 1, suppressed.limit_per_second], [true, 2]);
});

Deno.test("serve --proxy-protocol logs the original client, and the proxy it came through", async () => {
  const server = await startServe("--proxy-protocol");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(server.port) });
  try {
    await writeAll(conn, new TextEncoder().encode("PROXY TCP6 2001:db8::7 ::1 51234 4321\r\nhey"));
    conn.closeWrite();
    assert.equal(
      new TextDecoder().decode(await withTimeout(readToEnd(conn), 10_000, "echo")),
      "hey",
    );
  } finally {
    conn.close();
  }
  await withTimeout(server.printed(/ closed: /), 10_000, "close line");
  assert.equal(await withTimeout(server.stopped(), 10_000, "stop"), EXIT.ok);
  const port = conn.localAddr.port;
  assert.match(
    server.out[1],
    new RegExp(
      `^You got a connection from client's ip 2001:db8::7, port 51234 via 127\\.0\\.0\\.1:${port} ` +
        "at time \\d+\\.\\d{6}$",
    ),
  );
  assert.equal(server.out[2], "[2001:db8::7]:51234 sent 3 bytes: hey");
  assert.match(server.out[3], /^\[2001:db8::7\]:51234 closed: 3 bytes echoed in \d+\.\d{3} s$/);
});

Deno.test("the ledger and PROXY options reject bad values with one line and exit code 2", async () => {
  const cases: [string[], string][] = [
    [["serve", "--log-format", "xml"], 'invalid --log-format "xml": expected text or json'],
    [["serve", "--proxy-from", "10.0.0.0/8"], "--proxy-from needs --proxy-protocol"],
    [
      ["serve", "--proxy-protocol", "--proxy-from", "10.0.0.0/33"],
      'invalid --proxy-from "10.0.0.0/33": expected addresses or CIDR ranges, e.g. 10.0.0.0/8,::1',
    ],
    [["send", "h", "--proxy-protocol", "v3"], 'invalid --proxy-protocol "v3": expected v1 or v2'],
  ];
  for (const [args, message] of cases) {
    assert.deepEqual(await run(...args), {
      code: EXIT.usage,
      out: [],
      err: [`${message} (try: sockecho ${args[0]} --help)`],
    });
  }
});
