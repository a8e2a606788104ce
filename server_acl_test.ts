import assert from "node:assert/strict";
import net from "node:net";
import { parseAccessList } from "./acl.ts";
import { echoFrom, echoOf, withServer } from "./test_util.ts";
import { bounded } from "./udp_test_util.ts";

/** Linux routes all of 127/8 to lo, so 127.0.0.2 can be a second client address. */
const haveSecondLoopback = await new Promise<boolean>((resolve) => {
  const probe = net.createServer();
  probe.once("error", () => resolve(false));
  probe.listen(0, "127.0.0.2", () => probe.close(() => resolve(true)));
});

Deno.test({
  name: "server closes a client refused by acceptFrom at once, unread, and reports it",
  ignore: !haveSecondLoopback,
  async fn() {
    const acl = parseAccessList({ allow: "127.0.0.1/32" });
    const denied: string[] = [];
    const served: string[] = [];
    await withServer({
      acceptFrom: ({ hostname }) => acl.allows(hostname),
      onDeny: ({ hostname }) => denied.push(hostname),
      onConnection: ({ remoteAddr }) => served.push(remoteAddr.hostname),
      onData: () => assert.fail("a denied client's bytes were read"),
    }, async ({ addr }) => {
      const hello = new TextEncoder().encode("let me in");
      assert.deepEqual(
        await bounded(echoFrom("127.0.0.2", addr.port, hello), "close"),
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
