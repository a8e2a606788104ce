/**
 * The HTML report of `bench --html` and `sockecho report`: one
 * self-contained page (inline CSS and SVG, no script, nothing fetched: its
 * Content-Security-Policy forbids even that) drawn from `bench --json` or
 * `merge --json` reports. It holds HdrHistogram's percentile plot of each
 * run's decoded histogram (the curves overlay, one colour per run), each
 * second's round trips and p99, the counters, and where each run came from
 * (command and machine). Every text taken from a report is escaped.
 *
 * @example
 * ```ts
 * import { parseReport } from "./merge.ts";
 * import { renderReport } from "./report.ts";
 *
 * const runs = await Promise.all(["before.json", "after.json"].map(async (file) => ({
 *   name: file,
 *   report: parseReport(await Deno.readTextFile(file), file).report,
 * })));
 * await Deno.writeTextFile("report.html", renderReport(runs));
 * ```
 *
 * @module
 */

import type { BenchReport } from "./bench.ts";
import type { Histogram } from "./histogram.ts";
import { decodeHistogram } from "./histogram_codec.ts";
import {
  element,
  Markup,
  markup,
  percentilePlot,
  type PercentileStep,
  timePlot,
  type TimeSeries,
} from "./report_svg.ts";
import { formatCount, plural } from "../net/format.ts";

export type { PercentileStep };

/** One run of a report: a name for the legend and what `bench --json` (or `merge --json`) wrote. */
export interface ReportRun {
  /** How the legend and the tables call it: a file name, or what the run was. */
  name: string;
  /**
   * The report. Fields beyond {@linkcode BenchReport}'s are read with care,
   * since a file may hold anything: `command` and `machine` (the facts of
   * `bench --json`), `cutShort`, and `parts` (a merge's files).
   */
  report: BenchReport & {
    command?: unknown;
    machine?: unknown;
    cutShort?: unknown;
    parts?: unknown;
  };
}

/** Options for {@linkcode renderReport}. */
export interface ReportOptions {
  /** The page's title and heading. @default {"sockecho bench report"} */
  title?: string;
  /** Percentile steps per half of the distance to 100 %, as HdrHistogram's tools. @default {5} */
  ticksPerHalfDistance?: number;
}

/**
 * Colours told apart by most eyes, colour-blind ones too (Okabe and Ito's
 * palette, its yellow left out: too pale on white).
 */
const COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];

/**
 * The percentile steps of `histogram` as HdrHistogram's percentile iteration
 * gives them (`PercentileIterator`, what `HistogramLogProcessor` prints):
 * `ticksPerHalfDistance` steps from 0 % to 50 %, as many from 50 % to 75 %,
 * and so on, each at the first recorded value whose cumulative count reaches
 * it, then once more at 100 %. Empty for an empty histogram.
 *
 * @example
 * ```ts
 * import { Histogram } from "./histogram.ts";
 * import { percentileSteps } from "./report.ts";
 *
 * const histogram = new Histogram();
 * [1000, 2000, 3000, 4000].forEach((ns) => histogram.record(ns));
 * percentileSteps(histogram).map((step) => step.percentile); // [0, 10, 20, 30, 40, 50, 55, …, 100]
 * ```
 */
export function percentileSteps(histogram: Histogram, ticksPerHalfDistance = 5): PercentileStep[] {
  const steps: PercentileStep[] = [];
  const total = histogram.totalCount;
  let [level, seen, valueNs] = [0, 0, 0];
  for (let i = 0; i < histogram.counts.length && seen < total; i++) {
    if (histogram.counts[i] === 0) continue;
    seen += histogram.counts[i];
    valueNs = histogram.highestEquivalent(histogram.valueFromIndex(i));
    // A slot may pass several levels; once all is counted, only the last step is left.
    while ((100 * seen) / total >= level) {
      steps.push({ percentile: level, valueNs });
      // The reference's tick: fixed within each half of the remaining distance to 100 %.
      const halvings = Math.trunc(Math.log(100 / (100 - level)) / Math.log(2));
      level += 100 / (ticksPerHalfDistance * 2 ** (halvings + 1));
      if (seen === total) break;
    }
  }
  if (total > 0) steps.push({ percentile: 100, valueNs });
  return steps;
}

/**
 * The report of `runs` as one HTML page. Throws a `TypeError` when a run's
 * histogram does not decode (`parseReport` has checked that of a file).
 *
 * @example
 * ```ts
 * import type { BenchReport } from "./bench.ts";
 * import { renderReport } from "./report.ts";
 *
 * declare const report: BenchReport;
 * const page = renderReport([{ name: "this run", report }], { title: "after the fix" });
 * ```
 */
export function renderReport(runs: ReportRun[], options: ReportOptions = {}): string {
  const title = options.title ?? "sockecho bench report";
  const drawn = runs.map((run, i) => {
    const histogram = run.report.histogram === null ? null : decodeHistogram(run.report.histogram);
    return { ...run, color: COLOURS[i % COLOURS.length], histogram };
  });
  const plot = percentilePlot(drawn.map((run) => ({
    name: run.name,
    note: noteOf(run.report, run.histogram),
    color: run.color,
    steps: run.histogram ? percentileSteps(run.histogram, options.ticksPerHalfDistance) : [],
  })));
  const names = drawn.map((run, i) =>
    markup`${i > 0 && ", "}${element("span", { style: `color:${run.color}` }, run.name)}`
  );
  return markup`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${title}</h1>
<p class="lede">${plural(runs.length, "run")}: ${names}</p>
<section><h2>Latency by percentile</h2>
<figure>${plot}<figcaption>HdrHistogram's percentile plot: each run's latency at the percentile
steps of its histogram (${options.ticksPerHalfDistance ?? 5} per half of the distance to 100 %),
1/(1−p) on a log scale, so that the tail gets as much room as the median.</figcaption></figure>
${percentileTable(drawn)}
<p class="small">Latencies in ms, each the top of its histogram slot (within 0.1 %). Bulk runs
measure no latency.</p></section>
<section><h2>Over time</h2>${overTime(drawn)}</section>
<section><h2>Counters</h2>${counterTable(drawn)}
<p class="small">A run that fails (an echo that differs, a reset, a timeout) ends with its exit
code and writes no report, so every run here completed without an echo error.</p></section>
<section><h2>Runs</h2>${drawn.map(factsOf)}</section>
</body>
</html>
`.text;
}

type Drawn = ReportRun & { color: string; histogram: Histogram | null };

/** The legend's note: the workload and the headline figures. */
function noteOf(report: ReportRun["report"], histogram: Histogram | null): string {
  const p99 = histogram?.summary()?.p99;
  return `${report.mode}, ${formatCount(report.connections)} × ${formatCount(report.size)} B, ` +
    `${perSecond(report)}/s` +
    (p99 === undefined ? "" : `, p99 ${p99.toFixed(3)} ms`);
}

/** A table of a header row and a row per run, the run named in its colour. */
function table(headers: string[], runs: Drawn[], cells: (run: Drawn) => string[]): Markup {
  const rows = runs.map((run) =>
    element(
      "tr",
      {},
      element("th", { class: "name" }, swatch(run.color), run.name),
      cells(run).map((cell) => element("td", {}, cell)),
    )
  );
  const head = element("tr", {}, ["run", ...headers].map((header) => element("th", {}, header)));
  return element("table", {}, element("thead", {}, head), element("tbody", {}, rows));
}

function swatch(color: string): Markup {
  return element("span", { class: "swatch", style: `background:${color}` });
}

function percentileTable(runs: Drawn[]): Markup {
  const ms = (value: number | undefined) => value === undefined ? "–" : value.toFixed(3);
  return table(["count", "min", "p50", "p90", "p99", "p99.9", "max"], runs, (run) => {
    const summary = run.histogram?.summary() ?? undefined;
    return [
      formatCount(summary?.count ?? 0),
      ...[summary?.min, summary?.p50, summary?.p90, summary?.p99, summary?.p999, summary?.max]
        .map(ms),
    ];
  });
}

/** A number from a report, or null when it is not one (a file may hold anything). */
function numberOr(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** Operations per second, rounded; a dash where a foreign report has no such number. */
function perSecond(report: ReportRun["report"]): string {
  const rate = numberOr(report.operationsPerSecond);
  return rate === null ? "–" : formatCount(Math.round(rate));
}

/**
 * Intervals shorter than this are left out of the charts over time: the
 * last one of a run may be a millisecond long, and a rate over it is noise.
 */
const SHORTEST_MS = 100;

/** Round trips (or connections, writes) per second and p99, second by second. */
function overTime(runs: Drawn[]): Markup {
  const series = runs.flatMap((run) => {
    const measured = (Array.isArray(run.report.intervals) ? run.report.intervals : [])
      .filter((interval) =>
        interval?.phase === "measure" &&
        (numberOr(interval.endMs) ?? 0) - (numberOr(interval.startMs) ?? Infinity) >= SHORTEST_MS
      );
    if (measured.length === 0) return [];
    const start = Math.min(...measured.map((interval) => interval.startMs));
    const at = (interval: BenchReport["intervals"][0]) => (interval.endMs - start) / 1000;
    return [{
      rate: measured.map((i) => ({ seconds: at(i), value: numberOr(i.operationsPerSecond) })),
      p99: measured.map((i) => ({ seconds: at(i), value: numberOr(i.latencyMs?.p99) })),
      run,
    }];
  });
  if (series.length === 0) {
    return markup`<p class="none">These reports have no measured interval of a tenth of a second
or more.</p>`;
  }
  const lines = (pick: (s: (typeof series)[0]) => TimeSeries["points"]) =>
    series.map((s) => ({ name: s.run.name, color: s.run.color, points: pick(s) }));
  const latency = series.some((s) => s.p99.some((point) => point.value !== null));
  return markup`<figure>${timePlot("per second", lines((s) => s.rate))}<figcaption>Operations per
second (round trips, connections or bulk writes), each measured second (not the warm-up, nor a last
interval under 0.1 s).</figcaption></figure>
${
    latency && markup`<figure>${timePlot("p99 (ms)", lines((s) => s.p99))}<figcaption>The 99th
percentile of each second's latencies, in ms.</figcaption></figure>`
  }`;
}

function counterTable(runs: Drawn[]): Markup {
  const headers = ["operations", "per s", "MB/s", "bytes echoed", "measured s", "rate offered"];
  return table([...headers, "shortfall", "lost (UDP)", "cut short"], runs, ({ report }) => {
    const rate = report.rate as Partial<NonNullable<BenchReport["rate"]>> | null | undefined;
    const [offered, shortfall, lost] = [rate?.offered, rate?.shortfallPercent, report.lost]
      .map(numberOr);
    return [
      formatCount(report.operations),
      perSecond(report),
      numberOr(report.megabytesPerSecond)?.toFixed(1) ?? "–",
      formatCount(report.bytes),
      (report.elapsedMs / 1000).toFixed(2),
      offered === null ? "–" : formatCount(Math.round(offered)),
      shortfall === null ? "–" : `${shortfall.toFixed(1)} %`,
      lost === null ? "–" : formatCount(lost),
      report.cutShort === true ? "yes" : "no",
    ];
  });
}

/** A run's workload, command line and machine; for a merge, each merged file's too. */
function factsOf(run: Drawn): Markup {
  const { report } = run;
  const shard = report.shard as { index?: unknown; count?: unknown } | null;
  const started = numberOr(report.startTimeMs);
  const load = [
    `${report.mode} against ${report.target}`,
    `${plural(report.connections, "connection")} × ${formatCount(report.size)} B`,
    plural(report.workers, "worker"),
    `${(report.elapsedMs / 1000).toFixed(2)} s measured after ${report.warmupMs / 1000} s warm-up`,
    ...shard && typeof shard === "object" ? [`shard ${shard.index} of ${shard.count}`] : [],
    // Date's range: a foreign number beyond it would throw.
    ...started !== null && Math.abs(started) < 8.64e15
      ? [`started ${new Date(started).toISOString()}`]
      : [],
  ];
  const parts = (Array.isArray(report.parts) ? report.parts : []).map((part) =>
    element(
      "li",
      {},
      element("b", {}, typeof part?.file === "string" ? part.file : "?"),
      element("dl", {}, originOf(part ?? {})),
    )
  );
  return element(
    "div",
    { class: "run" },
    element("h3", {}, swatch(run.color), run.name),
    element(
      "dl",
      {},
      fact("load", load.join(" · ")),
      originOf(report),
      parts.length > 0 && fact("merged from", element("ul", {}, parts)),
    ),
  );
}

function fact(term: string, description: unknown): Markup {
  return markup`${element("dt", {}, term)}${element("dd", {}, description)}`;
}

/** The command line and machine a report names, each when it is there. */
function originOf(report: { command?: unknown; machine?: unknown }): Markup {
  const { command, machine } = report;
  const words = Array.isArray(command) ? command.map((word) => shellWord(String(word))) : [];
  const facts = machine !== null && typeof machine === "object" && !Array.isArray(machine)
    ? Object.entries(machine).filter(([, value]) => ["string", "number"].includes(typeof value))
    : [];
  return markup`${
    words.length > 0 && fact("command", element("code", {}, `sockecho ${words.join(" ")}`))
  }${
    facts.length > 0 && fact("machine", facts.map(([key, value]) => `${key} ${value}`).join(" · "))
  }`;
}

/** A word as a POSIX shell reads it back: quoted when it holds anything but plain characters. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The page's CSS: a constant of this module, the one text put in unescaped. */
const STYLE = new Markup(`
:root { color-scheme: light; --ink: #1b1f24; --muted: #5b6470; --line: #d8dde3; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1000px; padding: 24px 20px 40px; color: var(--ink);
  font: 15px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Liberation Sans",
    "DejaVu Sans", sans-serif; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 16px 0 4px; }
.lede, .small, figcaption, .none { color: var(--muted); }
.small, figcaption { font-size: 13px; }
figure { margin: 0 0 12px; }
svg { display: block; max-width: 100%; height: auto; font-size: 12px; fill: var(--ink); }
svg .grid { stroke: #eceff2; }
svg .axis { stroke: #8a939d; }
svg .axis-title { font-size: 13px; fill: var(--muted); }
svg .legend rect { fill: #fff; fill-opacity: 0.92; stroke: var(--line); }
svg .run-name { font-weight: 600; }
svg .note { fill: var(--muted); }
svg polyline.run { fill: none; stroke-width: 2.25; stroke-linejoin: round; }
svg g.run path { fill: none; stroke-width: 2; stroke-linejoin: round; }
svg g.run circle { stroke: none; }
svg .legend-row line { stroke-width: 3; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; font-size: 14px; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
thead th { font-weight: 600; color: var(--muted); }
th.name, thead th:first-child { text-align: left; font-weight: 600; white-space: normal;
  overflow-wrap: anywhere; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 6px;
  vertical-align: -1px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
ul { margin: 0; padding-left: 18px; }
code { font: 13px ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
`);
