import assert from "node:assert/strict";
import { sendUdp } from "./send_udp.ts";
import { ConnectError, MismatchError, TimeoutError } from "../net/errors.ts";
import { Peer, withFakeUdp, withUdpServer } from "../cli/test_util_udp.ts";

const encoder = new TextEncoder();

Deno.test("sendUdp: gets the identical datagram back and says which try it was", async () => {
  await withUdpServer({}, async ({ addr }) => {
    const message = encoder.encode("ping\n");
    const result = await sendUdp({ hostname: "127.0.0.1", port: addr.port, message });
    assert.deepEqual(new Uint8Array(result.echo), message);
    assert.equal(result.attempts, 1);
    assert.deepEqual(result.remoteAddr, {
      transport: "udp",
      hostname: "127.0.0.1",
      port: addr.port,
    });
  });
});

Deno.test("sendUdp: sends again when no answer comes, and succeeds on a later try", async () => {
  await withFakeUdp((n, datagram) => n >= 2 ? [datagram] : [], async (port, fake) => {
    const result = await sendUdp({ hostname: "127.0.0.1", port, timeoutMs: 3000, retries: 3 });
    assert.equal(result.attempts, 2);
    assert.equal(fake.received.length, 2);
  });
});

Deno.test("sendUdp: no answer at all is a timeout after every try", async () => {
  await withFakeUdp(() => [], async (port, fake) => {
    await assert.rejects(
      sendUdp({ hostname: "127.0.0.1", port, timeoutMs: 300, retries: 2 }),
      (error: Error) => {
        assert.ok(error instanceof TimeoutError);
        assert.equal(
          error.message,
          `timed out after 0.3 s: no echo from 127.0.0.1:${port} (3 tries)`,
        );
        return true;
      },
    );
    await fake.next(3); // the first try and two retries, however late they are seen
    assert.equal(fake.received.length, 3);
  });
});

Deno.test("sendUdp: a different datagram is a mismatch naming the first differing byte", async () => {
  const changed = (_: number, datagram: Uint8Array) => [
    datagram.map((byte, i) => i === 4 ? byte ^ 1 : byte),
  ];
  await withFakeUdp(changed, async (port) => {
    const message = encoder.encode("abcdefgh");
    await assert.rejects(sendUdp({ hostname: "127.0.0.1", port, message }), (error: Error) => {
      assert.ok(error instanceof MismatchError);
      assert.equal(error.offset, 4);
      assert.match(
        error.message,
        /at byte 4: sent 0x65, got 0x64; received "abcddfgh" \(8 bytes\)$/,
      );
      return true;
    });
  });
  await withFakeUdp((_, datagram) => [datagram.subarray(0, 3)], async (port) => {
    const message = encoder.encode("abcdefgh");
    await assert.rejects(sendUdp({ hostname: "127.0.0.1", port, message }), (error: Error) => {
      assert.ok(error instanceof MismatchError);
      assert.match(error.message, /at byte 3: sent 0x64, got the end; received "abc" \(3 bytes\)$/);
      return true;
    });
  });
});

Deno.test("sendUdp: a closed port is reported as no answer (Deno does not surface ICMP)", async () => {
  const closed = await Peer.bind();
  const port = closed.port;
  await closed.close();
  await assert.rejects(
    sendUdp({ hostname: "127.0.0.1", port, timeoutMs: 200, retries: 0 }),
    TimeoutError,
  );
});

Deno.test("sendUdp: a message too big for one datagram fails to send, in one line", async () => {
  await assert.rejects(
    sendUdp({ hostname: "127.0.0.1", port: 9, message: new Uint8Array(70_000) }),
    (error: Error) => {
      assert.ok(error instanceof ConnectError);
      assert.equal(
        error.message,
        "cannot send to 127.0.0.1:9 (UDP): message too long for one datagram",
      );
      return true;
    },
  );
});
