/**
 * `send` as a probe series in a real process: Ctrl+C (SIGINT) prints the
 * summary, and `--file -` streams stdin. Needs `--allow-run` (`deno task test`).
 */
import assert from "node:assert/strict";
import { EXIT } from "./main.ts";
import { withServer } from "./test_util.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;
const canRun = (await Deno.permissions.query({ name: "run" })).state === "granted";

function sockecho(args: string[], stdin: "piped" | "null" = "null") {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-N", MAIN, ...args],
    stdin,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

Deno.test({
  name: "send --count 0 in a process: Ctrl+C prints the summary and exits 0",
  ignore: !canRun,
  async fn() {
    await withServer({}, async ({ addr }) => {
      const child = sockecho(["send", "127.0.0.1", "-p", `${addr.port}`, "-c", "0", "-i", "0.05"]);
      const lines: string[] = [];
      let pending = "";
      for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
        const parts = (pending + text).split("\n");
        pending = parts.pop()!;
        lines.push(...parts);
        // Interrupt once two probes are in; the loop then reads to the end of output.
        if (lines.length === 2) child.kill("SIGINT");
      }
      const { code } = await child.status;
      await child.stderr.cancel();
      assert.equal(code, EXIT.ok);
      assert.match(lines[0], /^21 bytes from 127\.0\.0\.1:\d+: seq=1 time=[\d.]+ ms$/);
      const summary = lines.findIndex((line) => line.startsWith("--- "));
      assert.match(lines[summary + 1], /^(\d+) sent, \1 echoed, 0 failed \(interrupted\)$/);
    });
  },
});

Deno.test({
  name: "send --file - streams binary stdin and checks every byte of its echo",
  ignore: !canRun,
  async fn() {
    await withServer({}, async ({ addr }) => {
      const child = sockecho(["send", "127.0.0.1", "-p", `${addr.port}`, "--file", "-"], "piped");
      const input = crypto.getRandomValues(new Uint8Array(60_000));
      const writer = child.stdin.getWriter();
      for (let i = 0; i < 20; i++) await writer.write(input); // 1.2 MB, all 256 byte values
      await writer.close();
      const { code, stdout, stderr } = await child.output();
      const out = new TextDecoder().decode(stdout);
      assert.equal(code, EXIT.ok, new TextDecoder().decode(stderr));
      assert.match(out, /^1200000 bytes from 127\.0\.0\.1:\d+: seq=1 time=[\d.]+ ms\n/);
      assert.match(out, /\n1 sent, 1 echoed, 0 failed\n/);
    });
  },
});
