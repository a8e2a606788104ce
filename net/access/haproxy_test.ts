/**
 * sockecho behind a real load balancer: HAProxy (Debian's `haproxy`) in
 * front of two `serve --proxy-protocol` backends, speaking PROXY v2 to them;
 * and in HTTP mode in front of three `serve --http`, where `send --http`'s
 * spread table tells round robin from source stickiness. Ignored, and named
 * so, where haproxy is not installed or may not be run.
 */
import assert from "node:assert/strict";
import { writeAll } from "../io.ts";
import { EXIT } from "../../main.ts";
import {
  concat,
  echoOf,
  pattern,
  readToEnd,
  startServe,
  withServer,
  withTimeout,
} from "../../cli/test_util.ts";
import { canRun, freePort, hasCommand, sockecho } from "../../cli/test_util_process.ts";
import { spawnHttpServe } from "../../cli/test_util_http_stub.ts";

/** haproxy's path, or undefined: it lives in /usr/sbin, often not on a user's PATH. */
async function findHaproxy(): Promise<string | undefined> {
  if (!canRun) return undefined;
  const { success, stdout } = await new Deno.Command("sh", {
    args: ["-c", "command -v haproxy || command -v /usr/sbin/haproxy"],
    stderr: "null",
  }).output();
  return success ? new TextDecoder().decode(stdout).trim() : undefined;
}

const HAPROXY = await findHaproxy();

/**
 * HAProxy's config: TCP mode, round robin over `backends`, PROXY v2 with a
 * CRC32C TLV; `clientTimeout` is how long it keeps a connection whose client
 * is idle (no `timeout tunnel`, so that is the idle timeout a client sees).
 */
function haproxyConfig(frontendPort: number, backends: string[], clientTimeout = "30s"): string {
  return [
    "global",
    "  nbthread 1",
    "defaults",
    "  mode tcp",
    "  timeout connect 5s",
    `  timeout client ${clientTimeout}`,
    "  timeout server 30s",
    "frontend echo",
    `  bind 127.0.0.1:${frontendPort}`,
    "  default_backend sockecho",
    "backend sockecho",
    "  balance roundrobin",
    ...backends.map((port, i) =>
      `  server echo${i + 1} 127.0.0.1:${port} send-proxy-v2 proxy-v2-options crc32c`
    ),
    "",
  ].join("\n");
}

/** Runs haproxy in the foreground with `config`; `stop` kills it and returns what it printed. */
async function startHaproxy(config: string) {
  const file = await Deno.makeTempFile({ prefix: "sockecho-haproxy-", suffix: ".cfg" });
  await Deno.writeTextFile(file, config);
  const child = new Deno.Command(HAPROXY!, {
    args: ["-db", "-f", file],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = Promise.all(
    [child.stdout, child.stderr].map((stream) => new Response(stream).text()),
  );
  let exited = false;
  const status = child.status.finally(() => exited = true);
  return {
    get exited() {
      return exited;
    },
    async stop() {
      if (!exited) child.kill("SIGTERM");
      await status;
      await Deno.remove(file);
      return (await output).join("");
    },
  };
}

/** Connects once haproxy listens on `port`: polled, since it announces nothing when ready. */
async function connectWhenListening(port: number, haproxy: { exited: boolean }) {
  const deadline = performance.now() + 10_000;
  for (;;) {
    try {
      return await Deno.connect({ hostname: "127.0.0.1", port });
    } catch (error) {
      if (haproxy.exited || performance.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

Deno.test({
  name: HAPROXY
    ? "HAProxy in front of two serve --proxy-protocol backends: exact echoes, real clients, both used"
    : "HAProxy in front of two serve --proxy-protocol backends (ignored: no haproxy, or no --allow-run)",
  ignore: HAPROXY === undefined,
  async fn() {
    const text = await startServe("--proxy-protocol");
    const json = await startServe("--proxy-protocol", "--log-format", "json");
    const frontend = freePort();
    const haproxy = await startHaproxy(haproxyConfig(frontend, [text.port, json.port]));
    let haproxyOutput = "";
    try {
      const clients: number[] = [];
      for (let i = 0; i < 6; i++) {
        const conn = await connectWhenListening(frontend, haproxy);
        try {
          clients.push(conn.localAddr.port);
          const message = concat([
            new TextEncoder().encode(`echo ${i}\n`),
            pattern(i * 100_000, i),
          ]);
          const [, echo] = await withTimeout(
            Promise.all([writeAll(conn, message).then(() => conn.closeWrite()), readToEnd(conn)]),
            30_000,
            `echo ${i} through haproxy`,
          );
          assert.equal(echo.length, message.length, `echo ${i} length`);
          assert.deepEqual(echo, message, `echo ${i} is byte-exact`);
        } finally {
          conn.close();
        }
      }
      // Each backend logs the client's own address and port, not haproxy's.
      const byText = clients.filter((port) =>
        text.out.some((line) =>
          line.startsWith(`You got a connection from client's ip 127.0.0.1, port ${port} via `)
        )
      );
      const byJson = clients.filter((port) =>
        json.out.some((line) =>
          line.includes(`"event":"open"`) && line.includes(`"peer":"127.0.0.1:${port}"`)
        )
      );
      assert.deepEqual(
        [...byText, ...byJson].sort(),
        [...clients].sort(),
        "every client logged once",
      );
      assert.ok(
        byText.length > 0 && byJson.length > 0,
        `round robin used both: ${byText} / ${byJson}`,
      );
      for (const port of byJson) {
        const close = await withTimeout(
          json.printed(new RegExp(`^\\{.*"event":"close".*"peer":"127\\.0\\.0\\.1:${port}".*\\}$`)),
          10_000,
          `close of ${port}`,
        );
        const event = JSON.parse(close[0]);
        assert.equal(event.reason, "client_fin");
        assert.notEqual(event.proxy, event.peer, "the proxy is haproxy's own connection");
        assert.equal(event.bytes_in, event.bytes_out);
      }
    } finally {
      haproxyOutput = await haproxy.stop();
      assert.equal(await text.stopped(), EXIT.ok);
      assert.equal(await json.stopped(), EXIT.ok);
    }
    assert.doesNotMatch(haproxyOutput, /ALERT/, haproxyOutput);
  },
});

const SOCAT = await hasCommand("socat");

Deno.test({
  name: SOCAT
    ? "a health check that resets before it is accepted is no accept error"
    : "a health check that resets before it is accepted is no accept error (ignored: no socat, or no --allow-run)",
  ignore: !SOCAT,
  async fn() {
    const acceptErrors: Error[] = [];
    await withServer({ onAcceptError: (error) => acceptErrors.push(error) }, async ({ addr }) => {
      // Run synchronously, so the accept loop cannot take the connection before its reset,
      // as with HAProxy's TCP checks (connect, then close with SO_LINGER 0).
      const check = new Deno.Command("socat", {
        args: ["-u", "/dev/null", `TCP:127.0.0.1:${addr.port},linger=0`],
        stderr: "null",
      }).outputSync();
      assert.equal(check.code, 0);
      // Accepted in order: once this one is served, the reset one was dealt with.
      const hello = new TextEncoder().encode("after the check");
      assert.deepEqual(await withTimeout(echoOf(addr.port, hello), 10_000, "echo"), hello);
    });
    assert.deepEqual(acceptErrors, []);
  },
});

/**
 * Runs `body` with HAProxy listening on a free frontend port with the
 * config `configFor(frontend)` makes; then stops it and `stopBackends()`.
 */
async function behindHaproxy(
  configFor: (frontend: number) => string,
  stopBackends: () => Promise<void>,
  body: (frontend: number) => Promise<void>,
) {
  const frontend = freePort();
  const haproxy = await startHaproxy(configFor(frontend));
  let haproxyOutput = "";
  try {
    (await connectWhenListening(frontend, haproxy)).close();
    await body(frontend);
  } finally {
    haproxyOutput = await haproxy.stop();
    await stopBackends();
  }
  assert.doesNotMatch(haproxyOutput, /ALERT/, haproxyOutput);
}

/**
 * Runs `body` with HAProxy (`timeout client` = `clientTimeout`) listening on
 * a frontend port, in front of one `serve --proxy-protocol` backend.
 */
async function withHaproxy(clientTimeout: string, body: (frontend: number) => Promise<void>) {
  const backend = await startServe("--proxy-protocol");
  await behindHaproxy(
    (frontend) => haproxyConfig(frontend, [backend.port], clientTimeout),
    async () => assert.equal(await backend.stopped(), EXIT.ok),
    body,
  );
}

Deno.test({
  name: HAPROXY
    ? "check --idle finds HAProxy's 2 s client timeout within 10 % and exits 19"
    : "check --idle finds HAProxy's 2 s client timeout (ignored: no haproxy, or no --allow-run)",
  ignore: HAPROXY === undefined,
  async fn() {
    await withHaproxy("2s", async (frontend) => {
      const { code, stdout: out, stderr: err } = await sockecho(
        "check",
        "127.0.0.1",
        "-p",
        `${frontend}`,
        "--idle",
        "5",
        "--json",
      );
      assert.equal(code, EXIT.idleCut, err);
      const report = JSON.parse(out);
      assert.ok(
        report.shortestCutS >= 1.8 && report.shortestCutS <= 2.2,
        `shortest cut ${report.shortestCutS} s`,
      );
      // HAProxy closes an idle client with a FIN; flows idle well under 2 s survive.
      const flows: { idleS: number; survived: boolean; death: string | null }[] = report.flows;
      assert.ok(flows.filter((flow) => flow.idleS <= 1.5).every((flow) => flow.survived));
      assert.ok(flows.filter((flow) => flow.idleS >= 2.5).every((flow) => flow.death === "fin"));
    });
  },
});

Deno.test({
  name: HAPROXY
    ? "send --count 5 through HAProxy to serve --proxy-protocol: every probe exact"
    : "send --count 5 through HAProxy (ignored: no haproxy, or no --allow-run)",
  ignore: HAPROXY === undefined,
  async fn() {
    await withHaproxy("30s", async (frontend) => {
      const { code, stdout: out, stderr: err } = await sockecho(
        "send",
        "127.0.0.1",
        "-p",
        `${frontend}`,
        "--count",
        "5",
        "--interval",
        "0.05",
        "--size",
        "100000",
      );
      assert.equal(code, EXIT.ok, err);
      const lines = out.trimEnd().split("\n");
      for (let seq = 1; seq <= 5; seq++) {
        assert.match(
          lines[seq - 1],
          new RegExp(`^100000 bytes from 127\\.0\\.0\\.1:${frontend}: seq=${seq} time=[\\d.]+ ms$`),
        );
      }
      assert.equal(lines[6], "5 sent, 5 echoed, 0 failed");
    });
  },
});

/** HAProxy's config for HTTP: `balance` over `backends`, each request balanced (keep-alive). */
function haproxyHttpConfig(frontendPort: number, backends: string[], balance: string): string {
  return [
    "global",
    "  nbthread 1",
    "defaults",
    "  mode http",
    "  timeout connect 5s",
    "  timeout client 30s",
    "  timeout server 30s",
    "frontend web",
    `  bind 127.0.0.1:${frontendPort}`,
    "  default_backend echo",
    "backend echo",
    `  balance ${balance}`,
    ...backends.map((port, i) => `  server web${i + 1} 127.0.0.1:${port}`),
    "",
  ].join("\n");
}

/**
 * Runs `body` with HAProxy (`balance`) in front of three `serve --http`
 * instances named web-1, web-2 and web-3, and the frontend's port.
 */
async function withHttpBalancer(balance: string, body: (frontend: number) => Promise<void>) {
  const servers = await Promise.all(
    [1, 2, 3].map((i) => spawnHttpServe(["--instance", `web-${i}`, "-g", "0"])),
  );
  await behindHaproxy(
    (frontend) => haproxyHttpConfig(frontend, servers.map((server) => server.port!), balance),
    async () => {
      for (const server of servers) assert.equal(await server.stop(), EXIT.ok);
    },
    body,
  );
}

/** The lines after a series' summary, from "spread per request" on. */
const spreadTable = (stdout: string) =>
  stdout.slice(stdout.indexOf("spread per request")).trimEnd();

Deno.test({
  name: HAPROXY
    ? "HAProxy balance roundrobin over three serve --http: the spread table shows an even split, p = 1"
    : "HAProxy balance roundrobin over three serve --http (ignored: no haproxy, or no --allow-run)",
  ignore: HAPROXY === undefined,
  async fn() {
    await withHttpBalancer("roundrobin", async (frontend) => {
      // One kept-alive connection, each request balanced: even per request, one per connection.
      const kept = await sockecho("send", `http://127.0.0.1:${frontend}/`, "-c", "9", "-i", "0");
      assert.equal(kept.code, EXIT.ok, kept.stderr);
      const table = spreadTable(kept.stdout).split("\n");
      assert.equal(table[0], "spread per request: 9 replies from 3 instances");
      assert.deepEqual(table.slice(2, 5).map((row) => row.split(/\s+/).slice(1, 4)), [
        ["web-1", "3", "33.3"],
        ["web-2", "3", "33.3"],
        ["web-3", "3", "33.3"],
      ]);
      assert.equal(table[5], "spread per connection: the first reply of each of 1 connection");
      assert.equal(table.length, 9);
      assert.equal(
        table[8],
        "imbalance: max/min share 1.00, chi-square 0.00 (df 2), p = 1.000: consistent with an even spread",
      );
      // A WebSocket per probe: the connections are balanced, so both spreads are even.
      const args = ["send", "--ws", `127.0.0.1:${frontend}`, "-c", "6", "-i", "0", "--reconnect"];
      const ws = await sockecho(...args, "--json");
      assert.equal(ws.code, EXIT.ok, ws.stderr);
      const { spread } = JSON.parse(ws.stdout.trimEnd().split("\n").at(-1)!);
      for (const view of [spread.perRequest, spread.perConnection]) {
        assert.deepEqual(view.instances.map((i: { count: number }) => i.count), [2, 2, 2]);
        assert.equal(view.imbalance.pValue, 1);
      }
    });
  },
});

Deno.test({
  name: HAPROXY
    ? "HAProxy balance source over three serve --http: every reply from one instance"
    : "HAProxy balance source over three serve --http (ignored: no haproxy, or no --allow-run)",
  ignore: HAPROXY === undefined,
  async fn() {
    await withHttpBalancer("source", async (frontend) => {
      const url = `http://127.0.0.1:${frontend}/`;
      const { code, stdout, stderr } = await sockecho(
        "send",
        url,
        "-c",
        "6",
        "-i",
        "0",
        "--reconnect",
      );
      assert.equal(code, EXIT.ok, stderr);
      const table = spreadTable(stdout).split("\n");
      assert.equal(table[0], "spread per request: 6 replies from 1 instance");
      assert.match(table[2], /^ {2}web-[123] {11}6 {2}100\.0 % /);
      assert.equal(table[3], "spread per connection: the first reply of each of 6 connections");
      assert.equal(table.at(-1), "imbalance: one instance answered all 6 replies");
    });
  },
});
