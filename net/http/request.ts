/**
 * The HTTP/1.1 request head (RFC 9112): the request line and the header
 * lines up to the blank line, parsed from bytes with every limit checked
 * (`body.ts` says how the body that follows is framed). Pure: no I/O. Headers keep their arrival order, duplicates and the names as sent,
 * which is what an echo must show and what `Deno.serve` cannot give. Anything
 * malformed is an {@linkcode HttpRequestError} carrying the status to answer.
 *
 * @example
 * ```ts
 * import { parseRequestHead } from "./request.ts";
 *
 * const bytes = new TextEncoder().encode("POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
 * const head = parseRequestHead(bytes)!; // { method: "POST", path: "/a", query: "x=1", … }
 * bytes.subarray(head.length); // the body: "hello"
 * ```
 *
 * @module
 */

import { SockechoError } from "../errors.ts";

/**
 * A request the server refuses, and the status it answers with: 400
 * (malformed), 413 (body too large), 414 (request line too long), 431
 * (headers too large), 501 (unsupported transfer coding), 505 (HTTP version).
 * The message is the reason, one line, as the 400's body says it after
 * `bad request: `.
 */
export class HttpRequestError extends SockechoError {
  /**
   * Creates the error: answer `status`, because `reason`; `options.line` is
   * the refusal's whole body line when it is not `<status words>: reason`,
   * `options.headers` headers the refusal carries (426's
   * `Sec-WebSocket-Version`).
   */
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly options: { line?: string; headers?: [string, string][] } = {},
  ) {
    super(reason);
  }
}

/**
 * A 400 whose body is `line` itself (`bad parameter delay: …`), not
 * `bad request: ` and a reason.
 *
 * @example
 * ```ts
 * import { badParameter } from "./request.ts";
 *
 * badParameter("bad parameter format: expected json, text or raw").status; // 400
 * ```
 */
export function badParameter(line: string): HttpRequestError {
  return new HttpRequestError(400, line, { line });
}

/** A parsed request head. */
export interface RequestHead {
  /** The method as sent (a token, case kept). */
  readonly method: string;
  /** The request target as sent (`/a/b?x=1`, `*`, `http://host/a`). */
  readonly target: string;
  /** The target's path, without the query (for an absolute URL, without scheme and host). */
  readonly path: string;
  /** The raw query after `?`, `""` when none. */
  readonly query: string;
  /** The protocol version; a later HTTP/1.x is served as `HTTP/1.1`. */
  readonly version: "HTTP/1.0" | "HTTP/1.1";
  /** Every header line in arrival order, names as sent, values trimmed. */
  readonly headers: readonly (readonly [string, string])[];
  /** The header names lower-cased, index for index with `headers`. */
  readonly names: readonly string[];
  /** Bytes of the head, blank line (and any empty lines before the request line) included. */
  readonly length: number;
}

/** The limits a head must keep. */
export interface HeadLimits {
  /** The longest request line, in bytes (else 414). @default {8192} */
  maxLineBytes: number;
  /** The most bytes of header lines, blank line included (else 431). @default {65536} */
  maxHeaderBytes: number;
  /** The most header lines (else 431). @default {100} */
  maxHeaderLines: number;
}

/** The contract's limits: an 8 KiB request line, 64 KiB and 100 lines of headers. */
export const DEFAULT_HEAD_LIMITS: Readonly<HeadLimits> = {
  maxLineBytes: 8192,
  maxHeaderBytes: 64 * 1024,
  maxHeaderLines: 100,
};

const LF = 10;
const CR = 13;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// A field value may hold any byte but the controls (HTAB is whitespace).
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
// A request target is visible ASCII: anything else must come percent-encoded.
const TARGET = /^[\x21-\x7e]+$/;
const VERSION = /^HTTP\/(\d)\.(\d)$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses the request head at the start of `bytes`. Returns `undefined` when
 * the head is not complete yet (read more and call again), the head when it
 * is; throws {@linkcode HttpRequestError} when the bytes cannot become a
 * valid head, as soon as that is certain (a limit passed while incomplete
 * too). Lines may end in CRLF or a bare LF; empty lines before the request
 * line are skipped (RFC 9112 §2.2).
 *
 * @example
 * ```ts
 * import { parseRequestHead } from "./request.ts";
 *
 * const text = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\n\r\n");
 * parseRequestHead(text)!.headers; // [["Host", "a"], ["X-A", "1"], ["x-a", "2"]]
 * parseRequestHead(text.subarray(0, 10)); // undefined: not complete
 * ```
 */
export function parseRequestHead(
  bytes: Uint8Array,
  limits: Readonly<HeadLimits> = DEFAULT_HEAD_LIMITS,
): RequestHead | undefined {
  let start = 0;
  while (bytes[start] === LF || (bytes[start] === CR && bytes[start + 1] === LF)) {
    start += bytes[start] === LF ? 1 : 2;
    if (start > limits.maxLineBytes) throw bad("too many empty lines before the request line");
  }
  const lineEnd = bytes.indexOf(LF, start);
  if (lineEnd === -1 || lineEnd - start > limits.maxLineBytes) {
    if (bytes.length - start > limits.maxLineBytes || lineEnd !== -1) {
      throw new HttpRequestError(414, `request line longer than ${limits.maxLineBytes} bytes`);
    }
    return undefined;
  }
  const headEnd = findBlankLine(bytes, lineEnd);
  const headerBytes = (headEnd === -1 ? bytes.length : headEnd) - lineEnd - 1;
  if (headerBytes > limits.maxHeaderBytes) {
    throw new HttpRequestError(431, `headers longer than ${limits.maxHeaderBytes} bytes`);
  }
  // The request line is judged as soon as it is whole, not once the headers are.
  const requestLine = parseRequestLine(decode(bytes.subarray(start, lineEnd)));
  if (headEnd === -1) return undefined;
  const lines = decode(bytes.subarray(lineEnd + 1, headEnd)).split("\n");
  lines.pop(); // the blank line's own end
  if (lines.length - 1 > limits.maxHeaderLines) {
    throw new HttpRequestError(431, `more than ${limits.maxHeaderLines} header lines`);
  }
  const headers: [string, string][] = [];
  const names: string[] = [];
  let hosts = 0;
  for (let i = 0; i < lines.length - 1; i++) {
    const header = parseHeaderLine(lines[i]);
    const name = header[0].toLowerCase();
    headers.push(header);
    names.push(name);
    if (name === "host") hosts++;
  }
  // RFC 9112 §3.2: a 400 for HTTP/1.1 without Host, and for any request with two.
  if (hosts > 1) throw bad("more than one Host header");
  if (hosts === 0 && requestLine.version === "HTTP/1.1") throw bad("HTTP/1.1 request without Host");
  return {
    method: requestLine.method,
    target: requestLine.target,
    path: requestLine.path,
    query: requestLine.query,
    version: requestLine.version,
    headers,
    names,
    length: headEnd,
  };
}

/**
 * {@linkcode parseRequestHead} for one connection, which remembers the last
 * head it parsed: a client that sends the same request again and again (a
 * health check, a load generator, a keep-alive poller) gets the same head
 * object back without a second parse. Sound because a head's parse depends
 * only on its own bytes: input that starts with the same bytes up to the
 * same blank line parses the same.
 *
 * @example
 * ```ts
 * import { HeadParser } from "./request.ts";
 *
 * const parser = new HeadParser();
 * const bytes = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
 * parser.parse(bytes) === parser.parse(bytes); // true
 * ```
 */
export class HeadParser {
  #bytes: Uint8Array | undefined;
  #head: RequestHead | undefined;

  /** Parses with these limits. */
  constructor(readonly limits: Readonly<HeadLimits> = DEFAULT_HEAD_LIMITS) {}

  /** As {@linkcode parseRequestHead}; the last head again when `bytes` starts with its bytes. */
  parse(bytes: Uint8Array): RequestHead | undefined {
    const last = this.#bytes;
    if (last !== undefined && bytes.length >= last.length && startsWith(bytes, last)) {
      return this.#head;
    }
    const head = parseRequestHead(bytes, this.limits);
    if (head !== undefined) {
      this.#bytes = bytes.slice(0, head.length);
      this.#head = head;
    }
    return head;
  }
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  for (let i = prefix.length - 1; i >= 0; i--) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/**
 * The first value of header `name` (lower-case), or `undefined`.
 *
 * @example
 * ```ts
 * import { headerValue, parseRequestHead } from "./request.ts";
 *
 * const head = parseRequestHead(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))!;
 * headerValue(head, "host"); // "a"
 * ```
 */
export function headerValue(head: RequestHead, name: string): string | undefined {
  const at = head.names.indexOf(name);
  return at === -1 ? undefined : head.headers[at][1];
}

/**
 * Whether the comma-separated tokens of every header `name` (lower-case)
 * include `token` (lower-case), as `Connection: keep-alive, Upgrade` does.
 *
 * @example
 * ```ts
 * import { hasToken, parseRequestHead } from "./request.ts";
 *
 * const head = parseRequestHead(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n\r\n"))!;
 * hasToken(head, "connection", "upgrade"); // true
 * ```
 */
export function hasToken(head: RequestHead, name: string, token: string): boolean {
  return tokensOf(head, name).includes(token);
}

/**
 * The lower-cased, trimmed, non-empty comma-separated tokens of every header
 * `name` (lower-case).
 *
 * @example
 * ```ts
 * import { parseRequestHead, tokensOf } from "./request.ts";
 *
 * const head = parseRequestHead(new TextEncoder().encode("GET / HTTP/1.1\r\nTE: a, B\r\n\r\n"))!;
 * tokensOf(head, "te"); // ["a", "b"]
 * ```
 */
export function tokensOf(head: RequestHead, name: string): string[] {
  const tokens: string[] = [];
  if (!head.names.includes(name)) return tokens;
  for (let i = 0; i < head.names.length; i++) {
    if (head.names[i] !== name) continue;
    for (const part of head.headers[i][1].split(",")) {
      const token = part.trim().toLowerCase();
      if (token) tokens.push(token);
    }
  }
  return tokens;
}

/** The index just past the blank line that ends a head whose request line ends at `from`, or -1. */
function findBlankLine(bytes: Uint8Array, from: number): number {
  for (let lf = from; lf !== -1; lf = bytes.indexOf(LF, lf + 1)) {
    if (bytes[lf + 1] === LF) return lf + 2;
    if (bytes[lf + 1] === CR && bytes[lf + 2] === LF) return lf + 3;
  }
  return -1;
}

function parseRequestLine(
  line: string,
): Pick<RequestHead, "method" | "target" | "path" | "query" | "version"> {
  const text = stripCr(line);
  const parts = text.split(" ");
  if (parts.length !== 3 || parts.some((part) => part === "")) {
    throw bad(`request line ${quote(text)} is not METHOD TARGET HTTP/1.1`);
  }
  const [method, target, protocol] = parts;
  if (!TOKEN.test(method)) throw bad(`method ${quote(method)} is not a token`);
  if (!TARGET.test(target)) {
    throw bad("request target has a byte that must be percent-encoded");
  }
  const version = VERSION.exec(protocol);
  if (!version) throw bad(`version ${quote(protocol)} is not HTTP/1.x`);
  if (version[1] !== "1") {
    throw new HttpRequestError(505, `${protocol} is not supported, only HTTP/1.0 and HTTP/1.1`);
  }
  const question = target.indexOf("?");
  const withoutQuery = question === -1 ? target : target.slice(0, question);
  return {
    method,
    target,
    path: pathOf(withoutQuery),
    query: question === -1 ? "" : target.slice(question + 1),
    version: version[2] === "0" ? "HTTP/1.0" : "HTTP/1.1",
  };
}

/** The path of an origin-form target as it is; of an absolute URL, what follows its authority. */
function pathOf(target: string): string {
  if (target[0] === "/") return target;
  const absolute = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*/.exec(target);
  if (!absolute) return target;
  return target.slice(absolute[0].length) || "/";
}

function parseHeaderLine(line: string): [string, string] {
  const text = stripCr(line);
  if (text[0] === " " || text[0] === "\t") throw bad("obsolete line folding in the headers");
  const colon = text.indexOf(":");
  if (colon === -1) throw bad("header line without a colon");
  const name = text.slice(0, colon);
  if (!TOKEN.test(name)) throw bad(`header name ${quote(name)} is not a token`);
  const value = text.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
  if (CONTROL.test(value)) throw bad(`header ${name} has a control character`);
  return [name, value];
}

/** A line without its CR; any other CR is refused (a bare CR can split lines two ways). */
function stripCr(line: string): string {
  const text = line.endsWith("\r") ? line.slice(0, -1) : line;
  if (text.includes("\r")) throw bad("a bare CR in the head");
  return text;
}

/** UTF-8 when the bytes are (nearly always), else Latin-1: every byte one character. */
function decode(bytes: Uint8Array): string {
  // Short ASCII (a usual head) is read in JS: a TextDecoder call costs more than the loop.
  if (bytes.length <= 4096 && isAscii(bytes)) {
    return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  try {
    return utf8.decode(bytes);
  } catch {
    let text = "";
    for (const byte of bytes) text += String.fromCharCode(byte);
    return text;
  }
}

function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] > 0x7f) return false;
  return true;
}

/**
 * Text for a reason line: quoted, control characters escaped, at most 60 characters.
 *
 * @example
 * ```ts
 * import { quote } from "./request.ts";
 *
 * quote("a\nb"); // "\"a\\nb\""
 * ```
 */
export function quote(text: string): string {
  const shown = text.length > 60 ? text.slice(0, 60) + "…" : text;
  return JSON.stringify(shown);
}

function bad(reason: string): HttpRequestError {
  return new HttpRequestError(400, reason);
}
