/**
 * Helpers for the UDP tests: a datagram socket whose arrivals can be awaited
 * with a time bound, and a UDP echo server on loopback for the length of a
 * test.
 *
 * @example
 * ```ts
 * import { Peer, withUdpServer } from "./udp_test_util.ts";
 *
 * await withUdpServer({}, async (server) => {
 *   const peer = await Peer.bind();
 *   peer.send(new Uint8Array([1]), server.addr.port);
 *   await peer.next();
 *   await peer.close();
 * });
 * ```
 *
 * @module
 */

import dgram from "node:dgram";
import { serveUdp, type UdpEchoServer, type UdpServeOptions, type UdpSummary } from "./udp.ts";

/** How long a test waits for a datagram before it fails. */
const ARRIVAL_LIMIT_MS = 5000;

/** A UDP socket on loopback that records every datagram it receives. */
export class Peer {
  readonly received: Uint8Array[] = [];
  #waiters: (() => void)[] = [];

  private constructor(readonly socket: dgram.Socket) {
    socket.on("message", (datagram: Uint8Array) => {
      this.received.push(datagram);
      this.#waiters.splice(0).forEach((wake) => wake());
    });
  }

  /** Binds a socket to `address`:`port` (0: any free port). */
  static bind(address = "127.0.0.1", port = 0): Promise<Peer> {
    const socket = dgram.createSocket(address.includes(":") ? "udp6" : "udp4");
    return new Promise((resolve, reject) => {
      socket.once("error", (error) => {
        socket.close();
        reject(error);
      });
      socket.bind({ address, port }, () => resolve(new Peer(socket)));
    });
  }

  /** This socket's port. */
  get port(): number {
    return this.socket.address().port;
  }

  /** Sends `bytes` to `host`:`port`. */
  send(bytes: Uint8Array, port: number, host = "127.0.0.1"): void {
    this.socket.send(bytes, port, host);
  }

  /** Resolves once `count` datagrams have arrived in all; fails after 5 s. */
  async next(count = this.received.length + 1): Promise<Uint8Array> {
    const limit = performance.now() + ARRIVAL_LIMIT_MS;
    while (this.received.length < count) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const arrived = await new Promise<boolean>((resolve) => {
        this.#waiters.push(() => resolve(true));
        timer = setTimeout(() => resolve(false), limit - performance.now());
      });
      clearTimeout(timer);
      if (!arrived) throw new Error(`${this.received.length} of ${count} datagrams arrived`);
    }
    return this.received[count - 1];
  }

  /** Closes the socket. */
  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** Runs `body` with a UDP echo server on 127.0.0.1 and a free port; resolves with its totals. */
export async function withUdpServer(
  options: UdpServeOptions,
  body: (server: UdpEchoServer) => Promise<void>,
): Promise<UdpSummary> {
  const server = await serveUdp({ hostname: "127.0.0.1", port: 0, ...options });
  try {
    await body(server);
  } finally {
    await server.shutdown();
  }
  return server.shutdown();
}

/** Settles like `promise`, or fails after 5 s saying what did not happen. */
export async function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within 5 s: ${what}`)), ARRIVAL_LIMIT_MS);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
