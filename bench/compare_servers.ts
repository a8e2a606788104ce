/**
 * The echo servers `deno task bench` (`compare.ts`) sets against each other:
 * sockecho, a Node.js `net` echo, socat with a forking PIPE when installed,
 * sockecho with its log on, the TLS pair (sockecho `--tls` and a Node
 * `tls` echo, each with a fresh self-signed certificate), and `serve --http`
 * for the HTTP loaders. Each is a command
 * line and the line it prints once it listens; {@linkcode start} runs one
 * and reads its port off that line, {@linkcode stop} ends it.
 *
 * @example
 * ```ts
 * import { lineup, start, stop } from "./compare_servers.ts";
 *
 * const { plain } = await lineup(new URL("..", import.meta.url).pathname);
 * const running = await start(plain[0]);
 * console.log(running.server.name, "listens on", running.port);
 * await stop(running);
 * ```
 *
 * @module
 */

import { selfSignedCertificate } from "../net/tls/cert.ts";
import { closeQuietly, writeAll } from "../net/io.ts";

/** Whether `command` is on PATH. */
export async function installed(command: string): Promise<boolean> {
  const probe = new Deno.Command("sh", { args: ["-c", `command -v ${command}`], stdout: "null" });
  return (await probe.output()).success;
}

/** An echo server to compare: how to run it and how to tell it listens. */
export interface Server {
  /** Its name in the tables. */
  name: string;
  /** The command line that runs it. */
  argv: string[];
  /** Lines to await on stderr instead of stdout (socat logs there). */
  readyOn: "stdout" | "stderr";
  /** The line it prints once it listens; its first group is the port. */
  ready: RegExp;
  /** Whether 10,000 idle connections make sense (socat forks a process each). */
  holdsIdle: boolean;
  /** Written to the server's stdin (the Node TLS echo reads its key and certificate there). */
  stdin?: string;
}

/** The servers of one comparison, as {@linkcode lineup} makes them. */
export interface Lineup {
  /** sockecho (always first, with `-q`), then its peers. */
  plain: Server[];
  /** sockecho with its log on (to a pipe the script drains), for the logging-cost figure. */
  logging: Server;
  /** The TLS servers: names as in `plain`, so the rows read the same way. */
  tls: Server[];
  /** `sockecho serve --http -q`, which wrk and `sockecho bench --http` both load. */
  http: Server;
}

/** The servers to compare, sockecho run from the checkout at `root`; socat only when installed. */
export async function lineup(root: string): Promise<Lineup> {
  const sockecho: Server = {
    name: "sockecho",
    argv: [
      Deno.execPath(),
      "run",
      "-N",
      `${root}main.ts`,
      "serve",
      "-q",
      "-H",
      "127.0.0.1",
      "-p",
      "0",
    ],
    readyOn: "stdout",
    ready: /^Listening on 127\.0\.0\.1:(\d+)$/,
    holdsIdle: true,
  };
  const node: Server = {
    name: "node",
    argv: ["node", `${root}bench/node_echo.mjs`, "0"],
    readyOn: "stdout",
    ready: /^Listening on 127\.0\.0\.1:(\d+)$/,
    holdsIdle: true,
  };
  const plain = [sockecho, node];
  if (await installed("socat")) {
    const port = freePort();
    plain.push({
      name: "socat",
      argv: [
        "socat",
        "-d",
        "-d",
        `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork,backlog=4096`,
        "PIPE",
      ],
      readyOn: "stderr",
      ready: new RegExp(`listening on .*:(${port})`),
      holdsIdle: false,
    });
  }
  const logging = {
    ...sockecho,
    name: "sockecho (log on)",
    argv: sockecho.argv.filter((arg) => arg !== "-q"),
  };
  const tls = [
    {
      ...sockecho,
      argv: [...sockecho.argv, "--tls"],
      ready: /^Listening on 127\.0\.0\.1:(\d+) \(TLS\)$/,
      holdsIdle: false,
    },
    {
      ...node,
      argv: ["node", `${root}bench/node_tls_echo.mjs`, "0"],
      holdsIdle: false,
      stdin: await selfSignedCertificate(["127.0.0.1"]).then(({ key, cert }) => key + cert),
    },
  ];
  const http = {
    ...sockecho,
    argv: [...sockecho.argv, "--http"],
    ready: /^Listening on 127\.0\.0\.1:(\d+) \(HTTP, instance \S+\)$/,
    holdsIdle: false,
  };
  return { plain, logging, tls, http };
}

/** A port free right now, for a server (socat) that cannot pick its own and say which. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  listener.close();
  return listener.addr.port;
}

/** A server that {@linkcode start} has running. */
export interface Running {
  /** What runs. */
  server: Server;
  /** The port it listens on, read off its ready line. */
  port: number;
  /** Its process. */
  child: Deno.ChildProcess;
  /** Stops reading the server's output pipes. */
  stopReading: () => Promise<unknown>;
}

/**
 * Runs `server` (its `argv` as it stands) and resolves once it prints its
 * ready line; throws if it exits first. Its output is read on until
 * {@linkcode stop}.
 */
export async function start(server: Server): Promise<Running> {
  const [command, ...args] = server.argv;
  const child = new Deno.Command(command, {
    args,
    stdin: server.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (server.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(server.stdin));
    await writer.close();
  }
  const [watched, other] = server.readyOn === "stdout"
    ? [child.stdout, child.stderr]
    : [child.stderr, child.stdout];
  const lines = watched.pipeThrough(new TextDecoderStream()).getReader();
  let port = 0;
  let text = "";
  while (port === 0) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`${server.name} exited before listening: ${text}`);
    text += value;
    port = Number(text.match(new RegExp(server.ready.source, "m"))?.[1] ?? 0);
  }
  // Keep reading both pipes so a chatty server never blocks on a full pipe.
  const abort = new AbortController();
  const reading = Promise.allSettled([
    (async () => {
      while (!(await lines.read()).done);
    })(),
    other.pipeTo(new WritableStream(), { signal: abort.signal }),
  ]);
  const stopReading = () => {
    abort.abort();
    return Promise.all([lines.cancel(), reading]);
  };
  return { server, port, child, stopReading };
}

/** Ends a running server and its children, and stops reading its output. */
export async function stop({ child, stopReading }: Running): Promise<void> {
  // socat forks a child per connection; one may outlive the parent and hold
  // its pipes open, so end the children first and never wait for the pipes' EOF.
  await new Deno.Command("pkill", { args: ["-TERM", "-P", String(child.pid)] }).output();
  child.kill("SIGTERM");
  await child.status;
  await stopReading();
}

/** Server RSS per connection with `count` idle connections, each having echoed one byte. */
export async function idleBytesPerConnection(running: Running, count: number): Promise<number> {
  const before = await rss(running.child.pid);
  const conns: Deno.TcpConn[] = [];
  try {
    for (let opened = 0; opened < count; opened += 500) {
      // In batches: 10,000 connects at once would overflow the listen backlog.
      await Promise.all(
        Array.from({ length: Math.min(500, count - opened) }, async () => {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port: running.port });
          conns.push(conn);
          await writeAll(conn, new Uint8Array([1]));
          await conn.read(new Uint8Array(1));
        }),
      );
    }
    return (await rss(running.child.pid) - before) / count;
  } finally {
    conns.forEach(closeQuietly);
  }
}

/** Resident set size of a process in bytes (Deno reads /proc/PID only with --allow-all). */
async function rss(pid: number): Promise<number> {
  const { stdout } = await new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(pid)] })
    .output();
  return Number(new TextDecoder().decode(stdout).trim()) * 1024;
}
