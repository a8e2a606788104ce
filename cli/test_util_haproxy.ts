/**
 * HAProxy test helpers: where Debian's `haproxy` is, why a test cannot run
 * it, and HAProxy run in the foreground on loopback with a generated config
 * for as long as a test body runs (its output checked for ALERTs after).
 *
 * @example
 * ```ts
 * import { behindHaproxy, noHaproxy } from "./test_util_haproxy.ts";
 *
 * if (noHaproxy === undefined) {
 *   const config = (frontend: number) =>
 *     `defaults\n  mode tcp\nfrontend f\n  bind 127.0.0.1:${frontend}\n  default_backend b\n` +
 *     "backend b\n  server s 127.0.0.1:4321\n";
 *   await behindHaproxy(config, async () => {}, async (frontend) => {
 *     console.log(`haproxy listens on ${frontend}`);
 *   });
 * }
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { canRun, freePort, needs } from "./test_util_process.ts";

/** haproxy's path, or undefined: it lives in /usr/sbin, often not on a user's PATH. */
async function findHaproxy(): Promise<string | undefined> {
  if (!canRun) return undefined;
  const { success, stdout } = await new Deno.Command("sh", {
    args: ["-c", "command -v haproxy || command -v /usr/sbin/haproxy"],
    stderr: "null",
  }).output();
  return success ? new TextDecoder().decode(stdout).trim() : undefined;
}

/** The haproxy program's path, or undefined where it is missing or may not be run. */
export const HAPROXY: string | undefined = await findHaproxy();

/** Why HAProxy tests cannot run here (for `skipped`), or undefined when they can. */
export const noHaproxy: string | undefined = needs(
  HAPROXY !== undefined,
  "haproxy (Debian's package) and --allow-run",
);

/** A running haproxy, from {@linkcode startHaproxy}. */
export interface RunningHaproxy {
  /** Whether it has exited (a bad config, a port taken). */
  readonly exited: boolean;
  /** Kills it (if still running) and resolves with all it printed. */
  stop(): Promise<string>;
}

/** Runs haproxy in the foreground with `config`; `stop` kills it and returns what it printed. */
export async function startHaproxy(config: string): Promise<RunningHaproxy> {
  const file = await Deno.makeTempFile({ prefix: "sockecho-haproxy-", suffix: ".cfg" });
  await Deno.writeTextFile(file, config);
  const child = new Deno.Command(HAPROXY!, {
    args: ["-db", "-f", file],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = Promise.all(
    [child.stdout, child.stderr].map((stream) => new Response(stream).text()),
  );
  let exited = false;
  const status = child.status.finally(() => exited = true);
  return {
    get exited() {
      return exited;
    },
    async stop() {
      if (!exited) child.kill("SIGTERM");
      await status;
      await Deno.remove(file);
      return (await output).join("");
    },
  };
}

/** Connects once haproxy listens on `port`: polled, since it announces nothing when ready. */
export async function connectWhenListening(
  port: number,
  haproxy: { exited: boolean },
): Promise<Deno.TcpConn> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    try {
      return await Deno.connect({ hostname: "127.0.0.1", port });
    } catch (error) {
      if (haproxy.exited || performance.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/**
 * Runs `body` with HAProxy listening on a free frontend port with the
 * config `configFor(frontend)` makes; then stops it and `stopBackends()`,
 * and fails if HAProxy printed an ALERT.
 */
export async function behindHaproxy(
  configFor: (frontend: number) => string,
  stopBackends: () => Promise<void>,
  body: (frontend: number) => Promise<void>,
): Promise<void> {
  const frontend = freePort();
  const haproxy = await startHaproxy(configFor(frontend));
  let haproxyOutput = "";
  try {
    (await connectWhenListening(frontend, haproxy)).close();
    await body(frontend);
  } finally {
    haproxyOutput = await haproxy.stop();
    await stopBackends();
  }
  assert.doesNotMatch(haproxyOutput, /ALERT/, haproxyOutput);
}
