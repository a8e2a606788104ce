/**
 * Unix domain sockets at the library level: the echo, a stale socket file
 * replaced, a live one refused, the file removed at shutdown.
 */
import assert from "node:assert/strict";
import { bench } from "../bench/bench.ts";
import { send } from "../diag/send.ts";
import { AddressInUseError, ClosedEarlyError } from "./errors.ts";
import { serve } from "../server.ts";

/** Runs `body` with the path of a socket in a fresh temporary directory. */
async function withSocketPath(body: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await body(`${dir}/echo.sock`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

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

Deno.test("unix: bench loads a Unix socket server, verifying every byte", async () => {
  await withSocketPath(async (path) => {
    const server = await serve({ path });
    try {
      const report = await bench({ hostname: "", path, count: 40, connections: 2, workers: 2 });
      assert.equal(report.target, path);
      assert.equal(report.operations, 40);
      assert.equal(report.bytes, 40 * 64);
    } finally {
      await server.shutdown({ graceMs: 0 });
    }
  });
});

Deno.test("unix: bench reports a server that resets as ClosedEarlyError naming the socket", async () => {
  await withSocketPath(async (path) => {
    const listener = Deno.listen({ transport: "unix", path });
    // Closing with bytes still unread resets the client's side of a Unix stream socket.
    const resetting = (async () => {
      const conn = await listener.accept();
      await conn.read(new Uint8Array(1));
      conn.close();
    })();
    try {
      await assert.rejects(
        () => bench({ hostname: "", path, count: 5, durationMs: 5000 }),
        (error) =>
          error instanceof ClosedEarlyError &&
          error.message === `${path} failed (connection reset by peer) after echoing 0 of 64 bytes`,
      );
    } finally {
      listener.close();
      await resetting;
    }
  });
});

Deno.test("unix: bench --rate paces a Unix socket load", async () => {
  await withSocketPath(async (path) => {
    const server = await serve({ path });
    try {
      const report = await bench({
        hostname: "",
        path,
        connections: 2,
        durationMs: 500,
        rate: 100,
      });
      // 100/s for 0.5 s is 50 slots; as fast as possible would be thousands.
      assert.ok(report.operations > 0 && report.operations <= 50, `${report.operations} sent`);
      assert.equal(report.latencyMs?.count, report.operations);
    } finally {
      await server.shutdown({ graceMs: 0 });
    }
  });
});
