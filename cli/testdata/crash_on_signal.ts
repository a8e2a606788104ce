/**
 * Preloaded before `main.ts` by `cli_test.ts` (`deno run --preload`) to plant
 * the kind of bug no test can reach through the program's own code: on
 * SIGUSR1 a promise is rejected with no handler, on SIGUSR2 a timer callback throws.
 * `main.ts` must turn either into one `sockecho: internal error: …` line and
 * exit code 1, never a stack trace.
 *
 * @module
 */

Deno.addSignalListener("SIGUSR1", () => {
  Promise.reject(new TypeError("planted rejection"));
});
Deno.addSignalListener("SIGUSR2", () => {
  // From a timer, the throw is an uncaught exception (the "error" event); from
  // the signal listener itself it would surface as a rejection.
  setTimeout(() => {
    throw new RangeError("planted throw");
  });
});
