/**
 * A first run on an empty Deno cache with no npm registry in reach: `serve`,
 * plain or `--tls` with its ephemeral certificate, starts without fetching
 * anything. (It once pulled 21 npm packages for the certificate code, even
 * for plain TCP: Deno follows a dynamic import whose specifier it can read.)
 * Needs `--allow-run` (`deno task test`).
 */
import assert from "node:assert/strict";
import { WAIT_MS, withTimeout } from "./test_util.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const canRun = (await Deno.permissions.query({ name: "run" })).state === "granted";

/** Starts `serve ARGS` on a fresh DENO_DIR; resolves with its first stdout line and its stderr. */
async function coldServe(args: string[]): Promise<{ first: string; stderr: string }> {
  const denoDir = await Deno.makeTempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-N", MAIN, "serve", "-H", "127.0.0.1", "-p", "0", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // Nothing listens on port 9 (discard): a download attempt fails at once and says so.
    env: { DENO_DIR: denoDir, NPM_CONFIG_REGISTRY: "http://127.0.0.1:9/", NO_COLOR: "1" },
  }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    const first = await withTimeout(firstLine(child.stdout), WAIT_MS, "the listening line");
    return { first, stderr: await stopped(child, stderr) };
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    await stderr;
    throw error;
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
}

/** The text up to the first newline (or the end), after which the stream is cancelled. */
async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    if (text.includes("\n")) break; // leaving the loop cancels the stream
  }
  return text.split("\n")[0];
}

/** Stops the server like Ctrl+C; resolves with what it wrote to stderr. */
async function stopped(child: Deno.ChildProcess, stderr: Promise<string>): Promise<string> {
  child.kill("SIGTERM");
  const { code } = await withTimeout(child.status, WAIT_MS, "serve to stop");
  assert.equal(code, 0);
  return await stderr;
}

Deno.test({
  name: "a first serve on an empty cache, npm unreachable, downloads nothing, plain or --tls",
  ignore: !canRun,
  async fn() {
    const plain = await coldServe([]);
    assert.match(plain.first, /^Listening on 127\.0\.0\.1:\d+$/);
    assert.doesNotMatch(plain.stderr, /Download|npm/);
    const tls = await coldServe(["--tls"]);
    assert.match(tls.first, /^Listening on 127\.0\.0\.1:\d+ \(TLS\)$/);
    assert.doesNotMatch(tls.stderr, /Download|npm/);
  },
});
