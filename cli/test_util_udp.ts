/**
 * Helpers for the UDP tests: a datagram socket whose arrivals can be awaited
 * with a time bound, and a UDP echo server on loopback for the length of a
 * test.
 *
 * @example
 * ```ts
 * import { Peer, withUdpServer } from "./test_util_udp.ts";
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
import { WAIT_MS, withTimeout } from "./test_util.ts";
import { serveUdp, type UdpEchoServer, type UdpServeOptions, type UdpSummary } from "../net/udp.ts";

/** A UDP socket on loopback that records every datagram it receives. */
export class Peer {
  readonly received: Uint8Array[] = [];
  /** Checks run on each arrival; each returns true once it is satisfied. */
  #waiters: (() => boolean)[] = [];

  private constructor(readonly socket: dgram.Socket) {
    socket.on("message", (datagram: Uint8Array) => {
      this.received.push(datagram);
      this.#waiters = this.#waiters.filter((satisfied) => !satisfied());
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

  /** Resolves with datagram number `count` (from 1) once it has arrived; fails after WAIT_MS. */
  next(count = this.received.length + 1): Promise<Uint8Array> {
    const arrived = new Promise<Uint8Array>((resolve) => {
      const satisfied = () => {
        if (this.received.length < count) return false;
        resolve(this.received[count - 1]);
        return true;
      };
      if (!satisfied()) this.#waiters.push(satisfied);
    });
    return withTimeout(arrived, WAIT_MS, `datagram ${count} to arrive`);
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

/**
 * Runs `body` with a scripted UDP server on 127.0.0.1: for the n-th datagram
 * it receives (from 1), it sends back what `reply` returns, in order.
 */
export async function withFakeUdp(
  reply: (n: number, datagram: Uint8Array) => Uint8Array[],
  body: (port: number, fake: Peer) => Promise<void>,
): Promise<void> {
  const fake = await Peer.bind();
  fake.socket.on("message", (datagram: Uint8Array, from: dgram.RemoteInfo) => {
    for (const bytes of reply(fake.received.length, datagram)) {
      fake.send(bytes, from.port, from.address);
    }
  });
  try {
    await body(fake.port, fake);
  } finally {
    await fake.close();
  }
}

/** Whether a UDP socket can be bound to `address`:`port` here (e.g. 127.0.0.2; port 19 needs root). */
export async function canBindUdp(address: string, port = 0): Promise<boolean> {
  try {
    await (await Peer.bind(address, port)).close();
    return true;
  } catch {
    return false;
  }
}

/** A UDP port on 127.0.0.1 nobody listens on right now. */
export async function freeUdpPort(): Promise<number> {
  const peer = await Peer.bind();
  const port = peer.port;
  await peer.close();
  return port;
}

/** A UDP socket on a port whose TCP side is free (other tests run beside this one). */
export async function udpPortWithFreeTcp(): Promise<Peer> {
  for (;;) {
    const peer = await Peer.bind();
    try {
      Deno.listen({ hostname: "127.0.0.1", port: peer.port }).close();
      return peer;
    } catch (error) {
      await peer.close();
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    }
  }
}
