/**
 * Argument parsing shared by every command: one table of options per command
 * (`node:util`'s `parseArgs`), `--help` handling, and the parsers for ports,
 * durations and counts, each failing with one {@linkcode UsageError} line.
 *
 * @example
 * ```ts
 * import { parseCommand, parsePort } from "./args.ts";
 *
 * const parsed = parseCommand(["-p", "4400"], {
 *   port: { type: "string", short: "p", default: "4321" },
 * });
 * if (parsed !== "help") parsePort(parsed.values.port, 1); // 4400
 * ```
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { SockechoError } from "../errors.ts";

/** A usage mistake: bad option, missing argument, value out of range. */
export class UsageError extends SockechoError {}

/** What `parseArgs` makes of a command's arguments with `options`. */
export type Parsed<T extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ options: T; allowPositionals: true; strict: true }>
>;

/**
 * Parses a command's arguments with its option table, or returns `"help"`
 * when `-h`/`--help` comes before any `--`. Throws {@linkcode UsageError}.
 */
export function parseCommand<T extends ParseArgsOptionsConfig>(
  args: string[],
  options: T,
): Parsed<T> | "help" {
  const end = args.indexOf("--"); // after it, "--help" is a message, not a flag
  const flags = end === -1 ? args : args.slice(0, end);
  if (flags.includes("-h") || flags.includes("--help")) return "help";
  try {
    return parseArgs({
      args: negativeValues(args, options),
      options,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    // node:util's messages are multi-line and mention "parseArgs": keep the first line's point.
    const message = (error as Error).message.split("\n")[0].replace(/\.( To specify.*)?$/, "");
    throw new UsageError(message.charAt(0).toLowerCase() + message.slice(1));
  }
}

/**
 * Joins a short option that takes a value to a following negative number
 * (`-t -1` becomes `-t-1`): parseArgs would call it ambiguous, and the
 * value's own check says more.
 */
function negativeValues(args: string[], options: ParseArgsOptionsConfig): string[] {
  const end = args.indexOf("--");
  const takesValue = (arg: string) =>
    Object.values(options).some((o) => o.type === "string" && `-${o.short}` === arg);
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const next = args[i + 1] ?? "";
    const flag = end === -1 || i < end;
    if (flag && takesValue(args[i]) && /^-\d/.test(next)) joined.push(args[i] + args[++i]);
    else joined.push(args[i]);
  }
  return joined;
}

/** Parses a port number from `lowest` (0 or 1) to 65535. */
export function parsePort(text: string, lowest: number): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < lowest || port > 65535) {
    throw new UsageError(`invalid port "${text}": expected a whole number from ${lowest} to 65535`);
  }
  return port;
}

/** Parses a whole number of at least `lowest`. */
export function parseWhole(text: string, flag: string, lowest = 1): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < lowest) {
    throw new UsageError(
      `invalid ${flag} "${text}": expected a whole number of at least ${lowest}`,
    );
  }
  return value;
}

/** Parses a duration in seconds (decimals allowed) into milliseconds. */
export function parseSeconds(text: string, flag: string, lowest: number): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < lowest) {
    throw new UsageError(`invalid ${flag} "${text}": expected a number of at least ${lowest}`);
  }
  return value * 1000;
}
