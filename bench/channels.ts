/**
 * The connections of the load engine (`load.ts`): how one is opened (TCP,
 * TLS or a Unix socket, then the share's protocol on it: the WebSocket
 * handshake) and closed, and its round trips in that protocol, TCP's here,
 * HTTP's and WebSocket's from the classes passed in. A reset is reported as
 * the server's doing, worded like `send`'s.
 *
 * Everything lives inside {@linkcode channelKit} and it imports nothing but
 * types, like the engine: workers get its source text (`workers.ts`).
 *
 * @example
 * ```ts
 * import { channelKit } from "./channels.ts";
 * import { ConnInput } from "./conn_input.ts";
 * import { HttpRoundTrip } from "./http_trip.ts";
 * import { WsRoundTrip } from "./ws_trip.ts";
 * import type { LoadShare } from "./share.ts";
 *
 * declare const share: LoadShare;
 * const kit = channelKit({ ConnInput, HttpRoundTrip, WsRoundTrip });
 * const live = new Set<Deno.Conn>();
 * const { trip } = await kit.open(share, live);
 * const echo = new Uint8Array(share.size);
 * await trip.roundTrip(new Uint8Array(share.size), echo);
 * kit.closeAll(live, live);
 * ```
 *
 * @module
 */

import type { ConnInput } from "./conn_input.ts";
import type { HttpRoundTrip } from "./http_trip.ts";
import type { LoadFailure, LoadShare, RoundTripper, TripTools } from "./share.ts";
import type { WsRoundTrip } from "./ws_trip.ts";

/**
 * The classes of the HTTP and WebSocket round trips, passed in like the
 * schedule's: each refers to nothing outside itself.
 */
export interface Protocols {
  /** `conn_input.ts`'s buffered reading, or its class rebuilt from source in a worker. */
  ConnInput: typeof ConnInput;
  /** `http_trip.ts`'s round trip. */
  HttpRoundTrip: typeof HttpRoundTrip;
  /** `ws_trip.ts`'s round trip. */
  WsRoundTrip: typeof WsRoundTrip;
}

/** One connection and its round trips in the share's protocol. */
export interface Channel {
  conn: Deno.Conn;
  trip: RoundTripper;
}

/** What {@linkcode channelKit} makes: the engine gets it passed in. */
export type ChannelKit = ReturnType<typeof channelKit>;

/**
 * Makes the kit: `protocols` are the HTTP and WebSocket classes, passed in
 * because the kit may import nothing.
 */
export function channelKit(protocols: Protocols) {
  /** A {@linkcode LoadFailure}: a plain `Error` named as one of `net/errors.ts`'s classes. */
  const failure = (name: LoadFailure["name"], message: string, fields = {}): LoadFailure =>
    Object.assign(new Error(message), { name, ...fields }) as LoadFailure;

  /**
   * Sends a message and reads its whole echo. The read is asked for as the
   * write goes out, before the write's promise settles, so every connection
   * waits for its echo in the event loop's poll for I/O, as in an epoll loop.
   * Asked for later, the read often finds the echo already there, and that
   * connection goes round again at once in one long run of promise jobs
   * while the connections whose echo came a little later wait: measured on
   * pingpong 50 × 64 B, p99 2.4 → 1.4 ms and p99.9 23–51 → 2–35 ms, for 7–20 %
   * fewer round trips/s (an extra read that finds nothing, then the poll).
   */
  async function roundTrip(
    conn: Deno.Conn,
    tools: TripTools,
    message: Uint8Array,
    echo: Uint8Array,
  ): Promise<number> {
    const writing = conn.write(message);
    const reading = conn.read(echo);
    try {
      let written = await writing;
      if (written < message.length) {
        // The kernel took part of it (rare): the read must not fail unheard meanwhile.
        reading.catch(() => {});
        while (written < message.length) written += await conn.write(message.subarray(written));
      }
    } catch (error) {
      reading.catch(() => {}); // fails too, for the same reason: the write's error says it
      throw tools.dropped(error, 0, echo.length);
    }
    let got = 0;
    try {
      for (let n = await reading;; n = await conn.read(echo.subarray(got))) {
        if (n === null) throw tools.closed(got, echo.length);
        got += n;
        if (got === echo.length) return got;
      }
    } catch (error) {
      throw tools.dropped(error, got, echo.length);
    }
  }

  /** `host:port` of the server a connection goes to, or its Unix socket's path. */
  function whereOf(conn: Deno.Conn): string {
    const addr = conn.remoteAddr;
    if ("path" in addr) return addr.path;
    const { hostname, port } = addr as Deno.NetAddr;
    return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
  }

  /**
   * A reset (or abort) is the server's doing, like a close, so it is reported as
   * a `ClosedEarlyError` worded like `send`'s; any other error passes unchanged.
   */
  function droppedByServer(
    error: unknown,
    conn: Deno.Conn,
    received: number,
    expected: number,
  ): unknown {
    const dropped = [
      Deno.errors.ConnectionReset,
      Deno.errors.ConnectionAborted,
      Deno.errors.BrokenPipe,
    ];
    if (!dropped.some((kind) => error instanceof kind)) return error;
    const why = (error as Error).message.replace(/ \(os error \d+\)$/, "").toLowerCase();
    return failure(
      "ClosedEarlyError",
      `${whereOf(conn)} failed (${why}) after echoing ${received} of ${expected} bytes`,
      { received, expected },
    );
  }

  async function connect({ hostname, port, path, tls, protocol }: LoadShare): Promise<Deno.Conn> {
    try {
      if (path !== undefined) return await Deno.connect({ transport: "unix", path });
      const conn = await Deno.connect({ hostname, port });
      // Small messages must go out at once, not wait for Nagle.
      conn.setNoDelay(true);
      if (tls === undefined) return conn;
      const secure = await Deno.startTls(conn, {
        hostname: tls.serverName,
        caCerts: tls.caCerts,
        // A server that also speaks h2 must pick HTTP/1.1 for these round trips.
        ...(protocol === "http" || protocol === "ws") && { alpnProtocols: ["http/1.1"] },
      });
      await secure.handshake(); // set-up, kept out of what is measured
      return secure;
    } catch (cause) {
      const where = path ??
        (hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`);
      const why = (cause as Error).message.replace(/ \(os error \d+\)$/, "").toLowerCase();
      throw failure("ConnectError", `cannot connect to ${where}: ${why}`, { cause });
    }
  }

  /** How a round tripper names and words its failures, as the engine's own. */
  function tripTools(conn: Deno.Conn): TripTools {
    return {
      fail: failure,
      dropped: (error, received, expected) => droppedByServer(error, conn, received, expected),
      closed: (received, expected) =>
        failure(
          "ClosedEarlyError",
          `the server closed after echoing ${received} of ${expected} bytes of a message`,
          { received, expected },
        ),
    };
  }

  /** Connects, and opens the share's protocol on the connection (the WebSocket handshake). */
  async function open(share: LoadShare, live: Set<Deno.Conn>): Promise<Channel> {
    const conn = await connect(share);
    live.add(conn);
    try {
      const tools = tripTools(conn);
      const input = () => new protocols.ConnInput(conn, tools);
      const trip: RoundTripper = share.protocol === "http"
        ? new protocols.HttpRoundTrip(conn, input(), share.http!, share.size, tools)
        : share.protocol === "ws"
        ? await protocols.WsRoundTrip.open(conn, input(), share.http!, share.size, tools)
        : { reusable: true, roundTrip: (message, echo) => roundTrip(conn, tools, message, echo) };
      return { conn, trip };
    } catch (error) {
      closeAll([conn], live);
      throw error;
    }
  }

  /** Closes `conns` (those already closed by their own loop too), and forgets them. */
  function closeAll(conns: Iterable<Deno.Conn>, live?: Set<Deno.Conn>): void {
    for (const conn of conns) {
      live?.delete(conn);
      try {
        conn.close();
      } catch {
        // Already closed by its own loop.
      }
    }
  }

  return { failure, open, closeAll, droppedByServer };
}
