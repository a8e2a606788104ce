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
 * Resolves `hostname` to its IPv4 and IPv6 addresses; an address literal
 * resolves to itself. Throws {@linkcode ResolveError} when there is none.
 *
 * @example
 * ```ts
 * import { resolveHost } from "./resolve.ts";
 *
 * await resolveHost("127.0.0.1"); // ["127.0.0.1"]
 * ```
 */
export async function resolveHost(hostname: string): Promise<string[]> {
  let found: { address: string }[];
  try {
    found = hostname === "" ? [] : await lookup(hostname, { all: true, verbatim: true });
  } catch (error) {
    const code = (error as { code?: string }).code;
    const why = code === "ENOTFOUND" ? "no such host" : String(code ?? error);
    throw new ResolveError(`cannot resolve ${hostname}: ${why}`, { cause: error });
  }
  if (found.length === 0) {
    throw new ResolveError(`cannot resolve "${hostname}": no such host`);
  }
  return [...new Set(found.map(({ address }) => address))];
}
