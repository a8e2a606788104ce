/**
 * The server's JSON ledger (`serve --log-format json`): one JSON object a
 * line (JSON Lines) per event, each opening with `time` (ISO 8601, UTC) and
 * `event`, so that a log shipper or `jq` can read it without parsing prose.
 * This module only formats: the serve command decides where lines go and
 * passes them through the same rate limit as the text log. The schema is in
 * docs/json.md ("The JSON ledger").
 *
 * @example
 * ```ts
 * import { Ledger } from "./ledger.ts";
 *
 * const ledger = new Ledger("tcp");
 * console.log(ledger.listening({ transport: "tcp", hostname: "0.0.0.0", port: 4321 }));
 * // {"time":"2026-11-25T21:30:00.000Z","event":"listening","transport":"tcp","local":"0.0.0.0:4321"}
 * ```
 *
 * @module
 */

import { escapeBytes, formatAddress } from "../net/format.ts";
import type { RequestDescription } from "../net/http/describe.ts";
import type {
  CloseReason,
  ConnectionInfo,
  ConnectionSummary,
  ServerSummary,
  SocketAddr,
} from "../server.ts";

/** Every event name the ledger writes. */
export type LedgerEvent =
  | "listening"
  | "open"
  | "data"
  | "close"
  | "refused"
  | "denied"
  | "error"
  | "stopping"
  | "stopped"
  | "suppressed"
  | "datagram"
  | "dropped"
  | "request"
  | "bad_request";

/** What the ledger shows of a connection. */
type ConnectionFacts = Pick<ConnectionInfo, "id" | "remoteAddr" | "proxyAddr" | "localAddr">;

/** Data events show at most this many bytes of a chunk, as the text log does. */
export const LEDGER_DATA_BYTES = 200;

/** Formats ledger lines for one server; each method returns one line, without newline. */
export class Ledger {
  /**
   * Creates a ledger for a server of `transport` (`"tcp"`); `now` gives the
   * time of events that carry none (epoch ms). @default {Date.now}
   */
  constructor(
    readonly transport: string,
    readonly now: () => number = Date.now,
    readonly protocol: "echo" | "http" = "echo",
  ) {}

  /** The server listens on `local`; `instance` names it, for HTTP. */
  listening(local: SocketAddr, instance?: string): string {
    return this.#line("listening", this.now(), {
      transport: this.transport,
      local: formatAddress(local),
      protocol: this.protocol === "http" ? "http" : undefined,
      instance,
    });
  }

  /**
   * A request was answered (`serve --http`): the description the reply
   * carried (docs/http.md), the status and the bytes of response written.
   */
  request(
    info: Pick<ConnectionInfo, "id" | "localAddr">,
    description: RequestDescription,
    status: number,
    bytesOut: number,
  ): string {
    // The description names the peer and the PROXY client itself, as objects.
    return this.#line("request", this.now(), {
      transport: this.transport,
      id: info.id,
      local: formatAddress(info.localAddr),
      ...description,
      status,
      bytes_out: bytesOut,
    });
  }

  /** A request was refused as malformed with `status`, for `reason` (`serve --http`). */
  badRequest(info: ConnectionFacts, status: number, reason: string): string {
    return this.#line("bad_request", this.now(), { ...this.#connection(info), status, reason });
  }

  /** A connection was accepted (and its `prepare` step, e.g. the PROXY header, passed). */
  open(info: ConnectionInfo): string {
    return this.#line("open", info.openedAt, this.#connection(info));
  }

  /** A chunk arrived on a connection; it is shown escaped and shortened, as in the text log. */
  data(info: ConnectionInfo, chunk: Uint8Array): string {
    return this.#line("data", this.now(), {
      ...this.#connection(info),
      bytes: chunk.length,
      data: escapeBytes(chunk, { maxBytes: LEDGER_DATA_BYTES }),
    });
  }

  /** A connection closed; `detail` says more about an abnormal end (the error, in words). */
  close(info: ConnectionInfo, summary: ConnectionSummary, detail?: string): string {
    // Every chunk is echoed before the next is read, so in and out are equal; a
    // chunk whose echo could not be written (the client reset) is counted in neither.
    // HTTP counts requests and replies together.
    const bytes = this.protocol === "http"
      ? { bytes: summary.bytes }
      : { bytes_in: summary.bytes, bytes_out: summary.bytes };
    return this.#line("close", this.now(), {
      ...this.#connection(info),
      ...bytes,
      duration_ms: Math.round(summary.durationMs * 1000) / 1000,
      reason: summary.reason,
      detail,
    });
  }

  /** A connection was closed at once because `limit` connections were open. */
  refused(peer: SocketAddr, limit: number): string {
    return this.#turnedAway("refused", peer, "connection_limit", { limit });
  }

  /** A connection was closed at once by an address rule; `rule` names it (e.g. `--deny 10.0.0.0/8`). */
  denied(peer: SocketAddr, rule: string): string {
    return this.#turnedAway("denied", peer, "denied", { rule });
  }

  /** Something went wrong outside any one connection (e.g. accepting failed). */
  error(message: string): string {
    return this.#line("error", this.now(), { message });
  }

  /** Shutdown began: `open` connections may go on for `graceMs`. */
  stopping(open: number, graceMs: number): string {
    return this.#line("stopping", this.now(), { open, grace_ms: graceMs });
  }

  /** The server stopped; the totals of its life. */
  stopped({ connections, bytes, forced }: ServerSummary): string {
    return this.#line("stopped", this.now(), { connections, bytes, forced });
  }

  /** The rate limit held back `lines` lines in the last second. */
  suppressed(lines: number, limit: number): string {
    return this.#line("suppressed", this.now(), { lines, limit_per_second: limit });
  }

  /** A datagram from `peer` to `local` is echoed (UDP); shown as `data` shows a chunk. */
  datagram(peer: Deno.NetAddr, local: Deno.NetAddr, datagram: Uint8Array): string {
    return this.#line("datagram", this.now(), {
      transport: this.transport,
      peer: formatAddress(peer),
      local: formatAddress(local),
      bytes: datagram.length,
      data: escapeBytes(datagram, { maxBytes: LEDGER_DATA_BYTES }),
    });
  }

  /** `datagrams` were not answered in the last second (UDP); `reasons` counts them by cause. */
  dropped(datagrams: number, reasons: Readonly<Record<string, number>>): string {
    return this.#line("dropped", this.now(), { transport: this.transport, datagrams, reasons });
  }

  /** The UDP echo stopped: datagrams and bytes echoed, and those not answered, by cause. */
  stoppedUdp(
    { datagrams, bytes, dropped }: { datagrams: number; bytes: number; dropped: number },
    reasons: Readonly<Record<string, number>>,
  ): string {
    return this.#line("stopped", this.now(), {
      transport: this.transport,
      datagrams,
      bytes,
      dropped,
      reasons,
    });
  }

  #turnedAway(
    event: LedgerEvent,
    peer: SocketAddr,
    reason: CloseReason,
    fields: Record<string, unknown>,
  ): string {
    return this.#line(event, this.now(), {
      transport: this.transport,
      peer: formatAddress(peer),
      reason,
      ...fields,
    });
  }

  #connection(info: ConnectionFacts) {
    return {
      transport: this.transport,
      id: info.id,
      peer: formatAddress(info.remoteAddr),
      proxy: info.proxyAddr && formatAddress(info.proxyAddr),
      local: formatAddress(info.localAddr),
    };
  }

  #line(event: LedgerEvent, epochMs: number, fields: Record<string, unknown>): string {
    // JSON.stringify drops undefined fields, so optional ones simply do not appear.
    return JSON.stringify({ time: new Date(epochMs).toISOString(), event, ...fields });
  }
}
