/**
 * What `serve --http` answers: the request as the server received it, as a
 * plain object (the contract's JSON description, also the ledger's `request`
 * event), as JSON or as aligned text lines; and the body's digest, computed
 * as the body streams through (length and SHA-256, the bytes themselves kept
 * only up to a bound). Which format a request gets is chosen here too.
 *
 * @example
 * ```ts
 * import { BodyDigest, describeRequest, formatText } from "./describe.ts";
 *
 * const digest = new BodyDigest(65536);
 * digest.update(new TextEncoder().encode("hello"));
 * const description = describeRequest({
 *   instance: "web-1",
 *   head: { method: "POST", path: "/", query: "", version: "HTTP/1.1", headers: [["Host", "a"]] },
 *   peer: { transport: "tcp", hostname: "127.0.0.1", port: 50312 },
 *   connection: { id: 1, request: 1 },
 *   body: digest.finish(),
 * });
 * console.log(formatText(description));
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash, type Hash } from "node:crypto";
import { escapeBytes, formatAddress } from "../format.ts";
import type { SocketAddr } from "../listen.ts";
import type { RequestHead } from "./request.ts";

/** An address in a description: IP and port, or a Unix socket's path. */
export type DescribedAddress = { address: string; port: number } | { path: string };

/** TLS facts the server knows of a connection. */
export interface TlsFacts {
  /** The protocol version, e.g. `TLSv1.3`. */
  version?: string;
  /** The cipher suite, e.g. `TLS_AES_256_GCM_SHA384`. */
  cipher?: string;
  /** The protocol agreed by ALPN (`h2`, `http/1.1`), `null` when none was. */
  alpn?: string | null;
}

/** The body as described: length and digest, and the bytes up to `--max-echo-body`. */
export interface BodyFacts {
  /** Its length. */
  bytes: number;
  /** Its SHA-256, lower-case hex. */
  sha256: string;
  /** How `data` is written: `utf-8` text when the bytes are valid UTF-8, else `base64`. */
  encoding?: "utf-8" | "base64";
  /** The body, when it is no longer than the bound. */
  data?: string;
  /** `true` when the body was longer than the bound (so `data` and `encoding` are absent). */
  truncated?: true;
}

/** The contract's description of one request (`docs/http.md`). */
export interface RequestDescription {
  instance: string;
  protocol: string;
  method: string;
  path: string;
  query: string;
  headers: (readonly [string, string])[];
  headersMerged: boolean;
  peer: DescribedAddress;
  client?: DescribedAddress;
  tls?: TlsFacts;
  connection: { id: number; request: number };
  body: BodyFacts;
}

/** What {@linkcode describeRequest} needs to know. */
export interface DescribeInput {
  /** The server's instance name. */
  instance: string;
  /** The request head. */
  head: Pick<RequestHead, "method" | "path" | "query" | "version" | "headers">;
  /** The connection's peer (the balancer, when a PROXY header named a client). */
  peer: SocketAddr;
  /** The client a PROXY header declared. */
  client?: SocketAddr;
  /** What the server knows of the connection's TLS. */
  tls?: TlsFacts;
  /** Which connection (from 1) and which request on it (from 1). */
  connection: { id: number; request: number };
  /** The body's facts, from {@linkcode BodyDigest.finish}. */
  body: BodyFacts;
}

/**
 * The description object of one request, in the contract's field order.
 *
 * @example
 * ```ts
 * import { describeRequest, EMPTY_BODY } from "./describe.ts";
 *
 * const description = describeRequest({
 *   instance: "web-1",
 *   head: { method: "GET", path: "/", query: "", version: "HTTP/1.1", headers: [] },
 *   peer: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
 *   connection: { id: 1, request: 1 },
 *   body: EMPTY_BODY,
 * });
 * description.peer; // { address: "127.0.0.1", port: 1 }
 * ```
 */
export function describeRequest(input: DescribeInput): RequestDescription {
  const { head } = input;
  return {
    instance: input.instance,
    protocol: head.version,
    method: head.method,
    path: head.path,
    query: head.query,
    headers: head.headers as (readonly [string, string])[],
    headersMerged: false,
    peer: describeAddress(input.peer),
    client: input.client && describeAddress(input.client),
    tls: input.tls,
    connection: input.connection,
    body: input.body,
  };
}

/** An address as the description writes it. */
export function describeAddress(addr: SocketAddr): DescribedAddress {
  // A Unix socket's client is usually unnamed: Deno gives its path as null.
  return "path" in addr ? { path: addr.path ?? "" } : { address: addr.hostname, port: addr.port };
}

/** The facts of an empty body (its SHA-256 is a constant). */
export const EMPTY_BODY: Readonly<BodyFacts> = Object.freeze({
  bytes: 0,
  sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  encoding: "utf-8",
  data: "",
});

/**
 * A body's digest, fed as it streams: the SHA-256 of every byte (node:crypto
 * hashes incrementally; WebCrypto's digest would need the body whole), the
 * bytes themselves kept only up to `maxKeptBytes`.
 *
 * @example
 * ```ts
 * import { BodyDigest } from "./describe.ts";
 *
 * const digest = new BodyDigest(4);
 * digest.update(new TextEncoder().encode("hello"));
 * digest.finish(); // { bytes: 5, sha256: "2cf24d…", truncated: true }
 * ```
 */
export class BodyDigest {
  #hash: Hash | undefined;
  #kept: Uint8Array[] = [];
  #bytes = 0;

  /** Keeps the body's bytes while there are at most `maxKeptBytes` of them. */
  constructor(readonly maxKeptBytes: number) {}

  /** Adds a chunk of the body (copied if kept: the caller may reuse it). */
  update(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    (this.#hash ??= createHash("sha256")).update(chunk);
    this.#bytes += chunk.length;
    if (this.#bytes <= this.maxKeptBytes) this.#kept.push(chunk.slice());
    else this.#kept.length = 0;
  }

  /** The body's facts; call once, after the last chunk. */
  finish(): Readonly<BodyFacts> {
    if (this.#hash === undefined) return EMPTY_BODY;
    const sha256 = this.#hash.digest("hex");
    if (this.#bytes > this.maxKeptBytes) return { bytes: this.#bytes, sha256, truncated: true };
    const data = Buffer.concat(this.#kept);
    try {
      const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(data);
      return { bytes: this.#bytes, sha256, encoding: "utf-8", data: text };
    } catch {
      return { bytes: this.#bytes, sha256, encoding: "base64", data: data.toString("base64") };
    }
  }
}

/** The reply formats. */
export type EchoFormat = "json" | "text" | "raw";

/**
 * The format a request asked for: `?format=json|text|raw` first, else its
 * `Accept` header (`text/plain` → text, `application/octet-stream` → raw),
 * else JSON. An unknown `format` value is `undefined` (the caller's 400).
 *
 * @example
 * ```ts
 * import { chooseFormat } from "./describe.ts";
 *
 * chooseFormat("format=raw", undefined); // "raw"
 * chooseFormat("", "text/plain"); // "text"
 * chooseFormat("", "*\/*"); // "json"
 * ```
 */
export function chooseFormat(query: string, accept: string | undefined): EchoFormat | undefined {
  if (query.includes("format=")) {
    const asked = new URLSearchParams(query).get("format");
    if (asked !== null) {
      return asked === "json" || asked === "text" || asked === "raw" ? asked : undefined;
    }
  }
  if (accept === undefined || accept === "*/*") return "json";
  // The first type named wins: a client lists what it prefers first.
  const first = accept.split(",")[0].split(";")[0].trim().toLowerCase();
  if (first === "text/plain") return "text";
  if (first === "application/octet-stream") return "raw";
  return "json";
}

/**
 * The description as the JSON reply's body, laid out for a person reading
 * curl's output: one line per field and per header, nested objects on one
 * line (`JSON.stringify(…, null, 2)` would give each header four lines).
 */
export function formatJson(
  description: RequestDescription,
  prefix: string = jsonPrefix(description),
): string {
  const { connection, body } = description;
  return prefix + `\n  "connection": {"id":${connection.id},"request":${connection.request}},` +
    `\n  "body": ${body === EMPTY_BODY ? EMPTY_BODY_JSON : JSON.stringify(body)}\n}\n`;
}

/**
 * The JSON reply up to its `connection` field: what is the same for every
 * request with the same head on the same connection, so a connection may
 * keep it for a client that repeats itself.
 */
export function jsonPrefix(description: RequestDescription): string {
  // Written out field by field: one JSON.stringify of the whole object per field was a
  // quarter of a request's CPU time (measured with wrk's GET).
  const quote = JSON.stringify;
  const { headers, peer, client, tls } = description;
  let text =
    `{\n  "instance": ${quote(description.instance)},\n  "protocol": ${
      quote(description.protocol)
    },` +
    `\n  "method": ${quote(description.method)},\n  "path": ${quote(description.path)},` +
    `\n  "query": ${quote(description.query)},\n  "headers": [`;
  for (let i = 0; i < headers.length; i++) {
    text += `${i === 0 ? "\n" : ",\n"}    [${quote(headers[i][0])},${quote(headers[i][1])}]`;
  }
  text +=
    `${headers.length > 0 ? "\n  " : ""}],\n  "headersMerged": ${description.headersMerged},` +
    `\n  "peer": ${addressJson(peer)},`;
  if (client) text += `\n  "client": ${addressJson(client)},`;
  if (tls) text += `\n  "tls": ${quote(tls)},`;
  return text;
}

const EMPTY_BODY_JSON = JSON.stringify(EMPTY_BODY);

function addressJson(addr: DescribedAddress): string {
  return "path" in addr
    ? `{"path":${JSON.stringify(addr.path)}}`
    : `{"address":${JSON.stringify(addr.address)},"port":${addr.port}}`;
}

/**
 * The description as aligned text lines (the `text` format).
 *
 * @example
 * ```ts
 * import { describeRequest, EMPTY_BODY, formatText } from "./describe.ts";
 *
 * formatText(describeRequest({
 *   instance: "web-1",
 *   head: { method: "GET", path: "/", query: "", version: "HTTP/1.1", headers: [["Host", "a"]] },
 *   peer: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
 *   connection: { id: 1, request: 1 },
 *   body: EMPTY_BODY,
 * }));
 * // "instance:   web-1\nprotocol:   HTTP/1.1\n…"
 * ```
 */
export function formatText(description: RequestDescription): string {
  const { body, tls } = description;
  const rows: [string, string][] = [
    ["instance", description.instance],
    ["protocol", description.protocol],
    ["method", description.method],
    ["path", description.path],
    ["query", description.query],
    ["peer", addressText(description.peer)],
  ];
  if (description.client) rows.push(["client", addressText(description.client)]);
  if (tls) {
    rows.push([
      "tls",
      [tls.version, tls.cipher, tls.alpn && `alpn ${tls.alpn}`].filter(Boolean).join(" "),
    ]);
  }
  const { id, request } = description.connection;
  rows.push(["connection", `${id}, request ${request}`]);
  rows.push([
    "body",
    `${body.bytes} bytes, sha256 ${body.sha256}${body.truncated ? ", not kept" : ""}`,
  ]);
  if (body.data !== undefined && body.bytes > 0) {
    const shown = body.encoding === "utf-8"
      ? textBytes(body.data)
      : Buffer.from(body.data, "base64");
    rows.push(["data", escapeBytes(shown)]);
  }
  const lines = rows.map(([name, value]) => `${(name + ":").padEnd(12)}${value}`);
  lines.push("headers:");
  for (const [name, value] of description.headers) lines.push(`  ${name}: ${value}`);
  return lines.join("\n") + "\n";
}

function addressText(addr: DescribedAddress): string {
  return "path" in addr
    ? addr.path || "(unnamed unix socket)"
    : formatAddress({ hostname: addr.address, port: addr.port });
}

function textBytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
