/**
 * Where the command line writes (cli/io.ts): on a terminal, status lines are
 * plain and errors have a red "sockecho:"; in a pipe, Deno drops the styling.
 */
import assert from "node:assert/strict";
import { withServer } from "./test_util.ts";
import { freePort, hasCommand, needs, skipped, sockechoOnTerminal } from "./test_util_process.ts";

const haveScript = await hasCommand("script");

const ESC = "\x1b";

Deno.test({
  name: "cli: on a terminal status lines are plain and errors keep their red prefix" +
    skipped(needs(haveScript, "script")),
  ignore: !haveScript,
  async fn() {
    await withServer({}, async ({ addr }) => {
      const report = await sockechoOnTerminal("send", `127.0.0.1:${addr.port}`, "-v");
      assert.match(report, /\r\nsockecho: 21 bytes echoed by 127\.0\.0\.1:\d+ in [\d.]+ ms\r\n/);
      assert.ok(!report.includes(ESC), JSON.stringify(report));
    });
    const error = await sockechoOnTerminal("send", "127.0.0.1", "-p", String(freePort()));
    // Red and bold on, "sockecho:", then off again before the message.
    assert.match(
      error,
      new RegExp(`^(${ESC}\\[[\\d;]*m)+sockecho:(${ESC}\\[[\\d;]*m)+ cannot connect`),
    );
  },
});
