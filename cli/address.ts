/**
 * Addresses the way people type them and the way sockecho prints them:
 * `HOST`, `HOST:PORT`, `[IPv6]`, `[IPv6]:PORT` or a bare IPv6 address, so
 * that an address the server printed can be pasted back as it is.
 *
 * @example
 * ```ts
 * import { parseTarget } from "./address.ts";
 *
 * parseTarget("[::1]:4400", undefined, 4321); // hostname "::1", port 4400
 * parseTarget("example.com", "80", 4321); // hostname "example.com", port 80
 * ```
 *
 * @module
 */

import { parsePort, UsageError } from "./args.ts";

/** A host to connect to and its port. */
export interface Target {
  /** A name, an IPv4 or an IPv6 address (without brackets). */
  hostname: string;
  port: number;
  /** True when the port came from `HOST:PORT` or the port option, not the default. */
  portGiven: boolean;
}

/**
 * Splits `text` into a host and, when it carries one, a port (still text).
 * A name or IPv4 address takes `:PORT`; an IPv6 address takes one only in
 * brackets, since its colons are its own.
 *
 * @example
 * ```ts
 * import { splitHostPort } from "./address.ts";
 *
 * splitHostPort("127.0.0.1:4400"); // { hostname: "127.0.0.1", port: "4400" }
 * splitHostPort("fe80::1"); // { hostname: "fe80::1" }
 * ```
 */
export function splitHostPort(text: string): { hostname: string; port?: string } {
  const invalid = () =>
    new UsageError(`invalid address "${text}": expected HOST, HOST:PORT, [IPv6] or [IPv6]:PORT`);
  const bracketed = text.match(/^\[([^[\]]*)\](?::(.*))?$/);
  if (bracketed) {
    const [, hostname, port] = bracketed;
    if (!hostname.includes(":")) throw invalid(); // brackets are for IPv6 only
    return port === undefined ? { hostname } : { hostname, port };
  }
  // A bracket belongs only around an IPv6 address: "::1]:80" is a typo, not a name to resolve.
  if (text === "" || /[[\]]/.test(text)) throw invalid();
  const parts = text.split(":");
  if (parts.length !== 2) return { hostname: text }; // a name, IPv4, or a bare IPv6 address
  const [hostname, port] = parts;
  if (hostname === "") throw invalid();
  return { hostname, port };
}

/**
 * The port to use when it may come from two places, `fromArgument` (parsed
 * from `argument` as typed) and the `-p` option's text: whichever is given,
 * else `fallback`. Both given and different is a {@linkcode UsageError}.
 *
 * @example
 * ```ts
 * import { pickPort } from "./address.ts";
 *
 * pickPort(4400, "host:4400", "4400", 4321); // 4400
 * pickPort(undefined, "host", undefined, 4321); // 4321
 * ```
 */
export function pickPort(
  fromArgument: number | undefined,
  argument: string,
  option: string | undefined,
  fallback: number,
  lowest = 1,
): number {
  const fromOption = option === undefined ? undefined : parsePort(option, lowest);
  if (fromArgument !== undefined && fromOption !== undefined && fromArgument !== fromOption) {
    throw new UsageError(
      `two ports given: ${fromArgument} in "${argument}" and ${fromOption} with -p; keep one`,
    );
  }
  return fromArgument ?? fromOption ?? fallback;
}

/**
 * Parses a command's HOST argument (any form {@linkcode splitHostPort}
 * takes) together with its `-p` option's text, if given.
 *
 * @example
 * ```ts
 * import { parseTarget } from "./address.ts";
 *
 * parseTarget("127.0.0.1:4400", undefined, 4321); // port 4400, portGiven true
 * ```
 */
export function parseTarget(
  text: string,
  portOption: string | undefined,
  fallback: number,
): Target {
  const { hostname, port } = splitHostPort(text);
  const fromAddress = port === undefined ? undefined : parsePort(port, 1);
  return {
    hostname,
    port: pickPort(fromAddress, text, portOption, fallback),
    portGiven: fromAddress !== undefined || portOption !== undefined,
  };
}

/** What {@linkcode parseHostArgument} needs besides the arguments. */
export interface HostArgumentOptions {
  /** The command's name, for "send needs a HOST". */
  command: string;
  /** The `--unix` option's path: with it there is no HOST. */
  unix?: string;
  /** The `-p` option's text. */
  port?: string;
  /** The port when none is given. */
  fallback: number;
  /** How many arguments may follow HOST (or start, with `unix`). @default {0} */
  rest?: number;
  /** The usage error's text for the first argument too many. */
  tooMany: (extra: string) => string;
}

/**
 * A command's HOST argument (with `-p`, as {@linkcode parseTarget} takes
 * them) and the arguments after it. With `unix` there is no HOST: the
 * target is then an empty host name on the fallback port.
 *
 * @example
 * ```ts
 * import { parseHostArgument } from "./address.ts";
 *
 * const { target, rest } = parseHostArgument(["[::1]:4400", "hi"], {
 *   command: "send",
 *   fallback: 4321,
 *   rest: 1,
 *   tooMany: (extra) => `send takes HOST and one MESSAGE, not also "${extra}"`,
 * }); // target.port 4400, rest ["hi"]
 * ```
 */
export function parseHostArgument(
  positionals: string[],
  { command, unix, port, fallback, rest = 0, tooMany }: HostArgumentOptions,
): { target: Target; rest: string[] } {
  const [host, ...after] = unix === undefined ? positionals : ["", ...positionals];
  if (host === undefined) throw new UsageError(`${command} needs a HOST`);
  if (after.length > rest) throw new UsageError(tooMany(after[rest]));
  return {
    target: unix === undefined
      ? parseTarget(host, port, fallback)
      : { hostname: "", port: fallback, portGiven: false },
    rest: after,
  };
}
