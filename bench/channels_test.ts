import assert from "node:assert/strict";
import { channelKit } from "./channels.ts";
import { ConnInput } from "./conn_input.ts";
import { HttpRoundTrip } from "./http_trip.ts";
import type { BenchProtocol, LoadShare } from "./share.ts";
import { WsRoundTrip } from "./ws_trip.ts";
import { withServer } from "../cli/test_util.ts";
import { withHttpServer } from "../cli/test_util_http.ts";

const kit = channelKit({ ConnInput, HttpRoundTrip, WsRoundTrip });

function shareOf(port: number, protocol: BenchProtocol): LoadShare {
  return {
    mode: "pingpong",
    hostname: "127.0.0.1",
    port,
    connections: 1,
    size: 5,
    warmupMs: 0,
    overrunMs: 5000,
    protocol,
    http: { host: "h", path: "/" },
  };
}

Deno.test("a channel makes round trips in its share's protocol and is forgotten once closed", async () => {
  const message = new TextEncoder().encode("hello");
  await withServer({}, async ({ addr }) => {
    const live = new Set<Deno.Conn>();
    const { conn, trip } = await kit.open(shareOf(addr.port, "tcp"), live);
    const echo = new Uint8Array(5);
    assert.equal(await trip.roundTrip(message, echo), 5);
    assert.deepEqual(echo, message);
    assert.deepEqual([...live], [conn]);
    kit.closeAll([conn], live);
    assert.equal(live.size, 0);
  });
  await withHttpServer({}, async ({ port, served }) => {
    for (const protocol of ["http", "ws"] as const) {
      const live = new Set<Deno.Conn>();
      const { trip } = await kit.open(shareOf(port, protocol), live);
      const echo = new Uint8Array(5);
      assert.equal(await trip.roundTrip(message, echo), 5, protocol);
      assert.deepEqual(echo, message, protocol);
      assert.equal(trip.reusable, true, protocol);
      kit.closeAll(live, live);
    }
    // The POST, then the WebSocket's upgrade (its messages are no HTTP requests).
    assert.deepEqual(served.map(({ description }) => description.method), ["POST", "GET"]);
  });
});

Deno.test("a channel that cannot connect fails as a ConnectError naming where", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  const live = new Set<Deno.Conn>();
  await assert.rejects(() => kit.open(shareOf(port, "http"), live), {
    name: "ConnectError",
    message: `cannot connect to 127.0.0.1:${port}: connection refused`,
  });
  assert.equal(live.size, 0);
});
