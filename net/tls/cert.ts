/**
 * Certificates for `serve --tls`: an ephemeral self-signed one made in memory
 * at start-up, and the SHA-256 fingerprints that `send --pin` compares.
 * WebCrypto makes the key and the signature; the certificate around them is a
 * fixed handful of DER fields (`der.ts`), so no npm package is needed: a
 * first `serve` on a cold cache downloads nothing (`@peculiar/x509` and its
 * 20 dependencies did, even for plain TCP).
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

import { parseIp } from "../access/cidr.ts";
import { bitString, boolean, integer, oid, sequence, TAG, time, tlv, utf8 } from "./der.ts";

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
/** ecdsa-with-SHA256 (RFC 5758), with no parameters. */
const SIGNED_WITH = sequence(oid("1.2.840.10045.4.3.2"));

/**
 * Makes an ECDSA P-256 self-signed certificate for `names` (host names and
 * IP addresses, the first also being the subject's common name). The key
 * never leaves memory. The certificate is X.509 v3 with a random serial,
 * CA:FALSE, key usage digitalSignature (both critical), extended key usage
 * serverAuth and every name in the subject alternative names.
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
  const subject = sequence(tlv(TAG.set, sequence(oid("2.5.4.3"), utf8(unique[0]))));
  const tbs = sequence(
    tlv(TAG.explicit | 0, integer(new Uint8Array([2]))), // v3
    integer(randomSerial()),
    SIGNED_WITH,
    subject, // issuer: self-signed
    sequence(time(notBefore), time(new Date(notBefore.getTime() + days * DAY_MS))),
    subject,
    new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey)),
    tlv(TAG.explicit | 3, sequence(...extensions(unique))),
  );
  // WebCrypto signs as r ‖ s, 32 bytes each; X.509 wants SEQUENCE { INTEGER r, INTEGER s }.
  const raw = new Uint8Array(await crypto.subtle.sign(ECDSA_P256, keys.privateKey, tbs));
  const signature = sequence(integer(raw.subarray(0, 32)), integer(raw.subarray(32)));
  const der = sequence(tbs, SIGNED_WITH, bitString(signature));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return {
    cert: pem(der, "CERTIFICATE"),
    key: pem(pkcs8, "PRIVATE KEY"),
    fingerprint: await fingerprintOf(der),
  };
}

/** basicConstraints, keyUsage, extKeyUsage and subjectAltName (RFC 5280, 4.2.1). */
function extensions(names: string[]): Uint8Array[] {
  const extension = (id: string, critical: boolean, value: Uint8Array) =>
    sequence(oid(id), ...critical ? [boolean(true)] : [], tlv(TAG.octetString, value));
  const alternativeName = (name: string) => {
    const ip = parseIp(name);
    // GeneralName [7] iPAddress holds the address bytes, [2] dNSName the name.
    return ip ? tlv(TAG.context | 7, ip) : tlv(TAG.context | 2, new TextEncoder().encode(name));
  };
  return [
    extension("2.5.29.19", true, sequence()), // CA:FALSE is the default: an empty sequence
    extension("2.5.29.15", true, bitString(new Uint8Array([0x80]), 1)), // digitalSignature
    extension("2.5.29.37", false, sequence(oid("1.3.6.1.5.5.7.3.1"))), // serverAuth
    extension("2.5.29.17", false, sequence(...names.map(alternativeName))),
  ];
}

/** PEM: base64 in lines of 64 between the label's BEGIN and END lines, ending with a newline. */
function pem(der: Uint8Array, label: string): string {
  const base64 = btoa(Array.from(der, (byte) => String.fromCharCode(byte)).join(""));
  // Each ends with a newline, so that the two concatenated are still valid PEM.
  return `-----BEGIN ${label}-----\n${base64.replace(/.{1,64}/g, "$&\n")}-----END ${label}-----\n`;
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

/** A 16-byte serial number, unique in practice (RFC 5280 allows up to 20 bytes). */
function randomSerial(): Uint8Array {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] & 0x7f) | 0x40; // positive, and 16 bytes long once encoded
  return bytes;
}
