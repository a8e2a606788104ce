import assert from "node:assert/strict";
import { echoFrom, startServe } from "../testing.ts";
import { canBindUdp, Peer } from "../testing_udp.ts";

const haveSecondLoopback = await canBindUdp("127.0.0.2");

Deno.test({
  name:
    "serve --udp --allow --log-format json: UDP events and a denied TCP client are ledger lines" +
    (haveSecondLoopback ? "" : " (skipped: needs to bind 127.0.0.2)"),
  ignore: !haveSecondLoopback,
  async fn() {
    const server = await startServe("--udp", "--log-format", "json", "--allow", "127.0.0.1");
    const port = Number(server.port);
    const allowed = await Peer.bind("127.0.0.1");
    const outsider = await Peer.bind("127.0.0.2");
    const allowedPort = allowed.port;
    try {
      await server.printed(/"event":"listening","transport":"udp"/);
      outsider.send(new TextEncoder().encode("shut out"), port);
      await server.printed(/"event":"dropped"/);
      allowed.send(new TextEncoder().encode("hi\n"), port);
      await allowed.next();
      assert.deepEqual(await echoFrom("127.0.0.2", port, new Uint8Array([1])), new Uint8Array());
      await server.printed(/"event":"denied"/);
    } finally {
      await allowed.close();
      await outsider.close();
    }
    assert.equal(await server.stopped(), 0);
    const events = server.out.map((line) => JSON.parse(line));
    const udp = events.filter((event) => event.transport === "udp")
      .map(({ time: _, ...rest }) => rest);
    assert.deepEqual(udp, [
      { event: "listening", transport: "udp", local: `127.0.0.1:${port}` },
      { event: "dropped", transport: "udp", datagrams: 1, reasons: { denied: 1 } },
      {
        event: "datagram",
        transport: "udp",
        peer: `127.0.0.1:${allowedPort}`,
        local: `127.0.0.1:${port}`,
        bytes: 3,
        data: "hi\\n",
      },
      {
        event: "stopped",
        transport: "udp",
        datagrams: 1,
        bytes: 3,
        dropped: 1,
        reasons: { denied: 1 },
      },
    ]);
    const denied = events.find((event) => event.event === "denied");
    assert.match(denied.peer, /^127\.0\.0\.2:\d+$/);
    assert.deepEqual([denied.transport, denied.reason, denied.rule], [
      "tcp",
      "denied",
      "--allow/--deny",
    ]);
    assert.ok(events.every((event) => typeof event.time === "string"));
  },
});
