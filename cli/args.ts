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
import { SockechoError } from "../net/errors.ts";

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
  rejectSingleDashLongOption(flags, options);
  try {
    return parseArgs({
      args: negativeValues(args, options),
      options,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw usageErrorOf(error as Error, flags, options);
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

/**
 * Parses a whole number of at least `lowest`, and exact (at most 2^53 - 1).
 *
 * @example
 * ```ts
 * import { parseWhole } from "./args.ts";
 *
 * parseWhole("64", "--size"); // 64
 * ```
 */
export function parseWhole(text: string, flag: string, lowest = 1): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < lowest) {
    throw new UsageError(
      `invalid ${flag} "${text}": expected a whole number of at least ${lowest}`,
    );
  }
  if (!Number.isSafeInteger(value)) {
    throw new UsageError(`invalid ${flag} "${text}": at most ${Number.MAX_SAFE_INTEGER}`);
  }
  return value;
}

/** The longest a timer waits: beyond it `setTimeout` fires at once (with a warning). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Decimal seconds: digits, a fraction, an exponent; not `Number`'s `0x10`, `0b1` or `0o7`. */
const DECIMAL = /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i;

/**
 * Parses a duration in decimal seconds into milliseconds, from `lowest`
 * seconds to the longest a timer can wait (2,147,483.647 s, about 24 days).
 *
 * @example
 * ```ts
 * import { parseSeconds } from "./args.ts";
 *
 * parseSeconds("0.25", "--interval", 0); // 250
 * ```
 */
export function parseSeconds(text: string, flag: string, lowest: number): number {
  const value = Number(text);
  if (!DECIMAL.test(text) || value < lowest) {
    throw new UsageError(`invalid ${flag} "${text}": expected a number of at least ${lowest}`);
  }
  if (value * 1000 > MAX_TIMER_MS) {
    throw new UsageError(
      `invalid ${flag} "${text}": at most ${MAX_TIMER_MS / 1000} seconds (about 24 days)`,
    );
  }
  return value * 1000;
}

/**
 * Adds `(try: sockecho COMMAND --help)` to a usage error that has no such
 * pointer yet; passes any other error through.
 *
 * @example
 * ```ts
 * import { UsageError, withHelpHint } from "./args.ts";
 *
 * withHelpHint(new UsageError('invalid port "x"'), "send").message;
 * // 'invalid port "x" (try: sockecho send --help)'
 * ```
 */
export function withHelpHint(error: unknown, command: string): unknown {
  if (!(error instanceof UsageError) || error.message.includes("(try: ")) return error;
  return new UsageError(`${error.message} (try: sockecho ${command} --help)`, { cause: error });
}

/**
 * `-port 4400` would parse as `-p ort`: a single dash before a long option's
 * name is a usage error naming the option meant.
 */
function rejectSingleDashLongOption(flags: string[], options: ParseArgsOptionsConfig): void {
  for (const flag of flags) {
    const name = flag.match(/^-([a-z][a-z-]+)(=.*)?$/)?.[1];
    if (name !== undefined && Object.hasOwn(options, name)) {
      throw new UsageError(`unknown option "${flag}": long options take two dashes, --${name}`);
    }
  }
}

/**
 * Rewrites a `node:util` `parseArgs` error (multi-line, naming options its own
 * way) as one line naming the word as typed in `flags`.
 */
function usageErrorOf(
  error: Error & { code?: string },
  flags: string[],
  options: ParseArgsOptionsConfig,
): UsageError {
  const quoted = error.message.match(/'([^']+)'/)?.[1] ?? "";
  // For a value that is missing, node names the option as "-p, --port <value>".
  const typed = flags.findLast((flag) => flag.split("=")[0] === quoted) ??
    flags.findLast((flag) => flag.startsWith("-")) ?? quoted;
  if (error.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    return new UsageError(`unknown option "${quoted}"`);
  }
  if (/argument is ambiguous/.test(error.message)) {
    const next = flags[flags.lastIndexOf(typed) + 1];
    const long = Object.entries(options).find(([, { short }]) => `-${short}` === typed)?.[0];
    return new UsageError(
      `option "${typed}" expects a value, not "${next}"; to pass it anyway, write ` +
        `--${long ?? typed.replace(/^-+/, "")}=${next}`,
    );
  }
  if (/does not take an argument/.test(error.message)) {
    return new UsageError(`option "${typed}" takes no value`);
  }
  if (/argument missing/.test(error.message)) {
    return new UsageError(`option "${typed}" expects a value`);
  }
  return new UsageError(error.message.split("\n")[0]);
}
