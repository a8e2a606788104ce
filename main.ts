/**
 * sockecho: an echo server, client, path checker and load tester over TCP,
 * TLS, UDP, Unix sockets, HTTP and WebSocket. This is its command line: a table of
 * subcommands (each in `cli/commands/`), the general help, and the guard
 * that turns any escaped error into one line and an exit code.
 *
 * @example
 * ```sh
 * deno run -N main.ts serve --port 4321
 * deno run -N main.ts send 127.0.0.1 "hello"
 * ```
 *
 * @module
 */

import { UsageError } from "./cli/args.ts";
import { type Command, runCommand } from "./cli/command.ts";
import { EXIT, EXIT_CODE_HELP, reportError } from "./cli/exit.ts";
import { consoleIo, type MainIo } from "./cli/io.ts";
import { benchCommand } from "./cli/commands/bench.ts";
import { checkCommand } from "./cli/commands/check.ts";
import { mergeCommand } from "./cli/commands/merge.ts";
import { reportCommand } from "./cli/commands/report.ts";
import { sendCommand } from "./cli/commands/send.ts";
import { serveCommand } from "./cli/commands/serve.ts";

export { EXIT } from "./cli/exit.ts";
export type { MainIo } from "./cli/io.ts";

/** The version `--version` prints. */
export const VERSION = "0.1.0";

const COMMANDS: readonly Command[] = [
  serveCommand,
  sendCommand,
  benchCommand,
  checkCommand,
  mergeCommand,
  reportCommand,
];

/** What sockecho is, in the one line that opens the general help. */
const DESCRIPTION =
  "an echo server, client, path checker and load tester for TCP, TLS, UDP, Unix, HTTP and WebSocket";

const MAIN_HELP = `sockecho ${VERSION}: ${DESCRIPTION}

Usage:
${
  [...COMMANDS.map((c) => [c.synopsis, c.summary]), ["help COMMAND", "options of a command"]]
    .map(([synopsis, summary]) => `  sockecho ${synopsis.padEnd(28)}${summary}`).join("\n")
}

Options:
  -h, --help       this text
  -V, --version    print the version

Exit codes (each command's --help lists those it can end with):
${EXIT_CODE_HELP}`;

/**
 * Runs the command line with `args` and resolves with the exit code. Prints
 * through `io`; never calls `Deno.exit` except on a second Ctrl+C.
 *
 * @example
 * ```ts
 * import { main } from "./main.ts";
 *
 * const code = await main(["send", "127.0.0.1", "hello"]);
 * ```
 */
export async function main(args: string[], io: MainIo = consoleIo): Promise<number> {
  try {
    const [name, ...rest] = args;
    const command = COMMANDS.find((c) => c.name === name);
    if (command) return await runCommand(command, rest, io);
    switch (name) {
      case "help":
        if (rest[0] !== undefined && !COMMANDS.some((c) => c.name === rest[0])) {
          throw new UsageError(`unknown command "${rest[0]}" (try: sockecho --help)`);
        }
        io.out(COMMANDS.find((c) => c.name === rest[0])?.help ?? MAIN_HELP);
        return EXIT.ok;
      case "-V":
      case "--version":
        io.out(`sockecho ${VERSION}`);
        return EXIT.ok;
      case undefined:
      case "-h":
      case "--help":
        io.out(MAIN_HELP);
        return EXIT.ok;
      default:
        throw new UsageError(`unknown command "${name}" (try: sockecho --help)`);
    }
  } catch (error) {
    return reportError(error, io);
  }
}

if (import.meta.main) {
  // A bug must still end in one line and exit code 1, not Deno's coloured stack trace.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    Deno.exit(reportError(event.reason, consoleIo));
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    Deno.exit(reportError(event.error, consoleIo));
  });
  Deno.exit(await main(Deno.args));
}
