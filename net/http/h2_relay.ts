/**
 * HTTP/2 inside sockecho's own accept loop. Deno's HTTP/2 (hyper, in
 * `Deno.serve`) cannot be handed a connection that is already accepted, and
 * `node:http2`'s server, handed our connections, aborts the process under
 * load in Deno 2.9.6 (measured: `docs/http.md#http2`); so a
 * connection that speaks h2 is relayed, its bytes (decrypted, over TLS)
 * copied both ways, to an internal `Deno.serve` on a loopback port that
 * reads h2 with prior knowledge. `--allow`/`--deny`, the connection cap,
 * the PROXY protocol, TLS and the idle timeout stay the accept loop's; the
 * internal server learns which client connection a request came over from
 * its relay's local address, entered in a table before the first byte is
 * relayed. A request that reaches the internal port by another way (a
 * local process) is answered 421 and nothing else. Which connections speak
 * h2 is told here too: {@linkcode opensWithPreface}.
 *
 * The internal server is started on the first h2 connection. Retiring it
 * (the drain) shuts it down gracefully: every connection it serves gets a
 * GOAWAY, requests in flight finish; the next h2 connection starts a fresh one.
 *
 * @example
 * ```ts
 * import { LoopbackRelay } from "./h2_relay.ts";
 *
 * const relay = new LoopbackRelay<string>((_request, relayed) => new Response(relayed.facts));
 * // in a connection handler: await relay.relay(conn, pending, progress, "hello\n");
 * await relay.close();
 * ```
 *
 * @module
 */

import { closeQuietly, type StreamConn, writeAll } from "../io.ts";
import type { ConnReader } from "./body.ts";

/** The client preface every HTTP/2 connection opens with (RFC 9113 §3.4). */
export const H2_PREFACE: Uint8Array = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Whether a connection opens with the HTTP/2 client preface, reading only
 * as far as it takes to tell (an HTTP/1.1 request differs at its first
 * byte); what was read stays in `reader`.
 *
 * @example
 * ```ts
 * import { ConnReader } from "./body.ts";
 * import { opensWithPreface } from "./h2_relay.ts";
 *
 * const conn = await Deno.connect({ port: 8080 });
 * await opensWithPreface(new ConnReader(conn, { bytes: 0 })); // false for "GET / HTTP/1.1…"
 * conn.close();
 * ```
 */
export async function opensWithPreface(reader: ConnReader): Promise<boolean> {
  for (;;) {
    const { bytes } = reader;
    const n = Math.min(bytes.length, H2_PREFACE.length);
    for (let i = 0; i < n; i++) if (bytes[i] !== H2_PREFACE[i]) return false;
    if (n === H2_PREFACE.length) return true;
    if (!await reader.fill()) return false;
  }
}

/** One client connection as the internal server's handler sees it. */
export interface Relayed<Facts> {
  /** What the relay was given about the connection. */
  readonly facts: Facts;
  /** Requests seen on it so far (the handler counts them). */
  requests: number;
  /** Bytes written to the client so far. */
  readonly sent: number;
  /** Aborted when the connection has ended (a delay stops waiting). */
  readonly ended: AbortSignal;
  /**
   * Resolves once `sent` reaches `bytes`, the connection ends or
   * `timeoutMs` pass: how a reply cut on purpose waits for what it did send
   * to leave before the stream is reset.
   */
  sentAtLeast(bytes: number, timeoutMs: number): Promise<void>;
  /** Retires the internal server this connection is relayed to: GOAWAY once its requests finish. */
  retire(): Promise<void>;
}

/** The internal server's handler: answers one request of a relayed connection. */
export type RelayedHandler<Facts> = (
  request: Request,
  relayed: Relayed<Facts>,
  completed: Promise<void>,
) => Response | Promise<Response>;

/** The read buffer of each direction starts small (an idle connection holds two) and grows. */
const INITIAL_BUFFER_BYTES = 1024;
const MAX_BUFFER_BYTES = 64 * 1024;

/**
 * Relays connections to an internal h2c `Deno.serve` on 127.0.0.1, whose
 * requests `handler` answers with the facts of the connection they came over.
 *
 * @example
 * ```ts
 * import { LoopbackRelay } from "./h2_relay.ts";
 *
 * const relay = new LoopbackRelay<number>((_request, relayed) => new Response(`${relayed.facts}\n`));
 * await relay.close();
 * ```
 */
export class LoopbackRelay<Facts> {
  #current: Generation<Facts> | undefined;
  readonly #retiring = new Set<Promise<void>>();
  #closed = false;

  /** Answers relayed requests with `handler`. */
  constructor(readonly handler: RelayedHandler<Facts>) {}

  /** The internal server's port while one is current (after the first relay), else `undefined`. */
  get port(): number | undefined {
    return this.#current?.port;
  }

  /**
   * Relays `conn` (after `pending`, bytes already read from it) until
   * either side ends, adding every byte moved to `progress.bytes`. Rejects
   * with the client side's error (a reset), as the connection's own.
   */
  async relay(
    conn: StreamConn,
    pending: Uint8Array | undefined,
    progress: { bytes: number },
    facts: Facts,
  ): Promise<void> {
    if (this.#closed) throw new Deno.errors.BadResource("the HTTP/2 relay is closed");
    const generation = this.#current ??= new Generation(this.handler, (retired) => {
      if (this.#current === retired) this.#current = undefined;
      const stopping = retired.stop();
      this.#retiring.add(stopping);
      stopping.finally(() => this.#retiring.delete(stopping));
      return stopping;
    });
    const upstream = await Deno.connect({ hostname: LOOPBACK, port: generation.port });
    const relayed = new RelayedConnection(facts, () => generation.retire());
    const key = keyOf(upstream.localAddr);
    // Before the first byte goes: no request can reach the handler earlier.
    generation.connections.set(key, relayed);
    try {
      upstream.setNoDelay(true);
      if (pending?.length) await writeAll(upstream, pending);
      const failures = await Promise.all([
        copy(conn, upstream, (n) => progress.bytes += n),
        copy(upstream, conn, (n) => {
          progress.bytes += n;
          relayed.add(n);
        }),
      ]);
      // The client's failure (a reset) is the connection's; the internal side's end is quiet.
      const clientFailure = failures[0]?.on === conn ? failures[0] : failures[1];
      if (clientFailure?.on === conn) throw clientFailure.error;
    } finally {
      generation.connections.delete(key);
      relayed.end();
      closeQuietly(upstream);
    }
  }

  /**
   * Retires the internal server: the h2 connections on it get GOAWAY, the
   * next starts a new one. Resolves once the retired server has stopped.
   */
  async retire(): Promise<void> {
    await this.#current?.retire();
  }

  /** Retires the internal server and waits until every internal server has stopped. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.retire();
    while (this.#retiring.size > 0) await Promise.all(this.#retiring);
  }
}

const LOOPBACK = "127.0.0.1";

/** One internal server and the connections relayed to it, by their relay's local address. */
class Generation<Facts> {
  readonly connections = new Map<string, RelayedConnection<Facts>>();
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  #stopping: Promise<void> | undefined;

  constructor(
    handler: RelayedHandler<Facts>,
    readonly onRetire: (self: Generation<Facts>) => Promise<void>,
  ) {
    this.#server = Deno.serve({
      hostname: LOOPBACK,
      port: 0,
      onListen: () => {}, // Deno.serve would print "Listening on …"
      // A handler's error, or a body cut on purpose: never printed, never more than the stream.
      onError: () => new Response(null, { status: 500 }),
    }, (request, info) => {
      const relayed = this.connections.get(keyOf(info.remoteAddr));
      if (relayed === undefined) {
        return new Response("not a relayed connection\n", { status: 421 });
      }
      return handler(request, relayed, info.completed);
    });
  }

  get port(): number {
    return this.#server.addr.port;
  }

  retire(): Promise<void> {
    return this.#stopping ??= this.onRetire(this);
  }

  /** Graceful: GOAWAY on every connection, requests in flight finish, then it stops. */
  stop(): Promise<void> {
    return this.#server.shutdown();
  }
}

class RelayedConnection<Facts> implements Relayed<Facts> {
  requests = 0;
  sent = 0;
  readonly #ended = new AbortController();
  #waiters: { bytes: number; resolve: () => void }[] = [];

  constructor(readonly facts: Facts, readonly retire: () => Promise<void>) {}

  get ended(): AbortSignal {
    return this.#ended.signal;
  }

  add(n: number): void {
    this.sent += n;
    if (this.#waiters.length > 0) this.#wake();
  }

  sentAtLeast(bytes: number, timeoutMs: number): Promise<void> {
    if (this.sent >= bytes || this.ended.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        bytes,
        resolve: () => {
          clearTimeout(timer);
          this.#waiters = this.#waiters.filter((other) => other !== waiter);
          resolve();
        },
      };
      const timer = setTimeout(waiter.resolve, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  end(): void {
    this.#ended.abort();
    for (const waiter of [...this.#waiters]) waiter.resolve();
  }

  #wake(): void {
    for (const waiter of this.#waiters.filter(({ bytes }) => this.sent >= bytes)) waiter.resolve();
  }
}

function keyOf(addr: Deno.Addr): string {
  const { hostname, port } = addr as Deno.NetAddr;
  return `${hostname}:${port}`;
}

/**
 * Copies `from` to `to` until `from` finishes sending, then half-closes
 * `to` (a client that half-closes still gets its replies). On a failure
 * both are closed, so the other direction ends too, and the failure is
 * returned with the connection it happened on; a read or write cut by a
 * close (the other direction's failure, the idle timeout, the shutdown) is
 * not a failure.
 */
async function copy(
  from: StreamConn,
  to: StreamConn,
  moved: (n: number) => void,
): Promise<{ on: StreamConn; error: unknown } | undefined> {
  let buffer = new Uint8Array(INITIAL_BUFFER_BYTES);
  let on = from;
  try {
    for (let n; (n = await from.read(buffer)) !== null;) {
      on = to;
      await writeAll(to, buffer.subarray(0, n));
      on = from;
      moved(n);
      if (n === buffer.length && n < MAX_BUFFER_BYTES) buffer = new Uint8Array(n * 8);
    }
  } catch (error) {
    closeQuietly(from);
    closeQuietly(to);
    const cut = error instanceof Deno.errors.BadResource ||
      error instanceof Deno.errors.Interrupted;
    return cut ? undefined : { on, error };
  }
  try {
    await to.closeWrite();
  } catch {
    // Gone already: the other direction sees that end.
  }
}
