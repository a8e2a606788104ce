/**
 * A `node:tls` socket, client or server side, seen as a {@linkcode StreamConn}
 * (read, write, closeWrite, close): the one surface that `send`, the echo
 * loop and `../io.ts` use, so TLS needs no path of its own in either.
 *
 * @example
 * ```ts
 * import tls from "node:tls";
 * import { TlsSocketConn } from "./socket_conn.ts";
 *
 * const socket = tls.connect({ host: "127.0.0.1", port: 4433, rejectUnauthorized: false });
 * socket.once("secureConnect", async () => {
 *   const addr: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 4433 };
 *   const conn = new TlsSocketConn(socket, { localAddr: addr, remoteAddr: addr });
 *   await conn.write(new TextEncoder().encode("hi"));
 *   conn.close();
 * });
 * ```
 *
 * @module
 */

import type tls from "node:tls";
import type { StreamConn } from "../io.ts";

/**
 * Node's error codes as the `Deno.errors` classes the rest of the program
 * knows (a reset is a reset, whichever layer saw it).
 *
 * @example
 * ```ts
 * import { denoError } from "./socket_conn.ts";
 *
 * const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
 * denoError(reset) instanceof Deno.errors.ConnectionReset; // true
 * ```
 */
export function denoError(error: Error): Error {
  const code = (error as { code?: string }).code;
  const kind = {
    ECONNREFUSED: Deno.errors.ConnectionRefused,
    ECONNRESET: Deno.errors.ConnectionReset,
    ETIMEDOUT: Deno.errors.TimedOut,
    ENETUNREACH: Deno.errors.NetworkUnreachable,
    EPIPE: Deno.errors.BrokenPipe,
  }[code ?? ""];
  return kind === undefined ? error : new kind(error.message, { cause: error });
}

/**
 * How a reader holds the peer back: `pause` while a chunk is unread,
 * `resume` once all are. A `TLSSocket` is one; so is a gate on the TCP
 * reads under it.
 */
export interface FlowControl {
  /** Take no more for now. */
  pause(): void;
  /** Take more. */
  resume(): void;
}

/** The two ends of a connection, as {@linkcode TlsSocketConn} reports them. */
export interface ConnAddrs {
  /** This end. */
  localAddr: Deno.NetAddr;
  /** The peer. */
  remoteAddr: Deno.NetAddr;
}

/**
 * A `node:tls` socket whose handshake is done, seen as a {@linkcode StreamConn}.
 * Reads take the socket's chunks one at a time and hold the peer back
 * while one is unread (back-pressure: a reader that stops holds a chunk or
 * two); a write resolves once the socket has taken all of it.
 *
 * @example
 * ```ts
 * import tls from "node:tls";
 * import { TlsSocketConn } from "./socket_conn.ts";
 *
 * declare const socket: tls.TLSSocket; // after its "secureConnect" or "secure"
 * const addr: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 4433 };
 * const conn = new TlsSocketConn(socket, { localAddr: addr, remoteAddr: addr });
 * const n = await conn.read(new Uint8Array(1024));
 * ```
 */
export class TlsSocketConn implements StreamConn {
  #chunks: Uint8Array[] = [];
  #ended = false;
  #error?: Error;
  #wake?: () => void;

  /** This end's address. */
  readonly localAddr: Deno.NetAddr;
  /** The peer's address. */
  readonly remoteAddr: Deno.NetAddr;

  /**
   * Adapts `socket`, named by `addrs` (a socket over a stream knows no
   * addresses); `flow` holds the peer back, by default by pausing `socket`.
   */
  constructor(
    readonly socket: tls.TLSSocket,
    addrs: ConnAddrs,
    private readonly flow: FlowControl = socket,
  ) {
    this.localAddr = addrs.localAddr;
    this.remoteAddr = addrs.remoteAddr;
    const notify = () => this.#wake?.();
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      flow.pause(); // back-pressure: take no more until this is read
      notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      notify();
    });
    socket.on("error", (error) => {
      this.#error = denoError(error);
      notify();
    });
  }

  /** Whether the peer finished sending cleanly (its end came, and no error). */
  protected get peerFinished(): boolean {
    return this.#ended && this.#error === undefined;
  }

  /** Reads into `into`; `null` once the peer has finished sending. */
  async read(into: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((wake) => this.#wake = wake);
    }
    const chunk = this.#chunks[0];
    const n = Math.min(chunk.length, into.length);
    into.set(chunk.subarray(0, n));
    if (n === chunk.length) this.#chunks.shift();
    else this.#chunks[0] = chunk.subarray(n);
    if (this.#chunks.length === 0) this.flow.resume();
    return n;
  }

  /** Writes all of `bytes`, resolving once the socket has taken them. */
  write(bytes: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      this.socket.write(bytes, (error) => error ? reject(denoError(error)) : resolve(bytes.length));
    });
  }

  /** Sends close_notify and ends the sending half. */
  closeWrite(): Promise<void> {
    return new Promise((resolve) => this.socket.end(resolve));
  }

  /** Closes the connection (after a close_notify, when the peer is still there). */
  close(): void {
    if (!this.#ended && !this.#error) this.socket.end();
    this.socket.destroy();
  }
}
