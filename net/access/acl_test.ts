import assert from "node:assert/strict";
import { CidrSyntaxError, parseAccessList } from "./acl.ts";
import { echoOf, withServer } from "../../cli/test_util.ts";
import { sendUdp } from "../../diag/send_udp.ts";
import { serveUdp } from "../udp.ts";

Deno.test("acl: IPv4 networks match by prefix, host bits of a rule are ignored", () => {
  const acl = parseAccessList({ allow: "10.0.0.0/8,192.168.1.77/24" });
  assert.equal(acl.allows("10.255.0.1"), true);
  assert.equal(acl.allows("11.0.0.1"), false);
  assert.equal(acl.allows("192.168.1.1"), true);
  assert.equal(acl.allows("192.168.2.1"), false);
});

Deno.test("acl: an address without a prefix is one host", () => {
  const acl = parseAccessList({ allow: "127.0.0.1,::1" });
  assert.equal(acl.allows("127.0.0.1"), true);
  assert.equal(acl.allows("127.0.0.2"), false);
  assert.equal(acl.allows("::1"), true);
  assert.equal(acl.allows("::2"), false);
});

Deno.test("acl: IPv6 networks match, in any spelling", () => {
  const acl = parseAccessList({ allow: "2001:db8::/32,fe80::/10" });
  assert.equal(acl.allows("2001:0db8:0000:0000:0000:0000:0000:0001"), true);
  assert.equal(acl.allows("2001:DB8:FFFF::"), true);
  assert.equal(acl.allows("2001:db9::1"), false);
  assert.equal(acl.allows("fe80::1"), true);
});

Deno.test("acl: an IPv4 client on an IPv6 socket matches IPv4 rules", () => {
  assert.equal(parseAccessList({ allow: "127.0.0.0/8" }).allows("::ffff:127.0.0.1"), true);
  assert.equal(parseAccessList({ allow: "127.0.0.0/8" }).allows("::ffff:10.0.0.1"), false);
  assert.equal(parseAccessList({ deny: "127.0.0.1" }).allows("::ffff:127.0.0.1"), false);
});

Deno.test("acl: families never match each other", () => {
  assert.equal(parseAccessList({ allow: "0.0.0.0/0" }).allows("::1"), false);
  assert.equal(parseAccessList({ allow: "::/0" }).allows("127.0.0.1"), false);
});

Deno.test("acl: deny wins over allow; no allow list lets everyone else in", () => {
  const acl = parseAccessList({ allow: "10.0.0.0/8", deny: "10.0.0.13/32" });
  assert.equal(acl.allows("10.0.0.12"), true);
  assert.equal(acl.allows("10.0.0.13"), false);
  const denyOnly = parseAccessList({ deny: "192.0.2.0/24" });
  assert.equal(denyOnly.allows("192.0.2.200"), false);
  assert.equal(denyOnly.allows("198.51.100.1"), true);
  assert.equal(parseAccessList({}).allows("203.0.113.5"), true);
});

Deno.test("acl: /0 matches a whole family; a name is never allowed", () => {
  const acl = parseAccessList({ allow: "0.0.0.0/0" });
  assert.equal(acl.allows("255.255.255.255"), true);
  assert.equal(acl.allows("localhost"), false);
});

Deno.test("acl: a bad network is a one-line error naming it", () => {
  const bad = [
    "",
    "10.0.0",
    "10.0.0.256",
    "010.0.0.1",
    "10.0.0.0/33",
    "10.0.0.0/",
    "10.0.0.0/8/8",
    "10.0.0.0/-1",
    "::1/129",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7::8",
    "12345::",
    "1.2.3.4::",
    "example.com",
  ];
  for (const text of bad) {
    assert.throws(() => parseAccessList({ allow: `10.0.0.0/8,${text}` }), (error: Error) => {
      assert.ok(error instanceof CidrSyntaxError, text);
      assert.ok(error.message.startsWith(`invalid network "${text}": `), error.message);
      assert.ok(!error.message.includes("\n"));
      return true;
    });
  }
  assert.throws(() => parseAccessList({ deny: "nonsense" }), /"nonsense"/);
});

// The servers pass acceptFrom a client's address as the rules expect it.

Deno.test("an IPv4 client of a :: listener matches IPv4 rules, by TCP and by UDP", async () => {
  const acl = parseAccessList({ allow: "127.0.0.1/32" });
  const seen: string[] = [];
  const acceptFrom = ({ hostname }: Deno.NetAddr) => {
    seen.push(hostname);
    return acl.allows(hostname);
  };
  const hello = new TextEncoder().encode("mapped");
  await withServer({ hostname: "::", acceptFrom }, async ({ addr }) => {
    assert.deepEqual(await echoOf(addr.port, hello), hello);
  });
  const udp = await serveUdp({ hostname: "::", port: 0, acceptFrom });
  try {
    const { echo } = await sendUdp({ hostname: "127.0.0.1", port: udp.addr.port, message: hello });
    assert.deepEqual(new Uint8Array(echo), hello);
  } finally {
    await udp.shutdown();
  }
  // The TCP server names an IPv4-mapped client by its plain IPv4 address (as it logs it);
  // UDP passes it as the kernel names it on an IPv6 socket. The rules match both.
  assert.deepEqual(seen, ["127.0.0.1", "::ffff:127.0.0.1"]);
});
