/**
 * Host name resolution through the system resolver (so `/etc/hosts` counts,
 * unlike `Deno.resolveDns`), returning every address in the resolver's order.
 *
 * @example
 * ```ts
 * import { resolveHost } from "./resolve.ts";
 *
 * await resolveHost("localhost"); // e.g. ["::1", "127.0.0.1"]
 * ```
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { ResolveError } from "./errors.ts";

/**
 * What getaddrinfo's failures mean, in words. An offline machine answers
 * `EAI_AGAIN` (no name server reachable) where one online says `ENOTFOUND`.
 */
const LOOKUP_FAILURES: Record<string, string> = {
  ENOTFOUND: "no such host",
  EAI_AGAIN: "no answer from the name server (temporary failure; is the network up?)",
};

function systemLookup(hostname: string): Promise<{ address: string }[]> {
  return lookup(hostname, { all: true, verbatim: true });
}

/**
 * Resolves `hostname` to its IPv4 and IPv6 addresses; an address literal
 * resolves to itself. Throws {@linkcode ResolveError} when there is none.
 * `lookupAll` replaces the system resolver (tests use it to play an offline one).
 *
 * @example
 * ```ts
 * import { resolveHost } from "./resolve.ts";
 *
 * await resolveHost("127.0.0.1"); // ["127.0.0.1"]
 * ```
 */
export async function resolveHost(
  hostname: string,
  lookupAll: (hostname: string) => Promise<{ address: string }[]> = systemLookup,
): Promise<string[]> {
  let found: { address: string }[];
  try {
    found = hostname === "" ? [] : await lookupAll(hostname);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const why = code === undefined ? String(error) : LOOKUP_FAILURES[code] ?? code;
    throw new ResolveError(`cannot resolve ${hostname}: ${why}`, { cause: error });
  }
  if (found.length === 0) {
    throw new ResolveError(`cannot resolve "${hostname}": no such host`);
  }
  return [...new Set(found.map(({ address }) => address))];
}
