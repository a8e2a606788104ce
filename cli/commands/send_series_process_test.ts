/**
 * `send` as a probe series in a real process: Ctrl+C (SIGINT) prints the
 * summary, and `--file -` streams stdin; `check` and the series over TLS and
 * a Unix socket, with the permissions a user would give. Needs `--allow-run`
 * (`deno task test`).
 */
import assert from "node:assert/strict";
import { EXIT } from "../../main.ts";
import { serve } from "../../server.ts";
import { withServer } from "../testing.ts";
import { selfSignedCertificate } from "../../net/tls/cert.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const canRun = (await Deno.permissions.query({ name: "run" })).state === "granted";

function sockecho(args: string[], stdin: "piped" | "null" = "null", flags: string[] = []) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-N", ...flags, MAIN, ...args],
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

/** Runs `sockecho ARGS` (with Deno `flags`) to its end; the text it printed. */
async function outputs(args: string[], flags: string[] = []) {
  const { code, stdout, stderr } = await sockecho(args, "null", flags).output();
  const decoder = new TextDecoder();
  return { code, out: decoder.decode(stdout), err: decoder.decode(stderr) };
}

Deno.test({
  name:
    "check --tls and send --tls --count in a process: the handshake apart; a wrong pin exits 11",
  ignore: !canRun,
  async fn() {
    const pair = await selfSignedCertificate(["127.0.0.1"]);
    await withServer({ tls: pair }, async ({ addr }) => {
      const to = ["127.0.0.1", "-p", `${addr.port}`, "--tls"];
      const checked = await outputs(["check", ...to, "--pin", pair.fingerprint]);
      assert.equal(checked.code, EXIT.ok, checked.err);
      assert.match(checked.out, /\n {2}tls handshake {2}pass +[\d.]+ ms {2}TLSv1\.[23], /);
      const series = await outputs([
        "send",
        ...to,
        "--pin",
        pair.fingerprint,
        "-c",
        "2",
        "-i",
        "0",
      ]);
      assert.equal(series.code, EXIT.ok, series.err);
      assert.match(series.out, /\n2 sent, 2 echoed, 0 failed\n/);
      const wrong = await outputs(["check", ...to, "--pin", "00".repeat(32)]);
      assert.equal(wrong.code, EXIT.tlsVerify);
      assert.match(wrong.err, /^sockecho: the certificate of .* does not match --pin/);
    });
  },
});

Deno.test({
  name: "check --unix in a process: passes with -R/-W for the socket, exits 13 naming them without",
  ignore: !canRun,
  async fn() {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/echo.sock`;
    const server = await serve({ path });
    try {
      const allowed = await outputs(["check", "--unix", path], [`-R=${path}`, `-W=${path}`]);
      assert.equal(allowed.code, EXIT.ok, allowed.err);
      assert.match(allowed.out, /\nverdict: the echo path is whole\n$/);
      const denied = await outputs(["check", "--unix", path]);
      assert.equal(denied.code, EXIT.missingPermission);
      assert.equal(
        denied.err,
        `sockecho: cannot connect to ${path}: Deno needs read and write permission for it: ` +
          `add -R=${path} -W=${path}\n`,
      );
    } finally {
      await server.shutdown({ graceMs: 0 });
      await Deno.remove(dir, { recursive: true });
    }
  },
});
