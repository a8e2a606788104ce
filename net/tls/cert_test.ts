/**
 * The self-signed certificate read back by an independent X.509 parser
 * (`node:crypto`'s `X509Certificate`), and the DER encoders it is made of
 * against known encodings. The handshakes that trust it (by pin, by `--ca`,
 * with openssl) are in `client_test.ts` and the command-line tests.
 */
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { selfSignedCertificate } from "./cert.ts";
import { bitString, boolean, integer, oid, sequence, TAG, time, tlv, utf8 } from "./der.ts";

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"];
const pair = await selfSignedCertificate(LOOPBACK_NAMES);

Deno.test("tls: the self-signed certificate names the loopback addresses and has a fingerprint", async () => {
  assert.match(pair.cert, /^-----BEGIN CERTIFICATE-----\n[^]+\n-----END CERTIFICATE-----\n$/);
  assert.match(pair.key, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.match(pair.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  const other = await selfSignedCertificate(LOOPBACK_NAMES);
  assert.notEqual(other.fingerprint, pair.fingerprint); // a fresh key every time
});

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join(" ");

Deno.test("the certificate parses, is signed by its own key and names every host and address", async () => {
  const names = ["localhost", "127.0.0.1", "::1", "echo.example.test", "192.0.2.7"];
  const pair = await selfSignedCertificate([...names, "localhost"]);
  const x509 = new X509Certificate(pair.cert);
  assert.equal(x509.subject, "CN=localhost");
  assert.equal(x509.issuer, "CN=localhost");
  assert.equal(
    x509.subjectAltName,
    "DNS:localhost, IP Address:127.0.0.1, IP Address:::1, DNS:echo.example.test, " +
      "IP Address:192.0.2.7",
  );
  assert.ok(x509.verify(x509.publicKey), "the signature checks with the certificate's own key");
  assert.ok(x509.checkPrivateKey(createPrivateKey(pair.key)), "the key is the certificate's");
  assert.equal(x509.ca, false);
  assert.equal(x509.fingerprint256, pair.fingerprint);
  assert.equal(x509.checkHost("echo.example.test"), "echo.example.test");
  assert.equal(x509.checkIP("::1"), "::1");
  assert.equal(x509.checkIP("10.0.0.1"), undefined);
  assert.match(x509.serialNumber, /^[4-7][0-9A-F]{31}$/); // 16 bytes, positive
});

Deno.test("the certificate is valid from notBefore for the days asked, past 2049 too", async () => {
  const notBefore = new Date("2049-12-31T12:00:00Z");
  const x509 = new X509Certificate(
    (await selfSignedCertificate(["a"], { notBefore, days: 2 })).cert,
  );
  // 2049 is written as UTCTime, 2050 onwards as GeneralizedTime (RFC 5280, 4.1.2.5).
  assert.equal(new Date(x509.validFrom).toISOString(), "2049-12-31T12:00:00.000Z");
  assert.equal(new Date(x509.validTo).toISOString(), "2050-01-02T12:00:00.000Z");
});

Deno.test("DER: lengths short and long, integers kept positive, OIDs in base 128", () => {
  assert.equal(hex(tlv(TAG.octetString, new Uint8Array(2))), "04 02 00 00");
  assert.equal(hex(tlv(TAG.octetString, new Uint8Array(127)).subarray(0, 2)), "04 7f");
  assert.equal(hex(tlv(TAG.octetString, new Uint8Array(128)).subarray(0, 3)), "04 81 80");
  assert.equal(hex(tlv(TAG.octetString, new Uint8Array(256)).subarray(0, 4)), "04 82 01 00");
  assert.equal(tlv(TAG.octetString, new Uint8Array(70_000)).length, 70_005);
  assert.equal(hex(integer(new Uint8Array([0, 0, 0x7f]))), "02 01 7f");
  assert.equal(hex(integer(new Uint8Array([0x80]))), "02 02 00 80");
  assert.equal(hex(integer(new Uint8Array([0, 0]))), "02 01 00");
  assert.equal(hex(oid("1.2.840.10045.4.3.2")), "06 08 2a 86 48 ce 3d 04 03 02");
  assert.equal(hex(oid("2.5.29.17")), "06 03 55 1d 11");
  assert.equal(hex(sequence(boolean(true), utf8("é"))), "30 07 01 01 ff 0c 02 c3 a9");
  assert.equal(hex(bitString(new Uint8Array([0x80]), 1)), "03 02 07 80");
  assert.equal(
    new TextDecoder().decode(time(new Date("2030-01-02T03:04:05.678Z")).subarray(2)),
    "300102030405Z",
  );
  assert.equal(
    new TextDecoder().decode(time(new Date("2050-01-02T03:04:05Z")).subarray(2)),
    "20500102030405Z",
  );
});
