import assert from "node:assert/strict";
import { EXIT, VERSION } from "../main.ts";
import { runMain, withServer } from "./test_util.ts";
import { canRead, canRun, sockecho } from "./test_util_process.ts";

const run = (args: string[]) => runMain(args);

Deno.test("main prints help and the version with exit code 0", async () => {
  const printed = async (...args: string[]) => {
    const { code, out, err } = await run(args);
    assert.deepEqual({ code, lines: out.length, err }, { code: 0, lines: 1, err: [] }, `${args}`);
    return out[0];
  };
  assert.deepEqual(await run(["-V"]), { code: 0, out: ["sockecho 0.1.0"], err: [] });
  assert.deepEqual(await run(["--version"]), { code: 0, out: [`sockecho ${VERSION}`], err: [] });
  const mainHelp = await printed();
  assert.ok(
    mainHelp.startsWith(
      "sockecho 0.1.0: an echo server, client, path checker and load tester for TCP, TLS, UDP, Unix, HTTP and WebSocket\n\nUsage:\n",
    ),
  );
  for (const command of ["serve", "send", "bench"]) {
    assert.match(mainHelp, new RegExp(`^  sockecho ${command} `, "m"));
  }
  assert.equal(await printed("--help"), mainHelp);
  const serveHelp = await printed("help", "serve");
  assert.ok(serveHelp.startsWith("Usage: sockecho serve [PORT] [options]\n"), serveHelp);
  for (const flag of ["--host", "--port", "--grace", "--max-connections", "--idle-timeout"]) {
    assert.ok(serveHelp.includes(flag), flag);
  }
  assert.equal(await printed("serve", "--help"), serveHelp);
  const sendHelp = await printed("send", "--help");
  assert.ok(sendHelp.startsWith("Usage: sockecho send HOST [MESSAGE] [options]\n"), sendHelp);
  assert.equal(await printed("help", "send"), sendHelp);
  const benchHelp = await printed("help", "bench");
  assert.ok(benchHelp.startsWith("Usage: sockecho bench HOST [options]\n"), benchHelp);
  assert.equal(await printed("bench", "-h"), benchHelp);
});

Deno.test({
  name: "main's version is the package's version in deno.json",
  ignore: !canRead,
  async fn() {
    const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
    assert.equal(VERSION, config.version);
  },
});

Deno.test("main treats everything after -- as arguments, even --help", async () => {
  await withServer({}, async ({ addr }) => {
    const port = String(addr.port);
    assert.deepEqual(await run(["send", "127.0.0.1", "-p", port, "--", "--help"]), {
      code: EXIT.ok,
      out: ["server message: --help"],
      err: [],
    });
    const counted = await run(["bench", "-p", port, "-n", "3", "--json", "--", "127.0.0.1"]);
    assert.equal(counted.code, EXIT.ok);
    assert.equal(JSON.parse(counted.out.join("\n")).operations, 3);
    assert.deepEqual(await run(["bench", "127.0.0.1", "-p", port, "--", "--help"]), {
      code: EXIT.usage,
      out: [],
      err: ['bench takes one HOST, not also "--help" (try: sockecho bench --help)'],
    });
  });
});

Deno.test("main rejects bad arguments with one line and exit code 2", async () => {
  const cases: [string[], string][] = [
    [["frobnicate"], 'unknown command "frobnicate" (try: sockecho --help)'],
    [["help", "nosuch"], 'unknown command "nosuch" (try: sockecho --help)'],
    [["serve", "--bogus"], 'unknown option "--bogus"'],
    [["serve", "-p", "65536"], 'invalid port "65536": expected a whole number from 0 to 65535'],
    [["serve", "extra"], 'serve takes one PORT, not "extra"; listen with -H HOST -p PORT'],
    [["serve", "4450", "-p", "4451"], 'two ports given: 4450 in "4450" and 4451 with -p; keep one'],
    [["serve", "--grace", "soon"], 'invalid --grace "soon": expected a number of at least 0'],
    [
      ["serve", "-m", "many"],
      'invalid --max-connections "many": expected a whole number of at least 0',
    ],
    [
      ["serve", "-m", "1.5"],
      'invalid --max-connections "1.5": expected a whole number of at least 0',
    ],
    [["serve", "--log-rate", "0"], 'invalid --log-rate "0": expected a whole number of at least 1'],
    [["serve", "-i", ""], 'invalid --idle-timeout "": expected a number of at least 0'],
    [["serve", "--quiet=yes"], 'option "--quiet=yes" takes no value'],
    [["serve", "-g"], 'option "-g" expects a value'],
    [["send"], "send needs a HOST"],
    [
      ["send", "h", "m", "x"],
      'send takes HOST and one MESSAGE, not also "x": quote a message with spaces',
    ],
    [["send", "h", "-p", "0"], 'invalid port "0": expected a whole number from 1 to 65535'],
    [["send", "h:0"], 'invalid port "0": expected a whole number from 1 to 65535'],
    [["send", "h", "--timeout=-1"], 'invalid --timeout "-1": expected a number of at least 0.001'],
    [
      ["send", "h", "-port", "4400"],
      'unknown option "-port": long options take two dashes, --port',
    ],
    [
      ["send", "h:4400", "-p", "4321"],
      'two ports given: 4400 in "h:4400" and 4321 with -p; keep one',
    ],
    [["send", "[::1"], 'invalid address "[::1": expected HOST, HOST:PORT, [IPv6] or [IPv6]:PORT'],
    [["send", "[]:80"], 'invalid address "[]:80": expected HOST, HOST:PORT, [IPv6] or [IPv6]:PORT'],
    [["send", "h", "-t", "-1"], 'invalid --timeout "-1": expected a number of at least 0.001'],
    [["serve", "-p", "-5"], 'invalid port "-5": expected a whole number from 0 to 65535'],
    [["send", "h", "--udp", "x".repeat(65_508)], "a UDP message is at most 65,507 bytes"],
    [["check"], "check needs a HOST"],
    [["check", "h", "x"], 'check takes one HOST, not also "x"'],
    [
      ["check", "h:4400", "-p", "4321"],
      'two ports given: 4400 in "h:4400" and 4321 with -p; keep one',
    ],
    [
      ["send", "h:4400", "--udp", "-p", "4321"],
      'two ports given: 4400 in "h:4400" and 4321 with -p; keep one',
    ],
    [["bench", "h", "-d", "61"], "--duration over 60 s needs --force"],
    [["bench", "h", "-c", "10001"], "more than 10000 connections needs --force"],
    [["bench", "h", "-m", "flood"], 'invalid --mode "flood": expected pingpong, bulk, connect'],
    [["bench", "h", "-c", "0"], 'invalid --connections "0": expected a whole number of at least 1'],
    [["bench", "h", "x"], 'bench takes one HOST, not also "x"'],
    [["bench"], "bench needs a HOST"],
    [["bench", "[::1]:99999"], 'invalid port "99999": expected a whole number from 1 to 65535'],
    [["serve", "--cert", "c.pem"], "--cert needs --tls"],
    [["serve", "--udp", "--tls"], "--udp cannot be combined with --tls or --unix"],
    [["send", "h", "--udp", "--unix", "/tmp/s"], "--udp cannot be combined with --tls or --unix"],
    [["bench", "h", "--udp", "--tls"], "--udp cannot be combined with --tls or --unix"],
    [
      ["serve", "--unix", "/tmp/s", "--deny", "10.0.0.0/8"],
      "--allow and --deny name IP networks: a Unix socket's clients have none",
    ],
    [
      ["serve", "--tls", "--proxy-protocol"],
      "--proxy-protocol works over plain TCP only, not with --tls or --unix",
    ],
    [
      ["send", "--unix", "/tmp/s", "--proxy-protocol", "v1"],
      "--proxy-protocol works over plain TCP only, not with --tls or --unix",
    ],
    [
      ["send", "h", "--count", "2", "--proxy-protocol", "v1"],
      "--proxy-protocol is for one send: leave out the probe series options",
    ],
    [
      ["send", "h", "--tls", "--unix", "/tmp/s", "--count", "2"],
      "--tls and --unix cannot be combined",
    ],
    [["check", "h", "--insecure"], "--insecure needs --tls"],
    [["check", "--tls", "--unix", "/tmp/s"], "--tls and --unix cannot be combined"],
    [["check", "--unix", "/tmp/s", "h"], 'check --unix PATH takes no HOST, not "h"'],
    [["serve", "--tls", "--cert", "c.pem"], "--cert and --key go together"],
    [["serve", "--tls", "--unix", "/tmp/s"], "--tls and --unix cannot be combined"],
    [
      ["serve", "--tls", "--handshake-timeout", "0"],
      'invalid --handshake-timeout "0": expected a number of at least 0.001',
    ],
    [["send", "h", "--pin", "AB"], "--pin needs --tls"],
    [
      ["send", "h", "--tls", "--pin", "AB:CD"],
      'invalid --pin "AB:CD": expected a SHA-256 fingerprint, 64 hex digits (colons optional)',
    ],
    [
      ["send", "h", "--tls", "--pin", "ab".repeat(32), "--insecure"],
      "--pin and --insecure cannot be combined",
    ],
    [["bench", "h", "--insecure"], "--insecure needs --tls"],
  ];
  for (const [args, message] of cases) {
    const { code, out, err } = await run(args);
    // Every usage error of a command points to that command's help.
    const hint = message.startsWith("unknown command") ? "" : ` (try: sockecho ${args[0]} --help)`;
    assert.deepEqual(
      { code, out, err },
      { code: EXIT.usage, out: [], err: [message + hint] },
      args.join(" "),
    );
  }
});

Deno.test("main: an option's value that starts with a dash is a usage error saying how to pass it", async () => {
  const { code, err } = await run(["serve", "-g", "-q"]);
  assert.deepEqual({ code, err }, {
    code: EXIT.usage,
    err: [
      'option "-g" expects a value, not "-q"; to pass it anyway, write --grace=-q ' +
      "(try: sockecho serve --help)",
    ],
  });
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
