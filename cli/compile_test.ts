/**
 * The installed and compiled forms of the program behave like `deno run -N
 * main.ts`. `deno compile` downloads its runtime base unless `DENORT_BIN`
 * names one; without it that test is ignored (reported, never passed).
 */
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { outputOf, WAIT_MS, withServer, withTempDir } from "./test_util.ts";
import { canRun, canWrite, MAIN } from "./test_util_process.ts";

const canBuild = canRun && canWrite;
const mayReadDenortBin =
  (await Deno.permissions.query({ name: "env", variable: "DENORT_BIN" })).state === "granted";
const denortBin = mayReadDenortBin ? Deno.env.get("DENORT_BIN") : undefined;

/** Runs `command send 127.0.0.1 -p PORT` against a fresh server and returns its output. */
async function sendWith(command: string, env?: Record<string, string>) {
  let result: Deno.CommandOutput | undefined;
  await withServer({}, async ({ addr }) => {
    result = await outputOf(command, {
      args: ["send", "127.0.0.1", "-p", String(addr.port)],
      env,
    });
  });
  return {
    code: result!.code,
    stdout: new TextDecoder().decode(result!.stdout),
    stderr: new TextDecoder().decode(result!.stderr),
  };
}

const EXPECTED = { code: 0, stdout: "server message: 你好啊服务器!\n", stderr: "" };

Deno.test({
  name: "a `deno install` launcher runs send like deno run -N main.ts",
  ignore: !canBuild,
  async fn() {
    await withTempDir(async (root) => {
      const installed = await outputOf(Deno.execPath(), {
        args: ["install", "-g", "-N", "-f", "--root", root, "-n", "sockecho", MAIN],
      });
      assert.ok(installed.success, new TextDecoder().decode(installed.stderr));
      // The launcher runs `deno` from PATH.
      const PATH = `${dirname(Deno.execPath())}:/usr/bin:/bin`;
      assert.deepEqual(await sendWith(`${root}/bin/sockecho`, { PATH }), EXPECTED);
    });
  },
});

Deno.test({
  name: "a `deno compile` binary runs send like deno run -N main.ts (needs DENORT_BIN here)",
  ignore: !canBuild || denortBin === undefined,
  async fn() {
    await withTempDir(async (dir) => {
      const binary = `${dir}/sockecho`;
      // Compiling writes a binary of about 100 MB: a slower bound than a send.
      const compiled = await outputOf(Deno.execPath(), {
        args: ["compile", "-N", "--output", binary, MAIN],
      }, 4 * WAIT_MS);
      assert.ok(compiled.success, new TextDecoder().decode(compiled.stderr));
      assert.deepEqual(await sendWith(binary), EXPECTED);
    });
  },
});
