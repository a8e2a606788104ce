/**
 * The shape every subcommand module exports, so that `main.ts` is a table:
 * a name, a one-line summary for the general help, an option table, a help
 * text and a run function.
 *
 * @example
 * ```ts
 * import { type Command, runCommand } from "./command.ts";
 * import { consoleIo } from "./io.ts";
 *
 * const hello: Command<{ loud: { type: "boolean"; default: false } }> = {
 *   name: "hello",
 *   synopsis: "hello [options]",
 *   summary: "say hello",
 *   options: { loud: { type: "boolean", default: false } },
 *   help: "Usage: sockecho hello [--loud]",
 *   run: ({ values }, io) => {
 *     io.out(values.loud ? "HELLO" : "hello");
 *     return Promise.resolve(0);
 *   },
 * };
 * await runCommand(hello, ["--loud"], consoleIo);
 * ```
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import { parseCommand, type Parsed, withHelpHint } from "./args.ts";
import { EXIT } from "./exit.ts";
import type { MainIo } from "./io.ts";

/** A subcommand: its options, its help, and what it does. */
export interface Command<T extends ParseArgsOptionsConfig = ParseArgsOptionsConfig> {
  /** The word that selects it: `sockecho NAME`. */
  readonly name: string;
  /** Its usage after `sockecho`, e.g. `send HOST [MESSAGE] [options]`. */
  readonly synopsis: string;
  /** One line for the general help. */
  readonly summary: string;
  /** Its options, in `node:util` `parseArgs` form. */
  readonly options: T;
  /** The whole `--help` text. */
  readonly help: string;
  /** Runs it (`args` as given, for the record) and resolves with the exit code; throws typed errors. */
  run(parsed: Parsed<T>, io: MainIo, args: string[]): Promise<number>;
}

/**
 * Parses `args` for `command`, answers `--help`, else runs it. A usage error
 * gets `(try: sockecho NAME --help)` added.
 */
export async function runCommand<T extends ParseArgsOptionsConfig>(
  command: Command<T>,
  args: string[],
  io: MainIo,
): Promise<number> {
  try {
    const parsed = parseCommand(args, command.options);
    if (parsed === "help") {
      io.out(command.help);
      return EXIT.ok;
    }
    return await command.run(parsed, io, args);
  } catch (error) {
    throw withHelpHint(error, command.name);
  }
}
