/**
 * `sockecho send --count` (the probe series), in-process through `main` over
 * TCP, TLS and a Unix socket; and as a real process: Ctrl+C prints the
 * summary, `--file -` streams stdin, `--tls --count` with the permissions a
 * user would give.
 */
import assert from "node:assert/strict";
import { EXIT, main } from "../../main.ts";
import { writeAll } from "../../net/io.ts";
import {
  recorder,
  runMain,
  testCertificate,
  withFakeServer,
  withServer,
  withTlsServer,
  withUnixServer,
} from "../test_util.ts";
import { canRun, sockecho, spawnSockecho } from "../test_util_process.ts";

const pair = await testCertificate();

/** Runs `sockecho ARGS` in-process. */
const run = (args: string[]) => runMain(args);

/** Runs `sockecho send 127.0.0.1 -p PORT ARGS…` in-process. */
function send(port: number, ...args: string[]) {
  return run(["send", "127.0.0.1", "-p", `${port}`, ...args]);
}

Deno.test("send -c prints a line per probe and ping's summary, exit 0", async () => {
  await withServer({}, async ({ addr }) => {
    const { code, out, err } = await send(addr.port, "-c", "2", "-i", "0");
    assert.deepEqual({ code, err }, { code: EXIT.ok, err: [] });
    assert.equal(out.length, 5);
    assert.match(out[0], /^21 bytes from 127\.0\.0\.1:\d+: seq=1 time=\d+\.\d{3} ms$/);
    assert.match(out[1], /^21 bytes from 127\.0\.0\.1:\d+: seq=2 time=\d+\.\d{3} ms$/);
    assert.match(out[2], /^--- 127\.0\.0\.1:\d+ echo statistics ---$/);
    assert.equal(out[3], "2 sent, 2 echoed, 0 failed");
    assert.match(
      out[4],
      /^time ms: min [\d.]+ avg [\d.]+ p50 [\d.]+ p90 [\d.]+ p99 [\d.]+ max [\d.]+ mdev [\d.]+$/,
    );
  });
});

Deno.test("send --reconnect shows connect and echo time apart", async () => {
  await withServer({}, async ({ addr }) => {
    const { code, out } = await send(addr.port, "hi", "-c", "2", "-i", "0", "--reconnect");
    assert.equal(code, EXIT.ok);
    assert.match(out[1], /^2 bytes from 127\.0\.0\.1:\d+: seq=2 connect=[\d.]+ ms time=[\d.]+ ms$/);
    assert.match(out.at(-1)!, /^connect ms: min /);
  });
});

Deno.test("send --json writes one object per probe and a summary", async () => {
  await withServer({}, async ({ addr }) => {
    const { code, out } = await send(addr.port, "--size", "100000", "--json", "-c", "2", "-i", "0");
    assert.equal(code, EXIT.ok);
    const [first, second, summary] = out.map((line) => JSON.parse(line));
    assert.deepEqual(Object.keys(first), [
      "type",
      "seq",
      "ok",
      "remote",
      "bytes",
      "connectMs",
      "timeMs",
      "error",
      "message",
      "handshakeMs",
      "upgradeMs",
      "connection",
      "instance",
    ]);
    assert.equal(first.handshakeMs, null, "plain TCP has no handshake");
    assert.deepEqual([first.type, first.seq, first.ok, first.bytes, first.error], [
      "probe",
      1,
      true,
      100000,
      null,
    ]);
    assert.equal(typeof first.connectMs, "number");
    assert.equal(second.connectMs, null);
    assert.deepEqual(
      [
        summary.type,
        summary.sent,
        summary.echoed,
        summary.failed,
        summary.interrupted,
        summary.connectMs.min,
      ],
      ["summary", 2, 2, 0, false, first.connectMs],
    );
    assert.deepEqual(Object.keys(summary.timeMs), [
      "min",
      "avg",
      "p50",
      "p90",
      "p99",
      "max",
      "mdev",
    ]);
  });
});

Deno.test("send -c exits 7 on a corrupted echo and shows the first wrong byte", async () => {
  await withFakeServer(async (conn) => {
    const buffer = new Uint8Array(64);
    const n = (await conn.read(buffer))!;
    buffer[1] ^= 0xff;
    await writeAll(conn, buffer.subarray(0, n));
  }, async (port) => {
    const { code, out } = await send(port, "abc", "-c", "1");
    assert.equal(code, EXIT.mismatch);
    assert.deepEqual(out.slice(0, 2), [
      "seq=1 failed: echo differs from what was sent at byte 1: sent 0x62, got 0x9d\n" +
      "sent  00000000  61 [62] 63\ngot   00000000  61 [9d] 63",
      "--- 127.0.0.1:" + port + " echo statistics ---",
    ]);
    assert.equal(out[2], "1 sent, 0 echoed, 1 failed");
  });
});

Deno.test("send --count 0 runs until Ctrl+C, then prints the summary", async () => {
  await withServer({}, async ({ addr }) => {
    const stop = new AbortController();
    const { io, out } = recorder(stop.signal);
    const args = ["send", "127.0.0.1", "-p", `${addr.port}`, "-c", "0", "-i", "600"];
    // Ctrl+C once the first probe is in.
    const code = await main(args, {
      ...io,
      out(line) {
        io.out(line);
        if (line.includes("seq=1")) stop.abort();
      },
    });
    assert.equal(code, EXIT.ok);
    assert.equal(out[2], "1 sent, 1 echoed, 0 failed (interrupted)");
  });
});

Deno.test("send's series options reject bad values with one line and exit 2", async () => {
  const cases: [string[], string][] = [
    [["--file", "-", "-c", "2"], "--file - reads stdin once: it allows only --count 1"],
    [["hello", "--size", "10"], "give one of MESSAGE, --file and --size"],
    [["--size", "0"], 'invalid --size "0": expected a whole number of at least 1'],
    [["-c", "x"], 'invalid --count "x": expected a whole number of at least 0'],
    [["-c", "2", "-i", "soon"], 'invalid --interval "soon": expected a number of at least 0'],
  ];
  for (const [args, message] of cases) {
    const { code, err } = await run(["send", "127.0.0.1", ...args]);
    assert.deepEqual(
      { code, err },
      { code: EXIT.usage, err: [`${message} (try: sockecho send --help)`] },
      args.join(" "),
    );
  }
  const { code, err } = await run(["send", "127.0.0.1", "--file", "/nonexistent/x"]);
  assert.equal(code, EXIT.usage);
  assert.match(err[0], /^cannot read --file \/nonexistent\/x: /);
});

Deno.test("main: send --tls --count --reconnect prints connect, tls and echo times apart", async () => {
  await withTlsServer({}, async (port) => {
    const { code, out, err } = await run([
      "send",
      "127.0.0.1",
      "-p",
      `${port}`,
      "--tls",
      "--pin",
      pair.fingerprint,
      "-c",
      "2",
      "-i",
      "0",
      "--reconnect",
    ]);
    assert.equal(code, EXIT.ok, err.join("\n"));
    for (const seq of [1, 2]) {
      assert.match(
        out[seq - 1],
        new RegExp(
          `^21 bytes from 127\\.0\\.0\\.1:${port}: seq=${seq} connect=[\\d.]+ ms tls=[\\d.]+ ms time=[\\d.]+ ms$`,
        ),
      );
    }
    assert.match(out.at(-1)!, /^tls handshake ms: min [\d.]+ /);
  });
});

Deno.test("main: send --tls --count against a plain server exits 12, with --json the kind not-tls", async () => {
  await withServer({}, async ({ addr }) => {
    const { code, out } = await run([
      "send",
      "127.0.0.1",
      "-p",
      `${addr.port}`,
      "--tls",
      "--insecure",
      "-c",
      "1",
      "--json",
    ]);
    assert.equal(code, EXIT.notTls);
    assert.equal(JSON.parse(out[0]).error, "not-tls");
  });
});

Deno.test("main: send --unix --count and check --unix report the socket's path", async () => {
  await withUnixServer({}, async (path) => {
    const series = await run(["send", "--unix", path, "ping", "-c", "2", "-i", "0"]);
    assert.equal(series.code, EXIT.ok, series.err.join("\n"));
    assert.match(series.out[0], new RegExp(`^4 bytes from ${path}: seq=1 time=[\\d.]+ ms$`));
    assert.equal(series.out[2], `--- ${path} echo statistics ---`);
    const checked = await run(["check", "--unix", path]);
    assert.equal(checked.code, EXIT.ok, checked.err.join("\n"));
    assert.equal(checked.out[0], `check ${path}`);
    assert.equal(checked.out.at(-1), "verdict: the echo path is whole");
  });
});

// The real program as a process: `deno run -N main.ts send --count`.

Deno.test({
  name: "send --count 0 in a process: Ctrl+C prints the summary and exits 0",
  ignore: !canRun,
  async fn() {
    await withServer({}, async ({ addr }) => {
      const child = spawnSockecho([
        "send",
        "127.0.0.1",
        "-p",
        `${addr.port}`,
        "-c",
        "0",
        "-i",
        "0.05",
      ]);
      // Interrupt once two probes are in; the output is then read to its end.
      await child.out.match(/^seq=2 |: seq=2 /);
      child.child.kill("SIGINT");
      const code = await child.finish();
      const lines = child.out.lines;
      assert.equal(code, EXIT.ok);
      assert.match(lines[0], /^21 bytes from 127\.0\.0\.1:\d+: seq=1 time=[\d.]+ ms$/);
      const summary = lines.findIndex((line) => line.startsWith("--- "));
      assert.match(lines[summary + 1], /^(\d+) sent, \1 echoed, 0 failed \(interrupted\)$/);
    });
  },
});

Deno.test({
  name: "send --file - streams binary stdin and checks every byte of its echo",
  ignore: !canRun,
  async fn() {
    await withServer({}, async ({ addr }) => {
      const child = spawnSockecho(["send", "127.0.0.1", "-p", `${addr.port}`, "--file", "-"], {
        stdin: "piped",
      });
      const input = crypto.getRandomValues(new Uint8Array(60_000));
      const writer = child.child.stdin.getWriter();
      for (let i = 0; i < 20; i++) await writer.write(input); // 1.2 MB, all 256 byte values
      await writer.close();
      const code = await child.finish();
      const out = child.out.lines.map((line) => `${line}\n`).join("");
      assert.equal(code, EXIT.ok, child.err.lines.join("\n"));
      assert.match(out, /^1200000 bytes from 127\.0\.0\.1:\d+: seq=1 time=[\d.]+ ms\n/);
      assert.match(out, /\n1 sent, 1 echoed, 0 failed\n/);
    });
  },
});

Deno.test({
  name:
    "check --tls and send --tls --count in a process: the handshake apart; a wrong pin exits 11",
  ignore: !canRun,
  async fn() {
    await withTlsServer({}, async (port) => {
      const to = ["127.0.0.1", "-p", `${port}`, "--tls"];
      const checked = await sockecho("check", ...to, "--pin", pair.fingerprint);
      assert.equal(checked.code, EXIT.ok, checked.stderr);
      assert.match(checked.stdout, /\n {2}tls handshake {2}pass +[\d.]+ ms {2}TLSv1\.[23], /);
      const series = await sockecho(
        "send",
        ...to,
        "--pin",
        pair.fingerprint,
        "-c",
        "2",
        "-i",
        "0",
      );
      assert.equal(series.code, EXIT.ok, series.stderr);
      assert.match(series.stdout, /\n2 sent, 2 echoed, 0 failed\n/);
      const wrong = await sockecho("check", ...to, "--pin", "00".repeat(32));
      assert.equal(wrong.code, EXIT.tlsVerify);
      assert.match(wrong.stderr, /^sockecho: the certificate of .* does not match --pin/);
    });
  },
});
