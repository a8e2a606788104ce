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
import { spawnHttpServe } from "../test_util_http.ts";
import { canRun, needs, skipped, sockecho, sockechoWith } from "../test_util_process.ts";

const why = needs(canRun, "--allow-run");

/** Lines of stdout. */
const lines = (stdout: string) => stdout.trimEnd().split("\n");

Deno.test({
  name: `send --http and --ws against serve --http: the echo, its instance, the server's refusals${
    skipped(why)
  }`,
  ignore: why !== undefined,
  async fn() {
    const server = await spawnHttpServe(["--instance", "web-a", "-g", "0"]);
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const one = await sockecho("send", `${base}/path?x=1`, "hello over http");
      assert.equal(one.code, EXIT.ok, one.stderr);
      assert.deepEqual(lines(one.stdout), [
        "server message: hello over http",
        "status: 200 OK",
        "protocol: HTTP/1.1",
        "instance: web-a",
      ]);
      const ws = await sockecho("send", "--ws", `127.0.0.1:${server.port}`, "hello over ws");
      assert.equal(ws.code, EXIT.ok, ws.stderr);
      assert.deepEqual(lines(ws.stdout), [
        "server message: hello over ws",
        "status: 101 Switching Protocols",
        "protocol: WebSocket",
        "instance: web-a",
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
});

Deno.test({
  name: `send --http -c and --ws -c against serve --http: each probe's instance, the spread${
    skipped(why)
  }`,
  ignore: why !== undefined,
  async fn() {
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
});

Deno.test({
  name: `send https:// and wss:// with the pin serve --http --tls prints${skipped(why)}`,
  ignore: why !== undefined,
  async fn() {
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
  },
});

Deno.test({
  name: `send --unix PATH --http and --ws to serve --http on a Unix socket${skipped(why)}`,
  ignore: why !== undefined,
  async fn() {
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
  },
});
