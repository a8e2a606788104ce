/**
 * Certificates for `serve --tls`: an ephemeral self-signed one made in memory
 * at start-up, and the SHA-256 fingerprints that `send --pin` compares.
 * Generation uses `@peculiar/x509` over WebCrypto (about 20 ms), not
 * hand-written ASN.1; it runs with `-N` alone once `reflect-metadata` is
 * loaded, which its dependency injection container needs first.
 *
 * @example
 * ```ts
 * import { selfSignedCertificate } from "./cert.ts";
 *
 * const { cert, key, fingerprint } = await selfSignedCertificate(["localhost", "127.0.0.1"]);
 * console.log(fingerprint); // "AB:CD:…" (32 bytes)
 * ```
 *
 * @module
 */

import "reflect-metadata"; // must load before @peculiar/x509: its container reads Reflect metadata
import * as x509 from "@peculiar/x509";

/** A certificate and its private key, both PEM, and the certificate's fingerprint. */
export interface CertificatePair {
  /** The certificate, PEM. */
  cert: string;
  /** Its private key (PKCS #8), PEM. */
  key: string;
  /** SHA-256 of the certificate, upper-case hex pairs joined by colons. */
  fingerprint: string;
}

/** Options for {@linkcode selfSignedCertificate}. */
export interface SelfSignedOptions {
  /** How long the certificate is valid from now, in days. @default {30} */
  days?: number;
  /** When it becomes valid (tests make expired ones). @default {now, less a minute of clock skew} */
  notBefore?: Date;
}

const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Makes an ECDSA P-256 self-signed certificate for `names` (host names and
 * IP addresses, the first also being the subject's common name). The key
 * never leaves memory.
 *
 * @example
 * ```ts
 * import { selfSignedCertificate } from "./cert.ts";
 *
 * const pair = await selfSignedCertificate(["localhost", "::1"], { days: 1 });
 * ```
 */
export async function selfSignedCertificate(
  names: string[],
  { days = 30, notBefore = new Date(Date.now() - 60_000) }: SelfSignedOptions = {},
): Promise<CertificatePair> {
  const keys = await crypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
  const unique = [...new Set(names)];
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [unique[0]] }],
    notBefore,
    notAfter: new Date(notBefore.getTime() + days * DAY_MS),
    signingAlgorithm: ECDSA_P256,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        unique.map((name) => ({
          type: isIpAddress(name) ? "ip" as const : "dns" as const,
          value: name,
        })),
      ),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    // Each ends with a newline, so that the two concatenated are still valid PEM.
    cert: `${certificate.toString("pem").trimEnd()}\n`,
    key: `${x509.PemConverter.encode(pkcs8, "PRIVATE KEY").trimEnd()}\n`,
    fingerprint: await fingerprintOf(new Uint8Array(certificate.rawData)),
  };
}

/**
 * The SHA-256 fingerprint of a DER certificate, as `openssl x509 -fingerprint
 * -sha256` and Node's `fingerprint256` print it.
 *
 * @example
 * ```ts
 * import { fingerprintOf } from "./cert.ts";
 *
 * await fingerprintOf(new Uint8Array([0x30, 0x00])); // "…:…" 32 hex pairs
 * ```
 */
export async function fingerprintOf(der: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return [...digest].map((byte) => byte.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

/** True for an IPv4 or IPv6 address literal (a host name never contains ":" or is all digits). */
function isIpAddress(name: string): boolean {
  return name.includes(":") || /^\d+\.\d+\.\d+\.\d+$/.test(name);
}

/** A positive 16-byte serial number in hex, unique in practice (RFC 5280 allows 20 bytes). */
function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f; // DER integers are signed: keep it positive
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}
