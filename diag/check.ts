/**
 * `sockecho check`: is this echo path whole? A fixed series of checks against
 * one echo server, each with a verdict: connect time (over TLS, the
 * handshake's as its own row); all 256 byte values and a 1 MiB pattern
 * echoed exact (with the first wrong byte shown); how the reply was
 * segmented; half-close (the whole echo, then a FIN); a second client served
 * while the first is open. Every step is bounded in time.
 *
 * @example
 * ```ts
 * import { check } from "./check.ts";
 *
 * const report = await check({ target: { hostname: "127.0.0.1", port: 4321 } });
 * for (const row of report.rows) console.log(row.name, row.verdict, row.detail);
 * ```
 *
 * @module
 */

import {
  describeRemote,
  type Dialed,
  type DialedConn,
  type Dialer,
  dialStream,
  type DialTarget,
  dialWithin,
} from "../net/dial.ts";
import { EchoMismatchError, echoPayload, type EchoResult, EchoTimeoutError } from "./echo.ts";
import {
  ClosedEarlyError,
  describeOsError,
  NotTlsError,
  SockechoError,
  TlsVerifyError,
} from "../net/errors.ts";
import {
  EchoCorruptedError,
  EchoIncompleteError,
  HalfCloseError,
  OneClientAtATimeError,
} from "./errors.ts";
import { formatCount, formatSeconds, plural } from "../net/format.ts";
import { closeQuietly } from "../net/io.ts";
import { bytesPayload, patternPayload } from "./payload.ts";

/** Options for {@linkcode check}. */
export interface CheckOptions {
  /** The echo server. */
  target: DialTarget;
  /** Time allowed for each step (a connect, an echo, the wait for a FIN), in ms. @default {3000} */
  timeoutMs?: number;
  /** Opens connections (`tlsDialer` for TLS). @default {dialStream} */
  dial?: Dialer;
  /** Size of the patterned payload. @default {1048576} */
  bulkBytes?: number;
  /** Bytes sent before our half-close. @default {65536} */
  halfCloseBytes?: number;
}

/** A check's outcome: `info` rows describe and never fail; `skip` rows could not run. */
export type Verdict = "pass" | "fail" | "info" | "skip";

/** One row of the report. */
export interface CheckRow {
  /**
   * What was checked: `connect`, `tls handshake` (over TLS), `byte values`,
   * `bulk`, `segments`, `second client`, `half-close`.
   */
  readonly name: string;
  readonly verdict: Verdict;
  /** What was found, in a line. */
  readonly detail: string;
  /** How long it took, in ms, when that is the point. */
  readonly ms?: number;
  /** A hex view around the first wrong byte, for a corrupted echo. */
  readonly view?: string;
  /** The failure, typed by kind: it decides the exit code. */
  readonly error?: Error;
  /** What was measured, for `--json` (`check --http`'s limits, modes and headers). */
  readonly facts?: Readonly<Record<string, unknown>>;
}

/** What {@linkcode check} found. */
export interface CheckReport {
  /** The rows, in the order they ran. */
  readonly rows: CheckRow[];
  /** The first failure, if any. */
  readonly failure?: Error;
}

/** Every byte value, 0 to 255, once. */
export const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);

/**
 * Runs every check and reports; never throws for what the server does.
 *
 * @example
 * ```ts
 * import { check } from "./check.ts";
 *
 * const { failure } = await check({ target: { hostname: "127.0.0.1", port: 4321 }, timeoutMs: 2000 });
 * if (failure) console.error(failure.message);
 * ```
 */
export async function check(options: CheckOptions): Promise<CheckReport> {
  const {
    target,
    timeoutMs = 3000,
    dial = dialStream,
    bulkBytes = 1024 * 1024,
    halfCloseBytes = 64 * 1024,
  } = options;
  const rows: CheckRow[] = [];
  const connections = new Connections(dial, target, timeoutMs);
  const dialOne = () => connections.dial();
  const connect = () => connections.connect();
  const echo = (conn: DialedConn, bytes: Uint8Array | number, halfClose = false, offset = 0) =>
    echoPayload(
      conn,
      typeof bytes === "number" ? patternPayload(bytes) : bytesPayload(bytes),
      { timeoutMs, halfClose, offset },
    );
  try {
    const opened = await openFirst(rows, dialOne, [
      "byte values",
      "bulk",
      "segments",
      "second client",
      "half-close",
    ]);
    if (!opened) return { rows, failure: rows[0].error };
    let first = opened;
    let firstOpen = true;
    let firstEchoed = 0; // bytes echoed on `first`: a wrong byte is named by both offsets
    const onFirst = async (bytes: Uint8Array | number) => {
      if (!firstOpen) [first, firstEchoed] = [await connect(), 0];
      firstOpen = false; // echoPayload closes it on failure
      const result = await echo(first, bytes, false, firstEchoed);
      firstOpen = true;
      firstEchoed += result.bytes;
      return result;
    };

    const values = await attempt(rows, "byte values", () => onFirst(ALL_BYTES), {
      pass: () => "all 256 byte values echoed exact",
    });
    const bulk = await attempt(rows, "bulk", () => onFirst(bulkBytes), {
      pass: (r) =>
        `${bulkBytes} patterned bytes echoed exact (${(bulkBytes / r.ms / 1000).toFixed(1)} MB/s)`,
    });
    rows.push({ name: "segments", verdict: "info", detail: describeSegments(values, bulk) });

    // A server that handles one client at a time accepts (the kernel's backlog does) but
    // never answers a second connection while the first is open.
    await attempt(rows, "second client", async () => {
      if (!firstOpen) await onFirst(1);
      return await echo(await connect(), ALL_BYTES);
    }, {
      pass: () => "a second connection was echoed while the first stayed open",
      failAs: OneClientAtATimeError,
      fail: (error) =>
        error instanceof EchoTimeoutError
          ? `no echo on a second connection within ${timeoutMs / 1000} s while the first ` +
            "stayed open: one client at a time"
          : error.message,
    });
    connections.closeAll();

    await attempt(rows, "half-close", async () => echo(await connect(), halfCloseBytes, true), {
      pass: () =>
        `all ${plural(halfCloseBytes, "byte")} came back after our FIN, then the server's FIN`,
      failAs: HalfCloseError,
      fail: (error) => describeHalfClose(error, halfCloseBytes, timeoutMs),
    });
    return { rows, failure: rows.find((row) => row.error)?.error };
  } finally {
    connections.closeAll();
  }
}

/**
 * The connections a check opens, each within the step's time, all closed
 * together when the check is done with them.
 *
 * @example
 * ```ts
 * import { Connections } from "./check.ts";
 * import { dialStream } from "../net/dial.ts";
 *
 * const connections = new Connections(dialStream, { hostname: "127.0.0.1", port: 4321 }, 3000);
 * const conn = await connections.connect();
 * connections.closeAll(); // conn too
 * ```
 */
export class Connections {
  readonly #open: DialedConn[] = [];
  readonly #never = new AbortController().signal;

  /** Opens connections to `target` with `dial`, each within `timeoutMs`. */
  constructor(
    readonly dialer: Dialer,
    readonly target: DialTarget,
    readonly timeoutMs: number,
  ) {}

  /** A new connection and its connect time. */
  async dial(): Promise<Dialed> {
    const dialed = await dialWithin(this.dialer, this.target, this.timeoutMs, this.#never);
    this.#open.push(dialed.conn);
    return dialed;
  }

  /** A new connection. */
  async connect(): Promise<DialedConn> {
    return (await this.dial()).conn;
  }

  /** Closes every connection opened so far. */
  closeAll(): void {
    for (const conn of this.#open.splice(0)) closeQuietly(conn);
  }
}

/**
 * Opens the first connection and adds its rows: `connect` (and over TLS
 * `tls handshake`) passed with their times, or the one that failed and a
 * skipped row for each of `rest`; undefined then.
 *
 * @example
 * ```ts
 * import { type CheckRow, openFirst } from "./check.ts";
 * import { dialTcp, dialWithin } from "../net/dial.ts";
 *
 * const rows: CheckRow[] = [];
 * const target = { hostname: "127.0.0.1", port: 4321 };
 * const never = new AbortController().signal;
 * const conn = await openFirst(rows, () => dialWithin(dialTcp, target, 3000, never), ["bulk"]);
 * conn?.close();
 * ```
 */
export async function openFirst(
  rows: CheckRow[],
  connect: () => Promise<Dialed>,
  rest: string[],
): Promise<DialedConn | undefined> {
  let first: DialedConn;
  let connectMs: number;
  try {
    ({ conn: first, connectMs } = await connect());
  } catch (error) {
    // Refused by TLS (a certificate, or no TLS at all): the TCP connect itself went through.
    const tlsFailed = error instanceof TlsVerifyError || error instanceof NotTlsError;
    rows.push({
      name: tlsFailed ? "tls handshake" : "connect",
      verdict: "fail",
      detail: (error as Error).message,
      error: error as Error,
    });
    for (const name of rest) rows.push({ name, verdict: "skip", detail: "no connection" });
    return undefined;
  }
  rows.push({
    name: "connect",
    verdict: "pass",
    ms: connectMs,
    detail: `connected to ${describeRemote(first)}`,
  });
  const session = first.tls;
  if (session) {
    rows.push({
      name: "tls handshake",
      verdict: "pass",
      ms: session.handshakeMs,
      detail: `${session.protocol}, ${session.cipher}, certificate SHA-256 ${session.fingerprint}` +
        (session.alpn ? `, ALPN ${session.alpn}` : ""),
    });
  }
  return first;
}

/** How {@linkcode attempt} words a check's outcome and types its failure. */
export interface Outcome<R extends EchoResult = EchoResult> {
  /** The detail of a pass. */
  pass: (result: R) => string;
  /**
   * Kinds of failure that are the row's error as they come, with an exit
   * code of their own (an HTTP status, a refused WebSocket upgrade), as a
   * `NotTlsError` always is. @default {[]}
   */
  keep?: (abstract new (...args: never[]) => Error)[];
  /** The kind of failure, other than a corrupted echo. @default {EchoIncompleteError} */
  failAs?: new (message: string, options?: ErrorOptions) => SockechoError;
  /** The detail of a failure. @default {(error) => error.message} */
  fail?: (error: Error) => string;
  /** The verdict of a success: `info` where the result describes rather than passes. @default {"pass"} */
  verdict?: "pass" | "info";
  /** What a success measured, for `--json`. @default {none} */
  facts?: (result: R) => Record<string, unknown>;
}

/**
 * Runs one check and adds its row. A corrupted echo is always an
 * {@linkcode EchoCorruptedError}, a TLS answer a `NotTlsError`, the kinds
 * in `outcome.keep` themselves; other failures are of `outcome.failAs`.
 *
 * @example
 * ```ts
 * import { attempt, type CheckRow } from "./check.ts";
 * import { echoPayload } from "./echo.ts";
 * import { bytesPayload } from "./payload.ts";
 * import { dialTcp } from "../net/dial.ts";
 *
 * const rows: CheckRow[] = [];
 * const conn = await dialTcp({ hostname: "127.0.0.1", port: 4321 }, AbortSignal.timeout(3000));
 * const ping = bytesPayload(new TextEncoder().encode("ping"));
 * await attempt(rows, "ping", () => echoPayload(conn, ping, { timeoutMs: 3000 }), {
 *   pass: (result) => `echoed in ${result.ms} ms`,
 * });
 * conn.close();
 * ```
 */
export async function attempt<R extends EchoResult>(
  rows: CheckRow[],
  name: string,
  run: () => Promise<R>,
  outcome: Outcome<R>,
): Promise<R | undefined> {
  const { pass, failAs = EchoIncompleteError, fail = (error) => error.message } = outcome;
  try {
    const result = await run();
    const verdict = outcome.verdict ?? "pass";
    const facts = outcome.facts?.(result);
    rows.push({ name, verdict, ms: result.ms, detail: pass(result), ...facts && { facts } });
    return result;
  } catch (caught) {
    const cause = caught instanceof SockechoError
      ? caught
      : new SockechoError(describeOsError(caught), { cause: caught });
    const corrupted = cause instanceof EchoMismatchError;
    const detail = corrupted ? cause.message : fail(cause);
    // A TLS server spoken to in plain text: the transport is wrong, not the echo.
    const kept = [NotTlsError, ...outcome.keep ?? []].some((kind) => cause instanceof kind);
    const error = kept && !corrupted
      ? cause
      : new (corrupted ? EchoCorruptedError : failAs)(`${name}: ${detail}`, { cause });
    rows.push({ name, verdict: "fail", detail, view: corrupted ? cause.view : undefined, error });
    return undefined;
  }
}

/** How the replies came in: the number and sizes of the reads. */
function describeSegments(values?: EchoResult, bulk?: EchoResult): string {
  const parts: string[] = [];
  if (values) parts.push(`256 B in ${plural(values.reads.length, "read")}`);
  if (bulk) {
    const sizes = bulk.reads.toSorted((a, b) => a - b);
    parts.push(
      `${formatCount(bulk.bytes)} B in ${plural(sizes.length, "read")} of ` +
        `${formatCount(sizes[0])}–${formatCount(sizes.at(-1)!)} B ` +
        `(median ${formatCount(sizes[Math.floor(sizes.length / 2)])} B)`,
    );
  }
  return parts.length > 0 ? parts.join("; ") : "no echo came back to measure";
}

/** Says how a half-closed exchange ended: data lost then FIN, reset, or silence. */
function describeHalfClose(error: Error, sent: number, timeoutMs: number): string {
  const bytes = plural(sent, "byte");
  if (error instanceof ClosedEarlyError) {
    const reset = error.cause instanceof Deno.errors.ConnectionReset;
    const received = formatCount(error.received);
    return reset
      ? `reset after ${received} of ${bytes} came back`
      : `only ${received} of ${bytes} came back, then the server's FIN (the rest was lost)`;
  }
  if (error instanceof EchoTimeoutError) {
    const within = formatSeconds(timeoutMs);
    return error.received === sent
      ? `all ${bytes} came back but no FIN followed within ${within}`
      : `${formatCount(error.received)} of ${bytes} came back, then nothing for ${within}`;
  }
  return error.message;
}
