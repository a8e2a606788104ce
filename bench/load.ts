/**
 * The load engine of `bench/bench.ts`: opens connections and drives one workload
 * over them, verifying every echoed byte.
 *
 * Everything lives inside {@linkcode loadEngine} and it imports nothing but
 * types, on purpose: workers get it as the source text of that one function
 * in a `blob:` module (`workers.ts`), because a worker started from a module
 * file needs read permission and sockecho runs with `-N` only. What it needs
 * from outside (a fast byte compare, a latency histogram, the classes of
 * `schedule.ts` and `tally.ts`, the connections of `channels.ts`) is passed
 * in. Each workload is written once: what a round trip is over TCP, HTTP or
 * WebSocket is the channel's business.
 *
 * @example
 * ```ts
 * import { Buffer } from "node:buffer";
 * import { Histogram } from "./histogram.ts";
 * import { loadEngine } from "./load.ts";
 * import { Budget, Pacer } from "./schedule.ts";
 * import { Tally } from "./tally.ts";
 * import { channelKit } from "./channels.ts";
 * import { ConnInput } from "./conn_input.ts";
 * import { HttpRoundTrip } from "./http_trip.ts";
 * import { WsRoundTrip } from "./ws_trip.ts";
 *
 * const schedule = { Budget, Pacer, Tally };
 * const kit = channelKit({ ConnInput, HttpRoundTrip, WsRoundTrip });
 * const { runShare } = loadEngine(Buffer.compare, () => new Histogram(), schedule, kit);
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

import type { Channel, ChannelKit } from "./channels.ts";
import type { Budget, Pacer, Phase, Schedule } from "./schedule.ts";
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
 * `newHistogram` makes an empty latency histogram, `schedule` holds the
 * classes that say when to send and count what was sent and `kit` opens
 * connections and makes their round trips: passed in because the engine may
 * import nothing.
 */
export function loadEngine<H extends LatencyRecorder>(
  compare: (a: Uint8Array, b: Uint8Array) => number,
  newHistogram: () => H,
  schedule: Schedule,
  kit: ChannelKit,
) {
  const { failure, open, closeAll, droppedByServer } = kit;
  /** Period of the verification pattern: prime, so shifted data never lines up. */
  const PATTERN_PERIOD = 65521;
  const BULK_READ_BYTES = 256 * 1024;

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

  /**
   * Checks an echo against what was sent; `offset` is its place in the
   * stream, `length` the echo's (an HTTP body or a WebSocket message may be
   * longer or shorter; of a longer one, what fits is in `echo`).
   */
  function verify(
    expected: Uint8Array,
    echo: Uint8Array,
    offset: number,
    length = echo.length,
  ): void {
    if (length === expected.length && compare(expected, echo) === 0) return;
    const common = Math.min(length, expected.length);
    const at = expected.subarray(0, common).findIndex((byte, i) => echo[i] !== byte);
    const hex = (byte: number) => `0x${byte.toString(16).padStart(2, "0")}`;
    throw at < 0
      ? failure(
        "MismatchError",
        `the echo is ${length} bytes, not the ${expected.length} sent`,
        { offset: offset + common, reply: echo.slice(0, common) },
      )
      : failure(
        "MismatchError",
        `echo differs from what was sent at byte ${offset + at}: ` +
          `sent ${hex(expected[at])}, got ${hex(echo[at])}`,
        { offset: offset + at, reply: echo.slice(0, common) },
      );
  }

  async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
    for (let written = 0; written < bytes.length;) {
      written += await conn.write(bytes.subarray(written));
    }
  }

  /**
   * One round trip on `channel`, its echo verified. Over HTTP and WebSocket a
   * cut or an error status is counted (in the measured window) and answers
   * false: the load goes on, on a fresh connection if this one is spent.
   */
  async function exchange(
    share: LoadShare,
    channel: Channel,
    message: Uint8Array,
    echo: Uint8Array,
    sent: number,
    phase: Exclude<Phase, "stop">,
    tally: Tally<H>,
  ): Promise<boolean> {
    let length;
    try {
      length = await channel.trip.roundTrip(message, echo);
    } catch (error) {
      const { name } = error as LoadFailure;
      const counted = (share.protocol ?? "tcp") !== "tcp" &&
        (name === "ClosedEarlyError" || name === "HttpStatusError");
      if (!counted) throw error;
      tally.fail(phase, error as LoadFailure);
      return false;
    }
    verify(message, echo, sent, length);
    return true;
  }

  async function pingpong(
    share: LoadShare,
    first: Channel,
    live: Set<Deno.Conn>,
    budget: Budget,
    tally: Tally<H>,
    pacer?: Pacer,
  ) {
    const { size } = share;
    const echo = new Uint8Array(size);
    let channel = first;
    for (let sent = 0;; sent += size) {
      // Awaited only under a rate: an await of a plain number still costs a turn.
      const due = pacer ? await pacer.wait() : performance.now();
      const phase = budget.take(due);
      // Under a rate a send may go out a little early: its latency counts from then.
      const began = pacer ? Math.min(due, performance.now()) : due;
      if (phase === "stop") return;
      // A connection the server ended is opened again: the wait is this message's latency.
      if (!channel.trip.reusable) {
        closeAll([channel.conn], live);
        channel = await open(share, live);
      }
      const message = patternAt(sent, size);
      if (await exchange(share, channel, message, echo, sent, phase, tally)) {
        tally.record(phase, began, size);
      }
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

  async function connectLoop(
    share: LoadShare,
    live: Set<Deno.Conn>,
    budget: Budget,
    tally: Tally<H>,
    pacer?: Pacer,
  ) {
    const echo = new Uint8Array(share.size);
    for (let sent = 0;; sent += share.size) {
      const due = pacer ? await pacer.wait() : performance.now();
      const phase = budget.take(due);
      // Under a rate a send may go out a little early: its latency counts from then.
      const began = pacer ? Math.min(due, performance.now()) : due;
      if (phase === "stop") return;
      const channel = await open(share, live);
      let answered;
      try {
        const message = patternAt(sent, share.size);
        answered = await exchange(share, channel, message, echo, sent, phase, tally);
      } finally {
        closeAll([channel.conn], live);
      }
      if (answered) tally.record(phase, began, share.size);
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
    // Every connection open, for the watchdog to close: a spent one is replaced as it goes.
    const live = new Set<Deno.Conn>();
    let channels: Channel[];
    try {
      channels = share.mode === "connect"
        ? []
        : await Promise.all(Array.from({ length: share.connections }, () => open(share, live)));
    } catch (error) {
      closeAll([...live], live);
      throw error;
    }
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
        closeAll([...live]);
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
        (_, i) => connectLoop(share, live, budget, tally, pacerOf(i)),
      )
      : share.mode === "bulk"
      ? channels.map(({ conn }) => bulk(conn, share.size, budget, tally))
      : channels.map((channel, i) => pingpong(share, channel, live, budget, tally, pacerOf(i)));
    try {
      await Promise.all(runs);
    } catch (error) {
      budget.cancelled = true;
      closeAll([...live]);
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
      closeAll([...live], live);
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
      errors: tally.errors,
    };
  }

  return { runShare };
}
