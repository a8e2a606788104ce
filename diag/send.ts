/**
 * An echo client over TCP, TLS or a Unix domain socket: connect, send a message, read until all of it has come
 * back, and check it byte for byte. The module never prints: it returns a
 * {@linkcode SendResult} or throws one of the typed errors of `errors.ts`.
 *
 * @example
 * ```ts
 * import { send } from "./send.ts";
 *
 * const { echo } = await send({ hostname: "127.0.0.1", port: 4321 });
 * console.log(new TextDecoder().decode(echo));
 * ```
 *
 * @module
 */

import {
  ClosedEarlyError,
  describeOsError,
  MismatchError,
  NotTlsError,
  SockechoError,
  TimeoutError,
} from "../net/errors.ts";
import { dialerFor, dialWithin } from "../net/dial.ts";
import { formatAddress, formatCount, formatSeconds, plural, quoteBytes } from "../net/format.ts";
import { resolveHost } from "../net/resolve.ts";
import { closeAfter, closeQuietly, type StreamConn, writeAll } from "../net/io.ts";
import { DEFAULT_PORT } from "../net/listen.ts";
import type { TlsClientOptions, TlsSession } from "../net/tls/client.ts";

/**
 * What the seed's C client sends: the text and its C-string terminator, 21
 * bytes, so that a C server printing it with `%s` shows it cleanly.
 */
export const C_CLIENT_MESSAGE: Uint8Array = new TextEncoder().encode(
  "你好啊服务器!\n\0",
);

/** Nothing stops a send but its own timeout. */
const NEVER = new AbortController().signal;

/** How long a mismatch waits for more of the peer's reply to show. */
const REPLY_WAIT_MS = 250;
/** Most of a mismatching reply read to show (its start and its length). */
const REPLY_MAX_BYTES = 4096;

/** Options for {@linkcode send}. */
export interface SendOptions {
  /** The server: a host name, an IPv4 or an IPv6 address. */
  hostname: string;
  /** The server's port. @default {4321} */
  port?: number;
  /** The bytes to send. @default {C_CLIENT_MESSAGE} */
  message?: Uint8Array;
  /** Time allowed for resolving, connecting and the whole echo, in ms. @default {5000} */
  timeoutMs?: number;
  /** Turns the host name into addresses to try in order. @default {resolveHost} */
  resolve?: (hostname: string) => Promise<string[]>;
  /** Speak TLS, trusting the server as these options say. */
  tls?: TlsClientOptions;
  /** Connect to this Unix domain socket instead of `hostname` and `port`. */
  path?: string;
  /**
   * Makes bytes to write before the message that are not echoed (a PROXY
   * header), from the connection's own and the server's address (TCP and
   * TLS only). @default {none}
   */
  preface?: (localAddr: Deno.NetAddr, remoteAddr: Deno.NetAddr) => Uint8Array;
  /**
   * Shut down the sending side once the message is written, as at the end
   * of a file (`nc -N`): for a message that was standard input. @default {false}
   */
  halfClose?: boolean;
}

/** What {@linkcode send} got back. */
export interface SendResult {
  /** The echo: always equal to the message sent. */
  echo: Uint8Array;
  /** The address that answered (one of the host's addresses, or the socket's path). */
  remoteAddr: Deno.NetAddr | Deno.UnixAddr;
  /** With `tls`: what the handshake settled. */
  tls?: TlsSession;
  /** From connected to the last byte of the echo, in ms. */
  roundTripMs: number;
}

/**
 * Sends a message to an echo server and waits for all of it to come back.
 * A host with several addresses is tried address by address. Throws
 * `ResolveError`, {@linkcode ConnectError}, {@linkcode TimeoutError},
 * {@linkcode ClosedEarlyError} or {@linkcode MismatchError}; with TLS also
 * `TlsVerifyError` and `NotTlsError` (also thrown when a plain exchange is
 * answered with TLS).
 *
 * @example
 * ```ts
 * import { send } from "./send.ts";
 *
 * const message = new TextEncoder().encode("ping\n");
 * const { roundTripMs } = await send({ hostname: "localhost", message });
 * ```
 */
export async function send(options: SendOptions): Promise<SendResult> {
  const {
    hostname,
    port = DEFAULT_PORT,
    message = C_CLIENT_MESSAGE,
    timeoutMs = 5000,
    resolve = resolveHost,
    tls,
    path,
  } = options;
  const deadline = performance.now() + timeoutMs;
  const { target, dial } = dialerFor({ hostname, port }, { tls, path }, resolve);
  const { conn } = await dialWithin(dial, target, timeoutMs, NEVER);
  const connectedAt = performance.now();
  const { localAddr, remoteAddr } = conn;
  // A PROXY header names IP addresses: a Unix socket has none to name.
  const preface = options.preface && "hostname" in localAddr && "hostname" in remoteAddr
    ? options.preface(localAddr, remoteAddr)
    : new Uint8Array();
  const echo = await exchange(conn, [preface, message], deadline, timeoutMs, {
    tls: tls !== undefined,
    halfClose: options.halfClose ?? false,
  });
  return {
    echo,
    remoteAddr,
    roundTripMs: performance.now() - connectedAt,
    ...conn.tls && { tls: conn.tls },
  };
}

/**
 * Writes the preface and the message (then half-closes, if asked) while
 * reading the echo back, checking every byte as it comes.
 */
async function exchange(
  conn: StreamConn,
  [preface, message]: [Uint8Array, Uint8Array],
  deadline: number,
  timeoutMs: number,
  { tls, halfClose }: { tls: boolean; halfClose: boolean },
): Promise<Uint8Array> {
  const where = formatAddress(conn.remoteAddr);
  const echo = new Uint8Array(message.length);
  let received = 0;
  const timer = closeAfter(conn, deadline - performance.now());
  // Settles to the write's error, if any, so it can be awaited after a read failure.
  const writing = writeAll(conn, preface).then(() => writeAll(conn, message)).then(
    () => halfClose ? conn.closeWrite() : undefined,
  ).then(
    () => undefined,
    (error: Error) => error,
  );
  try {
    while (received < message.length) {
      const n = await conn.read(echo.subarray(received));
      if (n === null) throw new Deno.errors.UnexpectedEof("closed");
      if (received === 0 && !tls && looksLikeTls(message, echo.subarray(0, n))) {
        throw new NotTlsError(`${where} answered with TLS: use --tls`);
      }
      received += n;
      checkEcho(message, echo, received - n, received);
    }
    const writeError = await writing;
    if (writeError) throw writeError;
    return echo;
  } catch (error) {
    const mismatch = error instanceof MismatchError &&
      await withReply(error, conn, echo.subarray(0, received));
    closeQuietly(conn);
    await writing;
    if (mismatch) throw mismatch;
    if (timer.fired) {
      throw new TimeoutError(
        `timed out after ${formatSeconds(timeoutMs)} waiting for the echo from ${where} ` +
          `(got ${formatCount(received)} of ${plural(message.length, "byte")})`,
      );
    }
    if (error instanceof SockechoError) throw error;
    const how = error instanceof Deno.errors.UnexpectedEof
      ? "closed the connection"
      : `failed (${describeOsError(error)})`;
    throw new ClosedEarlyError(
      `${where} ${how} after echoing ${formatCount(received)} of ${plural(message.length, "byte")}`,
      received,
      message.length,
      { cause: error },
    );
  } finally {
    timer.clear();
    closeQuietly(conn);
  }
}

/**
 * Adds what the peer sent to a mismatch, so a user sees at once what answered
 * (a web server, a banner): `received`, then whatever more comes within
 * {@linkcode REPLY_WAIT_MS}, up to {@linkcode REPLY_MAX_BYTES}.
 */
async function withReply(
  error: MismatchError,
  conn: StreamConn,
  received: Uint8Array,
): Promise<MismatchError> {
  const reply = new Uint8Array(Math.max(REPLY_MAX_BYTES, received.length));
  reply.set(received);
  let got = received.length;
  const timer = closeAfter(conn, REPLY_WAIT_MS);
  try {
    for (let n; got < reply.length && (n = await conn.read(reply.subarray(got))) !== null;) {
      got += n;
    }
  } catch {
    // Closed by the timer or reset by the peer: what came is what there is to show.
  } finally {
    timer.clear();
  }
  return new MismatchError(
    `${error.message}; received ${quoteBytes(reply.subarray(0, got))}`,
    error.offset,
  );
}

/**
 * Whether the first bytes back are a TLS record (an alert or handshake,
 * version 3.x) where the echo of something else should be: what a TLS server
 * sends to a client that spoke plain text to it.
 *
 * @example
 * ```ts
 * import { looksLikeTls } from "./send.ts";
 *
 * looksLikeTls(new TextEncoder().encode("hi"), new Uint8Array([0x15, 0x03, 0x03])); // true
 * ```
 */
export function looksLikeTls(sent: Uint8Array, first: Uint8Array): boolean {
  const record = first[0] === 0x15 || first[0] === 0x16;
  return record && first[0] !== sent[0] && (first.length < 2 || first[1] === 0x03);
}

function checkEcho(sent: Uint8Array, echo: Uint8Array, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    if (echo[i] !== sent[i]) {
      throw new MismatchError(
        `echo differs from what was sent at byte ${i}: sent ${hex(sent[i])}, got ${hex(echo[i])}`,
        i,
      );
    }
  }
}

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, "0")}`;
}
