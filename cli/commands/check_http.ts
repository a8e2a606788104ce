/**
 * `sockecho check --http` (or `check URL`): the URL or HOST, the options
 * that go with HTTP, and the help text's HTTP part; `commands/check.ts`
 * runs the check and prints its table. The checks themselves are
 * `diag/check_http.ts`'s.
 *
 * @example
 * ```ts
 * import { runCommand } from "../command.ts";
 * import { consoleIo } from "../io.ts";
 * import { checkCommand } from "./check.ts";
 *
 * await runCommand(checkCommand, ["http://127.0.0.1:4321/", "--idle", "5"], consoleIo);
 * ```
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import { parseHostArgument } from "../address.ts";
import { parseWhole, UsageError } from "../args.ts";
import type { MainIo } from "../io.ts";
import type { CheckHttpOptions } from "../../diag/check_http.ts";
import { formatAddress } from "../../net/format.ts";
import { DEFAULT_PORT } from "../../server.ts";
import { parseUrl } from "./send_http.ts";
import { clientTransport } from "./transport_options.ts";

/** `check`'s HTTP options. */
export const HTTP_CHECK_OPTIONS = {
  http: { type: "boolean", default: false },
  "max-body": { type: "string" },
} satisfies ParseArgsOptionsConfig;

/** The default `--max-body`: 16 MiB. */
export const DEFAULT_MAX_BODY = 16 * 1024 * 1024;
/** The most `--max-body` may be: every size the search tries goes out and comes back. */
const MOST_BODY_BYTES = 1024 * 1024 * 1024;
/** The bulk body, which the search starts above. */
const BULK_BYTES = 1024 * 1024;

/** Their part of `check --help`. */
export const HTTP_CHECK_HELP =
  `HTTP (--http, or a URL http://HOST[:PORT]/PATH?QUERY or https://… as HOST;
ports 80 and 443 by default, with HOST -p or ${DEFAULT_PORT} and path /), against
"serve --http" (the raw format for echoes, the JSON description for what the
server saw) and everything between, a row each:
  byte values, bulk  all 256 byte values, then a 1 MiB pattern, as POST
                     bodies echoed exact (the raw format), on one connection
  streaming          4 chunks dripped 200 ms apart: "streams" when the first
                     echoed byte comes before the last chunk is sent, else
                     "buffers" (something held the request or the reply)
  host, forwarded    what the server saw: Host kept or rewritten; headers the
                     path added (X-Forwarded-*, Forwarded, Via …), dropped or
                     changed
  peer               the server's TCP peer: this client, or a proxy or NAT
  keep-alive         how many connections the requests took, and on which
                     the server saw them (X-Echo-Connection)
  large header       the largest header that arrives whole, to the byte, up
                     to 64 KiB (at most 18 requests); above it a status (431,
                     400) passes, a close, reset or silence fails (16)
  large body         the largest body echoed exact, to 64 KiB, up to
                     --max-body (at most 9 requests)
  h2                 over https, whether ALPN chooses h2 from h2, http/1.1;
                     in clear text, whether HTTP/2 with prior knowledge (h2c)
                     is answered
  websocket          the upgrade (101) and 256 byte values echoed exact in a
                     binary message; a refused upgrade exits 23
  keep-alive idle, websocket idle
                     with --idle MAX: --idle-flows connections of each kind
                     idle MAX × 1/N … MAX (as for TCP, below), the shortest
                     cut; 19 when one is cut (a reply that closes every
                     connection is cut at once); takes about 1.25 × MAX more
A status of 300 or above where an echo was due exits 21, a reply that is not
HTTP/1.x 22. Over https:// (or --http --tls) the trust options apply; with
--unix PATH the URL gives only Host and the path.`;

/** The parsed `check` values this module reads: its own, `-p`, and the transport's. */
export type HttpCheckValues =
  & { http?: boolean; "max-body"?: string; port?: string }
  & Parameters<typeof clientTransport>[0];

const URL_FORM = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Whether `check` speaks HTTP: `--http`, or a URL as HOST.
 *
 * @example
 * ```ts
 * import { wantsHttpCheck } from "./check_http.ts";
 *
 * wantsHttpCheck({}, ["https://echo.example/"]); // true
 * ```
 */
export function wantsHttpCheck(values: { http?: boolean }, positionals: string[]): boolean {
  return values.http === true || URL_FORM.test(positionals[0] ?? "");
}

/**
 * The options of `checkHttp` from the command line (but for the timeout and
 * idle options, which `check` shares with TCP), and the URL to print.
 */
export async function httpCheckOptions(
  values: HttpCheckValues,
  positionals: string[],
  io: MainIo,
): Promise<CheckHttpOptions & { url: URL }> {
  const [first, ...extra] = positionals;
  const tooMany = (more: string) => `check takes one URL or HOST, not also "${more}"`;
  let url: URL;
  if (first !== undefined && URL_FORM.test(first)) {
    if (extra.length > 0) throw new UsageError(tooMany(extra[0]));
    if (values.port !== undefined) throw new UsageError("the port goes in the URL: leave out -p");
    url = checkUrl(first);
    if (values.tls && url.protocol !== "https:") {
      throw new UsageError(`--tls with ${url.protocol}//: use https:// for TLS`);
    }
  } else {
    const { target } = parseHostArgument(positionals, {
      command: "check",
      unix: values.unix,
      port: values.port,
      fallback: DEFAULT_PORT,
      tooMany,
    });
    // Over a Unix socket, Host names the server as a name would; any will do for sockecho.
    const authority = values.unix === undefined ? formatAddress(target) : "localhost";
    url = checkUrl(`http${values.tls ? "s" : ""}://${authority}/`);
  }
  const secure = url.protocol === "https:";
  const { tls, path } = await clientTransport({ ...values, tls: secure }, io);
  const maxBodyBytes = parseWhole(
    values["max-body"] ?? `${DEFAULT_MAX_BODY}`,
    "--max-body",
    BULK_BYTES,
  );
  if (maxBodyBytes > MOST_BODY_BYTES) {
    throw new UsageError(
      `invalid --max-body "${values["max-body"]}": at most ${MOST_BODY_BYTES} (1 GiB)`,
    );
  }
  return { url, tls, path, maxBodyBytes, bulkBytes: BULK_BYTES };
}

/** An `http://` or `https://` URL, or a usage error saying why not. */
function checkUrl(text: string): URL {
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(text)![0].toLowerCase();
  if (scheme !== "http:" && scheme !== "https:") {
    throw new UsageError(`check takes an http:// or https:// URL, not ${scheme}//`);
  }
  return parseUrl(text);
}
