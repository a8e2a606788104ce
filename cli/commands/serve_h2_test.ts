/**
 * `serve --http` over HTTP/2 against the real clients: curl
 * (`--http2-prior-knowledge` on cleartext, `--http2 --cacert` and
 * `--http1.1` over `--tls`, `--haproxy-protocol`), nghttp (two requests on
 * one connection: curl 7.88 cannot reuse a prior-knowledge connection,
 * curl/curl#10634) and h2load (a bounded load). Each is ignored, with the
 * reason, where the tool is missing. The server runs in-process (`main`),
 * so the sanitizers see its internal HTTP/2 server closed at the stop.
 */
import assert from "node:assert/strict";
import { outputOf, pattern, startServe } from "../test_util.ts";
import {
  hasCommand,
  makeCertificates,
  needs,
  runWithInput,
  skipped,
} from "../test_util_process.ts";

const haveCurl = await hasCommand("curl");
const noCurl = needs(haveCurl, "curl");
const noNghttp = needs(await hasCommand("nghttp"), "nghttp (Debian nghttp2-client)");
const noH2load = needs(await hasCommand("h2load"), "h2load (Debian nghttp2-client)");
const noOpenssl = needs(haveCurl && await hasCommand("openssl"), "curl and openssl");

/** A test that needs a tool: ignored, its name saying why, where `missing` is set. */
function testWith(missing: string | undefined, name: string, fn: () => Promise<void>): void {
  Deno.test({ name: name + skipped(missing), ignore: missing !== undefined, fn });
}

/** Runs `body` with `serve --http --grace 0 ARGS` in-process; it must stop with exit code 0. */
async function withServe(
  args: string[],
  body: (server: Awaited<ReturnType<typeof startServe>>) => Promise<void>,
): Promise<void> {
  const server = await startServe("--http", "--grace", "0", ...args);
  try {
    await body(server);
  } finally {
    assert.equal(await server.stopped(), 0);
  }
}

/** Runs `command ARGS` (bounded), failing unless it exits 0; its stdout as text. */
async function run(command: string, ...args: string[]): Promise<string> {
  const { success, stdout, stderr } = await outputOf(command, {
    args,
    stdout: "piped",
    stderr: "piped",
  });
  const text = new TextDecoder();
  assert.ok(success, `${command} ${args.join(" ")} failed: ${text.decode(stderr)}`);
  return text.decode(stdout);
}

/** The `"connection": {…}` of each JSON description in `text`, in order. */
function connectionsIn(text: string): { id: number; request: number }[] {
  return [...text.matchAll(/^ {2}"connection": (\{.*\}),$/gm)].map(([, json]) => JSON.parse(json));
}

testWith(
  noCurl,
  "curl --http2-prior-knowledge: the reply says h2c, the path as sent, the body; the log line says h2c",
  async () => {
    await withServe(["--instance", "cli-h2"], async (server) => {
      const url = `http://127.0.0.1:${server.port}/curl/../x%7e?a=1`;
      const reply = JSON.parse(
        await run("curl", "-sS", "--http2-prior-knowledge", "--path-as-is", "-d", "hello", url),
      );
      assert.equal(reply.path, "/curl/../x%7e", "the path as sent");
      assert.equal(reply.protocol, "h2c");
      assert.equal(reply.instance, "cli-h2");
      assert.equal(reply.query, "a=1");
      assert.equal(reply.body.data, "hello");
      assert.deepEqual(reply.headers[0], [":authority", `127.0.0.1:${server.port}`]);
      await server.printed(/ POST \/curl\/\.\.\/x%7e\?a=1 h2c: 200, 5 bytes in, \d+ out$/);
    });
  },
);

testWith(
  noCurl,
  "curl --http2-prior-knowledge raw format: all 256 byte values come back exactly",
  async () => {
    await withServe(["-q"], async (server) => {
      const sent = pattern(256 * 1024);
      const { success, stdout } = await runWithInput("curl", [
        "-sS",
        "--http2-prior-knowledge",
        "--data-binary",
        "@-",
        "-H",
        "Accept: application/octet-stream",
        `http://127.0.0.1:${server.port}/raw`,
      ], sent);
      assert.ok(success);
      assert.deepEqual(stdout, sent);
    });
  },
);

testWith(
  noNghttp,
  "nghttp: two requests multiplexed on one h2c connection are its requests 1 and 2",
  async () => {
    await withServe(["-q"], async (server) => {
      const base = `http://127.0.0.1:${server.port}`;
      const connections = connectionsIn(await run("nghttp", `${base}/one`, `${base}/two`));
      assert.equal(connections.length, 2);
      assert.equal(connections[0].id, connections[1].id);
      assert.deepEqual(connections.map(({ request }) => request).sort(), [1, 2]);
    });
  },
);

testWith(noH2load, "h2load -n 200 -c 4 -m 4 against h2c: every request succeeds", async () => {
  await withServe(["-q"], async (server) => {
    const report = await run(
      "h2load",
      "-n",
      "200",
      "-c",
      "4",
      "-m",
      "4",
      `http://127.0.0.1:${server.port}/`,
    );
    assert.match(
      report,
      /requests: 200 total, 200 started, 200 done, 200 succeeded, 0 failed, 0 errored, 0 timeout/,
    );
    assert.match(report, /status codes: 200 2xx, 0 3xx, 0 4xx, 0 5xx/);
  });
});

testWith(
  noOpenssl,
  "serve --http --tls: curl --http2 --cacert gets h2 (ALPN h2, two requests on one connection), --http1.1 gets HTTP/1.1",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const { ca } = await makeCertificates(dir);
      await withServe(
        ["-q", "--tls", "--cert", `${dir}/leaf.pem`, "--key", `${dir}/leaf.key`],
        async (server) => {
          const url = `https://127.0.0.1:${server.port}/`;
          const curl = (...args: string[]) => run("curl", "-sS", "--cacert", ca, ...args);
          const h2 = await curl("--http2", "-w", "version %{http_version}\n", url, url);
          assert.deepEqual(h2.match(/^version .*$/gm), ["version 2", "version 2"]);
          assert.deepEqual(h2.match(/"protocol": "h2"/g)?.length, 2);
          assert.match(h2, /"tls": \{.*"alpn":"h2".*\}/);
          const [first, second] = connectionsIn(h2);
          assert.deepEqual([second.id, second.request], [first.id, 2]);
          const h1 = await curl("--http1.1", "-w", "version %{http_version}\n", url);
          assert.match(h1, /"protocol": "HTTP\/1\.1"/);
          assert.match(h1, /"tls": \{.*"alpn":"http\/1\.1".*\}/);
          assert.match(h1, /^version 1\.1$/m);
        },
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testWith(
  noCurl,
  "curl --haproxy-protocol --http2-prior-knowledge: the PROXY-declared client is in the h2c description",
  async () => {
    await withServe(["-q", "--proxy-protocol", "--proxy-from", "127.0.0.1/32"], async (server) => {
      const url = `http://127.0.0.1:${server.port}/`;
      const reply = JSON.parse(
        await run("curl", "-sS", "--haproxy-protocol", "--http2-prior-knowledge", url),
      );
      assert.equal(reply.protocol, "h2c");
      assert.equal(reply.client.address, "127.0.0.1");
      assert.equal(reply.peer.address, "127.0.0.1");
    });
  },
);
