/**
 * Response shaping for `serve --http`: the `status`, `delay`, `size`, `header`,
 * `close` and `reset` parameters of a request (query, or `X-Echo-<Name>`
 * headers, since an ingress annotation can only carry a URL) turned into a
 * {@linkcode ShapingPlan}, or a {@linkcode ShapingError} whose message is the
 * one-line body of the 400. Pure: no I/O, no clock; the mixes draw from the
 * `random` it is given. The syntax is documented in `docs/http-shaping.md`.
 *
 * @example
 * ```ts
 * import { DEFAULT_SHAPING_LIMITS, parseShaping } from "./shaping.ts";
 *
 * const query = new URLSearchParams("status=503:10,429:5&delay=250ms&header=X-A:1");
 * const plan = parseShaping(query, () => undefined, DEFAULT_SHAPING_LIMITS, () => 0.12);
 * // { status: 429, delayMs: 250, headers: [["X-A", "1"]] }
 * ```
 *
 * @module
 */

import { SockechoError } from "../errors.ts";
import { escapeBytes, quoteBytes } from "../format.ts";

/** The bounds a plan must stay within: `serve --http`'s `--max-delay` and `--max-size`. */
export interface ShapingLimits {
  /** The longest `delay`, in ms (`--max-delay`). @default {10000} */
  maxDelayMs: number;
  /** The largest `size` and `reset`, in bytes (`--max-size`). @default {16777216} */
  maxSize: number;
}

/** The default bounds: a 10 s delay, 16 MiB of body. */
export const DEFAULT_SHAPING_LIMITS: Readonly<ShapingLimits> = {
  maxDelayMs: 10_000,
  maxSize: 16 * 1024 * 1024,
};

/** How many `header` values one request may ask for. */
export const MAX_EXTRA_HEADERS = 20;
/** The longest one `header` value (`Name:Value`), in bytes. */
export const MAX_EXTRA_HEADER_BYTES = 1024;

/** What the server does with one request's response, as the request asked. */
export interface ShapingPlan {
  /** The response status (a mix already drawn). 200 unless asked. */
  status: number;
  /** How long to wait before the response, in ms (a mix already drawn). 0 unless asked. */
  delayMs: number;
  /** Send this many bytes of the repeating pattern instead of the description. */
  size?: number;
  /** Extra response headers, in the order asked. */
  headers: [string, string][];
  /** `"after-headers"`: send the status line and headers, then close without a body. */
  close?: "after-headers";
  /** Send this many bytes of the response, then reset the connection (abortive close). */
  resetAfter?: number;
}

/**
 * A malformed or out-of-bounds shaping parameter. The message is the 400's
 * body without its newline: `bad parameter delay: 20s is above --max-delay 10s`.
 */
export class ShapingError extends SockechoError {
  /** Creates the error for `parameter` (`status`, `delay`, …) and why it was refused. */
  constructor(readonly parameter: string, reason: string) {
    super(`bad parameter ${parameter}: ${reason}`);
  }
}

/** One entry of a mix: a value and the percentage of requests that get it. */
interface Share<T> {
  value: T;
  percent: number;
}

/**
 * Reads the shaping parameters of one request into a plan, drawing the
 * mixes with `random` (a number in [0, 1), as `Math.random` gives). A query
 * parameter wins over its `X-Echo-<Name>` header; other query parameters are
 * left alone. Throws {@linkcode ShapingError} naming the parameter and why.
 *
 * @example
 * ```ts
 * import { DEFAULT_SHAPING_LIMITS, parseShaping, ShapingError } from "./shaping.ts";
 *
 * const headers = new Headers({ "X-Echo-Delay": "20s" });
 * try {
 *   parseShaping(new URLSearchParams(), (name) => headers.get(name) ?? undefined, DEFAULT_SHAPING_LIMITS);
 * } catch (error) {
 *   if (error instanceof ShapingError) error.message; // "bad parameter delay: 20s is above --max-delay 10s"
 * }
 * ```
 */
export function parseShaping(
  query: URLSearchParams,
  header: (name: string) => string | undefined,
  limits: ShapingLimits,
  random: () => number = Math.random,
): ShapingPlan {
  const given = (name: string) => parameter(query, header, name);
  const plan: ShapingPlan = { status: 200, delayMs: 0, headers: [] };
  const status = given("status");
  if (status !== undefined) {
    plan.status = draw(parseMix("status", status, parseStatus), 200, random);
  }
  const delay = given("delay");
  if (delay !== undefined) {
    plan.delayMs = draw(parseMix("delay", delay, (text) => parseDelay(text, limits)), 0, random);
  }
  const size = given("size");
  if (size !== undefined) plan.size = parseSize("size", size, limits);
  const close = given("close");
  if (close !== undefined) plan.close = parseClose(close);
  const reset = given("reset");
  if (reset !== undefined) {
    if (plan.close) {
      throw new ShapingError("reset", "cannot be combined with close (the connection ends once)");
    }
    plan.resetAfter = parseSize("reset", reset, limits);
  }
  const headerValues = query.has("header") ? query.getAll("header") : [header("X-Echo-Header")];
  for (const value of headerValues) {
    if (value !== undefined) plan.headers.push(...parseHeaders(nonEmpty("header", value)));
  }
  if (plan.headers.length > MAX_EXTRA_HEADERS) {
    throw new ShapingError(
      "header",
      `${plan.headers.length} headers asked, at most ${MAX_EXTRA_HEADERS}`,
    );
  }
  return plan;
}

/**
 * The one value of parameter `name`: from the query if it is there, else
 * from its `X-Echo-<Name>` header; `undefined` when neither has it.
 */
function parameter(
  query: URLSearchParams,
  header: (name: string) => string | undefined,
  name: string,
): string | undefined {
  const values = query.getAll(name);
  if (values.length > 1) {
    throw new ShapingError(name, `given ${values.length} times in the query; give it once`);
  }
  const value = values[0] ?? header(`X-Echo-${name[0].toUpperCase()}${name.slice(1)}`);
  return value === undefined ? undefined : nonEmpty(name, value);
}

/** `value` without the spaces and tabs around it, refused if nothing is left. */
function nonEmpty(name: string, value: string): string {
  const trimmed = trimSpace(value);
  if (trimmed === "") throw new ShapingError(name, "empty value");
  return trimmed;
}

/**
 * `text` without spaces and tabs at its ends (HTTP's optional whitespace);
 * not `String.trim`, which would drop a CR or LF that must be refused.
 */
function trimSpace(text: string): string {
  return text.replace(/^[ \t]+|[ \t]+$/g, "");
}

/** `text` escaped for an error line: never a newline, at most 60 bytes shown. */
function shown(text: string): string {
  return escapeBytes(new TextEncoder().encode(text), { maxBytes: 60, dropTrailingNul: false });
}

/** `text` escaped and quoted for an error line; a long one cut, with its length. */
function quoted(text: string): string {
  const bytes = new TextEncoder().encode(text);
  return bytes.length > 60
    ? quoteBytes(bytes, 60)
    : `"${escapeBytes(bytes, { dropTrailingNul: false })}"`;
}

const PERCENT = /^\d{1,3}(\.\d+)?$/;

/**
 * `VALUE` (every request) or `VALUE:PERCENT,VALUE:PERCENT,…` (a mix; the
 * percentages total at most 100, the rest get the default).
 */
function parseMix<T>(name: string, text: string, parseValue: (text: string) => T): Share<T>[] {
  const entries = text.split(",").map(trimSpace);
  if (entries.length === 1 && !entries[0].includes(":")) {
    return [{ value: parseValue(entries[0]), percent: 100 }];
  }
  const shares: Share<T>[] = [];
  for (const entry of entries) {
    const parts = entry.split(":");
    if (parts.length !== 2) {
      throw new ShapingError(name, `mix entry ${quoted(entry)} is not VALUE:PERCENT`);
    }
    const [valueText, percentText] = parts.map(trimSpace);
    const value = parseValue(valueText);
    const percent = Number(percentText);
    if (!PERCENT.test(percentText) || percent > 100) {
      throw new ShapingError(
        name,
        `percentage ${quoted(percentText)} is not a number from 0 to 100`,
      );
    }
    if (shares.some((share) => share.value === value)) {
      throw new ShapingError(name, `${shown(valueText)} is in the mix twice`);
    }
    shares.push({ value, percent });
  }
  const total = shares.reduce((sum, share) => sum + share.percent, 0);
  // A tolerance so that 33.3 + 33.3 + 33.4 (100.00000000000001 in floats) is 100.
  if (total > 100 + 1e-9) {
    throw new ShapingError(name, `the percentages total ${Number(total.toFixed(6))}, above 100`);
  }
  return shares;
}

/** One value of a mix: `random() * 100` falls in its share, or `fallback` past them all. */
function draw<T>(shares: Share<T>[], fallback: T, random: () => number): T {
  const point = random() * 100;
  let upTo = 0;
  for (const share of shares) {
    upTo += share.percent;
    if (point < upTo) return share.value;
  }
  return fallback;
}

function parseStatus(text: string): number {
  const status = Number(text);
  if (!/^\d{3}$/.test(text) || status < 100 || status > 599) {
    throw new ShapingError("status", `${quoted(text)} is not a status code from 100 to 599`);
  }
  return status;
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s)$/;

/** `250ms`, `1.5s`: a delay in ms, at most `--max-delay`. */
function parseDelay(text: string, limits: ShapingLimits): number {
  const match = text.match(DURATION);
  if (!match) {
    const unit = text.match(/^\d+(?:\.\d+)?([a-zA-Zµ]*)$/)?.[1];
    const reason = unit === undefined
      ? `${quoted(text)} is not a duration such as 250ms or 1.5s`
      : unit === ""
      ? `${quoted(text)} has no unit: write ${shown(text)}ms or ${shown(text)}s`
      : `${quoted(text)} has the unit ${quoted(unit)}; the units are ms and s`;
    throw new ShapingError("delay", reason);
  }
  // Whole microseconds: 1.1s is 1100 ms, not 1100.0000000000002.
  const ms = Math.round(Number(match[1]) * (match[2] === "s" ? 1e6 : 1e3)) / 1e3;
  if (ms > limits.maxDelayMs) {
    throw new ShapingError(
      "delay",
      `${shown(text)} is above --max-delay ${formatDelay(limits.maxDelayMs)}`,
    );
  }
  return ms;
}

/** A delay as the parameter is written: `10s`, `250ms`. */
function formatDelay(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** The size suffixes: binary multiples, `k`, `K` and `KiB` alike. No `kB`: 1000 or 1024? */
const SIZE = /^(\d+)([kKmMgG](?:iB)?)?$/;
const SIZE_UNITS: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 };

/** `1024`, `64k`, `64KiB`, `16m`: a byte count from 0 to `--max-size`. */
function parseSize(name: string, text: string, limits: ShapingLimits): number {
  const match = text.match(SIZE);
  if (!match) {
    throw new ShapingError(
      name,
      `${quoted(text)} is not a byte count such as 1024, 64k (64KiB) or 16m (16MiB)`,
    );
  }
  const bytes = Number(match[1]) * (match[2] ? SIZE_UNITS[match[2][0].toLowerCase()] : 1);
  if (bytes > limits.maxSize) {
    throw new ShapingError(
      name,
      `${shown(text)} is above --max-size ${formatSize(limits.maxSize)}`,
    );
  }
  return bytes;
}

/** A byte count as the parameter is written: `16MiB`, `64KiB`, `1000`. */
function formatSize(bytes: number): string {
  for (const [unit, factor] of [["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 2 ** 10]] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return String(bytes);
}

function parseClose(text: string): "after-headers" {
  if (text !== "after-headers") {
    throw new ShapingError("close", `${quoted(text)} is not after-headers (the only close)`);
  }
  return text;
}

/** RFC 9110's token: the characters a header name is made of. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/**
 * A comma starts the next header only where `Name:` follows, so a value may
 * hold commas (`Cache-Control:no-cache, no-store`), as a header list joined
 * by a proxy with ", " does.
 */
const NEXT_HEADER = /,(?=[ \t]*[!#$%&'*+.^_`|~0-9A-Za-z-]+:)/;
/** A header value: printable ASCII, spaces and tabs; no CR, LF or other controls. */
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;

/** Headers the server must set itself, and why a request may not. */
const RESERVED_HEADERS: Record<string, string> = {
  "content-length": "the server frames the body",
  "transfer-encoding": "the server frames the body",
  "connection": "a hop-by-hop header, the server's own",
  "keep-alive": "a hop-by-hop header, the server's own",
  "proxy-connection": "a hop-by-hop header, the server's own",
  "te": "a hop-by-hop header, the server's own",
  "trailer": "a hop-by-hop header, the server's own",
  "upgrade": "a hop-by-hop header, the server's own",
};

/** `Name:Value[,Name:Value…]`: extra response headers, each checked. */
function parseHeaders(text: string): [string, string][] {
  return text.split(NEXT_HEADER).map((entry) => {
    const trimmed = trimSpace(entry);
    if (new TextEncoder().encode(trimmed).length > MAX_EXTRA_HEADER_BYTES) {
      throw new ShapingError(
        "header",
        `${quoted(trimmed)} is longer than ${MAX_EXTRA_HEADER_BYTES} bytes`,
      );
    }
    const colon = trimmed.indexOf(":");
    if (colon === -1) throw new ShapingError("header", `${quoted(trimmed)} is not Name:Value`);
    const name = trimmed.slice(0, colon);
    const value = trimSpace(trimmed.slice(colon + 1));
    if (!TOKEN.test(name)) {
      throw new ShapingError("header", `name ${quoted(name)} is not an HTTP token`);
    }
    const reserved = RESERVED_HEADERS[name.toLowerCase()];
    if (reserved) throw new ShapingError("header", `${name} may not be set: ${reserved}`);
    if (/^x-echo-/i.test(name)) {
      throw new ShapingError("header", `${name} may not be set: X-Echo-* say who answered`);
    }
    if (!FIELD_VALUE.test(value)) {
      throw new ShapingError(
        "header",
        `value of ${name} ${quoted(value)} has a control or non-ASCII character`,
      );
    }
    return [name, value];
  });
}
