/**
 * The relay to Deno's HTTP/2 server (h2_relay.ts): which connections open
 * with the client preface, and relayed connections as an h2c client (Deno's
 * own fetch, prior knowledge) sees them: each request answered with the
 * facts of the connection it came over, the bytes counted, a request that
 * did not come through a relay refused, GOAWAY when retired, nothing left
 * running after close (the sanitizers check).
 */
import assert from "node:assert/strict";
import { WAIT_MS, withTimeout } from "../../cli/test_util.ts";
import { closeQuietly } from "../io.ts";
import { ConnReader } from "./body.ts";
import { H2_PREFACE, LoopbackRelay, opensWithPreface } from "./h2_relay.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** A connection that yields `chunks`, one a read, then the end; counts its reads. */
function chunked(chunks: Uint8Array[]) {
  const conn = {
    reads: 0,
    read(buffer: Uint8Array): Promise<number | null> {
      conn.reads++;
      const next = chunks.shift();
      if (next === undefined) return Promise.resolve(null);
      buffer.set(next);
      return Promise.resolve(next.length);
    },
  };
  return conn;
}

Deno.test("opensWithPreface: the preface however split is h2, and what came after it stays read", async () => {
  const conn = chunked([text("PRI * HT"), text("TP/2.0\r\n\r\nS"), text("M\r\n\r\nrest")]);
  const reader = new ConnReader(conn, { bytes: 0 });
  assert.equal(await opensWithPreface(reader), true);
  assert.equal(new TextDecoder().decode(reader.bytes), "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nrest");
  assert.equal(conn.reads, 3);
});

Deno.test("opensWithPreface: an HTTP/1.1 request is told at its first read, a cut preface or nothing is not h2", async () => {
  const http1 = chunked([text("P"), text("OST / HTTP/1.1\r\n")]);
  const reader = new ConnReader(http1, { bytes: 0 });
  assert.equal(await opensWithPreface(reader), false);
  assert.equal(http1.reads, 2); // "P" could still be the preface; "PO" cannot
  assert.equal(new TextDecoder().decode(reader.bytes), "POST / HTTP/1.1\r\n");
  const cut = H2_PREFACE.subarray(0, 18); // "PRI * HTTP/2.0\r\n\r\n", then the end
  assert.equal(await opensWithPreface(new ConnReader(chunked([cut]), { bytes: 0 })), false);
  assert.equal(await opensWithPreface(new ConnReader(chunked([]), { bytes: 0 })), false);
  const given = new ConnReader(chunked([]), { bytes: 0 }, H2_PREFACE);
  assert.equal(await opensWithPreface(given), true);
});

/** A listener whose connections are relayed, each with its number as its facts. */
async function withRelay(
  body: (
    port: number,
    relay: LoopbackRelay<number>,
    progress: { bytes: number }[],
  ) => Promise<void>,
) {
  const relay = new LoopbackRelay<number>((request, relayed) =>
    new Response(`${relayed.facts} ${++relayed.requests} ${new URL(request.url).pathname}`)
  );
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const progress: { bytes: number }[] = [];
  const relaying: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      const counted = { bytes: 0 };
      progress.push(counted);
      relaying.push(
        relay.relay(conn, undefined, counted, progress.length).finally(() => closeQuietly(conn)),
      );
    }
  })();
  try {
    await body(listener.addr.port, relay, progress);
  } finally {
    listener.close();
    await accepting;
    await relay.close();
    await withTimeout(Promise.allSettled(relaying), WAIT_MS, "the relays to end");
  }
}

Deno.test("LoopbackRelay: each request is answered with the facts of the connection it came over", async () => {
  await withRelay(async (port, _relay, progress) => {
    const first = Deno.createHttpClient({ http1: false, http2: true });
    const second = Deno.createHttpClient({ http1: false, http2: true });
    try {
      const get = async (client: Deno.HttpClient, path: string) =>
        await (await fetch(`http://127.0.0.1:${port}${path}`, { client })).text();
      assert.equal(await get(first, "/a"), "1 1 /a");
      assert.equal(await get(first, "/b"), "1 2 /b");
      assert.equal(await get(second, "/c"), "2 1 /c");
      assert.ok(progress[0].bytes > 2 * H2_PREFACE.length, "both directions counted");
    } finally {
      first.close();
      second.close();
    }
  });
});

Deno.test("LoopbackRelay: a request straight to the internal port gets 421, not an answer", async () => {
  await withRelay(async (port, relay) => {
    const client = Deno.createHttpClient({ http1: false, http2: true });
    try {
      await (await fetch(`http://127.0.0.1:${port}/`, { client })).text();
      const direct = await fetch(`http://127.0.0.1:${relay.port}/`, { client });
      assert.equal(direct.status, 421);
      assert.equal(await direct.text(), "not a relayed connection\n");
    } finally {
      client.close();
    }
  });
});

Deno.test("LoopbackRelay: retired, a connection gets GOAWAY and the next one a fresh internal server", async () => {
  await withRelay(async (port, relay) => {
    const client = Deno.createHttpClient({ http1: false, http2: true });
    try {
      const get = async () => await (await fetch(`http://127.0.0.1:${port}/`, { client })).text();
      assert.equal(await get(), "1 1 /");
      const before = relay.port;
      const stopped = relay.retire();
      assert.equal(relay.port, undefined);
      await withTimeout(stopped, WAIT_MS, "the retired server to stop");
      // The client's pooled connection was told to go away: the next request opens another.
      assert.equal(await get(), "2 1 /");
      assert.notEqual(relay.port, before);
    } finally {
      client.close();
    }
  });
});

Deno.test("LoopbackRelay: closed, it relays nothing more and its internal server is gone", async () => {
  const relay = new LoopbackRelay<number>(() => new Response("x"));
  const [a, b] = await pair();
  try {
    const relaying = relay.relay(a, H2_PREFACE, { bytes: 0 }, 1);
    const port = relay.port!; // started as the relay began, before its first await
    b.close();
    await relaying;
    await relay.close();
    await assert.rejects(
      Deno.connect({ hostname: "127.0.0.1", port }),
      Deno.errors.ConnectionRefused,
    );
    await assert.rejects(relay.relay(a, undefined, { bytes: 0 }, 2), Deno.errors.BadResource);
  } finally {
    closeQuietly(a);
    closeQuietly(b);
  }
});

/** Two ends of a loopback TCP connection. */
async function pair(): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [accepted, dialed] = await Promise.all([
    listener.accept(),
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
  ]);
  listener.close();
  return [accepted, dialed];
}
