import assert from "node:assert/strict";
import { cidrContains, parseCidrList } from "./cidr.ts";

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
