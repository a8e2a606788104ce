import assert from "node:assert/strict";
import { discoverIdleTimeout, type IdleReport } from "./idle.ts";
import { dialStream, tlsDialer } from "../net/dial.ts";
import { EXIT, main, type MainIo } from "../main.ts";
import { writeAll } from "../net/io.ts";
import {
  runMain,
  testCertificate,
  withFakeServer,
  withServer,
  withTlsServer,
  withUnixServer,
} from "../cli/testing.ts";

const pinned = tlsDialer({ pin: (await testCertificate()).fingerprint });

const run = (args: string[], stop?: AbortSignal) => runMain(["check", "127.0.0.1", ...args], stop);

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

Deno.test("check --idle exits 0 when no flow is cut", async () => {
  await withServer({}, async ({ addr }) => {
    const { code, out, err } = await run([
      "-p",
      `${addr.port}`,
      "--idle",
      "0.3",
      "--idle-flows",
      "3",
    ]);
    assert.deepEqual({ code, err }, { code: EXIT.ok, err: [] });
    assert.deepEqual(out.slice(1), [
      "  idle s    result",
      "    0.100   survived",
      "    0.200   survived",
      "    0.300   survived",
      "longest idle that survived: 0.300 s",
      "shortest idle that was cut: none",
      "verdict: no idle connection was cut within 0.3 s",
    ]);
  });
});

Deno.test("check --idle --json reports every flow and exits 19 when flows are cut", async () => {
  await withServer({ idleTimeoutMs: 600 }, async ({ addr }) => {
    const { code, out, err } = await run([
      "-p",
      `${addr.port}`,
      "--idle",
      "1",
      "--idle-flows",
      "2",
      "--json",
    ]);
    assert.equal(code, EXIT.idleCut);
    assert.match(err[0], /^idle connections are cut after 0\.\d{3} s \(0\.500 s survived\)$/);
    const report = JSON.parse(out.join(""));
    assert.deepEqual(Object.keys(report), [
      "target",
      "maxS",
      "longestSurvivedS",
      "shortestCutS",
      "interrupted",
      "exitCode",
      "flows",
    ]);
    assert.deepEqual([report.maxS, report.longestSurvivedS, report.exitCode], [1, 0.5, 19]);
    assert.deepEqual(report.flows[0], {
      idleS: 0.5,
      survived: true,
      death: null,
      cutAfterS: null,
      message: null,
    });
    assert.deepEqual([report.flows[1].survived, report.flows[1].death], [false, "fin"]);
  });
});

Deno.test("check --idle stops at Ctrl+C and reports what it has", async () => {
  await withServer({}, async ({ addr }) => {
    const stop = new AbortController();
    const running = run(["-p", `${addr.port}`, "--idle", "600", "--idle-flows", "2"], stop.signal);
    setTimeout(() => stop.abort(), 200);
    const { code, out } = await running;
    assert.equal(code, EXIT.ok);
    assert.equal(out.at(-1), "interrupted; verdict: no idle connection was cut within 600 s");
  });
});

Deno.test("check --idle fails like a connect when no flow can start, exit 4", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const { code, out, err } = await run([
    "-p",
    `${port}`,
    "--idle",
    "0.5",
    "--idle-flows",
    "2",
    "--json",
  ]);
  assert.deepEqual({ code, out, err }, {
    code: EXIT.connect,
    out: [],
    err: [`cannot connect to 127.0.0.1:${port}: connection refused`],
  });
});

Deno.test("check --idle rejects bad values with exit 2", async () => {
  const cases: [string[], string][] = [
    [["--idle", "0"], 'invalid --idle "0": expected a number of at least 0.1'],
    [
      ["--idle", "5", "--idle-flows", "101"],
      'invalid --idle-flows "101": expected a whole number from 1 to 100',
    ],
    [
      ["--idle", "5", "--idle-flows", "0"],
      'invalid --idle-flows "0": expected a whole number of at least 1',
    ],
  ];
  for (const [args, message] of cases) {
    const { code, err } = await run(args);
    assert.deepEqual({ code, err }, {
      code: EXIT.usage,
      err: [`${message} (try: sockecho check --help)`],
    });
  }
});

Deno.test("check --idle shows a progress line on a terminal while it waits, then clears it", async () => {
  await withServer({}, async ({ addr }) => {
    const status: string[] = [];
    const io: MainIo = { out() {}, err() {}, status: (line) => status.push(line) };
    const args = ["check", "127.0.0.1", "-p", `${addr.port}`, "--idle", "1.6", "--idle-flows", "2"];
    assert.equal(await main(args, io), EXIT.ok);
    assert.match(status[0], /^1 s of 2 s: [0-2] of 2 flows done, 0 cut$/);
    assert.equal(status.at(-1), "");
  });
});
