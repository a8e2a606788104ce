/**
 * The load engine of `bench/bench.ts`: opens connections and drives one workload
 * over them, verifying every echoed byte.
 *
 * Everything lives inside {@linkcode loadEngine} and it imports nothing but
 * types, on purpose: workers get it as the source text of that one function
 * in a `blob:` module (`workers.ts`), because a worker started from a module
 * file needs read permission and sockecho runs with `-N` only. What it needs
 * from outside (a fast byte compare, a latency histogram, the classes of
 * `schedule.ts` and `tally.ts`) is passed in.
 *
 * @example
 * ```ts
 * import { Buffer } from "node:buffer";
 * import { Histogram } from "./histogram.ts";
 * import { loadEngine } from "./load.ts";
 * import { Budget, Pacer } from "./schedule.ts";
 * import { Tally } from "./tally.ts";
 *
 * const schedule = { Budget, Pacer, Tally };
 * const { runShare } = loadEngine(Buffer.compare, () => new Histogram(), schedule);
 * const result = await runShare({
 *   mode: "pingpong",
 *   hostname: "127.0.0.1",
 *   port: 4321,
 *   connections: 1,
 *   size: 64,
 *   durationMs: 1000,
 *   warmupMs: 0,
 *   overrunMs: 5000,
 * });
 * ```
 *
 * @module
 */

import type { Budget, Pacer, Schedule } from "./schedule.ts";
import type { Tally } from "./tally.ts";
import type {
  BenchProgress,
  LatencyRecorder,
  LoadFailure,
  LoadShare,
  ShareResult,
} from "./share.ts";

/**
 * Makes the engine. `compare` is `Buffer.compare` (memcmp speed),
 * `newHistogram` makes an empty latency histogram and `schedule` holds the
 * classes that say when to send and count what was sent: passed in because
 * the engine may import nothing.
 */
export function loadEngine<H extends LatencyRecorder>(
  compare: (a: Uint8Array, b: Uint8Array) => number,
  newHistogram: () => H,
  schedule: Schedule,
) {
  /** Period of the verification pattern: prime, so shifted data never lines up. */
  const PATTERN_PERIOD = 65521;
  const BULK_READ_BYTES = 256 * 1024;

  const failure = (name: LoadFailure["name"], message: string, fields = {}): LoadFailure =>
    Object.assign(new Error(message), { name, ...fields }) as LoadFailure;

  let pattern = new Uint8Array(0);

  /** The `length` bytes at `offset` of an endless pattern with a prime period. */
  function patternAt(offset: number, length: number): Uint8Array {
    if (pattern.length < PATTERN_PERIOD + length) {
      pattern = Uint8Array.from(
        { length: PATTERN_PERIOD + Math.max(length, BULK_READ_BYTES) },
        (_, i) => (i % PATTERN_PERIOD) * 7 + ((i % PATTERN_PERIOD) >> 8),
      );
    }
    const start = offset % PATTERN_PERIOD;
    return pattern.subarray(start, start + length);
  }

  /** Checks an echo against what was sent; `offset` is its place in the stream. */
  function verify(expected: Uint8Array, echo: Uint8Array, offset: number): void {
    if (compare(expected, echo) === 0) return;
    const at = expected.findIndex((byte, i) => echo[i] !== byte);
    const hex = (byte: number) => `0x${byte.toString(16).padStart(2, "0")}`;
    throw failure(
      "MismatchError",
      `echo differs from what was sent at byte ${offset + at}: ` +
        `sent ${hex(expected[at])}, got ${hex(echo[at])}`,
      { offset: offset + at, reply: echo.slice() },
    );
  }

  /**
   * Sends a message and reads its whole echo. The read is asked for as the
   * write goes out, before the write's promise settles, so every connection
   * waits for its echo in the event loop's poll for I/O, as in an epoll loop.
   * Asked for later, the read often finds the echo already there, and that
   * connection goes round again at once in one long run of promise jobs
   * while the connections whose echo came a little later wait: measured on
   * pingpong 50 × 64 B, p99 2.4 → 1.4 ms and p99.9 23–51 → 2–35 ms, for 7–20 %
   * fewer round trips/s (an extra read that finds nothing, then the poll).
   */
  async function roundTrip(conn: Deno.Conn, message: Uint8Array, echo: Uint8Array) {
    const writing = conn.write(message);
    const reading = conn.read(echo);
    try {
      let written = await writing;
      if (written < message.length) {
        // The kernel took part of it (rare): the read must not fail unheard meanwhile.
        reading.catch(() => {});
        while (written < message.length) written += await conn.write(message.subarray(written));
      }
    } catch (error) {
      reading.catch(() => {}); // fails too, for the same reason: the write's error says it
      throw droppedByServer(error, conn, 0, echo.length);
    }
    let got = 0;
    try {
      for (let n = await reading;; n = await conn.read(echo.subarray(got))) {
        if (n === null) {
          throw failure(
            "ClosedEarlyError",
            `the server closed after echoing ${got} of ${echo.length} bytes of a message`,
            { received: got, expected: echo.length },
          );
        }
        got += n;
        if (got === echo.length) return;
      }
    } catch (error) {
      throw droppedByServer(error, conn, got, echo.length);
    }
  }

  /** `host:port` of the server a connection goes to, or its Unix socket's path. */
  function whereOf(conn: Deno.Conn): string {
    const addr = conn.remoteAddr;
    if ("path" in addr) return addr.path;
    const { hostname, port } = addr as Deno.NetAddr;
    return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
  }

  /**
   * A reset (or abort) is the server's doing, like a close, so it is reported as
   * a `ClosedEarlyError` worded like `send`'s; any other error passes unchanged.
   */
  function droppedByServer(
    error: unknown,
    conn: Deno.Conn,
    received: number,
    expected: number,
  ): unknown {
    const dropped = [
      Deno.errors.ConnectionReset,
      Deno.errors.ConnectionAborted,
      Deno.errors.BrokenPipe,
    ];
    if (!dropped.some((kind) => error instanceof kind)) return error;
    const why = (error as Error).message.replace(/ \(os error \d+\)$/, "").toLowerCase();
    return failure(
      "ClosedEarlyError",
      `${whereOf(conn)} failed (${why}) after echoing ${received} of ${expected} bytes`,
      { received, expected },
    );
  }

  async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
    for (let written = 0; written < bytes.length;) {
      written += await conn.write(bytes.subarray(written));
    }
  }

  async function connect({ hostname, port, path, tls }: LoadShare): Promise<Deno.Conn> {
    try {
      if (path !== undefined) return await Deno.connect({ transport: "unix", path });
      const conn = await Deno.connect({ hostname, port });
      // Small messages must go out at once, not wait for Nagle.
      conn.setNoDelay(true);
      if (tls === undefined) return conn;
      const secure = await Deno.startTls(conn, { hostname: tls.serverName, caCerts: tls.caCerts });
      await secure.handshake(); // set-up, kept out of what is measured
      return secure;
    } catch (cause) {
      const where = path ??
        (hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`);
      const why = (cause as Error).message.replace(/ \(os error \d+\)$/, "").toLowerCase();
      throw failure("ConnectError", `cannot connect to ${where}: ${why}`, { cause });
    }
  }

  async function pingpong(
    conn: Deno.Conn,
    size: number,
    budget: Budget,
    tally: Tally<H>,
    pacer?: Pacer,
  ) {
    const echo = new Uint8Array(size);
    for (let sent = 0;; sent += size) {
      // Awaited only under a rate: an await of a plain number still costs a turn.
      const due = pacer ? await pacer.wait() : performance.now();
      const phase = budget.take(due);
      // Under a rate a send may go out a little early: its latency counts from then.
      const began = pacer ? Math.min(due, performance.now()) : due;
      if (phase === "stop") return;
      const message = patternAt(sent, size);
      await roundTrip(conn, message, echo);
      verify(message, echo, sent);
      tally.record(phase, began, size);
    }
  }

  async function bulk(conn: Deno.Conn, size: number, budget: Budget, tally: Tally<H>) {
    let sent = 0;
    let received = 0;
    const writing = (async () => {
      for (let phase; (phase = budget.take(performance.now())) !== "stop"; sent += size) {
        await writeAll(conn, patternAt(sent, size));
        if (phase === "measure") tally.operations++;
      }
      await conn.closeWrite();
    })();
    // Its failure is awaited below, after the reads; until then it is not unhandled.
    writing.catch(() => {});
    const buffer = new Uint8Array(BULK_READ_BYTES);
    try {
      for (let n; (n = await conn.read(buffer)) !== null; received += n) {
        verify(patternAt(received, n), buffer.subarray(0, n), received);
        if (performance.now() >= budget.measureFrom) tally.bytes += n;
      }
      await writing;
    } catch (error) {
      await writing.catch(() => {});
      throw droppedByServer(error, conn, received, sent);
    }
    if (received !== sent) {
      throw failure(
        "ClosedEarlyError",
        `the server closed after echoing ${received} of ${sent} bytes`,
        { received, expected: sent },
      );
    }
  }

  async function connectLoop(share: LoadShare, budget: Budget, tally: Tally<H>, pacer?: Pacer) {
    const echo = new Uint8Array(share.size);
    for (let sent = 0;; sent += share.size) {
      const due = pacer ? await pacer.wait() : performance.now();
      const phase = budget.take(due);
      // Under a rate a send may go out a little early: its latency counts from then.
      const began = pacer ? Math.min(due, performance.now()) : due;
      if (phase === "stop") return;
      const conn = await connect(share);
      try {
        const message = patternAt(sent, share.size);
        await roundTrip(conn, message, echo);
        verify(message, echo, sent);
      } finally {
        conn.close();
      }
      tally.record(phase, began, share.size);
    }
  }

  function closeAll(conns: Deno.Conn[]): void {
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // Already closed by its own loop.
      }
    }
  }

  /**
   * Calls `tick` 1 s after `from`, then 2 s, and so on, each timed from
   * `from` rather than from the last (timers fire late, and the delays would
   * add up), until stopped.
   */
  function everySecond(from: number, tick: () => void): { stop(): void } {
    let timer: ReturnType<typeof setTimeout>;
    const arm = (n: number) => {
      timer = setTimeout(() => {
        tick();
        arm(n + 1);
      }, Math.max(0, from + 1000 * n - performance.now()));
    };
    arm(1);
    return { stop: () => clearTimeout(timer) };
  }

  /**
   * Runs a share of the load: opens its connections (except in `connect`
   * mode), waits for `startAt` if set, then drives them through the warm-up
   * and the measured window until the count or the time is used up.
   */
  async function runShare(
    share: LoadShare,
    onProgress?: (progress: BenchProgress) => void,
    stop?: AbortSignal,
  ): Promise<ShareResult<H>> {
    const conns = share.mode === "connect"
      ? []
      : await Promise.all(Array.from({ length: share.connections }, () => connect(share)));
    // The schedule's time 0: --start-at's instant on this thread's clock, else now.
    const start = share.startAt === undefined
      ? performance.now()
      : share.startAt - performance.timeOrigin;
    if (share.startAt !== undefined) await schedule.Pacer.waitUntil(start);
    const started = performance.now(); // when it did start: the skew from startAt is reported
    const budget = new schedule.Budget(share, start);
    const tally = new schedule.Tally<H>(newHistogram, started, budget.measureFrom);
    // Stopping early ends the load as running out of time would: the echoes in flight come back.
    const cancel = () => budget.cancelled = true;
    if (stop?.aborted) cancel();
    stop?.addEventListener("abort", cancel);
    let ticks = everySecond(start, () => tally.cut("warmup"));
    const opening = setTimeout(() => {
      ticks.stop();
      if (share.warmupMs > 0) tally.cut("warmup");
      ticks = everySecond(budget.measureFrom, () => {
        tally.cut("measure");
        onProgress?.({
          elapsedMs: performance.now() - budget.measureFrom,
          operations: tally.operations,
          bytes: tally.bytes,
        });
      });
    }, Math.max(0, budget.measureFrom - performance.now()));
    // The load stops by itself even if the server stops answering.
    let overran = false;
    const watchdog = setTimeout(
      () => {
        overran = true;
        budget.cancelled = true;
        closeAll(conns);
      },
      Math.max(0, budget.measureFrom - performance.now()) + (share.durationMs ?? 60_000) +
        share.overrunMs,
    );
    const { first, step, stride } = share.arrivals ??
      { first: 0, step: 1, stride: share.connections };
    // Connection j sends arrivals first + step·j, then every stride-th: arrival i is due at i/rate s.
    const pacerOf = (j: number) =>
      share.rate
        ? new schedule.Pacer(
          budget,
          start + (1000 * (first + step * j)) / share.rate,
          (1000 * stride) / share.rate,
        )
        : undefined;
    const runs = share.mode === "connect"
      ? Array.from(
        { length: share.connections },
        (_, i) => connectLoop(share, budget, tally, pacerOf(i)),
      )
      : share.mode === "bulk"
      ? conns.map((conn) => bulk(conn, share.size, budget, tally))
      : conns.map((conn, i) => pingpong(conn, share.size, budget, tally, pacerOf(i)));
    try {
      await Promise.all(runs);
    } catch (error) {
      budget.cancelled = true;
      closeAll(conns);
      await Promise.allSettled(runs);
      if (overran) {
        throw failure(
          "TimeoutError",
          `the server stopped answering: load cut ${share.overrunMs} ms after its time was up`,
        );
      }
      throw error;
    } finally {
      clearTimeout(opening);
      ticks.stop();
      clearTimeout(watchdog);
      stop?.removeEventListener("abort", cancel);
      closeAll(conns);
    }
    // Also when the measured sends ended before the timer that opens the window ran.
    if (performance.now() >= budget.measureFrom) tally.cut("measure");
    tally.cut("warmup"); // echoes of warm-up sends that came back in the measured window
    return {
      startMs: performance.timeOrigin + started,
      elapsedMs: Math.max(0, performance.now() - budget.measureFrom),
      operations: tally.operations,
      bytes: tally.bytes,
      latencies: tally.total,
      intervals: tally.intervals,
    };
  }

  return { runShare };
}
