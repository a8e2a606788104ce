/**
 * The listeners at the library level: a Unix socket's file (a stale one
 * replaced, a live one refused, removed at shutdown), the TLS listener's
 * handshakes (timed out, garbage, pending at shutdown), and TCP_NODELAY on
 * the server's sockets, TLS or not.
 */
import assert from "node:assert/strict";
import { send } from "../diag/send.ts";
import { AddressInUseError, TlsHandshakeError } from "./errors.ts";
import { writeAll } from "./io.ts";
import { type ConnectionSummary, serve, type ServeOptions } from "../server.ts";
import {
  readExactly,
  readToEnd,
  testCertificate,
  withServer,
  withSocketPath,
  withTlsServer,
} from "../cli/test_util.ts";
import { skipped } from "../cli/test_util_process.ts";
import { noDelayOf, whyNoNoDelayProbe } from "../cli/test_util_socket.ts";

const pair = await testCertificate();

/** Leaves what a killed server leaves: a socket file nobody listens on. */
async function leaveStaleSocket(path: string): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const listener = Deno.listen({ transport: "unix", path: ${JSON.stringify(path)} });
      console.log("up");
      await listener.accept();`,
    ],
    stdout: "piped",
  }).spawn();
  // Deno removes the file when a listener closes, even at exit: only a kill leaves it.
  const reader = child.stdout.getReader();
  await reader.read();
  child.kill("SIGKILL");
  await child.status;
  reader.releaseLock();
  await child.stdout.cancel();
}

const exists = (path: string) => Deno.lstat(path).then(() => true, () => false);
const every = Uint8Array.from({ length: 256 }, (_, i) => i);

/** Sends every byte value over the socket at `path` and checks the echo. */
async function assertEchoes(path: string): Promise<void> {
  const { echo } = await send({ hostname: "", path, message: every });
  assert.deepEqual(echo, every);
}

Deno.test("unix: the socket file is removed at shutdown", async () => {
  await withSocketPath(async (path) => {
    const server = await serve({ path });
    assert.ok((await Deno.lstat(path)).isSocket);
    await server.shutdown({ graceMs: 0 });
    assert.equal(await exists(path), false);
  });
});

Deno.test("unix: a stale socket file left by a dead server is replaced", async () => {
  await withSocketPath(async (path) => {
    await leaveStaleSocket(path);
    assert.ok((await Deno.lstat(path)).isSocket);
    const server = await serve({ path });
    try {
      await assertEchoes(path);
    } finally {
      await server.shutdown({ graceMs: 0 });
    }
  });
});

Deno.test("unix: a live server's socket is 'address in use', and stays", async () => {
  await withSocketPath(async (path) => {
    const live = await serve({ path });
    try {
      await assert.rejects(() => serve({ path }), AddressInUseError);
      await assertEchoes(path);
    } finally {
      await live.shutdown({ graceMs: 0 });
    }
  });
});

Deno.test("unix: a file that is not a socket is never replaced", async () => {
  await withSocketPath(async (path) => {
    await Deno.writeTextFile(path, "precious");
    await assert.rejects(
      () => serve({ path }),
      new AddressInUseError(`cannot listen on ${path}: the file exists and is not a socket`),
    );
    assert.equal(await Deno.readTextFile(path), "precious");
  });
});

// The TLS listener: handshakes that never finish or are garbage, and shutdown with one pending.

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
      // The socket itself is closed (Deno.listenTls kept it until the client spoke).
      assert.equal((await readToEnd(silent)).length, 0);
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

const noProbe = await whyNoNoDelayProbe();

Deno.test({
  name: "tcp and tls: the server's socket of a connection has TCP_NODELAY set" + skipped(noProbe),
  ignore: noProbe !== undefined,
  async fn() {
    const echoOnce = async (conn: Deno.Conn) => {
      await writeAll(conn, new Uint8Array([7]));
      assert.deepEqual(await readExactly(conn, 1), new Uint8Array([7]));
    };
    await withServer({}, async ({ addr }) => {
      using conn = await Deno.connect({ hostname: "127.0.0.1", port: addr.port });
      await echoOnce(conn);
      assert.equal(await noDelayOf(Deno.pid, (conn.localAddr as Deno.NetAddr).port), 1);
    });
    // Set before the handshake: its flights are small writes too (Deno.listenTls left it off).
    await withTlsServer({}, async (port) => {
      using conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [pair.cert] });
      await echoOnce(conn);
      assert.equal(await noDelayOf(Deno.pid, (conn.localAddr as Deno.NetAddr).port), 1);
    });
    // And the probe tells the two apart: a socket of our own without it.
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    using client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    using accepted = await listener.accept();
    accepted.setNoDelay(false);
    assert.equal(await noDelayOf(Deno.pid, (client.localAddr as Deno.NetAddr).port), 0);
  },
});
