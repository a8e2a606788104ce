/**
 * A bounded stress test: hundreds of concurrent clients mixing normal,
 * idle, resetting and never-reading behaviour against a `sockecho serve`
 * process. Every normal client must get its exact echo, and the server's
 * RSS must stay under {@linkcode RSS_BOUND_BYTES}. Needs `--allow-run`
 * (for the server process and `ps`); ignored under plain `deno test -N`.
 */
import assert from "node:assert/strict";
import { closeQuietly, writeAll } from "../../net/io.ts";
import { outputOf, pattern, readExactly, readToEnd } from "../test_util.ts";
import { canRun, spawnServe } from "../test_util_process.ts";

/** Deno's own RSS is about 60 MiB; 300 never-reading, resetting or idle clients may add little. */
const RSS_BOUND_BYTES = 160 * 1024 * 1024;
/** The whole test gives up (and fails) after this long instead of hanging. */
const LIMIT_MS = 60_000;

/** The resident set size of process `pid` in bytes; throws when `ps` gives no number. */
async function rssOf(pid: number): Promise<number> {
  const { stdout } = await outputOf("ps", { args: ["-o", "rss=", "-p", String(pid)] });
  const text = new TextDecoder().decode(stdout).trim();
  // An empty answer (no such process, no ps) must not read as 0 KiB and pass the bound.
  if (!/^\d+$/.test(text) || Number(text) === 0) {
    throw new Error(`no RSS measurement for pid ${pid}: ps printed ${JSON.stringify(text)}`);
  }
  return Number(text) * 1024;
}

Deno.test({
  name: "stress: 200 normal clients get exact echoes beside idle, resetting and non-reading ones",
  ignore: !canRun,
  async fn() {
    const server = await spawnServe("-q");
    const port = Number(server.port);
    const connect = () => Deno.connect({ hostname: "127.0.0.1", port });
    const others: Deno.Conn[] = [];
    const pending: Promise<unknown>[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // 100 idle clients hold a connection and send nothing.
      others.push(...await Promise.all(Array.from({ length: 100 }, connect)));
      // 50 clients flood 8 MiB and never read a byte.
      for (let i = 0; i < 50; i++) {
        const conn = await connect();
        others.push(conn);
        pending.push(writeAll(conn, pattern(8 * 1024 * 1024, i)).catch(() => {}));
      }
      // 50 clients send 256 KiB, read one byte and close with echo unread: a reset.
      pending.push(...Array.from({ length: 50 }, async (_, i) => {
        const conn = await connect();
        try {
          await writeAll(conn, pattern(256 * 1024, i));
          await readExactly(conn, 1);
        } finally {
          conn.close();
        }
      }));
      // 200 normal clients send 64 KiB in four writes and check every byte of the echo.
      const normal = Array.from({ length: 200 }, async (_, i) => {
        const message = pattern(64 * 1024, 1000 + i);
        const conn = await connect();
        try {
          const reading = readToEnd(conn);
          for (let at = 0; at < message.length; at += 16 * 1024) {
            await writeAll(conn, message.subarray(at, at + 16 * 1024));
          }
          await conn.closeWrite();
          assert.deepEqual(await reading, message, `client ${i}`);
        } finally {
          conn.close();
        }
      });
      const overtime = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not done in ${LIMIT_MS} ms`)), LIMIT_MS);
      });
      await Promise.race([Promise.all(normal), overtime]);
      const rss = await rssOf(server.child.pid);
      assert.ok(rss < RSS_BOUND_BYTES, `server RSS ${(rss / 2 ** 20).toFixed(1)} MiB`);
      console.log(
        `server RSS with 150 idle and non-reading clients open: ${(rss / 2 ** 20).toFixed(1)} MiB`,
      );
    } finally {
      clearTimeout(timer);
      others.forEach(closeQuietly);
      await Promise.all(pending);
      server.child.kill("SIGTERM");
      assert.equal(await server.finish(), 0);
    }
  },
});
