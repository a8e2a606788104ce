/**
 * `sockecho serve`: what it logs, its limits and ports, in-process through
 * `main`; and as a real process: signals, exit codes, a closed stdout, out of
 * file descriptors, keep-alive, and nc, socat and the seed's C client as its
 * clients. (`--udp` is in serve_udp_test.ts; `--tls` and `--unix` in
 * transport_options_test.ts.)
 */
import assert from "node:assert/strict";
import net from "node:net";
import { EXIT, main } from "../../main.ts";
import { writeAll } from "../../net/io.ts";
import {
  echoOf,
  outputOf,
  pattern,
  readExactly,
  readToEnd,
  recorder,
  runMain,
  startServe,
  WAIT_MS,
  withServer,
  withTimeout,
} from "../test_util.ts";
import {
  AS_NOBODY,
  canRun,
  canWrite,
  copySources,
  freePort,
  hasCommand,
  MAIN,
  needs,
  ROOT,
  runWithInput,
  skipped,
  sockecho,
  spawn,
  spawnServe,
  spawnSockecho,
  whyNotAsNobody,
} from "../test_util_process.ts";

const run = (args: string[]) => runMain(args);

const haveNc = await hasCommand("nc");
const havePrlimit = await hasCommand("prlimit");
const haveSs = await hasCommand("ss");
const haveSocat = await hasCommand("socat");
const haveCc = canWrite && await hasCommand("cc");

const ESC = "\x1b";

/**
 * Runs a client program (`nc`, `socat`) against a fresh `sockecho serve` with
 * `input` on its stdin, and checks that it exits 0 having printed the echo.
 */
export async function assertPeerGetsEcho(
  command: string,
  argsFor: (port: string) => string[],
  input: Uint8Array,
): Promise<void> {
  const server = await spawnServe();
  const { code, stdout } = await runWithInput(command, argsFor(server.port), input);
  server.child.kill("SIGINT");
  assert.equal(await server.finish(), EXIT.ok);
  assert.equal(code, 0);
  assert.deepEqual(new Uint8Array(stdout), input);
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

// The real program as a process: `deno run -N main.ts serve`.

Deno.test({
  name: "cli: serve and send as processes talk, and pipes get no colour codes",
  ignore: !canRun,
  async fn() {
    const server = await spawnServe();
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
    const server = await spawnServe("--grace", "30");
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
      const server = await spawnServe("--grace", "60");
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
    const server = await spawnServe();
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
  name: "cli: serve keeps serving when its stdout goes away (sockecho serve | head)",
  ignore: !canRun,
  async fn() {
    const server = await spawnServe();
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
  name: "cli: the address serve prints on IPv6 can be pasted back into send",
  ignore: !canRun,
  async fn() {
    const server = spawnSockecho(["serve", "-H", "::1", "-p", "0"]);
    const [, address] = await server.out.match(/^Listening on (\[::1\]:\d+)$/);
    const sent = await sockecho("send", address, "pasted");
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
    assert.deepEqual(sent, { code: EXIT.ok, stdout: "server message: pasted\n", stderr: "" });
  },
});

Deno.test({
  name: "cli: serve PORT listens there, as nc -l PORT does",
  ignore: !canRun,
  async fn() {
    const port = String(freePort());
    const server = spawnSockecho(["serve", "-H", "127.0.0.1", port]);
    await server.out.match(new RegExp(`^Listening on 127\\.0\\.0\\.1:${port}$`));
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
  },
});

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
      const server = await spawnServe();
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
