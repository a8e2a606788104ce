/**
 * The instance name `serve --http` puts in every reply, so a client behind a
 * load balancer sees which server answered: `--instance NAME` when given,
 * else the host name where it can be read without asking (the `sys`
 * permission already granted: under the default `-N` reading it would
 * prompt), else `sockecho-` and six random hex digits, chosen at start and
 * printed in the startup line.
 *
 * @example
 * ```ts
 * import { defaultInstanceName } from "./instance.ts";
 *
 * defaultInstanceName(); // "web-7c9d" with -S, else e.g. "sockecho-3fa81c"
 * ```
 *
 * @module
 */

/** Where {@linkcode defaultInstanceName} looks; tests replace both. */
export interface InstanceSources {
  /** The host name, or `undefined` when it cannot be read without a prompt. @default {Deno's, if granted} */
  hostname?: () => string | undefined;
  /** Fills bytes with random values. @default {crypto.getRandomValues} */
  random?: (bytes: Uint8Array) => Uint8Array;
}

/**
 * The host name if it may be read without a prompt, else `sockecho-` and
 * six random hex digits.
 *
 * @example
 * ```ts
 * import { defaultInstanceName } from "./instance.ts";
 *
 * defaultInstanceName({ hostname: () => undefined, random: (b) => b.fill(0xab) }); // "sockecho-ababab"
 * ```
 */
export function defaultInstanceName(sources: InstanceSources = {}): string {
  const { hostname = grantedHostname, random = (bytes) => crypto.getRandomValues(bytes) } = sources;
  const name = hostname();
  if (name) return name;
  const bytes = random(new Uint8Array(3));
  return "sockecho-" + Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The host name when the `sys` permission for it is granted already (a query never prompts). */
function grantedHostname(): string | undefined {
  const { state } = Deno.permissions.querySync({ name: "sys", kind: "hostname" });
  return state === "granted" ? Deno.hostname() : undefined;
}
