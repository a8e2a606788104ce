import assert from "node:assert/strict";
import net from "node:net";
import { parseAccessList } from "./acl.ts";
import { echoFrom, echoOf, WAIT_MS, withServer, withTimeout } from "../../cli/testing.ts";
import { serveUdp } from "../udp.ts";
import { sendUdp } from "../../diag/send_udp.ts";

/** Linux routes all of 127/8 to lo, so 127.0.0.2 can be a second client address. */
const haveSecondLoopback = await new Promise<boolean>((resolve) => {
  const probe = net.createServer();
  probe.once("error", () => resolve(false));
  probe.listen(0, "127.0.0.2", () => probe.close(() => resolve(true)));
});

Deno.test({
  name: "server closes a client refused by acceptFrom at once, unread, and reports it" +
    (haveSecondLoopback ? "" : " (skipped: needs to bind 127.0.0.2)"),
  ignore: !haveSecondLoopback,
  async fn() {
    const acl = parseAccessList({ allow: "127.0.0.1/32" });
    const denied: string[] = [];
    const served: string[] = [];
    await withServer({
      acceptFrom: ({ hostname }) => acl.allows(hostname),
      onDeny: ({ hostname }) => denied.push(hostname),
      onConnection: ({ remoteAddr }) => served.push((remoteAddr as Deno.NetAddr).hostname),
      onData: () => assert.fail("a denied client's bytes were read"),
    }, async ({ addr }) => {
      const hello = new TextEncoder().encode("let me in");
      assert.deepEqual(
        await withTimeout(echoFrom("127.0.0.2", addr.port, hello), WAIT_MS, "close"),
        new Uint8Array(),
      );
      assert.deepEqual(denied, ["127.0.0.2"]);
      assert.deepEqual(served, []);
    });
    // The allowed address is still served.
    await withServer({ acceptFrom: ({ hostname }) => acl.allows(hostname) }, async ({ addr }) => {
      const hello = new TextEncoder().encode("hello");
      assert.deepEqual(await echoOf(addr.port, hello), hello);
    });
  },
});

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
