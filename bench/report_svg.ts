/**
 * The charts of `sockecho report`, drawn as inline SVG by hand (no chart
 * library, no script: the page renders as it is parsed), and the two ways
 * its markup is written, both escaping every value put in: run names,
 * targets and commands come from JSON files that anyone may have written.
 *
 * - {@linkcode percentilePlot}: HdrHistogram's classic plot, latency against
 *   1/(1−p) on a log scale, labelled 0 %, 50 %, 90 %, 99 %, 99.9 %…;
 * - {@linkcode timePlot}: one figure second by second (round trips/s, p99);
 * - {@linkcode markup} (a template tag) and {@linkcode element}.
 *
 * @example
 * ```ts
 * import { markup, percentilePlot } from "./report_svg.ts";
 *
 * const plot = percentilePlot([{
 *   name: "<b>run</b>", // shown as text
 *   note: "pingpong",
 *   color: "#0072B2",
 *   steps: [{ percentile: 0, valueNs: 20_000 }, { percentile: 50, valueNs: 30_000 }],
 * }]);
 * console.log(markup`<figure>${plot}</figure>`.text.includes("&lt;b&gt;")); // true
 * ```
 *
 * @module
 */

import { formatCount } from "../net/format.ts";

/** Markup that is safe as it is: what {@linkcode markup} and {@linkcode element} return. */
export class Markup {
  /** @param text HTML (or SVG) source. */
  constructor(readonly text: string) {}
}

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Markup from a template: each interpolated value is escaped for a text node
 * or a quoted attribute, unless it is {@linkcode Markup}; arrays are joined,
 * and null, undefined and false leave nothing. (Not named `html`: deno fmt
 * would reformat the templates, and with them the page.)
 *
 * @example
 * ```ts
 * import { markup } from "./report_svg.ts";
 *
 * markup`<td>${"<script>"}</td>`.text; // "<td>&lt;script&gt;</td>"
 * ```
 */
export function markup(strings: TemplateStringsArray, ...values: unknown[]): Markup {
  let text = strings[0];
  values.forEach((value, i) => text += piece(value) + strings[i + 1]);
  return new Markup(text);
}

/**
 * One element: `attributes` escaped (those undefined or false left out),
 * `children` as {@linkcode markup} takes values.
 *
 * @example
 * ```ts
 * import { element } from "./report_svg.ts";
 *
 * element("text", { x: 10, y: 20 }, "a < b").text; // '<text x="10" y="20">a &lt; b</text>'
 * ```
 */
export function element(
  name: string,
  attributes: Record<string, string | number | undefined | false>,
  ...children: unknown[]
): Markup {
  const pairs = Object.entries(attributes).filter(([, value]) =>
    value !== undefined && value !== false
  )
    .map(([key, value]) => ` ${key}="${piece(value)}"`).join("");
  return new Markup(`<${name}${pairs}>${piece(children)}</${name}>`);
}

function piece(value: unknown): string {
  if (value instanceof Markup) return value.text;
  if (Array.isArray(value)) return value.map(piece).join("");
  if (value === null || value === undefined || value === false) return "";
  return String(value).replace(/[&<>"']/g, (char) => ENTITIES[char]);
}

/** One point of HdrHistogram's percentile iteration: a level and the latency reached there. */
export interface PercentileStep {
  /** The percentile level, 0 to 100. */
  percentile: number;
  /** The latency at that level, in ns (the top of its histogram slot). */
  valueNs: number;
}

/** One run's curve in the percentile plot. */
export interface PercentileSeries {
  /** The run's name in the legend (escaped). */
  name: string;
  /** A short description after the name (escaped). */
  note: string;
  /** A CSS colour. */
  color: string;
  /** Its percentile steps; those at 100 % (1/(1−p) is infinite) are not drawn. */
  steps: PercentileStep[];
}

/** One run's line in a {@linkcode timePlot}: a value per interval, null where it has none. */
export interface TimeSeries {
  name: string;
  color: string;
  points: { seconds: number; value: number | null }[];
}

const WIDTH = 960;
const MARGIN = { left: 72, right: 36, top: 16, bottom: 46 };
/** Fewest and most decades of 1/(1−p) the x axis shows: to 99.9 % at least, 99.99999 % at most. */
const [MIN_DECADES, MAX_DECADES] = [3, 7];
/** Legend names longer than this are cut (the whole name is the tooltip and in the tables). */
const NAME_CHARS = 48;

/**
 * The percentile plot of `series` as an `<svg class="percentiles">`: x is
 * 1/(1−p) on a log scale, labelled at 0 %, 50 % and each further nine (90 %,
 * 99 %, …) as far as the data go (to 99.9 % at least), y the latency in ms
 * from 0. Each run is one `<polyline class="run">` with a point per step
 * below 100 %, their number in its `data-points`; a legend names the runs.
 *
 * @example
 * ```ts
 * import { percentilePlot } from "./report_svg.ts";
 *
 * const svg = percentilePlot([]).text; // the axes alone
 * ```
 */
export function percentilePlot(series: PercentileSeries[]): Markup {
  const frame = frameOf(440);
  const drawn = series.map((run) => run.steps.filter((step) => step.percentile < 100));
  const depth = (percentile: number) => Math.log10(100 / (100 - percentile));
  const deepest = Math.max(0, ...drawn.flat().map((step) => depth(step.percentile)));
  const decades = Math.min(MAX_DECADES, Math.max(MIN_DECADES, Math.ceil(deepest)));
  const x = (percentile: number) =>
    frame.left + frame.width * Math.min(1, depth(percentile) / decades);
  const yAxis = linearAxis(Math.max(0, ...drawn.flat().map((step) => step.valueNs / 1e6)));
  const y = (ms: number) => frame.bottom - frame.height * (ms / yAxis.top);
  const levels = [0, 50, ...Array.from({ length: decades }, (_, d) => 100 - 100 / 10 ** (d + 1))];
  const xTicks = levels.map((level) => {
    const label = `${Number(level.toFixed(decades))}%`;
    return element(
      "g",
      { class: "tick-x", "data-percentile": label },
      verticalLine(x(level), frame),
      element("text", { x: fixed(x(level)), y: frame.bottom + 18, "text-anchor": "middle" }, label),
    );
  });
  const lines = series.map((run, i) =>
    element("polyline", {
      class: "run",
      "data-run": i,
      "data-points": drawn[i].length,
      stroke: run.color,
      points: drawn[i].map((step) => `${fixed(x(step.percentile))},${fixed(y(step.valueNs / 1e6))}`)
        .join(" "),
    }, element("title", {}, run.name))
  );
  return svg("percentiles", frame, "latency by percentile", [
    xTicks,
    horizontalTicks(yAxis, y, frame, "ms"),
    axisTitles(frame, "percentile (log scale of 1/(1−p))", "latency (ms)"),
    lines,
    legend(series, frame),
  ]);
}

/**
 * A figure over time as an `<svg class="over-time">`: x in seconds from each
 * run's first measured interval, y from 0, one `<g class="run">` per run: a
 * path (broken where a value is missing) and a dot per interval.
 *
 * @example
 * ```ts
 * import { timePlot } from "./report_svg.ts";
 *
 * timePlot("round trips/s", [{
 *   name: "a",
 *   color: "#0072B2",
 *   points: [{ seconds: 1, value: 9000 }, { seconds: 2, value: 9500 }],
 * }]);
 * ```
 */
export function timePlot(yTitle: string, series: TimeSeries[]): Markup {
  const frame = frameOf(230);
  const all = series.flatMap((run) => run.points);
  const xAxis = linearAxis(Math.max(1, ...all.map((point) => point.seconds)));
  const yAxis = linearAxis(Math.max(0, ...all.map((point) => point.value ?? 0)));
  const x = (seconds: number) => frame.left + frame.width * (seconds / xAxis.top);
  const y = (value: number) => frame.bottom - frame.height * (value / yAxis.top);
  const xTicks = xAxis.ticks.map((seconds) => [
    verticalLine(x(seconds), frame),
    element(
      "text",
      { x: fixed(x(seconds)), y: frame.bottom + 18, "text-anchor": "middle" },
      tickLabel(seconds),
    ),
  ]);
  const lines = series.map((run, i) => {
    let path = "";
    let pen = "M";
    for (const { seconds, value } of run.points) {
      if (value === null) pen = "M";
      else {
        path += `${pen}${fixed(x(seconds))},${fixed(y(value))}`;
        pen = "L";
      }
    }
    const dots = run.points.flatMap(({ seconds, value }) =>
      value === null
        ? []
        : [element("circle", { cx: fixed(x(seconds)), cy: fixed(y(value)), r: 2.75 })]
    );
    return element(
      "g",
      { class: "run", "data-run": i, fill: run.color, stroke: run.color },
      element("path", { d: path }),
      dots,
      element("title", {}, run.name),
    );
  });
  return svg("over-time", frame, `${yTitle} over time`, [
    xTicks,
    horizontalTicks(yAxis, y, frame, ""),
    axisTitles(frame, "seconds", yTitle),
    lines,
  ]);
}

interface Frame {
  left: number;
  right: number;
  top: number;
  bottom: number;
  width: number;
  height: number;
  /** The whole picture's height, margins included. */
  outer: number;
}

function frameOf(outer: number): Frame {
  const { left, top } = MARGIN;
  const [right, bottom] = [WIDTH - MARGIN.right, outer - MARGIN.bottom];
  return { left, right, top, bottom, width: right - left, height: bottom - top, outer };
}

function svg(kind: string, frame: Frame, label: string, children: unknown[]): Markup {
  return element("svg", {
    class: kind,
    viewBox: `0 0 ${WIDTH} ${frame.outer}`,
    width: WIDTH,
    height: frame.outer,
    role: "img",
    "aria-label": label,
  }, children);
}

/** An axis from 0 to a round number at or above `max`, with 4 to 10 round ticks. */
function linearAxis(max: number): { top: number; ticks: number[] } {
  const rough = (max > 0 ? max : 1) / 5;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= rough)!;
  // A value a hair above a round top (3.0006 s of intervals) still gets that top.
  const count = Math.max(1, Math.ceil(max / step - 0.01));
  const ticks = Array.from({ length: count + 1 }, (_, i) => Number((i * step).toPrecision(12)));
  return { top: ticks[count], ticks };
}

function verticalLine(x: number, frame: Frame): Markup {
  const at = fixed(x);
  return element("line", { class: "grid", x1: at, x2: at, y1: frame.top, y2: frame.bottom });
}

function horizontalTicks(
  axis: { ticks: number[] },
  y: (value: number) => number,
  frame: Frame,
  unit: string,
): Markup[] {
  return axis.ticks.map((value) => {
    const at = fixed(y(value));
    const label = tickLabel(value) + (unit && value === axis.ticks.at(-1) ? ` ${unit}` : "");
    return markup`${
      element("line", { class: "grid", x1: frame.left, x2: frame.right, y1: at, y2: at })
    }${
      element("text", {
        class: "tick-y",
        x: frame.left - 8,
        y: fixed(y(value) + 4),
        "text-anchor": "end",
      }, label)
    }`;
  });
}

function axisTitles(frame: Frame, xTitle: string, yTitle: string): Markup[] {
  const { left, right, top, bottom } = frame;
  return [
    element("line", { class: "axis", x1: left, x2: right, y1: bottom, y2: bottom }),
    element("line", { class: "axis", x1: left, x2: left, y1: top, y2: bottom }),
    element("text", {
      class: "axis-title",
      x: left + frame.width / 2,
      y: bottom + 38,
      "text-anchor": "middle",
    }, xTitle),
    element("text", {
      class: "axis-title",
      transform: `translate(16 ${top + frame.height / 2}) rotate(-90)`,
      "text-anchor": "middle",
    }, yTitle),
  ];
}

/** The runs' names and notes in a box at the top left, where the curves are low. */
function legend(series: PercentileSeries[], frame: Frame): Markup {
  if (series.length === 0) return markup``;
  const row = 20;
  const longest = Math.max(
    ...series.map((run) => Math.min(run.name.length, NAME_CHARS) + run.note.length + 3),
  );
  const width = Math.min(frame.width - 24, 48 + 5.9 * longest);
  const [left, top] = [frame.left + 12, frame.top + 10];
  const rows = series.map((run, i) => {
    const name = run.name.length > NAME_CHARS ? `${run.name.slice(0, NAME_CHARS - 1)}…` : run.name;
    const middle = top + 16 + i * row;
    return element(
      "g",
      { class: "legend-row", "data-run": i },
      element("line", {
        x1: left + 10,
        x2: left + 32,
        y1: middle - 4,
        y2: middle - 4,
        stroke: run.color,
      }),
      element(
        "text",
        { x: left + 40, y: middle },
        element("tspan", { class: "run-name" }, name),
        element("tspan", { class: "note", dx: 8 }, run.note),
        element("title", {}, run.name),
      ),
    );
  });
  const box = { x: left, y: top, width: fixed(width), height: 12 + series.length * row, rx: 4 };
  return element("g", { class: "legend" }, element("rect", box), rows);
}

/** A tick's number without float noise, with thousands separated. */
function tickLabel(value: number): string {
  return Number.isInteger(value) ? formatCount(value) : String(value);
}

/** A coordinate to 0.1 px: enough for the eye, and keeps the file small. */
function fixed(value: number): string {
  return String(Math.round(value * 10) / 10);
}
