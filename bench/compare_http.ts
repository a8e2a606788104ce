/**
 * `deno task bench`'s HTTP rows: `sockecho serve --http` against the
 * ceiling of the runtime (a bare `Deno.serve` answering "ok",
 * bench/deno_serve_ok.ts) and against the HTTP echo a Node.js user would
 * write (bench/node_http_echo.mjs), each loaded by `wrk -t1 -c16` with
 * keep-alive GETs, the servers alternating within each round. Two figures:
 * requests per second, and the server's CPU time per request (from
 * /proc/PID/stat before and after each run), which a machine shared with
 * other work disturbs far less than the rate.
 *
 * @example
 * ```ts
 * import { httpSection } from "./compare_http.ts";
 *
 * const markdown = await httpSection({ root: "/path/to/checkout/", rounds: 3, seconds: "5", onCore: (_, argv) => argv });
 * ```
 *
 * @module
 */

import { installed, type Running, type Server, start, stop } from "./compare_servers.ts";

/** How {@linkcode httpSection} runs. */
export interface HttpCompareOptions {
  /** The checkout's root folder, ending in a slash. */
  root: string;
  /** Rounds; each runs every server once. */
  rounds: number;
  /** Seconds of each wrk run. */
  seconds: string;
  /** The command line that runs `argv` on `core` (taskset), or `argv` itself. */
  onCore: (core: number, argv: string[]) => string[];
}

/** The servers compared: sockecho first. */
function httpServers(root: string): Server[] {
  const listening = /^Listening on 127\.0\.0\.1:(\d+)/;
  const common = { readyOn: "stdout" as const, ready: listening, holdsIdle: false };
  return [
    {
      ...common,
      name: "sockecho serve --http",
      argv: [Deno.execPath(), "run", "-N", `${root}main.ts`, "serve", "--http", "-q", "-g", "0"]
        .concat(["-H", "127.0.0.1", "-p", "0"]),
    },
    {
      ...common,
      name: "Deno.serve (fixed body)",
      argv: [Deno.execPath(), "run", "-N", `${root}bench/deno_serve_ok.ts`, "0"],
    },
    { ...common, name: "node:http echo", argv: ["node", `${root}bench/node_http_echo.mjs`, "0"] },
  ];
}

/** One wrk run's figures. */
interface HttpFigures {
  requestsPerSecond: number;
  cpuMicrosPerRequest: number;
}

/** A process's CPU time so far (user + system), in seconds, read through `cat`. */
async function cpuSeconds(pid: number): Promise<number> {
  const { stdout } = await new Deno.Command("cat", { args: [`/proc/${pid}/stat`] }).output();
  // The command name (field 2) may hold spaces: count from the ")" that ends it.
  const fields = new TextDecoder().decode(stdout).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ ticks
}

/** Loads `server` with wrk on core 1; undefined (and a line on stderr) when wrk fails. */
async function wrk(server: Running, options: HttpCompareOptions): Promise<HttpFigures | undefined> {
  const [command, ...args] = options.onCore(1, [
    "wrk",
    "-t1",
    "-c16",
    `-d${options.seconds}s`,
    `http://127.0.0.1:${server.port}/`,
  ]);
  const before = await cpuSeconds(server.child.pid);
  const { code, stdout } = await new Deno.Command(command, { args }).output();
  const cpu = await cpuSeconds(server.child.pid) - before;
  const report = new TextDecoder().decode(stdout);
  const requests = Number(report.match(/(\d+) requests in/)?.[1]);
  const requestsPerSecond = Number(report.match(/Requests\/sec:\s+([\d.]+)/)?.[1]);
  if (code !== 0 || !(requests > 0) || /Non-2xx|Socket errors/.test(report)) {
    console.error(`wrk against ${server.server.name} failed: ${report.trim()}`);
    return undefined;
  }
  return { requestsPerSecond, cpuMicrosPerRequest: cpu * 1e6 / requests };
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Runs the HTTP comparison and returns its markdown section (or one line
 * saying why it did not run: no wrk, no node).
 */
export async function httpSection(options: HttpCompareOptions): Promise<string> {
  for (const tool of ["wrk", "node"]) {
    if (!await installed(tool)) return `## HTTP\n\nNot measured: ${tool} is not installed.\n`;
  }
  const servers = httpServers(options.root);
  const running = await Promise.all(
    servers.map((server) => start({ ...server, argv: options.onCore(0, server.argv) })),
  );
  const runs = new Map<string, HttpFigures[]>(servers.map((server) => [server.name, []]));
  try {
    for (let round = 1; round <= options.rounds; round++) {
      const order = [...running];
      for (let i = 1; i < round; i++) order.push(order.shift()!);
      for (const server of order) {
        const figures = await wrk(server, options);
        if (!figures) continue;
        runs.get(server.server.name)!.push(figures);
        console.error(
          `round ${round}: HTTP ${server.server.name}: ${figures.requestsPerSecond.toFixed(0)} ` +
            `requests/s, ${figures.cpuMicrosPerRequest.toFixed(2)} µs CPU per request`,
        );
      }
    }
  } finally {
    await Promise.all(running.map(stop));
  }
  const cell = (name: string, of: (figures: HttpFigures) => number) =>
    median(runs.get(name)!.map(of));
  const fmt = (value: number | undefined, digits: number) =>
    value === undefined ? "failed" : value.toLocaleString("en-US", {
      maximumFractionDigits: digits,
      minimumFractionDigits: digits,
    });
  const [ours, ...peers] = servers.map((server) => server.name);
  const row = (
    label: string,
    of: (figures: HttpFigures) => number,
    digits: number,
    lower: boolean,
  ) => {
    const mine = cell(ours, of);
    const ratios = peers.map((peer) => {
      const theirs = cell(peer, of);
      if (mine === undefined || theirs === undefined) return "n/a";
      // Always "how many of theirs one of ours is worth": above 1 is better for sockecho.
      return `${(lower ? theirs / mine : mine / theirs).toFixed(2)}×`;
    });
    return `| ${label} | ${servers.map(({ name }) => fmt(cell(name, of), digits)).join(" | ")} | ${
      ratios.join(" | ")
    } |`;
  };
  return `## HTTP

\`wrk -t1 -c16 -d${options.seconds}s\` (keep-alive GET /) against \`sockecho serve --http -q\` (the
JSON description of each request), bench/deno_serve_ok.ts (\`Deno.serve\` answering "ok": the ceiling
of the runtime) and bench/node_http_echo.mjs (node:http answering method, URL, headers and body as
JSON). Medians of ${options.rounds} rounds, servers alternating; the server's CPU time per request is
read from /proc/PID/stat around each run. Ratios are sockecho's worth in the peer's units (above 1 is
better for sockecho).

| figure | ${servers.map(({ name }) => name).join(" | ")} | ${
    peers.map((peer) => `sockecho vs ${peer}`).join(" | ")
  } |
| --- | ${servers.map(() => "---").join(" | ")} | ${peers.map(() => "---").join(" | ")} |
${row("requests/s", (f) => f.requestsPerSecond, 0, false)}
${row("server CPU per request (µs, lower is better)", (f) => f.cpuMicrosPerRequest, 2, true)}
`;
}
