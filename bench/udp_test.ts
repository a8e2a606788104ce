import assert from "node:assert/strict";
import { bench } from "./bench.ts";
import { MismatchError, TimeoutError } from "../net/errors.ts";
import { withFakeUdp, withUdpServer } from "../cli/test_util_udp.ts";

Deno.test("bench --udp completes exactly the counted round trips, all verified", async () => {
  let echoed = 0;
  const summary = await withUdpServer({
    ratePerSource: 0,
    onDatagram: (_, datagram) => void (echoed += datagram.length),
  }, async ({ addr }) => {
    const report = await bench({
      hostname: "127.0.0.1",
      port: addr.port,
      udp: true,
      connections: 3,
      size: 100,
      count: 300,
    });
    assert.equal(report.operations, 300);
    assert.equal(report.bytes, 30_000);
    assert.equal(report.lost, 0);
    assert.ok(report.latencyMs !== null && report.latencyMs.min <= report.latencyMs.p99);
    // The round trips go into the same latency histogram as TCP's: every one, p99.9 too.
    assert.equal(report.latencyMs.count, 300);
    assert.ok(report.latencyMs.p99 <= report.latencyMs.p999);
    assert.ok(report.latencyMs.p999 <= report.latencyMs.max);
  });
  assert.equal(echoed, 30_000);
  assert.equal(summary.datagrams, 300);
});

Deno.test("bench --udp counts a datagram with no echo as lost and goes on", async () => {
  await withFakeUdp(
    (n, datagram) => n % 2 === 0 ? [datagram] : [],
    async (port) => {
      const report = await bench({
        hostname: "127.0.0.1",
        port,
        udp: true,
        count: 10,
        lossTimeoutMs: 50,
      });
      assert.equal(report.operations, 5);
      assert.equal(report.lost, 5);
    },
  );
});

Deno.test("bench --udp ignores the late echo of a datagram already counted lost", async () => {
  // No echo for the first datagram; the second gets the first's, late, then its own.
  let first: Uint8Array | undefined;
  await withFakeUdp(
    (n, datagram) => n === 1 ? (first = datagram, []) : n === 2 ? [first!, datagram] : [datagram],
    async (port) => {
      const report = await bench({
        hostname: "127.0.0.1",
        port,
        udp: true,
        count: 4,
        lossTimeoutMs: 100,
      });
      assert.equal(report.lost, 1);
      assert.equal(report.operations, 3);
    },
  );
});

Deno.test("bench --udp stops at a changed echo with the differing byte", async () => {
  await withFakeUdp(
    (_, datagram) => [datagram.map((byte, i) => i === 10 ? byte ^ 0xff : byte)],
    async (port) => {
      await assert.rejects(
        bench({ hostname: "127.0.0.1", port, udp: true, count: 3 }),
        (error: Error) => {
          assert.ok(error instanceof MismatchError);
          assert.equal(error.offset, 10);
          return true;
        },
      );
    },
  );
});

Deno.test("bench --udp with no echo at all fails as a timeout, never hangs", async () => {
  await withFakeUdp(() => [], async (port) => {
    await assert.rejects(
      bench({ hostname: "127.0.0.1", port, udp: true, count: 3, lossTimeoutMs: 50 }),
      (error: Error) => {
        assert.ok(error instanceof TimeoutError);
        assert.equal(
          error.message,
          `no echo from 127.0.0.1:${port} (UDP): all 3 datagrams lost`,
        );
        return true;
      },
    );
  });
});

Deno.test("bench --udp ended by its signal stops sending and reports what it measured", async () => {
  const stop = new AbortController();
  let received = 0;
  await withUdpServer({
    ratePerSource: 0,
    onDatagram: () => void (++received === 5 && stop.abort()),
  }, async ({ addr }) => {
    const report = await bench({
      hostname: "127.0.0.1",
      port: addr.port,
      udp: true,
      count: 1000,
      signal: stop.signal,
    });
    assert.equal(report.operations, 5);
    assert.equal(report.lost, 0);
  });
  assert.equal(received, 5);
});
