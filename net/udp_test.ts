import assert from "node:assert/strict";
import { parseAccessList } from "./access/acl.ts";
import { type DropReason, serveUdp } from "./udp.ts";
import { sendUdp } from "../diag/send_udp.ts";
import { pattern, WAIT_MS, withTimeout } from "../cli/test_util.ts";
import { canBindUdp, Peer, withUdpServer } from "../cli/test_util_udp.ts";

const encoder = new TextEncoder();

/** Linux routes all of 127/8 to lo, so 127.0.0.2 can be a second source address. */
const haveSecondLoopback = await canBindUdp("127.0.0.2");
const haveUdpPort19 = await canBindUdp("127.0.0.1", 19);

Deno.test("udp: each datagram comes back unchanged, one for one, empty ones too", async () => {
  const summary = await withUdpServer({}, async ({ addr }) => {
    const peer = await Peer.bind();
    try {
      const datagrams = [
        Uint8Array.from({ length: 256 }, (_, i) => i),
        new Uint8Array(0),
        pattern(60_000),
      ];
      for (const datagram of datagrams) peer.send(datagram, addr.port);
      await peer.next(3);
      // UDP keeps no order (Deno's node:dgram may reorder a burst of sends):
      // compare by size, which differs for each.
      const bySize = (list: Uint8Array[]) =>
        list.map((d) => new Uint8Array(d)).sort((a, b) => a.length - b.length);
      assert.deepEqual(bySize(peer.received), bySize(datagrams));
    } finally {
      await peer.close();
    }
  });
  assert.equal(summary.datagrams, 3);
  assert.equal(summary.bytes, 60_256);
});

Deno.test("udp: onDatagram sees the sender and the bytes", async () => {
  const seen: string[] = [];
  await withUdpServer({
    onDatagram: (from, datagram) => seen.push(`${from.port} ${new TextDecoder().decode(datagram)}`),
  }, async ({ addr }) => {
    const peer = await Peer.bind();
    try {
      peer.send(encoder.encode("hello"), addr.port);
      await peer.next();
      assert.deepEqual(seen, [`${peer.port} hello`]);
    } finally {
      await peer.close();
    }
  });
});

Deno.test("udp: a server on :: answers IPv4 and IPv6 senders", async () => {
  const server = await serveUdp({ hostname: "::", port: 0 });
  try {
    for (const hostname of ["127.0.0.1", "::1"]) {
      const message = encoder.encode(`via ${hostname}`);
      const { echo } = await sendUdp({ hostname, port: server.addr.port, message });
      assert.deepEqual(new Uint8Array(echo), message);
    }
  } finally {
    await server.shutdown();
  }
});

/**
 * Sends `datagram` from `sender`, waits until the server reports dropping it,
 * then proves the server has moved on (a probe from another socket is
 * echoed) before checking that `sender` got nothing back.
 */
async function assertDropped(
  senderAddress: string,
  senderPort: number,
  options: { acceptFrom?: (from: Deno.NetAddr) => boolean },
  reason: DropReason,
): Promise<void> {
  const drops: [string, DropReason][] = [];
  let sentFrom = 0;
  const dropped = Promise.withResolvers<void>();
  const summary = await withUdpServer({
    ...options,
    onDrop: (from, why) => {
      drops.push([`${from.hostname}:${from.port}`, why]);
      dropped.resolve();
    },
  }, async ({ addr }) => {
    const sender = await Peer.bind(senderAddress, senderPort);
    const probe = await Peer.bind();
    sentFrom = sender.port;
    try {
      sender.send(encoder.encode("are you there?"), addr.port);
      await withTimeout(dropped.promise, WAIT_MS, "the drop");
      probe.send(encoder.encode("probe"), addr.port);
      await probe.next();
      assert.deepEqual(sender.received, []);
    } finally {
      await sender.close();
      await probe.close();
    }
  });
  assert.deepEqual(drops, [[`${senderAddress}:${sentFrom}`, reason]]);
  assert.equal(summary.datagrams, 1); // the probe only
  assert.equal(summary.dropped[reason], 1);
}

Deno.test({
  name: "udp: no answer to source port 19 (chargen), which would loop forever" +
    (haveUdpPort19 ? "" : " (skipped: needs to bind UDP port 19, as root)"),
  ignore: !haveUdpPort19,
  fn: () => assertDropped("127.0.0.1", 19, {}, "loop"),
});

Deno.test({
  name: "udp: a sender refused by acceptFrom (127.0.0.2, allowed 127.0.0.1/32) is dropped" +
    (haveSecondLoopback ? "" : " (skipped: needs to bind 127.0.0.2)"),
  ignore: !haveSecondLoopback,
  fn() {
    const acl = parseAccessList({ allow: "127.0.0.1/32" });
    return assertDropped(
      "127.0.0.2",
      0,
      { acceptFrom: ({ hostname }) => acl.allows(hostname) },
      "denied",
    );
  },
});

Deno.test({
  name: "udp: one source flooding is limited while another still gets its echoes" +
    (haveSecondLoopback ? "" : " (skipped: needs to bind 127.0.0.2)"),
  ignore: !haveSecondLoopback,
}, async () => {
  const FLOOD = 100;
  const RATE = 10;
  let floodEchoes = 0;
  let floodDrops = 0;
  const floodDone = Promise.withResolvers<void>();
  const flooder = await Peer.bind("127.0.0.2");
  const quiet = await Peer.bind("127.0.0.1");
  const countFlood = (from: Deno.NetAddr, drop: boolean) => {
    if (from.hostname !== "127.0.0.2") return;
    if (drop) floodDrops++;
    else floodEchoes++;
    if (floodEchoes + floodDrops === FLOOD) floodDone.resolve();
  };
  try {
    const began = performance.now();
    await withUdpServer({
      ratePerSource: RATE,
      onDatagram: (from) => countFlood(from, false),
      onDrop: (from, reason) => {
        assert.equal(reason, "rate");
        countFlood(from, true);
      },
    }, async ({ addr }) => {
      for (let i = 0; i < FLOOD; i++) flooder.send(pattern(100, i), addr.port);
      const hello = encoder.encode("still there?");
      quiet.send(hello, addr.port);
      assert.deepEqual(new Uint8Array(await quiet.next()), hello);
      await withTimeout(floodDone.promise, WAIT_MS, `the server to see all ${FLOOD} datagrams`);
    });
    // The budget renews each second: at most RATE per started second, plus the first.
    const windows = Math.ceil((performance.now() - began) / 1000) + 1;
    assert.ok(floodEchoes <= RATE * windows, `${floodEchoes} echoes in ${windows} windows`);
    assert.ok(floodDrops >= FLOOD - RATE * windows, `${floodDrops} dropped`);
    assert.equal(flooder.received.length <= floodEchoes, true);
  } finally {
    await flooder.close();
    await quiet.close();
  }
});

Deno.test("udp: ratePerSource 0 answers every datagram", async () => {
  const summary = await withUdpServer({ ratePerSource: 0 }, async ({ addr }) => {
    const peer = await Peer.bind();
    try {
      for (let i = 0; i < 100; i++) peer.send(pattern(10, i), addr.port);
      await peer.next(100);
    } finally {
      await peer.close();
    }
  });
  assert.equal(summary.datagrams, 100);
});
