/**
 * The load engine of `bench/bench.ts`: opens connections and drives one workload
 * over them, verifying every echoed byte.
 *
 * Everything lives inside {@linkcode loadEngine} and it imports nothing but
 * types, on purpose: workers get it as the source text of that one function
 * in a `blob:` module (`workers.ts`), because a worker started from a module
 * file needs read permission and sockecho runs with `-N` only. What it needs
 * from outside (a fast byte compare, a latency histogram, the classes of
 * `schedule.ts`) is passed in.
 *
 * @example
 * ```ts
 * import { Buffer } from "node:buffer";
 * import { LatencyHistogram } from "./latency.ts";
 * import { loadEngine } from "./load.ts";
 * import { Budget, Pacer } from "./schedule.ts";
 *
 * const { runShare } = loadEngine(Buffer.compare, () => new LatencyHistogram(), { Budget, Pacer });
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
 * classes that say when to send: passed in because the engine may import
 * nothing.
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

  type Tally = { operations: number; bytes: number; latencies: H };

  /** Counts one measured message and its latency since `began`. */
  function record(tally: Tally, began: number, bytes: number): void {
    tally.latencies.record((performance.now() - began) * 1000);
    tally.operations++;
    tally.bytes += bytes;
  }

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
    tally: Tally,
    pacer?: Pacer,
  ) {
    const echo = new Uint8Array(size);
    for (let sent = 0;; sent += size) {
      // Awaited only under a rate: an await of a plain number still costs a turn.
      const began = pacer ? await pacer.wait() : performance.now();
      const phase = budget.take(began);
      if (phase === "stop") return;
      const message = patternAt(sent, size);
      await roundTrip(conn, message, echo);
      verify(message, echo, sent);
      if (phase === "measure") record(tally, began, size);
    }
  }

  async function bulk(conn: Deno.Conn, size: number, budget: Budget, tally: Tally) {
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

  async function connectLoop(share: LoadShare, budget: Budget, tally: Tally, pacer?: Pacer) {
    const echo = new Uint8Array(share.size);
    for (let sent = 0;; sent += share.size) {
      const began = pacer ? await pacer.wait() : performance.now();
      const phase = budget.take(began);
      if (phase === "stop") return;
      const conn = await connect(share);
      try {
        const message = patternAt(sent, share.size);
        await roundTrip(conn, message, echo);
        verify(message, echo, sent);
      } finally {
        conn.close();
      }
      if (phase === "measure") record(tally, began, share.size);
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
   * Runs a share of the load: opens its connections (except in `connect`
   * mode), then drives them through the warm-up and the measured window
   * until the count or the time is used up.
   */
  async function runShare(
    share: LoadShare,
    onProgress?: (progress: BenchProgress) => void,
    stop?: AbortSignal,
  ): Promise<ShareResult<H>> {
    const conns = share.mode === "connect"
      ? []
      : await Promise.all(Array.from({ length: share.connections }, () => connect(share)));
    const tally: Tally = { operations: 0, bytes: 0, latencies: newHistogram() };
    const budget = new schedule.Budget(share);
    // Stopping early ends the load as running out of time would: the echoes in flight come back.
    const cancel = () => budget.cancelled = true;
    if (stop?.aborted) cancel();
    stop?.addEventListener("abort", cancel);
    let progress: ReturnType<typeof setInterval> | undefined;
    const measuring = setTimeout(() => {
      progress = setInterval(() => {
        onProgress?.({
          elapsedMs: performance.now() - budget.measureFrom,
          operations: tally.operations,
          bytes: tally.bytes,
        });
      }, 1000);
    }, share.warmupMs);
    // The load stops by itself even if the server stops answering.
    let overran = false;
    const watchdog = setTimeout(() => {
      overran = true;
      budget.cancelled = true;
      closeAll(conns);
    }, share.warmupMs + (share.durationMs ?? 60_000) + share.overrunMs);
    const start = performance.now();
    const pacerOf = (slot: number) =>
      share.rate
        ? new schedule.Pacer(
          budget,
          start,
          (1000 * share.connections) / share.rate,
          slot,
          share.connections,
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
      clearTimeout(measuring);
      clearInterval(progress);
      clearTimeout(watchdog);
      stop?.removeEventListener("abort", cancel);
      closeAll(conns);
    }
    return {
      elapsedMs: Math.max(0, performance.now() - budget.measureFrom),
      operations: tally.operations,
      bytes: tally.bytes,
      latencies: tally.latencies,
    };
  }

  return { runShare };
}
