/**
 * The diagnostics over TLS and Unix sockets: the probe series (`send
 * --count`), `check` and `check --idle` through `tlsDialer` and
 * `dialStream`, at the library level and through `main` (in-process).
 */
import assert from "node:assert/strict";
import { check } from "./check.ts";
import { type Dialer, dialStream, tlsDialer } from "../net/dial.ts";
import { NotTlsError, TlsVerifyError } from "../net/errors.ts";
import { discoverIdleTimeout, type IdleReport } from "./idle.ts";
import { EXIT } from "../main.ts";
import { patternPayload } from "./payload.ts";
import { probeSeries } from "./probe.ts";
import { serve, type ServeOptions } from "../server.ts";
import { runMain, withServer } from "../cli/testing.ts";
import { selfSignedCertificate } from "../net/tls/cert.ts";

const pair = await selfSignedCertificate(["localhost", "127.0.0.1", "::1"]);
const pinned = tlsDialer({ pin: pair.fingerprint });
const WRONG_PIN = Array(32).fill("AB").join(":");

/** Runs `body` with a TLS echo server on 127.0.0.1 using the test's certificate. */
function withTlsServer(options: ServeOptions, body: (port: number) => Promise<void>) {
  return withServer({ ...options, tls: pair }, ({ addr }) => body(addr.port));
}

/** Runs `body` with an echo server on a Unix socket in a fresh temporary directory. */
async function withUnixServer(
  options: Omit<ServeOptions, "path" | "hostname" | "port">,
  body: (path: string) => Promise<void>,
) {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/echo.sock`;
  const server = await serve({ ...options, path });
  try {
    await body(path);
  } finally {
    await server.shutdown({ graceMs: 0 });
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `sockecho ARGS` in-process. */
const run = (...args: string[]) => runMain(args);

Deno.test("series over TLS with --reconnect: every probe exact, connect and handshake timed apart", async () => {
  await withTlsServer({}, async (port) => {
    const probes: { connectMs?: number; handshakeMs?: number; bytes: number }[] = [];
    const summary = await probeSeries({
      target: { hostname: "127.0.0.1", port },
      payload: patternPayload(100_000),
      count: 3,
      intervalMs: 0,
      reconnect: true,
      dial: pinned,
      onProbe: (probe) => probes.push(probe),
    });
    assert.deepEqual([summary.sent, summary.echoed, summary.firstError], [3, 3, undefined]);
    for (const probe of probes) {
      assert.equal(probe.bytes, 100_000);
      assert.ok(probe.connectMs! >= 0 && probe.handshakeMs! > 0, JSON.stringify(probe));
    }
    assert.ok(summary.handshake && summary.connect, "both summarised");
  });
});

Deno.test("series over plain TCP has no handshake time", async () => {
  await withServer({}, async ({ addr }) => {
    const summary = await probeSeries({
      target: { hostname: "127.0.0.1", port: addr.port },
      payload: patternPayload(10),
      count: 2,
      intervalMs: 0,
      reconnect: true,
    });
    assert.equal(summary.echoed, 2);
    assert.ok(summary.connect);
    assert.equal(summary.handshake, undefined);
  });
});

Deno.test("series over TLS: a wrong pin fails every probe with TlsVerifyError, a plain server with NotTlsError", async () => {
  const series = (port: number, dial: Dialer) =>
    probeSeries({
      target: { hostname: "127.0.0.1", port },
      payload: patternPayload(10),
      count: 2,
      intervalMs: 0,
      dial,
    });
  await withTlsServer({}, async (port) => {
    const summary = await series(port, tlsDialer({ pin: WRONG_PIN }));
    assert.deepEqual([summary.sent, summary.failed], [2, 2]);
    assert.ok(summary.firstError instanceof TlsVerifyError, String(summary.firstError));
  });
  await withServer({}, async ({ addr }) => {
    const summary = await series(addr.port, pinned);
    assert.ok(summary.firstError instanceof NotTlsError, String(summary.firstError));
  });
});

Deno.test("series over a Unix socket: every probe exact, from the socket's path", async () => {
  await withUnixServer({}, async (path) => {
    const remotes: (string | undefined)[] = [];
    const summary = await probeSeries({
      target: { path },
      payload: patternPayload(70_000),
      count: 3,
      intervalMs: 0,
      reconnect: true,
      dial: dialStream,
      onProbe: (probe) => remotes.push(probe.remote),
    });
    assert.deepEqual([summary.sent, summary.echoed], [3, 3]);
    assert.deepEqual(remotes, [path, path, path]);
  });
});

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

// The server's sweeper looks for idle flows every quarter of its timeout: a cut comes after
// 1 to 1.25 s; the band is wide since a loaded machine runs timers late.
for (const transport of ["TLS", "a Unix socket"]) {
  Deno.test(`idle discovery over ${transport} finds the server's 1 s idle timeout`, async () => {
    const discover = (target: { hostname: string; port: number } | { path: string }) =>
      discoverIdleTimeout({
        target,
        maxMs: 2500,
        flows: 5,
        dial: "path" in target ? dialStream : pinned,
      });
    let report: IdleReport | undefined;
    if (transport === "TLS") {
      await withTlsServer({ idleTimeoutMs: 1000 }, async (port) => {
        report = await discover({ hostname: "127.0.0.1", port });
      });
    } else {
      await withUnixServer({ idleTimeoutMs: 1000 }, async (path) => {
        report = await discover({ path });
      });
    }
    assert.ok(report);
    assert.ok(report.flows.every((flow) => flow.error === undefined), "every flow started");
    assert.equal(report.flows[0].survived, true, "0.5 s idle survives");
    const cut = report.shortestCutMs!;
    assert.ok(cut >= 950 && cut <= 2200, `cut after ${cut} ms`);
    assert.ok(report.flows.filter((flow) => flow.death === "fin").length >= 2);
  });
}

Deno.test("plain series and check against a TLS server: NotTlsError (exit 12), not a mismatch", async () => {
  await withTlsServer({}, async (port) => {
    const target = { hostname: "127.0.0.1", port };
    const summary = await probeSeries({ target, payload: patternPayload(10), count: 1 });
    assert.ok(summary.firstError instanceof NotTlsError, String(summary.firstError));
    assert.equal(summary.firstError.message, `127.0.0.1:${port} answered with TLS: use --tls`);
    const report = await check({ target });
    assert.ok(report.failure instanceof NotTlsError, String(report.failure));
    const { code } = await run("check", "127.0.0.1", "-p", `${port}`);
    assert.equal(code, EXIT.notTls);
  });
});
