import assert from "node:assert/strict";
import { isIP } from "node:net";
import fc from "fast-check";
import { cidrContains, formatIp, parseCidrList, parseIp, toIPv6 } from "./cidr.ts";

Deno.test("CIDR lists match addresses by prefix, IPv4-mapped addresses as IPv4", () => {
  const ranges = parseCidrList("10.0.0.0/8, 192.168.16.0/20,::1,fd00::/8")!;
  const inside = ["10.255.0.1", "192.168.31.255", "::1", "fdff::7", "::ffff:10.0.0.1"];
  const outside = ["11.0.0.1", "192.168.32.0", "::2", "fe00::1", "127.0.0.1", "not-an-ip", ""];
  for (const address of inside) assert.ok(cidrContains(ranges, address), address);
  for (const address of outside) assert.ok(!cidrContains(ranges, address), address);
  assert.ok(cidrContains(parseCidrList("0.0.0.0/0")!, "203.0.113.9"));
  assert.ok(!cidrContains(parseCidrList("0.0.0.0/0")!, "::5"), "IPv4 ranges hold no IPv6");
  for (
    const bad of [
      "",
      "10.0.0.0/33",
      "::/129",
      "10.0.0/8",
      "1.2.3.4/",
      "1.2.3.4/8/8",
      "256.0.0.1",
      "a::b::c",
      "x",
    ]
  ) {
    assert.equal(parseCidrList(bad), undefined, bad);
  }
});

// --- Properties (fast-check): any address bytes, any prefix, any text ---

/** 4 or 16 address bytes. */
const addressBytes = fc.oneof(
  fc.uint8Array({ minLength: 4, maxLength: 4 }),
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  // IPv4-mapped IPv6 (::ffff:a.b.c.d), which has its own text form.
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((v4) => toIPv6(v4)),
);

/** Whether 16 bytes are an IPv4-mapped address (::ffff:a.b.c.d). */
const isMapped = (bytes: Uint8Array) =>
  bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff &&
  bytes[11] === 0xff;

/** A range as it should parse: within the mapped block (prefix ≥ 96), the IPv4 range it names. */
const asParsed = (network: Uint8Array, prefix: number) =>
  isMapped(network) && prefix >= 96
    ? { network: network.slice(12), prefix: prefix - 96 }
    : { network, prefix };

/** Bit `i` of `bytes`, most significant first. */
const bit = (bytes: Uint8Array, i: number) => (bytes[i >> 3] >> (7 - (i & 7))) & 1;

Deno.test("property: an address written by formatIp reads back as the same bytes", () => {
  fc.assert(
    fc.property(addressBytes, (bytes) => {
      const text = formatIp(bytes);
      assert.deepEqual(parseIp(text), bytes, text);
      assert.equal(formatIp(parseIp(text)!), text);
    }),
    { numRuns: 5000 },
  );
});

Deno.test("property: parseIp accepts exactly what node:net's isIP does, with the URL parser's bytes", () => {
  // Valid addresses of every shape, then mutated a character at a time, and plain noise.
  const mutated = fc.tuple(
    fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended()),
    fc.array(fc.tuple(fc.nat(), fc.constantFrom(..."0123456789abcdefABCDEF:.x "), fc.nat(2))),
  ).map(([text, edits]) =>
    edits.reduce((s, [at, char, how]) => {
      const i = at % (s.length + 1);
      return s.slice(0, i) + ["", char, char][how] + s.slice(i + (how === 2 ? 0 : 1));
    }, text)
  );
  const noise = fc.string({ unit: fc.constantFrom(..."0123456789af:."), maxLength: 20 });
  fc.assert(
    fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), mutated, noise), (text) => {
      const bytes = parseIp(text);
      assert.equal(bytes !== undefined, isIP(text) !== 0, `"${text}"`);
      if (bytes?.length === 16) {
        const host = new URL(`http://[${text}]/`).hostname.slice(1, -1); // hex only, canonical
        assert.deepEqual(bytes, parseIp(host), `"${text}" as ${host}`);
      }
    }),
    { numRuns: 10_000 },
  );
});

Deno.test("property: cidrContains matches an address by its first prefix bits, mapped IPv4 too", () => {
  const rangeAndAddress = addressBytes.chain((network) =>
    fc.tuple(
      fc.constant(network),
      fc.integer({ min: 0, max: network.length * 8 }),
      // Often near the network, so that the prefix decides.
      fc.oneof(
        fc.uint8Array({ minLength: network.length, maxLength: network.length }),
        fc.nat(network.length * 8 - 1).map((flip) => {
          const near = network.slice();
          near[flip >> 3] ^= 0x80 >> (flip & 7);
          return near;
        }),
      ),
    )
  );
  fc.assert(
    fc.property(rangeAndAddress, ([network, prefix, address]) => {
      const text = `${formatIp(network)}/${prefix}`;
      const ranges = parseCidrList(text);
      const range = asParsed(network, prefix);
      assert.deepEqual(ranges, [range], text);
      const addr = isMapped(address) ? address.subarray(12) : address;
      const inside = range.network.length === addr.length &&
        Array.from({ length: range.prefix }, (_, i) => bit(range.network, i) === bit(addr, i))
          .every(Boolean);
      assert.equal(
        cidrContains(ranges!, formatIp(address)),
        inside,
        `${formatIp(address)} in ${text}`,
      );
    }),
    { numRuns: 10_000 },
  );
});

Deno.test("property: parseCidrList reads any list back, and any other text is undefined, never a throw", () => {
  const item = addressBytes.chain((network) =>
    fc.tuple(fc.constant(network), fc.option(fc.integer({ min: 0, max: network.length * 8 })))
  );
  fc.assert(
    fc.property(
      fc.array(item, { minLength: 1, maxLength: 5 }),
      fc.constantFrom(",", ", ", " ,"),
      (items, comma) => {
        const text = items.map(([n, p]) => formatIp(n) + (p === null ? "" : `/${p}`)).join(comma);
        const expected = items.map(([network, p]) => asParsed(network, p ?? network.length * 8));
        assert.deepEqual(parseCidrList(text), expected, text);
      },
    ),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(
      fc.string({ unit: fc.constantFrom(..."0123456789af:./, "), maxLength: 30 }),
      (text) => {
        const ranges = parseCidrList(text);
        for (const { network, prefix } of ranges ?? []) {
          assert.ok(
            [4, 16].includes(network.length) && prefix >= 0 && prefix <= network.length * 8,
          );
        }
      },
    ),
    { numRuns: 10_000 },
  );
});

Deno.test("what the properties found: a range in the IPv4-mapped block is that IPv4 range", () => {
  // It stayed a 16-byte range while mapped clients are matched as IPv4, so it matched no one:
  // --deny ::ffff:10.0.0.0/104 let 10.1.2.3 in.
  const ranges = parseCidrList("::ffff:10.0.0.0/104")!;
  assert.deepEqual(ranges, parseCidrList("10.0.0.0/8"));
  assert.ok(cidrContains(ranges, "10.1.2.3") && cidrContains(ranges, "::ffff:10.1.2.3"));
  // Below /96 the range is wider than the mapped block: an IPv6 range, as before.
  assert.ok(!cidrContains(parseCidrList("::/0")!, "10.1.2.3"));
});
