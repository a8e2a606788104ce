/**
 * Access control by client address, like ncat's `--allow`/`--deny` and
 * xinetd's `only_from`: lists of IPv4 and IPv6 networks in CIDR notation.
 * With an allow list, only addresses in it are let in; an address in the
 * deny list is kept out even if it is also allowed. An IPv4 client seen on
 * an IPv6 socket (`::ffff:192.0.2.7`) is matched as the IPv4 address it is.
 * The CIDR parsing and matching are `cidr.ts`'s, which `--proxy-from`
 * uses too.
 *
 * @example
 * ```ts
 * import { parseAccessList } from "./acl.ts";
 *
 * const acl = parseAccessList({ allow: "10.0.0.0/8,::1", deny: "10.0.0.13" });
 * acl.allows("10.1.2.3"); // true
 * acl.allows("::ffff:10.0.0.13"); // false: denied
 * acl.allows("192.0.2.1"); // false: not in the allow list
 * ```
 *
 * @module
 */

import { SockechoError } from "../errors.ts";
import { type Cidr, cidrContains, parseCidrList } from "./cidr.ts";

/** A text that is not an address or a network in CIDR notation. */
export class CidrSyntaxError extends SockechoError {}

/** Who is let in: the answer of {@linkcode parseAccessList}. */
export interface AccessList {
  /** Whether a client at `hostname` (an address literal) may be served. */
  allows(hostname: string): boolean;
}

/**
 * Parses comma-separated allow and deny lists into an {@linkcode AccessList}.
 * Throws {@linkcode CidrSyntaxError} naming the first bad entry.
 *
 * @example
 * ```ts
 * import { parseAccessList } from "./acl.ts";
 *
 * parseAccessList({ deny: "192.0.2.0/24" }).allows("192.0.2.9"); // false
 * ```
 */
export function parseAccessList(
  { allow, deny }: { allow?: string; deny?: string },
): AccessList {
  const allowed = allow === undefined ? undefined : parseNetworks(allow);
  const denied = deny === undefined ? [] : parseNetworks(deny);
  return {
    allows: (hostname) =>
      !cidrContains(denied, hostname) &&
      (allowed === undefined || cidrContains(allowed, hostname)),
  };
}

/** Parses a comma-separated list entry by entry, so that the error names the bad one. */
function parseNetworks(text: string): Cidr[] {
  return text.split(",").flatMap((entry) => {
    const networks = parseCidrList(entry);
    if (networks === undefined) {
      throw new CidrSyntaxError(
        `invalid network "${entry}": expected an address or a CIDR like 10.0.0.0/8 or fd00::/8`,
      );
    }
    return networks;
  });
}
