/**
 * The real program in real processes: `deno run -N main.ts` spawned with
 * pipes, signals sent to it, and interoperation with nc, socat and the seed's
 * C client. These need `--allow-run` (and read/write for temporary builds):
 * `deno task test` grants them; under plain `deno test -N` they are ignored.
 */
import assert from "node:assert/strict";
import { C_CLIENT_MESSAGE } from "../../diag/send.ts";
import { EXIT } from "../../main.ts";
import { writeAll } from "../../net/io.ts";
import {
  concat,
  echoFrom,
  echoOf,
  NO_SUCH_HOST,
  outputOf,
  readExactly,
  readToEnd,
  WAIT_MS,
  withFakeServer,
  withServer,
  withTimeout,
} from "../testing.ts";
import { canBindUdp, Peer } from "../testing_udp.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;
const canRun = (await Deno.permissions.query({ name: "run" })).state === "granted";
const canWrite = (await Deno.permissions.query({ name: "write" })).state === "granted";

async function hasCommand(name: string): Promise<boolean> {
  if (!canRun) return false;
  return (await outputOf("sh", { args: ["-c", `command -v ${name}`], stdout: "null" })).success;
}

/**
 * The environment for sockecho processes, without NO_COLOR (CI sets it), so
 * the tests see what a user's pipe gets: Deno must drop colours by itself.
 */
const CHILD_ENV = !canRun ? {} : Object.fromEntries(
  ["PATH", "HOME", "DENO_DIR", "TMPDIR"].flatMap((name) => {
    const value = Deno.env.get(name);
    return value === undefined ? [] : [[name, value]];
  }),
);

const haveNc = await hasCommand("nc");
const havePrlimit = await hasCommand("prlimit");
const haveSs = await hasCommand("ss");
const haveSocat = await hasCommand("socat");
const haveCc = canWrite && await hasCommand("cc");

/** `setpriv` arguments that run a command as nobody. */
const AS_NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups", "--"];

/**
 * Why the test that drops to nobody cannot run here, or undefined when it
 * can: it needs root, setpriv, a privileged port 80, and a deno that nobody
 * may run (the sources it copies to a folder nobody can read).
 */
async function whyNotAsNobody(): Promise<string | undefined> {
  if (!canWrite) return "needs --allow-run and --allow-write";
  if (!await hasCommand("setpriv")) return "needs setpriv";
  const id = await outputOf("id", { args: ["-u"] });
  if (new TextDecoder().decode(id.stdout).trim() !== "0") return "needs root";
  const lowest = await Deno.readTextFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
    .catch(() => "1024");
  if (Number(lowest) <= 80) return "port 80 is not privileged here";
  const probe = await outputOf("setpriv", {
    args: [...AS_NOBODY, Deno.execPath(), "--version"],
    stdout: "null",
    stderr: "null",
  });
  return probe.success ? undefined : `nobody may not run ${Deno.execPath()}`;
}

/** Copies the program's sources (every .ts, deno.json, deno.lock) under `from` to `to`. */
async function copySources(from: string, to: string): Promise<void> {
  for await (const entry of Deno.readDir(from)) {
    if (entry.name.startsWith(".") || ["node_modules", "dist"].includes(entry.name)) continue;
    const [source, target] = [`${from}/${entry.name}`, `${to}/${entry.name}`];
    if (entry.isDirectory) {
      await Deno.mkdir(target, { mode: 0o755 });
      await copySources(source, target);
    } else if (/\.ts$|^deno\.(json|lock)$/.test(entry.name)) {
      await Deno.copyFile(source, target);
      await Deno.chmod(target, 0o644);
    }
  }
}

/** " (skipped: why)" for a test's name when `why` is set: CI lists skips with their reason. */
const skipped = (why: string | undefined) => why === undefined ? "" : ` (skipped: ${why})`;
const needs = (have: boolean, what: string) => have ? undefined : `needs ${what}`;

/** Collects a child's output lines and lets a test await a line. */
class Lines {
  readonly lines: string[] = [];
  readonly done: Promise<void>;
  #watchers: (() => void)[] = [];
  #reader: ReadableStreamDefaultReader<string>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
    this.done = this.#pump();
  }

  /** Stops reading and closes the pipe, as `head` does once it has its lines. */
  async close(): Promise<void> {
    await this.#reader.cancel();
    await this.done;
  }

  async #pump(): Promise<void> {
    let pending = "";
    for (let read; !(read = await this.#reader.read()).done;) {
      const parts = (pending + read.value).split("\n");
      pending = parts.pop()!;
      this.lines.push(...parts);
      this.#watchers.forEach((wake) => wake());
    }
    if (pending) this.lines.push(pending);
    this.#watchers.forEach((wake) => wake());
  }

  /**
   * Resolves with the first line matching `pattern`, now or once it is
   * printed; fails when the stream ends without one or after `ms`.
   */
  match(pattern: RegExp, ms = WAIT_MS): Promise<RegExpMatchArray> {
    return withTimeout(this.#match(pattern), ms, `a line matching ${pattern}`).catch((error) => {
      throw new Error(`${error.message}; lines so far: ${JSON.stringify(this.lines)}`);
    });
  }

  async #match(pattern: RegExp): Promise<RegExpMatchArray> {
    for (let ended = false;;) {
      for (const line of this.lines) {
        const found = line.match(pattern);
        if (found) return found;
      }
      if (ended) throw new Error(`no line matched ${pattern}: ${JSON.stringify(this.lines)}`);
      const woken = new Promise<void>((wake) => this.#watchers.push(wake));
      ended = await Promise.race([woken.then(() => false), this.done.then(() => true)]);
    }
  }
}

/** A spawned process whose stdout and stderr are read line by line. */
function spawn(command: string, args: string[], stdin: "piped" | "null" = "null") {
  const child = new Deno.Command(command, {
    args,
    stdin,
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: CHILD_ENV,
  }).spawn();
  const out = new Lines(child.stdout);
  const err = new Lines(child.stderr);
  return {
    child,
    out,
    err,
    /** Waits for the exit and for all output; kills the child and fails after `ms`. */
    async finish(ms = WAIT_MS) {
      try {
        const { code } = await withTimeout(child.status, ms, `${command} to exit`);
        await Promise.all([out.done, err.done]);
        return code;
      } catch (error) {
        child.kill("SIGKILL");
        await child.status;
        await Promise.allSettled([out.done, err.done]);
        throw error;
      }
    },
  };
}

/** Starts `sockecho serve` on 127.0.0.1 and a free port. */
async function startServe(...extra: string[]) {
  const server = spawn(Deno.execPath(), [
    "run",
    "-N",
    MAIN,
    "serve",
    "-H",
    "127.0.0.1",
    "-p",
    "0",
    ...extra,
  ]);
  const [, port] = await server.out.match(/^Listening on 127\.0\.0\.1:(\d+)$/);
  return { ...server, port };
}

/** Runs `sockecho ARGS` to the end. */
function sockecho(...args: string[]) {
  return runDeno(["-N"], args);
}

/** Runs `sockecho ARGS` to the end with more Deno permission flags than `-N`. */
function sockechoWith(flags: string[], ...args: string[]) {
  return runDeno(["-N", ...flags], args);
}

/** Runs `deno run DENO_FLAGS main.ts ARGS` to the end. */
async function runDeno(denoFlags: string[], args: string[]) {
  const { code, stdout, stderr } = await outputOf(Deno.execPath(), {
    args: ["run", ...denoFlags, MAIN, ...args],
    stdin: "null",
    clearEnv: true,
    env: CHILD_ENV,
  });
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/**
 * Runs a client program (`nc`, `socat`) against a fresh `sockecho serve` with
 * `input` on its stdin, and checks that it exits 0 having printed the echo.
 */
async function assertPeerGetsEcho(
  command: string,
  argsFor: (port: string) => string[],
  input: Uint8Array,
): Promise<void> {
  const server = await startServe();
  const { code, stdout } = await runWithInput(command, argsFor(server.port), input);
  server.child.kill("SIGINT");
  assert.equal(await server.finish(), EXIT.ok);
  assert.equal(code, 0);
  assert.deepEqual(new Uint8Array(stdout), input);
}

/** Runs `command` to its exit (bounded) with `input` on its stdin. */
async function runWithInput(command: string, args: string[], input: Uint8Array) {
  const peer = new Deno.Command(command, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = peer.stdin.getWriter();
  await writer.write(input);
  await writer.close();
  return await withTimeout(peer.output(), WAIT_MS, `${command} to exit`).catch((error) => {
    peer.kill("SIGKILL");
    throw error;
  });
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  listener.close();
  return listener.addr.port;
}

const ESC = "\x1b";

Deno.test({
  name: "cli: serve and send as processes talk, and pipes get no colour codes",
  ignore: !canRun,
  async fn() {
    const server = await startServe();
    const sent = await sockecho("send", "127.0.0.1", "-p", server.port);
    assert.deepEqual(sent, {
      code: 0,
      stdout: "server message: 你好啊服务器!\n",
      stderr: "",
    });
    await server.out.match(/ closed: 21 bytes echoed/);
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
    assert.match(server.out.lines[1], /^You got a connection from client's ip 127\.0\.0\.1, port/);
    assert.match(server.out.lines[2], /sent 21 bytes: 你好啊服务器!\\n$/);
    assert.equal(server.err.lines.at(-1), "sockecho: stopped: 1 connection, 21 bytes echoed");
    assert.ok(![...server.out.lines, ...server.err.lines].some((line) => line.includes(ESC)));
  },
});

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
  name: "cli: bench into a pipe prints the table only, with no progress line or colour",
  ignore: !canRun,
  async fn() {
    await withServer({}, async ({ addr }) => {
      const run = await sockecho("bench", "127.0.0.1", "-p", String(addr.port), "-d", "1.2");
      assert.equal(run.code, EXIT.ok);
      assert.equal(run.stderr, "");
      assert.ok(!run.stdout.includes("\r") && !run.stdout.includes(ESC), run.stdout);
      assert.deepEqual(
        run.stdout.trimEnd().split("\n").map((line) => line.split(/ {2,}/)[0]),
        ["mode", "target", "load", "round trips", "throughput", "latency ms"],
      );
    });
  },
});

Deno.test({
  name: "cli: serve on a taken port exits 8 with one plain line",
  ignore: !canRun,
  async fn() {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const port = String(listener.addr.port);
      assert.deepEqual(await sockecho("serve", "-H", "127.0.0.1", "-p", port), {
        code: 8,
        stdout: "",
        stderr: `sockecho: cannot listen on 127.0.0.1:${port}: address already in use\n`,
      });
    } finally {
      listener.close();
    }
  },
});

const notAsNobody = await whyNotAsNobody();

Deno.test({
  name: "cli: serve exits 9 when not permitted to bind port 80 (run as nobody)" +
    skipped(notAsNobody),
  ignore: notAsNobody !== undefined,
  async fn() {
    // A copy in a folder nobody can read, wherever this checkout sits
    // (a root user's clone in /root or a mode-700 mktemp folder is not).
    const copy = await Deno.makeTempDir({ dir: "/tmp" });
    const denoDir = `${copy}/.deno_dir`;
    try {
      await Deno.chmod(copy, 0o755);
      await copySources(ROOT, copy);
      await Deno.mkdir(denoDir, { mode: 0o777 });
      await Deno.chmod(denoDir, 0o777);
      const { code, stdout, stderr } = await outputOf("setpriv", {
        // -q: the fresh DENO_DIR downloads the npm dependencies first, and says so on stderr.
        args: [...AS_NOBODY, Deno.execPath(), "run", "-q", "-N", `${copy}/main.ts`]
          .concat(["serve", "-H", "127.0.0.1", "-p", "80"]),
        env: { DENO_DIR: denoDir },
        clearEnv: true,
      });
      assert.deepEqual({ code, stdout: new TextDecoder().decode(stdout) }, {
        code: 9,
        stdout: "",
      });
      assert.equal(
        new TextDecoder().decode(stderr),
        "sockecho: cannot listen on 127.0.0.1:80: permission denied\n",
      );
    } finally {
      await Deno.remove(copy, { recursive: true });
    }
  },
});

Deno.test({
  name: "cli: SIGTERM stops accepting but an open connection is echoed until it closes",
  ignore: !canRun,
  async fn() {
    const server = await startServe("--grace", "30");
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(server.port) });
    try {
      await server.out.match(/^You got a connection/);
      server.child.kill("SIGTERM");
      await server.err.match(
        /^sockecho: stopping: no new connections; 1 open, 30 s to finish \(Ctrl\+C again to exit at once\)$/,
      );
      const late = new TextEncoder().encode("sent after SIGTERM");
      await writeAll(conn, late);
      assert.deepEqual(await readExactly(conn, late.length), late);
      await conn.closeWrite();
      assert.deepEqual(await readToEnd(conn), new Uint8Array());
    } finally {
      conn.close();
    }
    assert.equal(await server.finish(), EXIT.ok);
    assert.equal(server.err.lines.at(-1), "sockecho: stopped: 1 connection, 18 bytes echoed");
  },
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test({
    name: `cli: a second ${signal} exits at once with code 130`,
    ignore: !canRun,
    async fn() {
      const server = await startServe("--grace", "60");
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(server.port) });
      try {
        await server.out.match(/^You got a connection/);
        server.child.kill(signal);
        await server.err.match(/^sockecho: stopping/);
        server.child.kill(signal);
        assert.equal(await server.finish(), 130);
        assert.equal(server.err.lines.at(-1), "sockecho: second interrupt: exiting at once");
      } finally {
        conn.close();
      }
    },
  });
}

Deno.test({
  name: "interop: nc as client gets its bytes back from sockecho serve" +
    skipped(needs(haveNc, "nc")),
  ignore: !haveNc,
  async fn() {
    const every = Uint8Array.from({ length: 256 }, (_, i) => i);
    await assertPeerGetsEcho("nc", (port) => ["-N", "127.0.0.1", port], every);
  },
});

Deno.test({
  name: "interop: socat as client gets its bytes back from sockecho serve" +
    skipped(needs(haveSocat, "socat")),
  ignore: !haveSocat,
  async fn() {
    const text = new TextEncoder().encode("socat says hello\n".repeat(1000));
    await assertPeerGetsEcho("socat", (port) => ["-t", "5", "-", `TCP:127.0.0.1:${port}`], text);
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
  name: "interop: the seed's C client against sockecho serve prints the echo" +
    skipped(needs(haveCc, "cc")),
  ignore: !haveCc,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const client = `${dir}/client`;
      const source = new URL("../testdata/seed_client.c", import.meta.url).pathname;
      const built = await outputOf("cc", { args: ["-O2", "-o", client, source] });
      assert.ok(built.success, new TextDecoder().decode(built.stderr));
      const server = await startServe();
      const { code, stdout } = await outputOf(client, { args: ["127.0.0.1", server.port] });
      await server.out.match(/ closed: 21 bytes echoed/);
      server.child.kill("SIGINT");
      assert.equal(await server.finish(), 0);
      assert.equal(code, 0);
      // The C client overwrites the last byte it received (the NUL) with a space.
      assert.equal(new TextDecoder().decode(stdout), "server message: 你好啊服务器!\n \n");
      assert.match(server.out.lines[2], /sent 21 bytes: 你好啊服务器!\\n$/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "cli: serve out of file descriptors keeps accepting: logs once, then serves again" +
    skipped(needs(havePrlimit, "prlimit")),
  ignore: !havePrlimit,
  async fn() {
    const server = spawn("prlimit", [
      "--nofile=64",
      "--",
      Deno.execPath(),
      ...["run", "-N", MAIN, "serve", "-q", "-H", "127.0.0.1", "-p", "0"],
    ]);
    const [, port] = await server.out.match(/^Listening on 127\.0\.0\.1:(\d+)$/);
    const exhausted = server.err.match(/^sockecho: cannot accept connections: too many open files/);
    // More connections than the server has descriptors; the kernel queues the rest.
    const conns = await Promise.all(
      Array.from(
        { length: 100 },
        () => Deno.connect({ hostname: "127.0.0.1", port: Number(port) }),
      ),
    );
    await exhausted;
    conns.forEach((conn) => conn.close());
    const hello = new TextEncoder().encode("served again");
    assert.deepEqual(await echoOf(Number(port), hello), hello);
    await server.err.match(/^sockecho: accepting connections again$/);
    server.child.kill("SIGTERM");
    assert.equal(await server.finish(), EXIT.ok);
    const complaints = server.err.lines.filter((line) => line.includes("cannot accept"));
    assert.equal(complaints.length, 1, server.err.lines.join("\n"));
  },
});

Deno.test({
  name: "cli: serve turns TCP keep-alive on for its connections" +
    skipped(needs(haveSs, "ss (iproute2)")),
  ignore: !haveSs,
  async fn() {
    const server = await startServe();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(server.port) });
    try {
      await writeAll(conn, new TextEncoder().encode("k"));
      await readExactly(conn, 1);
      const { stdout } = await outputOf("ss", {
        args: ["-tnoH", "state", "established", `( sport = :${server.port} )`],
      });
      // ss shows a keep-alive timer on the server's side of the connection.
      assert.match(new TextDecoder().decode(stdout), /timer:\(keepalive,/);
    } finally {
      conn.close();
    }
    server.child.kill("SIGTERM");
    assert.equal(await server.finish(), EXIT.ok);
  },
});

Deno.test({
  name: "cli: without -N every command exits 13 with one line naming the flag",
  ignore: !canRun,
  async fn() {
    const port = String(freePort());
    const cases: [string[], string][] = [
      [["send", "127.0.0.1", "-p", port], `"127.0.0.1:${port}"`],
      [["send", "localhost", "-p", port], ""],
      [["serve", "-H", "127.0.0.1", "-p", port], `"127.0.0.1:${port}"`],
      [["bench", "127.0.0.1", "-p", port, "-d", "1"], `"127.0.0.1:${port}"`],
      [["bench", "127.0.0.1", "-p", port, "-d", "1", "-c", "2", "-w", "2"], `"127.0.0.1:${port}"`],
    ];
    for (const [args, what] of cases) {
      assert.deepEqual(await runDeno(["--no-prompt"], args), {
        code: EXIT.missingPermission,
        stdout: "",
        stderr: `sockecho: no net permission${what && ` for ${what}`}: run with -N (--allow-net)\n`,
      }, args.join(" "));
    }
  },
});

Deno.test({
  name: "cli: serve keeps serving when its stdout goes away (sockecho serve | head)",
  ignore: !canRun,
  async fn() {
    const server = await startServe();
    await server.out.close(); // what `head -n 1` does after the first line
    const port = Number(server.port);
    for (const text of ["still served", "and again"]) {
      const bytes = new TextEncoder().encode(text);
      assert.deepEqual(await echoOf(port, bytes), bytes);
    }
    server.child.kill("SIGTERM");
    assert.equal(await server.finish(), 0);
    assert.deepEqual(server.err.lines, [
      "sockecho: stopping: no new connections; 0 open, 5 s to finish (Ctrl+C again to exit at once)",
      "sockecho: stopped: 2 connections, 21 bytes echoed",
    ]);
  },
});

Deno.test({
  name: "cli: a bug surfacing as an unhandled rejection or an uncaught throw is one line, exit 1",
  ignore: !canRun,
  async fn() {
    const preload = new URL("../testdata/crash_on_signal.ts", import.meta.url).pathname;
    const cases: [Deno.Signal, string][] = [
      ["SIGUSR1", "sockecho: internal error: TypeError: planted rejection"],
      ["SIGUSR2", "sockecho: internal error: RangeError: planted throw"],
    ];
    for (const [signal, line] of cases) {
      const server = spawn(Deno.execPath(), [
        ...["run", "-N", "--preload", preload, MAIN],
        ...["serve", "-H", "127.0.0.1", "-p", "0"],
      ]);
      // Listening means main.ts has run its top level, handlers included.
      await server.out.match(/^Listening on /);
      server.child.kill(signal);
      assert.equal(await server.finish(), 1, signal);
      assert.deepEqual(server.err.lines, [line], signal);
    }
  },
});

/** Connects to 127.0.0.1:`port` until something listens there (bounded). */
async function untilListening(port: number, what: string): Promise<void> {
  const deadline = performance.now() + WAIT_MS;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch (error) {
      if (!(error instanceof Deno.errors.ConnectionRefused)) throw error;
      if (performance.now() > deadline) throw new Error(`${what} never listened on ${port}`);
      // Nothing to await: the C server says nothing until a client comes.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

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

// UDP echo (RFC 862) and --allow/--deny, as processes.

/** A UDP port nobody listens on right now. */
async function freeUdpPort(): Promise<number> {
  const peer = await Peer.bind();
  const port = peer.port;
  await peer.close();
  return port;
}

const haveSecondLoopback = await canBindUdp("127.0.0.2");
const haveUdpPort19 = await canBindUdp("127.0.0.1", 19);

/** Starts `sockecho serve --udp` on 127.0.0.1 and waits until UDP is listening too. */
async function startUdpServe(...extra: string[]) {
  const server = await startServe("--udp", ...extra);
  await server.out.match(/^Listening on 127\.0\.0\.1:\d+ \(UDP\)$/);
  return server;
}

Deno.test({
  name: "cli: serve --udp echoes send --udp's datagram, logs it and counts it in the summary",
  ignore: !canRun,
  async fn() {
    const server = await startUdpServe();
    const sent = await sockecho("send", "--udp", "127.0.0.1", "-p", server.port, "hello udp", "-v");
    assert.equal(sent.code, EXIT.ok);
    assert.equal(sent.stdout, "server message: hello udp\n");
    assert.match(
      sent.stderr,
      /^sockecho: 9 bytes echoed by 127\.0\.0\.1:\d+ in [\d.]+ ms \(UDP, try 1\)\n$/,
    );
    await server.out.match(/^127\.0\.0\.1:\d+ sent 9 bytes by UDP: hello udp$/);
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
    assert.equal(
      server.err.lines.at(-1),
      "sockecho: stopped: 0 connections, 0 bytes echoed; UDP: 1 datagram, 9 bytes echoed",
    );
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
  name: "cli: the address serve prints on IPv6 can be pasted back into send",
  ignore: !canRun,
  async fn() {
    const server = spawn(Deno.execPath(), ["run", "-N", MAIN, "serve", "-H", "::1", "-p", "0"]);
    const [, address] = await server.out.match(/^Listening on (\[::1\]:\d+)$/);
    const sent = await sockecho("send", address, "pasted");
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
    assert.deepEqual(sent, { code: EXIT.ok, stdout: "server message: pasted\n", stderr: "" });
  },
});

Deno.test({
  name: "cli: bad --allow, --udp-rate without --udp, --retries without --udp exit 2 in one line",
  ignore: !canRun,
  async fn() {
    assert.deepEqual(await sockecho("serve", "--allow", "10.0.0.0/33"), {
      code: EXIT.usage,
      stdout: "",
      stderr: 'sockecho: invalid network "10.0.0.0/33": expected an address or a CIDR like ' +
        "10.0.0.0/8 or fd00::/8 (try: sockecho serve --help)\n",
    });
    assert.deepEqual(await sockecho("serve", "--deny", "10.0.0.1,bogus"), {
      code: EXIT.usage,
      stdout: "",
      stderr: 'sockecho: invalid network "bogus": expected an address or a CIDR like 10.0.0.0/8 ' +
        "or fd00::/8 (try: sockecho serve --help)\n",
    });
    assert.deepEqual(await sockecho("serve", "--udp-rate", "5"), {
      code: EXIT.usage,
      stdout: "",
      stderr: "sockecho: --udp-rate needs --udp (try: sockecho serve --help)\n",
    });
    assert.deepEqual(await sockecho("send", "127.0.0.1", "--retries", "1"), {
      code: EXIT.usage,
      stdout: "",
      stderr: "sockecho: --retries needs --udp (try: sockecho send --help)\n",
    });
    assert.deepEqual(await sockecho("send", "127.0.0.1", "--udp", "-c", "3"), {
      code: EXIT.usage,
      stdout: "",
      stderr: "sockecho: --udp sends one datagram: leave out the probe series options " +
        "(try: sockecho send --help)\n",
    });
    assert.deepEqual(await sockecho("bench", "127.0.0.1", "--udp", "-m", "bulk"), {
      code: EXIT.usage,
      stdout: "",
      stderr: "sockecho: --udp runs pingpong only, not --mode bulk (try: sockecho bench --help)\n",
    });
  },
});

Deno.test({
  name: "cli: serve PORT listens there, as nc -l PORT does",
  ignore: !canRun,
  async fn() {
    const port = String(freePort());
    const server = spawn(Deno.execPath(), ["run", "-N", MAIN, "serve", "-H", "127.0.0.1", port]);
    await server.out.match(new RegExp(`^Listening on 127\\.0\\.0\\.1:${port}$`));
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
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
  name: "cli: serve --allow 127.0.0.1/32 shuts out 127.0.0.2 on TCP (unread, logged) and UDP" +
    skipped(needs(haveSecondLoopback, "to bind 127.0.0.2")),
  ignore: !canRun || !haveSecondLoopback,
  async fn() {
    const server = await startUdpServe("--allow", "127.0.0.1/32");
    const port = Number(server.port);
    const hello = new TextEncoder().encode("let me in");
    assert.deepEqual(
      await withTimeout(echoFrom("127.0.0.2", port, hello), WAIT_MS, "close"),
      new Uint8Array(),
    );
    await server.out.match(/^denied 127\.0\.0\.2:\d+ \(--allow\/--deny\)$/);
    const outsider = await Peer.bind("127.0.0.2");
    try {
      outsider.send(hello, port);
      await server.out.match(/^… UDP: 1 not answered \(1 denied by --allow\/--deny\)$/);
      // 127.0.0.1 is still served, by TCP and by UDP.
      const welcome = new TextEncoder().encode("welcome");
      assert.deepEqual(await echoOf(port, welcome), welcome);
      const sent = await sockecho("send", "--udp", "127.0.0.1", "-p", server.port, "allowed");
      assert.equal(sent.stdout, "server message: allowed\n");
      assert.deepEqual(outsider.received, []);
    } finally {
      await outsider.close();
    }
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
    assert.ok(
      !server.out.lines.some((line) => line.includes("let me in")),
      "a denied byte was read",
    );
    assert.match(
      server.err.lines.at(-1)!,
      /; UDP: 1 datagram, 7 bytes echoed, 1 not answered \(1 denied by --allow\/--deny\)$/,
    );
  },
});

Deno.test({
  name: "cli: Ctrl+C during bench prints the summary of what was measured and exits 130",
  ignore: !canRun,
  async fn() {
    const loaded = Promise.withResolvers<void>();
    await withServer({ onData: () => loaded.resolve() }, async ({ addr }) => {
      const bench = spawn(Deno.execPath(), [
        "run",
        "-N",
        MAIN,
        "bench",
        `127.0.0.1:${addr.port}`,
        "-d",
        "30",
      ]);
      await loaded.promise;
      bench.child.kill("SIGINT");
      assert.equal(await bench.finish(), EXIT.interrupted);
      assert.deepEqual(bench.err.lines, []);
      assert.match(bench.out.lines[2], /^load .* s \(cut short by Ctrl\+C\)$/);
      assert.match(bench.out.lines[3], /^round trips {2}[\d,]+ /);
    });
  },
});

const haveScript = await hasCommand("script");

/** Runs `sockecho ARGS` with stdout and stderr on a terminal (`script`'s pty); returns all it wrote. */
async function sockechoOnTerminal(...args: string[]): Promise<string> {
  const command = [Deno.execPath(), "run", "-N", MAIN, ...args].map((word) => `'${word}'`).join(
    " ",
  );
  const { stdout } = await outputOf("script", {
    args: ["-qec", command, "/dev/null"],
    stdin: "null",
    clearEnv: true,
    env: { ...CHILD_ENV, TERM: "xterm" },
  });
  return new TextDecoder().decode(stdout);
}

Deno.test({
  name: "cli: serve --udp never answers source port 19 (chargen) and reports the drop" +
    skipped(needs(haveUdpPort19, "to bind UDP port 19 (root)")),
  ignore: !canRun || !haveUdpPort19,
  async fn() {
    const server = await startUdpServe();
    const chargen = await Peer.bind("127.0.0.1", 19);
    const probe = await Peer.bind();
    try {
      chargen.send(new TextEncoder().encode("!\"#$%&'()*+,-./0123456789"), Number(server.port));
      await server.out.match(/^… UDP: 1 not answered \(1 from ports 7\/13\/17\/19\/37\)$/);
      probe.send(new TextEncoder().encode("probe"), Number(server.port));
      await probe.next();
      assert.deepEqual(chargen.received, []);
    } finally {
      await chargen.close();
      await probe.close();
    }
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
  },
});

Deno.test({
  name: "cli: serve --udp-rate 5 cuts a flooding source while another still gets its echo" +
    skipped(needs(haveSecondLoopback, "to bind 127.0.0.2")),
  ignore: !canRun || !haveSecondLoopback,
  async fn() {
    const server = await startUdpServe("--udp-rate", "5", "-q");
    const flooder = await Peer.bind("127.0.0.2");
    try {
      for (let i = 0; i < 50; i++) flooder.send(new Uint8Array([i]), Number(server.port));
      await server.out.match(/^… UDP: \d+ not answered \(\d+ over --udp-rate\)$/);
      const sent = await sockecho("send", "--udp", "127.0.0.1", "-p", server.port, "me too");
      assert.deepEqual(sent, { code: EXIT.ok, stdout: "server message: me too\n", stderr: "" });
    } finally {
      await flooder.close();
    }
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
    const [, echoed, dropped] = server.err.lines.at(-1)!.match(
      /; UDP: (\d+) datagrams?, \d+ bytes echoed, (\d+) not answered \(\d+ over --udp-rate\)$/,
    )!;
    assert.equal(Number(echoed) + Number(dropped), 51);
    assert.ok(Number(dropped) >= 30, `${dropped} dropped`); // at most 5 a second get through
  },
});

Deno.test({
  name: "cli: bench --udp prints its table with the lost datagrams",
  ignore: !canRun,
  async fn() {
    const server = await startUdpServe("--udp-rate", "0", "-q");
    const run = await sockecho("bench", "--udp", "127.0.0.1", "-p", server.port, "-n", "200");
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
    assert.equal(run.code, EXIT.ok, run.stderr);
    const rows = Object.fromEntries(
      run.stdout.trimEnd().split("\n").map((line) => {
        const [name, value] = line.split(/ {2,}/);
        return [name, value];
      }),
    );
    assert.equal(rows["round trips"].split(" ")[0], "200");
    assert.equal(rows.lost, "0 datagrams");
  },
});

Deno.test({
  name: "interop: nc -u and socat UDP get their datagram back from sockecho serve --udp" +
    skipped(needs(haveNc, "nc") ?? needs(haveSocat, "socat")),
  ignore: !haveNc || !haveSocat,
  async fn() {
    const server = await startUdpServe();
    const line = new TextEncoder().encode("over udp\n");
    for (
      const [command, args] of [
        ["nc", ["-u", "-w", "1", "127.0.0.1", server.port]],
        ["socat", ["-t", "1", "-", `UDP:127.0.0.1:${server.port}`]],
      ] as const
    ) {
      const { code, stdout } = await runWithInput(command, [...args], line);
      assert.equal(code, 0, command);
      assert.deepEqual(new Uint8Array(stdout), line, command);
    }
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
    assert.match(server.err.lines.at(-1)!, /; UDP: 2 datagrams, 18 bytes echoed$/);
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

/** A UDP socket on a port whose TCP side is free (other tests run beside this one). */
async function udpPortWithFreeTcp(): Promise<Peer> {
  for (;;) {
    const peer = await Peer.bind();
    try {
      Deno.listen({ hostname: "127.0.0.1", port: peer.port }).close();
      return peer;
    } catch (error) {
      await peer.close();
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    }
  }
}

Deno.test({
  name: "cli: serve --udp on a port whose UDP side is taken exits 8 with one plain line",
  ignore: !canRun,
  async fn() {
    const taken = await udpPortWithFreeTcp();
    try {
      const port = String(taken.port);
      assert.deepEqual(await sockecho("serve", "-H", "127.0.0.1", "-p", port, "--udp"), {
        code: EXIT.addressInUse,
        stdout: "",
        stderr: `sockecho: cannot listen on 127.0.0.1:${port} (UDP): address already in use\n`,
      });
    } finally {
      await taken.close();
    }
  },
});

// --- TLS and Unix domain sockets as real processes, and interop with openssl, socat and nc ---

const haveOpenssl = canWrite && await hasCommand("openssl");

/** Starts `sockecho serve --tls` (ephemeral certificate) on 127.0.0.1 and a free port. */
async function startTlsServe(...extra: string[]) {
  const server = spawn(
    Deno.execPath(),
    ["run", "-N", MAIN, "serve", "--tls"].concat(
      ["-H", "127.0.0.1", "-p", "0", ...extra],
    ),
  );
  const [, port] = await server.out.match(/^Listening on 127\.0\.0\.1:(\d+) \(TLS\)$/);
  const [, fingerprint, command] = await server.out.match(
    /^TLS certificate: self-signed, SHA-256 ([0-9A-F:]{95}); connect with: sockecho (.*)$/,
  );
  return { ...server, port, fingerprint, command };
}

/** Reads `length` bytes from `stream`, failing after `ms` (a hang must become a failure). */
async function readBytes(stream: ReadableStream<Uint8Array>, length: number, ms = 10_000) {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let got = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`only ${got} of ${length} bytes in ${ms} ms`)), ms);
  });
  try {
    while (got < length) {
      const { value, done } = await Promise.race([reader.read(), late]);
      if (done) break;
      chunks.push(value);
      got += value.length;
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
  return concat(chunks);
}

/** Runs `openssl ARGS` with `input` on stdin and returns its stdout as text. */
async function openssl(args: string[], input = new Uint8Array()) {
  const child = new Deno.Command("openssl", {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(input);
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return new TextDecoder().decode(stdout);
}

Deno.test({
  name: "cli: on a terminal status lines are plain and errors keep their red prefix" +
    skipped(needs(haveScript, "script")),
  ignore: !haveScript,
  async fn() {
    await withServer({}, async ({ addr }) => {
      const report = await sockechoOnTerminal("send", `127.0.0.1:${addr.port}`, "-v");
      assert.match(report, /\r\nsockecho: 21 bytes echoed by 127\.0\.0\.1:\d+ in [\d.]+ ms\r\n/);
      assert.ok(!report.includes(ESC), JSON.stringify(report));
    });
    const error = await sockechoOnTerminal("send", "127.0.0.1", "-p", String(freePort()));
    // Red and bold on, "sockecho:", then off again before the message.
    assert.match(
      error,
      new RegExp(`^(${ESC}\\[[\\d;]*m)+sockecho:(${ESC}\\[[\\d;]*m)+ cannot connect`),
    );
  },
});

Deno.test({
  name: "cli: serve --tls prints its fingerprint and a send command that connects as printed",
  ignore: !canRun,
  async fn() {
    const server = await startTlsServe();
    assert.equal(
      server.command,
      `send --tls --pin ${server.fingerprint} 127.0.0.1 -p ${server.port}`,
    );
    const sent = await sockecho(...server.command.split(" "), "-v");
    assert.equal(sent.code, EXIT.ok, sent.stderr);
    assert.equal(sent.stdout, "server message: 你好啊服务器!\n");
    assert.match(
      sent.stderr,
      new RegExp(
        `^sockecho: TLS: TLSv1\\.3, TLS_\\w+, handshake [\\d.]+ ms, certificate SHA-256 ${server.fingerprint}$`,
        "m",
      ),
    );
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
  },
});

Deno.test({
  name: "cli: a plain send to serve --tls, and send --tls to a plain serve, exit 12 saying so",
  ignore: !canRun,
  async fn() {
    const tlsServer = await startTlsServe();
    const plainServer = await startServe();
    assert.deepEqual(await sockecho("send", "127.0.0.1", "-p", tlsServer.port), {
      code: EXIT.notTls,
      stdout: "",
      stderr: `sockecho: 127.0.0.1:${tlsServer.port} answered with TLS: use --tls\n`,
    });
    assert.deepEqual(
      await sockecho("send", "--tls", "--insecure", "127.0.0.1", "-p", plainServer.port),
      {
        code: EXIT.notTls,
        stdout: "",
        stderr:
          "sockecho: --insecure: the server's certificate is not verified; anyone in between " +
          `can listen\nsockecho: 127.0.0.1:${plainServer.port} does not speak TLS (drop --tls?)\n`,
      },
    );
    // One line each on the servers' side, and both still serve.
    await tlsServer.out.match(
      /closed: 0 bytes echoed in [\d.]+ s \(TLS handshake failed: the client does not speak TLS\)$/,
    );
    const again = await sockecho(...tlsServer.command.split(" "));
    assert.equal(again.code, EXIT.ok);
    for (const server of [tlsServer, plainServer]) {
      server.child.kill("SIGINT");
      assert.equal(await server.finish(), EXIT.ok);
    }
  },
});

Deno.test({
  name: "cli: serve --tls --handshake-timeout closes a client that never starts its handshake",
  ignore: !canRun,
  async fn() {
    const server = await startTlsServe("--handshake-timeout", "0.3");
    const silent = await Deno.connect({ hostname: "127.0.0.1", port: Number(server.port) });
    try {
      const [line] = await server.out.match(/^.* closed: .*$/);
      assert.match(
        line,
        /^127\.0\.0\.1:\d+ closed: 0 bytes echoed in [\d.]+ s \(TLS handshake failed: not finished within 0\.3 s\)$/,
      );
      assert.ok(!server.out.lines.some((l) => l.startsWith("You got a connection")));
    } finally {
      silent.close();
    }
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
    assert.equal(server.err.lines.at(-1), "sockecho: stopped: 1 connection, 0 bytes echoed");
  },
});

Deno.test({
  name: "cli: certificate files or a Unix socket without read permission: exit 13 naming the flags",
  ignore: !canRun,
  async fn() {
    assert.deepEqual(await sockecho("serve", "--tls", "--cert", "cert.pem", "--key", "key.pem"), {
      code: EXIT.missingPermission,
      stdout: "",
      stderr: "sockecho: cannot read the TLS certificate: Deno needs read permission: " +
        "add -R=cert.pem,key.pem\n",
    });
    assert.deepEqual(await sockecho("send", "--tls", "--ca", "ca.pem", "127.0.0.1"), {
      code: EXIT.missingPermission,
      stdout: "",
      stderr:
        "sockecho: cannot read the CA certificate: Deno needs read permission: add -R=ca.pem\n",
    });
    const path = "/tmp/sockecho-never.sock";
    assert.deepEqual(await sockecho("serve", "--unix", path), {
      code: EXIT.missingPermission,
      stdout: "",
      stderr: `sockecho: cannot listen on ${path}: Deno needs read and write permission for it: ` +
        `add -R=${path} -W=${path}\n`,
    });
  },
});

Deno.test({
  name:
    "interop: openssl s_client gets binary data back byte-exact from serve --tls, same fingerprint" +
    skipped(needs(haveOpenssl, "openssl")),
  ignore: !haveOpenssl,
  async fn() {
    const server = await startTlsServe();
    const target = `127.0.0.1:${server.port}`;
    // The certificate s_client is shown has the fingerprint serve printed.
    const shown = await openssl(["s_client", "-connect", target, "-showcerts"]);
    const pem = shown.match(/-----BEGIN CERTIFICATE-----[^]+?-----END CERTIFICATE-----\n/)![0];
    const fingerprint = await openssl(
      ["x509", "-noout", "-fingerprint", "-sha256"],
      new TextEncoder().encode(pem),
    );
    assert.equal(fingerprint.trim(), `sha256 Fingerprint=${server.fingerprint}`);
    // Every byte value, several times: -quiet passes bytes through untouched.
    const input = concat(
      Array.from({ length: 64 }, () => Uint8Array.from({ length: 256 }, (_, i) => i)),
    );
    const client = new Deno.Command("openssl", {
      args: ["s_client", "-connect", target, "-quiet", "-nocommands"],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const writer = client.stdin.getWriter();
    await writer.write(input);
    const echo = await readBytes(client.stdout, input.length);
    // -quiet ignores the end of its input: it is stopped once the echo is in.
    client.kill("SIGTERM");
    await writer.close().catch(() => {});
    await client.status;
    await client.stdout.cancel();
    assert.deepEqual(echo, input);
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
  },
});

/** A CA and a leaf it signed for localhost and 127.0.0.1, made fresh in `dir` by openssl. */
async function makeCertificates(dir: string) {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await openssl(["req", "-x509", ...ec, "-keyout", `${dir}/ca.key`, "-out", `${dir}/ca.pem`]
    .concat(["-days", "1", "-subj", "/CN=sockecho test CA"]));
  await openssl(["req", ...ec, "-keyout", `${dir}/leaf.key`, "-out", `${dir}/leaf.csr`]
    .concat(["-subj", "/CN=localhost"]));
  await Deno.writeTextFile(`${dir}/ext`, "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  await openssl(
    ["x509", "-req", "-in", `${dir}/leaf.csr`, "-CA", `${dir}/ca.pem`, "-CAkey"]
      .concat([`${dir}/ca.key`, "-CAcreateserial", "-out", `${dir}/leaf.pem`, "-days", "1"])
      .concat(["-extfile", `${dir}/ext`]),
  );
  const fingerprint = await openssl([
    "x509",
    "-in",
    `${dir}/leaf.pem`,
    "-noout",
    "-fingerprint",
    "-sha256",
  ]);
  return { ca: `${dir}/ca.pem`, fingerprint: fingerprint.trim().replace(/^.*=/, "") };
}

Deno.test({
  name: "interop: send --tls verifies a socat OPENSSL-LISTEN echo server by --ca and by --pin" +
    skipped(needs(haveOpenssl, "openssl") ?? needs(haveSocat, "socat")),
  ignore: !haveOpenssl || !haveSocat,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const { ca, fingerprint } = await makeCertificates(dir);
      const port = String(freePort());
      const socat = spawn("socat", [
        "-d",
        "-d",
        `OPENSSL-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork,cert=${dir}/leaf.pem,key=${dir}/leaf.key,verify=0`,
        "PIPE",
      ]);
      await socat.err.match(/listening on/);
      try {
        const ok = { code: EXIT.ok, stdout: "server message: over TLS\n", stderr: "" };
        assert.deepEqual(
          await sockechoWith(
            [`-R=${ca}`],
            "send",
            "--tls",
            "--ca",
            ca,
            "127.0.0.1",
            "-p",
            port,
            "over TLS",
          ),
          ok,
        );
        const pin = fingerprint.replaceAll(":", "").toLowerCase(); // colons optional, any case
        assert.deepEqual(
          await sockecho("send", "--tls", "--pin", pin, "127.0.0.1", "-p", port, "over TLS"),
          ok,
        );
        const unknown = await sockecho("send", "--tls", "127.0.0.1", "-p", port);
        assert.equal(unknown.code, EXIT.tlsVerify);
        assert.match(
          unknown.stderr,
          /^sockecho: cannot verify the TLS certificate of 127\.0\.0\.1:\d+: unknown issuer/,
        );
        const misnamed = await sockechoWith(
          [`-R=${ca}`],
          ...[
            "send",
            "--tls",
            "--ca",
            ca,
            "--servername",
            "elsewhere.test",
            "127.0.0.1",
            "-p",
            port,
          ],
        );
        assert.equal(misnamed.code, EXIT.tlsVerify);
        assert.match(misnamed.stderr, /: name mismatch \(/);
      } finally {
        socat.child.kill("SIGTERM");
        await socat.finish();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Starts `sockecho serve --unix PATH` with the permissions it needs. */
async function startUnixServe(path: string) {
  const server = spawn(Deno.execPath(), [
    "run",
    "-N",
    `-R=${path}`,
    `-W=${path}`,
    MAIN,
    "serve",
    "--unix",
    path,
  ]);
  await server.out.match(new RegExp(`^Listening on ${path}$`));
  return server;
}

Deno.test({
  name: "interop: nc -U and socat UNIX-CONNECT get their bytes back from serve --unix" +
    skipped(needs(haveNc, "nc") ?? needs(haveSocat, "socat")),
  ignore: !haveNc || !haveSocat,
  async fn() {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/echo.sock`;
    try {
      const server = await startUnixServe(path);
      const input = Uint8Array.from({ length: 256 }, (_, i) => i);
      for (
        const [command, args] of [["nc", ["-N", "-U", path]], ["socat", [
          "-t",
          "5",
          "-",
          `UNIX-CONNECT:${path}`,
        ]]] as const
      ) {
        const peer = new Deno.Command(command, { args: [...args], stdin: "piped", stdout: "piped" })
          .spawn();
        const writer = peer.stdin.getWriter();
        await writer.write(input);
        await writer.close();
        const { code, stdout } = await peer.output();
        assert.equal(code, 0, command);
        assert.deepEqual(new Uint8Array(stdout), input, command);
      }
      const sent = await sockechoWith(
        [`-R=${path}`, `-W=${path}`],
        "send",
        "--unix",
        path,
        "hello unix",
      );
      assert.deepEqual(sent, { code: EXIT.ok, stdout: "server message: hello unix\n", stderr: "" });
      await server.out.match(/^unix client #3 closed: 10 bytes echoed/);
      server.child.kill("SIGINT");
      assert.equal(await server.finish(), EXIT.ok);
      assert.equal(server.err.lines.at(-1), "sockecho: stopped: 3 connections, 522 bytes echoed");
      await assert.rejects(() => Deno.lstat(path), Deno.errors.NotFound); // removed at shutdown
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "cli: serve --unix on a live server's socket exits 8; a stale one is replaced",
  ignore: !canRun,
  async fn() {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/echo.sock`;
    try {
      const first = await startUnixServe(path);
      assert.deepEqual(await sockechoWith([`-R=${path}`, `-W=${path}`], "serve", "--unix", path), {
        code: EXIT.addressInUse,
        stdout: "",
        stderr: `sockecho: cannot listen on ${path}: address already in use\n`,
      });
      first.child.kill("SIGKILL"); // dies without removing its socket file
      await first.finish();
      assert.ok((await Deno.lstat(path)).isSocket);
      const second = await startUnixServe(path);
      const sent = await sockechoWith(
        [`-R=${path}`, `-W=${path}`],
        "send",
        "--unix",
        path,
        "again",
      );
      assert.equal(sent.code, EXIT.ok);
      second.child.kill("SIGTERM");
      assert.equal(await second.finish(), EXIT.ok);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
