/**
 * The options that split one `bench` load over many machines: `--shard K/N`
 * (or `--shards N`, K then coming from `JOB_COMPLETION_INDEX` as a
 * Kubernetes Indexed Job sets it) and `--start-at TIME`, the instant every
 * shard starts its clock at.
 *
 * @example
 * ```ts
 * import { parseShard, parseStartAt } from "./shard_options.ts";
 *
 * parseShard({ shard: "2/4" }); // { index: 2, count: 4 }
 * parseStartAt("2030-01-01T12:00:00Z", Date.parse("2030-01-01T11:59:00Z")); // 1893499200000
 * ```
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import type { Shard } from "../bench/bench.ts";
import { MissingPermissionError } from "../net/errors.ts";
import { UsageError } from "./args.ts";

/** Where `--shards N` reads the shard index: what a Kubernetes Indexed Job sets in each pod. */
export const SHARD_INDEX_VARIABLE = "JOB_COMPLETION_INDEX";

/** Furthest ahead `--start-at` may be: further is a mistake (epoch ms read as seconds). */
const START_AT_MAX_AHEAD_MS = 24 * 3600_000;

/** The options, for a command's table. */
export const SHARD_OPTIONS = {
  shard: { type: "string" },
  shards: { type: "string" },
  "start-at": { type: "string" },
} satisfies ParseArgsOptionsConfig;

/** Their lines for the help text. */
export const SHARD_HELP = `      --shard K/N          run shard K (from 0) of a load split over N
                           machines: its part of -c and -n and, with
                           --rate, every N-th send of the one schedule
      --shards N           the same, K read from $${SHARD_INDEX_VARIABLE}
                           (as a Kubernetes Indexed Job sets it; needs -E)
      --start-at TIME      start the load then, once connected (ISO 8601
                           such as 2030-01-01T12:00:00Z, or epoch seconds)`;

/**
 * The shard `--shard` or `--shards` names; undefined when neither is given.
 * Throws {@linkcode UsageError}, or {@linkcode MissingPermissionError} when
 * `--shards` may not read the environment (checked first: Deno would prompt).
 *
 * @example
 * ```ts
 * import { parseShard } from "./shard_options.ts";
 *
 * parseShard({ shards: "3" }); // index from $JOB_COMPLETION_INDEX
 * ```
 */
export function parseShard(values: { shard?: string; shards?: string }): Shard | undefined {
  if (values.shard !== undefined && values.shards !== undefined) {
    throw new UsageError("--shard and --shards do not go together: pick one");
  }
  if (values.shard !== undefined) {
    const [, index, count] = values.shard.match(/^(\d+)\/(\d+)$/) ?? [];
    if (index === undefined || Number(count) < 1 || Number(index) >= Number(count)) {
      throw new UsageError(
        `invalid --shard "${values.shard}": expected K/N with K from 0 to N - 1, e.g. 0/4`,
      );
    }
    return { index: Number(index), count: Number(count) };
  }
  if (values.shards === undefined) return undefined;
  const count = Number(values.shards);
  if (!/^\d+$/.test(values.shards) || count < 1) {
    throw new UsageError(
      `invalid --shards "${values.shards}": expected a whole number of at least 1`,
    );
  }
  const variable = SHARD_INDEX_VARIABLE;
  if (Deno.permissions.querySync({ name: "env", variable }).state !== "granted") {
    throw new MissingPermissionError(
      `no env permission for "${variable}": run with -E (--allow-env)`,
    );
  }
  const text = Deno.env.get(variable);
  if (text === undefined) {
    throw new UsageError(`--shards takes the shard index from $${variable}, which is not set`);
  }
  if (!/^\d+$/.test(text) || Number(text) >= count) {
    throw new UsageError(
      `invalid $${variable} "${text}" for --shards ${count}: expected 0 to ${count - 1}`,
    );
  }
  return { index: Number(text), count };
}

/**
 * `--start-at`'s instant in ms since the epoch: ISO 8601 with a date and a
 * time, or epoch seconds (decimals allowed). Must lie ahead of `now`, by at
 * most a day. Throws {@linkcode UsageError}.
 *
 * @example
 * ```ts
 * import { parseStartAt } from "./shard_options.ts";
 *
 * parseStartAt("1893499200", 1893499100000); // 1893499200000
 * ```
 */
export function parseStartAt(text: string, now: number): number {
  const at = /^\d+(\.\d+)?$/.test(text)
    ? Number(text) * 1000
    : /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(text)
    ? Date.parse(text)
    : NaN;
  if (!Number.isFinite(at)) {
    throw new UsageError(
      `invalid --start-at "${text}": expected ISO 8601 (2030-01-01T12:00:00Z) or epoch seconds`,
    );
  }
  if (at <= now) {
    throw new UsageError(
      `--start-at "${text}" is ${((now - at) / 1000).toFixed(1)} s in the past: pick a later time`,
    );
  }
  if (at - now > START_AT_MAX_AHEAD_MS) {
    throw new UsageError(`--start-at "${text}" is more than a day ahead (epoch seconds, not ms)`);
  }
  return at;
}
