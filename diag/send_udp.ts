/**
 * A UDP echo client: send one datagram and wait for the identical datagram
 * to come back from the server, sending it again up to `retries` times
 * within the timeout, since UDP may lose either. The module never prints: it
 * returns a {@linkcode UdpSendResult} or throws a typed error of `errors.ts`.
 *
 * @example
 * ```ts
 * import { sendUdp } from "./send_udp.ts";
 *
 * const message = new TextEncoder().encode("ping");
 * const { echo, attempts } = await sendUdp({ hostname: "127.0.0.1", message, retries: 2 });
 * ```
 *
 * @module
 */

import dgram from "node:dgram";
import { C_CLIENT_MESSAGE } from "./send.ts";
import { ConnectError, MismatchError, TimeoutError } from "../net/errors.ts";
import { formatAddress, formatSeconds, quoteBytes } from "../net/format.ts";
import { resolveHost } from "../net/resolve.ts";
import { DEFAULT_PORT } from "../net/listen.ts";
import { describeDgramError } from "../net/udp.ts";

/** Options for {@linkcode sendUdp}. */
export interface UdpSendOptions {
  /** The server: a host name, an IPv4 or an IPv6 address (its first address is used). */
  hostname: string;
  /** The server's port. @default {4321} */
  port?: number;
  /** The datagram to send. @default {C_CLIENT_MESSAGE} */
  message?: Uint8Array;
  /** Time allowed from the start (resolving counts against it) for every try, in ms. @default {5000} */
  timeoutMs?: number;
  /** How many times to send again when no answer came; the tries share the timeout evenly. @default {2} */
  retries?: number;
  /** The local address to send from; the system picks one when absent. */
  localAddress?: string;
}

/** What {@linkcode sendUdp} got back. */
export interface UdpSendResult {
  /** The echo: always equal to the message sent. */
  echo: Uint8Array;
  /** The address that answered. */
  remoteAddr: Deno.NetAddr;
  /** From the last send to the echo, in ms. */
  roundTripMs: number;
  /** Which try was answered, from 1. */
  attempts: number;
}

/**
 * Sends a datagram to a UDP echo server and waits for it to come back.
 * Datagrams from any other address are ignored. Throws `ResolveError`,
 * {@linkcode TimeoutError} (no answer), {@linkcode MismatchError} (an answer
 * that differs) or {@linkcode ConnectError} (the system could not send it).
 *
 * UDP has no connection to refuse: a closed port answers with ICMP port
 * unreachable, which a connected socket reports as `ECONNREFUSED` (then
 * {@linkcode ConnectError}). Deno 2.9's `node:dgram` emulates `connect()`
 * without the system call, so there a closed port ends as a timeout.
 *
 * @example
 * ```ts
 * import { sendUdp } from "./send_udp.ts";
 *
 * const { roundTripMs } = await sendUdp({ hostname: "::1", port: 4321, timeoutMs: 1000 });
 * ```
 */
export async function sendUdp(options: UdpSendOptions): Promise<UdpSendResult> {
  const {
    port = DEFAULT_PORT,
    message = C_CLIENT_MESSAGE,
    timeoutMs = 5000,
    retries = 2,
  } = options;
  const deadline = performance.now() + timeoutMs;
  const [address] = await resolveHost(options.hostname);
  const where = formatAddress({ hostname: address, port });
  const socket = dgram.createSocket(address.includes(":") ? "udp6" : "udp4");
  const tries = retries + 1;
  let attempts = 0;
  let sentAt = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await new Promise<UdpSendResult>((resolve, reject) => {
      const fail = (error: Error & { code?: string }) =>
        reject(
          new ConnectError(`cannot send to ${where} (UDP): ${describeDgramError(error)}`, {
            cause: error,
          }),
        );
      socket.on("error", fail);
      socket.on("message", (datagram: Uint8Array, rinfo: dgram.RemoteInfo) => {
        if (!sameAddress(rinfo.address, address) || rinfo.port !== port) return;
        const offset = firstDifference(message, datagram);
        if (offset !== -1) {
          return reject(
            new MismatchError(
              `echo from ${where} differs from what was sent at byte ${offset}: ` +
                `sent ${describeByte(message, offset)}, got ${describeByte(datagram, offset)}; ` +
                `received ${quoteBytes(datagram)}`,
              offset,
            ),
          );
        }
        const remoteAddr: Deno.NetAddr = { transport: "udp", hostname: address, port };
        resolve({ echo: datagram, remoteAddr, roundTripMs: performance.now() - sentAt, attempts });
      });
      const sendNext = () => {
        if (attempts === tries) {
          const of = tries > 1 ? ` (${tries} tries)` : "";
          return reject(
            new TimeoutError(
              `timed out after ${formatSeconds(timeoutMs)}: no echo from ${where}${of}`,
            ),
          );
        }
        attempts++;
        sentAt = performance.now();
        try {
          socket.send(message, (error) => error && fail(error));
        } catch (error) {
          return fail(error as Error); // e.g. port 0, refused before anything is sent
        }
        // Each try gets an even share of what is left of the timeout.
        const share = (deadline - sentAt) / (tries - attempts + 1);
        timer = setTimeout(sendNext, Math.max(0, share));
      };
      // Connected, so that a system that reports ICMP port unreachable on the
      // socket (ECONNREFUSED) ends the wait at once; see the note above.
      socket.bind({ address: options.localAddress, port: 0 }, () => {
        socket.connect(port, address, sendNext);
      });
    });
  } finally {
    clearTimeout(timer);
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

/** True when `a` and `b` name the same host, an IPv4-mapped IPv6 address matching its IPv4 one. */
function sameAddress(a: string, b: string): boolean {
  const plain = (host: string) => host.replace(/^::ffff:(?=\d+\.)/i, "");
  return plain(a) === plain(b);
}

/** The index of the first byte where `a` and `b` differ (one ending counts), or -1. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : length;
}

function describeByte(bytes: Uint8Array, offset: number): string {
  return offset < bytes.length ? `0x${bytes[offset].toString(16).padStart(2, "0")}` : "the end";
}
