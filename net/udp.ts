/**
 * A UDP echo server (RFC 862): each datagram goes back to its sender
 * unchanged, one for one. It runs on `node:dgram` because `Deno.listenDatagram`
 * needs `--unstable-net` and sockecho runs with `-N` alone.
 *
 * A UDP echo answers whoever the source address says sent the datagram, and
 * that address can be forged, so abuse guards are on by default: no answer to
 * the source ports of the classic small services (an echo or chargen there
 * would answer back forever), and at most `ratePerSource` answers a second to
 * one source address, so the server cannot reflect a flood at line rate.
 * Every datagram not answered is reported through `onDrop` and counted.
 * The module never prints.
 *
 * @example
 * ```ts
 * import { serveUdp } from "./udp.ts";
 *
 * const server = await serveUdp({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   onDatagram: (from, datagram) => console.log(from.hostname, datagram.length),
 * });
 * console.log("UDP echo on port", server.addr.port);
 * const { datagrams } = await server.shutdown();
 * ```
 *
 * @module
 */

import dgram from "node:dgram";
import {
  AddressInUseError,
  AddressUnavailableError,
  BindPermissionError,
  SockechoError,
} from "./errors.ts";
import { formatAddress } from "./format.ts";
import { resolveHost } from "./resolve.ts";
import { DEFAULT_PORT } from "./listen.ts";

/**
 * Source ports never answered: echo (7), daytime (13), quote of the day (17),
 * chargen (19) and time (37). A datagram forged to come from one of them
 * would start an endless exchange between two such services.
 */
export const LOOP_PRONE_PORTS: ReadonlySet<number> = new Set([7, 13, 17, 19, 37]);

/** The largest UDP payload over IPv4 (65,535 less the IP and UDP headers). */
export const MAX_DATAGRAM_BYTES = 65_507;

/** Answers per second to one source address, by default. */
export const DEFAULT_UDP_RATE = 100;

/**
 * Why a datagram was not answered: `denied` by `acceptFrom`, `loop` from a
 * port in `blockedSourcePorts`, `rate` over `ratePerSource`, or `unsendable`
 * when the operating system refused to send the answer.
 */
export type DropReason = "denied" | "loop" | "rate" | "unsendable";

/** Options for {@linkcode serveUdp}. */
export interface UdpServeOptions {
  /** Address to listen on: an IPv4 or IPv6 address or a host name. @default {"0.0.0.0"} */
  hostname?: string;
  /** Port to listen on; 0 picks a free one. @default {4321} */
  port?: number;
  /** Most answers a second to one source address; 0: no limit. @default {DEFAULT_UDP_RATE} */
  ratePerSource?: number;
  /** Source ports never answered. @default {LOOP_PRONE_PORTS} */
  blockedSourcePorts?: ReadonlySet<number>;
  /** Whether a sender is answered at all, e.g. with `acl.ts`. @default {every sender} */
  acceptFrom?: (from: Deno.NetAddr) => boolean;
  /**
   * Called with each datagram that will be echoed. The bytes are the
   * datagram itself: do not change them.
   */
  onDatagram?: (from: Deno.NetAddr, datagram: Uint8Array) => void;
  /** Called for each datagram not answered, and why. */
  onDrop?: (from: Deno.NetAddr, reason: DropReason) => void;
}

/** Totals for the server's whole life, returned by {@linkcode UdpEchoServer.shutdown}. */
export interface UdpSummary {
  /** Datagrams echoed. */
  readonly datagrams: number;
  /** Bytes echoed. */
  readonly bytes: number;
  /** Datagrams not answered, by reason. */
  readonly dropped: Readonly<Record<DropReason, number>>;
}

/** A running UDP echo server, returned by {@linkcode serveUdp}. */
export interface UdpEchoServer {
  /** The address it listens on (with the real port when 0 was asked for). */
  readonly addr: Deno.NetAddr;
  /** Stops listening and resolves with the totals; calling it again returns the same promise. */
  shutdown(): Promise<UdpSummary>;
}

/**
 * Starts a UDP echo server. Throws `AddressInUseError`,
 * `BindPermissionError`, `AddressUnavailableError` or `ResolveError` when
 * it cannot listen.
 *
 * @example
 * ```ts
 * import { serveUdp } from "./udp.ts";
 *
 * const server = await serveUdp({ hostname: "::1", port: 0, ratePerSource: 10 });
 * await server.shutdown();
 * ```
 */
export async function serveUdp(options: UdpServeOptions = {}): Promise<UdpEchoServer> {
  const {
    hostname = "0.0.0.0",
    port = DEFAULT_PORT,
    ratePerSource = DEFAULT_UDP_RATE,
    blockedSourcePorts = LOOP_PRONE_PORTS,
  } = options;
  const [address] = await resolveHost(hostname);
  const socket = await bind(address, port);
  const totals = { datagrams: 0, bytes: 0 };
  const dropped: Record<DropReason, number> = { denied: 0, loop: 0, rate: 0, unsendable: 0 };
  // Answers per source address in the current second; cleared each second,
  // so it never holds more than one second's senders.
  const answered = new Map<string, number>();
  const window = setInterval(() => answered.clear(), 1000);

  const drop = (from: Deno.NetAddr, reason: DropReason) => {
    dropped[reason]++;
    options.onDrop?.(from, reason);
  };

  socket.on("message", (datagram: Uint8Array, rinfo: dgram.RemoteInfo) => {
    const from: Deno.NetAddr = { transport: "udp", hostname: rinfo.address, port: rinfo.port };
    if (options.acceptFrom?.(from) === false) return drop(from, "denied");
    if (blockedSourcePorts.has(from.port)) return drop(from, "loop");
    const count = answered.get(from.hostname) ?? 0;
    if (ratePerSource > 0 && count >= ratePerSource) return drop(from, "rate");
    answered.set(from.hostname, count + 1);
    options.onDatagram?.(from, datagram);
    socket.send(datagram, from.port, from.hostname, (error) => {
      if (error) return drop(from, "unsendable");
      totals.datagrams++;
      totals.bytes += datagram.length;
    });
  });

  const { address: boundHost, port: boundPort } = socket.address();
  let stopping: Promise<UdpSummary> | undefined;
  return {
    addr: { transport: "udp", hostname: boundHost, port: boundPort },
    shutdown() {
      return stopping ??= new Promise((resolve) => {
        clearInterval(window);
        socket.close(() => resolve({ ...totals, dropped: { ...dropped } }));
      });
    },
  };
}

/** Binds a UDP socket of `hostname`'s family, turning failures into typed errors. */
function bind(hostname: string, port: number): Promise<dgram.Socket> {
  const socket = dgram.createSocket(hostname.includes(":") ? "udp6" : "udp4");
  return new Promise((resolve, reject) => {
    socket.once("error", (error: Error & { code?: string }) => {
      socket.close();
      const message = `cannot listen on ${formatAddress({ hostname, port })} (UDP): ${
        describeDgramError(error)
      }`;
      const Kind = {
        EADDRINUSE: AddressInUseError,
        EACCES: BindPermissionError,
        EADDRNOTAVAIL: AddressUnavailableError,
      }[error.code ?? ""] ?? SockechoError;
      reject(new Kind(message, { cause: error }));
    });
    socket.bind({ address: hostname, port }, () => {
      socket.removeAllListeners("error");
      // After binding, a failed receive (e.g. an ICMP error) must not end the
      // server; failed answers are counted through the send callback.
      socket.on("error", () => {});
      resolve(socket);
    });
  });
}

/**
 * Describes a `node:dgram` error in a few words, e.g. "address already in use".
 *
 * @example
 * ```ts
 * import { describeDgramError } from "./udp.ts";
 *
 * describeDgramError(Object.assign(new Error("send EMSGSIZE"), { code: "EMSGSIZE" }));
 * ```
 */
export function describeDgramError(error: Error & { code?: string }): string {
  switch (error.code) {
    case "ECONNREFUSED":
      return "connection refused (ICMP port unreachable)";
    case "EMSGSIZE":
      return "message too long for one datagram";
    case "EADDRINUSE":
      return "address already in use";
    case "EACCES":
      return "permission denied";
    case "EADDRNOTAVAIL":
      return "address not available on this machine";
    default:
      return error.message;
  }
}
