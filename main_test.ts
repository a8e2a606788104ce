import assert from "node:assert/strict";
import { EXIT, main } from "./main.ts";
import { writeAll } from "./io.ts";
import {
  readExactly,
  readToEnd,
  recorder,
  startServe,
  withFakeServer,
  withServer,
} from "./test_util.ts";

async function run(args: string[]) {
  const { io, out, err } = recorder();
  const code = await main(args, io);
  return { code, out, err };
}

Deno.test("main prints help and the version with exit code 0", async () => {
  for (const args of [[], ["--help"], ["help", "serve"], ["send", "--help"], ["-V"]]) {
    const { code, out, err } = await run(args);
    assert.equal(code, EXIT.ok);
    assert.equal(err.length, 0);
    assert.match(out.join("\n"), /^(sockecho|Usage)/);
  }
});

Deno.test("main rejects bad arguments with one line and exit code 2", async () => {
  const cases: [string[], string][] = [
    [["frobnicate"], 'unknown command "frobnicate" (try: sockecho --help)'],
    [["serve", "--bogus"], "unknown option '--bogus'"],
    [["serve", "-p", "65536"], 'invalid port "65536": expected a whole number from 0 to 65535'],
    [["serve", "extra"], 'serve takes no argument "extra"'],
    [["serve", "--grace", "soon"], 'invalid --grace "soon": expected a number of at least 0'],
    [
      ["serve", "-m", "many"],
      'invalid --max-connections "many": expected a whole number of at least 0',
    ],
    [
      ["serve", "-m", "1.5"],
      'invalid --max-connections "1.5": expected a whole number of at least 0',
    ],
    [["serve", "--log-rate", "0"], 'invalid --log-rate "0": expected a whole number of at least 1'],
    [["serve", "-i", ""], 'invalid --idle-timeout "": expected a number of at least 0'],
    [["send"], "send needs a HOST (try: sockecho send --help)"],
    [["send", "h", "m", "x"], "send takes HOST and one MESSAGE; quote a message with spaces"],
    [["send", "h", "-p", "0"], 'invalid port "0": expected a whole number from 1 to 65535'],
    [["send", "h", "--timeout=-1"], 'invalid --timeout "-1": expected a number of at least 0.001'],
    [["send", "h", "-t", "-1"], "option '-t' argument is ambiguous"],
    [["bench", "h", "-d", "61"], "--duration over 60 s needs --force"],
    [["bench", "h", "-c", "10001"], "more than 10000 connections needs --force"],
    [["bench", "h", "-m", "flood"], 'invalid --mode "flood": expected pingpong, bulk, connect'],
    [["bench", "h", "-c", "0"], 'invalid --connections "0": expected a whole number of at least 1'],
    [["bench"], "bench needs a HOST (try: sockecho bench --help)"],
  ];
  for (const [args, message] of cases) {
    const { code, out, err } = await run(args);
    assert.deepEqual(
      { code, out, err },
      { code: EXIT.usage, out: [], err: [message] },
      args.join(" "),
    );
  }
});

Deno.test("main send prints the echo as the C client does and exits 0", async () => {
  await withServer({}, async ({ addr }) => {
    const { code, out, err } = await run(["send", "127.0.0.1", "-p", String(addr.port)]);
    assert.deepEqual({ code, out, err }, {
      code: EXIT.ok,
      out: ["server message: 你好啊服务器!"],
      err: [],
    });
  });
});

Deno.test("main send escapes control bytes of the echo and reports with --verbose", async () => {
  await withServer({}, async ({ addr }) => {
    const port = String(addr.port);
    const { code, out, err } = await run(["send", "127.0.0.1", "\x1b[2Jhi\n", "-p", port, "-v"]);
    assert.equal(code, EXIT.ok);
    assert.deepEqual(out, ["server message: \\x1b[2Jhi"]);
    assert.match(
      err[0],
      new RegExp(`^7 bytes echoed by 127\\.0\\.0\\.1:${port} in \\d+\\.\\d{3} ms$`),
    );
  });
});

Deno.test("main send maps each failure to its exit code", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = String(listener.addr.port);
  listener.close();
  assert.deepEqual(await run(["send", "127.0.0.1", "-p", closedPort]), {
    code: EXIT.connect,
    out: [],
    err: [`cannot connect to 127.0.0.1:${closedPort}: connection refused`],
  });
  assert.deepEqual(await run(["send", "no-such-host.invalid"]), {
    code: EXIT.resolve,
    out: [],
    err: ["cannot resolve no-such-host.invalid: no such host"],
  });
  await withFakeServer(async (conn) => void await readToEnd(conn), async (port) => {
    const { code, err } = await run(["send", "127.0.0.1", "-p", String(port), "-t", "0.1"]);
    assert.equal(code, EXIT.timeout);
    assert.match(err[0], /^timed out after 100 ms waiting for the echo/);
  });
  await withFakeServer(async (conn) => void await readExactly(conn, 1), async (port) => {
    const { code } = await run(["send", "127.0.0.1", "-p", String(port)]);
    assert.equal(code, EXIT.closedEarly);
  });
  await withFakeServer(async (conn) => {
    await writeAll(conn, new TextEncoder().encode("x".repeat(21)));
    await readToEnd(conn);
  }, async (port) => {
    const { code, err } = await run(["send", "127.0.0.1", "-p", String(port)]);
    assert.equal(code, EXIT.mismatch);
    assert.deepEqual(err, ["echo differs from what was sent at byte 0: sent 0xe4, got 0x78"]);
  });
});

Deno.test("main serve logs each connection and chunk, and a summary when stopped", async () => {
  const server = await startServe();
  const closed = server.printed(/ closed: /);
  const code = await main(["send", "127.0.0.1", "-p", server.port], recorder().io);
  await closed;
  assert.equal(code, EXIT.ok);
  assert.equal(await server.stopped(), EXIT.ok);
  const { out, err } = server;
  assert.equal(out.length, 4);
  assert.match(
    out[1],
    /^You got a connection from client's ip 127\.0\.0\.1, port \d+ at time \d+\.\d{6}$/,
  );
  assert.match(out[2], /^127\.0\.0\.1:\d+ sent 21 bytes: 你好啊服务器!\\n$/);
  assert.match(out[3], /^127\.0\.0\.1:\d+ closed: 21 bytes echoed in \d+\.\d{3} s$/);
  assert.deepEqual(err, [
    "stopping: no new connections; 0 open, 5 s to finish",
    "stopped: 1 connections, 21 bytes echoed",
  ]);
});

Deno.test("main serve keeps a flood of chunks from flooding its log", async () => {
  const server = await startServe("--log-rate", "5");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(server.port) });
  try {
    for (let i = 0; i < 50; i++) {
      await writeAll(conn, new TextEncoder().encode(`chunk ${i}\x1b[31m`));
      await readExactly(conn, `chunk ${i}\x1b[31m`.length);
    }
  } finally {
    conn.close();
  }
  await server.printed(/ closed: |log lines not shown/);
  assert.equal(await server.stopped(), EXIT.ok);
  const logged = server.out.slice(1);
  const dropped = logged.map((line) => Number(line.match(/^… (\d+) log lines not shown/)?.[1] ?? 0))
    .reduce((sum, n) => sum + n, 0);
  const shown = logged.filter((line) => !line.startsWith("… ")).length;
  // 1 connection line + 50 chunk lines + 1 close line, each shown or counted.
  assert.equal(shown + dropped, 52);
  assert.ok(dropped > 0, "most lines were dropped");
  assert.ok(logged.every((line) => !line.includes("\x1b")), "no raw escape reached the log");
});

Deno.test("main serve logs a connection refused past --max-connections", async () => {
  const server = await startServe("--max-connections", "1");
  const first = await Deno.connect({ hostname: "127.0.0.1", port: Number(server.port) });
  try {
    await server.printed(/^You got a connection/);
    const extra = await Deno.connect({ hostname: "127.0.0.1", port: Number(server.port) });
    const [, port] = await server.printed(/^refused 127\.0\.0\.1:(\d+): 1 connections open/);
    assert.equal(Number(port), (extra.localAddr as Deno.NetAddr).port);
    extra.close();
  } finally {
    first.close();
  }
  assert.equal(await server.stopped(), EXIT.ok);
});

Deno.test("main serve exits 8 on a taken port and 10 on a foreign address", async () => {
  await withServer({}, async ({ addr }) => {
    assert.deepEqual(await run(["serve", "-H", "127.0.0.1", "-p", String(addr.port)]), {
      code: EXIT.addressInUse,
      out: [],
      err: [`cannot listen on 127.0.0.1:${addr.port}: address already in use`],
    });
  });
  assert.deepEqual(await run(["serve", "-H", "192.0.2.1", "-p", "0"]), {
    code: EXIT.addressUnavailable,
    out: [],
    err: ["cannot listen on 192.0.2.1:0: address not available on this machine"],
  });
  assert.equal((await run(["serve", "-H", "no-such-host.invalid"])).code, EXIT.resolve);
});

Deno.test("main bench prints a summary table, or JSON with --json", async () => {
  await withServer({}, async ({ addr }) => {
    const port = String(addr.port);
    const table = await run(["bench", "127.0.0.1", "-p", port, "-n", "20", "-c", "2"]);
    assert.equal(table.code, EXIT.ok);
    assert.deepEqual(table.out.slice(0, 2), [
      "mode         pingpong",
      `target       127.0.0.1:${port}`,
    ]);
    assert.match(table.out[2], /^load {9}2 connections × 64 B, 1 worker, \d+\.\d\d s$/);
    assert.match(table.out[3], /^round trips {2}20 \([\d,]+\/s\)$/);
    assert.match(table.out[5], /^latency ms {3}min \d+\.\d{3} {2}p50 .* max \d+\.\d{3}$/);
    const json = await run([
      "bench",
      "127.0.0.1",
      "-p",
      port,
      "-m",
      "connect",
      "-n",
      "5",
      "--json",
    ]);
    assert.equal(json.code, EXIT.ok);
    const report = JSON.parse(json.out.join("\n"));
    assert.deepEqual([report.mode, report.operations, report.bytes], ["connect", 5, 320]);
  });
});

Deno.test("main bench says so when the duration ends a counted run first", async () => {
  await withServer({}, async ({ addr }) => {
    const port = String(addr.port);
    const args = ["bench", "127.0.0.1", "-p", port, "-n", "1000000000", "-d", "0.2"];
    const { code, out, err } = await run(args);
    assert.equal(code, EXIT.ok);
    const [, done] = out[3].match(/^round trips {2}([\d,]+) /)!;
    assert.deepEqual(err, [
      `the 0.2 s duration ended the run after ${done.replaceAll(",", "")} of ` +
      "--count 1000000000 round trips",
    ]);
  });
});

Deno.test("main bench exits 4 when nothing listens", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = String(listener.addr.port);
  listener.close();
  assert.deepEqual(await run(["bench", "127.0.0.1", "-p", port, "-n", "1"]), {
    code: EXIT.connect,
    out: [],
    err: [`cannot connect to 127.0.0.1:${port}: connection refused`],
  });
});

Deno.test("main bench shows a progress line once a second where there is a terminal", async () => {
  await withServer({}, async ({ addr }) => {
    const { io, out } = recorder();
    const status: string[] = [];
    const code = await main(["bench", "127.0.0.1", "-p", String(addr.port), "-d", "1.5"], {
      ...io,
      status: (line) => status.push(line),
    });
    assert.equal(code, EXIT.ok);
    assert.match(status[0], /^1 s: \d+ round trips, \d+\.\d MB echoed$/);
    assert.equal(status.at(-1), "", "the progress line is cleared before the table");
    assert.equal(out[0], "mode         pingpong");
  });
});
