/**
 * `sockecho send` as a probe series (`--count`, `--interval`, `--reconnect`,
 * `--file`, `--size`, `--json`): the options' meaning, one line (or JSON
 * object) per probe, and the summary. `commands/send.ts` hands over to
 * {@linkcode runSeries} when any of those options is given.
 *
 * @example
 * ```ts
 * import { runCommand } from "../command.ts";
 * import { consoleIo } from "../io.ts";
 * import { sendCommand } from "./send.ts";
 *
 * await runCommand(sendCommand, ["127.0.0.1", "-c", "3", "-i", "0.2"], consoleIo);
 * ```
 *
 * @module
 */

import { parseSeconds, parseWhole, UsageError } from "../args.ts";
import { EXIT, exitCodeOf } from "../exit.ts";
import { interruption } from "../interrupt.ts";
import type { MainIo } from "../io.ts";
import { C_CLIENT_MESSAGE } from "../../diag/send.ts";
import { describeTarget, type Dialer, type DialTarget } from "../../net/dial.ts";
import { EchoMismatchError } from "../../diag/echo.ts";
import {
  bytesPayload,
  filePayload,
  patternPayload,
  type Payload,
  streamPayload,
} from "../../diag/payload.ts";
import type { ProbeExchange } from "../../diag/probe_exchange.ts";
import { roundMs, spreadJson, spreadLines } from "./send_spread.ts";
import {
  failureKind,
  type ProbeResult,
  probeSeries,
  type SeriesSummary,
  type Stats,
} from "../../diag/probe.ts";

/** The `send` options that make it a probe series. */
export const SERIES_OPTIONS = {
  count: { type: "string", short: "c" },
  interval: { type: "string", short: "i" },
  reconnect: { type: "boolean" },
  file: { type: "string" },
  size: { type: "string" },
  json: { type: "boolean" },
} as const;

/** The series options' lines for `send --help`. */
export const SERIES_HELP =
  `Probe series (any of these makes send a series, like ping; one line per probe
and a summary; exit 0 only when every probe came back exact; over TCP, --tls
or --unix alike, a refused certificate exits 11 as a single send does):
  -c, --count N          probes to send; 0: until Ctrl+C            [1]
  -i, --interval SECONDS from one probe's start to the next's       [1]
      --reconnect        a new connection per probe: connect time and
                         echo time apart (tcping's view); with --tls, the
                         TLS handshake time apart too
      --file FILE        send FILE's bytes; "-" reads stdin (one probe,
                         streamed, any size, ended by our half-close)
      --size N           send N bytes of a generated pattern
      --json             JSON Lines: one object per probe, one summary`;

/** The parsed values `runSeries` reads. */
export interface SeriesValues {
  count?: string;
  interval?: string;
  reconnect?: boolean;
  file?: string;
  size?: string;
  json?: boolean;
}

/**
 * True when `values` ask for a probe series rather than one plain send.
 *
 * @example
 * ```ts
 * import { wantsSeries } from "./send_series.ts";
 *
 * wantsSeries({ count: "3" }); // true
 * wantsSeries({}); // false
 * ```
 */
export function wantsSeries(values: SeriesValues): boolean {
  return Object.keys(SERIES_OPTIONS).some((name) => values[name as keyof SeriesValues]);
}

/** Where a series goes and how, for {@linkcode runSeries}. */
export interface SeriesTarget<S> {
  target: DialTarget;
  dial: Dialer;
  /** How each probe talks (HTTP, WebSocket); the plain echo without it. */
  exchange?: ProbeExchange<S>;
  /** How the summary names the target (a URL). @default {HOST:PORT or the socket's path} */
  label?: string;
  /** Print the spread over instances after the summary (HTTP and WebSocket). @default {false} */
  spread?: boolean;
}

/**
 * Runs `send` as a probe series and resolves with the exit code.
 *
 * @example
 * ```ts
 * import { consoleIo } from "../io.ts";
 * import { dialStream } from "../../net/dial.ts";
 * import { runSeries } from "./send_series.ts";
 *
 * const to = { target: { hostname: "127.0.0.1", port: 4321 }, dial: dialStream };
 * const ping = new TextEncoder().encode("ping");
 * const code = await runSeries(to, ping, 5000, { count: "3", interval: "0.5" }, consoleIo);
 * ```
 */
export async function runSeries<S>(
  { target, dial, exchange, label, spread }: SeriesTarget<S>,
  message: Uint8Array | undefined,
  timeoutMs: number,
  values: SeriesValues,
  io: MainIo,
): Promise<number> {
  const payload = await payloadOf(message, values, io);
  const count = values.count === undefined ? 1 : parseWhole(values.count, "--count", 0);
  if (!payload.repeatable && count !== 1) {
    throw new UsageError("--file - reads stdin once: it allows only --count 1");
  }
  const intervalMs = parseSeconds(values.interval ?? "1", "--interval", 0);
  const where = label ?? describeTarget(target);
  const stop = interruption(io);
  try {
    const summary = await probeSeries({
      target,
      payload,
      count,
      intervalMs,
      reconnect: values.reconnect,
      timeoutMs,
      signal: stop.signal,
      dial,
      exchange,
      onProbe: (probe) => io.out(values.json ? probeJson(probe) : probeLine(probe, values)),
    });
    if (values.json) io.out(summaryJson(where, summary));
    else {
      summaryLines(where, summary, values.reconnect).forEach((line) => io.out(line));
      if (spread) spreadLines(summary.spread, summary.echoed).forEach((line) => io.out(line));
    }
    // The probe lines said what failed; the first failure's kind picks the exit code.
    return summary.firstError ? exitCodeOf(summary.firstError) : EXIT.ok;
  } finally {
    stop.dispose();
  }
}

async function payloadOf(
  message: Uint8Array | undefined,
  values: SeriesValues,
  io: MainIo,
): Promise<Payload> {
  const given = [message !== undefined, values.file !== undefined, values.size !== undefined];
  if (given.filter(Boolean).length > 1) {
    throw new UsageError("give one of MESSAGE, --file and --size");
  }
  if (values.size !== undefined) return patternPayload(parseWhole(values.size, "--size", 1));
  if (values.file === "-") return streamPayload(io.stdin?.readable ?? ReadableStream.from([]));
  if (values.file !== undefined) {
    try {
      return await filePayload(values.file);
    } catch (error) {
      throw new UsageError(`cannot read --file ${values.file}: ${(error as Error).message}`);
    }
  }
  return bytesPayload(message ?? C_CLIENT_MESSAGE);
}

function probeLine(probe: ProbeResult, values: SeriesValues): string {
  if (probe.error) {
    const view = probe.error instanceof EchoMismatchError ? `\n${probe.error.view}` : "";
    return `seq=${probe.seq} failed: ${probe.error.message}${view}`;
  }
  const connect = values.reconnect && probe.connectMs !== undefined
    ? ` connect=${probe.connectMs.toFixed(3)} ms`
    : "";
  const tls = values.reconnect && probe.handshakeMs !== undefined
    ? ` tls=${probe.handshakeMs.toFixed(3)} ms`
    : "";
  const upgrade = values.reconnect && probe.upgradeMs !== undefined
    ? ` upgrade=${probe.upgradeMs.toFixed(3)} ms`
    : "";
  const instance = probe.instance === undefined ? "" : ` instance=${probe.instance}`;
  return `${probe.bytes} bytes from ${probe.remote}: seq=${probe.seq}${instance}${connect}${tls}` +
    `${upgrade} time=${probe.timeMs!.toFixed(3)} ms`;
}

function probeJson(probe: ProbeResult): string {
  return JSON.stringify({
    type: "probe",
    seq: probe.seq,
    ok: probe.error === undefined,
    remote: probe.remote ?? null,
    bytes: probe.bytes,
    connectMs: roundMs(probe.connectMs),
    timeMs: roundMs(probe.timeMs),
    error: probe.error ? failureKind(probe.error) : null,
    message: probe.error?.message ?? null,
    handshakeMs: roundMs(probe.handshakeMs),
    upgradeMs: roundMs(probe.upgradeMs),
    connection: probe.connection ?? null,
    instance: probe.instance ?? null,
  });
}

function summaryLines(where: string, summary: SeriesSummary, reconnect = false): string[] {
  const line = (name: string, s: Stats | undefined) =>
    s === undefined ? [] : [
      `${name} ms: min ${s.min.toFixed(3)} avg ${s.avg.toFixed(3)} p50 ${s.p50.toFixed(3)} ` +
      `p90 ${s.p90.toFixed(3)} p99 ${s.p99.toFixed(3)} max ${s.max.toFixed(3)} ` +
      `mdev ${s.mdev.toFixed(3)}`,
    ];
  return [
    `--- ${where} echo statistics ---`,
    `${summary.sent} sent, ${summary.echoed} echoed, ${summary.failed} failed` +
    (summary.interrupted ? " (interrupted)" : ""),
    ...line("time", summary.time),
    // One connect for the whole series is no statistic: it shows with --reconnect only.
    ...(reconnect ? line("connect", summary.connect) : []),
    ...(reconnect ? line("tls handshake", summary.handshake) : []),
    ...(reconnect ? line("upgrade", summary.upgrade) : []),
  ];
}

function summaryJson(where: string, summary: SeriesSummary): string {
  const rounded = (s: Stats | undefined) =>
    s === undefined
      ? null
      : Object.fromEntries(Object.entries(s).map(([key, value]) => [key, roundMs(value)]));
  return JSON.stringify({
    type: "summary",
    target: where,
    sent: summary.sent,
    echoed: summary.echoed,
    failed: summary.failed,
    interrupted: summary.interrupted,
    timeMs: rounded(summary.time),
    connectMs: rounded(summary.connect),
    handshakeMs: rounded(summary.handshake),
    upgradeMs: rounded(summary.upgrade),
    spread: spreadJson(summary.spread),
  });
}
