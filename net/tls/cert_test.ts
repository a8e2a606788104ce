import assert from "node:assert/strict";
import { selfSignedCertificate } from "./cert.ts";

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"];
const pair = await selfSignedCertificate(LOOPBACK_NAMES);

Deno.test("tls: the self-signed certificate names the loopback addresses and has a fingerprint", async () => {
  assert.match(pair.cert, /^-----BEGIN CERTIFICATE-----\n[^]+\n-----END CERTIFICATE-----\n$/);
  assert.match(pair.key, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.match(pair.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  const other = await selfSignedCertificate(LOOPBACK_NAMES);
  assert.notEqual(other.fingerprint, pair.fingerprint); // a fresh key every time
});
