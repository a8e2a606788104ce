import assert from "node:assert/strict";
import net from "node:net";
import { EXIT, main, VERSION } from "../main.ts";
import { writeAll } from "../net/io.ts";
import { formatAddress } from "../net/format.ts";
import { serve } from "../server.ts";
import {
  echoOf,
  NO_SUCH_HOST,
  pattern,
  readExactly,
  readToEnd,
  recorder,
  runMain,
  startServe,
  WAIT_MS,
  withFakeServer,
  withResettingServer,
  withServer,
  withTimeout,
} from "./testing.ts";

const canRead = (await Deno.permissions.query({ name: "read" })).state === "granted";

const run = (args: string[]) => runMain(args);

Deno.test("main prints help and the version with exit code 0", async () => {
  const printed = async (...args: string[]) => {
    const { code, out, err } = await run(args);
    assert.deepEqual({ code, lines: out.length, err }, { code: 0, lines: 1, err: [] }, `${args}`);
    return out[0];
  };
  assert.deepEqual(await run(["-V"]), { code: 0, out: ["sockecho 0.1.0"], err: [] });
  assert.deepEqual(await run(["--version"]), { code: 0, out: [`sockecho ${VERSION}`], err: [] });
  const mainHelp = await printed();
  assert.ok(
    mainHelp.startsWith(
      "sockecho 0.1.0: an echo server, client, path checker and load tester over TCP, TLS, UDP and Unix sockets\n\nUsage:\n",
    ),
  );
  for (const command of ["serve", "send", "bench"]) {
    assert.match(mainHelp, new RegExp(`^  sockecho ${command} `, "m"));
  }
  assert.equal(await printed("--help"), mainHelp);
  const serveHelp = await printed("help", "serve");
  assert.ok(serveHelp.startsWith("Usage: sockecho serve [PORT] [options]\n"), serveHelp);
  for (const flag of ["--host", "--port", "--grace", "--max-connections", "--idle-timeout"]) {
    assert.ok(serveHelp.includes(flag), flag);
  }
  assert.equal(await printed("serve", "--help"), serveHelp);
  const sendHelp = await printed("send", "--help");
  assert.ok(sendHelp.startsWith("Usage: sockecho send HOST [MESSAGE] [options]\n"), sendHelp);
  assert.equal(await printed("help", "send"), sendHelp);
  const benchHelp = await printed("help", "bench");
  assert.ok(benchHelp.startsWith("Usage: sockecho bench HOST [options]\n"), benchHelp);
  assert.equal(await printed("bench", "-h"), benchHelp);
});

Deno.test({
  name: "main's version is the package's version in deno.json",
  ignore: !canRead,
  async fn() {
    const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
    assert.equal(VERSION, config.version);
  },
});

/** The exit codes as documented: scripts depend on these numbers. */
const DOCUMENTED_EXITS: Record<number, keyof typeof EXIT> = {
  0: "ok",
  1: "internal",
  2: "usage",
  3: "resolve",
  4: "connect",
  5: "timeout",
  6: "closedEarly",
  7: "mismatch",
  8: "addressInUse",
  9: "bindPermission",
  10: "addressUnavailable",
  11: "tlsVerify",
  12: "notTls",
  13: "missingPermission",
  14: "threshold",
  15: "echoCorrupted",
  16: "echoIncomplete",
  17: "halfClose",
  18: "oneClientAtATime",
  19: "idleCut",
  130: "interrupted",
};

Deno.test("main's exit codes keep their documented numbers, in --help too", async () => {
  assert.deepEqual(
    Object.fromEntries(Object.entries(EXIT).map(([name, code]) => [code, name])),
    DOCUMENTED_EXITS,
  );
  const { out } = await run(["--help"]);
  const listed = out[0].split(/^Exit codes.*:\n/m)[1].split("\n").map((line) =>
    Number(line.trim().split(" ")[0])
  );
  assert.deepEqual(listed, Object.keys(DOCUMENTED_EXITS).map(Number));
});

Deno.test({
  name: "main's exit codes are the README's exit code table",
  ignore: !canRead,
  async fn() {
    const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
    const table = readme.split("### Exit codes\n")[1].trim().split("\n\n")[0];
    const rows = table.split("\n").slice(2).map((row) => row.split("|").map((cell) => cell.trim()));
    assert.deepEqual(
      rows.map(([, code]) => Number(code)),
      Object.keys(DOCUMENTED_EXITS).map(Number),
    );
    // A meaning names its failure: spot-check that rows did not swap places.
    const meaning = Object.fromEntries(rows.map(([, code, text]) => [Number(code), text]));
    assert.match(meaning[EXIT.resolve], /does not resolve/);
    assert.match(meaning[EXIT.connect], /refused/);
    assert.match(meaning[EXIT.timeout], /timed out/);
    assert.match(meaning[EXIT.closedEarly], /closed or reset/);
    assert.match(meaning[EXIT.mismatch], /differs/);
    assert.match(meaning[EXIT.addressInUse], /already in use/);
    assert.match(meaning[EXIT.bindPermission], /not permitted/);
    assert.match(meaning[EXIT.addressUnavailable], /not this machine's/);
    assert.match(meaning[EXIT.tlsVerify], /certificate was not accepted/);
    assert.match(meaning[EXIT.notTls], /does not speak TLS/);
    assert.match(meaning[EXIT.missingPermission], /permission flag is missing/);
    assert.match(meaning[EXIT.threshold], /bench: .*--expect. threshold/);
    assert.match(meaning[EXIT.echoCorrupted], /check: the echo differs/);
    assert.match(meaning[EXIT.echoIncomplete], /stopped short/);
    assert.match(meaning[EXIT.halfClose], /half-close/);
    assert.match(meaning[EXIT.oneClientAtATime], /second client/);
    assert.match(meaning[EXIT.idleCut], /idle connections are cut/);
    assert.match(meaning[EXIT.interrupted], /second Ctrl\+C/);
  },
});

Deno.test("main reports an unexpected error as one internal-error line and exit code 1", async () => {
  const err: string[] = [];
  const code = await main(["-V"], {
    out() {
      throw new TypeError("planted bug");
    },
    err: (line) => err.push(line),
  });
  assert.deepEqual({ code, err }, { code: 1, err: ["internal error: TypeError: planted bug"] });
});

Deno.test("main treats everything after -- as arguments, even --help", async () => {
  await withServer({}, async ({ addr }) => {
    const port = String(addr.port);
    assert.deepEqual(await run(["send", "127.0.0.1", "-p", port, "--", "--help"]), {
      code: EXIT.ok,
      out: ["server message: --help"],
      err: [],
    });
    const counted = await run(["bench", "-p", port, "-n", "3", "--json", "--", "127.0.0.1"]);
    assert.equal(counted.code, EXIT.ok);
    assert.equal(JSON.parse(counted.out.join("\n")).operations, 3);
    assert.deepEqual(await run(["bench", "127.0.0.1", "-p", port, "--", "--help"]), {
      code: EXIT.usage,
      out: [],
      err: ['bench takes one HOST, not also "--help" (try: sockecho bench --help)'],
    });
  });
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
    [["send", "h", "-t", "-1"], 'invalid --timeout "-1": expected a number of at least 0.001'],
    [["serve", "-p", "-5"], 'invalid port "-5": expected a whole number from 0 to 65535'],
    [["send", "h", "--udp", "x".repeat(65_508)], "a UDP message is at most 65,507 bytes"],
    [["check"], "check needs a HOST"],
    [["check", "h", "x"], 'check takes one HOST, not also "x"'],
    [
      ["check", "h:4400", "-p", "4321"],
      'two ports given: 4400 in "h:4400" and 4321 with -p; keep one',
    ],
    [
      ["send", "h:4400", "--udp", "-p", "4321"],
      'two ports given: 4400 in "h:4400" and 4321 with -p; keep one',
    ],
    [["bench", "h", "-d", "61"], "--duration over 60 s needs --force"],
    [["bench", "h", "-c", "10001"], "more than 10000 connections needs --force"],
    [["bench", "h", "-m", "flood"], 'invalid --mode "flood": expected pingpong, bulk, connect'],
    [["bench", "h", "-c", "0"], 'invalid --connections "0": expected a whole number of at least 1'],
    [["bench", "h", "x"], 'bench takes one HOST, not also "x"'],
    [["bench"], "bench needs a HOST"],
    [["bench", "[::1]:99999"], 'invalid port "99999": expected a whole number from 1 to 65535'],
    [["serve", "--cert", "c.pem"], "--cert needs --tls"],
    [["serve", "--udp", "--tls"], "--udp cannot be combined with --tls or --unix"],
    [["send", "h", "--udp", "--unix", "/tmp/s"], "--udp cannot be combined with --tls or --unix"],
    [["bench", "h", "--udp", "--tls"], "--udp cannot be combined with --tls or --unix"],
    [
      ["serve", "--unix", "/tmp/s", "--deny", "10.0.0.0/8"],
      "--allow and --deny name IP networks: a Unix socket's clients have none",
    ],
    [
      ["serve", "--tls", "--proxy-protocol"],
      "--proxy-protocol works over plain TCP only, not with --tls or --unix",
    ],
    [
      ["send", "--unix", "/tmp/s", "--proxy-protocol", "v1"],
      "--proxy-protocol works over plain TCP only, not with --tls or --unix",
    ],
    [
      ["send", "h", "--count", "2", "--proxy-protocol", "v1"],
      "--proxy-protocol is for one send: leave out the probe series options",
    ],
    [
      ["send", "h", "--tls", "--unix", "/tmp/s", "--count", "2"],
      "--tls and --unix cannot be combined",
    ],
    [["check", "h", "--insecure"], "--insecure needs --tls"],
    [["check", "--tls", "--unix", "/tmp/s"], "--tls and --unix cannot be combined"],
    [["check", "--unix", "/tmp/s", "h"], 'check --unix PATH takes no HOST, not "h"'],
    [["serve", "--tls", "--cert", "c.pem"], "--cert and --key go together"],
    [["serve", "--tls", "--unix", "/tmp/s"], "--tls and --unix cannot be combined"],
    [
      ["serve", "--tls", "--handshake-timeout", "0"],
      'invalid --handshake-timeout "0": expected a number of at least 0.001',
    ],
    [["send", "h", "--pin", "AB"], "--pin needs --tls"],
    [
      ["send", "h", "--tls", "--pin", "AB:CD"],
      'invalid --pin "AB:CD": expected a SHA-256 fingerprint, 64 hex digits (colons optional)',
    ],
    [
      ["send", "h", "--tls", "--pin", "ab".repeat(32), "--insecure"],
      "--pin and --insecure cannot be combined",
    ],
    [["bench", "h", "--insecure"], "--insecure needs --tls"],
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
  assert.deepEqual(await codesOf("send"), [0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 130]);
  assert.deepEqual(await codesOf("serve"), [0, 1, 2, 3, 8, 9, 10, 13, 130]);
  assert.deepEqual(await codesOf("bench"), [0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14, 130]);
  assert.deepEqual(await codesOf("check"), [0, 1, 2, 3, 4, 5, 11, 12, 13, 15, 16, 17, 18, 19, 130]);
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
  const unresolved = await run(["send", "no-such-host.invalid"]);
  assert.deepEqual([unresolved.code, unresolved.out, unresolved.err.length], [3, [], 1]);
  assert.match(unresolved.err[0], NO_SUCH_HOST);
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
    assert.match(
      table.out[2],
      /^load {9}2 connections × 64 B, 1 worker, \d+\.\d\d s after a 1 s warm-up$/,
    );
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
    // 2.5 s: a tick at 1 s (and 2 s) even if the machine stalls a moment.
    const code = await main(["bench", "127.0.0.1", "-p", String(addr.port), "-d", "2.5"], {
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

Deno.test("main bench against a server that resets exits 6 with one line, like send", async () => {
  await withResettingServer(async (port) => {
    const reset = `127.0.0.1:${port} failed (connection reset by peer) after echoing 0 of`;
    assert.deepEqual(await run(["bench", "127.0.0.1", "-p", String(port), "-n", "5"]), {
      code: 6,
      out: [],
      err: [`${reset} 64 bytes`],
    });
    assert.deepEqual(await run(["send", "127.0.0.1", "-p", String(port)]), {
      code: 6,
      out: [],
      err: [`${reset} 21 bytes`],
    });
  });
});

Deno.test("main serve with -m 0 sets no connection limit", async () => {
  const server = await startServe("-m", "0");
  const port = Number(server.port);
  const held = await Promise.all(
    Array.from({ length: 3 }, () => Deno.connect({ hostname: "127.0.0.1", port })),
  );
  try {
    for (const conn of held) {
      await writeAll(conn, new TextEncoder().encode("held"));
      assert.deepEqual(await readExactly(conn, 4), new TextEncoder().encode("held"));
    }
    const hello = new TextEncoder().encode("one more");
    assert.deepEqual(await echoOf(port, hello), hello);
  } finally {
    held.forEach((conn) => conn.close());
  }
  assert.equal(await server.stopped(), EXIT.ok);
  assert.ok(!server.out.some((line) => line.startsWith("refused")), server.out.join("\n"));
});

Deno.test("main serve's summary counts connections closed at the end of the grace period", async () => {
  const server = await startServe("--grace", "0.2");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(server.port) });
  try {
    await writeAll(conn, new TextEncoder().encode("xy"));
    await readExactly(conn, 2);
    assert.equal(await server.stopped(), EXIT.ok);
    assert.deepEqual(await readToEnd(conn), new Uint8Array(), "the server closed it");
  } finally {
    conn.close();
  }
  assert.deepEqual(server.err, [
    "stopping: no new connections; 1 open, 0.2 s to finish (Ctrl+C again to exit at once)",
    "stopped: 1 connection, 2 bytes echoed, 1 closed at the end of the grace period",
  ]);
  assert.match(
    server.out.at(-1)!,
    /^127\.0\.0\.1:\d+ closed: 2 bytes echoed in \d+\.\d{3} s \(closed at the end of the grace period\)$/,
  );
});

Deno.test("main serve logs a client's reset as 'reset by the client'", async () => {
  const server = await startServe();
  const closed = server.printed(/ closed: /);
  // node:net can send a reset (SO_LINGER 0); Deno's close() sends a FIN.
  const socket = net.connect({ host: "127.0.0.1", port: Number(server.port) });
  const gone = new Promise((resolve) => socket.on("close", resolve));
  socket.on("error", () => {});
  socket.once("data", () => socket.resetAndDestroy());
  socket.write("hi");
  await withTimeout(gone, WAIT_MS, "the reset socket to close");
  const [line] = await closed;
  assert.equal(await server.stopped(), EXIT.ok);
  assert.match(
    server.out.at(-1)!,
    /^127\.0\.0\.1:\d+ closed: 2 bytes echoed in \d+\.\d{3} s \(reset by the client\)$/,
    line,
  );
});

Deno.test("main serve logs an echo the client no longer takes as 'client stopped reading'", async () => {
  const server = await startServe();
  const closed = server.printed(/ closed: /);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(server.port) });
  let first = true;
  // The client closes (a FIN) as soon as the server has read the first chunk,
  // before any echo: writing that echo then meets a closed socket, whose
  // reset arrives after the FIN, so the server's next write fails with EPIPE.
  server.onLine((line) => {
    if (first && / sent [\d,]+ bytes: /.test(line)) {
      first = false;
      conn.close();
    }
  });
  await writeAll(conn, pattern(8 * 1024)).catch(() => {});
  await closed;
  assert.equal(await server.stopped(), EXIT.ok);
  assert.match(
    server.out.at(-1)!,
    /^127\.0\.0\.1:\d+ closed: [\d,]+ bytes echoed in \d+\.\d{3} s \(client stopped reading\)$/,
  );
});
