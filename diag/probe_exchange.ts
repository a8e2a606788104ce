/**
 * How a probe series talks over an open connection, the part of
 * `probe.ts` that HTTP and WebSocket replace: an optional upgrade per
 * connection, one verified exchange per probe, a polite end, and which
 * failures mean an idle connection the server had closed.
 *
 * @example
 * ```ts
 * import { ECHO_EXCHANGE } from "./probe_exchange.ts";
 * import { bytesPayload } from "./payload.ts";
 * import { dialTcp } from "../net/dial.ts";
 *
 * const conn = await dialTcp({ hostname: "127.0.0.1", port: 4321 }, AbortSignal.timeout(5000));
 * const payload = bytesPayload(new TextEncoder().encode("ping"));
 * const { ms, reusable } = await ECHO_EXCHANGE.echo(conn, payload, { timeoutMs: 5000 });
 * conn.close();
 * ```
 *
 * @module
 */

import type { DialedConn } from "../net/dial.ts";
import { type EchoOptions, echoPayload, type EchoResult } from "./echo.ts";
import type { Payload } from "./payload.ts";

/**
 * How each probe talks over an open connection: a plain echo by default;
 * HTTP (a request per probe on a kept-alive connection) and WebSocket (an
 * upgrade, then a message per probe) plug in here.
 */
export interface ProbeExchange<S> {
  /**
   * Readies a new connection before its first probe (the WebSocket
   * upgrade), within `timeoutMs`; its time is the probe's `upgradeMs`.
   * Without it, the session is the connection itself.
   */
  open?(conn: DialedConn, options: { timeoutMs: number; signal: AbortSignal }): Promise<S>;
  /** One verified exchange; it throws as `echoPayload` does, the connection then closed. */
  echo(session: S, payload: Payload, options: EchoOptions): Promise<ExchangeResult>;
  /**
   * Ends a session the series is done with, before its connection is
   * closed (WebSocket's closing handshake); not called after a failure.
   */
  close?(session: S): Promise<void>;
  /**
   * Whether `error`, on a connection an earlier probe used, means the
   * server had closed it while it idled (an HTTP keep-alive timeout): the
   * probe is then sent once more on a new connection.
   */
  stale?(error: Error): boolean;
}

/** What one exchange measured, and what the series needs to know after it. */
export interface ExchangeResult extends EchoResult {
  /** Which server answered, when it said (`X-Echo-Instance`). */
  readonly instance?: string;
  /** Whether the connection can carry the next probe. */
  readonly reusable: boolean;
}

/** The plain echo: no upgrade, the payload and its echo on the connection itself. */
export const ECHO_EXCHANGE: ProbeExchange<DialedConn> = {
  echo: async (conn, payload, options) => ({
    ...await echoPayload(conn, payload, options),
    // Stdin's echo ends at our FIN: that connection is done.
    reusable: !options.halfClose,
  }),
};
