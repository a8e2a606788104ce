/**
 * The load engine of `bench/bench.ts`: opens connections and drives one workload
 * over them, verifying every echoed byte.
 *
 * Everything lives inside {@linkcode loadEngine} and it imports nothing, on
 * purpose: workers get it as the source text of that one function in a
 * `blob:` module, because a worker started from a module file needs read
 * permission and sockecho runs with `-N` only.
 *
 * @example
 * ```ts
 * import { Buffer } from "node:buffer";
 * import { loadEngine } from "./load.ts";
 *
 * const { runShare } = loadEngine(Buffer.compare);
 * const result = await runShare({
 *   mode: "pingpong",
 *   hostname: "127.0.0.1",
 *   port: 4321,
 *   connections: 1,
 *   size: 64,
 *   durationMs: 1000,
 *   overrunMs: 5000,
 * });
 * ```
 *
 * @module
 */

/** One of the workloads. */
export type BenchMode = "pingpong" | "bulk" | "connect";

/** The part of a load one thread runs. */
export interface LoadShare {
  mode: BenchMode;
  hostname: string;
  port: number;
  connections: number;
  size: number;
  durationMs?: number;
  count?: number;
  /** How long past its time a load may run before it is cut as a timeout. */
  overrunMs: number;
  /** Connect to this Unix domain socket instead of `hostname` and `port`. */
  path?: string;
  /** Speak TLS: trust these certificates (PEM) and verify this name. */
  tls?: { caCerts?: string[]; serverName: string };
}

/** Totals so far, for a live display. */
export interface BenchProgress {
  /** Time since the load started, in ms. */
  elapsedMs: number;
  /** Round trips, connections or writes completed. */
  operations: number;
  /** Bytes echoed and verified. */
  bytes: number;
}

/** What one thread measured. */
export interface ShareResult {
  elapsedMs: number;
  operations: number;
  bytes: number;
  /** Latency samples in ms (pingpong and connect). */
  latencies: Float64Array;
}

/**
 * A failure as the engine reports it: a plain `Error` whose `name` is one of
 * `errors.ts`'s classes and which carries their fields, since class
 * identity does not cross a worker boundary.
 */
export type LoadFailure = Error & {
  name: "ConnectError" | "TimeoutError" | "ClosedEarlyError" | "MismatchError";
  cause?: unknown;
  offset?: number;
  received?: number;
  expected?: number;
  /** For a mismatch: the bytes that came back instead of the echo. */
  reply?: Uint8Array;
};

/**
 * Makes the engine. `compare` is `Buffer.compare` (memcmp speed), passed in
 * because the engine may import nothing.
 */
export function loadEngine(compare: (a: Uint8Array, b: Uint8Array) => number) {
  /** Period of the verification pattern: prime, so shifted data never lines up. */
  const PATTERN_PERIOD = 65521;
  const BULK_READ_BYTES = 256 * 1024;
  /** Latency samples kept per thread; past that a uniform sample is kept. */
  const MAX_SAMPLES = 1 << 20;

  const failure = (name: LoadFailure["name"], message: string, fields = {}): LoadFailure =>
    Object.assign(new Error(message), { name, ...fields }) as LoadFailure;

  /** Counts down the message budget and watches the clock. */
  class Budget {
    #left: number;
    #deadline: number;
    cancelled = false;

    constructor(count: number | undefined, durationMs: number | undefined) {
      this.#left = count ?? Infinity;
      this.#deadline = performance.now() + (durationMs ?? Infinity);
    }

    /** Takes one message; false once the count or the time is used up. */
    take(): boolean {
      if (this.cancelled || this.#left <= 0 || performance.now() >= this.#deadline) return false;
      this.#left--;
      return true;
    }
  }

  /** Latency samples, kept whole up to MAX_SAMPLES, then sampled uniformly. */
  class Samples {
    #values = new Float64Array(1024);
    #seen = 0;

    add(ms: number): void {
      const index = this.#seen < MAX_SAMPLES ? this.#seen : Math.floor(Math.random() * this.#seen);
      this.#seen++;
      if (index >= MAX_SAMPLES) return;
      if (index >= this.#values.length) {
        const grown = new Float64Array(Math.min(this.#values.length * 2, MAX_SAMPLES));
        grown.set(this.#values);
        this.#values = grown;
      }
      this.#values[index] = ms;
    }

    values(): Float64Array {
      return this.#values.slice(0, Math.min(this.#seen, MAX_SAMPLES));
    }
  }

  type Tally = { operations: number; bytes: number; latencies: Samples };

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

  async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
    for (let written = 0; written < bytes.length;) {
      written += await conn.write(bytes.subarray(written));
    }
  }

  /** `host:port` of the server a connection goes to. */
  function whereOf(conn: Deno.Conn): string {
    const { hostname, port } = conn.remoteAddr as Deno.NetAddr;
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

  async function readExactly(conn: Deno.Conn, into: Uint8Array): Promise<void> {
    for (let got = 0; got < into.length;) {
      let n: number | null;
      try {
        n = await conn.read(into.subarray(got));
      } catch (error) {
        throw droppedByServer(error, conn, got, into.length);
      }
      if (n === null) {
        throw failure(
          "ClosedEarlyError",
          `the server closed after echoing ${got} of ${into.length} bytes of a message`,
          { received: got, expected: into.length },
        );
      }
      got += n;
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

  async function pingpong(conn: Deno.Conn, size: number, budget: Budget, tally: Tally) {
    const echo = new Uint8Array(size);
    for (let sent = 0; budget.take(); sent += size) {
      const message = patternAt(sent, size);
      const began = performance.now();
      await writeAll(conn, message).catch((error) => {
        throw droppedByServer(error, conn, 0, size);
      });
      await readExactly(conn, echo);
      verify(message, echo, sent);
      tally.latencies.add(performance.now() - began);
      tally.operations++;
      tally.bytes += size;
    }
  }

  async function bulk(conn: Deno.Conn, size: number, budget: Budget, tally: Tally) {
    let sent = 0;
    let received = 0;
    const writing = (async () => {
      for (; budget.take(); sent += size) {
        await writeAll(conn, patternAt(sent, size));
        tally.operations++;
      }
      await conn.closeWrite();
    })();
    // Its failure is awaited below, after the reads; until then it is not unhandled.
    writing.catch(() => {});
    const buffer = new Uint8Array(BULK_READ_BYTES);
    try {
      for (let n; (n = await conn.read(buffer)) !== null; received += n) {
        verify(patternAt(received, n), buffer.subarray(0, n), received);
        tally.bytes += n;
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

  async function connectLoop(share: LoadShare, budget: Budget, tally: Tally) {
    const echo = new Uint8Array(share.size);
    for (let sent = 0; budget.take(); sent += share.size) {
      const began = performance.now();
      const conn = await connect(share);
      try {
        const message = patternAt(sent, share.size);
        await writeAll(conn, message).catch((error) => {
          throw droppedByServer(error, conn, 0, share.size);
        });
        await readExactly(conn, echo);
        verify(message, echo, sent);
      } finally {
        conn.close();
      }
      tally.latencies.add(performance.now() - began);
      tally.operations++;
      tally.bytes += share.size;
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
   * mode), then drives them until the count or the time is used up.
   */
  async function runShare(
    share: LoadShare,
    onProgress?: (progress: BenchProgress) => void,
    stop?: AbortSignal,
  ): Promise<ShareResult> {
    const conns = share.mode === "connect"
      ? []
      : await Promise.all(Array.from({ length: share.connections }, () => connect(share)));
    const tally: Tally = { operations: 0, bytes: 0, latencies: new Samples() };
    const start = performance.now();
    const budget = new Budget(share.count, share.durationMs);
    // Stopping early ends the load as running out of time would: the echoes in flight come back.
    const cancel = () => budget.cancelled = true;
    if (stop?.aborted) cancel();
    stop?.addEventListener("abort", cancel);
    const progress = setInterval(() => {
      onProgress?.({
        elapsedMs: performance.now() - start,
        operations: tally.operations,
        bytes: tally.bytes,
      });
    }, 1000);
    // The load stops by itself even if the server stops answering.
    let overran = false;
    const watchdog = setTimeout(() => {
      overran = true;
      budget.cancelled = true;
      closeAll(conns);
    }, (share.durationMs ?? 60_000) + share.overrunMs);
    const drive = share.mode === "bulk" ? bulk : pingpong;
    const runs = share.mode === "connect"
      ? Array.from({ length: share.connections }, () => connectLoop(share, budget, tally))
      : conns.map((conn) => drive(conn, share.size, budget, tally));
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
      clearInterval(progress);
      clearTimeout(watchdog);
      stop?.removeEventListener("abort", cancel);
      closeAll(conns);
    }
    return {
      elapsedMs: performance.now() - start,
      operations: tally.operations,
      bytes: tally.bytes,
      latencies: tally.latencies.values(),
    };
  }

  return { runShare };
}

/**
 * The source of a worker module that runs {@linkcode loadEngine}: it answers
 * a posted {@linkcode LoadShare} with progress messages and then
 * `{ result }` or `{ error }`; a posted `{ stop: true }` ends the load early.
 */
export function workerSource(): string {
  return `import { Buffer } from "node:buffer";
const { runShare } = (${loadEngine.toString()})(Buffer.compare);
const stop = new AbortController();
self.onmessage = async ({ data }) => {
  if (data.stop) return stop.abort();
  try {
    const result = await runShare(data, (progress) => self.postMessage({ progress }), stop.signal);
    self.postMessage({ result }, [result.latencies.buffer]);
  } catch (error) {
    const { name, message, offset, received, expected, reply } = error;
    self.postMessage({ error: { name, message, offset, received, expected, reply } });
  }
};
`;
}
