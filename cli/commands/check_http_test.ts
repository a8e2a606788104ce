/**
 * `sockecho check --http` and `check URL`: the table, `--json`, `--idle`,
 * the exit codes of a corrupted echo, an error status and a refused
 * upgrade, and the usage errors, in-process through `main` against
 * sockecho's HTTP handler, a corrupting proxy and an HTTP stub. (The checks
 * themselves are tested in diag/check_http_test.ts.)
 */
import assert from "node:assert/strict";
import { EXIT } from "../../main.ts";
import { httpHandler } from "../../net/http/handler.ts";
import { runMain, withServer } from "../test_util.ts";
import { withHttpStub } from "../test_util_http_stub.ts";
import { withHttpProxy } from "../test_util_http_proxy.ts";

const handler = httpHandler({ instance: "cli-1" });
/** A 2 MiB bound on the body search keeps each run short. */
const QUICK = ["--max-body", "2097152"];

/** Each row of a passing check and its verdict, in order. */
const PASSING: [string, string][] = [
  ["connect", "pass"],
  ["byte values", "pass"],
  ["bulk", "pass"],
  ["streaming", "info"],
  ["host", "info"],
  ["forwarded", "info"],
  ["peer", "info"],
  ["keep-alive", "info"],
  ["large header", "pass"],
  ["large body", "pass"],
  ["h2", "info"],
  ["websocket", "pass"],
  ["keep-alive idle", "skip"],
  ["websocket idle", "skip"],
];
const ROWS = PASSING.map(([name]) => name);

Deno.test("check URL passes sockecho serve --http: one row per check, the HTTP verdict", async () => {
  await withServer({ handler }, async ({ addr }) => {
    const url = `http://127.0.0.1:${addr.port}/`;
    const { code, out, err } = await runMain(["check", url, ...QUICK]);
    assert.deepEqual({ code, err }, { code: EXIT.ok, err: [] });
    assert.equal(out[0], `check ${url}`);
    const rows = out.slice(1, -1);
    assert.deepEqual(
      rows.map((line) => [line.slice(2, 18).trimEnd(), line.slice(18, 24).trimEnd()]),
      PASSING,
    );
    assert.match(
      rows[3],
      / {2}streams: the first echoed byte came at \d+ ms, before the last of 4/,
    );
    assert.match(rows[12], / {2}not checked: --idle MAX discovers it$/);
    assert.equal(out.at(-1), "verdict: the HTTP path is whole");
  });
});

Deno.test("check HOST --http --json: the URL as target, each row's facts, --idle rows that pass", async () => {
  await withServer({ handler }, async ({ addr }) => {
    const args = ["-p", `${addr.port}`, "--http", "--json", "--idle", "0.6", "--idle-flows", "2"];
    const { code, out } = await runMain(["check", "127.0.0.1", ...args, ...QUICK]);
    assert.equal(code, EXIT.ok);
    const report = JSON.parse(out.join("\n"));
    assert.deepEqual(
      [report.target, report.ok, report.exitCode],
      [`http://127.0.0.1:${addr.port}/`, true, 0],
    );
    assert.deepEqual(report.checks.map((check: { name: string }) => check.name), ROWS);
    const named = Object.fromEntries(
      report.checks.map((check: { name: string }) => [check.name, check]),
    );
    assert.equal(named.streaming.facts.mode, "streams");
    assert.equal(named["large header"].facts.refusedStatus, 431);
    assert.equal(named["large body"].facts.largestBytes, 2097152);
    assert.deepEqual(named.host.facts, {
      sent: `127.0.0.1:${addr.port}`,
      seen: [`127.0.0.1:${addr.port}`],
    });
    for (const name of ["keep-alive idle", "websocket idle"]) {
      assert.equal(named[name].verdict, "pass");
      assert.equal(named[name].facts.shortestCutS, null);
      assert.deepEqual(named[name].facts.flows.map((flow: { idleS: number }) => flow.idleS), [
        0.3,
        0.6,
      ]);
    }
    assert.equal(named.connect.facts, undefined, "rows without facts have none");
  });
});

Deno.test("check URL: a byte changed on the way back fails byte values, hex view, exit 15", async () => {
  await withServer({ handler }, async ({ addr }) => {
    await withHttpProxy(addr.port, { corruptBodyByte: 200 }, async (port) => {
      const { code, out, err } = await runMain(["check", `http://127.0.0.1:${port}/`, ...QUICK]);
      assert.equal(code, EXIT.echoCorrupted);
      const detail = "echo differs from what was sent at byte 200: sent 0xc8, got 0x37";
      assert.equal(out[2], `  byte values     fail                ${detail}`);
      assert.deepEqual(out.slice(3, 5), [
        `${" ".repeat(36)}sent  000000c0  c0 c1 c2 c3 c4 c5 c6 c7 [c8] c9 ca cb cc cd ce cf`,
        `${" ".repeat(36)}got   000000c0  c0 c1 c2 c3 c4 c5 c6 c7 [37] c9 ca cb cc cd ce cf`,
      ]);
      assert.deepEqual(err, [`byte values: ${detail}`]);
      // The proxy flips byte 200 of every connection's first reply: later rows fail too.
      assert.match(out.at(-1)!, /^verdict: \d+ of \d+ checks failed$/);
    });
  });
});

Deno.test("check URL: an error status where an echo was due exits 21, a refused upgrade 23", async () => {
  await withHttpStub({}, async (stub) => {
    const status = await runMain(["check", `http://127.0.0.1:${stub.port}/?status=503`, ...QUICK]);
    assert.equal(status.code, EXIT.httpStatus);
    assert.match(status.out[2], /^ {2}byte values {5}fail {2}.* answered 503 Stub Status/);
    const upgrade = await runMain(["check", `http://127.0.0.1:${stub.port}/`, ...QUICK]);
    assert.equal(upgrade.code, EXIT.webSocket, upgrade.err.join("\n"));
    assert.match(
      upgrade.out.find((line) => line.startsWith("  websocket"))!,
      /fail .*WebSocket upgrade refused: the server answered "HTTP\/1\.1 200 OK"$/,
    );
  });
});

Deno.test("check --http rejects bad arguments with exit 2", async () => {
  const cases: [string[], string][] = [
    [["ftp://127.0.0.1/"], "check takes an http:// or https:// URL, not ftp://"],
    [["ws://127.0.0.1/"], "check takes an http:// or https:// URL, not ws://"],
    [["http://127.0.0.1/", "-p", "80"], "the port goes in the URL: leave out -p"],
    [["http://127.0.0.1/", "--tls"], "--tls with http://: use https:// for TLS"],
    [["http://127.0.0.1/", "extra"], 'check takes one URL or HOST, not also "extra"'],
    [["http://user:pw@127.0.0.1/"], 'invalid URL "http://user:pw@127.0.0.1/": a user name'],
    [["127.0.0.1", "--http", "--max-body", "1000"], 'invalid --max-body "1000": expected'],
    [["127.0.0.1", "--http", "--max-body", "2000000000"], "at most 1073741824 (1 GiB)"],
    [["127.0.0.1", "--max-body", "2000000"], "--max-body is for --http"],
    [["https://127.0.0.1/", "--pin", "00"], 'invalid --pin "00"'],
    [["http://127.0.0.1/", "--pin", "00"], "--pin needs --tls"],
  ];
  for (const [args, message] of cases) {
    const { code, err } = await runMain(["check", ...args]);
    assert.equal(code, EXIT.usage, args.join(" "));
    assert.ok(err.join("\n").includes(message), `${args.join(" ")}: ${err}`);
  }
});
