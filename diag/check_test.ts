/**
 * `check` against sockecho's own server, scripted fake servers (each broken
 * in one way), and, where installed, the seed's C server, socat and ncat.
 */
import assert from "node:assert/strict";
import { check, type CheckReport } from "./check.ts";
import { EXIT, main } from "../main.ts";
import { closeQuietly, writeAll } from "../net/io.ts";
import { readToEnd, runMain, withFakeServer, withServer } from "../cli/testing.ts";

const canRun = (await Deno.permissions.query({ name: "run" })).state === "granted";
const canWrite = (await Deno.permissions.query({ name: "write" })).state === "granted";

async function hasCommand(name: string): Promise<boolean> {
  if (!canRun) return false;
  const probe = new Deno.Command("sh", { args: ["-c", `command -v ${name}`], stdout: "null" });
  return (await probe.output()).success;
}

// Peer processes run under setsid (util-linux), so that their forked children can be stopped.
const haveSetsid = await hasCommand("setsid");
const haveCc = haveSetsid && canWrite && await hasCommand("cc");
const haveSocat = haveSetsid && await hasCommand("socat");
const haveNcat = haveSetsid && await hasCommand("ncat");

const run = (args: string[]) => runMain(["check", "127.0.0.1", ...args]);

const verdicts = (report: CheckReport) => report.rows.map((row) => `${row.name}: ${row.verdict}`);

/** Echoes every chunk back, like a good server. */
async function echoPeer(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  for (let n; (n = await conn.read(buffer)) !== null;) await writeAll(conn, buffer.subarray(0, n));
}

/** A fake server that serves connection number `bad` (from 1) with `peer`, the rest well. */
function nthBroken(bad: number, peer: (conn: Deno.Conn) => Promise<void>) {
  let connections = 0;
  return (conn: Deno.Conn) => ++connections === bad ? peer(conn) : echoPeer(conn);
}

Deno.test("check passes sockecho serve on every check", async () => {
  await withServer({}, async ({ addr }) => {
    const { code, out, err } = await run(["-p", `${addr.port}`]);
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
    const { code, out, err } = await run(["-p", `${port}`]);
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

Deno.test("check names a wrong bulk byte by its connection offset, then its bulk offset", async () => {
  // Connection byte 5,000 comes after the 256 byte values: byte 4,744 of the bulk pattern.
  await withFakeServer(
    nthBroken(1, async (conn) => {
      const buffer = new Uint8Array(64 * 1024);
      for (let n, seen = 0; (n = await conn.read(buffer)) !== null; seen += n) {
        if (seen <= 5000 && 5000 < seen + n) buffer[5000 - seen] ^= 0xff;
        await writeAll(conn, buffer.subarray(0, n));
      }
    }),
    async (port) => {
      const { code, out, err } = await run(["-p", `${port}`]);
      assert.equal(code, EXIT.echoCorrupted);
      const detail = "echo differs from what was sent at byte 5,000 of the connection " +
        "(byte 4,744 of the payload): sent 0xe2, got 0x1d";
      assert.deepEqual(err, [`bulk: ${detail}`]);
      assert.match(out[2], /^ {2}byte values +pass /);
      assert.match(out[3], /^ {2}bulk +fail +echo differs/);
      assert.deepEqual(
        out.slice(3, 6).map((line) => line.replace(/^ {2}bulk +fail +/, "").trim()),
        [
          detail,
          "sent  00001380  da db dc dd de df e0 e1 [e2] e3 e4 e5 e6 e7 e8 e9",
          "got   00001380  da db dc dd de df e0 e1 [1d] e3 e4 e5 e6 e7 e8 e9",
        ],
      );
    },
  );
});

Deno.test("check reports an echo cut short as incomplete, exit 16", async () => {
  await withFakeServer(async (conn) => {
    const buffer = new Uint8Array(300_000);
    let seen = 0;
    for (let n; seen < 300_000 && (n = await conn.read(buffer)) !== null; seen += n) {
      await writeAll(conn, buffer.subarray(0, n));
    }
  }, async (port) => {
    const report = await check({ target: { hostname: "127.0.0.1", port }, timeoutMs: 2000 });
    assert.deepEqual(verdicts(report).slice(1, 3), ["byte values: pass", "bulk: fail"]);
    assert.match(
      report.rows[2].detail,
      /(closed the connection|failed \(connection reset by peer\)) after echoing \d+ of 1048576 bytes$/,
    );
    const { code } = await run(["-p", `${port}`]);
    assert.equal(code, EXIT.echoIncomplete);
  });
});

Deno.test("check exits 18 when a second client is not served while the first is open", async () => {
  const release = Promise.withResolvers<void>();
  await withFakeServer(
    nthBroken(2, async (conn) => {
      await release.promise;
      closeQuietly(conn);
    }),
    async (port) => {
      const report = await check({ target: { hostname: "127.0.0.1", port }, timeoutMs: 300 });
      release.resolve();
      assert.equal(report.rows[4].verdict, "fail");
      assert.equal(
        report.rows[4].detail,
        "no echo on a second connection within 0.3 s while the first stayed open: one client at a time",
      );
      assert.equal(report.failure?.constructor.name, "OneClientAtATimeError");
    },
  );
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
      const { code, out } = await run(["-p", `${port}`]);
      assert.equal(code, EXIT.halfClose);
      assert.match(
        out[6],
        /half-close +fail +only 0 of 65,536 bytes came back, then the server's FIN \(the rest was lost\)$/,
      );
    },
  );
});

Deno.test("check tells a half-closed echo that never ends with a FIN", async () => {
  const release = Promise.withResolvers<void>();
  await withFakeServer(
    nthBroken(3, async (conn) => {
      await echoPeer(conn).catch(() => {});
      await release.promise; // echoed all, then holds the connection open: no FIN
    }),
    async (port) => {
      const report = await check({ target: { hostname: "127.0.0.1", port }, timeoutMs: 500 });
      release.resolve();
      assert.equal(
        report.rows[5].detail,
        "all 65,536 bytes came back but no FIN followed within 0.5 s",
      );
      assert.equal(report.failure?.constructor.name, "HalfCloseError");
    },
  );
});

Deno.test("check: a refused connect fails the first row, skips the rest, exit 4", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const { code, out, err } = await run(["-p", `${port}`]);
  assert.equal(code, EXIT.connect);
  assert.deepEqual(err, [`cannot connect to 127.0.0.1:${port}: connection refused`]);
  assert.equal(out.filter((line) => / skip /.test(line)).length, 5);
});

Deno.test("check --json prints one object with every verdict and exit code", async () => {
  await withFakeServer(nthBroken(3, (conn) => readToEnd(conn).then(() => {})), async (port) => {
    const { code, out } = await run(["-p", `${port}`, "--json", "-t", "0.5"]);
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

/**
 * Starts `command` listening on a free port in a process group of its own, runs
 * `body`, then stops the whole group: ncat's forked children outlive their parent
 * when their relay has stalled, and would hold the port and leak.
 */
async function withPeerProcess(
  command: (port: number) => [string, string[]],
  body: (port: number) => Promise<void>,
): Promise<void> {
  const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = free.addr.port;
  free.close();
  const [name, args] = command(port);
  const child = new Deno.Command("setsid", {
    args: [name, ...args],
    stdout: "null",
    stderr: "null",
  })
    .spawn();
  try {
    for (let tries = 0;; tries++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        break;
      } catch (error) {
        if (tries === 100) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50)); // polling a process's listen
      }
    }
    await body(port);
  } finally {
    await new Deno.Command("kill", { args: ["-TERM", "--", `-${child.pid}`] }).output();
    await child.status;
  }
}

Deno.test({
  name: "check finds the seed's C server serves one client at a time" +
    (haveCc ? "" : " (ignored: needs cc and setsid)"),
  ignore: !haveCc,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const server = `${dir}/seed_server`;
      const source = new URL("../cli/testdata/seed_server.c", import.meta.url).pathname;
      const built = await new Deno.Command("cc", { args: ["-O2", "-o", server, source] }).output();
      assert.ok(built.success, new TextDecoder().decode(built.stderr));
      await withPeerProcess((port) => [server, [`${port}`]], async (port) => {
        const report = await check({ target: { hostname: "127.0.0.1", port }, timeoutMs: 1000 });
        assert.deepEqual(verdicts(report), [
          "connect: pass",
          "byte values: pass",
          "bulk: pass",
          "segments: info",
          "second client: fail",
          "half-close: pass",
        ]);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "check passes socat's PIPE echo on every check" +
    (haveSocat ? "" : " (ignored: needs socat and setsid)"),
  ignore: !haveSocat,
  async fn() {
    await withPeerProcess(
      (port) => ["socat", [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, "PIPE"]],
      async (port) => {
        const report = await check({ target: { hostname: "127.0.0.1", port } });
        assert.equal(report.failure, undefined, JSON.stringify(report.rows));
      },
    );
  },
});

Deno.test({
  name: "check finds that ncat -e cat loses the echo after a half-close" +
    (haveNcat ? "" : " (ignored: needs ncat and setsid)"),
  ignore: !haveNcat,
  async fn() {
    await withPeerProcess(
      (port) => ["ncat", ["-l", "-k", "127.0.0.1", `${port}`, "-e", "/bin/cat"]],
      async (port) => {
        // ncat races its own exit against cat's echo: about one run in ten the whole echo
        // wins (measured), so the loss is looked for in up to three runs. Its relay also
        // stalls on the 1 MiB echo in about half the runs, so only half-close is asserted.
        const details: string[] = [];
        for (let run = 0; run < 3 && !details.some((d) => d.startsWith("only")); run++) {
          const report = await check({ target: { hostname: "127.0.0.1", port } });
          details.push(report.rows[5].detail);
        }
        assert.match(
          details.at(-1)!,
          /^only [\d,]+ of 65,536 bytes came back, then the server's FIN/,
        );
      },
    );
  },
});
