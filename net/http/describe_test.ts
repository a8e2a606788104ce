import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { pattern } from "../../cli/test_util.ts";
import {
  BodyDigest,
  chooseFormat,
  describeRequest,
  EMPTY_BODY,
  formatJson,
  formatText,
  type RequestDescription,
} from "./describe.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

function sample(
  overrides: Partial<Parameters<typeof describeRequest>[0]> = {},
): RequestDescription {
  return describeRequest({
    instance: "web-1",
    head: {
      method: "POST",
      path: "/a/b",
      query: "x=1",
      version: "HTTP/1.1",
      headers: [["Host", "example"], ["X-A", "1"], ["X-A", "2"]],
    },
    peer: { transport: "tcp", hostname: "10.0.0.2", port: 50312 },
    connection: { id: 3, request: 2 },
    body: EMPTY_BODY,
    ...overrides,
  });
}

Deno.test("the description has the contract's fields, client and TLS only when known", () => {
  const plain = sample();
  assert.deepEqual(Object.keys(JSON.parse(formatJson(plain))), [
    "instance",
    "protocol",
    "method",
    "path",
    "query",
    "headers",
    "headersMerged",
    "peer",
    "connection",
    "body",
  ]);
  const behind = sample({
    client: { transport: "tcp", hostname: "203.0.113.9", port: 4000 },
    tls: { version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384", alpn: "http/1.1" },
  });
  assert.deepEqual(behind.client, { address: "203.0.113.9", port: 4000 });
  assert.deepEqual(behind.peer, { address: "10.0.0.2", port: 50312 });
  const unix = sample({ peer: { transport: "unix", path: null as unknown as string } });
  assert.deepEqual(unix.peer, { path: "" }, "an unnamed client, as Deno gives it");
});

Deno.test("formatJson reads back as the object, one line per field and per header", () => {
  const description = sample({ tls: { alpn: null } });
  const text = formatJson(description);
  assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(description)));
  assert.match(text, /\n {4}\["X-A","2"\]\n {2}\],\n/);
  assert.ok(text.endsWith("}\n"));
});

Deno.test("formatText lines up the facts, then the headers as sent", () => {
  const digest = new BodyDigest(100);
  digest.update(new TextEncoder().encode("two\nlines"));
  const text = formatText(sample({
    body: digest.finish(),
    client: { transport: "tcp", hostname: "::1", port: 9 },
    tls: { version: "TLSv1.3", alpn: "h2" },
  }));
  assert.equal(
    text,
    [
      "instance:   web-1",
      "protocol:   HTTP/1.1",
      "method:     POST",
      "path:       /a/b",
      "query:      x=1",
      "peer:       10.0.0.2:50312",
      "client:     [::1]:9",
      "tls:        TLSv1.3 alpn h2",
      "connection: 3, request 2",
      `body:       9 bytes, sha256 ${sha256(new TextEncoder().encode("two\nlines"))}`,
      "data:       two\\nlines",
      "headers:",
      "  Host: example",
      "  X-A: 1",
      "  X-A: 2",
      "",
    ].join("\n"),
  );
});

Deno.test("property: the digest of a body fed in any pieces is its length and SHA-256", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 5000 }),
      fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 0, max: 6000 }),
      (body, sizes, bound) => {
        const digest = new BodyDigest(bound);
        for (let at = 0, i = 0; at < body.length; i++) {
          const piece = body.slice(at, at + sizes[i % sizes.length]);
          digest.update(piece);
          piece.fill(0); // the caller reuses its buffer: the digest must have copied
          at += sizes[i % sizes.length];
        }
        const facts = digest.finish();
        assert.equal(facts.bytes, body.length);
        assert.equal(facts.sha256, sha256(body));
        if (body.length > bound) {
          assert.deepEqual(facts, { bytes: body.length, sha256: sha256(body), truncated: true });
        } else if (facts.encoding === "utf-8") {
          assert.deepEqual(new TextEncoder().encode(facts.data), body);
        } else {
          assert.deepEqual(new Uint8Array(Buffer.from(facts.data!, "base64")), body);
        }
      },
    ),
    { numRuns: 1000 },
  );
  assert.deepEqual(new BodyDigest(0).finish(), EMPTY_BODY);
  assert.equal(EMPTY_BODY.sha256, sha256(new Uint8Array()));
  const big = new BodyDigest(10);
  big.update(pattern(11));
  assert.equal(big.finish().truncated, true);
});

Deno.test("the format: ?format= first, else the first type in Accept, else JSON", () => {
  assert.equal(chooseFormat("format=raw", "text/plain"), "raw");
  assert.equal(chooseFormat("a=1&format=text", undefined), "text");
  assert.equal(chooseFormat("format=json", "application/octet-stream"), "json");
  assert.equal(chooseFormat("format=yaml", undefined), undefined);
  assert.equal(chooseFormat("reformat=1", "text/plain"), "text");
  assert.equal(chooseFormat("", "Text/Plain; q=1, application/json"), "text");
  assert.equal(chooseFormat("", "application/octet-stream"), "raw");
  assert.equal(chooseFormat("", "application/json, text/plain"), "json");
  assert.equal(chooseFormat("", "*/*"), "json");
  assert.equal(chooseFormat("", undefined), "json");
});
