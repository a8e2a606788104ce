/**
 * The idle timeout of a stream server: one timer for the whole server, not
 * one per connection and nothing in the data path. Each tick compares every
 * open connection's byte count with the one it had last tick; a connection
 * whose count has not moved for the timeout is handed to `close`. A client
 * that sends nothing, and one that stops reading so its echo cannot be
 * written, both count as idle. The connection is handed over with the
 * {@linkcode IdleTimeoutError} that says so, for the server's report.
 *
 * @example
 * ```ts
 * import { watchIdle } from "./idle_watch.ts";
 *
 * const open = new Map<Deno.Conn, { bytes: number }>();
 * const sweeper = watchIdle(open, 30_000, (conn, _state, error) => {
 *   console.log(error.message); // "idle for 30 s"
 *   conn.close();
 * });
 * // … the accept loop adds connections to `open`, the echo counts their bytes …
 * clearInterval(sweeper);
 * ```
 *
 * @module
 */

import { IdleTimeoutError } from "./errors.ts";

/**
 * Closes connections of `open` that made no progress (their `bytes` did not
 * change) for `idleTimeoutMs` through `close`, checking a few times per
 * timeout and at least once a second. Returns the timer: clear it to stop
 * watching.
 */
export function watchIdle<State extends { readonly bytes: number }>(
  open: ReadonlyMap<Deno.Conn, State>,
  idleTimeoutMs: number,
  close: (conn: Deno.Conn, state: State, error: IdleTimeoutError) => void,
): ReturnType<typeof setInterval> {
  const seen = new WeakMap<State, { bytes: number; since: number }>();
  const tickMs = Math.max(10, Math.min(idleTimeoutMs / 4, 1000));
  return setInterval(() => {
    const now = performance.now();
    for (const [conn, state] of open) {
      const last = seen.get(state);
      if (last === undefined || last.bytes !== state.bytes) {
        seen.set(state, { bytes: state.bytes, since: now });
      } else if (now - last.since >= idleTimeoutMs) {
        close(conn, state, new IdleTimeoutError(`idle for ${idleTimeoutMs / 1000} s`));
      }
    }
  }, tickMs);
}
