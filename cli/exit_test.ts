/**
 * The exit codes (cli/exit.ts): their documented numbers in --help, in each
 * command's --help and in the README, and the guards that turn a missing
 * permission or a bug into one line and its code, in-process and as a real
 * process.
 */
import assert from "node:assert/strict";
import { EXIT, main } from "../main.ts";
import { runMain } from "./test_util.ts";
import { canRead, canRun, freePort, runDeno, spawnSockecho } from "./test_util_process.ts";

const run = (args: string[]) => runMain(args);

/** The exit codes as documented: scripts depend on these numbers. */
const DOCUMENTED_EXITS: Record<number, keyof typeof EXIT> = {
  0: "ok",
  1: "internal",
  2: "usage",
  3: "resolve",
  4: "connect",
  5: "timeout",
  6: "closedEarly",
  7: "mismatch",
  8: "addressInUse",
  9: "bindPermission",
  10: "addressUnavailable",
  11: "tlsVerify",
  12: "notTls",
  13: "missingPermission",
  14: "threshold",
  15: "echoCorrupted",
  16: "echoIncomplete",
  17: "halfClose",
  18: "oneClientAtATime",
  19: "idleCut",
  20: "badReport",
  21: "httpStatus",
  22: "notHttp",
  23: "webSocket",
  130: "interrupted",
};

Deno.test("main's exit codes keep their documented numbers, in --help too", async () => {
  assert.deepEqual(
    Object.fromEntries(Object.entries(EXIT).map(([name, code]) => [code, name])),
    DOCUMENTED_EXITS,
  );
  const { out } = await run(["--help"]);
  const listed = out[0].split(/^Exit codes.*:\n/m)[1].split("\n").map((line) =>
    Number(line.trim().split(" ")[0])
  );
  assert.deepEqual(listed, Object.keys(DOCUMENTED_EXITS).map(Number));
});

Deno.test({
  name: "main's exit codes are the README's exit code table",
  ignore: !canRead,
  async fn() {
    const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
    const table = readme.split("### Exit codes\n")[1].trim().split("\n\n")[0];
    const rows = table.split("\n").slice(2).map((row) => row.split("|").map((cell) => cell.trim()));
    assert.deepEqual(
      rows.map(([, code]) => Number(code)),
      Object.keys(DOCUMENTED_EXITS).map(Number),
    );
    // A meaning names its failure: spot-check that rows did not swap places.
    const meaning = Object.fromEntries(rows.map(([, code, text]) => [Number(code), text]));
    assert.match(meaning[EXIT.resolve], /does not resolve/);
    assert.match(meaning[EXIT.connect], /refused/);
    assert.match(meaning[EXIT.timeout], /timed out/);
    assert.match(meaning[EXIT.closedEarly], /closed or reset/);
    assert.match(meaning[EXIT.mismatch], /differs/);
    assert.match(meaning[EXIT.addressInUse], /already in use/);
    assert.match(meaning[EXIT.bindPermission], /not permitted/);
    assert.match(meaning[EXIT.addressUnavailable], /not this machine's/);
    assert.match(meaning[EXIT.tlsVerify], /certificate was not accepted/);
    assert.match(meaning[EXIT.notTls], /does not speak TLS/);
    assert.match(meaning[EXIT.missingPermission], /permission flag is missing/);
    assert.match(meaning[EXIT.threshold], /bench: .*--expect. threshold/);
    assert.match(meaning[EXIT.echoCorrupted], /check: the echo differs/);
    assert.match(meaning[EXIT.echoIncomplete], /stopped short/);
    assert.match(meaning[EXIT.halfClose], /half-close/);
    assert.match(meaning[EXIT.oneClientAtATime], /second client/);
    assert.match(meaning[EXIT.idleCut], /idle connections are cut/);
    assert.match(meaning[EXIT.badReport], /merge: .*cannot be merged/);
    assert.match(meaning[EXIT.httpStatus], /send --http.*: .*answered 300 or above/);
    assert.match(meaning[EXIT.notHttp], /send --http.*: .*not HTTP/);
    assert.match(meaning[EXIT.webSocket], /send --ws: .*WebSocket upgrade was refused/);
    assert.match(meaning[EXIT.interrupted], /second Ctrl\+C/);
  },
});

Deno.test("main: each command's help lists only the exit codes it can end with", async () => {
  const codesOf = async (command: string) => {
    const { out } = await run([command, "--help"]);
    const block = out.join("\n").split("Exit codes:\n")[1];
    return [...block.matchAll(/^ {2}(\d+) /gm)].map(([, code]) => Number(code));
  };
  assert.deepEqual(await codesOf("send"), [0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 21, 22, 23, 130]);
  assert.deepEqual(await codesOf("serve"), [0, 1, 2, 3, 8, 9, 10, 13, 130]);
  assert.deepEqual(await codesOf("bench"), [0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14, 130]);
  assert.deepEqual(await codesOf("check"), [0, 1, 2, 3, 4, 5, 11, 12, 13, 15, 16, 17, 18, 19, 130]);
});

Deno.test("main reports an unexpected error as one internal-error line and exit code 1", async () => {
  const err: string[] = [];
  const code = await main(["-V"], {
    out() {
      throw new TypeError("planted bug");
    },
    err: (line) => err.push(line),
  });
  assert.deepEqual({ code, err }, { code: 1, err: ["internal error: TypeError: planted bug"] });
});

Deno.test({
  name: "cli: a bug surfacing as an unhandled rejection or an uncaught throw is one line, exit 1",
  ignore: !canRun,
  async fn() {
    const preload = new URL("./testdata/crash_on_signal.ts", import.meta.url).pathname;
    const cases: [Deno.Signal, string][] = [
      ["SIGUSR1", "sockecho: internal error: TypeError: planted rejection"],
      ["SIGUSR2", "sockecho: internal error: RangeError: planted throw"],
    ];
    for (const [signal, line] of cases) {
      const server = spawnSockecho(["serve", "-H", "127.0.0.1", "-p", "0"], {
        denoFlags: ["--preload", preload],
      });
      // Listening means main.ts has run its top level, handlers included.
      await server.out.match(/^Listening on /);
      server.child.kill(signal);
      assert.equal(await server.finish(), 1, signal);
      assert.deepEqual(server.err.lines, [line], signal);
    }
  },
});

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
