/**
 * `deno task bench`'s HTTP loader rows (`compare.ts` runs them): `sockecho bench
 * --http` against wrk, the reference HTTP load generator, both loading the
 * same `serve --http` with the same request (a 64-byte POST in the raw
 * format, `bench/wrk_post.lua` for wrk) over 16 kept-alive connections, in
 * turn, the order alternating by round. Figures: requests/s and the
 * closed-loop p50 and p99 of each (wrk's from `--latency`); then, since wrk
 * has no fixed rate (that is wrk2, which Debian does not ship), sockecho's
 * p50 and p99 at a fixed rate of half what wrk reached in the same round.
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
  const [rate, p50, p99] = HTTP_FIGURES.map(({ name }) => name);
  // A fresh server compiles its hot paths under the first load: not wrk's to pay for.
  if (round === 1) await runBench(port, ["-d", "2"], context);
  let wrkRate = NaN;
  for (const loader of round % 2 ? ["wrk", "sockecho"] as const : ["sockecho", "wrk"] as const) {
    const figures = loader === "wrk"
      ? await runWrk(port, context)
      : await runBench(port, [], context).then((report) =>
        report && { rate: report.operationsPerSecond, ...report.latencyMs! }
      );
    if (loader === "wrk") wrkRate = figures?.rate ?? NaN;
    record(rate, loader, figures?.rate ?? NaN);
    record(p50, loader, figures?.p50 ?? NaN);
    record(p99, loader, figures?.p99 ?? NaN);
    console.error(
      `round ${round}: HTTP ${loader}: ${Math.round(figures?.rate ?? NaN)} requests/s, ` +
        `p50 ${figures?.p50.toFixed(3)} ms, p99 ${figures?.p99.toFixed(3)} ms`,
    );
  }
  if (Number.isNaN(wrkRate)) return;
  const offered = String(Math.round(wrkRate / 2));
  const fixed = await runBench(port, ["--rate", offered], context);
  const [, , , fixedP50, fixedP99] = HTTP_FIGURES.map(({ name }) => name);
  record(fixedP50, "sockecho", fixed?.latencyMs?.p50 ?? NaN);
  record(fixedP99, "sockecho", fixed?.latencyMs?.p99 ?? NaN);
  console.error(
    `round ${round}: HTTP sockecho at ${offered}/s: p50 ${fixed?.latencyMs?.p50.toFixed(3)} ms, ` +
      `p99 ${fixed?.latencyMs?.p99.toFixed(3)} ms, ${
        fixed?.rate?.shortfallPercent.toFixed(1)
      } % short`,
  );
}

/** `sockecho bench --http` on core 1; undefined (and a line on stderr) when it fails. */
async function runBench(
  port: number,
  args: string[],
  { seconds, main, onCore }: HttpRoundContext,
): Promise<BenchReport | undefined> {
  const [command, ...argv] = onCore(1, [Deno.execPath(), "run", "-N", main, "bench"]);
  const { code, stdout, stderr } = await new Deno.Command(command, {
    args: [
      ...argv,
      `http://127.0.0.1:${port}/`,
      ...["-c", String(HTTP_CONNECTIONS), "-d", seconds, "--json", ...args],
    ],
  }).output();
  if (code === 0) return JSON.parse(new TextDecoder().decode(stdout));
  console.error(`sockecho bench --http failed (exit ${code}): ${new TextDecoder().decode(stderr)}`);
  return undefined;
}

/** wrk on core 1: requests/s and its p50 and p99 in ms; undefined when it fails or errs. */
async function runWrk(port: number, { seconds, onCore }: HttpRoundContext) {
  const script = new URL("./wrk_post.lua", import.meta.url).pathname;
  const [command, ...argv] = onCore(1, [
    "wrk",
    ...["-t1", `-c${HTTP_CONNECTIONS}`, `-d${seconds}s`, "--latency", "-s", script],
    `http://127.0.0.1:${port}/`,
  ]);
  const { code, stdout } = await new Deno.Command(command, { args: argv }).output();
  const text = new TextDecoder().decode(stdout);
  const rate = Number(/^Requests\/sec:\s+([\d.]+)/m.exec(text)?.[1]);
  const percentile = (p: string) => {
    const [, value, unit] = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)$`, "m").exec(text) ?? [];
    return Number(value) * { us: 0.001, ms: 1, s: 1000 }[unit as "us" | "ms" | "s"];
  };
  // wrk counts a socket error or a non-2xx answer but still reports: such a run is not clean.
  if (code !== 0 || /Socket errors|Non-2xx/.test(text) || Number.isNaN(rate)) {
    console.error(`wrk failed (exit ${code}): ${text}`);
    return undefined;
  }
  return { rate, p50: percentile("50"), p99: percentile("99") };
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
verifies every echoed body. The fixed-rate rows are sockecho's alone (wrk has no fixed rate):
\`--rate\` half the requests/s wrk reached in the same round, latency counted from when each
request was due.

${table}
`;
}
