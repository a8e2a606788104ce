/**
 * The TLS client's verification, through `send`: by CA, by pin, insecure,
 * each refusal with its reason, and peers that do not speak TLS on either
 * side. Certificates are made fresh, in memory; no key is committed.
 */
import assert from "node:assert/strict";
import { send } from "../../diag/send.ts";
import { tlsDialer } from "../dial.ts";
import { NotTlsError, TlsVerifyError } from "../errors.ts";
import { testCertificate, withServer, withTlsServer } from "../../cli/test_util.ts";
import { type CertificatePair, selfSignedCertificate } from "./cert.ts";

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"];
const pair = await testCertificate();
const every = Uint8Array.from({ length: 256 }, (_, i) => i);

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

Deno.test("tls: the client offers the ALPN protocols asked for and reports the one chosen", async () => {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: pair.cert,
    key: pair.key,
    alpnProtocols: ["h2", "http/1.1"],
  });
  const accepted = (async () => {
    const sessions: (string | null)[] = [];
    for (let i = 0; i < 2; i++) {
      const conn = await listener.accept();
      sessions.push((await conn.handshake()).alpnProtocol);
      conn.close();
    }
    return sessions;
  })();
  try {
    const target = { hostname: "127.0.0.1", port: listener.addr.port };
    for (const alpn of [["http/1.1"], undefined]) {
      const conn = await tlsDialer({ pin: pair.fingerprint, alpn })(
        target,
        AbortSignal.timeout(5000),
      );
      assert.equal(conn.tls?.alpn, alpn?.[0]);
      conn.close();
    }
    assert.deepEqual(await accepted, ["http/1.1", null]);
  } finally {
    listener.close();
  }
});
