/**
 * `sockecho send`: the echo it prints and each failure's exit code, in-process
 * through `main` and as a real process (one plain line on stderr); `--udp`;
 * standard input as the message (MESSAGE "-", a pipe, a file) or not (a
 * terminal, /dev/null, none: the greeting); and interop with socat, nc and
 * the seed's C server as echo servers. (The probe series, `--count`, is in
 * send_series_test.ts; `--tls` and `--unix` in transport_options_test.ts.)
 */
import assert from "node:assert/strict";
import { C_CLIENT_MESSAGE } from "../../diag/send.ts";
import { EXIT, main } from "../../main.ts";
import { formatAddress } from "../../net/format.ts";
import { writeAll } from "../../net/io.ts";
import { serve } from "../../server.ts";
import {
  NO_SUCH_HOST,
  outputOf,
  readExactly,
  readToEnd,
  recorder,
  runMain,
  WAIT_MS,
  withFakeServer,
  withServer,
  withTimeout,
} from "../test_util.ts";
import {
  canRun,
  canWrite,
  freePort,
  hasCommand,
  MAIN,
  needs,
  skipped,
  sockecho,
  sockechoOnTerminal,
  spawn,
  spawnSockecho,
  untilListening,
} from "../test_util_process.ts";
import { freeUdpPort, Peer, withUdpServer } from "../test_util_udp.ts";

const run = (args: string[]) => runMain(args);

const haveNc = await hasCommand("nc");
const haveSocat = await hasCommand("socat");
const haveCc = canWrite && await hasCommand("cc");

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

// The real program as a process: `deno run -N main.ts send`.

Deno.test({
  name: "cli: send failures print one plain line each, with their exit codes",
  ignore: !canRun,
  async fn() {
    const port = String(freePort());
    // Literal numbers: scripts depend on them, whatever the EXIT table says.
    assert.deepEqual(await sockecho("send", "127.0.0.1", "-p", port), {
      code: 4,
      stdout: "",
      stderr: `sockecho: cannot connect to 127.0.0.1:${port}: connection refused\n`,
    });
    const unresolved = await sockecho("send", "no-such-host.invalid");
    assert.deepEqual({ ...unresolved, stderr: undefined }, {
      code: 3,
      stdout: "",
      stderr: undefined,
    });
    assert.match(unresolved.stderr.replace(/^sockecho: (.*)\n$/, "$1"), NO_SUCH_HOST);
    assert.deepEqual(await sockecho("send"), {
      code: 2,
      stdout: "",
      stderr: "sockecho: send needs a HOST (try: sockecho send --help)\n",
    });
  },
});

Deno.test({
  name: "cli: send's timeout, early close and wrong echo exit 5, 6 and 7 with one plain line",
  ignore: !canRun,
  async fn() {
    // Only the timeout case has a short timeout: in the others a stalled
    // machine must not turn the peer's answer into a timeout.
    const cases: [(conn: Deno.Conn) => Promise<void>, number, RegExp, string][] = [
      [async (conn) => void await readToEnd(conn), 5, /^timed out after 0\.3 s/, "0.3"],
      [async (conn) => void await readExactly(conn, 21), 6, /closed the connection/, "10"],
      [
        async (conn) => {
          await writeAll(conn, new Uint8Array(21));
          await readToEnd(conn);
        },
        7,
        /^echo differs from what was sent at byte 0: sent 0xe4, got 0x00; received "(\\0){21}" \(21 bytes\)$/,
        "10",
      ],
    ];
    for (const [peer, code, message, timeout] of cases) {
      await withFakeServer(peer, async (port) => {
        const sent = await sockecho("send", "127.0.0.1", "-p", String(port), "-t", timeout);
        assert.equal(sent.code, code);
        assert.equal(sent.stdout, "");
        const lines = sent.stderr.split("\n");
        assert.deepEqual(lines.length, 2, sent.stderr); // one line and its newline
        assert.match(lines[0].replace(/^sockecho: /, ""), message);
      });
    }
  },
});

Deno.test({
  name: "cli: send and bench against a web server show what it answered",
  ignore: !canRun,
  async fn() {
    const answer = new TextEncoder().encode(
      "HTTP/1.0 400 Bad request\r\nContent-Type: text/html\r\n\r\n" + "x".repeat(80),
    );
    const webServer = async (conn: Deno.Conn) => {
      await readExactly(conn, 1);
      await writeAll(conn, answer);
    };
    await withFakeServer(webServer, async (port) => {
      assert.deepEqual(await sockecho("send", `127.0.0.1:${port}`), {
        code: EXIT.mismatch,
        stdout: "",
        stderr: "sockecho: echo differs from what was sent at byte 0: sent 0xe4, got 0x48; " +
          'received "HTTP/1.0 400 Bad request\\r\\nContent-Type: …" (133 bytes)\n',
      });
      const bench = await sockecho("bench", `127.0.0.1:${port}`, "-d", "5");
      assert.equal(bench.code, EXIT.mismatch);
      assert.equal(
        bench.stderr,
        "sockecho: echo differs from what was sent at byte 0: sent 0x00, got 0x48; " +
          'received "HTTP/1.0 400 Bad request\\r\\nContent-Type: …" (64 bytes)\n',
      );
    });
  },
});

Deno.test({
  name: "cli: send --udp exits 5 with no answer and 7 for a different datagram, in one line",
  ignore: !canRun,
  async fn() {
    const silent = await Peer.bind();
    const liar = await Peer.bind();
    liar.socket.on("message", (datagram: Uint8Array, from: { address: string; port: number }) => {
      liar.send(datagram.map((byte, i) => i === 2 ? byte + 1 : byte), from.port, from.address);
    });
    try {
      const quiet = await sockecho(
        "send",
        "--udp",
        "127.0.0.1",
        "-p",
        String(silent.port),
        "-t",
        "0.6",
      );
      assert.deepEqual(quiet, {
        code: EXIT.timeout,
        stdout: "",
        stderr:
          `sockecho: timed out after 0.6 s: no echo from 127.0.0.1:${silent.port} (3 tries)\n`,
      });
      await silent.next(3); // the first try and two retries
      assert.equal(silent.received.length, 3);
      const wrong = await sockecho("send", "--udp", "127.0.0.1", "-p", String(liar.port), "abc");
      assert.deepEqual(wrong, {
        code: EXIT.mismatch,
        stdout: "",
        stderr:
          `sockecho: echo from 127.0.0.1:${liar.port} differs from what was sent at byte 2: ` +
          'sent 0x63, got 0x64; received "abd" (3 bytes)\n',
      });
    } finally {
      await silent.close();
      await liar.close();
    }
  },
});

Deno.test({
  name: "interop: sockecho send passes against a socat echo server" +
    skipped(needs(haveSocat, "socat")),
  ignore: !haveSocat,
  async fn() {
    const port = freePort();
    const socat = spawn("socat", [
      "-d",
      "-d",
      `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`,
      "PIPE",
    ]);
    await socat.err.match(/listening on/);
    const sent = await sockecho("send", "127.0.0.1", "-p", String(port), "hello socat");
    assert.deepEqual(sent, { code: EXIT.ok, stdout: "server message: hello socat\n", stderr: "" });
    assert.equal(await socat.finish(), 0);
  },
});

Deno.test({
  name: "interop: sockecho send against an nc server that replies with the right bytes" +
    skipped(needs(haveNc, "nc")),
  ignore: !haveNc,
  async fn() {
    const port = String(freePort());
    const nc = spawn("nc", ["-v", "-l", "127.0.0.1", port], "piped");
    await nc.err.match(/Listening on/);
    const writer = nc.child.stdin.getWriter();
    await writer.write(C_CLIENT_MESSAGE);
    await writer.close();
    const sent = await sockecho("send", "127.0.0.1", "-p", port);
    assert.deepEqual(sent, {
      code: EXIT.ok,
      stdout: "server message: 你好啊服务器!\n",
      stderr: "",
    });
    // nc exits when the client closes, having printed exactly the 21 bytes it received.
    assert.equal(await nc.finish(), 0);
    assert.deepEqual(nc.out.lines, ["你好啊服务器!", "\0"]);
  },
});

Deno.test({
  name: "interop: sockecho send and bench against the seed's C server" +
    skipped(needs(haveCc, "cc")),
  ignore: !haveCc,
  async fn() {
    const dir = await Deno.makeTempDir();
    const seed = new URL("../testdata/seed_server.c", import.meta.url);
    // The seed listens on every interface; tests bind loopback only.
    const source = (await Deno.readTextFile(seed))
      .replace("htonl(INADDR_ANY)", "htonl(INADDR_LOOPBACK)");
    assert.ok(source.includes("INADDR_LOOPBACK"), "the seed still binds INADDR_ANY");
    let server: ReturnType<typeof spawn> | undefined;
    try {
      await Deno.writeTextFile(`${dir}/server.c`, source);
      const built = await outputOf("cc", {
        args: ["-O2", "-o", `${dir}/server`, `${dir}/server.c`],
      });
      assert.ok(built.success, new TextDecoder().decode(built.stderr));
      const port = freePort();
      server = spawn(`${dir}/server`, [String(port)]);
      await untilListening(port, "the seed server");
      assert.deepEqual(await sockecho("send", "127.0.0.1", "-p", String(port)), {
        code: 0,
        stdout: "server message: 你好啊服务器!\n",
        stderr: "",
      });
      for (const mode of ["pingpong", "connect"]) {
        const args = ["bench", "127.0.0.1", "-p", String(port), "-m", mode, "-n", "200", "--json"];
        const counted = await sockecho(...args);
        assert.equal(counted.code, 0, counted.stderr);
        const report = JSON.parse(counted.stdout);
        assert.deepEqual([report.mode, report.operations, report.bytes], [mode, 200, 200 * 64]);
      }
    } finally {
      server?.child.kill("SIGTERM");
      await server?.finish();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "interop: sockecho send --udp passes against socat's UDP echo servers" +
    skipped(needs(haveSocat, "socat")),
  ignore: !haveSocat,
  async fn() {
    for (
      const [address, ready] of [
        ["UDP-RECVFROM:%d,bind=127.0.0.1,fork EXEC:cat", /receiving on/],
        ["UDP-LISTEN:%d,bind=127.0.0.1,fork PIPE", /listening on/],
      ] as const
    ) {
      const port = String(await freeUdpPort());
      const [from, to] = address.replace("%d", port).split(" ");
      // -T 1: each forked child ends a second after its datagram, so none outlives the test.
      const socat = spawn("socat", ["-d", "-d", "-T", "1", from, to]);
      try {
        await socat.err.match(ready);
        const sent = await sockecho("send", "--udp", "127.0.0.1", "-p", port, "hello socat");
        assert.deepEqual(sent, {
          code: EXIT.ok,
          stdout: "server message: hello socat\n",
          stderr: "",
        }, address);
      } finally {
        socat.child.kill("SIGTERM");
        await withTimeout(socat.finish(), WAIT_MS, "socat's exit");
      }
    }
  },
});

// --- Standard input: MESSAGE "-", a pipe or a file; the greeting on a terminal, /dev/null, none ---

const haveScript = await hasCommand("script");
const GREETING = "server message: 你好啊服务器!";

/** How a child's standard input is made. */
type Stdin = { pipe: Uint8Array } | { file: string } | "/dev/null" | "closed";

/** Runs `sockecho ARGS` with standard input as `stdin` says; its exit code and output lines. */
async function sendWithStdin(args: string[], stdin: Stdin) {
  // sh puts the file on descriptor 0, or closes it, then becomes sockecho.
  const shell = (redirect: string) =>
    spawn("sh", ["-c", `exec "$0" "$@" ${redirect}`, Deno.execPath(), "run", "-N", MAIN, ...args]);
  const child = stdin === "closed"
    ? shell("<&-")
    : typeof stdin === "object" && "file" in stdin
    ? shell(`< '${stdin.file}'`)
    : spawnSockecho(args, { stdin: stdin === "/dev/null" ? "null" : "piped" });
  if (typeof stdin === "object" && "pipe" in stdin) {
    const writer = child.child.stdin.getWriter();
    await writer.write(stdin.pipe);
    await writer.close();
  }
  const code = await child.finish();
  return { code, out: child.out.lines, err: child.err.lines };
}

/** Runs `body` with a server that echoes only once the client has half-closed. */
function withEchoAfterFin(body: (port: number) => Promise<void>): Promise<void> {
  return withFakeServer(async (conn) => await writeAll(conn, await readToEnd(conn)), body);
}

Deno.test({
  name: "echo hi | send HOST: a pipe is the message, sent whole, then a half-close",
  ignore: !canRun,
  async fn() {
    // This server answers only after our FIN: without the half-close the send would time out.
    await withEchoAfterFin(async (port) => {
      const pipe = new TextEncoder().encode("hi from a pipe\n");
      const result = await sendWithStdin(["send", `127.0.0.1:${port}`], { pipe });
      assert.deepEqual(result, { code: EXIT.ok, out: ["server message: hi from a pipe"], err: [] });
    });
  },
});

Deno.test({
  name: "send HOST < FILE: a redirected file is the message",
  ignore: !canRun,
  async fn() {
    const file = await Deno.makeTempFile();
    try {
      await Deno.writeTextFile(file, "from a file\n");
      await withEchoAfterFin(async (port) => {
        const result = await sendWithStdin(["send", `127.0.0.1:${port}`], { file });
        assert.deepEqual(result, { code: EXIT.ok, out: ["server message: from a file"], err: [] });
      });
    } finally {
      await Deno.remove(file);
    }
  },
});

Deno.test({
  name: "send HOST with stdin on /dev/null, closed, or an empty pipe (cron's) sends the greeting",
  ignore: !canRun,
  async fn() {
    await withServer({}, async ({ addr }) => {
      for (const stdin of ["/dev/null", "closed", { pipe: new Uint8Array() }] as const) {
        const result = await sendWithStdin(["send", `127.0.0.1:${addr.port}`], stdin);
        assert.deepEqual(
          result,
          { code: EXIT.ok, out: [GREETING], err: [] },
          JSON.stringify(stdin),
        );
      }
    });
  },
});

Deno.test({
  name: "send HOST on a terminal sends the greeting without waiting for input" +
    skipped(needs(haveScript, "script")),
  ignore: !haveScript,
  async fn() {
    // script's pseudo-terminal is the child's stdin too; reading it would hang until WAIT_MS.
    await withServer({}, async ({ addr }) => {
      assert.equal(await sockechoOnTerminal("send", `127.0.0.1:${addr.port}`), `${GREETING}\r\n`);
    });
  },
});

Deno.test({
  name: 'send HOST -: "-" is standard input, even empty; with --file it is a usage error',
  ignore: !canRun,
  async fn() {
    await withServer({}, async ({ addr }) => {
      const host = `127.0.0.1:${addr.port}`;
      const pipe = new TextEncoder().encode("-x-");
      const piped = await sendWithStdin(["send", host, "-"], { pipe });
      assert.deepEqual(piped, { code: EXIT.ok, out: ["server message: -x-"], err: [] });
      // Asked for on purpose, /dev/null is an empty message, not the greeting.
      const empty = await sendWithStdin(["send", host, "-"], "/dev/null");
      assert.deepEqual(empty, { code: EXIT.ok, out: ["server message: "], err: [] });
      const both = await sendWithStdin(["send", host, "-", "--file", MAIN], "/dev/null");
      assert.equal(both.code, EXIT.usage);
      assert.match(both.err[0], /give one of MESSAGE, --file and --size/);
    });
  },
});

/** Runs `main(args)` in-process with `input` as a piped standard input. */
async function mainWithStdin(args: string[], input: string) {
  const { io, out, err } = recorder();
  const readable = ReadableStream.from([new TextEncoder().encode(input)]);
  const code = await main(args, { ...io, stdin: { readable, redirected: () => true } });
  return { code, out, err };
}

Deno.test("stdin read once serves every probe of a series, and is a UDP datagram", async () => {
  await withServer({}, async ({ addr }) => {
    const { code, out } = await mainWithStdin(
      ["send", `127.0.0.1:${addr.port}`, "-c", "2"],
      "ping",
    );
    assert.equal(code, EXIT.ok);
    assert.match(out[1], /^4 bytes from 127\.0\.0\.1:\d+: seq=2 /);
  });
  await withUdpServer({}, async ({ addr }) => {
    const { code, out } = await mainWithStdin(["send", `127.0.0.1:${addr.port}`, "--udp"], "dgram");
    assert.deepEqual({ code, out }, { code: EXIT.ok, out: ["server message: dgram"] });
  });
});
