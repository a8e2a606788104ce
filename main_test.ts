import assert from "node:assert/strict";
import { EXIT, main, type MainIo } from "./main.ts";
import { writeAll } from "./io.ts";
import { readExactly, readToEnd, withFakeServer, withServer } from "./test_util.ts";
import { formatAddress } from "./format.ts";
import { serve } from "./server.ts";

/** An io that records what main prints. */
function recorder(stop?: AbortSignal) {
  const out: string[] = [];
  const err: string[] = [];
  const io: MainIo = { out: (line) => out.push(line), err: (line) => err.push(line), stop };
  return { io, out, err };
}

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
    [["help", "nosuch"], 'unknown command "nosuch" (try: sockecho --help)'],
    [["serve", "--bogus"], 'unknown option "--bogus"'],
    [["serve", "-p", "65536"], 'invalid port "65536": expected a whole number from 0 to 65535'],
    [["serve", "extra"], 'serve takes one PORT, not "extra"; listen with -H HOST -p PORT'],
    [["serve", "4450", "-p", "4451"], 'two ports given: 4450 in "4450" and 4451 with -p; keep one'],
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
    [["serve", "--quiet=yes"], 'option "--quiet=yes" takes no value'],
    [["serve", "-g"], 'option "-g" expects a value'],
    [["send"], "send needs a HOST"],
    [
      ["send", "h", "m", "x"],
      'send takes HOST and one MESSAGE, not also "x": quote a message with spaces',
    ],
    [["send", "h", "-p", "0"], 'invalid port "0": expected a whole number from 1 to 65535'],
    [["send", "h:0"], 'invalid port "0": expected a whole number from 1 to 65535'],
    [["send", "h", "--timeout=-1"], 'invalid --timeout "-1": expected a number of at least 0.001'],
    [
      ["send", "h", "-port", "4400"],
      'unknown option "-port": long options take two dashes, --port',
    ],
    [
      ["send", "h:4400", "-p", "4321"],
      'two ports given: 4400 in "h:4400" and 4321 with -p; keep one',
    ],
    [["send", "[::1"], 'invalid address "[::1": expected HOST, HOST:PORT, [IPv6] or [IPv6]:PORT'],
    [["send", "[]:80"], 'invalid address "[]:80": expected HOST, HOST:PORT, [IPv6] or [IPv6]:PORT'],
    [["bench", "h", "-d", "61"], "--duration over 60 s needs --force"],
    [["bench", "h", "-c", "10001"], "more than 10000 connections needs --force"],
    [["bench", "h", "-m", "flood"], 'invalid --mode "flood": expected pingpong, bulk, connect'],
    [["bench", "h", "-c", "0"], 'invalid --connections "0": expected a whole number of at least 1'],
    [["bench", "h", "x"], 'bench takes one HOST, not also "x"'],
    [["bench"], "bench needs a HOST"],
    [["bench", "[::1]:99999"], 'invalid port "99999": expected a whole number from 1 to 65535'],
  ];
  for (const [args, message] of cases) {
    const { code, out, err } = await run(args);
    // Every usage error of a command points to that command's help.
    const hint = message.startsWith("unknown command") ? "" : ` (try: sockecho ${args[0]} --help)`;
    assert.deepEqual(
      { code, out, err },
      { code: EXIT.usage, out: [], err: [message + hint] },
      args.join(" "),
    );
  }
});

Deno.test("main: an option's value that starts with a dash is a usage error saying how to pass it", async () => {
  const { code, err } = await run(["serve", "-g", "-q"]);
  assert.deepEqual({ code, err }, {
    code: EXIT.usage,
    err: [
      'option "-g" expects a value, not "-q"; to pass it anyway, write --grace=-q ' +
      "(try: sockecho serve --help)",
    ],
  });
});

Deno.test("main: each command's help lists only the exit codes it can end with", async () => {
  const codesOf = async (command: string) => {
    const { out } = await run([command, "--help"]);
    const block = out.join("\n").split("Exit codes:\n")[1];
    return [...block.matchAll(/^ {2}(\d+) /gm)].map(([, code]) => Number(code));
  };
  assert.deepEqual(await codesOf("send"), [0, 1, 2, 3, 4, 5, 6, 7, 13]);
  assert.deepEqual(await codesOf("serve"), [0, 1, 2, 3, 8, 9, 10, 13, 130]);
  assert.deepEqual(await codesOf("bench"), [0, 1, 2, 3, 4, 5, 6, 7, 13, 130]);
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
    assert.match(err[0], /^timed out after 0\.1 s waiting for the echo/);
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
    assert.deepEqual(err, [
      'echo differs from what was sent at byte 0: sent 0xe4, got 0x78; received "xxxxxxxxxxxxxxxxxxxxx" (21 bytes)',
    ]);
  });
});

/** Runs `main(["serve", ...args])` in-process; resolves once it listens. */
async function startServe(...args: string[]) {
  const stop = new AbortController();
  const { io, out, err } = recorder(stop.signal);
  const watchers: ((line: string) => void)[] = [];
  /** Resolves with the first line matching `pattern`, printed already or to come. */
  const printed = (pattern: RegExp) => {
    const seen = Promise.withResolvers<RegExpMatchArray>();
    const watch = (line: string) => {
      const match = line.match(pattern);
      if (match) seen.resolve(match);
    };
    out.forEach(watch);
    watchers.push(watch);
    return seen.promise;
  };
  const listening = printed(/^Listening on 127\.0\.0\.1:(\d+)$/);
  const serving = main(["serve", "-H", "127.0.0.1", "-p", "0", ...args], {
    ...io,
    out(line) {
      io.out(line);
      watchers.forEach((watch) => watch(line));
    },
  });
  const [, port] = await listening;
  /** Stops the server like Ctrl+C and resolves with its exit code. */
  const stopped = () => (stop.abort(), serving);
  return { port, out, err, printed, stopped };
}

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
    "stopping: no new connections; 0 open, 5 s to finish (Ctrl+C again to exit at once)",
    "stopped: 1 connection, 21 bytes echoed",
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
    const [, port] = await server.printed(/^refused 127\.0\.0\.1:(\d+): 1 connection open/);
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
      `the 0.2 s duration ended the run after ${done} of --count 1,000,000,000 round trips`,
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
    assert.match(status[0], /^1 s: [\d,]+ round trips?, \d+\.\d MB echoed$/);
    assert.equal(status.at(-1), "", "the progress line is cleared before the table");
    assert.equal(out[0], "mode         pingpong");
  });
});

Deno.test("main bench ended early by Ctrl+C prints what it measured, marked, and exits 130", async () => {
  for (const extra of [[], ["-w", "2", "--json"]]) {
    const stop = new AbortController();
    // Ctrl+C once the load is running: when the server has echoed its first bytes.
    await withServer({ onData: () => stop.abort() }, async ({ addr }) => {
      const { io, out, err } = recorder(stop.signal);
      const args = ["bench", `127.0.0.1:${addr.port}`, "-c", "2", "-d", "30", ...extra];
      const code = await main(args, io);
      assert.deepEqual({ code, err }, { code: EXIT.interrupted, err: [] });
      if (extra.includes("--json")) {
        const report = JSON.parse(out.join("\n"));
        assert.deepEqual([report.cutShort, report.workers], [true, 2]);
        assert.ok(report.elapsedMs < 30_000);
      } else {
        assert.match(
          out[2],
          /^load {9}2 connections × 64 B, 1 worker, \d+\.\d\d s \(cut short by Ctrl\+C\)$/,
        );
      }
    });
  }
});

Deno.test("main bench says on stderr that workers are capped by connections", async () => {
  await withServer({}, async ({ addr }) => {
    const { code, out, err } = await run([
      "bench",
      "127.0.0.1",
      "-p",
      String(addr.port),
      "-w",
      "4",
      "-c",
      "1",
      "-n",
      "5",
    ]);
    assert.equal(code, EXIT.ok);
    assert.deepEqual(err, [
      "running 1 worker, not 4: a worker needs a connection of its own (-c 1)",
    ]);
    assert.match(out[2], /, 1 worker, /);
  });
});

Deno.test("main send takes HOST:PORT and [IPv6]:PORT as the server prints them", async () => {
  await withServer({}, async ({ addr }) => {
    const { code, out } = await run(["send", `127.0.0.1:${addr.port}`, "hi"]);
    assert.deepEqual({ code, out }, { code: EXIT.ok, out: ["server message: hi"] });
  });
  const server = await serve({ hostname: "::1", port: 0 });
  try {
    const { code, out } = await run(["send", formatAddress(server.addr), "hi"]);
    assert.deepEqual({ code, out }, { code: EXIT.ok, out: ["server message: hi"] });
  } finally {
    await server.shutdown({ graceMs: 0 });
  }
});

Deno.test("main send gives no -p hint when the port was given", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = String(listener.addr.port);
  listener.close();
  assert.deepEqual(await run(["send", "127.0.0.1", "4400", "-p", port]), {
    code: EXIT.connect,
    out: [],
    err: [`cannot connect to 127.0.0.1:${port}: connection refused`],
  });
});

/** True when nothing listens on 127.0.0.1:4321, the default port a test may not own. */
async function defaultPortIsFree(): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port: 4321 })).close();
    return false;
  } catch {
    return true;
  }
}

Deno.test({
  name: "main send without a port hints -p PORT when the refused message is a number" +
    " (ignored when something listens on 4321)",
  ignore: !await defaultPortIsFree(),
  async fn() {
    // A number where MESSAGE goes is the netcat habit for a port.
    const hinted = await run(["send", "127.0.0.1", "4400", "-t", "2"]);
    assert.deepEqual(hinted, {
      code: EXIT.connect,
      out: [],
      err: ["cannot connect to 127.0.0.1:4321: connection refused (did you mean -p 4400?)"],
    });
  },
});

Deno.test("main serve takes a lone PORT as nc -l PORT does", async () => {
  const stop = new AbortController();
  const { io, out } = recorder(stop.signal);
  const listening = Promise.withResolvers<void>();
  const serving = main(["serve", "-H", "127.0.0.1", "0"], {
    ...io,
    out(line) {
      io.out(line);
      listening.resolve();
    },
  });
  await listening.promise;
  stop.abort();
  assert.equal(await serving, EXIT.ok);
  assert.match(out[0], /^Listening on 127\.0\.0\.1:\d+$/);
});
