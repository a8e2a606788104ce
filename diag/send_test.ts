import assert from "node:assert/strict";
import { C_CLIENT_MESSAGE, send } from "./send.ts";
import {
  ClosedEarlyError,
  ConnectError,
  MismatchError,
  ResolveError,
  TimeoutError,
} from "../net/errors.ts";
import { writeAll } from "../net/io.ts";
import { serve } from "../server.ts";
import {
  NO_SUCH_HOST,
  pattern,
  readExactly,
  readToEnd,
  WAIT_MS,
  withFakeServer,
  withServer,
  withSocketPath,
  withTimeout,
} from "../cli/test_util.ts";

const every = Uint8Array.from({ length: 256 }, (_, i) => i);

Deno.test("send sends the C client's 21 bytes and gets them back", async () => {
  const received: Uint8Array[] = [];
  await withServer(
    { onData: (_, chunk) => received.push(chunk.slice()) },
    async ({ addr }) => {
      const { echo, remoteAddr } = await send({ hostname: "127.0.0.1", port: addr.port });
      assert.deepEqual(echo, C_CLIENT_MESSAGE);
      assert.equal((remoteAddr as Deno.NetAddr).port, addr.port);
    },
  );
  assert.equal(C_CLIENT_MESSAGE.length, 21);
  assert.deepEqual(received, [C_CLIENT_MESSAGE]);
});

Deno.test("send checks a 2 MiB message's whole echo", async () => {
  await withServer({}, async ({ addr }) => {
    const message = pattern(2 * 1024 * 1024);
    const { echo } = await send({ hostname: "127.0.0.1", port: addr.port, message });
    assert.deepEqual(echo, message);
  });
});

Deno.test("send tries the next address when the first refuses", async () => {
  await withServer({}, async ({ addr }) => {
    // The server listens on 127.0.0.1 only, so 127.0.0.2 (also loopback) refuses.
    const { remoteAddr } = await send({
      hostname: "twoaddresses.test",
      port: addr.port,
      resolve: () => Promise.resolve(["127.0.0.2", "127.0.0.1"]),
    });
    assert.equal((remoteAddr as Deno.NetAddr).hostname, "127.0.0.1");
  });
});

Deno.test("send reports a refused connection as ConnectError", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  await assert.rejects(() => send({ hostname: "127.0.0.1", port }), {
    name: "ConnectError",
    message: `cannot connect to 127.0.0.1:${port}: connection refused`,
  });
  await assert.rejects(
    () =>
      send({
        hostname: "both.test",
        port,
        resolve: () => Promise.resolve(["127.0.0.2", "127.0.0.1"]),
      }),
    ConnectError,
  );
});

Deno.test("send reports a name that does not resolve as ResolveError", async () => {
  await assert.rejects(
    () => send({ hostname: "no-such-host.invalid" }),
    (error) => error instanceof ResolveError && NO_SUCH_HOST.test(error.message),
  );
});

Deno.test("send times out on a server that accepts but never answers", async () => {
  await withFakeServer(
    async (conn) => void await readToEnd(conn),
    async (port) => {
      await assert.rejects(() => send({ hostname: "127.0.0.1", port, timeoutMs: 200 }), {
        name: "TimeoutError",
        message: `timed out after 0.2 s waiting for the echo from 127.0.0.1:${port} ` +
          "(got 0 of 21 bytes)",
      });
    },
  );
});

Deno.test("send times out on a server that trickles the echo too slowly", async () => {
  await withFakeServer(
    async (conn) => {
      const message = await readExactly(conn, 21);
      // One byte every 250 ms: over 5 s for the whole echo, against a 1 s timeout
      // that a byte arriving every 250 ms must not keep pushing back.
      for (const byte of message) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        await writeAll(conn, new Uint8Array([byte]));
      }
    },
    async (port) => {
      await assert.rejects(
        () => withTimeout(send({ hostname: "127.0.0.1", port, timeoutMs: 1000 }), WAIT_MS, "send"),
        (error) =>
          error instanceof TimeoutError &&
          /^timed out after 1 s waiting for the echo from 127\.0\.0\.1:\d+ \(got ([1-9]|1\d) of 21 bytes\)$/
            .test(error.message),
      );
    },
  );
});

Deno.test("send accepts an echo written back one byte per write", async () => {
  await withFakeServer(
    async (conn) => {
      (conn as Deno.TcpConn).setNoDelay(true);
      const message = await readExactly(conn, C_CLIENT_MESSAGE.length);
      for (let i = 0; i < message.length; i++) await writeAll(conn, message.subarray(i, i + 1));
      await readToEnd(conn);
    },
    async (port) => {
      const { echo } = await send({ hostname: "127.0.0.1", port });
      assert.deepEqual(echo, C_CLIENT_MESSAGE);
    },
  );
});

Deno.test("send reports a server that closes early as ClosedEarlyError", async () => {
  await withFakeServer(
    async (conn) => {
      const message = await readExactly(conn, 21);
      await writeAll(conn, message.subarray(0, 10));
    },
    async (port) => {
      await assert.rejects(
        () => send({ hostname: "127.0.0.1", port }),
        (error) =>
          error instanceof ClosedEarlyError && error.received === 10 &&
          error.message === `127.0.0.1:${port} closed the connection after echoing 10 of 21 bytes`,
      );
    },
  );
});

Deno.test("send reports the first differing byte as MismatchError", async () => {
  await withFakeServer(
    async (conn) => {
      const message = await readExactly(conn, 21);
      message[5] ^= 0xff;
      await writeAll(conn, message);
      await readToEnd(conn);
    },
    async (port) => {
      await assert.rejects(
        () => send({ hostname: "127.0.0.1", port }),
        (error) =>
          error instanceof MismatchError && error.offset === 5 &&
          error.message.startsWith(
            `echo differs from what was sent at byte 5: sent 0xbd, got 0x42; received "你\\xe5\\xa5B啊`,
          ),
      );
    },
  );
});

Deno.test("send shows what a server that is no echo server answered instead", async () => {
  const answer = "HTTP/1.0 400 Bad request\r\nContent-Type: text/html\r\n\r\n" +
    "<html><body>Bad request</body></html>\n";
  await withFakeServer(
    async (conn) => {
      await readExactly(conn, 1);
      await writeAll(conn, new TextEncoder().encode(answer));
    },
    async (port) => {
      await assert.rejects(
        () => send({ hostname: "127.0.0.1", port }),
        (error) =>
          error instanceof MismatchError &&
          error.message ===
            "echo differs from what was sent at byte 0: sent 0xe4, got 0x48; received " +
              '"HTTP/1.0 400 Bad request\\r\\nContent-Type: …" (91 bytes)',
      );
    },
  );
});

Deno.test("send gives up on a resolver that does not answer within the timeout", async () => {
  const sending = send({
    hostname: "slow.test",
    timeoutMs: 200,
    resolve: () => new Promise<never>(() => {}),
  });
  await assert.rejects(() => withTimeout(sending, WAIT_MS, "send to give up"), {
    name: "TimeoutError",
    message: "timed out after 0.2 s resolving slow.test",
  });
});

Deno.test("send gives up connecting to a server whose accept queue is full", async () => {
  // A listener that never accepts: once its queue is full, the kernel drops
  // new SYNs and a connect waits (a machine far away that does not answer).
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  const queued: Deno.Conn[] = [];
  try {
    for (let full = false; !full;) {
      assert.ok(queued.length < 20_000, "the accept queue never filled");
      const abort = new AbortController();
      // Generous: a connect that is merely slow must not pass for a full queue.
      const timer = setTimeout(() => abort.abort(), 2000);
      try {
        queued.push(await Deno.connect({ hostname: "127.0.0.1", port, signal: abort.signal }));
      } catch (error) {
        if (!abort.signal.aborted) throw error;
        full = true;
      } finally {
        clearTimeout(timer);
      }
    }
    const sending = send({ hostname: "127.0.0.1", port, timeoutMs: 300 });
    await assert.rejects(() => withTimeout(sending, WAIT_MS, "send to give up"), {
      name: "TimeoutError",
      message: `timed out after 0.3 s connecting to 127.0.0.1:${port}`,
    });
  } finally {
    queued.forEach((conn) => conn.close());
    listener.close();
  }
});

Deno.test("send names every address it tried when none accepts", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  const addresses = ["127.0.0.3", "127.0.0.2", "127.0.0.1"];
  const sending = send({ hostname: "three.test", port, resolve: () => Promise.resolve(addresses) });
  await assert.rejects(sending, {
    name: "ConnectError",
    message: `cannot connect to three.test:${port} (tried ${addresses.join(", ")}): ` +
      "connection refused",
  });
});

Deno.test("unix: serve and send echo all 256 byte values over a Unix socket", async () => {
  await withSocketPath(async (path) => {
    const names: string[] = [];
    const server = await serve({
      path,
      onConnection: ({ remoteAddr }) => names.push(remoteAddr.transport),
    });
    try {
      assert.equal(server.addr.path, path);
      const { echo, remoteAddr } = await send({ hostname: "", path, message: every });
      assert.deepEqual(echo, every);
      assert.deepEqual(remoteAddr, { transport: "unix", path });
      assert.deepEqual(names, ["unix"]);
    } finally {
      await server.shutdown({ graceMs: 0 });
    }
  });
});
