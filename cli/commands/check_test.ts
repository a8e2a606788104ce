/**
 * `sockecho check` and `check --idle`: the table, `--json`, the progress line,
 * Ctrl+C and the exit codes, in-process through `main` over TCP and TLS; and
 * as a real process over a Unix socket, with and without the permissions it
 * needs. (The checks themselves are tested in diag/check_test.ts and
 * diag/idle_test.ts.)
 */
import assert from "node:assert/strict";
import { EXIT, main, type MainIo } from "../../main.ts";
import { closeQuietly, writeAll } from "../../net/io.ts";
import {
  nthBroken,
  readToEnd,
  runMain,
  testCertificate,
  withFakeServer,
  withServer,
  withTlsServer,
  withUnixServer,
  WRONG_PIN,
} from "../test_util.ts";
import { canRun, sockecho, sockechoWith } from "../test_util_process.ts";

const pair = await testCertificate();

/** Runs `sockecho ARGS` in-process. */
const run = (args: string[]) => runMain(args);

/** Runs `sockecho check 127.0.0.1 ARGS` in-process. */
const checkHost = (args: string[], stop?: AbortSignal) =>
  runMain(["check", "127.0.0.1", ...args], stop);

Deno.test("check passes sockecho serve on every check", async () => {
  await withServer({}, async ({ addr }) => {
    const { code, out, err } = await checkHost(["-p", `${addr.port}`]);
    assert.deepEqual({ code, err }, { code: EXIT.ok, err: [] });
    assert.equal(out[0], `check 127.0.0.1:${addr.port}`);
    assert.deepEqual(out.slice(1, -1).map((line) => line.slice(2, 23).trimEnd()), [
      "connect        pass",
      "byte values    pass",
      "bulk           pass",
      "segments       info",
      "second client  pass",
      "half-close     pass",
    ]);
    assert.match(out[6], /all 65,536 bytes came back after our FIN, then the server's FIN$/);
    assert.equal(out.at(-1), "verdict: the echo path is whole");
  });
});

Deno.test("check finds a corrupted byte, shows it in hex and exits 15", async () => {
  await withFakeServer(async (conn) => {
    const buffer = new Uint8Array(64 * 1024);
    for (let n, seen = 0; (n = await conn.read(buffer)) !== null; seen += n) {
      if (seen <= 200 && 200 < seen + n) buffer[200 - seen] = 0x00;
      await writeAll(conn, buffer.subarray(0, n));
    }
  }, async (port) => {
    const { code, out, err } = await checkHost(["-p", `${port}`]);
    assert.equal(code, EXIT.echoCorrupted);
    assert.deepEqual(err, [
      "byte values: echo differs from what was sent at byte 200: sent 0xc8, got 0x00",
    ]);
    assert.deepEqual(out.slice(2, 5).map((line) => line.trim()), [
      "byte values    fail                echo differs from what was sent at byte 200: sent 0xc8, got 0x00",
      "sent  000000c0  c0 c1 c2 c3 c4 c5 c6 c7 [c8] c9 ca cb cc cd ce cf",
      "got   000000c0  c0 c1 c2 c3 c4 c5 c6 c7 [00] c9 ca cb cc cd ce cf",
    ]);
  });
});

Deno.test("check exits 17 when the echo after our half-close is lost", async () => {
  // Echoes each chunk 50 ms late; at our FIN it closes at once, dropping what is pending.
  await withFakeServer(
    nthBroken(3, async (conn) => {
      const buffer = new Uint8Array(64 * 1024);
      const late: Promise<void>[] = [];
      for (let n; (n = await conn.read(buffer)) !== null;) {
        const chunk = buffer.slice(0, n);
        late.push(
          new Promise((resolve) => setTimeout(resolve, 50)).then(() => writeAll(conn, chunk)),
        );
      }
      closeQuietly(conn);
      await Promise.allSettled(late);
    }),
    async (port) => {
      const { code, out } = await checkHost(["-p", `${port}`]);
      assert.equal(code, EXIT.halfClose);
      assert.match(
        out[6],
        /half-close +fail +only 0 of 65,536 bytes came back, then the server's FIN \(the rest was lost\)$/,
      );
    },
  );
});

Deno.test("check: a refused connect fails the first row, skips the rest, exit 4", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const { code, out, err } = await checkHost(["-p", `${port}`]);
  assert.equal(code, EXIT.connect);
  assert.deepEqual(err, [`cannot connect to 127.0.0.1:${port}: connection refused`]);
  assert.equal(out.filter((line) => / skip /.test(line)).length, 5);
});

Deno.test("check --json prints one object with every verdict and exit code", async () => {
  await withFakeServer(nthBroken(3, (conn) => readToEnd(conn).then(() => {})), async (port) => {
    const { code, out } = await checkHost(["-p", `${port}`, "--json", "-t", "0.5"]);
    assert.equal(code, EXIT.halfClose);
    const report = JSON.parse(out.join("\n"));
    assert.deepEqual(Object.keys(report), ["target", "ok", "exitCode", "checks"]);
    assert.deepEqual([report.target, report.ok, report.exitCode], [`127.0.0.1:${port}`, false, 17]);
    assert.deepEqual(report.checks.map((c: { name: string }) => c.name), [
      "connect",
      "byte values",
      "bulk",
      "segments",
      "second client",
      "half-close",
    ]);
    assert.deepEqual(Object.keys(report.checks[0]), [
      "name",
      "verdict",
      "ms",
      "detail",
      "view",
      "exitCode",
    ]);
    assert.deepEqual(
      [report.checks[5].verdict, report.checks[5].exitCode, report.checks[1].exitCode],
      ["fail", 17, null],
    );
  });
});

Deno.test("check rejects bad arguments with exit 2", async () => {
  const cases: [string[], string][] = [
    [["check"], "check needs a HOST"],
    [["check", "a", "b"], 'check takes one HOST, not also "b"'],
    [["check", "a", "-t", "0"], 'invalid --timeout "0": expected a number of at least 0.001'],
  ];
  for (const [args, message] of cases) {
    const err: string[] = [];
    const code = await main(args, { out() {}, err: (line) => err.push(line) });
    assert.deepEqual({ code, err }, {
      code: EXIT.usage,
      err: [`${message} (try: sockecho check --help)`],
    });
  }
});

// check --idle

Deno.test("check --idle exits 0 when no flow is cut", async () => {
  await withServer({}, async ({ addr }) => {
    const { code, out, err } = await checkHost([
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
    const { code, out, err } = await checkHost([
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
    const running = checkHost(
      ["-p", `${addr.port}`, "--idle", "600", "--idle-flows", "2"],
      stop.signal,
    );
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
  const { code, out, err } = await checkHost([
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
    const { code, err } = await checkHost(args);
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

Deno.test("main: check --tls --pin prints the handshake row; --json has it; a wrong pin exits 11", async () => {
  await withTlsServer({}, async (port) => {
    const args = ["check", "127.0.0.1", "-p", `${port}`, "--tls"];
    const text = await run([...args, "--pin", pair.fingerprint]);
    assert.equal(text.code, EXIT.ok, text.err.join("\n"));
    assert.match(text.out[2], /^ {2}tls handshake {2}pass +[\d.]+ ms {2}TLSv1\.[23], /);
    const json = await run([...args, "--pin", pair.fingerprint, "--json"]);
    const checks = JSON.parse(json.out[0]).checks;
    assert.equal(checks[1].name, "tls handshake");
    assert.equal(typeof checks[1].ms, "number");
    const wrong = await run([...args, "--pin", WRONG_PIN]);
    assert.equal(wrong.code, EXIT.tlsVerify);
    assert.match(wrong.err[0], /does not match --pin/);
  });
});

// The real program as a process: `deno run -N main.ts check`.

Deno.test({
  name: "check --unix in a process: passes with -R/-W for the socket, exits 13 naming them without",
  ignore: !canRun,
  async fn() {
    await withUnixServer({}, async (path) => {
      const allowed = await sockechoWith([`-R=${path}`, `-W=${path}`], "check", "--unix", path);
      assert.equal(allowed.code, EXIT.ok, allowed.stderr);
      assert.match(allowed.stdout, /\nverdict: the echo path is whole\n$/);
      const denied = await sockecho("check", "--unix", path);
      assert.equal(denied.code, EXIT.missingPermission);
      assert.equal(
        denied.stderr,
        `sockecho: cannot connect to ${path}: Deno needs read and write permission for it: ` +
          `add -R=${path} -W=${path}\n`,
      );
    });
  },
});
