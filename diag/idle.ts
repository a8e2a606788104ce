/**
 * Idle-timeout discovery, `check --idle MAX`: how long does the path (the
 * server, a firewall, a NAT, a load balancer) keep a flow that sends nothing?
 * A bounded number of connections is opened in parallel; each exchanges one
 * echo, stays idle for its own time up to MAX, then sends a probe. A flow
 * that the far end closes while it waits is seen at once (its FIN or reset);
 * one dropped silently shows only when its probe gets no answer.
 *
 * @example
 * ```ts
 * import { discoverIdleTimeout } from "./idle.ts";
 *
 * const report = await discoverIdleTimeout({
 *   target: { hostname: "127.0.0.1", port: 4321 },
 *   maxMs: 10_000,
 * });
 * console.log(report.longestSurvivedMs, report.shortestCutMs);
 * ```
 *
 * @module
 */

import {
  describeRemote,
  type DialedConn,
  type Dialer,
  dialStream,
  type DialTarget,
  dialWithin,
} from "../net/dial.ts";
import { IdleCutError } from "./errors.ts";
import { ECHO_EXCHANGE, type ProbeExchange } from "./probe_exchange.ts";
import { closeQuietly, writeAll } from "../net/io.ts";
import { bytesPayload } from "./payload.ts";
import { pause } from "./probe.ts";

/** Options for {@linkcode discoverIdleTimeout}. */
export interface IdleOptions {
  /** The echo server. */
  target: DialTarget;
  /** The longest idle time tried, in ms. */
  maxMs: number;
  /** Connections, each idle for its own time: MAX × 1/N, 2/N … N/N. @default {20} */
  flows?: number;
  /** Time allowed for a connect, the first echo, and a probe's echo, in ms. @default {3000} */
  timeoutMs?: number;
  /** Stops the discovery (Ctrl+C): flows not yet probed are left out. */
  signal?: AbortSignal;
  /** Opens connections (`tlsDialer` for TLS). @default {dialStream} */
  dial?: Dialer;
  /** Called about once a second while flows wait. */
  onProgress?: (progress: IdleProgress) => void;
  /** What each flow speaks: its first exchange and its probe. @default {TCP_ECHO_FLOW} */
  kind?: IdleFlowKind;
}

/**
 * What the flows of one protocol say: a first exchange on each fresh
 * connection, then, after its idle time, a probe whose answer proves it alive.
 */
export interface IdleFlowKind {
  /**
   * The first exchange, the flow's last traffic before it idles; resolves with
   * the probe to send after the idle time. The connection is then read raw
   * (its end is watched), so nothing may be left buffered above it.
   */
  open(conn: DialedConn, options: { timeoutMs: number; signal: AbortSignal }): Promise<IdleProbe>;
}

/** A flow's probe: bytes to send after the idle time, and how much answer proves it alive. */
export interface IdleProbe {
  /** Written raw on the connection. */
  readonly bytes: Uint8Array;
  /** Bytes that must come back after it (at least one). */
  readonly answerBytes: number;
}

/** How a flow ended: the far end's FIN, a reset, or no answer to the probe. */
export type IdleDeath = "fin" | "reset" | "silence";

/** One flow's outcome. */
export interface IdleFlow {
  /** How long it was to stay idle before its probe, in ms. */
  readonly idleMs: number;
  /** True when its probe came back. */
  readonly survived: boolean;
  /** How it was cut, when it was. */
  readonly death?: IdleDeath;
  /**
   * After how long idle it was cut, in ms: when its FIN or reset came, or
   * its planned idle time when only the probe found it dead.
   */
  readonly cutAfterMs?: number;
  /** Why it could not even start (connect or first echo failed). */
  readonly error?: Error;
}

/** Progress while waiting. */
export interface IdleProgress {
  /** Time since the start, in ms. */
  readonly elapsedMs: number;
  /** When the last probe is due, in ms since the start. */
  readonly totalMs: number;
  /** Flows done (probed, or seen cut). */
  readonly done: number;
  /** Flows cut so far. */
  readonly cut: number;
  /** Flows in all. */
  readonly flows: number;
}

/** What {@linkcode discoverIdleTimeout} found. */
export interface IdleReport {
  /** Every flow, shortest idle time first. */
  readonly flows: IdleFlow[];
  /** The longest idle time a flow survived, in ms. */
  readonly longestSurvivedMs?: number;
  /** The shortest idle time after which a flow was cut, in ms. */
  readonly shortestCutMs?: number;
  /** True when `signal` stopped it early. */
  readonly interrupted: boolean;
}

/** Most flows at once: every one holds a connection on the far end. */
export const MAX_IDLE_FLOWS = 100;
const PROBE = new TextEncoder().encode("sockecho idle probe\n");
/** Spreads flows' start times evenly over any range of them (low-discrepancy sequence). */
const GOLDEN_RATIO = (1 + Math.sqrt(5)) / 2;

/**
 * The flows of a probe series' exchange: its upgrade and one echo (which
 * must leave the connection reusable: a reply that closes it leaves no
 * idleness to time, an {@linkcode IdleCutError}), then `probe`.
 *
 * @example
 * ```ts
 * import { exchangeFlow } from "./idle.ts";
 * import { ECHO_EXCHANGE } from "./probe_exchange.ts";
 *
 * const line = new TextEncoder().encode("still there?\n");
 * const kind = exchangeFlow(ECHO_EXCHANGE, { bytes: line, answerBytes: line.length });
 * ```
 */
export function exchangeFlow<S>(exchange: ProbeExchange<S>, probe: IdleProbe): IdleFlowKind {
  return {
    async open(conn, options) {
      const session = exchange.open ? await exchange.open(conn, options) : conn as S;
      const { reusable } = await exchange.echo(session, bytesPayload(PROBE), options);
      if (!reusable) {
        throw new IdleCutError(
          `${describeRemote(conn)} closes the connection after each reply: no idle time to find`,
        );
      }
      return probe;
    },
  };
}

/** The TCP echo's flows, `check --idle`'s: a line echoed, then the same line. */
export const TCP_ECHO_FLOW: IdleFlowKind = exchangeFlow(ECHO_EXCHANGE, {
  bytes: PROBE,
  answerBytes: PROBE.length,
});

/**
 * Runs the discovery; throws the first flow's error (e.g. `ConnectError`)
 * when no flow could even start. Flow i of N is idle for MAX × (i+1)/N. Flows start at
 * staggered moments spread over MAX/4, so that a far end that looks for idle
 * flows only now and then (sockecho's sweeper ticks at a quarter of its
 * timeout) is caught at many phases: the shortest cut then approaches the
 * real timeout, which such a sweeper can only overshoot.
 *
 * @example
 * ```ts
 * import { discoverIdleTimeout } from "./idle.ts";
 *
 * const { shortestCutMs } = await discoverIdleTimeout({
 *   target: { hostname: "127.0.0.1", port: 4321 },
 *   maxMs: 5000,
 *   flows: 10,
 * });
 * ```
 */
export async function discoverIdleTimeout(options: IdleOptions): Promise<IdleReport> {
  const {
    target,
    maxMs,
    flows: count = 20,
    timeoutMs = 3000,
    signal = new AbortController().signal,
    dial = dialStream,
    kind = TCP_ECHO_FLOW,
  } = options;
  if (count < 1 || count > MAX_IDLE_FLOWS) throw new RangeError(`flows: 1 to ${MAX_IDLE_FLOWS}`);
  const spreadMs = maxMs / 4;
  const plans = Array.from({ length: count }, (_, i) => ({
    idleMs: (maxMs * (i + 1)) / count,
    startMs: ((i * GOLDEN_RATIO) % 1) * spreadMs,
  }));
  const startedAt = performance.now();
  const tally = { done: 0, cut: 0 };
  const progress = setInterval(() => {
    options.onProgress?.({
      elapsedMs: performance.now() - startedAt,
      totalMs: spreadMs + maxMs,
      ...tally,
      flows: count,
    });
  }, 1000);
  try {
    const results = await Promise.all(plans.map(async ({ idleMs, startMs }) => {
      if (!await pause(startMs, signal)) return undefined;
      const flow = await runFlow({ target, dial, kind, idleMs, timeoutMs, signal });
      if (flow) {
        tally.done++;
        if (!flow.survived) tally.cut++;
      }
      return flow;
    }));
    const flows = results.filter((flow): flow is IdleFlow => flow !== undefined);
    // Nothing learnt about idleness when no flow got going: that is the failure to report.
    if (flows.length > 0 && flows.every((flow) => flow.error)) throw flows[0].error;
    const survived = flows.filter((flow) => flow.survived).map((flow) => flow.idleMs);
    const cut = flows.flatMap((flow) => flow.cutAfterMs === undefined ? [] : [flow.cutAfterMs]);
    return {
      flows,
      longestSurvivedMs: survived.length > 0 ? Math.max(...survived) : undefined,
      shortestCutMs: cut.length > 0 ? Math.min(...cut) : undefined,
      interrupted: signal.aborted,
    };
  } finally {
    clearInterval(progress);
  }
}

/** An {@linkcode IdleReport} in seconds, as `--json` prints it (errors as their messages). */
export interface IdleSummary {
  longestSurvivedS: number | null;
  shortestCutS: number | null;
  interrupted: boolean;
  flows: {
    idleS: number;
    survived: boolean;
    death: IdleDeath | "error" | null;
    cutAfterS: number | null;
    message: string | null;
  }[];
}

/**
 * The report in seconds, to the millisecond, ready for JSON.
 *
 * @example
 * ```ts
 * import { discoverIdleTimeout, idleSummary } from "./idle.ts";
 *
 * const report = await discoverIdleTimeout({ target: { hostname: "127.0.0.1", port: 4321 }, maxMs: 2000 });
 * console.log(JSON.stringify(idleSummary(report)));
 * ```
 */
export function idleSummary(report: IdleReport): IdleSummary {
  const s = (ms: number | undefined) => ms === undefined ? null : Math.round(ms) / 1000;
  return {
    longestSurvivedS: s(report.longestSurvivedMs),
    shortestCutS: s(report.shortestCutMs),
    interrupted: report.interrupted,
    flows: report.flows.map((flow) => ({
      idleS: s(flow.idleMs)!,
      survived: flow.survived,
      death: flow.death ?? (flow.error ? "error" : null),
      cutAfterS: s(flow.cutAfterMs),
      message: flow.error?.message ?? null,
    })),
  };
}

interface FlowOptions {
  target: DialTarget;
  dial: Dialer;
  kind: IdleFlowKind;
  idleMs: number;
  timeoutMs: number;
  signal: AbortSignal;
}

/** One flow: connect, the first exchange, idle, probe. Undefined when interrupted. */
async function runFlow(
  { target, dial, kind, idleMs, timeoutMs, signal }: FlowOptions,
): Promise<IdleFlow | undefined> {
  let conn: DialedConn | undefined;
  let probe: IdleProbe;
  try {
    conn = (await dialWithin(dial, target, timeoutMs, signal)).conn;
    // The far end's idle clock starts at the last traffic: make that ours, and known.
    probe = await kind.open(conn, { timeoutMs, signal });
  } catch (error) {
    if (conn) closeQuietly(conn);
    return signal.aborted ? undefined : { idleMs, survived: false, error: error as Error };
  }
  const idleSince = performance.now();
  const watch = watchEnd(conn);
  // Ends this flow's pending waits once it has its answer, and on Ctrl+C.
  const done = new AbortController();
  const onStop = () => done.abort();
  signal.addEventListener("abort", onStop, { once: true });
  try {
    const cut = await Promise.race([watch.ended, pause(idleMs, done.signal).then(() => undefined)]);
    if (cut) return { idleMs, survived: false, death: cut.death, cutAfterMs: cut.at - idleSince };
    if (signal.aborted) return undefined;
    const expected = watch.received + probe.answerBytes;
    const answer = await Promise.race([
      writeAll(conn, probe.bytes).then(
        () => watch.reached(expected).then(() => "echoed" as const),
        () => watch.ended,
      ),
      watch.ended,
      pause(timeoutMs, done.signal).then(() => "silence" as const),
    ]);
    if (answer === "echoed") return { idleMs, survived: true };
    if (signal.aborted) return undefined;
    const death = answer === "silence" ? answer : answer.death;
    return { idleMs, survived: false, death, cutAfterMs: idleMs };
  } finally {
    signal.removeEventListener("abort", onStop);
    done.abort();
    closeQuietly(conn); // ends the watch's read; how it then ends is not looked at

    await watch.ended;
  }
}

/** Reads a connection until it ends, counting bytes, and tells when and how it ended. */
function watchEnd(conn: DialedConn) {
  let received = 0;
  const waiters: (() => void)[] = [];
  const ended = (async (): Promise<{ death: IdleDeath; at: number }> => {
    const buffer = new Uint8Array(1024);
    try {
      for (let n; (n = await conn.read(buffer)) !== null;) {
        received += n;
        waiters.splice(0).forEach((wake) => wake());
      }
      return { death: "fin", at: performance.now() };
    } catch {
      return { death: "reset", at: performance.now() };
    }
  })();
  return {
    ended,
    get received() {
      return received;
    },
    /** Resolves once `total` bytes have come in all. */
    reached(total: number): Promise<void> {
      return new Promise((resolve) => {
        const check = () => received >= total ? resolve() : waiters.push(check);
        check();
      });
    },
  };
}
