/**
 * `deno task bench`'s HTTP loader rows (`compare.ts` runs them): `sockecho bench
 * --http` against wrk, the reference HTTP load generator, both loading the
 * same `serve --http` with the same request (a 64-byte POST in the raw
 * format, `bench/wrk_post.lua` for wrk) over 16 kept-alive connections, in
 * turn, the order alternating by round. Figures: requests/s and the
 * closed-loop p50 and p99 of each (wrk's from `--latency`); then, since wrk
 * has no fixed rate (that is wrk2, which Debian does not ship), sockecho's
 * p50 and p99 at a fixed rate of half what wrk reached in the same round.
 * And each loader's CPU time per request (user + system, from
 * `/usr/bin/time`; sockecho's less what a one-request run costs, its start-up,
 * and over its warm-up's requests too), which says how much of a core the
 * load generator needs whatever the server's speed.
 *
 * @example
 * ```ts
 * import { httpRound } from "./compare_http_loaders.ts";
 *
 * const seen = new Map<string, number[]>();
 * await httpRound(1, 4321, {
 *   seconds: "5",
 *   main: "main.ts",
 *   onCore: (_, argv) => argv,
 *   record: (figure, loader, value) => seen.set(`${figure}|${loader}`, [value]),
 * });
 * ```
 *
 * @module
 */

import type { BenchReport } from "./bench.ts";

/** Connections of both loaders: wrk's `-c16` with its one thread (`-t1`). */
export const HTTP_CONNECTIONS = 16;

const RATE = "requests/s";
const closedLoop = `HTTP keep-alive ${HTTP_CONNECTIONS} × 64 B`;

/** The HTTP rows, for `compare.ts`'s table: sockecho bench's figures against wrk's. */
export const HTTP_FIGURES: { name: string; unit: string; lowerIsBetter?: boolean }[] = [
  { name: closedLoop, unit: RATE },
  { name: `${closedLoop} p50`, unit: "ms", lowerIsBetter: true },
  { name: `${closedLoop} p99`, unit: "ms", lowerIsBetter: true },
  { name: "HTTP loader CPU per request", unit: "µs", lowerIsBetter: true },
  { name: "HTTP fixed rate, half of wrk's, p50", unit: "ms", lowerIsBetter: true },
  { name: "HTTP fixed rate, half of wrk's, p99", unit: "ms", lowerIsBetter: true },
];

/** What a round needs of `compare.ts`. */
export interface HttpRoundContext {
  /** Seconds each load runs. */
  seconds: string;
  /** The program's `main.ts`. */
  main: string;
  /** The command line run on that core (taskset), or as it is. */
  onCore: (core: number, argv: string[]) => string[];
  /** Records one figure of one loader in this round; NaN for a run that failed. */
  record: (figure: string, loader: "sockecho" | "wrk", value: number) => void;
}

/** One round against the `serve --http` on `port`: wrk and bench in turn, then bench at a fixed rate. */
export async function httpRound(round: number, port: number, context: HttpRoundContext) {
  const { record } = context;
  const [rate, p50, p99, cpu, fixedP50, fixedP99] = HTTP_FIGURES.map(({ name }) => name);
  // A fresh server compiles its hot paths under the first load: not wrk's to pay for.
  if (round === 1) await runBench(port, ["-d", "2"], context);
  // What a run costs before and besides its requests: start-up, connecting, the report.
  const overhead = (await runBench(port, ["-n", "1", "--warmup", "0"], context))?.cpuSeconds ?? 0;
  let wrkRate = NaN;
  for (const loader of round % 2 ? ["wrk", "sockecho"] as const : ["sockecho", "wrk"] as const) {
    const figures = loader === "wrk"
      ? await runWrk(port, context)
      : await runBench(port, [], context).then((run) =>
        run && {
          rate: run.report.operationsPerSecond,
          ...run.report.latencyMs!,
          cpuMicros: (run.cpuSeconds - overhead) * 1e6 / requestsOf(run.report),
        }
      );
    if (loader === "wrk") wrkRate = figures?.rate ?? NaN;
    record(rate, loader, figures?.rate ?? NaN);
    record(p50, loader, figures?.p50 ?? NaN);
    record(p99, loader, figures?.p99 ?? NaN);
    record(cpu, loader, figures?.cpuMicros ?? NaN);
    console.error(
      `round ${round}: HTTP ${loader}: ${Math.round(figures?.rate ?? NaN)} requests/s, ` +
        `p50 ${figures?.p50.toFixed(3)} ms, p99 ${figures?.p99.toFixed(3)} ms, ` +
        `${figures?.cpuMicros.toFixed(2)} µs CPU per request`,
    );
  }
  if (Number.isNaN(wrkRate)) return;
  const offered = String(Math.round(wrkRate / 2));
  const fixed = (await runBench(port, ["--rate", offered], context))?.report;
  record(fixedP50, "sockecho", fixed?.latencyMs?.p50 ?? NaN);
  record(fixedP99, "sockecho", fixed?.latencyMs?.p99 ?? NaN);
  console.error(
    `round ${round}: HTTP sockecho at ${offered}/s: p50 ${fixed?.latencyMs?.p50.toFixed(3)} ms, ` +
      `p99 ${fixed?.latencyMs?.p99.toFixed(3)} ms, ${
        fixed?.rate?.shortfallPercent.toFixed(1)
      } % short`,
  );
}

/** Requests a report's run made, its warm-up's included (they cost the loader as much). */
function requestsOf(report: BenchReport): number {
  const warmup = report.intervals.filter(({ phase }) => phase === "warmup");
  return report.operations + warmup.reduce((sum, { operations }) => sum + operations, 0);
}

/**
 * Runs `argv` on core 1 under `/usr/bin/time`: its exit code, its output and
 * the CPU time it took, user and system (NaN without `/usr/bin/time`).
 */
async function timed(argv: string[], onCore: HttpRoundContext["onCore"]) {
  const time = ["/usr/bin/time", "-f", "loader cpu %U %S"];
  const [command, ...args] = onCore(1, TIME ? [...time, ...argv] : argv);
  const { code, stdout, stderr } = await new Deno.Command(command, { args }).output();
  const [out, err] = [stdout, stderr].map((bytes) => new TextDecoder().decode(bytes));
  const [, user, system] = /^loader cpu ([\d.]+) ([\d.]+)$/m.exec(err) ?? [];
  return { code, out, err, cpuSeconds: Number(user) + Number(system) };
}

const TIME = await Deno.stat("/usr/bin/time").then(() => true, () => false);

/** `sockecho bench --http` and its CPU time; undefined (and a line on stderr) when it fails. */
async function runBench(port: number, args: string[], { seconds, main, onCore }: HttpRoundContext) {
  const { code, out, err, cpuSeconds } = await timed([
    ...[Deno.execPath(), "run", "-N", main, "bench", `http://127.0.0.1:${port}/`],
    ...["-c", String(HTTP_CONNECTIONS), "-d", seconds, "--json", ...args],
  ], onCore);
  if (code === 0) return { report: JSON.parse(out) as BenchReport, cpuSeconds };
  console.error(`sockecho bench --http failed (exit ${code}): ${err}`);
  return undefined;
}

/** wrk: requests/s, p50 and p99 in ms, CPU µs per request; undefined when it fails or errs. */
async function runWrk(port: number, { seconds, onCore }: HttpRoundContext) {
  const script = new URL("./wrk_post.lua", import.meta.url).pathname;
  const { code, out: text, cpuSeconds } = await timed([
    "wrk",
    ...["-t1", `-c${HTTP_CONNECTIONS}`, `-d${seconds}s`, "--latency", "-s", script],
    `http://127.0.0.1:${port}/`,
  ], onCore);
  const rate = Number(/^Requests\/sec:\s+([\d.]+)/m.exec(text)?.[1]);
  const requests = Number(/^\s+(\d+) requests in/m.exec(text)?.[1]);
  const percentile = (p: string) => {
    const [, value, unit] = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)$`, "m").exec(text) ?? [];
    return Number(value) * { us: 0.001, ms: 1, s: 1000 }[unit as "us" | "ms" | "s"];
  };
  // wrk counts a socket error or a non-2xx answer but still reports: such a run is not clean.
  if (code !== 0 || /Socket errors|Non-2xx/.test(text) || Number.isNaN(rate)) {
    console.error(`wrk failed (exit ${code}): ${text}`);
    return undefined;
  }
  return {
    rate,
    p50: percentile("50"),
    p99: percentile("99"),
    cpuMicros: cpuSeconds * 1e6 / requests,
  };
}

/**
 * The section's text around `table` (the HTTP rows, sockecho against wrk).
 *
 * @example
 * ```ts
 * import { loaderSection } from "./compare_http_loaders.ts";
 *
 * console.log(loaderSection("| workload | … |", "5"));
 * ```
 */
export function loaderSection(table: string, seconds: string): string {
  return `## HTTP load generators: sockecho bench --http against wrk

Both load one \`sockecho serve --http\` (on core 0) from core 1, in turn, the order alternating by
round: \`wrk -t1 -c${HTTP_CONNECTIONS} -d${seconds}s --latency -s bench/wrk_post.lua\` and
\`sockecho bench --http -c ${HTTP_CONNECTIONS} -d ${seconds}\` (after its 1 s warm-up), each POSTing
64 bytes in the raw format on kept-alive connections, one request in flight on each; sockecho also
verifies every echoed body. wrk's body is bench's own pattern, binary like sockecho's: the server
spends more on a body that is not UTF-8 (64 "x" bytes went about 30 % faster here). Loader CPU per request is each loader's user and system time
(\`/usr/bin/time\`) over the requests it made; sockecho's less the CPU of a one-request run (Deno's
start-up, connecting), its warm-up's requests counted. The fixed-rate rows are sockecho's alone (wrk
has no fixed rate): \`--rate\` half the requests/s wrk reached in the same round, latency counted
from when each request was due.

${table}
`;
}
