/**
 * `serve --http` behind a real HAProxy (Debian's 2.6) speaking PROXY v2 to
 * it, in `mode tcp` and `mode http`: the config is docs/load-balancers.md's
 * own, read from the doc, its ports mapped to free ones, so the manual shows
 * one that works. What the tests check is what a client sees: the request
 * description's `client` and `peer`, X-Forwarded-For, the 400 of a backend
 * that does not expect the header, a forged header refused, WebSocket echoes
 * (sockecho's and Python's `websockets`) and `wrk`'s counts. Ignored, with
 * the reason, where haproxy (or 127.0.0.2, or wrk, or websockets) is missing.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../main.ts";
import { request } from "../http/client.ts";
import { writeAll } from "../io.ts";
import { encodeProxyHeader } from "./proxy_protocol.ts";
import { readToEnd, WAIT_MS, withTimeout } from "../../cli/test_util.ts";
import {
  canRead,
  freePort,
  hasCommand,
  needs,
  ROOT,
  skipped,
  sockecho,
  spawn,
} from "../../cli/test_util_process.ts";
import { type HttpServe, spawnHttpServe } from "../../cli/test_util_http_stub.ts";
import { behindHaproxy, noHaproxy } from "../../cli/test_util_haproxy.ts";
import { ALL_BYTES, noPythonWebsockets, python, PYTHON_ECHO } from "../../cli/test_util_ws.ts";
import { canBindUdp } from "../../cli/test_util_udp.ts";

const why = noHaproxy ?? needs(canRead, "--allow-read") ??
  needs(await canBindUdp("127.0.0.2"), "to bind 127.0.0.2");

const DOC = `${ROOT}docs/load-balancers.md`;
const MARKER = "<!-- net/access/haproxy_http_test.ts runs the config below";

/** The config block after {@linkcode MARKER} in docs/load-balancers.md. */
async function docConfig(): Promise<string> {
  const doc = await Deno.readTextFile(DOC);
  const at = doc.indexOf(MARKER);
  const block = at === -1 ? undefined : doc.slice(at).match(/^```\n([\s\S]*?)^```$/m)?.[1];
  if (block === undefined) throw new Error(`${DOC}: no config block after "${MARKER}"`);
  return block;
}

const CONFIG = why === undefined ? await docConfig() : "";
/** Where HAProxy connects to the backends from (the config's `source`): their --proxy-from. */
const BALANCER = CONFIG.match(/^ +source (\S+)$/m)?.[1] ?? "";
/** The doc's ports: the frontends, then the backends. */
const [WEB, TCP, BACKENDS] = [8080, 8081, [5001, 5002]];

/**
 * The doc's config with each `127.0.0.1:PORT` mapped by `ports`; a port the
 * map lacks fails, so the doc cannot grow a server the test does not start.
 */
function mapPorts(ports: Map<number, number>): string {
  return CONFIG.replace(/127\.0\.0\.1:(\d+)/g, (_, port) => {
    const to = ports.get(Number(port));
    if (to === undefined) throw new Error(`${DOC}'s config uses port ${port}: unknown to the test`);
    return `127.0.0.1:${to}`;
  });
}

/** The running fixture: HAProxy's two frontends and the backends behind it. */
interface Balanced {
  /** The `mode http` frontend's port. */
  web: number;
  /** The `mode tcp` frontend's port. */
  tcp: number;
  /** `serve --http` web-1 and web-2. */
  servers: HttpServe[];
}

/** Runs `body` with the doc's HAProxy in front of web-1 and web-2, `serve --http ARGS`. */
async function withDocBalancer(args: string[], body: (balanced: Balanced) => Promise<void>) {
  const servers = await Promise.all(
    [1, 2].map((i) => spawnHttpServe(["--instance", `web-${i}`, "-g", "0", ...args])),
  );
  const tcp = freePort();
  const ports = new Map([
    [TCP, tcp],
    ...BACKENDS.map((port, i): [number, number] => [port, Number(servers[i].port)]),
  ]);
  await behindHaproxy(
    (web) => mapPorts(new Map([...ports, [WEB, web]])),
    async () => {
      for (const server of servers) assert.equal(await server.stop(), EXIT.ok);
    },
    (web) => body({ web, tcp, servers }),
  );
}

/** The request description: only what these tests read. */
interface Description {
  instance: string;
  headers: [string, string][];
  peer: { address: string; port: number };
  client?: { address: string; port: number };
  connection: { id: number; request: number };
}

/** GETs `/` on `conn` (to `port`) asking for the JSON description; `headers` added. */
async function describe(
  conn: Deno.TcpConn,
  port: number,
  headers: [string, string][] = [],
): Promise<Description> {
  const host = `127.0.0.1:${port}`;
  const reply = await withTimeout(
    request(conn, { host, headers: [["Accept", "application/json"], ...headers] }),
    WAIT_MS,
    `a reply from ${host}`,
  );
  const body = new TextDecoder().decode(await withTimeout(reply.body.bytes(), WAIT_MS, "a body"));
  assert.equal(reply.status, 200, body);
  return JSON.parse(body);
}

/** Runs `body` with a connection to 127.0.0.1:`port`, closed after. */
async function connected<T>(port: number, body: (conn: Deno.TcpConn) => Promise<T>): Promise<T> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    return await body(conn);
  } finally {
    conn.close();
  }
}

/** Asserts that `description` names `conn` as the client and HAProxy's connection as the peer. */
function assertThroughBalancer(description: Description, conn: Deno.TcpConn) {
  const own = { address: "127.0.0.1", port: conn.localAddr.port };
  assert.deepEqual(description.client, own, "the client is the test's own socket");
  assert.equal(description.peer.address, BALANCER, "the peer is HAProxy's connection");
}

const PROXIED = ["--proxy-protocol", "--proxy-from"];

/**
 * A test of `body` behind the doc's balancer, over `serve --http ARGS`
 * (by default the PROXY header read from {@linkcode BALANCER} only);
 * ignored, named with the reason, when `reason` is set.
 */
function balancerTest(
  name: string,
  body: (balanced: Balanced) => Promise<void>,
  { args = [...PROXIED, BALANCER], reason = why }: { args?: string[]; reason?: string } = {},
) {
  Deno.test({
    name: name + skipped(reason),
    ignore: reason !== undefined,
    fn: () => withDocBalancer(args, body),
  });
}

balancerTest(
  "HAProxy mode tcp, send-proxy-v2 to two serve --http --proxy-protocol: each " +
    "description's client is the test's own socket, its peer HAProxy's",
  async ({ tcp }) => {
    const seen = [];
    for (let i = 0; i < 2; i++) {
      // Two requests per connection: one tunnel, one PROXY header, one backend.
      seen.push(
        await connected(tcp, async (conn) => {
          const [first, second] = [await describe(conn, tcp), await describe(conn, tcp)];
          for (const description of [first, second]) {
            assertThroughBalancer(description, conn);
            // A tunnel: the head arrives as sent, names' case and all, nothing added.
            assert.deepEqual(description.headers, [
              ["Host", `127.0.0.1:${tcp}`],
              ["Accept", "application/json"],
            ]);
          }
          assert.deepEqual(second.peer, first.peer, "one connection to the backend");
          assert.notEqual(first.peer.port, conn.localAddr.port);
          assert.deepEqual([first.connection.request, second.connection.request], [1, 2]);
          assert.equal(second.instance, first.instance);
          return first.instance;
        }),
      );
    }
    assert.deepEqual(seen.sort(), ["web-1", "web-2"], "round robin per connection");
  },
);

balancerTest(
  "HAProxy mode http, send-proxy-v2: each request of two kept-alive connections, " +
    "balanced per request, names its own client, never the other's",
  async ({ web }) => {
    const instances: string[] = [];
    const connect = () => Deno.connect({ hostname: "127.0.0.1", port: web });
    const [a, b] = [await connect(), await connect()];
    try {
      // While A stays open, its server connections (each opened with A's header) idle on
      // both instances when B's requests go there: B must not be given them.
      for (const conn of [a, a, b, b]) {
        const description = await describe(conn, web);
        assertThroughBalancer(description, conn);
        instances.push(description.instance);
      }
    } finally {
      a.close();
      b.close();
    }
    assert.equal(new Set(instances).size, 2, `${instances}`);
    assert.deepEqual(instances.slice(2), instances.slice(0, 2), "round robin per request");
  },
);

balancerTest(
  "HAProxy mode http, option forwardfor: X-Forwarded-For is appended after the " +
    "client's own, in arrival order",
  async ({ web }) => {
    await connected(web, async (conn) => {
      const alone = await describe(conn, web);
      const forwarded = await describe(conn, web, [["X-Forwarded-For", "198.51.100.7"]]);
      // HAProxy's HTTP mode writes header names in lower case.
      assert.deepEqual(alone.headers, [
        ["host", `127.0.0.1:${web}`],
        ["accept", "application/json"],
        ["x-forwarded-for", "127.0.0.1"],
      ]);
      assert.deepEqual(forwarded.headers, [
        ["host", `127.0.0.1:${web}`],
        ["accept", "application/json"],
        ["x-forwarded-for", "198.51.100.7"],
        ["x-forwarded-for", "127.0.0.1"],
      ]);
    });
  },
);

balancerTest(
  "HAProxy send-proxy-v2 to serve --http without --proxy-protocol: the client gets " +
    "its 400, in mode tcp and mode http",
  async ({ web, tcp }) => {
    for (const port of [tcp, web]) {
      await connected(port, async (conn) => {
        const host = `127.0.0.1:${port}`;
        const reply = await withTimeout(request(conn, { host }), WAIT_MS, "the 400");
        const body = new TextDecoder().decode(await reply.body.bytes());
        assert.equal(reply.status, 400, `through ${port}: ${body}`);
        // The v2 signature's CRLFs are blank lines; its NUL is no request line.
        assert.match(body, /^bad request: request line "\\u0000" /);
        const instance = reply.headers.find(([name]) => /^x-echo-instance$/i.test(name));
        assert.match(instance?.[1] ?? "", /^web-[12]$/, "sockecho's 400, not HAProxy's");
      });
    }
  },
  { args: [] },
);

balancerTest(
  "serve --http --proxy-from HAProxy's address: a PROXY header forged by a client " +
    "elsewhere is refused before any reply, HAProxy's is read",
  async ({ tcp, servers: [server] }) => {
    const port = +server.port!;
    const forged = encodeProxyHeader(
      2,
      { hostname: "203.0.113.9", port: 4000 },
      { hostname: "127.0.0.1", port },
    );
    const get = new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    const own = await connected(port, async (conn) => {
      // The server may close (even reset) before the write: what matters is what comes back.
      await writeAll(conn, new Uint8Array([...forged, ...get])).catch(() => {});
      const reply = await readToEnd(conn).catch((error) => {
        if (error instanceof Deno.errors.ConnectionReset) return new Uint8Array();
        throw error;
      });
      assert.equal(reply.length, 0, `no reply: ${new TextDecoder().decode(reply)}`);
      return conn.localAddr.port;
    });
    const address = `127\\.0\\.0\\.1:${own}`;
    await server.out.match(
      new RegExp(
        `^${address} closed: 0 bytes in and out in [\\d.]+ s ` +
          `\\(${address} may not send a PROXY header \\(not in --proxy-from\\)\\)$`,
      ),
    );
    // Through the balancer, from BALANCER, both servers (this one too) read the header.
    const instances = [];
    for (let i = 0; i < 2; i++) {
      instances.push(
        await connected(tcp, async (conn) => {
          const description = await describe(conn, tcp);
          assertThroughBalancer(description, conn);
          return description.instance;
        }),
      );
    }
    assert.deepEqual(instances.sort(), ["web-1", "web-2"]);
    assert.ok(!server.out.lines.some((line) => line.includes("203.0.113.9")), "never the forger");
  },
);

balancerTest(
  "send --ws through HAProxy mode http (PROXY v2 behind it): the echo verified, and " +
    "six WebSockets with --reconnect even over the two instances",
  async ({ web }) => {
    const url = `ws://127.0.0.1:${web}/`;
    const one = await sockecho("send", "--ws", url);
    assert.equal(one.code, EXIT.ok, one.stderr);
    const lines = one.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 4, one.stdout);
    assert.match(lines[0], /^server message: /);
    assert.deepEqual(lines.slice(1, 3), [
      "status: 101 Switching Protocols",
      "protocol: WebSocket",
    ]);
    assert.match(lines[3], /^instance: web-[12]$/);
    const each = ["-c", "6", "-i", "0", "--reconnect", "--json"];
    const series = await sockecho("send", "--ws", url, ...each);
    assert.equal(series.code, EXIT.ok, series.stderr);
    const { spread } = JSON.parse(series.stdout.trimEnd().split("\n").at(-1)!);
    for (const view of [spread.perRequest, spread.perConnection]) {
      const counts = view.instances.map((row: { instance: string; count: number }) => [
        row.instance,
        row.count,
      ]);
      assert.deepEqual(counts.sort(), [["web-1", 3], ["web-2", 3]]);
      assert.equal(view.imbalance.pValue, 1);
    }
  },
);

const noPython = why ?? noPythonWebsockets;

balancerTest(
  "Python websockets through HAProxy mode http: text, 256 byte values, 1 MiB, a pong " +
    "and its close code back from a serve --http",
  async ({ web }) => {
    const { instance, ...out } = await python(PYTHON_ECHO, `ws://127.0.0.1:${web}/py`);
    assert.match(String(instance), /^web-[12]$/);
    assert.deepEqual(out, {
      text: "héllo, wörld",
      binary: [...ALL_BYTES],
      big: [1 << 20, true, true],
      pong: true,
      close: [4001, "bye"],
    });
  },
  { reason: noPython },
);

const noWrk = why ?? needs(await hasCommand("wrk"), "wrk");

/** wrk's counts from its report: requests done, socket errors, replies of 400 and above. */
function wrkCounts(report: string) {
  const requests = report.match(/^ +(\d+) requests in [\d.]+\w+, /m);
  assert.ok(requests, report);
  // wrk prints these two lines only when they are not zero.
  const errors = report.match(
    /^ +Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)$/m,
  );
  const errorStatus = report.match(/^ +Non-2xx or 3xx responses: (\d+)$/m);
  return {
    requests: Number(requests[1]),
    socketErrors: errors ? errors.slice(1).map(Number) : [0, 0, 0, 0],
    errorStatus: errorStatus ? Number(errorStatus[1]) : 0,
  };
}

Deno.test({
  name: "wrk -t1 -c4 -d1s through HAProxy mode http to two serve --http: no socket errors, " +
    "every reply a 200, both instances used" + skipped(noWrk),
  ignore: noWrk !== undefined,
  async fn() {
    let servers: HttpServe[] = [];
    let counts: ReturnType<typeof wrkCounts> | undefined;
    // Every request logged (the default is 100 lines a second), so the logs can be counted.
    const args = [...PROXIED, BALANCER, "--log-rate", "1000000"];
    await withDocBalancer(args, async (balanced) => {
      servers = balanced.servers;
      const url = `http://127.0.0.1:${balanced.web}/`;
      const wrk = spawn("wrk", ["-t1", "-c4", "-d1s", "--timeout", "5s", url]);
      assert.equal(await wrk.finish(WAIT_MS), 0, wrk.err.lines.join("\n"));
      counts = wrkCounts(wrk.out.lines.join("\n"));
    });
    assert.deepEqual(counts!.socketErrors, [0, 0, 0, 0], "connect, read, write, timeout");
    assert.equal(counts!.errorStatus, 0);
    // Each server logs every request it answered, with its status: all 200s, both used.
    const served = servers.map((server) =>
      server.out.lines.filter((line) => / GET \/ HTTP\/1\.1: /.test(line))
    );
    for (const lines of served) {
      assert.ok(lines.length > 0, "both instances served");
      assert.deepEqual(lines.filter((line) => !/ HTTP\/1\.1: 200, /.test(line)), []);
    }
    // wrk counts what it finished; at most its 4 connections' last requests were cut off.
    const total = served[0].length + served[1].length;
    assert.ok(
      total >= counts!.requests && total <= counts!.requests + 4,
      `${total} vs ${counts!.requests}`,
    );
  },
});
