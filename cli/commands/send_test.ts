/**
 * `send` and its standard input: MESSAGE "-" is stdin, and without MESSAGE a
 * pipe or a redirected file is sent (then a half-close); a terminal,
 * /dev/null, no stdin at all or an empty one keeps the greeting. Real processes, since what
 * counts is what descriptor 0 is; needs `--allow-run` (`deno task test`).
 */
import assert from "node:assert/strict";
import { EXIT, main } from "../../main.ts";
import { writeAll } from "../../net/io.ts";
import { readToEnd, recorder, WAIT_MS, withFakeServer, withServer } from "../testing.ts";
import { withUdpServer } from "../testing_udp.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const canRun = (await Deno.permissions.query({ name: "run" })).state === "granted";
const haveScript = canRun &&
  (await new Deno.Command("sh", { args: ["-c", "command -v script"], stdout: "null" }).output())
    .success;

const GREETING = "server message: 你好啊服务器!\n";

/** How the child's standard input is made. */
type Stdin =
  | { pipe: Uint8Array }
  | { file: string }
  | "/dev/null"
  | "closed"
  | "terminal";

/**
 * Runs `sockecho ARGS` with standard input as `stdin` says, to its end
 * (killed and failed after WAIT_MS); resolves with its exit code and output.
 */
async function sockecho(args: string[], stdin: Stdin) {
  const run = [Deno.execPath(), "run", "-N", MAIN, ...args];
  const quoted = run.map((word) => `'${word}'`).join(" ");
  // sh puts the file or nothing on descriptor 0; script runs the command on a pseudo-terminal.
  const [command, ...rest] = typeof stdin === "object" && "file" in stdin
    ? ["sh", "-c", `exec ${quoted} < '${stdin.file}'`]
    : stdin === "closed"
    ? ["sh", "-c", `exec ${quoted} <&-`]
    : stdin === "terminal"
    ? ["script", "-qec", quoted, "/dev/null"]
    : run;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), WAIT_MS);
  try {
    const child = new Deno.Command(command, {
      args: rest,
      stdin: typeof stdin === "object" && "pipe" in stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
      signal: abort.signal,
    }).spawn();
    if (typeof stdin === "object" && "pipe" in stdin) {
      const writer = child.stdin.getWriter();
      await writer.write(stdin.pipe);
      await writer.close();
    }
    const { code, stdout, stderr } = await child.output();
    if (abort.signal.aborted) throw new Error(`timed out after ${WAIT_MS / 1000} s: ${quoted}`);
    const decoder = new TextDecoder();
    // A terminal turns each "\n" into "\r\n".
    return {
      code,
      out: decoder.decode(stdout).replaceAll("\r\n", "\n"),
      err: decoder.decode(stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `body` with a server that echoes only once the client has half-closed. */
function withEchoAfterFin(body: (port: number) => Promise<void>): Promise<void> {
  return withFakeServer(async (conn) => await writeAll(conn, await readToEnd(conn)), body);
}

Deno.test({
  name: "echo hi | send HOST: a pipe is the message, sent whole, then a half-close",
  ignore: !canRun,
  async fn() {
    // This server answers only after our FIN: without the half-close the send would time out.
    await withEchoAfterFin(async (port) => {
      const input = new TextEncoder().encode("hi from a pipe\n");
      const result = await sockecho(["send", `127.0.0.1:${port}`], { pipe: input });
      assert.deepEqual(result, { code: EXIT.ok, out: "server message: hi from a pipe\n", err: "" });
    });
  },
});

Deno.test({
  name: "send HOST < FILE: a redirected file is the message",
  ignore: !canRun,
  async fn() {
    const file = await Deno.makeTempFile();
    try {
      await Deno.writeTextFile(file, "from a file\n");
      await withEchoAfterFin(async (port) => {
        const result = await sockecho(["send", `127.0.0.1:${port}`], { file });
        assert.deepEqual(result, { code: EXIT.ok, out: "server message: from a file\n", err: "" });
      });
    } finally {
      await Deno.remove(file);
    }
  },
});

Deno.test({
  name: "send HOST with stdin on /dev/null, closed, or an empty pipe (cron's) sends the greeting",
  ignore: !canRun,
  async fn() {
    await withServer({}, async ({ addr }) => {
      for (const stdin of ["/dev/null", "closed", { pipe: new Uint8Array() }] as const) {
        const result = await sockecho(["send", `127.0.0.1:${addr.port}`], stdin);
        assert.deepEqual(result, { code: EXIT.ok, out: GREETING, err: "" }, JSON.stringify(stdin));
      }
    });
  },
});

Deno.test({
  name: "send HOST on a terminal sends the greeting without waiting for input",
  ignore: !haveScript,
  async fn() {
    await withServer({}, async ({ addr }) => {
      const result = await sockecho(["send", `127.0.0.1:${addr.port}`], "terminal");
      assert.deepEqual(result, { code: EXIT.ok, out: GREETING, err: "" });
    });
  },
});

Deno.test({
  name: 'send HOST -: "-" is standard input, even empty; --file with it is a usage error',
  ignore: !canRun,
  async fn() {
    await withServer({}, async ({ addr }) => {
      const host = `127.0.0.1:${addr.port}`;
      const piped = await sockecho(["send", host, "-"], { pipe: new TextEncoder().encode("-x-") });
      assert.deepEqual(piped, { code: EXIT.ok, out: "server message: -x-\n", err: "" });
      // Asked for on purpose, /dev/null is an empty message, not the greeting.
      const empty = await sockecho(["send", host, "-"], "/dev/null");
      assert.deepEqual(empty, { code: EXIT.ok, out: "server message: \n", err: "" });
      const both = await sockecho(["send", host, "-", "--file", MAIN], "terminal");
      assert.equal(both.code, EXIT.usage);
      assert.match(both.out, /give one of MESSAGE, --file and --size/);
    });
  },
});

/** Runs `main(args)` with `input` as a piped standard input. */
async function withStdin(args: string[], input: string) {
  const { io, out, err } = recorder();
  const readable = ReadableStream.from([new TextEncoder().encode(input)]);
  const code = await main(args, { ...io, stdin: { readable, redirected: () => true } });
  return { code, out, err };
}

Deno.test("stdin read once serves every probe of a series, and a UDP datagram", async () => {
  await withServer({}, async ({ addr }) => {
    const { code, out } = await withStdin(["send", `127.0.0.1:${addr.port}`, "-c", "2"], "ping");
    assert.equal(code, EXIT.ok);
    assert.match(out[1], /^4 bytes from 127\.0\.0\.1:\d+: seq=2 /);
  });
  await withUdpServer({}, async ({ addr }) => {
    const { code, out } = await withStdin(["send", `127.0.0.1:${addr.port}`, "--udp"], "dgram");
    assert.deepEqual({ code, out }, { code: EXIT.ok, out: ["server message: dgram"] });
  });
});
