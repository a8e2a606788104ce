/**
 * `checkHttp` against sockecho's own HTTP handler (in-process, over TCP and
 * TLS), behind a test proxy that buffers requests or cuts large heads, and
 * against an HTTP echo stub that is not sockecho (no description, no
 * WebSocket). (The command's output and exit codes are tested in
 * cli/commands/check_http_test.ts, HAProxy in net/access/haproxy_test.ts.)
 */
import assert from "node:assert/strict";
import { checkHttp } from "./check_http.ts";
import type { CheckReport, CheckRow } from "./check.ts";
import { EchoIncompleteError } from "./errors.ts";
import { WebSocketHandshakeError } from "../net/http/websocket.ts";
import { httpHandler } from "../net/http/handler.ts";
import { testCertificate, withServer, withTlsServer } from "../cli/test_util.ts";
import { withHttpStub } from "../cli/test_util_http_stub.ts";
import { withHttpProxy } from "../cli/test_util_http_proxy.ts";

const handler = httpHandler({ instance: "check-1" });
const pair = await testCertificate();

/** The row called `name`. */
function row(report: CheckReport, name: string): CheckRow {
  const found = report.rows.find((each) => each.name === name);
  assert.ok(found, `a row ${name} in ${report.rows.map((each) => each.name)}`);
  return found;
}

const verdicts = (report: CheckReport) =>
  Object.fromEntries(report.rows.map((each) => [each.name, each.verdict]));

/** A smaller body bound than the default keeps the search quick. */
const maxBodyBytes = 4 * 1024 * 1024;

Deno.test("check --http passes sockecho's HTTP server on every row, and says what it saw", async () => {
  await withServer({ handler }, async ({ addr }) => {
    const url = `http://127.0.0.1:${addr.port}/`;
    const report = await checkHttp({ url, maxBodyBytes });
    assert.equal(report.failure, undefined, report.failure?.message);
    assert.deepEqual(verdicts(report), {
      "connect": "pass",
      "byte values": "pass",
      "bulk": "pass",
      "streaming": "info",
      "host": "info",
      "forwarded": "info",
      "peer": "info",
      "keep-alive": "info",
      "large header": "pass",
      "large body": "pass",
      "h2": "info",
      "websocket": "pass",
      "keep-alive idle": "skip",
      "websocket idle": "skip",
    });
    const streaming = row(report, "streaming").facts!;
    assert.equal(streaming.mode, "streams");
    assert.ok((streaming.firstByteMs as number) < (streaming.lastChunkMs as number));
    assert.equal(row(report, "host").detail, `Host kept: the server saw "127.0.0.1:${addr.port}"`);
    assert.equal(
      row(report, "forwarded").detail,
      "no X-Forwarded-*, Forwarded or Via header was added",
    );
    assert.match(
      row(report, "peer").detail,
      /^the server's peer is this client \(127\.0\.0\.1:\d+\)/,
    );
    assert.match(
      row(report, "keep-alive").detail,
      /^4 requests on one connection, kept alive; the server saw them on one connection \(\d+\)$/,
    );
    // The server's bound is 64 KiB of head: the search finds its edge to the byte.
    const header = row(report, "large header").facts!;
    assert.equal(header.refusedStatus, 431);
    assert.equal(header.refusedBytes, (header.largestBytes as number) + 1);
    assert.ok((header.largestBytes as number) > 65_000 && (header.largestBytes as number) < 65_536);
    assert.ok((header.requests as number) <= 18);
    assert.equal(
      row(report, "large body").detail,
      "a body of 4,194,304 B passes (the largest tried)",
    );
    assert.deepEqual(row(report, "h2").facts, {
      h2c: false,
      answer: "HTTP/1.1 505 HTTP Version Not Supported",
    });
    assert.match(row(report, "websocket").detail, /^101 Switching Protocols, 256 byte values/);
  });
});

Deno.test("check --http behind a proxy that buffers requests: buffers, and the peer is the proxy", async () => {
  await withServer({ handler }, async ({ addr }) => {
    await withHttpProxy(addr.port, { bufferRequests: true }, async (port) => {
      const drip = { chunks: 3, intervalMs: 150 };
      const report = await checkHttp({ url: `http://127.0.0.1:${port}/`, maxBodyBytes, drip });
      assert.equal(report.failure, undefined, report.failure?.message);
      const streaming = row(report, "streaming");
      assert.equal(streaming.verdict, "info");
      assert.equal(streaming.facts!.mode, "buffers");
      assert.ok(
        (streaming.facts!.firstByteMs as number) >= (streaming.facts!.lastChunkMs as number),
      );
      assert.match(streaming.detail, /^buffers: nothing came back before the last of 3 chunks/);
      assert.match(row(report, "peer").detail, /not this client \(127\.0\.0\.1:\d+\): a proxy/);
      assert.equal(row(report, "websocket").verdict, "pass");
    });
  });
});

Deno.test("check --http: a path that closes on a large head, with no status, fails large header (16)", async () => {
  await withServer({ handler }, async ({ addr }) => {
    await withHttpProxy(addr.port, { maxHeadBytes: 16_384 }, async (port) => {
      const report = await checkHttp({ url: `http://127.0.0.1:${port}/`, maxBodyBytes });
      const header = row(report, "large header");
      assert.equal(header.verdict, "fail");
      assert.ok(header.error instanceof EchoIncompleteError);
      const largest = header.facts!.largestBytes as number;
      assert.ok(largest > 16_000 && largest < 16_384, `largest ${largest}`);
      assert.match(
        header.detail,
        /^a header of [\d,]+ B passes; a header of [\d,]+ B got no status: /,
      );
      assert.equal(report.failure, header.error, "the first failure is the report's");
    });
  });
});

Deno.test("check --http: a body over the server's --max-body is refused with 413, which passes", async () => {
  const limited = httpHandler({ instance: "check-1", maxBodyBytes: 2_500_000 });
  await withServer({ handler: limited }, async ({ addr }) => {
    const report = await checkHttp({ url: `http://127.0.0.1:${addr.port}/`, maxBodyBytes });
    const body = row(report, "large body");
    assert.equal(body.verdict, "pass", body.detail);
    assert.equal(body.facts!.refusedStatus, 413);
    const largest = body.facts!.largestBytes as number;
    assert.ok(largest <= 2_500_000 && largest > 2_500_000 - 65_536, `largest ${largest}`);
  });
});

Deno.test("check --http against an echo that is not sockecho's: no description, the upgrade fails (23)", async () => {
  await withHttpStub({ instance: "stub-1" }, async (stub) => {
    const report = await checkHttp({ url: `http://127.0.0.1:${stub.port}/`, maxBodyBytes });
    const { host, forwarded, peer, websocket, ...rest } = verdicts(report);
    assert.deepEqual({ host, forwarded, peer, websocket }, {
      host: "skip",
      forwarded: "skip",
      peer: "skip",
      websocket: "fail",
    });
    assert.equal(rest["byte values"], "pass");
    assert.equal(rest.bulk, "pass");
    assert.equal(
      row(report, "host").detail,
      "not checked: the reply is not sockecho's JSON description (serve --http)",
    );
    assert.ok(report.failure instanceof WebSocketHandshakeError, report.failure?.message);
    assert.match(row(report, "websocket").detail, /the server answered "HTTP\/1\.1 200 OK"/);
  });
});

Deno.test("check --http over TLS: the handshake row, and what ALPN chose from h2 and http/1.1", async () => {
  await withTlsServer({ handler }, async (port) => {
    const report = await checkHttp({
      url: `https://127.0.0.1:${port}/`,
      tls: { pin: pair.fingerprint },
      maxBodyBytes,
    });
    assert.equal(report.failure, undefined, report.failure?.message);
    assert.equal(report.rows[1].name, "tls handshake");
    assert.match(report.rows[1].detail, /^TLSv1\.3, /);
    const h2 = row(report, "h2");
    const alpn = h2.facts!.alpn;
    assert.ok(alpn === null || alpn === "h2" || alpn === "http/1.1", `alpn ${alpn}`);
    assert.equal(h2.detail.startsWith("h2 offered"), alpn === "h2");
    assert.equal(row(report, "websocket").verdict, "pass");
  });
});

Deno.test("check --http: a refused connect fails the first row and skips every other", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  const report = await checkHttp({ url: `http://127.0.0.1:${port}/` });
  assert.equal(report.rows[0].verdict, "fail");
  assert.equal(report.rows.length, 14);
  assert.ok(report.rows.slice(1).every((each) => each.verdict === "skip"));
  assert.equal(report.failure?.constructor.name, "ConnectError");
});
