/**
 * `sockecho check`: its table, `--json` and exit codes, in-process through
 * `main` over TCP and TLS; and as a real process over a Unix socket, with and
 * without the permissions it needs. (The checks themselves are tested in
 * diag/check_test.ts.)
 */
import assert from "node:assert/strict";
import { EXIT } from "../../main.ts";
import { runMain, testCertificate, withTlsServer, withUnixServer, WRONG_PIN } from "../testing.ts";
import { canRun, sockecho, sockechoWith } from "../testing_process.ts";

const pair = await testCertificate();

/** Runs `sockecho ARGS` in-process. */
const run = (args: string[]) => runMain(args);

Deno.test("main: check --tls --pin prints the handshake row; --json has it; a wrong pin exits 11", async () => {
  await withTlsServer({}, async (port) => {
    const args = ["check", "127.0.0.1", "-p", `${port}`, "--tls"];
    const text = await run([...args, "--pin", pair.fingerprint]);
    assert.equal(text.code, EXIT.ok, text.err.join("\n"));
    assert.match(text.out[2], /^ {2}tls handshake {2}pass +[\d.]+ ms {2}TLSv1\.[23], /);
    const json = await run([...args, "--pin", pair.fingerprint, "--json"]);
    const checks = JSON.parse(json.out[0]).checks;
    assert.equal(checks[1].name, "tls handshake");
    assert.equal(typeof checks[1].ms, "number");
    const wrong = await run([...args, "--pin", WRONG_PIN]);
    assert.equal(wrong.code, EXIT.tlsVerify);
    assert.match(wrong.err[0], /does not match --pin/);
  });
});

// The real program as a process: `deno run -N main.ts check`.

Deno.test({
  name: "check --unix in a process: passes with -R/-W for the socket, exits 13 naming them without",
  ignore: !canRun,
  async fn() {
    await withUnixServer({}, async (path) => {
      const allowed = await sockechoWith([`-R=${path}`, `-W=${path}`], "check", "--unix", path);
      assert.equal(allowed.code, EXIT.ok, allowed.stderr);
      assert.match(allowed.stdout, /\nverdict: the echo path is whole\n$/);
      const denied = await sockecho("check", "--unix", path);
      assert.equal(denied.code, EXIT.missingPermission);
      assert.equal(
        denied.stderr,
        `sockecho: cannot connect to ${path}: Deno needs read and write permission for it: ` +
          `add -R=${path} -W=${path}\n`,
      );
    });
  },
});
