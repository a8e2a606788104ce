/**
 * The real program in real processes: `deno run -N main.ts` spawned with
 * pipes, signals sent to it, and interoperation with nc, socat and the seed's
 * C client. These need `--allow-run` (and read/write for temporary builds):
 * `deno task test` grants them; under plain `deno test -N` they are ignored.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../main.ts";
import { withServer } from "../testing.ts";

import {
  canRun,
  freePort,
  hasCommand,
  MAIN,
  needs,
  runDeno,
  skipped,
  sockecho,
  sockechoOnTerminal,
  spawn,
} from "../testing_process.ts";

const ESC = "\x1b";

Deno.test({
  name: "cli: without -N every command exits 13 with one line naming the flag",
  ignore: !canRun,
  async fn() {
    const port = String(freePort());
    const cases: [string[], string][] = [
      [["send", "127.0.0.1", "-p", port], `"127.0.0.1:${port}"`],
      [["send", "localhost", "-p", port], ""],
      [["serve", "-H", "127.0.0.1", "-p", port], `"127.0.0.1:${port}"`],
      [["bench", "127.0.0.1", "-p", port, "-d", "1"], `"127.0.0.1:${port}"`],
      [["bench", "127.0.0.1", "-p", port, "-d", "1", "-c", "2", "-w", "2"], `"127.0.0.1:${port}"`],
    ];
    for (const [args, what] of cases) {
      assert.deepEqual(await runDeno(["--no-prompt"], args), {
        code: EXIT.missingPermission,
        stdout: "",
        stderr: `sockecho: no net permission${what && ` for ${what}`}: run with -N (--allow-net)\n`,
      }, args.join(" "));
    }
  },
});

Deno.test({
  name: "cli: a bug surfacing as an unhandled rejection or an uncaught throw is one line, exit 1",
  ignore: !canRun,
  async fn() {
    const preload = new URL("../testdata/crash_on_signal.ts", import.meta.url).pathname;
    const cases: [Deno.Signal, string][] = [
      ["SIGUSR1", "sockecho: internal error: TypeError: planted rejection"],
      ["SIGUSR2", "sockecho: internal error: RangeError: planted throw"],
    ];
    for (const [signal, line] of cases) {
      const server = spawn(Deno.execPath(), [
        ...["run", "-N", "--preload", preload, MAIN],
        ...["serve", "-H", "127.0.0.1", "-p", "0"],
      ]);
      // Listening means main.ts has run its top level, handlers included.
      await server.out.match(/^Listening on /);
      server.child.kill(signal);
      assert.equal(await server.finish(), 1, signal);
      assert.deepEqual(server.err.lines, [line], signal);
    }
  },
});

Deno.test({
  name: "cli: bad --allow, --udp-rate without --udp, --retries without --udp exit 2 in one line",
  ignore: !canRun,
  async fn() {
    assert.deepEqual(await sockecho("serve", "--allow", "10.0.0.0/33"), {
      code: EXIT.usage,
      stdout: "",
      stderr: 'sockecho: invalid network "10.0.0.0/33": expected an address or a CIDR like ' +
        "10.0.0.0/8 or fd00::/8 (try: sockecho serve --help)\n",
    });
    assert.deepEqual(await sockecho("serve", "--deny", "10.0.0.1,bogus"), {
      code: EXIT.usage,
      stdout: "",
      stderr: 'sockecho: invalid network "bogus": expected an address or a CIDR like 10.0.0.0/8 ' +
        "or fd00::/8 (try: sockecho serve --help)\n",
    });
    assert.deepEqual(await sockecho("serve", "--udp-rate", "5"), {
      code: EXIT.usage,
      stdout: "",
      stderr: "sockecho: --udp-rate needs --udp (try: sockecho serve --help)\n",
    });
    assert.deepEqual(await sockecho("send", "127.0.0.1", "--retries", "1"), {
      code: EXIT.usage,
      stdout: "",
      stderr: "sockecho: --retries needs --udp (try: sockecho send --help)\n",
    });
    assert.deepEqual(await sockecho("send", "127.0.0.1", "--udp", "-c", "3"), {
      code: EXIT.usage,
      stdout: "",
      stderr: "sockecho: --udp sends one datagram: leave out the probe series options " +
        "(try: sockecho send --help)\n",
    });
    assert.deepEqual(await sockecho("bench", "127.0.0.1", "--udp", "-m", "bulk"), {
      code: EXIT.usage,
      stdout: "",
      stderr: "sockecho: --udp runs pingpong only, not --mode bulk (try: sockecho bench --help)\n",
    });
  },
});

const haveScript = await hasCommand("script");

// --- TLS and Unix domain sockets as real processes, and interop with openssl, socat and nc ---

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
