/**
 * `sockecho serve --http`: in-process through `main` (its log lines, its
 * ledger, its usage errors, its help), and as a real process with real
 * clients: curl (keep-alive, exact and large bodies, TLS, the PROXY
 * protocol), nc (garbage gets a 400), Python's websockets, wrk (a short
 * bounded load), and SIGTERM's drain (/readyz answers 503).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { EXIT } from "../../main.ts";
import { pattern, runMain, startServe, WAIT_MS, withTimeout } from "../test_util.ts";
import { rawExchange } from "../test_util_http.ts";
import {
  canRun,
  CHILD_ENV,
  hasCommand,
  needs,
  runWithInput,
  skipped,
  type Spawned,
  spawnServe,
  spawnSockecho,
} from "../test_util_process.ts";
import { outputOf } from "../test_util.ts";

const haveCurl = await hasCommand("curl");
const haveNc = await hasCommand("nc");
const haveWrk = await hasCommand("wrk");
const python = "/usr/bin/python3";
const havePythonWebsockets = canRun &&
  (await outputOf(python, { args: ["-c", "import websockets"], stdout: "null", stderr: "null" })
    .then((output) => output.success, () => false));

const GET = (path: string) => `GET ${path} HTTP/1.1\r\nHost: test\r\n\r\n`;

/** Runs `body` with `sockecho serve ARGS` as a process, then SIGTERMs it: it must exit 0. */
async function withServeProcess(
  args: string[],
  body: (server: Spawned & { port: string }) => Promise<void>,
): Promise<void> {
  const server = await spawnServe(...args);
  try {
    await body(server);
  } finally {
    server.child.kill("SIGTERM");
    assert.equal(await server.finish(), EXIT.ok);
  }
}

/** Runs curl with `args` to its end; resolves with its exit code and stdout. */
async function curl(
  ...args: string[]
): Promise<{ code: number; stdout: Uint8Array; text: string }> {
  const { code, stdout } = await outputOf("curl", {
    args: ["-s", ...args],
    stdin: "null",
    env: CHILD_ENV,
    clearEnv: true,
  });
  return { code, stdout, text: new TextDecoder().decode(stdout) };
}

Deno.test("main serve --http logs one line per request, names its instance, and stops", async () => {
  const server = await startServe("--http", "-g", "0", "--instance", "web-1");
  assert.match(server.out[0], /^Listening on 127\.0\.0\.1:\d+ \(HTTP, instance web-1\)$/);
  const logged = server.printed(/ GET \/a\?x=1 HTTP\/1\.1: 200, 0 bytes in, \d+ out$/);
  const replies = await rawExchange(Number(server.port), GET("/a?x=1") + GET("/healthz"), 2);
  assert.equal(replies[0].header("x-echo-instance"), "web-1");
  await logged;
  await server.printed(/ GET \/healthz HTTP\/1\.1: 200, 0 bytes in, \d+ out$/);
  assert.equal(await server.stopped(), EXIT.ok);
  assert.match(server.err.at(-1)!, /^stopped: 1 connection, [\d,]+ bytes in and out$/);
});

Deno.test("main serve --http logs a refused request in one line", async () => {
  const server = await startServe("--http", "-g", "0");
  const [reply] = await rawExchange(
    Number(server.port),
    "GET / HTTP/1.1\r\nHost: a\r\nnope\r\n\r\n",
  );
  assert.equal(reply.status, 400);
  await server.printed(/^127\.0\.0\.1:\d+ refused: 400 header line without a colon$/);
  assert.equal(await server.stopped(), EXIT.ok);
  assert.equal(server.out.filter((line) => line.includes("refused")).length, 1);
});

Deno.test("the ledger's request event carries the reply's description, status and bytes", async () => {
  const server = await startServe(
    "--http",
    "-g",
    "0",
    "--log-format",
    "json",
    "--instance",
    "ledger-1",
  );
  const listening = JSON.parse(server.out[0]);
  assert.equal(listening.protocol, "http");
  assert.equal(listening.instance, "ledger-1");
  const seen = server.printed(/"event":"request"/);
  const body = "hello ledger";
  const [reply] = await rawExchange(
    Number(server.port),
    `POST /l?k=v HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    1,
  );
  const event = JSON.parse((await seen).input!);
  const { time: _time, event: name, transport, id, local, status, bytes_out, ...description } =
    event;
  assert.equal(name, "request");
  assert.equal(transport, "tcp");
  assert.equal(id, 1);
  assert.match(local, /^127\.0\.0\.1:\d+$/);
  assert.equal(status, 200);
  assert.ok(bytes_out > reply.body.length);
  assert.deepEqual(description, JSON.parse(reply.text));
  assert.equal(description.body.data, body);
  assert.equal(await server.stopped(), EXIT.ok);
  const closed = server.out.map((line) => JSON.parse(line)).find((line) => line.event === "close");
  assert.equal(typeof closed.bytes, "number");
  assert.equal(closed.bytes_in, undefined);
});

Deno.test("serve: HTTP options without --http, or bad values, are usage errors", async () => {
  const cases: [string[], RegExp][] = [
    [["--instance", "a"], /^--instance needs --http/],
    [["--max-delay", "1"], /^--max-delay needs --http/],
    [["--ws-ping", "1"], /^--ws-ping needs --http/],
    [["--http", "--instance", "two words"], /^invalid --instance "two words": use visible ASCII/],
    [["--http", "--max-body", "x"], /^invalid --max-body "x"/],
    [["--http", "--max-delay", "soon"], /^invalid --max-delay "soon"/],
  ];
  for (const [args, message] of cases) {
    const { code, err } = await runMain(["serve", "-H", "127.0.0.1", "-p", "0", ...args]);
    assert.equal(code, EXIT.usage, args.join(" "));
    assert.match(err[0], message);
  }
});

Deno.test("serve --help documents every HTTP flag and the reserved paths", async () => {
  const { out } = await runMain(["serve", "--help"]);
  const help = out.join("\n");
  for (
    const flag of [
      "--http",
      "--instance NAME",
      "--max-echo-body BYTES",
      "--max-body BYTES",
      "--max-delay SECONDS",
      "--max-size BYTES",
      "--ws-ping SECONDS",
      "--max-ws-message BYTES",
    ]
  ) assert.ok(help.includes(flag), flag);
  assert.match(help, /\/healthz/);
  assert.match(help, /\/readyz/);
});

Deno.test("serve --http keeps an idle keep-alive connection only --idle-timeout long", async () => {
  const server = await startServe("--http", "-g", "0", "--idle-timeout", "0.2");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(server.port) });
  try {
    await conn.write(new TextEncoder().encode(GET("/")));
    const reply = new Uint8Array(4096);
    assert.ok((await conn.read(reply))! > 0);
    const closed = await withTimeout(conn.read(reply), 5000, "the idle close");
    assert.equal(closed, null);
  } finally {
    conn.close();
  }
  await server.printed(/closed: .* \(idle for 0\.2 s\)$/);
  assert.equal(await server.stopped(), EXIT.ok);
});

// The real program as a process, with real clients.

Deno.test({
  name: "cli: curl gets two replies on one keep-alive connection" +
    skipped(needs(haveCurl, "curl")),
  ignore: !haveCurl,
  async fn() {
    await withServeProcess(["--http", "-g", "0"], async (server) => {
      const base = `http://127.0.0.1:${server.port}`;
      const { code, text } = await curl(`${base}/one`, `${base}/two?x=1`);
      assert.equal(code, 0);
      const replies = text.trim().split(/\n(?=\{)/).map((reply) => JSON.parse(reply));
      assert.deepEqual(replies.map((reply) => reply.path), ["/one", "/two"]);
      assert.deepEqual(replies.map((reply) => reply.connection), [{ id: 1, request: 1 }, {
        id: 1,
        request: 2,
      }]);
      assert.equal(replies[1].headers[0][0], "Host");
    });
  },
});

Deno.test({
  name: "cli: curl's POST body comes back exact (raw), a large file streamed and digested" +
    skipped(needs(haveCurl, "curl")),
  ignore: !haveCurl,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await withServeProcess(["--http", "-q", "-g", "0"], (server) => curlBodies(server.port, dir));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** curl's raw POST of all 256 byte values and of 24 MiB, and the JSON of the 24 MiB. */
async function curlBodies(port: string, dir: string): Promise<void> {
  const base = `http://127.0.0.1:${port}`;
  const small = new Uint8Array(256).map((_, i) => i);
  await Deno.writeFile(`${dir}/small`, small);
  const raw = await curl(
    "-H",
    "Accept: application/octet-stream",
    "--data-binary",
    `@${dir}/small`,
    `${base}/up`,
  );
  assert.deepEqual(raw.stdout, small);
  const large = pattern(24 * 1024 * 1024, 3);
  await Deno.writeFile(`${dir}/large`, large);
  const echoed = await curl("--data-binary", `@${dir}/large`, `${base}/up?format=raw`);
  assert.equal(echoed.stdout.length, large.length);
  assert.ok(echoed.stdout.every((byte, i) => byte === large[i]), "the large echo is exact");
  const described = JSON.parse(
    (await curl("--data-binary", `@${dir}/large`, `${base}/up`)).text,
  );
  assert.deepEqual(described.body, {
    bytes: large.length,
    sha256: createHash("sha256").update(large).digest("hex"),
    truncated: true,
  });
}

Deno.test({
  name: "cli: garbage sent with nc gets a 400, Connection: close, and one log line" +
    skipped(needs(haveNc, "nc")),
  ignore: !haveNc,
  async fn() {
    await withServeProcess(["--http", "-g", "0"], async (server) => {
      const input = new TextEncoder().encode("\x00\x01 hello there\r\n\r\n");
      const { stdout } = await runWithInput("nc", ["-q", "2", "127.0.0.1", server.port], input);
      const reply = new TextDecoder().decode(stdout);
      assert.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.match(reply, /\r\nConnection: close\r\n/);
      assert.match(
        reply,
        /\r\n\r\nbad request: method "\\u0000\\u0001" is not a token\n$/,
      );
      await server.out.match(/ refused: 400 method /);
      assert.equal(server.out.lines.filter((line) => line.includes(" refused: ")).length, 1);
    });
  },
});

Deno.test({
  name: "cli: after SIGTERM /readyz answers 503 for the grace, /healthz 200, replies close" +
    skipped(needs(haveCurl, "curl")),
  ignore: !haveCurl,
  async fn() {
    const server = await spawnServe("--http", "-g", "2");
    const base = `http://127.0.0.1:${server.port}`;
    assert.equal((await curl(`${base}/readyz`)).text, "ready\n");
    assert.equal((await curl(`${base}/healthz`)).text, "ok\n");
    const started = performance.now();
    server.child.kill("SIGTERM");
    await server.err.match(/^sockecho: draining: \/readyz answers 503/);
    const readyz = await curl("-i", `${base}/readyz`);
    assert.match(readyz.text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.match(readyz.text, /\r\n\r\ndraining\n$/);
    assert.equal((await curl(`${base}/healthz`)).text, "ok\n");
    assert.match((await curl("-i", `${base}/work`)).text, /\r\nConnection: close\r\n/);
    assert.equal(await server.finish(), EXIT.ok);
    assert.ok(performance.now() - started >= 1900, "served through the grace");
    assert.match(server.err.lines.at(-1)!, /^sockecho: stopped: \d+ connections, /);
  },
});

Deno.test({
  name: "cli: serve --http under -N names itself sockecho-<6 hex>, with -S its host name",
  ignore: !canRun,
  async fn() {
    for (
      const [flags, instance] of [[[], /^sockecho-[0-9a-f]{6}$/], [
        ["--allow-sys=hostname"],
        null,
      ]] as const
    ) {
      const server = spawnSockecho(["serve", "--http", "-H", "127.0.0.1", "-p", "0", "-g", "0"], {
        denoFlags: [...flags],
      });
      try {
        const [, name] = await server.out.match(
          /^Listening on 127\.0\.0\.1:\d+ \(HTTP, instance (\S+)\)$/,
        );
        if (instance) assert.match(name, instance);
        else {
          const hostname = await outputOf("hostname", { args: [], stdin: "null" });
          assert.equal(name, new TextDecoder().decode(hostname.stdout).trim());
        }
      } finally {
        server.child.kill("SIGTERM");
        assert.equal(await server.finish(), EXIT.ok);
      }
      assert.deepEqual(server.err.lines.filter((line) => /prompt|permission/i.test(line)), []);
    }
  },
});

Deno.test({
  name: "cli: curl over --tls and through --proxy-protocol sees TLS and the client" +
    skipped(needs(haveCurl, "curl")),
  ignore: !haveCurl,
  async fn() {
    await withServeProcess(["--http", "--tls", "-g", "0"], async (tls) => {
      const reply = JSON.parse((await curl("-k", `https://127.0.0.1:${tls.port}/secure`)).text);
      assert.ok(reply.tls, "the description says the connection is TLS");
    });
    await withServeProcess(["--http", "--proxy-protocol", "-g", "0"], async (proxied) => {
      const reply = JSON.parse(
        (await curl("--haproxy-protocol", `http://127.0.0.1:${proxied.port}/`)).text,
      );
      assert.equal(reply.client.address, "127.0.0.1");
      assert.equal(reply.peer.address, "127.0.0.1");
      const direct = await curl(`http://127.0.0.1:${proxied.port}/`);
      assert.notEqual(direct.code, 0, "no PROXY header: the connection is closed");
    });
  },
});

Deno.test({
  name: "cli: --deny applies to HTTP as to the echo" +
    skipped(needs(haveCurl, "curl")),
  ignore: !haveCurl,
  async fn() {
    await withServeProcess(["--http", "--deny", "127.0.0.0/8", "-g", "0"], async (server) => {
      assert.notEqual((await curl(`http://127.0.0.1:${server.port}/`)).code, 0);
      await server.out.match(/^denied 127\.0\.0\.1:\d+ \(--allow\/--deny\)$/);
    });
  },
});

Deno.test({
  name: "cli: Python websockets gets its text and binary messages echoed" +
    skipped(havePythonWebsockets ? undefined : "needs /usr/bin/python3 with websockets"),
  ignore: !havePythonWebsockets,
  async fn() {
    await withServeProcess(["--http", "--instance", "ws-1", "-g", "0"], async (server) => {
      const script = `
import asyncio, sys, websockets
async def main():
    async with websockets.connect("ws://127.0.0.1:${server.port}/chat") as ws:
        await ws.send("héllo"); assert await ws.recv() == "héllo"
        await ws.send(bytes(range(256))); assert await ws.recv() == bytes(range(256))
        print(ws.response_headers["X-Echo-Instance"])
asyncio.run(main())`;
      const { code, stdout, stderr } = await outputOf(python, {
        args: ["-c", script],
        stdin: "null",
      });
      assert.equal(code, 0, new TextDecoder().decode(stderr));
      assert.equal(new TextDecoder().decode(stdout), "ws-1\n");
      await server.out.match(/ GET \/chat HTTP\/1\.1: 101, /);
    });
  },
});

Deno.test({
  name: "cli: wrk -t1 -c4 -d1s runs against serve --http without errors" +
    skipped(needs(haveWrk, "wrk")),
  ignore: !haveWrk,
  async fn() {
    await withServeProcess(["--http", "-q", "-g", "0"], async (server) => {
      const { code, stdout } = await outputOf("wrk", {
        args: ["-t1", "-c4", "-d1s", `http://127.0.0.1:${server.port}/bench`],
        stdin: "null",
      }, WAIT_MS);
      const report = new TextDecoder().decode(stdout);
      assert.equal(code, 0, report);
      const requests = Number(report.match(/(\d+) requests in/)?.[1] ?? 0);
      assert.ok(requests > 100, report);
      assert.doesNotMatch(report, /Socket errors|Non-2xx/, report);
    });
  },
});

Deno.test({
  name: "cli: curl --unix-socket reaches serve --http --unix; the client is unnamed" +
    skipped(needs(haveCurl, "curl")),
  ignore: !haveCurl,
  async fn() {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/http.sock`;
    const server = spawnSockecho(["serve", "--http", "--unix", path, "-g", "0"], {
      denoFlags: [`-R=${path}`, `-W=${path}`],
    });
    try {
      await server.out.match(new RegExp(`^Listening on ${path} \\(HTTP, instance \\S+\\)$`));
      const reply = JSON.parse((await curl("--unix-socket", path, "http://local/u")).text);
      assert.deepEqual(reply.peer, { path: "" });
      await server.out.match(/^unix client #1 GET \/u HTTP\/1\.1: 200, 0 bytes in, \d+ out$/);
    } finally {
      server.child.kill("SIGTERM");
      assert.equal(await server.finish(), EXIT.ok);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
