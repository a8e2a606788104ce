/**
 * `sockecho send --http` and `--ws`: the URL or HOST, the options that go
 * with them, one verified echo with the status, protocol and instance
 * printed, or a probe series with the spread table. `commands/send.ts`
 * hands over to {@linkcode runHttpSend} when {@linkcode wantsHttp} says so.
 *
 * @example
 * ```ts
 * import { runCommand } from "../command.ts";
 * import { consoleIo } from "../io.ts";
 * import { sendCommand } from "./send.ts";
 *
 * await runCommand(sendCommand, ["--http", "http://127.0.0.1:4321/", "-c", "9"], consoleIo);
 * ```
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import { parseHostArgument } from "../address.ts";
import { parseSeconds, UsageError } from "../args.ts";
import { EXIT } from "../exit.ts";
import type { MainIo } from "../io.ts";
import { httpExchange, sendsBody } from "../../diag/http_echo.ts";
import { sendHttp, urlTarget } from "../../diag/send_http.ts";
import { sendWs, wsExchange } from "../../diag/send_ws.ts";
import { dialerFor } from "../../net/dial.ts";
import { formatAddress } from "../../net/format.ts";
import { DEFAULT_PORT } from "../../server.ts";
import { echoLines, encodeText, stdinMessage } from "./send_common.ts";
import { runSeries, type SeriesValues, wantsSeries } from "./send_series.ts";
import { clientTransport } from "./transport_options.ts";

/** `send`'s HTTP and WebSocket options. */
export const HTTP_OPTIONS = {
  http: { type: "boolean" },
  ws: { type: "boolean" },
  method: { type: "string" },
  header: { type: "string", multiple: true },
} satisfies ParseArgsOptionsConfig;

/** Their lines in `send --help`. */
export const HTTP_HELP = `HTTP and WebSocket (against "serve --http", or any HTTP echo that answers
with the body as it came; a URL as HOST implies --http or --ws by its scheme):
      --http             HOST, or URL (http://HOST[:PORT]/PATH?QUERY, https://…;
                         ports 80 and 443 by default, with HOST -p or 4321 and
                         path /), is an HTTP/1.1 server: POST the message with
                         Accept: application/octet-stream (the raw format),
                         verify the echoed body, print the status, protocol
                         and instance (X-Echo-Instance); https:// or --tls
                         take --ca, --pin, --insecure, --servername; with
                         --unix PATH the URL gives only Host and path
      --ws               the same over WebSocket (ws://, wss:// or HOST): one
                         binary message per probe, its echo verified
      --method METHOD    with --http: the request's method         [POST]
                         (GET and HEAD send no body: the reply is shown as
                         the server message, not verified)
      --header "NAME: VALUE"
                         with --http: one more request header (repeatable),
                         e.g. "X-Echo-Delay: 250ms"
A series (-c, -i, --reconnect) keeps one connection while the server keeps
it alive (one it closed while idle is replaced once, for the same probe),
and after its summary prints the spread over the instances that answered:
replies, share, p50 and p99, per request and per connection (the first
reply of each), and one imbalance line: the max/min share and a chi-square
p-value against an even spread (below 0.05: uneven).`;

/** The parsed `send` values this module reads. */
export interface HttpSendValues extends SeriesValues {
  http?: boolean;
  ws?: boolean;
  method?: string;
  header?: string[];
  port?: string;
  timeout?: string;
  verbose?: boolean;
  udp?: boolean;
  retries?: string;
  "proxy-protocol"?: string;
  tls?: boolean;
  ca?: string[];
  pin?: string;
  insecure?: boolean;
  servername?: string;
  unix?: string;
}

const URL_FORM = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Whether `send` speaks HTTP or WebSocket: `--http`, `--ws`, or a URL as HOST.
 *
 * @example
 * ```ts
 * import { wantsHttp } from "./send_http.ts";
 *
 * wantsHttp({}, ["http://127.0.0.1:4321/"]); // true
 * ```
 */
export function wantsHttp(
  values: { http?: boolean; ws?: boolean },
  positionals: string[],
): boolean {
  return values.http === true || values.ws === true || URL_FORM.test(positionals[0] ?? "");
}

/** Where `send --http`/`--ws` (or `bench --http`/`--ws`) goes, from a URL or HOST. */
export interface Destination {
  url: URL;
  ws: boolean;
  secure: boolean;
  /** What follows HOST or the URL: MESSAGE, if any. */
  rest: string[];
}

/**
 * Runs `send --http` or `--ws`: one verified echo, or a probe series, and
 * resolves with the exit code.
 */
export async function runHttpSend(
  { values, positionals }: { values: HttpSendValues; positionals: string[] },
  io: MainIo,
): Promise<number> {
  const to = destination(values, positionals);
  refuseOthers(values, to);
  const method = parseMethod(values.method);
  const headers = (values.header ?? []).map(parseHeader);
  const [text] = to.rest;
  if (!sendsBody(method) && text !== undefined) {
    throw new UsageError(`--method ${method} sends no body: leave out MESSAGE "${text}"`);
  }
  const timeoutMs = parseSeconds(values.timeout ?? "5", "--timeout", 0.001);
  const transport = await clientTransport({ ...values, tls: to.secure }, io);
  const fromStdin = sendsBody(method) ? await stdinMessage(text, values, io) : undefined;
  const message = fromStdin ?? encodeText(text);
  const { hostname, port, host, path } = urlTarget(to.url);
  if (wantsSeries(values)) {
    const tls = transport.tls && { ...transport.tls, alpn: ["http/1.1"] };
    const { target, dial } = dialerFor({ hostname, port }, { ...transport, tls });
    const series = { target, dial, label: to.url.href, spread: true };
    if (to.ws) {
      const exchange = wsExchange({ host, path });
      return await runSeries({ ...series, exchange }, message, timeoutMs, values, io);
    }
    const exchange = httpExchange({ method, host, path, headers });
    return await runSeries({ ...series, exchange }, message, timeoutMs, values, io);
  }
  const options = { url: to.url, message, timeoutMs, ...transport };
  const result = to.ws
    ? { ...await sendWs(options), protocol: "WebSocket" }
    : await sendHttp({ ...options, method, headers });
  echoLines(io, result.echo, {
    ...result,
    verbose: values.verbose,
    came: sendsBody(method) ? "echoed" : "received",
  });
  const status = "statusLine" in result
    ? result.statusLine.replace(/^HTTP\/\S+ /, "")
    : `${result.status}${result.reason ? ` ${result.reason}` : ""}`;
  io.out(`status: ${status}`);
  io.out(`protocol: ${result.protocol}${result.tls ? ` over ${result.tls.protocol}` : ""}`);
  io.out(`instance: ${result.instance ?? "unknown (no X-Echo-Instance header)"}`);
  return EXIT.ok;
}

/** The command a destination is read for: its name, how many arguments follow HOST, the error if more. */
export interface DestinationCommand {
  name: string;
  rest: number;
  tooMany: (extra: string) => string;
}

const SEND: DestinationCommand = { name: "send", rest: 1, tooMany };

/**
 * The URL from a URL argument, or made of HOST, `-p` and `--tls`.
 *
 * @example
 * ```ts
 * import { destination } from "./send_http.ts";
 *
 * destination({ ws: true }, ["127.0.0.1:8080"]).url.href; // "ws://127.0.0.1:8080/"
 * ```
 */
export function destination(
  values: Pick<HttpSendValues, "http" | "ws" | "port" | "tls" | "unix">,
  positionals: string[],
  command: DestinationCommand = SEND,
): Destination {
  const [first, ...after] = positionals;
  if (first !== undefined && URL_FORM.test(first)) {
    if (after.length > command.rest) throw new UsageError(command.tooMany(after[command.rest]));
    if (values.port !== undefined) throw new UsageError("the port goes in the URL: leave out -p");
    const url = parseUrl(first);
    const ws = url.protocol === "ws:" || url.protocol === "wss:";
    const { secure } = urlTarget(url);
    if (values.http && ws) {
      throw new UsageError(`--http takes an http:// or https:// URL, not ${first}`);
    }
    if (values.ws && !ws) throw new UsageError(`--ws takes a ws:// or wss:// URL, not ${first}`);
    if (values.tls && !secure) {
      throw new UsageError(`--tls with ${url.protocol}//: use ${ws ? "wss" : "https"}:// for TLS`);
    }
    return { url, ws, secure, rest: after };
  }
  if (values.http && values.ws) throw new UsageError("--http and --ws cannot be combined");
  const { target: { hostname, port }, rest } = parseHostArgument(positionals, {
    command: command.name,
    unix: values.unix,
    port: values.port,
    fallback: DEFAULT_PORT,
    rest: command.rest,
    tooMany: command.tooMany,
  });
  const scheme = `${values.ws ? "ws" : "http"}${values.tls ? "s" : ""}`;
  // Over a Unix socket, Host names the server as a name would; any will do for sockecho.
  const authority = values.unix === undefined ? formatAddress({ hostname, port }) : "localhost";
  return {
    url: parseUrl(`${scheme}://${authority}/`),
    ws: !!values.ws,
    secure: !!values.tls,
    rest,
  };
}

function tooMany(extra: string): string {
  return `send takes a URL or HOST and one MESSAGE, not also "${extra}": quote a message with spaces`;
}

/**
 * A URL sockecho can use (`urlTarget` reads it), or a usage error saying why not.
 *
 * @example
 * ```ts
 * import { parseUrl } from "./send_http.ts";
 *
 * parseUrl("http://127.0.0.1:8080/a").port; // "8080"
 * ```
 */
export function parseUrl(text: string): URL {
  try {
    const url = new URL(text);
    urlTarget(url);
    return url;
  } catch (error) {
    const why = error instanceof RangeError ? `: ${error.message}` : "";
    throw new UsageError(`invalid URL "${text}"${why}`);
  }
}

/** The options that mean nothing over HTTP or WebSocket, or only over one of them. */
function refuseOthers(values: HttpSendValues, { ws }: Destination): void {
  const mode = ws ? "--ws" : "--http";
  for (const flag of ["udp", "retries", "proxy-protocol"] as const) {
    if (values[flag] !== undefined && values[flag] !== false) {
      throw new UsageError(`--${flag} is for the TCP (or UDP) echo: leave it out with ${mode}`);
    }
  }
  if (ws && (values.method !== undefined || values.header !== undefined)) {
    throw new UsageError(
      `--${values.method !== undefined ? "method" : "header"} is for --http, not --ws`,
    );
  }
  const method = values.method?.toUpperCase();
  if (
    (method === "GET" || method === "HEAD") &&
    (values.file !== undefined || values.size !== undefined)
  ) {
    throw new UsageError(`--method ${method} sends no body: leave out --file and --size`);
  }
}

/** A method, upper-cased (any token: the server decides what it means). */
function parseMethod(text: string | undefined): string {
  if (text === undefined) return "POST";
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(text)) {
    throw new UsageError(`invalid --method "${text}": expected a name such as GET, POST or PUT`);
  }
  return text.toUpperCase();
}

/** `--header "NAME: VALUE"` as a name and a value. */
function parseHeader(text: string): [string, string] {
  const match = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\r\n\0]*?)[ \t]*$/.exec(text);
  if (!match) {
    throw new UsageError(
      `invalid --header "${text}": expected "NAME: VALUE", e.g. "X-Echo-Delay: 1s"`,
    );
  }
  const name = match[1].toLowerCase();
  if (["host", "content-length", "transfer-encoding", "connection"].includes(name)) {
    throw new UsageError(`--header ${match[1]} is sockecho's to set: leave it out`);
  }
  return [match[1], match[2]];
}
