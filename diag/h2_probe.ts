/**
 * Is HTTP/2 on offer? Over TLS, a handshake offering ALPN `h2` and
 * `http/1.1` shows which the server (or the TLS terminator in between)
 * picks. In clear text, HTTP/2 "with prior knowledge" (h2c): the client
 * preface and an empty SETTINGS frame, answered by a SETTINGS frame from a
 * server that speaks it, by an HTTP/1.1 error (or a close) from one that
 * does not. Nothing else is sent: the probe sees what is offered, it does
 * not speak HTTP/2.
 *
 * @example
 * ```ts
 * import { dialStream } from "../net/dial.ts";
 * import { probeH2c } from "./h2_probe.ts";
 *
 * const conn = await dialStream({ hostname: "127.0.0.1", port: 4321 }, AbortSignal.timeout(3000));
 * const { speaks, answer } = await probeH2c(conn, 3000);
 * console.log(speaks, answer);
 * ```
 *
 * @module
 */

import type { DialedConn } from "../net/dial.ts";
import { escapeBytes } from "../net/format.ts";
import { latin1Bytes } from "../net/http/client.ts";
import { closeAfter, closeQuietly, writeAll } from "../net/io.ts";

/** The client connection preface (RFC 9113 §3.4), then an empty SETTINGS frame. */
const PREFACE = new Uint8Array([
  ...latin1Bytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
  ...[0, 0, 0, 0x04, 0, 0, 0, 0, 0],
]);
/** A frame header's length; its fourth byte is the type. */
const FRAME_HEADER_BYTES = 9;
const SETTINGS = 0x04;

/** What {@linkcode probeH2c} saw. */
export interface H2cProbe {
  /** True when the server answered the preface with a SETTINGS frame. */
  readonly speaks: boolean;
  /** What came instead, safe to print: an HTTP/1.1 status line, "nothing" or "a close". */
  readonly answer: string;
}

/**
 * Sends the HTTP/2 preface on `conn` and reads the first frame header (at
 * most `timeoutMs`); closes `conn`. Never throws for what the server does.
 *
 * @example
 * ```ts
 * import { dialStream } from "../net/dial.ts";
 * import { probeH2c } from "./h2_probe.ts";
 *
 * const conn = await dialStream({ hostname: "127.0.0.1", port: 4321 }, AbortSignal.timeout(3000));
 * (await probeH2c(conn, 3000)).speaks; // false for an HTTP/1.1-only server
 * ```
 */
export async function probeH2c(conn: DialedConn, timeoutMs: number): Promise<H2cProbe> {
  const deadline = closeAfter(conn, timeoutMs);
  const head = new Uint8Array(256);
  let got = 0;
  try {
    await writeAll(conn, PREFACE);
    while (got < FRAME_HEADER_BYTES) {
      const n = await conn.read(head.subarray(got));
      if (n === null) break;
      got += n;
    }
  } catch {
    // A reset or the deadline: what came is the answer.
  } finally {
    deadline.clear();
    closeQuietly(conn);
  }
  if (got >= FRAME_HEADER_BYTES && head[3] === SETTINGS && head.subarray(5, 9).every((b) => !b)) {
    return { speaks: true, answer: "a SETTINGS frame" };
  }
  if (got === 0) return { speaks: false, answer: deadline.fired ? "nothing" : "a close" };
  const text = head.subarray(0, got);
  const lineEnd = text.indexOf(0x0d);
  return { speaks: false, answer: escapeBytes(text.subarray(0, lineEnd < 0 ? got : lineEnd)) };
}

/**
 * The sentence for an ALPN answer to an offer of `h2` and `http/1.1`.
 *
 * @example
 * ```ts
 * import { describeAlpn } from "./h2_probe.ts";
 *
 * describeAlpn("h2"); // "h2 offered: ALPN chose h2 from h2, http/1.1"
 * ```
 */
export function describeAlpn(chosen: string | undefined): string {
  if (chosen === "h2") return "h2 offered: ALPN chose h2 from h2, http/1.1";
  if (chosen === undefined) return "no h2: the TLS server chose no ALPN protocol from h2, http/1.1";
  return `no h2: ALPN chose ${chosen} from h2, http/1.1`;
}
