/**
 * TLS at the library level: the echo over TLS, the client's verification
 * (CA, pin, insecure, and each refusal with its reason), the server's
 * handshake timeout, and peers that do not speak TLS on either side.
 * Certificates are made fresh here, in memory; no key is committed.
 */
import assert from "node:assert/strict";
import { bench } from "../../bench/bench.ts";
import { send } from "../../diag/send.ts";
import { NotTlsError, TlsHandshakeError, TlsVerifyError } from "../errors.ts";
import { writeAll } from "../io.ts";
import { type ConnectionSummary, serve, type ServeOptions } from "../../server.ts";
import { readToEnd, withServer } from "../../cli/testing.ts";
import { type CertificatePair, selfSignedCertificate } from "./cert.ts";

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"];
const pair = await selfSignedCertificate(LOOPBACK_NAMES);
const every = Uint8Array.from({ length: 256 }, (_, i) => i);

/** Runs `body` with a TLS echo server on 127.0.0.1 using `certificate`. */
async function withTlsServer(
  options: ServeOptions,
  body: (port: number) => Promise<void>,
  certificate: CertificatePair = pair,
): Promise<void> {
  const { cert, key } = certificate;
  await withServer({ ...options, tls: { cert, key } }, ({ addr }) => body(addr.port));
}

Deno.test("tls: the self-signed certificate names the loopback addresses and has a fingerprint", async () => {
  assert.match(pair.cert, /^-----BEGIN CERTIFICATE-----\n[^]+\n-----END CERTIFICATE-----\n$/);
  assert.match(pair.key, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.match(pair.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  const other = await selfSignedCertificate(LOOPBACK_NAMES);
  assert.notEqual(other.fingerprint, pair.fingerprint); // a fresh key every time
});

Deno.test("tls: send --pin gets all 256 byte values back through serve over TLS", async () => {
  await withTlsServer({}, async (port) => {
    const { echo, tls } = await send({
      hostname: "127.0.0.1",
      port,
      message: every,
      tls: { pin: pair.fingerprint },
    });
    assert.deepEqual(echo, every);
    assert.equal(tls?.fingerprint, pair.fingerprint);
    assert.match(tls?.protocol ?? "", /^TLSv1\.[23]$/);
    assert.ok(tls && tls.cipher.length > 0 && tls.handshakeMs >= 0);
  });
});

Deno.test("tls: send trusts a certificate given with --ca, by name and by address", async () => {
  await withTlsServer({}, async (port) => {
    for (const hostname of ["localhost", "127.0.0.1"]) {
      const message = new TextEncoder().encode(`via ${hostname}`);
      const { echo } = await send({ hostname, port, message, tls: { ca: [pair.cert] } });
      assert.deepEqual(echo, message);
    }
  });
});

Deno.test("tls: send refuses each bad certificate with its own reason", async () => {
  const expired = await selfSignedCertificate(LOOPBACK_NAMES, {
    notBefore: new Date(Date.now() - 10 * 86_400_000),
    days: 1,
  });
  const cases: [CertificatePair, Parameters<typeof send>[0]["tls"], RegExp][] = [
    [pair, {}, /: unknown issuer/],
    [expired, { ca: [expired.cert] }, /: expired \(on /],
    [pair, { ca: [pair.cert], servername: "elsewhere.test" }, /: name mismatch/],
    [pair, { pin: "00".repeat(32).replace(/(..)(?!$)/g, "$1:") }, /\(pin mismatch\)/],
  ];
  for (const [certificate, tls, reason] of cases) {
    await withTlsServer({}, async (port) => {
      await assert.rejects(
        () => send({ hostname: "127.0.0.1", port, tls }),
        (error) => error instanceof TlsVerifyError && reason.test(error.message),
      );
    }, certificate);
  }
});

Deno.test("tls: send --insecure accepts a certificate nobody vouches for", async () => {
  await withTlsServer({}, async (port) => {
    const { echo } = await send({
      hostname: "127.0.0.1",
      port,
      message: every,
      tls: { insecure: true },
    });
    assert.deepEqual(echo, every);
  });
});

/** Runs `body` with a TLS server whose closed connections' summaries are awaited one by one. */
async function withWatchedTlsServer(
  options: ServeOptions,
  body: (port: number, nextClose: () => Promise<ConnectionSummary>) => Promise<void>,
): Promise<void> {
  const closes: ConnectionSummary[] = [];
  let wake = () => {};
  // Bounded: a connection the server never closes must fail the test, not hang it.
  const nextClose = async () => {
    const deadline = performance.now() + 10_000;
    while (closes.length === 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve, reject) => {
        wake = resolve;
        timer = setTimeout(
          () => reject(new Error("no connection closed within 10 s")),
          deadline - performance.now(),
        );
      }).finally(() => clearTimeout(timer));
    }
    return closes.shift()!;
  };
  await withTlsServer({
    ...options,
    onClose: (_, summary) => {
      closes.push(summary);
      wake();
    },
  }, (port) => body(port, nextClose));
}

Deno.test("tls: the server closes a client that never finishes its handshake", async () => {
  await withWatchedTlsServer({ handshakeTimeoutMs: 200 }, async (port, nextClose) => {
    const silent = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      const { error, bytes } = await nextClose();
      assert.equal(bytes, 0);
      assert.ok(error instanceof TlsHandshakeError);
      assert.equal(error.message, "TLS handshake failed: not finished within 0.2 s");
      // Deno keeps the socket of a cancelled handshake until the client sends
      // something: then it gets an alert at most, and the end.
      await writeAll(silent, new Uint8Array([0]));
      assert.ok((await readToEnd(silent)).length <= 7);
    } finally {
      silent.close();
    }
  });
});

Deno.test("tls: garbage or plain text to the TLS port closes that connection only", async () => {
  await withWatchedTlsServer({}, async (port, nextClose) => {
    for (const garbage of [new TextEncoder().encode("hello, plain text\n"), every]) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await writeAll(conn, garbage);
        await readToEnd(conn).catch(() => {}); // an alert, then the end (or a reset)
      } finally {
        conn.close();
      }
      const { error, reason } = await nextClose();
      assert.equal(reason, "handshake_failure");
      assert.ok(error instanceof TlsHandshakeError, String(error));
      assert.match(error.message, /^TLS handshake failed: /);
    }
    // The server is unharmed.
    const { echo } = await send({ hostname: "127.0.0.1", port, tls: { insecure: true } });
    assert.equal(echo.length, 21);
  });
});

Deno.test("tls: a plain send to a TLS server is told the server answered with TLS", async () => {
  await withTlsServer({}, async (port) => {
    await assert.rejects(
      () => send({ hostname: "127.0.0.1", port }),
      new NotTlsError("127.0.0.1:" + port + " answered with TLS: use --tls"),
    );
  });
});

Deno.test("tls: a TLS send to a plain echo server is told it does not speak TLS", async () => {
  await withServer({}, async ({ addr }) => {
    await assert.rejects(
      () => send({ hostname: "127.0.0.1", port: addr.port, tls: { insecure: true } }),
      (error) => error instanceof NotTlsError && /does not speak TLS/.test(error.message),
    );
  });
});

Deno.test("tls: bench loads a TLS server, pinned or with --ca, verifying every byte", async () => {
  await withTlsServer({}, async (port) => {
    for (const tls of [{ pin: pair.fingerprint }, { ca: [pair.cert] }, { insecure: true }]) {
      const report = await bench({ hostname: "127.0.0.1", port, count: 50, connections: 2, tls });
      assert.equal(report.operations, 50);
      assert.equal(report.bytes, 50 * 64);
    }
    await assert.rejects(
      () => bench({ hostname: "127.0.0.1", port, count: 1, tls: {} }),
      TlsVerifyError,
    );
  });
});

Deno.test("tls: bench --rate and --warmup pace and measure a TLS load", async () => {
  await withTlsServer({}, async (port) => {
    const report = await bench({
      hostname: "127.0.0.1",
      port,
      connections: 2,
      durationMs: 500,
      warmupMs: 100,
      rate: 100,
      tls: { pin: pair.fingerprint },
    });
    // 100/s for 0.5 s is 50 slots; as fast as possible would be thousands.
    assert.ok(report.operations > 0 && report.operations <= 50, `${report.operations} sent`);
    assert.deepEqual([report.rate?.offered, report.warmupMs], [100, 100]);
    assert.equal(report.latencyMs?.count, report.operations);
  });
});

Deno.test("tls: serve over TLS can shut down while a handshake is pending", async () => {
  const server = await serve({ hostname: "127.0.0.1", port: 0, tls: pair });
  const silent = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  try {
    const summary = await server.shutdown({ graceMs: 0 });
    assert.equal(summary.forced, 1);
  } finally {
    silent.close();
  }
});
