/**
 * `deno task bench`: sockecho's server against the echo servers a user would
 * pick instead (a Node.js `net` echo, and socat with a forking PIPE when
 * installed; `compare_servers.ts` says how each runs), one after another on
 * loopback, the server on core 0 and the load (`sockecho bench`) on core 1
 * when `taskset` exists. Workloads
 * alternate between servers, several rounds; the medians and the ratios
 * sockecho / peer go to stdout and to bench/RESULTS.md.
 *
 * Every load is bounded (`--seconds` each) and stops by itself.
 *
 * TLS rows (pingpong over one connection and over 50, bulk, and handshakes:
 * connect, handshake, one echo, close) compare `sockecho serve --tls` with a Node `tls` echo
 * (bench/node_tls_echo.mjs), both with a fresh self-signed ECDSA P-256
 * certificate, loaded by `sockecho bench --tls --insecure` (which pins the
 * certificate it is shown: the same cost as `--pin`). The HTTP rows
 * (`compare_http.ts`) set `serve --http` against a bare `Deno.serve` and a
 * node:http echo under `wrk`; the HTTP loader rows (`compare_http_loaders.ts`)
 * set `sockecho bench --http` against wrk on one `serve --http`.
 * `--only tls`, `--only plain` or `--only http` (both HTTP parts) runs one part.
 *
 * @example
 * ```sh
 * deno task bench --rounds 3 --seconds 5
 * deno task bench --rounds 1 --seconds 1 --idle 200 --out bench/try.md  # a quick check
 * deno task bench --rounds 3 --seconds 3 --only tls --out bench/tls.md
 * ```
 *
 * `--rate` sets the offered rate of the fixed-rate latency row (round trips/s
 * over 50 connections, default 10,000); `--efficiency-rounds` the rounds of
 * the loader-efficiency table (`../shared/perf/loader-efficiency.sh`, or
 * `--efficiency-script PATH`, run when it is there; 0 skips it).
 *
 * `--out` must lie under `bench/`: the task may write nowhere else.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { BenchReport } from "./bench.ts";
import { efficiencySection, measureLoaderEfficiency } from "./efficiency.ts";
import {
  idleBytesPerConnection,
  installed,
  lineup,
  type Running,
  type Server,
  start,
  stop,
} from "./compare_servers.ts";
import { httpSection } from "./compare_http.ts";
import { HTTP_FIGURES, httpRound, loaderSection } from "./compare_http_loaders.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "5" },
    idle: { type: "string", default: "10000" },
    rate: { type: "string", default: "10000" },
    "efficiency-rounds": { type: "string", default: "3" },
    "efficiency-script": { type: "string" },
    out: { type: "string", default: new URL("./RESULTS.md", import.meta.url).pathname },
    only: { type: "string" },
  },
});
if (flags.only !== undefined && !["tls", "plain", "http"].includes(flags.only)) {
  throw new Error(`--only takes "tls", "plain" or "http", not "${flags.only}"`);
}
const PLAIN = flags.only === undefined || flags.only === "plain";
const TLS = flags.only === undefined || flags.only === "tls";
const HTTP = flags.only === undefined || flags.only === "http";
const ROUNDS = Number(flags.rounds);
const SECONDS = flags.seconds;
const IDLE_CONNECTIONS = Number(flags.idle);
const ROOT = new URL("..", import.meta.url).pathname;
const MAIN = `${ROOT}main.ts`;

const pinned = await installed("taskset");
/** Runs on one core when taskset is there, so server and load never share one. */
const onCore = (core: number, argv: string[]) =>
  pinned ? ["taskset", "-c", String(core), ...argv] : argv;
/** The servers run on core 0, the load on core 1. */
const startOnCore0 = (server: Server) => start({ ...server, argv: onCore(0, server.argv) });

const { plain: SERVERS, logging: LOGGING, tls: TLS_SERVERS, http: HTTP_SERVER } = await lineup(
  ROOT,
);

/** One figure read off a bench report. */
interface Figure {
  name: string;
  unit: string;
  of: (report: BenchReport) => number;
  lowerIsBetter?: boolean;
}

/** One `sockecho bench` run per server and round; it may yield several figures. */
interface Workload {
  args: string[];
  figures: Figure[];
  /** Also measured against sockecho with its log on. */
  logged?: boolean;
}

const roundTrips = (name: string): Figure => ({
  name,
  unit: "round trips/s",
  of: (r) => r.operationsPerSecond,
});
const megabytes = (name: string): Figure => ({
  name,
  unit: "MB/s",
  of: (r) => r.megabytesPerSecond,
});

const WORKLOADS: Workload[] = [
  { args: ["-m", "pingpong", "-c", "1", "-s", "21"], figures: [roundTrips("pingpong 1 × 21 B")] },
  {
    args: ["-m", "pingpong", "-c", "50", "-s", "64"],
    figures: [
      roundTrips("pingpong 50 × 64 B"),
      {
        name: "pingpong 50 × 64 B p99",
        unit: "ms",
        of: (r) => r.latencyMs!.p99,
        lowerIsBetter: true,
      },
    ],
    logged: true,
  },
  { args: ["-m", "bulk", "-c", "1"], figures: [megabytes("bulk 1 connection")] },
  { args: ["-m", "bulk", "-c", "8"], figures: [megabytes("bulk 8 connections")], logged: true },
  {
    // Open model: the same offered rate for every server, latency from when each send was due.
    args: ["-m", "pingpong", "-c", "50", "-s", "64", "--rate", flags.rate],
    figures: (["p50", "p99", "p999"] as const).map((key) => ({
      name: `fixed rate ${Number(flags.rate).toLocaleString("en-US")}/s, 50 × 64 B, ${
        key === "p999" ? "p99.9" : key
      }`,
      unit: "ms",
      of: (r: BenchReport) => r.latencyMs?.[key] ?? NaN,
      lowerIsBetter: true,
    })),
  },
  {
    args: ["-m", "connect", "-c", "8", "-s", "21"],
    figures: [{ name: "connect rate", unit: "connections/s", of: (r) => r.operationsPerSecond }],
  },
];
/** The TLS rows: the same loads over TLS, and the handshake rate. */
const TLS_WORKLOADS: Workload[] = ([
  {
    args: ["-m", "pingpong", "-c", "1", "-s", "21"],
    figures: [roundTrips("TLS pingpong 1 × 21 B")],
  },
  {
    args: ["-m", "pingpong", "-c", "50", "-s", "64"],
    figures: [roundTrips("TLS pingpong 50 × 64 B"), {
      name: "TLS pingpong 50 × 64 B p99",
      unit: "ms",
      of: (r) => r.latencyMs!.p99,
      lowerIsBetter: true,
    }],
  },
  { args: ["-m", "bulk", "-c", "1"], figures: [megabytes("TLS bulk 1 connection")] },
  { args: ["-m", "bulk", "-c", "8"], figures: [megabytes("TLS bulk 8 connections")] },
  {
    args: ["-m", "connect", "-c", "8", "-s", "21"],
    figures: [{
      name: "TLS handshakes (connect, handshake, one echo, close)",
      unit: "handshakes/s",
      of: (r) => r.operationsPerSecond,
    }],
  },
] satisfies Workload[]).map((workload) => ({
  ...workload,
  args: [...workload.args, "--tls", "--insecure"],
}));
/** Not read off a load: measured by idleBytesPerConnection. */
const IDLE: Omit<Figure, "of"> = {
  name: "idle RSS per connection",
  unit: "KiB",
  lowerIsBetter: true,
};

/**
 * Runs `sockecho bench` on core 1 against `port`. A failed run (a server
 * that stalls, closes early or echoes wrong bytes) is logged with `label` and
 * yields undefined: one peer's failure must not end the whole comparison.
 */
async function load(port: number, args: string[], label: string): Promise<BenchReport | undefined> {
  const [command, ...argv] = onCore(1, [Deno.execPath(), "run", "-N", MAIN, "bench", "127.0.0.1"]);
  const { code, stdout, stderr } = await new Deno.Command(command, {
    args: [...argv, "-p", String(port), "-d", SECONDS, "--json", ...args],
  }).output();
  if (code === 0) return JSON.parse(new TextDecoder().decode(stdout));
  console.error(`${label}: failed (exit ${code}): ${new TextDecoder().decode(stderr).trim()}`);
  return undefined;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// "figure|server" → one value per round; NaN for a round whose run failed.
const results = new Map<string, number[]>();
const record = (figure: string, server: string, value: number) =>
  results.set(`${figure}|${server}`, [...results.get(`${figure}|${server}`) ?? [], value]);

/**
 * Runs `workload` once against each of `servers`, the order rotated by
 * `round` (A B, then B A, …) so that neither always goes first.
 */
async function measure(round: number, servers: Running[], workload: Workload): Promise<void> {
  const order = [...servers];
  for (let i = 1; i < round; i++) order.push(order.shift()!);
  for (const server of order) {
    const label = `round ${round}: ${workload.figures[0].name} ${server.server.name}`;
    const report = await load(server.port, workload.args, label);
    for (const { name, unit, of } of workload.figures) {
      const value = report ? of(report) : NaN;
      record(name, server.server.name, value);
      if (report) {
        console.error(`round ${round}: ${name} ${server.server.name}: ${value.toFixed(1)} ${unit}`);
      }
    }
  }
}

const running = PLAIN ? await Promise.all([...SERVERS, LOGGING].map(startOnCore0)) : [];
const runningTls = TLS ? await Promise.all(TLS_SERVERS.map(startOnCore0)) : [];
const runningHttp = HTTP ? [await startOnCore0(HTTP_SERVER)] : [];
const httpContext = { seconds: SECONDS, main: MAIN, onCore, record };
const [ours, logged] = [running[0], running.at(-1)!];
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const workload of PLAIN ? WORKLOADS : []) {
      await measure(round, running.slice(0, SERVERS.length), workload);
      if (!workload.logged) continue;
      // Logging cost: quiet and log-on sockecho back to back, in alternating order.
      const [headline] = workload.figures;
      for (const server of round % 2 ? [ours, logged] : [logged, ours]) {
        const name = `${headline.name} (paired)`;
        const report = await load(server.port, workload.args, `round ${round}: ${name}`);
        record(name, server.server.name, report ? headline.of(report) : NaN);
      }
    }
    for (const workload of TLS ? TLS_WORKLOADS : []) await measure(round, runningTls, workload);
    for (const { port } of runningHttp) await httpRound(round, port, httpContext);
  }
  for (const server of running.slice(0, SERVERS.length).filter((r) => r.server.holdsIdle)) {
    const perConnection = await idleBytesPerConnection(server, IDLE_CONNECTIONS);
    record(IDLE.name, server.server.name, perConnection / 1024);
  }
} finally {
  await Promise.all([...running, ...runningTls, ...runningHttp].map(stop));
}
const http = HTTP
  ? await httpSection({ root: ROOT, rounds: ROUNDS, seconds: SECONDS, onCore })
  : "";
// After the servers have stopped: the script pins its own server and loaders to the same cores.
const efficiencyRounds = Number(flags["efficiency-rounds"]);
const efficiency = PLAIN && efficiencyRounds > 0
  ? await measureLoaderEfficiency(ROOT, efficiencyRounds, flags["efficiency-script"])
  : { measured: false as const, why: "skipped (--efficiency-rounds 0 or --only tls/http)" };

// Deno reads /proc files only with --allow-all; cat needs just --allow-run.
const cpuinfo = await new Deno.Command("cat", { args: ["/proc/cpuinfo"] }).output();
const cpu = new TextDecoder().decode(cpuinfo.stdout).match(/^model name\s*:\s*(.*)$/m)?.[1] ??
  "unknown";
const runsOf = (figure: string, server: string) => results.get(`${figure}|${server}`) ?? [];
/** The median of the runs that succeeded; undefined when none did. */
const cell = (figure: string, server: string) => {
  const succeeded = runsOf(figure, server).filter((value) => !Number.isNaN(value));
  return succeeded.length > 0 ? median(succeeded) : undefined;
};
const fmt = (value: number | undefined) =>
  value === undefined
    ? "n/a"
    : value >= 100
    ? Math.round(value).toLocaleString("en-US")
    : value.toFixed(3);
/** A table cell: the median, and how many runs failed if any did. */
const shown = (figure: string, server: string) => {
  const runs = runsOf(figure, server);
  const failed = runs.filter(Number.isNaN).length;
  const value = failed > 0 && failed === runs.length ? "failed" : fmt(cell(figure, server));
  return failed === 0 ? value : `${value} (${failed} of ${runs.length} runs failed)`;
};
const ratio = (ours: number | undefined, theirs: number | undefined) =>
  ours === undefined || theirs === undefined ? "n/a" : `${(ours / theirs).toFixed(2)}×`;
/** A table of `figures`, one column per server of `names` (sockecho first), and the ratios. */
const table = (figures: Omit<Figure, "of">[], names: string[]) => {
  const peers = names.slice(1);
  return [
    `| workload | unit | ${names.join(" | ")} | ${
      peers.map((p) => `sockecho / ${p}`).join(" | ")
    } |`,
    `| --- | --- | ${names.map(() => "---").join(" | ")} | ${peers.map(() => "---").join(" | ")} |`,
    ...figures.map(({ name, unit, lowerIsBetter }) => {
      const ratios = peers.map((peer) => ratio(cell(name, "sockecho"), cell(name, peer)));
      return `| ${name} | ${unit}${lowerIsBetter ? " (lower is better)" : ""} | ${
        names.map((n) => shown(name, n)).join(" | ")
      } | ${ratios.join(" | ")} |`;
    }),
  ].join("\n");
};
/** Each round's value of `figures`, one column per server: how far single runs spread. */
const roundsTable = (figures: Omit<Figure, "of">[], names: string[]) =>
  [
    `| workload | ${names.join(" | ")} |`,
    `| --- | ${names.map(() => "---").join(" | ")} |`,
    ...figures.map(({ name, unit }) =>
      `| ${name} (${unit}) | ${
        names.map((n) =>
          runsOf(name, n).map((v) => fmt(Number.isNaN(v) ? undefined : v)).join(" / ")
        )
          .join(" | ")
      } |`
    ),
  ].join("\n");
const logging = WORKLOADS.filter((w) => w.logged).map(({ figures: [{ name }] }) => {
  const paired = `${name} (paired)`;
  return `| ${name} | ${shown(paired, "sockecho")} | ${shown(paired, LOGGING.name)} | ${
    ratio(cell(paired, LOGGING.name), cell(paired, "sockecho"))
  } |`;
});
const failures = [...results.values()].some((runs) => runs.some(Number.isNaN))
  ? "A failed run is one where `sockecho bench` exited non-zero (the script's stderr says why: " +
    "a server that stalled, closed early or echoed wrong bytes); such a cell's median is of " +
    "the runs that succeeded.\n\n"
  : "";
const plainSection = `${
  table([...WORKLOADS.flatMap((w) => w.figures), IDLE], SERVERS.map((s) => s.name))
}

${failures}Idle memory: growth of the server's RSS with ${IDLE_CONNECTIONS} connections open, each having echoed one
byte, divided by ${IDLE_CONNECTIONS} (socat forks a process per connection: not measured).

Fixed rate: \`sockecho bench HOST -c 50 -s 64 --rate ${flags.rate} -d ${SECONDS}\` (after a 1 s
warm-up) offers the same rate to every server, each send on a fixed schedule, and times each
round trip from when it was due, so a server's stall shows in its tail rather than slowing the load.

## Logging cost

sockecho with its log on (stdout to a pipe this script drains) against \`serve -q\`, run back to
back in alternating order each round (medians of those paired runs):

| workload | quiet | log on | log on / quiet |
| --- | --- | --- | --- |
${logging.join("\n")}

${efficiencySection(efficiency)}
`;
const tlsSection = `## TLS

\`sockecho serve --tls\` (its ephemeral ECDSA P-256 certificate) against bench/node_tls_echo.mjs
(Node \`tls.createServer\` piping each socket to itself, with a certificate of the same kind),
loaded by \`sockecho bench --tls --insecure\` (it pins the certificate it is shown).

${table(TLS_WORKLOADS.flatMap((w) => w.figures), TLS_SERVERS.map((s) => s.name))}

${
  PLAIN
    ? ""
    : failures
}Each round's values, in the order of the rounds (the machine may be shared: a single run can
stray far from the median):

${roundsTable(TLS_WORKLOADS.flatMap((w) => w.figures), TLS_SERVERS.map((s) => s.name))}
`;
const loaders = loaderSection(table(HTTP_FIGURES, ["sockecho", "wrk"]), SECONDS);
const report = `# Benchmark results

Made by \`deno task bench --rounds ${ROUNDS} --seconds ${SECONDS} --idle ${IDLE_CONNECTIONS} --rate ${flags.rate} --efficiency-rounds ${efficiencyRounds}${
  flags.only ? ` --only ${flags.only}` : ""
}\` on
${
  new Date().toISOString().slice(0, 10)
}: ${cpu}, ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno},
${
  pinned
    ? "server on core 0 and load (`sockecho bench`, one thread) on core 1"
    : "no taskset: server and load unpinned"
}.
Medians of ${ROUNDS} rounds, servers alternating within each round; ratio = sockecho / peer.

${[PLAIN && plainSection, TLS && tlsSection, http, HTTP && loaders].filter(Boolean).join("\n")}`;
await Deno.writeTextFile(flags.out, report);
console.log(report);
