/**
 * The HTTP keep-alive and WebSocket idle flows against sockecho's HTTP
 * handler (with and without an idle timeout) and an HTTP stub that closes
 * after each reply; and `check --http`'s idle rows.
 */
import assert from "node:assert/strict";
import { checkHttp } from "./check_http.ts";
import { IdleCutError } from "./errors.ts";
import { discoverIdleTimeout } from "./idle.ts";
import { httpIdleFlow, webSocketIdleFlow } from "./idle_http.ts";
import { httpHandler } from "../net/http/handler.ts";
import { withServer } from "../cli/test_util.ts";
import { withHttpStub } from "../cli/test_util_http_stub.ts";

const handler = httpHandler({ instance: "idle-1" });

// The server's sweeper looks for idle connections every quarter of its timeout: a cut comes
// after 1 to 1.25 s; the band is wide since a loaded machine runs timers late.
Deno.test("check --http --idle finds the server's 1 s idle timeout for keep-alive and WebSocket", async () => {
  await withServer({ handler, idleTimeoutMs: 1000 }, async ({ addr }) => {
    const report = await checkHttp({
      url: `http://127.0.0.1:${addr.port}/`,
      maxBodyBytes: 2 * 1024 * 1024,
      idle: { maxMs: 2000, flows: 5 },
    });
    const [keepAlive, webSocket] = report.rows.slice(-2);
    assert.deepEqual([keepAlive.name, webSocket.name], ["keep-alive idle", "websocket idle"]);
    for (const row of [keepAlive, webSocket]) {
      assert.equal(row.verdict, "fail", row.detail);
      assert.ok(row.error instanceof IdleCutError);
      const cut = row.facts!.shortestCutS as number;
      assert.ok(cut >= 0.95 && cut <= 2.2, `${row.name} cut after ${cut} s`);
      assert.match(row.detail, /^cut after [\d.]+ s idle \(FIN [1-5], reset 0, silence 0\)/);
      const flows = row.facts!.flows as { idleS: number; survived: boolean }[];
      assert.equal(flows.length, 5);
      assert.ok(flows[0].survived, "0.4 s idle survives");
    }
    assert.equal(report.failure, keepAlive.error);
    assert.ok(report.rows.slice(0, -2).every((row) => row.verdict !== "fail"));
  });
});

Deno.test("idle flows over HTTP and WebSocket survive a server without an idle timeout", async () => {
  await withServer({ handler }, async ({ addr }) => {
    const target = { hostname: "127.0.0.1", port: addr.port };
    const request = { host: `127.0.0.1:${addr.port}` };
    for (const kind of [httpIdleFlow(request), webSocketIdleFlow(request)]) {
      const report = await discoverIdleTimeout({ target, maxMs: 600, flows: 3, kind });
      assert.deepEqual(report.flows.map((flow) => flow.survived), [true, true, true]);
      assert.equal(report.shortestCutMs, undefined);
      assert.equal(report.longestSurvivedMs, 600);
    }
  });
});

Deno.test("HTTP idle flows on a server that closes after each reply: no keep-alive to time", async () => {
  await withHttpStub({ requestsPerConnection: 1 }, async (stub) => {
    const target = { hostname: "127.0.0.1", port: stub.port };
    await assert.rejects(
      discoverIdleTimeout({
        target,
        maxMs: 400,
        flows: 2,
        kind: httpIdleFlow({ host: `127.0.0.1:${stub.port}` }),
      }),
      (error: Error) => {
        assert.ok(error instanceof IdleCutError);
        assert.match(
          error.message,
          /closes the connection after each reply: no idle time to find$/,
        );
        return true;
      },
    );
  });
});
