/**
 * `check` against sockecho's own server (over TCP, TLS and a Unix socket),
 * scripted fake servers (each broken in one way), and, where installed, the
 * seed's C server, socat and ncat. (The command's output is tested in
 * cli/commands/check_test.ts.)
 */
import assert from "node:assert/strict";
import { check, type CheckReport } from "./check.ts";
import { EXIT } from "../main.ts";
import { tlsDialer } from "../net/dial.ts";
import { NotTlsError, TlsVerifyError } from "../net/errors.ts";
import { closeQuietly, writeAll } from "../net/io.ts";
import { patternPayload } from "./payload.ts";
import { probeSeries } from "./probe.ts";
import {
  echoPeer,
  nthBroken,
  runMain,
  testCertificate,
  withFakeServer,
  withTlsServer,
  withUnixServer,
  WRONG_PIN,
} from "../cli/test_util.ts";
import { canWrite, freePort, hasCommand, untilListening } from "../cli/test_util_process.ts";

// Peer processes run under setsid (util-linux), so that their forked children can be stopped.
const haveSetsid = await hasCommand("setsid");
const haveCc = haveSetsid && canWrite && await hasCommand("cc");
const haveSocat = haveSetsid && await hasCommand("socat");
const haveNcat = haveSetsid && await hasCommand("ncat");

const run = (args: string[]) => runMain(["check", "127.0.0.1", ...args]);

const pair = await testCertificate();
const pinned = tlsDialer({ pin: pair.fingerprint });

const verdicts = (report: CheckReport) => report.rows.map((row) => `${row.name}: ${row.verdict}`);

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
      const report = await check({ target: { hostname: "127.0.0.1", port } });
      assert.deepEqual(verdicts(report).slice(1, 3), ["byte values: pass", "bulk: fail"]);
      const detail = "echo differs from what was sent at byte 5,000 of the connection " +
        "(byte 4,744 of the payload): sent 0xe2, got 0x1d";
      assert.equal(report.rows[2].detail, detail);
      assert.equal(
        report.rows[2].view,
        "sent  00001380  da db dc dd de df e0 e1 [e2] e3 e4 e5 e6 e7 e8 e9\n" +
          "got   00001380  da db dc dd de df e0 e1 [1d] e3 e4 e5 e6 e7 e8 e9",
      );
      assert.equal(report.failure?.message, `bulk: ${detail}`);
      assert.equal(report.failure?.constructor.name, "EchoCorruptedError");
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

// Over TLS (through tlsDialer) and a Unix socket.

Deno.test("check over TLS passes every check and reports the handshake as its own row", async () => {
  await withTlsServer({}, async (port) => {
    const report = await check({ target: { hostname: "127.0.0.1", port }, dial: pinned });
    assert.equal(report.failure, undefined, report.failure?.message);
    assert.deepEqual(report.rows.map((row) => `${row.name}: ${row.verdict}`), [
      "connect: pass",
      "tls handshake: pass",
      "byte values: pass",
      "bulk: pass",
      "segments: info",
      "second client: pass",
      "half-close: pass",
    ]);
    const handshake = report.rows[1];
    assert.ok(handshake.ms! > 0);
    assert.match(
      handshake.detail,
      new RegExp(`^TLSv1\\.[23], \\w+, certificate SHA-256 ${pair.fingerprint}$`),
    );
  });
});

Deno.test("check over TLS with a wrong pin fails the handshake row and skips the rest", async () => {
  await withTlsServer({}, async (port) => {
    const report = await check({
      target: { hostname: "127.0.0.1", port },
      dial: tlsDialer({ pin: WRONG_PIN }),
    });
    assert.ok(report.failure instanceof TlsVerifyError);
    assert.deepEqual(report.rows.map((row) => `${row.name}: ${row.verdict}`).slice(0, 2), [
      "tls handshake: fail",
      "byte values: skip",
    ]);
  });
});

Deno.test("check over a Unix socket passes every check", async () => {
  await withUnixServer({}, async (path) => {
    const report = await check({ target: { path } });
    assert.equal(report.failure, undefined, report.failure?.message);
    assert.equal(report.rows[0].detail, `connected to ${path}`);
    assert.deepEqual(report.rows.filter((row) => row.verdict === "pass").length, 5);
  });
});

Deno.test("plain series and check against a TLS server: NotTlsError (exit 12), not a mismatch", async () => {
  await withTlsServer({}, async (port) => {
    const target = { hostname: "127.0.0.1", port };
    const summary = await probeSeries({ target, payload: patternPayload(10), count: 1 });
    assert.ok(summary.firstError instanceof NotTlsError, String(summary.firstError));
    assert.equal(summary.firstError.message, `127.0.0.1:${port} answered with TLS: use --tls`);
    const report = await check({ target });
    assert.ok(report.failure instanceof NotTlsError, String(report.failure));
    const { code } = await run(["-p", `${port}`]);
    assert.equal(code, EXIT.notTls);
  });
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
  const port = freePort();
  const [name, args] = command(port);
  const child = new Deno.Command("setsid", {
    args: [name, ...args],
    stdout: "null",
    stderr: "null",
  })
    .spawn();
  try {
    await untilListening(port, name);
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
