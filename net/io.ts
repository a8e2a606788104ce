/**
 * Small connection helpers shared by the server, the client and the bench.
 *
 * @example
 * ```ts
 * import { closeQuietly, writeAll } from "./io.ts";
 *
 * const conn = await Deno.connect({ port: 4321 });
 * await writeAll(conn, new TextEncoder().encode("hello\n"));
 * closeQuietly(conn);
 * ```
 *
 * @module
 */

/**
 * The part of a connection that the echo loop, the client's exchange and
 * these helpers use: `Deno.TcpConn` and `Deno.UnixConn` have it, and so do the
 * `node:tls` sockets adapted in `tls/socket_conn.ts`, client and server side.
 */
export interface StreamConn {
  /** Reads into `into`; resolves with the count, or `null` at the end of the peer's data. */
  read(into: Uint8Array): Promise<number | null>;
  /** Writes some of `bytes` (perhaps not all); resolves with how many. */
  write(bytes: Uint8Array): Promise<number>;
  /** Ends the sending half (over TLS, after a close_notify). */
  closeWrite(): Promise<void>;
  /** Closes the connection at once. */
  close(): void;
  /** This end's address. */
  readonly localAddr: Deno.NetAddr | Deno.UnixAddr;
  /** The peer's address. */
  readonly remoteAddr: Deno.NetAddr | Deno.UnixAddr;
}

/**
 * Writes every byte of `bytes`; `conn.write` may write fewer than asked.
 *
 * @example
 * ```ts
 * import { writeAll } from "./io.ts";
 *
 * const conn = await Deno.connect({ port: 4321 });
 * await writeAll(conn, new Uint8Array([1, 2, 3]));
 * conn.close();
 * ```
 */
export async function writeAll(conn: Pick<Deno.Conn, "write">, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

/**
 * Closes a connection (or listener) that may already be closed.
 *
 * @example
 * ```ts
 * import { closeQuietly } from "./io.ts";
 *
 * const conn = await Deno.connect({ port: 4321 });
 * closeQuietly(conn);
 * closeQuietly(conn); // no error the second time
 * ```
 */
export function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // Already closed: closing is all that was asked.
  }
}

/** A deadline on a connection, from {@linkcode closeAfter}. */
export interface CloseTimer {
  /** Whether the time ran out and the connection was closed. */
  readonly fired: boolean;
  /** Cancels the deadline (call it once the guarded step is over). */
  clear(): void;
}

/**
 * Closes `conn` after `ms` unless cleared first: the way to bound a step
 * (a handshake, a header, an echo) whose pending read no timer can cancel.
 *
 * @example
 * ```ts
 * import { closeAfter } from "./io.ts";
 *
 * const conn = await Deno.connect({ port: 4321 });
 * const deadline = closeAfter(conn, 1000);
 * try {
 *   await conn.read(new Uint8Array(1));
 * } finally {
 *   deadline.clear();
 *   if (deadline.fired) console.log("nothing came within 1 s");
 *   conn.close();
 * }
 * ```
 */
export function closeAfter(conn: { close(): void }, ms: number): CloseTimer {
  let fired = false;
  const timer = setTimeout(() => {
    fired = true;
    closeQuietly(conn);
  }, ms);
  return {
    get fired() {
      return fired;
    },
    clear: () => clearTimeout(timer),
  };
}

/**
 * The bytes of `parts`, one after another, in one new array.
 *
 * @example
 * ```ts
 * import { concatBytes } from "./io.ts";
 *
 * concatBytes([new Uint8Array([1]), new Uint8Array([2, 3])]); // Uint8Array [1, 2, 3]
 * ```
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return all;
}
