/**
 * The spread table a probe series over HTTP or WebSocket prints after its
 * summary, and the same in `--json`: for each instance that answered its
 * replies, share, p50 and p99, per request and per connection (the first
 * reply of each: where a sticky keep-alive shows), and one imbalance line.
 *
 * @example
 * ```ts
 * import { spreadOf } from "../../diag/spread.ts";
 * import { spreadLines } from "./send_spread.ts";
 *
 * const view = spreadOf([{ instance: "web-1", ms: 0.4 }, { instance: "web-2", ms: 0.5 }]);
 * spreadLines({ perRequest: view, perConnection: view }, 2).forEach((line) => console.log(line));
 * ```
 *
 * @module
 */

import { plural } from "../../net/format.ts";
import type { Spread } from "../../diag/spread.ts";

/** Both spreads of a series, as `SeriesSummary.spread` has them. */
export interface SeriesSpread {
  readonly perRequest: Spread;
  readonly perConnection: Spread;
}

/** Below this p-value an even spread is called uneven. */
const SIGNIFICANCE = 0.05;

/**
 * The table's lines: both spreads and the imbalance of the per-request one;
 * one line saying so when no reply came back exact (`echoed`), or none
 * named its instance.
 *
 * @example
 * ```ts
 * import { spreadLines } from "./send_spread.ts";
 *
 * spreadLines(undefined, 3); // ["spread: no reply named its instance (no X-Echo-Instance header)"]
 * ```
 */
export function spreadLines(spread: SeriesSpread | undefined, echoed: number): string[] {
  if (echoed === 0) return ["spread: no exact reply to count"];
  if (spread === undefined) {
    return ["spread: no reply named its instance (no X-Echo-Instance header)"];
  }
  const { perRequest, perConnection } = spread;
  return [
    `spread per request: ${plural(perRequest.total, "reply", "replies")} from ${
      plural(perRequest.instances.length, "instance")
    }`,
    ...table(perRequest),
    `spread per connection: the first reply of each of ${
      plural(perConnection.total, "connection")
    }`,
    ...table(perConnection),
    imbalanceLine(perRequest),
  ];
}

function table({ instances }: Spread): string[] {
  const width = Math.max("instance".length, ...instances.map((i) => i.instance.length));
  const row = (cells: string[]) =>
    `  ${cells[0].padEnd(width)}  ${
      cells.slice(1).map((c, i) => c.padStart([7, 7, 9, 9][i])).join("  ")
    }`;
  return [
    row(["instance", "replies", "share", "p50 ms", "p99 ms"]),
    ...instances.map((i) =>
      row([
        i.instance,
        String(i.count),
        `${(i.share * 100).toFixed(1)} %`,
        i.p50.toFixed(3),
        i.p99.toFixed(3),
      ])
    ),
  ];
}

/** The one-line answer to "round robin, sticky or skewed?". */
function imbalanceLine({ total, instances, imbalance }: Spread): string {
  if (imbalance === undefined) {
    return instances.length === 0
      ? "imbalance: no replies"
      : `imbalance: one instance answered ${
        total === 1 ? "the one reply" : `all ${total} replies`
      }`;
  }
  const { maxMinShare, chiSquare, degreesOfFreedom, pValue } = imbalance;
  const verdict = pValue < SIGNIFICANCE
    ? `uneven (an even spread gives this less than ${SIGNIFICANCE * 100} % of the time)`
    : "consistent with an even spread";
  return `imbalance: max/min share ${maxMinShare.toFixed(2)}, chi-square ${chiSquare.toFixed(2)} ` +
    `(df ${degreesOfFreedom}), p = ${formatP(pValue)}: ${verdict}`;
}

/** A p-value to three places, or in e-notation when smaller than that shows. */
function formatP(p: number): string {
  return p >= 0.001 || p === 0 ? p.toFixed(3) : p.toExponential(1);
}

/**
 * The spreads for `--json`: times in ms to the microsecond; null when no
 * reply named its instance.
 *
 * @example
 * ```ts
 * import { spreadJson } from "./send_spread.ts";
 *
 * spreadJson(undefined); // null
 * ```
 */
export function spreadJson(spread: SeriesSpread | undefined): unknown {
  if (spread === undefined) return null;
  const view = ({ total, instances, imbalance }: Spread) => ({
    total,
    instances: instances.map(({ instance, count, share, p50, p99 }) => ({
      instance,
      count,
      share,
      p50Ms: roundMs(p50),
      p99Ms: roundMs(p99),
    })),
    imbalance: imbalance ?? null,
  });
  return { perRequest: view(spread.perRequest), perConnection: view(spread.perConnection) };
}

/**
 * Milliseconds to the microsecond, or null.
 *
 * @example
 * ```ts
 * import { roundMs } from "./send_spread.ts";
 *
 * roundMs(1.23456); // 1.235
 * ```
 */
export function roundMs(ms: number | undefined): number | null {
  return ms === undefined ? null : Math.round(ms * 1000) / 1000;
}
