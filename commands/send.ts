/**
 * `sockecho send`: the C client as a command. Sends a message, checks its
 * echo byte for byte and prints it as `server message: …`.
 *
 * @example
 * ```ts
 * import { runCommand } from "../cli/command.ts";
 * import { consoleIo } from "../cli/io.ts";
 * import { sendCommand } from "./send.ts";
 *
 * await runCommand(sendCommand, ["127.0.0.1", "hello"], consoleIo);
 * ```
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import { parseTarget } from "../cli/address.ts";
import { type Parsed, parseSeconds, UsageError } from "../cli/args.ts";
import type { Command } from "../cli/command.ts";
import { EXIT, exitCodeHelp } from "../cli/exit.ts";
import { inform, type MainIo } from "../cli/io.ts";
import { send } from "../client.ts";
import { ConnectError } from "../errors.ts";
import { escapeBytes, formatAddress, plural } from "../format.ts";
import { DEFAULT_PORT } from "../server.ts";

const OPTIONS = {
  port: { type: "string", short: "p" },
  timeout: { type: "string", short: "t", default: "5" },
  verbose: { type: "boolean", short: "v", default: false },
} satisfies ParseArgsOptionsConfig;

const HELP = `Usage: sockecho send HOST [MESSAGE] [options]

Connects to HOST (a name, an IPv4 or an IPv6 address; every address of a name
is tried in turn; HOST:PORT, [IPv6] and [IPv6]:PORT as the server prints them
are taken too), sends MESSAGE, reads until all of it has come back, checks it
byte for byte, and prints "server message: " and the echo. Without MESSAGE it
sends what the C client sends: "你好啊服务器!\\n" and its NUL terminator, 21 bytes.

Options:
  -p, --port PORT        server port                                [${DEFAULT_PORT}]
  -t, --timeout SECONDS  time for resolving, connecting and the echo [5]
  -v, --verbose          also print who answered and the round trip (stderr)
  -h, --help             this text

If the echo differs, the error shows what came back instead (escaped, shortened).

Exit codes:
${exitCodeHelp([EXIT.resolve, EXIT.connect, EXIT.timeout, EXIT.closedEarly, EXIT.mismatch])}`;

/** The `send` command. */
export const sendCommand: Command<typeof OPTIONS> = {
  name: "send",
  synopsis: "send HOST [MESSAGE] [opts]",
  summary: "send a message, check its echo, print it",
  options: OPTIONS,
  help: HELP,
  run: runSend,
};

async function runSend(
  { values, positionals }: Parsed<typeof OPTIONS>,
  io: MainIo,
): Promise<number> {
  const [host, text, extra] = positionals;
  if (host === undefined) throw new UsageError("send needs a HOST");
  if (extra !== undefined) {
    throw new UsageError(
      `send takes HOST and one MESSAGE, not also "${extra}": quote a message with spaces`,
    );
  }
  const { hostname, port, portGiven } = parseTarget(host, values.port, DEFAULT_PORT);
  const message = text === undefined ? undefined : new TextEncoder().encode(text);
  const { echo, remoteAddr, roundTripMs } = await send({
    hostname,
    port,
    message,
    timeoutMs: parseSeconds(values.timeout, "--timeout", 0.001),
  }).catch((error) => {
    // `send HOST 4400` is netcat's habit for a port; here 4400 is the message.
    if (error instanceof ConnectError && !portGiven && /^\d{1,5}$/.test(text ?? "")) {
      error.message += ` (did you mean -p ${text}?)`;
    }
    throw error;
  });
  const shown = echo.at(-1) === 0 ? echo.subarray(0, -1) : echo;
  const line = shown.at(-1) === 0x0a ? shown.subarray(0, -1) : shown;
  io.out(`server message: ${escapeBytes(line, { dropTrailingNul: false })}`);
  if (values.verbose) {
    inform(
      io,
      `${plural(echo.length, "byte")} echoed by ${formatAddress(remoteAddr)} in ` +
        `${roundTripMs.toFixed(3)} ms`,
    );
  }
  return EXIT.ok;
}
