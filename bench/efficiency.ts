/**
 * The loader-efficiency part of `deno task bench`: how close `sockecho
 * bench` comes to a C load generator against the same C epoll echo server,
 * as measured by `../shared/perf/loader-efficiency.sh` (the reference
 * instruments kept beside the project, not in it). A clone without them
 * gets a note instead of the table: nothing here is needed to build, test
 * or run sockecho.
 *
 * @example
 * ```ts
 * import { efficiencySection, measureLoaderEfficiency } from "./efficiency.ts";
 *
 * const root = new URL("..", import.meta.url).pathname;
 * console.log(efficiencySection(await measureLoaderEfficiency(root, 3)));
 * ```
 *
 * @module
 */

/** Where the script lies, relative to the project root. */
const EFFICIENCY_SCRIPT = "../shared/perf/loader-efficiency.sh";

/** One workload's ratios sockecho / C (medians over the script's rounds). */
export interface EfficiencyRow {
  workload: string;
  /** Throughput ratio: below 1, sockecho bench drives less than the C loader. */
  throughput: number;
  /** p99 latency ratio: above 1, sockecho bench sees a worse tail; absent for bulk. */
  p99?: number;
  /** The script's per-round lines for this workload. */
  rounds: string[];
}

/** What {@linkcode measureLoaderEfficiency} found. */
export type EfficiencyResult =
  | { measured: true; rounds: number; rows: EfficiencyRow[] }
  | { measured: false; why: string };

/**
 * Runs the script (by default `../shared/perf/loader-efficiency.sh` beside `root`)
 * from `root` with `rounds` rounds and reads its summary lines;
 * `{ measured: false }` when the script is absent or fails.
 *
 * @example
 * ```ts
 * import { measureLoaderEfficiency } from "./efficiency.ts";
 *
 * const result = await measureLoaderEfficiency("/path/to/sockecho/", 2);
 * if (result.measured) console.log(result.rows[0].throughput);
 * ```
 */
export async function measureLoaderEfficiency(
  root: string,
  rounds: number,
  script = `${root}${EFFICIENCY_SCRIPT}`,
): Promise<EfficiencyResult> {
  try {
    await Deno.stat(script);
  } catch {
    return { measured: false, why: `${script} is not there` };
  }
  const { success, stdout, stderr } = await new Deno.Command("bash", {
    args: [script, String(rounds)],
    cwd: root,
  }).output();
  const text = new TextDecoder().decode(stdout);
  if (!success) {
    const why = new TextDecoder().decode(stderr).trim().split("\n").at(-1);
    return { measured: false, why: `${script} failed: ${why}` };
  }
  return { measured: true, rounds, rows: parseEfficiency(text) };
}

/**
 * Reads the script's output: per-round lines `WORKLOAD: C …, sockecho …`
 * and one summary per workload, `WORKLOAD: sockecho/C throughput X[, p99
 * latency Yx]`.
 *
 * @example
 * ```ts
 * import { parseEfficiency } from "./efficiency.ts";
 *
 * parseEfficiency("bulk: sockecho/C throughput 1.05\n"); // [{ workload: "bulk", … }]
 * ```
 */
export function parseEfficiency(text: string): EfficiencyRow[] {
  const lines = text.split("\n");
  return lines.flatMap((line) => {
    const summary = line.match(
      /^(\w+): sockecho\/C throughput ([\d.]+)(?:, p99 latency ([\d.]+)x)?$/,
    );
    if (!summary) return [];
    const [, workload, throughput, p99] = summary;
    return [{
      workload,
      throughput: Number(throughput),
      ...p99 === undefined ? {} : { p99: Number(p99) },
      rounds: lines.filter((round) => round.startsWith(`${workload}: C `)),
    }];
  });
}

/**
 * The RESULTS.md section for a result: a table, the command that remakes
 * it, and the per-round figures; or why it was not measured.
 *
 * @example
 * ```ts
 * import { efficiencySection } from "./efficiency.ts";
 *
 * efficiencySection({ measured: false, why: "no script" });
 * ```
 */
export function efficiencySection(result: EfficiencyResult): string {
  const heading = "## Loader efficiency (sockecho bench against a C load generator)\n\n";
  if (!result.measured) return `${heading}Not measured: ${result.why}.\n`;
  const describe: Record<string, string> = {
    pingpong: "pingpong 50 × 64 B",
    bulk: "bulk 1 connection, 64 KiB writes",
  };
  const rows = result.rows.map(({ workload, throughput, p99 }) =>
    `| ${describe[workload] ?? workload} | ${throughput.toFixed(2)}× | ${
      p99 === undefined ? "n/a" : `${p99.toFixed(2)}×`
    } |`
  );
  return `${heading}Made by \`${EFFICIENCY_SCRIPT} ${result.rounds}\` from the project root: the C
epoll echo server on core 0, the C loader and \`sockecho bench\` in turn on core 1 against it
(both with a 1 s warm-up). Medians of the per-round ratios sockecho / C: throughput below 1, or
p99 above 1, means \`sockecho bench\` measures itself more than the server.

| workload | throughput sockecho / C | p99 latency sockecho / C (lower is better) |
| --- | --- | --- |
${rows.join("\n")}

Rounds (throughput: round trips/s or MB/s; p99 in µs):

${result.rows.flatMap((row) => row.rounds).map((line) => `    ${line}`).join("\n")}
`;
}
