/**
 * The server side of TLS (`acceptTls`, and `serve` over it): ALPN and what a
 * handshake settled, as a rustls client and openssl see them; the clean end
 * (close_notify) after a client's half-close, also after a bulk echo; the
 * alert a client that is not TLS gets; and silent clients whose descriptors
 * go back within the handshake timeout.
 */
import assert from "node:assert/strict";
import { type ConnectionInfo, serve, type ServeOptions } from "../../server.ts";
import {
  concat,
  pattern,
  readExactly,
  readToEnd,
  testCertificate,
  withTimeout,
  withTlsServer,
} from "../../cli/test_util.ts";
import { canRun, hasCommand, needs, skipped } from "../../cli/test_util_process.ts";
import { openDescriptors, untilDescriptors } from "../../cli/test_util_socket.ts";
import { TlsHandshakeError } from "../errors.ts";
import { writeAll } from "../io.ts";
import { acceptTls } from "./server.ts";

const pair = await testCertificate();
const haveOpenssl = await hasCommand("openssl");

/** A rustls client (Deno's own TLS): strict about a close_notify before the end. */
function connectTls(port: number, alpnProtocols?: string[]): Promise<Deno.TlsConn> {
  return Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [pair.cert], alpnProtocols });
}

Deno.test("tls: acceptTls reports version, cipher and the ALPN protocol the client chose", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const options = { ...pair, alpnProtocols: ["h2", "http/1.1"] };
  for (const [offered, chosen] of [[["http/1.1"], "http/1.1"], [undefined, undefined]] as const) {
    const client = connectTls(listener.addr.port, offered && [...offered]);
    const server = await acceptTls(await listener.accept(), options);
    const conn = await client;
    try {
      const { alpnProtocol } = await conn.handshake();
      assert.equal(alpnProtocol, chosen ?? null);
      assert.deepEqual(server.tls, {
        version: "TLSv1.3",
        cipher: server.tls.cipher,
        ...chosen && { alpn: chosen },
      });
      assert.match(
        server.tls.cipher,
        /^TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$/,
      );
      await writeAll(conn, new TextEncoder().encode("ping"));
      const echo = new Uint8Array(4);
      assert.equal(await server.read(echo), 4);
      await writeAll(server, echo);
      assert.deepEqual(await readExactly(conn as Deno.Conn, 4), echo);
    } finally {
      server.close();
      conn.close();
      await server.released;
    }
  }
});

Deno.test({
  name: "interop: openssl s_client -alpn h2,http/1.1 gets h2 from serve, which reports it" +
    skipped(needs(haveOpenssl, "openssl")),
  ignore: !haveOpenssl,
  async fn() {
    const seen: ConnectionInfo[] = [];
    const options: Omit<ServeOptions, "path" | "tls"> = {
      alpnProtocols: ["h2", "http/1.1"],
      onConnection: (info) => seen.push(info),
    };
    await withTlsServer(options, async (port) => {
      for (const [offer, chosen] of [["h2,http/1.1", "h2"], ["http/1.1", "http/1.1"]]) {
        const client = new Deno.Command("openssl", {
          args: ["s_client", "-connect", `127.0.0.1:${port}`, "-alpn", offer],
          stdin: "null", // s_client ends at the end of its input, after the handshake
          stdout: "piped",
          stderr: "null",
        }).spawn();
        const { stdout } = await withTimeout(client.output(), 10_000, "openssl s_client");
        const said = new TextDecoder().decode(stdout);
        assert.match(said, new RegExp(`^ALPN protocol: ${chosen.replace("/", "\\/")}$`, "m"));
        assert.match(said, /^New, TLSv1\.3, Cipher is TLS_\w+$/m);
      }
    });
    assert.deepEqual(seen.map((info) => info.tls?.alpn), ["h2", "http/1.1"]);
    assert.deepEqual(seen.map((info) => info.tls?.version), ["TLSv1.3", "TLSv1.3"]);
  },
});

Deno.test("tls: after the client's half-close the echo ends with the server's close_notify", async () => {
  await withTlsServer({}, async (port) => {
    const conn = await connectTls(port);
    try {
      const message = new TextEncoder().encode("all of this, then the end");
      await writeAll(conn, message);
      await conn.closeWrite();
      // rustls throws UnexpectedEof for an end without close_notify.
      assert.deepEqual(await readToEnd(conn), message);
    } finally {
      conn.close();
    }
  });
});

Deno.test("tls: 4 MiB streamed both ways, then a half-close: all of it back, then a clean end", async () => {
  await withTlsServer({}, async (port) => {
    const conn = await connectTls(port);
    try {
      const chunks = Array.from({ length: 64 }, (_, i) => pattern(64 * 1024, i));
      // Written while the echo is read: the server is often holding back its reads
      // when the end comes (Deno 2.9's TLS lost an end that came while it was paused).
      const writing = (async () => {
        for (const chunk of chunks) await writeAll(conn, chunk);
        await conn.closeWrite();
      })();
      const echo = await readToEnd(conn);
      await writing;
      assert.equal(echo.length, 64 * 64 * 1024);
      assert.deepEqual(echo, concat(chunks));
    } finally {
      conn.close();
    }
  });
});

Deno.test("tls: a client that does not speak TLS gets rustls's decode_error alert, then the end", async () => {
  const closes: Error[] = [];
  await withTlsServer({ onClose: (_, { error }) => error && closes.push(error) }, async (port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await writeAll(conn, new TextEncoder().encode("hello, plain text\r\n"));
      // A plaintext alert record: fatal (2), decode_error (50).
      assert.deepEqual([...await readToEnd(conn)], [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 50]);
    } finally {
      conn.close();
    }
  });
  assert.deepEqual(closes.map(String), [
    "TlsHandshakeError: TLS handshake failed: the client does not speak TLS",
  ]);
});

Deno.test({
  name: "tls: 300 silent clients hold no descriptor of the server past the handshake timeout" +
    skipped(needs(canRun, "--allow-run (ls /proc/PID/fd)")),
  ignore: !canRun,
  async fn() {
    const SILENT = 300;
    const TIMEOUT_MS = 300;
    const failures: Error[] = [];
    let allClosed = () => {};
    const closed = new Promise<void>((resolve) => allClosed = resolve);
    const server = await serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: pair,
      handshakeTimeoutMs: TIMEOUT_MS,
      onClose(_, { error }) {
        failures.push(error!);
        if (failures.length === SILENT) allClosed();
      },
    });
    const silent: Deno.Conn[] = [];
    try {
      const baseline = await openDescriptors(Deno.pid);
      for (let i = 0; i < SILENT; i++) {
        silent.push(await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port }));
      }
      const connected = performance.now();
      // Ours and the server's end of each, while the handshakes wait.
      assert.ok(await openDescriptors(Deno.pid) > baseline + SILENT);
      await withTimeout(closed, TIMEOUT_MS + 1000, "every silent client to be closed");
      // Only our ends are left, within the timeout and a second of the last connect.
      const left = TIMEOUT_MS + 1000 - (performance.now() - connected);
      await untilDescriptors(
        Deno.pid,
        (n) => n <= baseline + SILENT,
        Math.max(left, 0),
        "ours only",
      );
      assert.equal(server.activeConnections, 0);
      assert.ok(failures.every((error) => error instanceof TlsHandshakeError));
      assert.equal(failures[0].message, "TLS handshake failed: not finished within 0.3 s");
      // And each client sees its connection closed.
      assert.equal((await readToEnd(silent[0])).length, 0);
    } finally {
      silent.forEach((conn) => conn.close());
      await server.shutdown({ graceMs: 0 });
    }
  },
});
