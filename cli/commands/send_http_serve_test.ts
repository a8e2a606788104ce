/**
 * `send --http` and `send --ws` against the real `serve --http`, both as
 * processes: the echo verified and the instance named, a probe series and
 * its spread, the server's refusals (a shaped status, a bad parameter) with
 * their exit codes, `https://` and `wss://` with the pin `serve --tls`
 * prints, and a Unix socket.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../main.ts";
import { withSocketPath } from "../test_util.ts";
import { spawnHttpServe } from "../test_util_http_stub.ts";
import { canRun, needs, skipped, sockecho, sockechoWith } from "../test_util_process.ts";

const why = needs(canRun, "--allow-run");

/** A test that runs processes, ignored with the reason where it may not. */
function processTest(name: string, fn: () => Promise<void>) {
  Deno.test({ name: `${name}${skipped(why)}`, ignore: why !== undefined, fn });
}

/** Lines of stdout. */
const lines = (stdout: string) => stdout.trimEnd().split("\n");

/** Asserts that `sockecho ARGS` exits 0 printing the echo of `text`, then `status`, `protocol`, `instance`. */
async function assertSent(args: string[], text: string, [status, protocol, instance]: string[]) {
  const { code, stdout, stderr } = await sockecho(...args, text);
  assert.equal(code, EXIT.ok, stderr);
  assert.deepEqual(lines(stdout), [
    `server message: ${text}`,
    `status: ${status}`,
    `protocol: ${protocol}`,
    `instance: ${instance}`,
  ]);
}

processTest(
  "send --http and --ws against serve --http: the echo, its instance, the server's refusals",
  async () => {
    const server = await spawnHttpServe(["--instance", "web-a", "-g", "0"]);
    try {
      const base = `http://127.0.0.1:${server.port}`;
      await assertSent(["send", `${base}/path?x=1`], "hello over http", [
        "200 OK",
        "HTTP/1.1",
        "web-a",
      ]);
      await assertSent(["send", "--ws", `127.0.0.1:${server.port}`], "hello over ws", [
        "101 Switching Protocols",
        "WebSocket",
        "web-a",
      ]);
      const shaped = await sockecho("send", `${base}/?status=503`);
      assert.deepEqual([shaped.code, shaped.stderr], [
        EXIT.httpStatus,
        `sockecho: 127.0.0.1:${server.port} answered 503 Service Unavailable\n`,
      ]);
      const refused = await sockecho("send", `${base}/?delay=20s`);
      assert.deepEqual([refused.code, refused.stderr], [
        EXIT.httpStatus,
        `sockecho: 127.0.0.1:${server.port} answered 400 Bad Request: ` +
        "bad parameter delay: 20s is above --max-delay 10s\n",
      ]);
      const tooBig = await sockecho(
        "send",
        "--ws",
        `127.0.0.1:${server.port}`,
        "--size",
        "17000000",
      );
      assert.equal(tooBig.code, EXIT.closedEarly);
      assert.match(tooBig.stdout, /seq=1 failed: .*closed the WebSocket with 1009/);
    } finally {
      assert.equal(await server.stop(), EXIT.ok);
    }
  },
);

processTest(
  "send --http -c and --ws -c against serve --http: each probe's instance, the spread",
  async () => {
    const server = await spawnHttpServe(["--instance", "web-b", "-g", "0"]);
    try {
      for (const mode of ["--http", "--ws"]) {
        const args = [mode, `127.0.0.1:${server.port}`, "--size", "300000", "-c", "4", "-i", "0"];
        const { code, stdout, stderr } = await sockecho("send", ...args, "--json");
        assert.equal(code, EXIT.ok, stderr);
        const [p1, p2, p3, p4, summary] = lines(stdout).map((line) => JSON.parse(line));
        assert.deepEqual([p1, p2, p3, p4].map((p) => [p.ok, p.bytes, p.connection, p.instance]), [
          [true, 300000, 1, "web-b"],
          [true, 300000, 1, "web-b"],
          [true, 300000, 1, "web-b"],
          [true, 300000, 1, "web-b"],
        ], mode);
        assert.equal(p1.upgradeMs === null, mode === "--http", "only WebSocket upgrades");
        const { perRequest, perConnection } = summary.spread;
        assert.deepEqual(
          [perRequest.total, perRequest.instances[0].instance, perConnection.total],
          [4, "web-b", 1],
        );
      }
    } finally {
      assert.equal(await server.stop(), EXIT.ok);
    }
  },
);

processTest("send https:// and wss:// with the pin serve --http --tls prints", async () => {
  const server = await spawnHttpServe(["--tls", "--instance", "web-tls", "-g", "0"]);
  try {
    for (const scheme of ["https", "wss"]) {
      const url = `${scheme}://localhost:${server.port}/`;
      const { code, stdout, stderr } = await sockecho(
        "send",
        url,
        "--pin",
        server.fingerprint!,
        "-v",
      );
      assert.equal(code, EXIT.ok, stderr);
      const [message, status, protocol, instance] = lines(stdout);
      assert.deepEqual([message, instance], [
        "server message: 你好啊服务器!",
        "instance: web-tls",
      ]);
      assert.match(status, /^status: (200 OK|101 Switching Protocols)$/);
      assert.match(protocol, /^protocol: (HTTP\/1\.1|WebSocket) over TLSv1\.3$/);
      assert.match(stderr, new RegExp(`certificate SHA-256 ${server.fingerprint}`));
    }
    const plain = await sockecho("send", `http://127.0.0.1:${server.port}/`);
    assert.equal(plain.code, EXIT.notTls, plain.stderr);
  } finally {
    assert.equal(await server.stop(), EXIT.ok);
  }
});

processTest("send --unix PATH --http and --ws to serve --http on a Unix socket", async () => {
  await withSocketPath(async (path) => {
    const access = [`-R=${path}`, `-W=${path}`];
    const server = await spawnHttpServe(
      ["--unix", path, "--instance", "web-u", "-g", "0"],
      access,
    );
    try {
      for (const mode of ["--http", "--ws"]) {
        const { code, stdout, stderr } = await sockechoWith(
          access,
          "send",
          "--unix",
          path,
          mode,
          "hi",
        );
        assert.equal(code, EXIT.ok, stderr);
        assert.deepEqual([lines(stdout)[0], lines(stdout)[3]], [
          "server message: hi",
          "instance: web-u",
        ]);
      }
    } finally {
      assert.equal(await server.stop(), EXIT.ok);
    }
  });
});
