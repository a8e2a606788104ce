/**
 * What a saved report says about where it came from: the command line and
 * the machine, so that a report drawn from it, or a merge of many machines'
 * shards, can name them. Nothing here needs a permission: the host name is
 * read only when `--allow-sys` already grants it (asking would prompt).
 *
 * @example
 * ```ts
 * import { runFacts } from "./facts.ts";
 *
 * const { machine } = runFacts(["bench", "127.0.0.1"]);
 * console.log(machine.os, machine.cpus);
 * ```
 *
 * @module
 */

/** Where a run came from. */
export interface RunFacts {
  /** The arguments after `sockecho`. */
  command: string[];
  machine: {
    /** The host name (a Kubernetes pod's name), when `--allow-sys` grants it. */
    hostname?: string;
    os: string;
    arch: string;
    /** Logical cores. */
    cpus: number;
    /** The Deno version that ran it. */
    deno: string;
  };
}

/**
 * The facts of a run of `args`.
 *
 * @example
 * ```ts
 * import { runFacts } from "./facts.ts";
 *
 * runFacts(["bench", "127.0.0.1", "-d", "5"]).command; // ["bench", "127.0.0.1", "-d", "5"]
 * ```
 */
export function runFacts(args: string[]): RunFacts {
  const sys = Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state;
  return {
    command: args,
    machine: {
      ...sys === "granted" && { hostname: Deno.hostname() },
      os: Deno.build.os,
      arch: Deno.build.arch,
      cpus: navigator.hardwareConcurrency,
      deno: Deno.version.deno,
    },
  };
}
