import assert from "node:assert/strict";
import { discoverIdleTimeout, type IdleReport } from "./idle.ts";
import { dialStream, tlsDialer } from "../net/dial.ts";
import { writeAll } from "../net/io.ts";
import {
  testCertificate,
  withFakeServer,
  withServer,
  withTlsServer,
  withUnixServer,
} from "../cli/test_util.ts";

const pinned = tlsDialer({ pin: (await testCertificate()).fingerprint });

Deno.test("--idle finds sockecho serve --idle-timeout 2 within 10 %, cut by FIN", async () => {
  await withServer({ idleTimeoutMs: 2000 }, async ({ addr }) => {
    const report = await discoverIdleTimeout({
      target: { hostname: "127.0.0.1", port: addr.port },
      maxMs: 3000,
      flows: 20,
    });
    const cut = report.shortestCutMs!;
    assert.ok(cut >= 2000 && cut <= 2200, `shortest cut ${cut} ms`);
    assert.ok(report.longestSurvivedMs! >= 1800, `longest survived ${report.longestSurvivedMs} ms`);
    const dead = report.flows.filter((flow) => !flow.survived);
    assert.ok(dead.length > 0 && dead.every((flow) => flow.death === "fin"));
    assert.ok(report.flows.filter((flow) => flow.idleMs < 2000).every((flow) => flow.survived));
  });
});

Deno.test("--idle tells a flow dropped in silence by its unanswered probe", async () => {
  await withFakeServer(async (conn) => {
    // Echoes the first exchange, then swallows everything: a dropped flow.
    const buffer = new Uint8Array(1024);
    const n = (await conn.read(buffer))!;
    await writeAll(conn, buffer.subarray(0, n));
    while (await conn.read(buffer) !== null);
  }, async (port) => {
    const report = await discoverIdleTimeout({
      target: { hostname: "127.0.0.1", port },
      maxMs: 400,
      flows: 2,
      timeoutMs: 300,
    });
    assert.deepEqual(report.flows.map((flow) => [flow.idleMs, flow.death, flow.cutAfterMs]), [
      [200, "silence", 200],
      [400, "silence", 400],
    ]);
    assert.equal(report.longestSurvivedMs, undefined);
    assert.equal(report.shortestCutMs, 200);
  });
});

// The server's sweeper looks for idle flows every quarter of its timeout: a cut comes after
// 1 to 1.25 s; the band is wide since a loaded machine runs timers late.
for (const transport of ["TLS", "a Unix socket"]) {
  Deno.test(`idle discovery over ${transport} finds the server's 1 s idle timeout`, async () => {
    const discover = (target: { hostname: string; port: number } | { path: string }) =>
      discoverIdleTimeout({
        target,
        maxMs: 2500,
        flows: 5,
        dial: "path" in target ? dialStream : pinned,
      });
    let report: IdleReport | undefined;
    if (transport === "TLS") {
      await withTlsServer({ idleTimeoutMs: 1000 }, async (port) => {
        report = await discover({ hostname: "127.0.0.1", port });
      });
    } else {
      await withUnixServer({ idleTimeoutMs: 1000 }, async (path) => {
        report = await discover({ path });
      });
    }
    assert.ok(report);
    assert.ok(report.flows.every((flow) => flow.error === undefined), "every flow started");
    assert.equal(report.flows[0].survived, true, "0.5 s idle survives");
    const cut = report.shortestCutMs!;
    assert.ok(cut >= 950 && cut <= 2200, `cut after ${cut} ms`);
    assert.ok(report.flows.filter((flow) => flow.death === "fin").length >= 2);
  });
}
