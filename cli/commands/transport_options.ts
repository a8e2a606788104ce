/**
 * The transport options the commands share: `--tls` with its certificate
 * and trust flags, and `--unix PATH`. Each table here is spread into a
 * command's own option table; each parser turns the parsed values into the
 * options of `serve`, `send` or `bench`, failing with one usage line.
 *
 * @example
 * ```ts
 * import { parseCommand } from "../args.ts";
 * import { CLIENT_TRANSPORT_OPTIONS, clientTransport } from "./transport_options.ts";
 *
 * const parsed = parseCommand(["--tls", "--insecure"], CLIENT_TRANSPORT_OPTIONS);
 * if (parsed !== "help") await clientTransport(parsed.values); // { tls: { insecure: true } }
 * ```
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import { parseSeconds, UsageError } from "../args.ts";
import type { MainIo } from "../io.ts";
import { MissingPermissionError } from "../../net/errors.ts";
import { formatAddress } from "../../net/format.ts";
import type { TlsClientOptions } from "../../net/tls/client.ts";
import { selfSignedCertificate } from "../../net/tls/cert.ts";
import type { TlsCertificate } from "../../net/listen.ts";

/** `serve`'s transport options. */
export const SERVE_TRANSPORT_OPTIONS = {
  tls: { type: "boolean", default: false },
  cert: { type: "string" },
  key: { type: "string" },
  "handshake-timeout": { type: "string", default: "10" },
  unix: { type: "string" },
} satisfies ParseArgsOptionsConfig;

/** Their lines in `serve --help`. */
export const SERVE_TRANSPORT_HELP =
  `      --tls            serve TLS; without --cert/--key, with a fresh
                       self-signed certificate (printed: its SHA-256
                       and the send command that pins it)
      --cert FILE      TLS certificate chain, PEM (needs -R=FILE)
      --key FILE       its private key, PEM (needs -R=FILE)
      --handshake-timeout SECONDS
                       close a TLS client whose handshake has not
                       finished that long                          [10]
      --unix PATH      listen on a Unix domain socket instead of
                       HOST:PORT (needs -R=PATH -W=PATH); a stale
                       socket file is replaced, removed at exit`;

/** `send`'s and `bench`'s transport options. */
export const CLIENT_TRANSPORT_OPTIONS = {
  tls: { type: "boolean", default: false },
  ca: { type: "string", multiple: true },
  pin: { type: "string" },
  insecure: { type: "boolean", default: false },
  servername: { type: "string" },
  unix: { type: "string" },
} satisfies ParseArgsOptionsConfig;

/** Their help: each flag and its description, one string per output line. */
const CLIENT_TRANSPORT_LINES: [string, string[]][] = [
  ["--tls", ["speak TLS; the certificate must verify against", "the system's roots and any --ca"]],
  ["--ca FILE", ["trust this CA certificate too, PEM (repeatable;", "needs -R=FILE)"]],
  ["--pin SHA256", [
    "accept exactly the certificate with this SHA-256",
    "fingerprint (hex, colons optional) instead",
  ]],
  ["--insecure", [
    "accept any certificate (says so on stderr): the",
    "last resort, anyone in between can listen in",
  ]],
  ["--servername NAME", ["the name to send (SNI) and verify, when", "connecting by address"]],
  ["--unix PATH", ["connect to a Unix domain socket instead of HOST", "(needs -R=PATH -W=PATH)"]],
];

/** The lines of `send --help` and `bench --help` for these options, descriptions at `column`. */
export function clientTransportHelp(column: number): string {
  return CLIENT_TRANSPORT_LINES.flatMap(([flag, text]) =>
    text.map((line, i) => (i === 0 ? `      ${flag}` : "").padEnd(column) + line)
  ).join("\n");
}

type Values<T extends ParseArgsOptionsConfig> = {
  [K in keyof T]?: T[K] extends { type: "boolean" } ? boolean
    : T[K] extends { multiple: true } ? string[]
    : string;
};

/** What `serve` gets from its transport options, and the line to print once listening. */
export interface ServeTransport {
  tls?: TlsCertificate;
  handshakeTimeoutMs?: number;
  path?: string;
  /** Prints with `print` what a client needs to know (the ephemeral certificate's fingerprint). */
  announce?: (addr: Deno.NetAddr | Deno.UnixAddr, print: (line: string) => void) => void;
}

/**
 * Turns `serve`'s transport options into `serve` options. With `http`, the
 * line a client needs names an `https://` URL, which `send` reads as HTTP.
 */
export async function serveTransport(
  values: Values<typeof SERVE_TRANSPORT_OPTIONS> & { host?: string },
  http = false,
): Promise<ServeTransport> {
  const handshakeTimeoutMs = parseSeconds(
    values["handshake-timeout"] ?? "10",
    "--handshake-timeout",
    0.001,
  );
  if (!values.tls) {
    for (const flag of ["cert", "key"] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} needs --tls`);
    }
    return { path: values.unix };
  }
  if (values.unix !== undefined) throw new UsageError("--tls and --unix cannot be combined");
  if ((values.cert === undefined) !== (values.key === undefined)) {
    throw new UsageError("--cert and --key go together");
  }
  if (values.cert !== undefined && values.key !== undefined) {
    const [cert, key] = await readFiles([values.cert, values.key], "the TLS certificate");
    return { tls: { cert, key }, handshakeTimeoutMs };
  }
  const host = values.host ?? "0.0.0.0";
  const wildcard = host === "0.0.0.0" || host === "::";
  const names = ["localhost", "127.0.0.1", "::1", ...wildcard ? [] : [host]];
  const { cert, key, fingerprint } = await selfSignedCertificate(names);
  return {
    tls: { cert, key },
    handshakeTimeoutMs,
    announce(addr, print) {
      if ("path" in addr) return;
      // A wildcard listener is reached on loopback from this machine.
      const local = { "0.0.0.0": "127.0.0.1", "::": "::1" }[addr.hostname] ?? addr.hostname;
      print(
        `TLS certificate: self-signed, SHA-256 ${fingerprint}; connect with: ` +
          (http
            ? `sockecho send --pin ${fingerprint} https://${
              formatAddress({ hostname: local, port: addr.port })
            }/`
            : `sockecho send --tls --pin ${fingerprint} ${local} -p ${addr.port}`),
      );
    },
  };
}

/** Turns `send`'s or `bench`'s transport options into client options. */
export async function clientTransport(
  values: Values<typeof CLIENT_TRANSPORT_OPTIONS>,
  io?: MainIo,
): Promise<{ tls?: TlsClientOptions; path?: string }> {
  const tlsOnly = (["ca", "pin", "insecure", "servername"] as const)
    .filter((flag) => values[flag] !== undefined && values[flag] !== false);
  if (!values.tls) {
    if (tlsOnly.length > 0) throw new UsageError(`--${tlsOnly[0]} needs --tls`);
    return { path: values.unix };
  }
  if (values.unix !== undefined) throw new UsageError("--tls and --unix cannot be combined");
  const trustFlags = tlsOnly.filter((flag) => flag !== "servername");
  if (trustFlags.length > 1) {
    throw new UsageError(`--${trustFlags[0]} and --${trustFlags[1]} cannot be combined`);
  }
  if (values.insecure) {
    io?.err("--insecure: the server's certificate is not verified; anyone in between can listen");
  }
  return {
    tls: {
      ca: values.ca && await readFiles(values.ca, "the CA certificate"),
      pin: values.pin === undefined ? undefined : parsePin(values.pin),
      insecure: values.insecure,
      servername: values.servername,
    },
  };
}

/**
 * Normalizes a SHA-256 fingerprint: hex, any case, colons optional, to
 * upper-case pairs joined by colons.
 */
export function parsePin(text: string): string {
  const hex = text.replaceAll(":", "");
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new UsageError(
      `invalid --pin "${text}": expected a SHA-256 fingerprint, 64 hex digits (colons optional)`,
    );
  }
  return hex.toUpperCase().match(/../g)!.join(":");
}

/** Reads PEM files; without read permission, names the flag to add. */
async function readFiles(paths: string[], what: string): Promise<string[]> {
  try {
    return await Promise.all(paths.map((path) => Deno.readTextFile(path)));
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new MissingPermissionError(
        `cannot read ${what}: Deno needs read permission: add -R=${paths.join(",")}`,
        { cause: error },
      );
    }
    const message = error instanceof Error ? error.message : String(error);
    throw new UsageError(`cannot read ${what}: ${message.replace(/ \(os error \d+\).*$/, "")}`);
  }
}
