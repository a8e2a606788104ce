import assert from "node:assert/strict";
import { EXIT, main, type MainIo } from "../../main.ts";
import { writeAll } from "../../net/io.ts";
import { withFakeServer, withServer } from "../testing.ts";

/** Runs `sockecho send 127.0.0.1 -p PORT ARGS…` in-process. */
function send(port: number, ...args: string[]) {
  return run(["send", "127.0.0.1", "-p", `${port}`, ...args]);
}

async function run(args: string[], stop?: AbortController) {
  const out: string[] = [];
  const err: string[] = [];
  const io: MainIo = {
    out: (line) => {
      out.push(line);
      if (stop && line.includes("seq=1")) stop.abort();
    },
    err: (line) => err.push(line),
    stop: stop?.signal,
  };
  const code = await main(args, io);
  return { code, out, err };
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
    const args = ["send", "127.0.0.1", "-p", `${addr.port}`, "-c", "0", "-i", "600"];
    const { code, out } = await run(args, stop);
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
