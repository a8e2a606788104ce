/**
 * The parts of `sockecho serve` that go beyond the TCP echo: `--allow` and
 * `--deny` (for TCP and UDP), and `--udp` with its log lines (text or JSON
 * ledger), its dropped datagram counts (reported once a second like
 * suppressed log lines) and its part of the shutdown summary.
 *
 * @example
 * ```ts
 * import { RateLimitedLog } from "../log.ts";
 * import { accessFilter, startUdpEcho } from "./serve_udp.ts";
 *
 * const log = new RateLimitedLog(console.log, 100);
 * const acceptFrom = accessFilter(["127.0.0.1/32"], undefined);
 * const udp = await startUdpEcho({ hostname: "127.0.0.1", port: 0, ratePerSource: 100, acceptFrom, log });
 * console.log(udp.listening);
 * udp.reportDrops();
 * console.log(await udp.stop());
 * ```
 *
 * @module
 */

import { CidrSyntaxError, parseAccessList } from "../../net/access/acl.ts";
import { UsageError } from "../args.ts";
import { escapeBytes, formatAddress, formatCount, plural } from "../../net/format.ts";
import type { Ledger } from "../ledger.ts";
import type { RateLimitedLog } from "../log.ts";
import { type DropReason, LOOP_PRONE_PORTS, serveUdp } from "../../net/udp.ts";

/**
 * Turns `--allow` and `--deny` values (each repeatable, each a comma list)
 * into the server's `acceptFrom`, or undefined when neither was given.
 * Throws {@linkcode UsageError} for a bad network.
 *
 * @example
 * ```ts
 * import { accessFilter } from "./serve_udp.ts";
 *
 * const acceptFrom = accessFilter(["10.0.0.0/8"], ["10.0.0.13"])!;
 * acceptFrom({ transport: "tcp", hostname: "10.0.0.13", port: 5000 }); // false
 * ```
 */
export function accessFilter(
  allow: string[] | undefined,
  deny: string[] | undefined,
): ((addr: Deno.NetAddr) => boolean) | undefined {
  if (allow === undefined && deny === undefined) return undefined;
  try {
    const acl = parseAccessList({ allow: allow?.join(","), deny: deny?.join(",") });
    return ({ hostname }) => acl.allows(hostname);
  } catch (error) {
    if (error instanceof CidrSyntaxError) throw new UsageError(error.message);
    throw error;
  }
}

/** How `serve` runs its UDP echo. */
export interface UdpEchoOptions {
  hostname: string;
  port: number;
  /** `--udp-rate`: answers a second to one source address; 0: no limit. */
  ratePerSource: number;
  acceptFrom?: (addr: Deno.NetAddr) => boolean;
  /** The serve log; a datagram is a line in it, within its rate. */
  log: RateLimitedLog;
  /** With `--log-format json`: a ledger for transport `udp`. */
  ledger?: Ledger;
  /** `-q`: no line per datagram. */
  quiet?: boolean;
}

/** A running UDP echo as `serve` drives it. */
export interface UdpEcho {
  /** The line that says where it listens. */
  readonly listening: string;
  /** Writes one line counting the datagrams dropped since the last call, if any. */
  reportDrops(): void;
  /**
   * Stops it. In text, resolves with its part of the summary line, e.g.
   * `UDP: 3 datagrams, 60 bytes echoed`; with a ledger, writes its own
   * `stopped` line and resolves with "". Calling it again changes nothing.
   */
  stop(): Promise<string>;
}

const DROP_WORDS: Record<DropReason, string> = {
  rate: "over --udp-rate",
  loop: `from ports ${[...LOOP_PRONE_PORTS].join("/")}`,
  denied: "denied by --allow/--deny",
  unsendable: "unsendable",
};

/**
 * Starts the UDP echo of `serve --udp`.
 *
 * @example
 * ```ts
 * import { RateLimitedLog } from "../log.ts";
 * import { startUdpEcho } from "./serve_udp.ts";
 *
 * const log = new RateLimitedLog(console.log, 100);
 * const udp = await startUdpEcho({ hostname: "::1", port: 0, ratePerSource: 10, log });
 * console.log(await udp.stop()); // "UDP: 0 datagrams, 0 bytes echoed"
 * ```
 */
export async function startUdpEcho(options: UdpEchoOptions): Promise<UdpEcho> {
  const { log, ledger } = options;
  let recent = newCounts();
  const server = await serveUdp({
    hostname: options.hostname,
    port: options.port,
    ratePerSource: options.ratePerSource,
    acceptFrom: options.acceptFrom,
    onDatagram: options.quiet
      ? undefined
      : (from, datagram) =>
        log.line(() =>
          ledger?.datagram(from, server.addr, datagram) ??
            `${formatAddress(from)} sent ${plural(datagram.length, "byte")} by UDP: ` +
              escapeBytes(datagram, { maxBytes: 200 })
        ),
    onDrop: (_, reason) => void recent[reason]++,
  });
  let stopping: Promise<string> | undefined;
  return {
    listening: ledger?.listening(server.addr) ?? `Listening on ${formatAddress(server.addr)} (UDP)`,
    reportDrops() {
      const total = sum(recent);
      if (total > 0) {
        log.write(ledger?.dropped(total, nonZero(recent)) ?? `… UDP: ${describeDrops(recent)}`);
      }
      recent = newCounts();
    },
    stop() {
      return stopping ??= server.shutdown().then(({ datagrams, bytes, dropped }) => {
        if (ledger) {
          log.write(
            ledger.stoppedUdp({ datagrams, bytes, dropped: sum(dropped) }, nonZero(dropped)),
          );
          return "";
        }
        return `UDP: ${plural(datagrams, "datagram")}, ${plural(bytes, "byte")} echoed` +
          (sum(dropped) > 0 ? `, ${describeDrops(dropped)}` : "");
      });
    },
  };
}

function newCounts(): Record<DropReason, number> {
  return { denied: 0, loop: 0, rate: 0, unsendable: 0 };
}

function sum(counts: Readonly<Record<DropReason, number>>): number {
  return Object.values(counts).reduce((total, n) => total + n, 0);
}

/** The counts that are not zero, for the ledger. */
function nonZero(counts: Readonly<Record<DropReason, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
}

/** E.g. "37 not answered (30 over --udp-rate, 7 from ports 7/13/17/19/37)". */
function describeDrops(counts: Readonly<Record<DropReason, number>>): string {
  const parts = (Object.keys(DROP_WORDS) as DropReason[])
    .filter((reason) => counts[reason] > 0)
    .map((reason) => `${formatCount(counts[reason])} ${DROP_WORDS[reason]}`);
  return `${formatCount(sum(counts))} not answered (${parts.join(", ")})`;
}
