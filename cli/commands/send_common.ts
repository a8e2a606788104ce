/**
 * What `send`'s ways of sending share (TCP, UDP, HTTP, WebSocket): the
 * message from MESSAGE or standard input, and the lines that show an echo
 * (`server message: …`, and with `-v` who answered and how fast).
 *
 * @example
 * ```ts
 * import { consoleIo } from "../io.ts";
 * import { echoLines } from "./send_common.ts";
 *
 * const echo = new TextEncoder().encode("hi\n");
 * echoLines(consoleIo, echo, { verbose: false });
 * ```
 *
 * @module
 */

import { inform, type MainIo, type StandardInput } from "../io.ts";
import { escapeBytes, formatAddress, plural } from "../../net/format.ts";
import type { TlsSession } from "../../net/tls/client.ts";

/** What `-v` tells about an echo. */
export interface EchoFacts {
  /** Whether `-v` was given. */
  verbose?: boolean;
  /** Who answered. */
  remoteAddr?: Deno.NetAddr | Deno.UnixAddr;
  /** From the first byte sent to the last byte back, in ms. */
  roundTripMs?: number;
  /** Over TLS: what the handshake settled. */
  tls?: TlsSession;
  /** Words after the round trip, e.g. "(UDP, try 2)". */
  note?: string;
  /** What the bytes were: "echoed" unless they were not an echo ("received"). @default {"echoed"} */
  came?: string;
}

/**
 * Prints `server message: ` and the echo (without a C terminator and one
 * final newline, escaped as the server's log is); with `facts.verbose`, who
 * answered and the round trip on stderr, and over TLS the session.
 *
 * @example
 * ```ts
 * import { consoleIo } from "../io.ts";
 * import { echoLines } from "./send_common.ts";
 *
 * echoLines(consoleIo, new TextEncoder().encode("hi\n\0"), { verbose: false }); // server message: hi
 * ```
 */
export function echoLines(io: MainIo, echo: Uint8Array, facts: EchoFacts): void {
  const shown = echo.at(-1) === 0 ? echo.subarray(0, -1) : echo;
  const line = shown.at(-1) === 0x0a ? shown.subarray(0, -1) : shown;
  io.out(`server message: ${escapeBytes(line, { dropTrailingNul: false })}`);
  if (!facts.verbose || facts.remoteAddr === undefined || facts.roundTripMs === undefined) return;
  inform(
    io,
    `${plural(echo.length, "byte")} ${facts.came ?? "echoed"} by ${
      formatAddress(facts.remoteAddr)
    } ` +
      `in ${facts.roundTripMs.toFixed(3)} ms${facts.note ? ` ${facts.note}` : ""}`,
  );
  const { tls } = facts;
  if (tls) {
    inform(
      io,
      `TLS: ${tls.protocol}, ${tls.cipher}, handshake ${tls.handshakeMs.toFixed(3)} ms, ` +
        `certificate SHA-256 ${tls.fingerprint}`,
    );
  }
}

/**
 * The message when it is standard input, read to its end: for MESSAGE "-"
 * (POSIX's name for it), and for no MESSAGE, `--file` or `--size` while stdin
 * is a pipe or a file with something in it (cron's stdin is an empty pipe:
 * the greeting stands there). Undefined when the message is not stdin.
 *
 * @example
 * ```ts
 * import { consoleIo } from "../io.ts";
 * import { stdinMessage } from "./send_common.ts";
 *
 * const message = await stdinMessage("-", {}, consoleIo); // all of stdin
 * ```
 */
export async function stdinMessage(
  text: string | undefined,
  values: { file?: string; size?: string },
  io: MainIo,
): Promise<Uint8Array | undefined> {
  // With --file or --size, any MESSAGE (even "-") is a source too many: runSeries says so.
  if (values.file !== undefined || values.size !== undefined) return undefined;
  if (text === "-") return await readAll(io.stdin);
  if (text !== undefined || !io.stdin?.redirected()) return undefined;
  const bytes = await readAll(io.stdin);
  return bytes.length > 0 ? bytes : undefined;
}

/**
 * MESSAGE as UTF-8, exactly as given; undefined without one.
 *
 * @example
 * ```ts
 * import { encodeText } from "./send_common.ts";
 *
 * encodeText("hi"); // Uint8Array [104, 105]
 * ```
 */
export function encodeText(text: string | undefined): Uint8Array | undefined {
  return text === undefined ? undefined : new TextEncoder().encode(text);
}

/** All of standard input (empty when there is none). */
async function readAll(stdin: StandardInput | undefined): Promise<Uint8Array> {
  return stdin ? await new Response(stdin.readable).bytes() : new Uint8Array();
}
