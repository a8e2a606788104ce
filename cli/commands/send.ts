/**
 * `sockecho send`: the C client as a command. Sends a message, checks its
 * echo byte for byte and prints it as `server message: …`.
 *
 * @example
 * ```ts
 * import { runCommand } from "../command.ts";
 * import { consoleIo } from "../io.ts";
 * import { sendCommand } from "./send.ts";
 *
 * await runCommand(sendCommand, ["127.0.0.1", "hello"], consoleIo);
 * ```
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import { parseHostArgument } from "../address.ts";
import { type Parsed, parseSeconds, parseWhole, UsageError } from "../args.ts";
import type { Command } from "../command.ts";
import { ECHO_CLIENT_EXITS, EXIT, exitCodeHelp, HTTP_CLIENT_EXITS } from "../exit.ts";
import type { MainIo } from "../io.ts";
import { send } from "../../diag/send.ts";
import { dialerFor } from "../../net/dial.ts";
import { ConnectError } from "../../net/errors.ts";
import { plural } from "../../net/format.ts";
import { encodeProxyHeader } from "../../net/access/proxy_protocol.ts";
import { DEFAULT_PORT } from "../../server.ts";
import { MAX_DATAGRAM_BYTES } from "../../net/udp.ts";
import { sendUdp } from "../../diag/send_udp.ts";
import { echoLines, encodeText, stdinMessage } from "./send_common.ts";
import { HTTP_HELP, HTTP_OPTIONS, runHttpSend, wantsHttp } from "./send_http.ts";
import { runSeries, SERIES_HELP, SERIES_OPTIONS, wantsSeries } from "./send_series.ts";
import {
  CLIENT_TRANSPORT_OPTIONS,
  clientTransport,
  clientTransportHelp,
} from "./transport_options.ts";

const OPTIONS = {
  port: { type: "string", short: "p" },
  timeout: { type: "string", short: "t", default: "5" },
  verbose: { type: "boolean", short: "v", default: false },
  "proxy-protocol": { type: "string" },
  udp: { type: "boolean", default: false },
  retries: { type: "string" },
  ...SERIES_OPTIONS,
  ...HTTP_OPTIONS,
  ...CLIENT_TRANSPORT_OPTIONS,
} satisfies ParseArgsOptionsConfig;

const HELP = `Usage: sockecho send HOST [MESSAGE] [options]
       sockecho send --unix PATH [MESSAGE] [options]
       sockecho send --http URL|HOST [MESSAGE] [options]
       sockecho send --ws URL|HOST [MESSAGE] [options]

Connects to HOST (a name, an IPv4 or an IPv6 address; every address of a name
is tried in turn; HOST:PORT, [IPv6] and [IPv6]:PORT as the server prints them
are taken too), sends MESSAGE, reads until all of it has come back, checks it
byte for byte, and prints "server message: " and the echo. Without MESSAGE it
sends what the C client sends: "你好啊服务器!\\n" and its NUL terminator, 21 bytes.

Standard input: MESSAGE "-" is standard input, read to its end. Without
MESSAGE, --file or --size, standard input is the message when it is a pipe or
a file (echo hi | sockecho send HOST; sockecho send HOST < request.bin); a
terminal, /dev/null, no standard input at all (CI, </dev/null) or an empty
one (cron's) keeps the greeting. A message from standard input is held in
memory, and a single send half-closes after it, as nc -N does; --file -
streams instead, any size.

Options:
  -p, --port PORT        server port                                [${DEFAULT_PORT}]
  -t, --timeout SECONDS  time for resolving, connecting and the echo [5]
  -v, --verbose          also print who answered and the round trip (stderr);
                         with --tls, the protocol, cipher and handshake time
      --udp              send MESSAGE as one UDP datagram (RFC 862) and wait
                         for the identical datagram from HOST's first address;
                         no answer is a timeout (a closed UDP port cannot be
                         told apart: Deno does not report ICMP unreachable)
      --retries N        with --udp: send again up to N times when no answer
                         comes; the tries share the timeout evenly        [2]
      --proxy-protocol v1|v2
                         first send a PROXY header (as a load balancer
                         would) naming this connection's own addresses,
                         to test a server behind "serve --proxy-protocol"
${clientTransportHelp(25)}
  -h, --help             this text

If the echo differs, the error shows what came back instead (escaped, shortened).

${SERIES_HELP}

${HTTP_HELP}

Exit codes:
${
  exitCodeHelp(
    [...ECHO_CLIENT_EXITS, ...HTTP_CLIENT_EXITS, EXIT.interrupted],
    { [EXIT.interrupted]: "a probe series stopped at once by a second Ctrl+C or SIGTERM" },
  )
}`;

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
  if (wantsHttp(values, positionals)) return await runHttpSend({ values, positionals }, io);
  const { target: { hostname, port, portGiven }, rest: [text] } = parseHostArgument(positionals, {
    command: "send",
    unix: values.unix,
    port: values.port,
    fallback: DEFAULT_PORT,
    rest: 1,
    tooMany: (extra) =>
      `send takes HOST and one MESSAGE, not also "${extra}": quote a message with spaces`,
  });
  const timeoutMs = parseSeconds(values.timeout, "--timeout", 0.001);
  if (values.udp && wantsSeries(values)) {
    throw new UsageError("--udp sends one datagram: leave out the probe series options");
  }
  const stream = values.tls || values.unix !== undefined;
  if (values.udp && stream) throw new UsageError("--udp cannot be combined with --tls or --unix");
  if (wantsSeries(values)) {
    if (values["proxy-protocol"] !== undefined) {
      throw new UsageError("--proxy-protocol is for one send: leave out the probe series options");
    }
    const transport = dialerFor({ hostname, port }, await clientTransport(values, io));
    const message = await stdinMessage(text, values, io) ?? encodeText(text);
    return runSeries(transport, message, timeoutMs, values, io);
  }
  if (stream && values["proxy-protocol"] !== undefined) {
    throw new UsageError("--proxy-protocol works over plain TCP only, not with --tls or --unix");
  }
  if (values.retries !== undefined && !values.udp) throw new UsageError("--retries needs --udp");
  if (values.udp && values["proxy-protocol"] !== undefined) {
    throw new UsageError("--proxy-protocol is for TCP: leave it out with --udp");
  }
  const transport = await clientTransport(values, io);
  const fromStdin = await stdinMessage(text, values, io);
  const message = fromStdin ?? encodeText(text);
  if (values.udp && (message?.length ?? 0) > MAX_DATAGRAM_BYTES) {
    throw new UsageError(`a UDP message is at most ${plural(MAX_DATAGRAM_BYTES, "byte")}`);
  }
  const target = {
    hostname,
    port,
    message,
    timeoutMs,
  };
  const sending = values.udp
    ? sendUdp({ ...target, retries: parseWhole(values.retries ?? "2", "--retries", 0) })
    : send({
      ...target,
      preface: parseProxyVersion(values["proxy-protocol"]),
      halfClose: fromStdin !== undefined,
      ...transport,
    });
  const result = await sending.catch((error) => {
    // `send HOST 4400` is netcat's habit for a port; here 4400 is the message.
    if (error instanceof ConnectError && !portGiven && /^\d{1,5}$/.test(text ?? "")) {
      error.message += ` (did you mean -p ${text}?)`;
    }
    throw error;
  });
  echoLines(io, result.echo, {
    ...result,
    verbose: values.verbose,
    note: "attempts" in result ? `(UDP, try ${result.attempts})` : undefined,
  });
  return EXIT.ok;
}

/** The PROXY header writer for `--proxy-protocol v1|v2`, or `undefined` without it. */
function parseProxyVersion(
  text: string | undefined,
): ((local: Deno.NetAddr, remote: Deno.NetAddr) => Uint8Array) | undefined {
  if (text === undefined) return undefined;
  if (text !== "v1" && text !== "v2") {
    throw new UsageError(`invalid --proxy-protocol "${text}": expected v1 or v2`);
  }
  return (local, remote) => encodeProxyHeader(text === "v1" ? 1 : 2, local, remote);
}
