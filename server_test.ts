import assert from "node:assert/strict";
import net from "node:net";
import { AddressUnavailableError, IdleTimeoutError } from "./net/errors.ts";
import { closeQuietly, writeAll } from "./net/io.ts";
import {
  type ConnectionInfo,
  type ConnectionSummary,
  type EchoServer,
  serve,
  type ServeOptions,
} from "./server.ts";
import {
  echoFrom,
  echoOf,
  pattern,
  readExactly,
  readToEnd,
  WAIT_MS,
  withServer,
  withTimeout,
} from "./cli/test_util.ts";
import { parseAccessList } from "./net/access/acl.ts";

const encoder = new TextEncoder();

/** Whether this machine has IPv6 loopback (containers often have none). */
const haveIpv6 = (() => {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
})();

/** Linux routes all of 127/8 to lo, so 127.0.0.2 can be a second client address. */
const haveSecondLoopback = await new Promise<boolean>((resolve) => {
  const probe = net.createServer();
  probe.once("error", () => resolve(false));
  probe.listen(0, "127.0.0.2", () => probe.close(() => resolve(true)));
});

/** Runs `body` against a server made with `options`; resolves with why each connection ended. */
async function closeReasons(
  options: ServeOptions,
  body: (server: EchoServer) => Promise<void>,
): Promise<(Error | undefined)[]> {
  const reasons: (Error | undefined)[] = [];
  await withServer({ ...options, onClose: (_, { error }) => reasons.push(error) }, body);
  return reasons;
}

Deno.test("server echoes text byte for byte", async () => {
  await withServer({}, async ({ addr }) => {
    const message = encoder.encode("你好啊服务器!\n\0");
    assert.deepEqual(await echoOf(addr.port, message), message);
  });
});

Deno.test("server echoes all 256 byte values", async () => {
  await withServer({}, async ({ addr }) => {
    const every = Uint8Array.from({ length: 256 }, (_, i) => i);
    assert.deepEqual(await echoOf(addr.port, every), every);
  });
});

Deno.test("server echoes an 8 MiB payload exactly while the client writes and reads", async () => {
  await withServer({}, async ({ addr }) => {
    const payload = pattern(8 * 1024 * 1024);
    assert.deepEqual(await echoOf(addr.port, payload), payload);
  });
});

Deno.test("server serves a second client while the first stays connected and idle", async () => {
  await withServer({}, async ({ addr }) => {
    const idle = await Deno.connect({ hostname: "127.0.0.1", port: addr.port });
    try {
      assert.deepEqual(await echoOf(addr.port, encoder.encode("second")), encoder.encode("second"));
    } finally {
      idle.close();
    }
  });
});

Deno.test("server keeps 50 concurrent clients' interleaved messages apart", async () => {
  await withServer({}, async ({ addr }) => {
    const conns = await Promise.all(
      Array.from({ length: 50 }, () => Deno.connect({ hostname: "127.0.0.1", port: addr.port })),
    );
    try {
      for (let round = 0; round < 5; round++) {
        await Promise.all(conns.map(async (conn, i) => {
          const message = pattern(100 + i * 37, i * 10 + round);
          await writeAll(conn, message);
          assert.deepEqual(await readExactly(conn, message.length), message);
        }));
      }
    } finally {
      conns.forEach((conn) => conn.close());
    }
  });
});

Deno.test("server finishes echoing to a half-closed client, then closes", async () => {
  await withServer({}, async ({ addr }) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: addr.port });
    try {
      const message = pattern(300_000);
      await writeAll(conn, message.subarray(0, 1000));
      assert.deepEqual(await readExactly(conn, 1000), message.subarray(0, 1000));
      // The rest is sent and the send side shut before a byte of it is read.
      await writeAll(conn, message.subarray(1000));
      await conn.closeWrite();
      assert.deepEqual(await readToEnd(conn), message.subarray(1000));
    } finally {
      conn.close();
    }
  });
});

Deno.test("server survives a client that resets mid-stream; others are unaffected", async () => {
  const closed = new Map<number, ConnectionSummary>();
  let received = 0;
  let flooding!: () => void;
  const serverIsBusy = new Promise<void>((resolve) => flooding = resolve);
  await withServer({
    onData: (info, chunk) => {
      if (info.id === 2 && (received += chunk.length) >= 1024 * 1024) flooding();
    },
    onClose: (info, summary) => closed.set(info.id, summary),
  }, async ({ addr }) => {
    const other = await Deno.connect({ hostname: "127.0.0.1", port: addr.port });
    try {
      await writeAll(other, encoder.encode("before"));
      assert.deepEqual(await readExactly(other, 6), encoder.encode("before"));
      // The resetter floods without reading, then resets (SO_LINGER 0) mid-stream.
      // node:net, because Deno's close() may send a FIN even with echo unread.
      const resetter = net.connect({ host: "127.0.0.1", port: addr.port });
      resetter.on("error", () => {});
      const gone = new Promise((resolve) => resetter.on("close", resolve));
      resetter.write(pattern(16 * 1024 * 1024));
      await withTimeout(serverIsBusy, WAIT_MS, "the server to read 1 MiB of the flood");
      resetter.resetAndDestroy();
      await withTimeout(gone, WAIT_MS, "the resetter to close");
      await writeAll(other, encoder.encode("after"));
      assert.deepEqual(await readExactly(other, 5), encoder.encode("after"));
      assert.deepEqual(await echoOf(addr.port, encoder.encode("new")), encoder.encode("new"));
    } finally {
      other.close();
    }
  });
  assert.equal(closed.size, 3);
  const reset = closed.get(2)!;
  assert.ok(reset.bytes < 16 * 1024 * 1024, "the reset connection ended mid-stream");
  // The server meets the reset in a read (ECONNRESET) or, blocked writing to
  // the non-reader, in that write (EPIPE): either is the client's doing; a FIN,
  // a timeout or the grace-period cut would be neither.
  assert.ok(
    reset.error instanceof Deno.errors.ConnectionReset ||
      reset.error instanceof Deno.errors.BrokenPipe,
    `ended by ${reset.error}`,
  );
  assert.equal(closed.get(3)!.error, undefined, "the later client finished normally");
});

Deno.test("server reports connection, every chunk and the close through callbacks", async () => {
  const events: string[] = [];
  let opened: ConnectionInfo | undefined;
  await withServer({
    onConnection: (info) => {
      opened = info;
      events.push(`open ${info.id}`);
    },
    onData: (info, chunk) => events.push(`data ${info.id} ${new TextDecoder().decode(chunk)}`),
    onClose: (info, { bytes, error }) => events.push(`close ${info.id} ${bytes} ${error}`),
  }, async ({ addr }) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: addr.port });
    try {
      await writeAll(conn, encoder.encode("one"));
      await readExactly(conn, 3);
      await writeAll(conn, encoder.encode("two!"));
      await readExactly(conn, 4);
      assert.deepEqual(
        (opened?.remoteAddr as Deno.NetAddr).port,
        (conn.localAddr as Deno.NetAddr).port,
      );
      await conn.closeWrite();
      await readToEnd(conn);
    } finally {
      conn.close();
    }
  });
  assert.deepEqual(events, ["open 1", "data 1 one", "data 1 two!", "close 1 7 undefined"]);
});

Deno.test("server shutdown refuses new clients and lets open ones finish", async () => {
  const server = await serve({ hostname: "127.0.0.1", port: 0 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  try {
    await writeAll(conn, encoder.encode("a"));
    await readExactly(conn, 1);
    const stopped = server.shutdown({ graceMs: 10_000 });
    // Linux refuses a connect to a closed listener; some kernels reset it instead.
    await assert.rejects(
      () => Deno.connect({ hostname: "127.0.0.1", port: server.addr.port }),
      (error) =>
        error instanceof Deno.errors.ConnectionRefused ||
        error instanceof Deno.errors.ConnectionReset,
    );
    await writeAll(conn, encoder.encode("bc"));
    assert.deepEqual(await readExactly(conn, 2), encoder.encode("bc"));
    await conn.closeWrite();
    assert.deepEqual(await readToEnd(conn), new Uint8Array());
    assert.deepEqual(await stopped, { connections: 1, bytes: 3, forced: 0 });
  } finally {
    conn.close();
  }
});

Deno.test("server shutdown closes connections still open when the grace period ends", async () => {
  const server = await serve({ hostname: "127.0.0.1", port: 0 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  try {
    await writeAll(conn, encoder.encode("xy"));
    await readExactly(conn, 2);
    assert.deepEqual(await server.shutdown({ graceMs: 50 }), {
      connections: 1,
      bytes: 2,
      forced: 1,
    });
    assert.deepEqual(await readToEnd(conn), new Uint8Array());
  } finally {
    closeQuietly(conn);
  }
});

Deno.test("server listening on a taken port throws AddressInUseError", async () => {
  await withServer({}, async ({ addr }) => {
    await assert.rejects(() => serve({ hostname: "127.0.0.1", port: addr.port }), {
      name: "AddressInUseError",
      message: `cannot listen on 127.0.0.1:${addr.port}: address already in use`,
    });
  });
});

Deno.test("server listening on an address that is not this machine's throws", async () => {
  // 192.0.2.1 is TEST-NET-1 (RFC 5737): never assigned to a host; nothing is sent.
  await assert.rejects(() => serve({ hostname: "192.0.2.1", port: 0 }), AddressUnavailableError);
});

Deno.test({
  name: "server listens and echoes on IPv6 loopback" + (haveIpv6 ? "" : " (skipped: needs ::1)"),
  ignore: !haveIpv6,
}, async () => {
  const server = await serve({ hostname: "::1", port: 0 });
  try {
    assert.deepEqual(server.addr.hostname, "::1");
    const conn = await Deno.connect({ hostname: "::1", port: server.addr.port });
    try {
      await writeAll(conn, encoder.encode("v6"));
      assert.deepEqual(await readExactly(conn, 2), encoder.encode("v6"));
    } finally {
      conn.close();
    }
  } finally {
    await server.shutdown({ graceMs: 0 });
  }
});

Deno.test("server on IPv6 names an IPv4-mapped client by its plain IPv4 address", async () => {
  const seen: string[] = [];
  const closed = Promise.withResolvers<void>();
  const server = await serve({
    // What a `::` listener sees of IPv4 clients, kept on loopback.
    hostname: "::ffff:127.0.0.1",
    port: 0,
    onConnection: ({ remoteAddr }) => seen.push((remoteAddr as Deno.NetAddr).hostname),
    onClose: ({ remoteAddr }) => {
      seen.push((remoteAddr as Deno.NetAddr).hostname);
      closed.resolve();
    },
  });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
    conn.close();
    await closed.promise;
    assert.deepEqual(seen, ["127.0.0.1", "127.0.0.1"]);
  } finally {
    await server.shutdown({ graceMs: 0 });
  }
});

Deno.test("server serves a new client at once while 200 idle clients hold connections", async () => {
  await withServer({}, async ({ addr }) => {
    const idle = await Promise.all(
      Array.from({ length: 200 }, () => Deno.connect({ hostname: "127.0.0.1", port: addr.port })),
    );
    try {
      assert.deepEqual(await echoOf(addr.port, encoder.encode("hi")), encoder.encode("hi"));
    } finally {
      idle.forEach((conn) => conn.close());
    }
  });
});

Deno.test("server past maxConnections closes the extra connection at once and reports it", async () => {
  const rejected: Deno.NetAddr[] = [];
  let closeFirst!: () => void;
  const firstClosed = new Promise<void>((resolve) => closeFirst = resolve);
  await withServer({
    maxConnections: 2,
    onReject: (remoteAddr) => rejected.push(remoteAddr as Deno.NetAddr),
    onClose: () => closeFirst(),
  }, async ({ addr }) => {
    const connect = () => Deno.connect({ hostname: "127.0.0.1", port: addr.port });
    const [a, b] = await Promise.all([connect(), connect()]);
    const extra = await connect();
    try {
      // Both are served, so both were accepted before the extra one.
      for (const conn of [a, b]) {
        await writeAll(conn, encoder.encode("x"));
        await readExactly(conn, 1);
      }
      await writeAll(extra, encoder.encode("y")).catch(() => {});
      assert.deepEqual(await readToEnd(extra).catch(() => new Uint8Array()), new Uint8Array());
      assert.deepEqual(rejected.map((r) => r.port), [(extra.localAddr as Deno.NetAddr).port]);
      a.close();
      await withTimeout(firstClosed, WAIT_MS, "the first connection to close");
      assert.deepEqual(await echoOf(addr.port, encoder.encode("next")), encoder.encode("next"));
    } finally {
      [a, b, extra].forEach(closeQuietly);
    }
  });
});

Deno.test({
  name: "server closes a client refused by acceptFrom at once, unread, and reports it" +
    (haveSecondLoopback ? "" : " (skipped: needs to bind 127.0.0.2)"),
  ignore: !haveSecondLoopback,
  async fn() {
    const acl = parseAccessList({ allow: "127.0.0.1/32" });
    const denied: string[] = [];
    const served: string[] = [];
    await withServer({
      acceptFrom: ({ hostname }) => acl.allows(hostname),
      onDeny: ({ hostname }) => denied.push(hostname),
      onConnection: ({ remoteAddr }) => served.push((remoteAddr as Deno.NetAddr).hostname),
      onData: () => assert.fail("a denied client's bytes were read"),
    }, async ({ addr }) => {
      const hello = new TextEncoder().encode("let me in");
      assert.deepEqual(
        await withTimeout(echoFrom("127.0.0.2", addr.port, hello), WAIT_MS, "close"),
        new Uint8Array(),
      );
      assert.deepEqual(denied, ["127.0.0.2"]);
      assert.deepEqual(served, []);
    });
    // The allowed address is still served.
    await withServer({ acceptFrom: ({ hostname }) => acl.allows(hostname) }, async ({ addr }) => {
      const hello = new TextEncoder().encode("hello");
      assert.deepEqual(await echoOf(addr.port, hello), hello);
    });
  },
});

Deno.test("server closes a connection idle past idleTimeoutMs with IdleTimeoutError", async () => {
  // 1 s, not less: the client must get its echo before the timeout, stall or not.
  const ends = await closeReasons({ idleTimeoutMs: 1000 }, async ({ addr }) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: addr.port });
    try {
      await writeAll(conn, encoder.encode("once"));
      assert.deepEqual(await readExactly(conn, 4), encoder.encode("once"));
      assert.deepEqual(await readToEnd(conn), new Uint8Array(), "the server closed it");
    } finally {
      conn.close();
    }
  });
  assert.equal(ends.length, 1);
  assert.ok(ends[0] instanceof IdleTimeoutError);
  assert.equal(ends[0].message, "idle for 1 s");
});

Deno.test("server keeps a connection that keeps talking past the idle timeout", async () => {
  const ends = await closeReasons({ idleTimeoutMs: 2000 }, async ({ addr }) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: addr.port });
    try {
      // 20 messages 150 ms apart: 3 s in all, never near 2 s silent (room for a stall).
      for (let i = 0; i < 20; i++) {
        await new Promise((resolve) => setTimeout(resolve, 150));
        await writeAll(conn, encoder.encode("tick"));
        assert.deepEqual(await readExactly(conn, 4), encoder.encode("tick"));
      }
      await conn.closeWrite();
      await readToEnd(conn);
    } finally {
      conn.close();
    }
  });
  assert.deepEqual(ends, [undefined]);
});

Deno.test("server stops reading from a client that never reads its echo", async () => {
  let flooded = 0;
  const stalled = Promise.withResolvers<Error | undefined>();
  // The idle timeout is the event that says the server made no progress on
  // the flooder for a whole second: it had stopped reading. No fixed window.
  await withServer({
    idleTimeoutMs: 1000,
    onData: (info, chunk) => void (info.id === 1 && (flooded += chunk.length)),
    onClose: (info, { error }) => info.id === 1 && stalled.resolve(error),
  }, async ({ addr }) => {
    const flooder = await Deno.connect({ hostname: "127.0.0.1", port: addr.port });
    const flood = writeAll(flooder, pattern(64 * 1024 * 1024)).then(() => "done", () => "cut");
    try {
      const reason = await withTimeout(stalled.promise, WAIT_MS, "the server to give up");
      assert.ok(reason instanceof IdleTimeoutError, `ended by ${reason}`);
      // The flooder read nothing, so the server read no more than the socket
      // buffers hold (a few MiB), not the 64 MiB on offer.
      assert.ok(flooded < 32 * 1024 * 1024, `server read ${flooded} bytes from a non-reader`);
      assert.deepEqual(await echoOf(addr.port, encoder.encode("others")), encoder.encode("others"));
    } finally {
      flooder.close();
    }
    assert.equal(await flood, "cut");
  });
});

Deno.test("server idle timeout also ends a client that never reads its echo", async () => {
  const ends = await closeReasons({ idleTimeoutMs: 200 }, async ({ addr }) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: addr.port });
    try {
      await assert.rejects(() => writeAll(conn, pattern(64 * 1024 * 1024)));
    } finally {
      conn.close();
    }
  });
  assert.ok(ends[0] instanceof IdleTimeoutError);
});
