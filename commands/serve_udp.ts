/**
 * The parts of `sockecho serve` that go beyond the TCP echo: `--allow` and
 * `--deny` (for TCP and UDP), and `--udp` with its log lines, its dropped
 * datagram counts (reported once a second like suppressed log lines) and
 * its part of the shutdown summary.
 *
 * @example
 * ```ts
 * import { RateLimitedLog } from "../log.ts";
 * import { accessFilter, startUdpEcho } from "./serve_udp.ts";
 *
 * const log = new RateLimitedLog(console.log, 100);
 * const acceptFrom = accessFilter(["127.0.0.1/32"], undefined);
 * const udp = await startUdpEcho({ hostname: "127.0.0.1", port: 0, ratePerSource: 100, acceptFrom, log });
 * udp.reportDrops();
 * console.log(await udp.stop());
 * ```
 *
 * @module
 */

import { CidrSyntaxError, parseAccessList } from "../acl.ts";
import { UsageError } from "../cli/args.ts";
import { escapeBytes, formatAddress } from "../format.ts";
import type { RateLimitedLog } from "../log.ts";
import { type DropReason, LOOP_PRONE_PORTS, serveUdp } from "../udp.ts";

/**
 * Turns `--allow` and `--deny` values (each repeatable, each a comma list)
 * into the server's `acceptFrom`, or undefined when neither was given.
 * Throws {@linkcode UsageError} for a bad network.
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
  /** `-q`: no line per datagram. */
  quiet?: boolean;
}

/** A running UDP echo as `serve` drives it. */
export interface UdpEcho {
  readonly addr: Deno.NetAddr;
  /** Writes one line counting the datagrams dropped since the last call, if any. */
  reportDrops(): void;
  /** Stops it and returns its part of the summary, e.g. `UDP: 3 datagrams, 60 bytes echoed`. */
  stop(): Promise<string>;
}

const DROP_WORDS: Record<DropReason, string> = {
  rate: "over --udp-rate",
  loop: `from ports ${[...LOOP_PRONE_PORTS].join("/")}`,
  denied: "denied by --allow/--deny",
  error: "unsendable",
};

/** Starts the UDP echo of `serve --udp`. */
export async function startUdpEcho(options: UdpEchoOptions): Promise<UdpEcho> {
  const { log } = options;
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
          `${formatAddress(from)} sent ${datagram.length} bytes by UDP: ` +
          escapeBytes(datagram, { maxBytes: 200 })
        ),
    onDrop: (_, reason) => void recent[reason]++,
  });
  return {
    addr: server.addr,
    reportDrops() {
      const line = describeDrops(recent);
      if (line) log.write(`… UDP: ${line}`);
      recent = newCounts();
    },
    async stop() {
      const { datagrams, bytes, dropped } = await server.shutdown();
      const drops = describeDrops(dropped);
      return `UDP: ${datagrams} datagrams, ${bytes} bytes echoed` +
        (drops ? `, ${drops}` : "");
    },
  };
}

function newCounts(): Record<DropReason, number> {
  return { denied: 0, loop: 0, rate: 0, error: 0 };
}

/** E.g. "37 not answered (30 over --udp-rate, 7 from ports 7/13/17/19/37)", or "" for none. */
function describeDrops(counts: Readonly<Record<DropReason, number>>): string {
  const parts = (Object.keys(DROP_WORDS) as DropReason[])
    .filter((reason) => counts[reason] > 0)
    .map((reason) => `${counts[reason]} ${DROP_WORDS[reason]}`);
  const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
  return total === 0 ? "" : `${total} not answered (${parts.join(", ")})`;
}
