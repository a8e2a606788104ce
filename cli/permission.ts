/**
 * Recognises Deno's refusal of an operation for want of a permission flag,
 * wherever it ends up (thrown as is, or the cause of a typed error such as
 * "cannot connect"), and says which flag to run with. This is the one mapping
 * for every command; only where Deno's refusal names too little (a Unix socket
 * needs both -R and -W, a certificate pair both files) does the code that
 * knows throw its own {@linkcode MissingPermissionError}, passed on as it is.
 *
 * @example
 * ```ts
 * import { missingPermission } from "./permission.ts";
 *
 * try {
 *   await Deno.connect({ hostname: "127.0.0.1", port: 4321 });
 * } catch (error) {
 *   // "no net permission for "127.0.0.1:4321": run with -N (--allow-net)"
 *   console.log(missingPermission(error)?.message);
 * }
 * ```
 *
 * @module
 */

import { MissingPermissionError } from "../net/errors.ts";

/** Deno's short flags for the permissions sockecho may need. */
const SHORT_FLAGS: Record<string, string> = {
  "--allow-net": "-N",
  "--allow-read": "-R",
  "--allow-write": "-W",
  "--allow-env": "-E",
  "--allow-sys": "-S",
};

/**
 * Returns a {@linkcode MissingPermissionError} naming the flag to add when
 * `error` or one of its causes is Deno's `NotCapable`, or a name lookup that
 * failed with `EPERM` while network access is not granted; else `undefined`.
 *
 * @example
 * ```ts
 * import { missingPermission } from "./permission.ts";
 *
 * missingPermission(new Error("boom")); // undefined
 * ```
 */
export function missingPermission(error: unknown): MissingPermissionError | undefined {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; depth++) {
    if (cause instanceof MissingPermissionError) return cause;
    // A worker's failure crosses over as a message only, so Deno's wording is matched too.
    const denied = cause.message.match(DENO_REFUSAL);
    if (cause instanceof Deno.errors.NotCapable || denied) return fromDenoMessage(cause, denied);
    // node:dns's lookup reports a missing --allow-net as a bare EPERM.
    if ((cause as { code?: string }).code === "EPERM" && !netGranted()) {
      return new MissingPermissionError("no net permission: run with -N (--allow-net)", {
        cause: error,
      });
    }
    cause = cause.cause;
  }
  return undefined;
}

/** Deno says `Requires net access to "h:p", run again with the --allow-net flag`. */
const DENO_REFUSAL = /requires (\w+) access to (.+?), run again with the (--[\w-]+)/i;

function fromDenoMessage(error: Error, found: RegExpMatchArray | null): MissingPermissionError {
  if (!found) return new MissingPermissionError(`missing permission: ${error.message}`);
  const [, kind, what, flag] = found;
  const short = SHORT_FLAGS[flag];
  return new MissingPermissionError(
    `no ${kind} permission for ${what}: run with ${short ? `${short} (${flag})` : flag}`,
    { cause: error },
  );
}

function netGranted(): boolean {
  return Deno.permissions.querySync({ name: "net" }).state === "granted";
}
