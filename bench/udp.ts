/**
 * The UDP pingpong load of `bench --udp`: each socket sends a datagram, waits
 * for its echo, repeats. A datagram whose echo does not come back within
 * `lossTimeoutMs` is counted as lost and the socket moves on, so a lossy
 * path or a rate-limiting server never hangs the run. Every echo is
 * verified; each datagram carries its sequence number, so a late echo of a
 * datagram already counted lost is recognised and ignored.
 *
 * @example
 * ```ts
 * import { udpPingpong } from "./udp.ts";
 *
 * const result = await udpPingpong({
 *   hostname: "127.0.0.1",
 *   port: 4321,
 *   sockets: 4,
 *   size: 64,
 *   durationMs: 2000,
 *   lossTimeoutMs: 1000,
 * });
 * console.log(result.operations, "round trips,", result.lost, "lost");
 * ```
 *
 * @module
 */

import dgram from "node:dgram";
import { MismatchError, TimeoutError } from "../net/errors.ts";
import { formatAddress } from "../net/format.ts";
import { Histogram } from "./histogram.ts";
import type { BenchProgress, ShareResult } from "./share.ts";
import { Tally } from "./tally.ts";

/** The smallest datagram: room for its sequence number. */
export const MIN_DATAGRAM_BYTES = 4;

/** What {@linkcode udpPingpong} loads. */
export interface UdpLoad {
  /** The server's address (an address, not a name). */
  hostname: string;
  port: number;
  /** Sockets kept busy at once, each with one datagram in flight. */
  sockets: number;
  /** Bytes per datagram, from {@linkcode MIN_DATAGRAM_BYTES} to `MAX_DATAGRAM_BYTES`. */
  size: number;
  /** Stop after this long, in ms. */
  durationMs?: number;
  /** Stop after this many datagrams in all. */
  count?: number;
  /** How long to wait for one echo before counting the datagram lost, in ms. */
  lossTimeoutMs: number;
}

/** What {@linkcode udpPingpong} measured: round trips answered, and datagrams lost. */
export interface UdpResult extends ShareResult<Histogram> {
  /** Datagrams whose echo did not come back within the loss timeout. */
  lost: number;
}

/**
 * Runs the load. Throws {@linkcode MismatchError} when an echo differs, and
 * {@linkcode TimeoutError} when not one datagram came back. An aborted `signal`
 * ends it early, as the deadline does.
 *
 * @example
 * ```ts
 * import { udpPingpong } from "./udp.ts";
 *
 * const { lost } = await udpPingpong({
 *   hostname: "127.0.0.1",
 *   port: 4321,
 *   sockets: 1,
 *   size: 64,
 *   count: 100,
 *   lossTimeoutMs: 200,
 * });
 * ```
 */
export async function udpPingpong(
  load: UdpLoad,
  onProgress?: (progress: BenchProgress) => void,
  signal?: AbortSignal,
): Promise<UdpResult> {
  const start = performance.now();
  const tally = new Tally(() => new Histogram(), start, start);
  let lost = 0;
  let left = load.count ?? Infinity;
  const deadline = start + (load.durationMs ?? Infinity);
  // Ctrl+C (`signal`) ends the load like the deadline: the datagrams in flight finish.
  const take = () => !signal?.aborted && left-- > 0 && performance.now() < deadline;
  const totals = (): BenchProgress => ({
    elapsedMs: performance.now() - start,
    operations: tally.operations,
    bytes: tally.bytes,
  });
  const progress = setInterval(() => {
    tally.cut("measure");
    onProgress?.(totals());
  }, 1000);
  const sockets = await Promise.all(
    Array.from({ length: load.sockets }, () => EchoSocket.open(load)),
  );
  try {
    await Promise.all(sockets.map(async (socket) => {
      for (let sequence = 0; take(); sequence++) {
        const message = datagram(sequence, load.size);
        const began = performance.now();
        const echo = await socket.exchange(message, sequence, load.lossTimeoutMs);
        if (echo === undefined) {
          lost++;
          continue;
        }
        verify(message, echo);
        tally.record("measure", began, load.size);
      }
    }));
  } finally {
    clearInterval(progress);
    await Promise.all(sockets.map((socket) => socket.close()));
  }
  if (tally.operations === 0 && lost > 0) {
    throw new TimeoutError(`no echo from ${formatAddress(load)} (UDP): all ${lost} datagrams lost`);
  }
  tally.cut("measure");
  return {
    ...totals(),
    startMs: performance.timeOrigin + start,
    lost,
    latencies: tally.total,
    intervals: tally.intervals,
    errors: tally.errors,
  };
}

/** A socket with at most one datagram in flight. */
class EchoSocket {
  #waiting?: { sequence: number; resolve: (echo: Uint8Array | undefined) => void };

  private constructor(readonly socket: dgram.Socket, readonly load: UdpLoad) {
    socket.on("message", (echo: Uint8Array) => {
      // A late echo of a datagram already counted lost carries an older number.
      const waiting = this.#waiting;
      if (waiting && waiting.sequence === sequenceOf(echo)) waiting.resolve(echo);
    });
  }

  static open(load: UdpLoad): Promise<EchoSocket> {
    const socket = dgram.createSocket(load.hostname.includes(":") ? "udp6" : "udp4");
    return new Promise((resolve) => socket.bind(0, () => resolve(new EchoSocket(socket, load))));
  }

  /** Sends `message` and resolves with its echo, or undefined after `timeoutMs`. */
  exchange(message: Uint8Array, sequence: number, timeoutMs: number) {
    return new Promise<Uint8Array | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      this.#waiting = {
        sequence,
        resolve: (echo) => {
          clearTimeout(timer);
          resolve(echo);
        },
      };
      // A failed send is a lost datagram: the timer counts it.
      this.socket.send(message, this.load.port, this.load.hostname, () => {});
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** Datagram `sequence` of a socket: its number, then a pattern that depends on it. */
function datagram(sequence: number, size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  new DataView(bytes.buffer).setUint32(0, sequence);
  for (let i = MIN_DATAGRAM_BYTES; i < size; i++) bytes[i] = (sequence * 31 + i * 7) & 0xff;
  return bytes;
}

function sequenceOf(echo: Uint8Array): number | undefined {
  if (echo.length < MIN_DATAGRAM_BYTES) return undefined;
  return new DataView(echo.buffer, echo.byteOffset, echo.byteLength).getUint32(0);
}

function verify(sent: Uint8Array, echo: Uint8Array): void {
  const length = Math.max(sent.length, echo.length);
  for (let i = 0; i < length; i++) {
    if (sent[i] !== echo[i]) {
      throw new MismatchError(
        `UDP echo differs from what was sent at byte ${i} (${echo.length} of ${sent.length} bytes)`,
        i,
      );
    }
  }
}
