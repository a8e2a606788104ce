/**
 * `serve --http` over HTTP/2 (h2.ts), as a real h2 client sees it: Deno's
 * fetch with prior knowledge on cleartext (h2c) and by ALPN over TLS (h2),
 * against the library server with the HTTP handler and its H2Server: the
 * description, the raw echo byte for byte, reserved paths and the drain,
 * shaping and its faults, refusals, and the accept loop's rules (deny, the
 * connection cap) applied to h2 connections as to any.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { concat, pattern, readToEnd, testCertificate, withServer } from "../../cli/test_util.ts";
import { writeAll } from "../io.ts";
import type { ServeOptions } from "../../server.ts";
import type { RequestDescription } from "./describe.ts";
import { H2Server } from "./h2.ts";
import { H2_PREFACE } from "./h2_relay.ts";
import { httpHandler, type HttpHandlerOptions, type ServedRequest } from "./handler.ts";
import { patternText } from "./reply.ts";
import type { HttpRequestError } from "./request.ts";

/** What a test server saw: each request served and each refused. */
interface Seen {
  served: ServedRequest[];
  refused: HttpRequestError[];
}

/**
 * Runs `body` with `serve --http`'s handler and HTTP/2 on 127.0.0.1 and a
 * free port, and an h2c (prior knowledge) fetch client; closes all after.
 */
async function withH2(
  options: Partial<HttpHandlerOptions>,
  serveOptions: Omit<ServeOptions, "path" | "handler">,
  body: (url: string, client: Deno.HttpClient, seen: Seen) => Promise<void>,
): Promise<void> {
  const seen: Seen = { served: [], refused: [] };
  const handlerOptions: HttpHandlerOptions = {
    instance: "h2-test",
    onRequest: (_info, served) => seen.served.push(served),
    onRefused: (_info, error) => seen.refused.push(error),
    ...options,
  };
  const h2 = new H2Server(handlerOptions);
  const client = Deno.createHttpClient({ http1: false, http2: true });
  try {
    await withServer(
      { ...serveOptions, handler: httpHandler({ ...handlerOptions, h2 }) },
      async ({ addr }) => await body(`http://127.0.0.1:${addr.port}`, client, seen),
    );
  } finally {
    client.close();
    await h2.close();
  }
}

const noOptions = {};

Deno.test("h2c: a request is described as received, with protocol h2c, merged headers, the peer, connection and request numbers", async () => {
  await withH2(noOptions, noOptions, async (url, client, seen) => {
    const headers = new Headers([["X-A", "1"], ["X-A", "2"], ["Accept", "application/json"]]);
    const first = await fetch(`${url}/a/b?x=1&y=2`, {
      client,
      method: "POST",
      body: "hello",
      headers,
    });
    assert.equal(first.status, 200);
    assert.equal(first.headers.get("content-type"), "application/json");
    assert.equal(first.headers.get("x-echo-instance"), "h2-test");
    const description: RequestDescription = await first.json();
    assert.equal(description.protocol, "h2c");
    assert.equal(description.method, "POST");
    assert.equal(description.path, "/a/b");
    assert.equal(description.query, "x=1&y=2");
    assert.equal(description.headersMerged, true);
    assert.deepEqual(description.headers[0], [":authority", new URL(url).host]);
    assert.deepEqual(description.headers.find(([name]) => name === "x-a"), ["x-a", "1, 2"]);
    assert.equal(description.tls, undefined);
    assert.equal(description.client, undefined);
    const peer = description.peer as { address: string; port: number };
    assert.equal(peer.address, "127.0.0.1");
    assert.deepEqual(description.body, {
      bytes: 5,
      sha256: createHash("sha256").update("hello").digest("hex"),
      encoding: "utf-8",
      data: "hello",
    });
    const second = await fetch(`${url}/c`, { client });
    const again: RequestDescription = await second.json();
    assert.deepEqual(again.connection, { id: description.connection.id, request: 2 });
    assert.deepEqual(again.peer, description.peer, "the same client connection");
    assert.equal(second.headers.get("x-echo-request"), "2");
    assert.deepEqual(seen.served.map(({ status }) => status), [200, 200]);
    assert.equal(seen.served[0].description.protocol, "h2c");
    assert.ok(seen.served[0].bytesOut > 0);
  });
});

Deno.test("h2c raw format: 1 MiB of every byte value comes back exactly, described in X-Echo-* headers", async () => {
  await withH2(noOptions, noOptions, async (url, client, seen) => {
    const sent = pattern(1 << 20) as Uint8Array<ArrayBuffer>;
    const response = await fetch(`${url}/up`, {
      client,
      method: "PUT",
      body: sent,
      headers: { accept: "application/octet-stream", "content-type": "application/x-test" },
    });
    assert.deepEqual(new Uint8Array(await response.arrayBuffer()), sent);
    assert.equal(response.headers.get("content-type"), "application/x-test");
    assert.equal(response.headers.get("x-echo-protocol"), "h2c");
    assert.equal(response.headers.get("x-echo-method"), "PUT");
    assert.equal(response.headers.get("x-echo-path"), "/up");
    assert.match(response.headers.get("x-echo-peer")!, /^127\.0\.0\.1:\d+$/);
    const { body } = seen.served[0].description;
    assert.equal(body.bytes, sent.length);
    assert.equal(body.sha256, createHash("sha256").update(sent).digest("hex"));
    assert.equal(body.truncated, true);
    assert.equal(seen.served[0].bytesOut, sent.length);
  });
});

Deno.test("h2c: /healthz and /readyz; draining, /readyz is 503 and the connection gets GOAWAY after the reply", async () => {
  let draining = false;
  await withH2({ isDraining: () => draining }, noOptions, async (url, client) => {
    const get = async (path: string) => {
      const response = await fetch(`${url}${path}`, { client });
      return [response.status, await response.text(), response.headers.get("x-echo-connection")];
    };
    assert.deepEqual(await get("/healthz"), [200, "ok\n", "1"]);
    assert.deepEqual(await get("/readyz"), [200, "ready\n", "1"]);
    draining = true;
    assert.deepEqual(await get("/readyz"), [503, "draining\n", "1"]);
    // GOAWAY once that reply was sent: the pool's next request opens a new connection, still served.
    const next = await get("/healthz");
    assert.deepEqual(next.slice(0, 2), [200, "ok\n"]);
    assert.notEqual(next[2], "1");
  });
});

Deno.test("h2c shaping: status, extra headers, size's pattern; a bad value or format is a 400 naming it", async () => {
  await withH2(noOptions, noOptions, async (url, client, seen) => {
    const shaped = await fetch(`${url}/?status=503&header=X-Shaped:yes`, { client });
    assert.equal(shaped.status, 503);
    assert.equal(shaped.headers.get("x-shaped"), "yes");
    assert.equal((await shaped.json()).protocol, "h2c");
    const sized = await fetch(`${url}/?size=100000`, { client });
    assert.equal(await sized.text(), patternText(100_000));
    const byHeader = await fetch(`${url}/`, { client, headers: { "X-Echo-Status": "404" } });
    assert.equal(byHeader.status, 404);
    await byHeader.body?.cancel();
    const bad = await fetch(`${url}/?delay=20s`, { client });
    assert.equal(bad.status, 400);
    assert.equal(await bad.text(), "bad parameter delay: 20s is above --max-delay 10s\n");
    const format = await fetch(`${url}/?format=xml`, { client });
    assert.equal(format.status, 400);
    assert.equal(
      await format.text(),
      "bad parameter format: expected json, text or raw\n",
    );
    const informational = await fetch(`${url}/?status=103`, { client });
    assert.equal(informational.status, 400);
    assert.match(
      await informational.text(),
      /^bad parameter status: 103 is informational/,
    );
    assert.deepEqual(seen.refused.map(({ status }) => status), [400, 400, 400]);
    const text = await fetch(`${url}/t`, { client, headers: { accept: "text/plain" } });
    assert.match(await text.text(), /^instance: {3}h2-test\nprotocol: {3}h2c\n/);
  });
});

Deno.test("h2c faults: reset=N sends N body bytes, then resets the stream; close=after-headers sends the head only; the connection goes on", async () => {
  await withH2(noOptions, noOptions, async (url, client, seen) => {
    const reset = await fetch(`${url}/?size=50000&reset=1000`, { client });
    assert.equal(reset.status, 200);
    const { bytes, error } = await readUntilError(reset.body!);
    assert.equal(bytes, 1000);
    assert.ok(error, "the stream was reset, not ended");
    const past = await readUntilError(
      (await fetch(`${url}/?size=10&reset=1000`, { client })).body!,
    );
    assert.deepEqual([past.bytes, past.error !== undefined], [10, true], "whole, then the reset");
    const headersOnly = await fetch(`${url}/?close=after-headers`, { client });
    assert.equal(headersOnly.status, 200);
    assert.equal(headersOnly.headers.get("x-echo-request"), "3");
    const cut = await readUntilError(headersOnly.body!);
    assert.deepEqual([cut.bytes, cut.error !== undefined], [0, true]);
    const after = await fetch(`${url}/`, { client });
    assert.equal(after.headers.get("x-echo-request"), "4");
    assert.equal(
      after.headers.get("x-echo-connection"),
      headersOnly.headers.get("x-echo-connection"),
    );
    await after.body?.cancel();
    assert.deepEqual(seen.served.slice(0, 3).map(({ bytesOut }) => bytesOut), [1000, 10, 0]);
  });
});

Deno.test("h2c --max-body: a declared length over it is a 413 before any of it is read", async () => {
  await withH2({ maxBodyBytes: 10 }, noOptions, async (url, client, seen) => {
    const response = await fetch(`${url}/`, { client, method: "POST", body: "x".repeat(11) });
    assert.equal(response.status, 413);
    assert.equal(
      await response.text(),
      "content too large: body of 11 bytes is over --max-body 10\n",
    );
    assert.equal(seen.refused[0].status, 413);
    const small = await fetch(`${url}/`, { client, method: "POST", body: "x".repeat(10) });
    assert.equal((await small.json()).body.bytes, 10);
  });
});

Deno.test("h2 over TLS: ALPN h2 is described as h2 with the handshake's version, cipher and ALPN; a client that offers only http/1.1 gets HTTP/1.1", async () => {
  const { cert, key } = await testCertificate();
  const tlsOptions = { tls: { cert, key }, alpnProtocols: ["h2", "http/1.1"] };
  await withH2(noOptions, tlsOptions, async (url, _client, seen) => {
    const https = url.replace("http:", "https:");
    const h2 = Deno.createHttpClient({ caCerts: [cert] });
    const http1 = Deno.createHttpClient({ caCerts: [cert], http2: false });
    try {
      const over2: RequestDescription = await (await fetch(`${https}/`, { client: h2 })).json();
      assert.equal(over2.protocol, "h2");
      assert.equal(over2.tls?.alpn, "h2");
      assert.equal(over2.tls?.version, "TLSv1.3");
      assert.match(over2.tls?.cipher ?? "", /^TLS_\w+$/);
      const raw = await fetch(`${https}/`, {
        client: h2,
        method: "POST",
        body: "tls",
        headers: { accept: "application/octet-stream" },
      });
      assert.equal(await raw.text(), "tls");
      assert.match(raw.headers.get("x-echo-tls") ?? "", /^TLSv1\.3 TLS_\w+ alpn=h2$/);
      const over1: RequestDescription = await (await fetch(`${https}/`, { client: http1 })).json();
      assert.equal(over1.protocol, "HTTP/1.1");
      assert.equal(over1.tls?.alpn, "http/1.1");
      assert.deepEqual(seen.served.map(({ description }) => description.protocol), [
        "h2",
        "h2",
        "HTTP/1.1",
      ]);
    } finally {
      h2.close();
      http1.close();
    }
  });
});

Deno.test("h2c: --deny and the connection cap apply to h2 connections as to any", async () => {
  const denied: string[] = [];
  const denyAll = {
    acceptFrom: () => false,
    onDeny: (addr: Deno.NetAddr) => denied.push(addr.hostname),
  };
  await withH2(noOptions, denyAll, async (url, client, seen) => {
    await assert.rejects(fetch(`${url}/`, { client }));
    assert.deepEqual(denied.slice(0, 1), ["127.0.0.1"]);
    assert.equal(seen.served.length, 0);
  });
  const rejected: string[] = [];
  const capped = {
    maxConnections: 1,
    onReject: (addr: Deno.Addr) => rejected.push((addr as Deno.NetAddr).hostname),
  };
  await withH2(noOptions, capped, async (url, client) => {
    const first = await fetch(`${url}/`, { client });
    await first.body?.cancel(); // the pool keeps its connection open: the one allowed
    const other = Deno.createHttpClient({ http1: false, http2: true });
    try {
      await assert.rejects(fetch(`${url}/`, { client: other }));
      assert.deepEqual(rejected.slice(0, 1), ["127.0.0.1"]);
    } finally {
      other.close();
    }
    const again = await fetch(`${url}/`, { client });
    assert.equal(again.headers.get("x-echo-request"), "2");
    await again.body?.cancel();
  });
});

Deno.test("h2c: 40 connections of random bytes after the preface end only themselves; the server goes on", async () => {
  await withH2(noOptions, noOptions, async (url, client) => {
    const { port } = new URL(url);
    let seed = 17;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 40; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
      const junk = Uint8Array.from({ length: Math.floor(random() * 2048) }, () => random() * 256);
      try {
        await writeAll(conn, concat([H2_PREFACE, junk]));
        await conn.closeWrite();
        await readToEnd(conn); // the server's GOAWAY, or nothing, then its end
      } catch (error) {
        if (!(error instanceof Deno.errors.ConnectionReset)) throw error;
      } finally {
        conn.close();
      }
    }
    const after = await fetch(`${url}/`, { client });
    assert.equal((await after.json()).protocol, "h2c");
  });
});

/** Reads a body until it ends or fails: how many bytes came, and the failure. */
async function readUntilError(body: ReadableStream<Uint8Array>) {
  let bytes = 0;
  try {
    for await (const chunk of body) bytes += chunk.length;
    return { bytes, error: undefined };
  } catch (error) {
    return { bytes, error };
  }
}
