/**
 * Helpers for the tests that run the real program, `deno run -N main.ts`, and
 * its peers (nc, socat, openssl, the seed's C programs) as processes. These
 * need `--allow-run` (and read/write for temporary builds): `deno task test`
 * grants them; under plain `deno test -N` the tests using them are ignored,
 * named with the reason (see {@linkcode skipped}).
 *
 * @example
 * ```ts
 * import { canRun, sockecho, spawnServe } from "./test_util_process.ts";
 *
 * if (canRun) {
 *   const server = await spawnServe();
 *   console.log(await sockecho("send", "127.0.0.1", "-p", server.port));
 *   server.child.kill("SIGINT");
 *   await server.finish();
 * }
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { concat, outputOf, WAIT_MS, withTimeout } from "./test_util.ts";

/** The program's entry point, as a path for `deno run`. */
export const MAIN = new URL("../main.ts", import.meta.url).pathname;
/** The checkout's root folder (where deno.json is), ending in a slash. */
export const ROOT = new URL("..", import.meta.url).pathname;

/** Whether this test run may start processes (`--allow-run`). */
export const canRun = (await Deno.permissions.query({ name: "run" })).state === "granted";
/** Whether this test run may read files (`--allow-read`), e.g. deno.json and README.md. */
export const canRead = (await Deno.permissions.query({ name: "read" })).state === "granted";
/** Whether this test run may write files (`--allow-write`), e.g. to build a C program. */
export const canWrite = (await Deno.permissions.query({ name: "write" })).state === "granted";

/** Whether `name` is a command on PATH (false when processes may not be started). */
export async function hasCommand(name: string): Promise<boolean> {
  if (!canRun) return false;
  return (await outputOf("sh", { args: ["-c", `command -v ${name}`], stdout: "null" })).success;
}

/** " (skipped: why)" for a test's name when `why` is set: CI lists skips with their reason. */
export const skipped = (why: string | undefined): string =>
  why === undefined ? "" : ` (skipped: ${why})`;
/** "needs WHAT" when `have` is false, for {@linkcode skipped}. */
export const needs = (have: boolean, what: string): string | undefined =>
  have ? undefined : `needs ${what}`;

/**
 * The environment for sockecho processes, without NO_COLOR (CI sets it), so
 * the tests see what a user's pipe gets: Deno must drop colours by itself.
 */
export const CHILD_ENV: Record<string, string> = !canRun ? {} : Object.fromEntries(
  ["PATH", "HOME", "DENO_DIR", "TMPDIR"].flatMap((name) => {
    const value = Deno.env.get(name);
    return value === undefined ? [] : [[name, value]];
  }),
);

/** `setpriv` arguments that run a command as nobody. */
export const AS_NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups", "--"];

/**
 * Why a test that drops to nobody cannot run here, or undefined when it
 * can: it needs root, setpriv, a privileged port 80, and a deno that nobody
 * may run (the sources it copies to a folder nobody can read).
 */
export async function whyNotAsNobody(): Promise<string | undefined> {
  if (!canWrite) return "needs --allow-run and --allow-write";
  if (!await hasCommand("setpriv")) return "needs setpriv";
  const id = await outputOf("id", { args: ["-u"] });
  if (new TextDecoder().decode(id.stdout).trim() !== "0") return "needs root";
  const lowest = await Deno.readTextFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
    .catch(() => "1024");
  if (Number(lowest) <= 80) return "port 80 is not privileged here";
  const probe = await outputOf("setpriv", {
    args: [...AS_NOBODY, Deno.execPath(), "--version"],
    stdout: "null",
    stderr: "null",
  });
  return probe.success ? undefined : `nobody may not run ${Deno.execPath()}`;
}

/** Copies the program's sources (every .ts, deno.json, deno.lock) under `from` to `to`. */
export async function copySources(from: string, to: string): Promise<void> {
  for await (const entry of Deno.readDir(from)) {
    if (entry.name.startsWith(".") || ["node_modules", "dist"].includes(entry.name)) continue;
    const [source, target] = [`${from}/${entry.name}`, `${to}/${entry.name}`];
    if (entry.isDirectory) {
      await Deno.mkdir(target, { mode: 0o755 });
      await copySources(source, target);
    } else if (/\.ts$|^deno\.(json|lock)$/.test(entry.name)) {
      await Deno.copyFile(source, target);
      await Deno.chmod(target, 0o644);
    }
  }
}

/** Collects a child's output lines and lets a test await a line. */
export class Lines {
  readonly lines: string[] = [];
  readonly done: Promise<void>;
  #watchers: (() => void)[] = [];
  #reader: ReadableStreamDefaultReader<string>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
    this.done = this.#pump();
  }

  /** Stops reading and closes the pipe, as `head` does once it has its lines. */
  async close(): Promise<void> {
    await this.#reader.cancel();
    await this.done;
  }

  async #pump(): Promise<void> {
    let pending = "";
    for (let read; !(read = await this.#reader.read()).done;) {
      const parts = (pending + read.value).split("\n");
      pending = parts.pop()!;
      this.lines.push(...parts);
      this.#watchers.forEach((wake) => wake());
    }
    if (pending) this.lines.push(pending);
    this.#watchers.forEach((wake) => wake());
  }

  /**
   * Resolves with the first line matching `pattern`, now or once it is
   * printed; fails when the stream ends without one or after `ms`.
   */
  match(pattern: RegExp, ms = WAIT_MS): Promise<RegExpMatchArray> {
    return withTimeout(this.#match(pattern), ms, `a line matching ${pattern}`).catch((error) => {
      throw new Error(`${error.message}; lines so far: ${JSON.stringify(this.lines)}`);
    });
  }

  /** Resolves with the first `count` lines matching `pattern`, once printed; fails like {@linkcode match}. */
  matchAll(pattern: RegExp, count: number, ms = WAIT_MS): Promise<string[]> {
    return withTimeout(this.#matching(pattern, count), ms, `${count} lines matching ${pattern}`)
      .catch((error) => {
        throw new Error(`${error.message}; lines so far: ${JSON.stringify(this.lines)}`);
      });
  }

  async #match(pattern: RegExp): Promise<RegExpMatchArray> {
    const [line] = await this.#matching(pattern, 1);
    return line.match(pattern)!;
  }

  async #matching(pattern: RegExp, count: number): Promise<string[]> {
    for (let ended = false;;) {
      const found = this.lines.filter((line) => pattern.test(line));
      if (found.length >= count) return found.slice(0, count);
      if (ended) throw new Error(`no line matched ${pattern}: ${JSON.stringify(this.lines)}`);
      const woken = new Promise<void>((wake) => this.#watchers.push(wake));
      ended = await Promise.race([woken.then(() => false), this.done.then(() => true)]);
    }
  }
}

/** A spawned process whose stdout and stderr are read line by line. */
export interface Spawned {
  child: Deno.ChildProcess;
  out: Lines;
  err: Lines;
  /** Waits for the exit and for all output; kills the child and fails after `ms`. */
  finish(ms?: number): Promise<number>;
}

/** Spawns `command ARGS` with {@linkcode CHILD_ENV}; its stdout and stderr are read line by line. */
export function spawn(command: string, args: string[], stdin: "piped" | "null" = "null"): Spawned {
  const child = new Deno.Command(command, {
    args,
    stdin,
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: CHILD_ENV,
  }).spawn();
  const out = new Lines(child.stdout);
  const err = new Lines(child.stderr);
  return {
    child,
    out,
    err,
    async finish(ms = WAIT_MS) {
      try {
        const { code } = await withTimeout(child.status, ms, `${command} to exit`);
        await Promise.all([out.done, err.done]);
        return code;
      } catch (error) {
        child.kill("SIGKILL");
        await child.status;
        await Promise.allSettled([out.done, err.done]);
        throw error;
      }
    },
  };
}

/** Spawns `sockecho ARGS` (`deno run -N DENO_FLAGS main.ts ARGS`). */
export function spawnSockecho(
  args: string[],
  { denoFlags = [], stdin = "null" }: { denoFlags?: string[]; stdin?: "piped" | "null" } = {},
): Spawned {
  return spawn(Deno.execPath(), ["run", "-N", ...denoFlags, MAIN, ...args], stdin);
}

/**
 * Spawns `sockecho serve ARGS` on 127.0.0.1 and a free port; resolves once it
 * listens (with `--udp`, once UDP listens too), with the port.
 */
export async function spawnServe(...args: string[]): Promise<Spawned & { port: string }> {
  const server = spawnSockecho(["serve", "-H", "127.0.0.1", "-p", "0", ...args]);
  const tls = args.includes("--tls") ? "TLS" : "";
  const http = args.includes("--http") ? "HTTP, instance \\S+" : "";
  const how = [tls, http].filter(Boolean).join(", ");
  const [, port] = await server.out.match(
    new RegExp(`^Listening on 127\\.0\\.0\\.1:(\\d+)${how ? ` \\(${how}\\)` : ""}$`),
  );
  if (args.includes("--udp")) await server.out.match(/^Listening on 127\.0\.0\.1:\d+ \(UDP\)$/);
  return { ...server, port };
}

/**
 * Spawns `sockecho serve --tls ARGS` (an ephemeral certificate) like
 * {@linkcode spawnServe}; resolves with the fingerprint and the send command it prints.
 */
export async function spawnTlsServe(
  ...args: string[]
): Promise<Spawned & { port: string; fingerprint: string; command: string }> {
  const server = await spawnServe("--tls", ...args);
  const [, fingerprint, command] = await server.out.match(
    /^TLS certificate: self-signed, SHA-256 ([0-9A-F:]{95}); connect with: sockecho (.*)$/,
  );
  return { ...server, fingerprint, command };
}

/** Spawns `sockecho serve --unix PATH` with the permissions it needs; resolves once it listens. */
export async function spawnUnixServe(path: string): Promise<Spawned> {
  const server = spawnSockecho(["serve", "--unix", path], {
    denoFlags: [`-R=${path}`, `-W=${path}`],
  });
  await server.out.match(new RegExp(`^Listening on ${path}$`));
  return server;
}

/** What a process run to its end printed, and its exit code. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `sockecho ARGS` to the end. */
export function sockecho(...args: string[]): Promise<Ran> {
  return runDeno(["-N"], args);
}

/** Runs `sockecho ARGS` to the end with more Deno permission flags than `-N`. */
export function sockechoWith(flags: string[], ...args: string[]): Promise<Ran> {
  return runDeno(["-N", ...flags], args);
}

/** Runs `deno run DENO_FLAGS main.ts ARGS` to the end. */
export async function runDeno(denoFlags: string[], args: string[]): Promise<Ran> {
  const { code, stdout, stderr } = await outputOf(Deno.execPath(), {
    args: ["run", ...denoFlags, MAIN, ...args],
    stdin: "null",
    clearEnv: true,
    env: CHILD_ENV,
  });
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/**
 * Runs `sockecho ARGS` with stdout and stderr on a terminal (`script`'s pty);
 * returns all it wrote.
 */
export async function sockechoOnTerminal(...args: string[]): Promise<string> {
  const command = [Deno.execPath(), "run", "-N", MAIN, ...args].map((word) => `'${word}'`)
    .join(" ");
  const { stdout } = await outputOf("script", {
    args: ["-qec", command, "/dev/null"],
    stdin: "null",
    clearEnv: true,
    env: { ...CHILD_ENV, TERM: "xterm" },
  });
  return new TextDecoder().decode(stdout);
}

/** Runs `command` to its exit (bounded) with `input` on its stdin. */
export async function runWithInput(
  command: string,
  args: string[],
  input: Uint8Array,
): Promise<Deno.CommandOutput> {
  const peer = new Deno.Command(command, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = peer.stdin.getWriter();
  await writer.write(input);
  await writer.close();
  return await withTimeout(peer.output(), WAIT_MS, `${command} to exit`).catch((error) => {
    peer.kill("SIGKILL");
    throw error;
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago, for peers that cannot be told "port 0". */
export function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return listener.addr.port;
}

/** Connects to 127.0.0.1:`port` until something listens there (bounded). */
export async function untilListening(port: number, what: string): Promise<void> {
  const deadline = performance.now() + WAIT_MS;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch (error) {
      if (!(error instanceof Deno.errors.ConnectionRefused)) throw error;
      if (performance.now() > deadline) throw new Error(`${what} never listened on ${port}`);
      // Nothing to await: a peer such as the C server says nothing until a client comes.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** Runs `openssl ARGS` with `input` on stdin and returns its stdout as text; fails unless it exits 0. */
export async function openssl(args: string[], input = new Uint8Array()): Promise<string> {
  const child = new Deno.Command("openssl", {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(input);
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return new TextDecoder().decode(stdout);
}

/** Reads `length` bytes from `stream`, failing after `ms` (a hang must become a failure). */
export async function readBytes(
  stream: ReadableStream<Uint8Array>,
  length: number,
  ms = 10_000,
): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let got = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`only ${got} of ${length} bytes in ${ms} ms`)), ms);
  });
  try {
    while (got < length) {
      const { value, done } = await Promise.race([reader.read(), late]);
      if (done) break;
      chunks.push(value);
      got += value.length;
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
  return concat(chunks);
}

/** A CA and a leaf it signed for localhost and 127.0.0.1, made fresh in `dir` by openssl. */
export async function makeCertificates(dir: string): Promise<{ ca: string; fingerprint: string }> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await openssl(["req", "-x509", ...ec, "-keyout", `${dir}/ca.key`, "-out", `${dir}/ca.pem`]
    .concat(["-days", "1", "-subj", "/CN=sockecho test CA"]));
  await openssl(["req", ...ec, "-keyout", `${dir}/leaf.key`, "-out", `${dir}/leaf.csr`]
    .concat(["-subj", "/CN=localhost"]));
  await Deno.writeTextFile(`${dir}/ext`, "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  await openssl(
    ["x509", "-req", "-in", `${dir}/leaf.csr`, "-CA", `${dir}/ca.pem`, "-CAkey"]
      .concat([`${dir}/ca.key`, "-CAcreateserial", "-out", `${dir}/leaf.pem`, "-days", "1"])
      .concat(["-extfile", `${dir}/ext`]),
  );
  const fingerprint = await openssl(
    ["x509", "-in", `${dir}/leaf.pem`, "-noout", "-fingerprint", "-sha256"],
  );
  return { ca: `${dir}/ca.pem`, fingerprint: fingerprint.trim().replace(/^.*=/, "") };
}
