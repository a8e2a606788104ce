/**
 * One verified echo over an open connection: send a {@linkcode Payload} while
 * reading its echo back, check every byte as it comes, and on a difference
 * say where, with a hex view around the first wrong byte. Memory is bounded by
 * what is in flight, not by the payload's size.
 *
 * @example
 * ```ts
 * import { dialTcp } from "../net/dial.ts";
 * import { echoPayload } from "./echo.ts";
 * import { patternPayload } from "./payload.ts";
 *
 * const conn = await dialTcp({ hostname: "127.0.0.1", port: 4321 }, new AbortController().signal);
 * const { ms, reads } = await echoPayload(conn, patternPayload(1 << 20), { timeoutMs: 5000 });
 * conn.close();
 * ```
 *
 * @module
 */

import { looksLikeTls } from "./send.ts";
import { describeRemote, type DialedConn } from "../net/dial.ts";
import {
  ClosedEarlyError,
  describeOsError,
  MismatchError,
  NotTlsError,
  SockechoError,
  TimeoutError,
} from "../net/errors.ts";
import { formatCount } from "../net/format.ts";
import { closeQuietly, writeAll } from "../net/io.ts";
import type { Payload } from "./payload.ts";

/** Options for {@linkcode echoPayload}. */
export interface EchoOptions {
  /** Time allowed for the whole echo, in ms. */
  timeoutMs: number;
  /** Aborting it closes the connection and ends the echo (Ctrl+C). */
  signal?: AbortSignal;
  /**
   * Shut down our sending side after the payload; then the echo ends at the
   * peer's FIN. Required for a payload of unknown size. @default {false}
   */
  halfClose?: boolean;
  /**
   * Bytes this connection echoed before the payload: a wrong byte is then
   * named by its offset in the connection first, in the payload second.
   * @default {0}
   */
  offset?: number;
}

/** What {@linkcode echoPayload} measured. */
export interface EchoResult {
  /** Bytes sent, and echoed exact. */
  readonly bytes: number;
  /** From the first byte written to the last byte of the echo, in ms. */
  readonly ms: number;
  /** The size of each read that brought echo back: how the reply was segmented. */
  readonly reads: number[];
}

/** An echo that differs from what was sent, with a hex view around the first wrong byte. */
export class EchoMismatchError extends MismatchError {
  /** Creates the error; `view` is the two-line hex view. */
  constructor(message: string, offset: number, readonly view: string) {
    super(message, offset);
  }
}

/** The echo did not finish in time; `received` bytes had come back exact. */
export class EchoTimeoutError extends TimeoutError {
  /** Creates the error. */
  constructor(message: string, readonly received: number) {
    super(message);
  }
}

/** Bytes of context shown on each side of the first wrong byte. */
const CONTEXT_BYTES = 8;

/**
 * Sends `payload` on `conn` and reads its echo, checked byte by byte. On any
 * failure the connection is closed and one of {@linkcode EchoTimeoutError},
 * `ClosedEarlyError` or {@linkcode EchoMismatchError} is thrown (`NotTlsError`
 * when a plain connection is answered with TLS), or the payload's own read
 * error; an abort of `signal` throws its reason.
 *
 * @example
 * ```ts
 * import { dialTcp } from "../net/dial.ts";
 * import { echoPayload } from "./echo.ts";
 * import { bytesPayload } from "./payload.ts";
 *
 * const conn = await dialTcp({ hostname: "127.0.0.1", port: 4321 }, new AbortController().signal);
 * const payload = bytesPayload(new TextEncoder().encode("ping\n"));
 * const { ms } = await echoPayload(conn, payload, { timeoutMs: 2000 });
 * conn.close();
 * ```
 */
export async function echoPayload(
  conn: DialedConn,
  payload: Payload,
  { timeoutMs, signal, halfClose = false, offset = 0 }: EchoOptions,
): Promise<EchoResult> {
  const remote = describeRemote(conn);
  const check = new EchoCheck(offset);
  const reads: number[] = [];
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    closeQuietly(conn);
  }, timeoutMs);
  const onAbort = () => closeQuietly(conn);
  signal?.addEventListener("abort", onAbort, { once: true });
  const startedAt = performance.now();
  let sent: number | undefined;
  let first: Uint8Array | undefined;
  // Settles to the write's error, if any, so that it can be awaited after a read failure;
  // the error also closes the connection, so that the read stops waiting for an echo.
  const writing = (async () => {
    let written = 0;
    for await (const chunk of payload.chunks()) {
      check.expect(chunk);
      first ??= chunk;
      await writeAll(conn, chunk);
      written += chunk.length;
    }
    if (payload.size !== undefined && written !== payload.size) {
      throw new Error(`the payload changed size while it was sent (${written} bytes)`);
    }
    if (halfClose) await conn.closeWrite();
    sent = written;
  })().then(() => undefined, (error: Error) => {
    closeQuietly(conn);
    return error;
  });
  const buffer = new Uint8Array(64 * 1024);
  try {
    const expected = halfClose ? Infinity : payload.size!;
    while (check.verified < expected) {
      const n = await conn.read(buffer);
      if (n === null) break;
      // A TLS server answers plain bytes with an alert: say so rather than "mismatch".
      if (reads.length === 0 && !conn.tls && looksLikeTls(first!, buffer.subarray(0, n))) {
        throw new NotTlsError(`${remote} answered with TLS: use --tls`);
      }
      reads.push(n);
      check.verify(buffer.subarray(0, n));
    }
    const writeError = await writing;
    if (writeError) throw writeError;
    if (check.verified !== sent) throw new Deno.errors.UnexpectedEof("closed");
    return { bytes: check.verified, ms: performance.now() - startedAt, reads };
  } catch (error) {
    closeQuietly(conn);
    const writeError = await writing;
    if (signal?.aborted) throw signal.reason;
    const progress = `${check.verified} of ${sent ?? payload.size ?? "?"} bytes`;
    if (timedOut) {
      const waited = `timed out after ${timeoutMs / 1000} s`;
      throw new EchoTimeoutError(
        `${waited} waiting for the echo from ${remote} (got ${progress})`,
        check.verified,
      );
    }
    // A mismatch, TLS where plain was spoken, or a verdict of the layer below (HTTP's).
    if (error instanceof SockechoError) throw error;
    if (writeError && !isConnectionError(writeError)) throw writeError;
    const how = error instanceof Deno.errors.UnexpectedEof
      ? "closed the connection"
      : `failed (${describeOsError(error)})`;
    throw new ClosedEarlyError(
      `${remote} ${how} after echoing ${progress}`,
      check.verified,
      sent ?? payload.size ?? check.verified,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

function isConnectionError(error: Error): boolean {
  return error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.BadResource || error instanceof Deno.errors.NotConnected;
}

/** The bytes sent but not yet echoed, and the check of each echoed chunk against them. */
class EchoCheck {
  verified = 0;
  /** Bytes the connection carried before this payload. */
  readonly #base: number;
  #pending: Uint8Array[] = [];
  #headOffset = 0;
  /** The last few bytes that matched: the left side of a hex view. */
  #recent: Uint8Array = new Uint8Array(0);

  constructor(base: number) {
    this.#base = base;
  }

  expect(chunk: Uint8Array): void {
    if (chunk.length > 0) this.#pending.push(chunk);
  }

  verify(got: Uint8Array): void {
    for (let at = 0; at < got.length;) {
      const head = this.#pending[0];
      if (head === undefined) {
        this.#fail(got, at, new Uint8Array(0), "more bytes came back than were sent");
      }
      const n = Math.min(head.length - this.#headOffset, got.length - at);
      for (let i = 0; i < n; i++) {
        if (got[at + i] !== head[this.#headOffset + i]) {
          this.verified += i;
          this.#fail(got, at + i, head.subarray(this.#headOffset + i));
        }
      }
      at += n;
      this.verified += n;
      this.#headOffset += n;
      if (this.#headOffset === head.length) {
        this.#pending.shift();
        this.#headOffset = 0;
      }
    }
    this.#recent = lastBytes([this.#recent, got], CONTEXT_BYTES);
  }

  /** Throws for the first wrong byte, `got[at]`, at payload offset `this.verified`. */
  #fail(got: Uint8Array, at: number, sentFrom: Uint8Array, why?: string): never {
    const offset = this.#base + this.verified;
    const before = lastBytes([this.#recent, got.subarray(0, at)], CONTEXT_BYTES);
    const view = hexView(
      offset - before.length,
      [...before, ...sentFrom.subarray(0, CONTEXT_BYTES)],
      [...before, ...got.subarray(at, at + CONTEXT_BYTES)],
      before.length,
    );
    // After earlier exchanges on the connection, the payload's own offset helps too.
    const where = this.#base === 0
      ? `byte ${formatCount(offset)}`
      : `byte ${formatCount(offset)} of the connection (byte ${
        formatCount(this.verified)
      } of the payload)`;
    const what = why ??
      `echo differs from what was sent at ${where}: sent ${hex(sentFrom[0])}, got ${hex(got[at])}`;
    throw new EchoMismatchError(why ? `${what} (from ${where})` : what, offset, view);
  }
}

/** The last `count` bytes of the concatenation of `parts`. */
function lastBytes(parts: Uint8Array[], count: number): Uint8Array {
  const all = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return all.slice(Math.max(0, all.length - count));
}

/**
 * Two aligned hex lines, sent above got, starting at echo offset `start`,
 * with the first wrong byte (index `mark`) in brackets.
 *
 * @example
 * ```ts
 * import { hexView } from "./echo.ts";
 *
 * hexView(6, [0x61, 0x62], [0x61, 0x00], 1);
 * // "sent  00000006  61 [62]\ngot   00000006  61 [00]"
 * ```
 */
export function hexView(start: number, sent: number[], got: number[], mark: number): string {
  const line = (bytes: number[]) =>
    bytes.map((byte, i) => {
      const text = byte.toString(16).padStart(2, "0");
      return i === mark ? `[${text}]` : text;
    }).join(" ");
  const where = start.toString(16).padStart(8, "0");
  return `sent  ${where}  ${line(sent)}\ngot   ${where}  ${line(got)}`;
}

function hex(byte: number | undefined): string {
  return byte === undefined ? "nothing" : `0x${byte.toString(16).padStart(2, "0")}`;
}
