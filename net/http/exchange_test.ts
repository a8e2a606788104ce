import assert from "node:assert/strict";
import type { StreamConn } from "../io.ts";
import { ConnReader } from "./body.ts";
import { echoHeaders, type Exchange, persistent, rawHeaders, resetConnection } from "./exchange.ts";
import { headerValue, parseRequestHead } from "./request.ts";

const head = (text: string) => parseRequestHead(new TextEncoder().encode(text))!;

function exchangeOf(overrides: Partial<Exchange> = {}): Exchange {
  const conn = {} as StreamConn;
  return {
    conn,
    info: {
      id: 7,
      remoteAddr: { transport: "tcp", hostname: "203.0.113.9", port: 4000 },
      proxyAddr: { transport: "tcp", hostname: "::1", port: 5000 },
      localAddr: { transport: "tcp", hostname: "127.0.0.1", port: 80 },
    },
    reader: new ConnReader({ read: () => Promise.resolve(null) }, { bytes: 0 }),
    progress: { bytes: 0 },
    options: { instance: "web-1" },
    request: 2,
    ...overrides,
  };
}

Deno.test("every reply names the instance, the connection and the request", () => {
  assert.deepEqual(echoHeaders(exchangeOf()), [
    ["X-Echo-Instance", "web-1"],
    ["X-Echo-Connection", "7"],
    ["X-Echo-Request", "2"],
  ]);
});

Deno.test("the raw format's headers: type, protocol, method, path, peer, PROXY client, TLS", () => {
  const request = head("POST /up?q HTTP/1.0\r\nContent-Type: image/png\r\n\r\n");
  assert.deepEqual(
    rawHeaders(
      exchangeOf({ tls: { version: "TLSv1.3", alpn: "http/1.1" } }),
      request,
      headerValue(request, "content-type"),
    ),
    [
      ["Content-Type", "image/png"],
      ["X-Echo-Protocol", "HTTP/1.0"],
      ["X-Echo-Method", "POST"],
      ["X-Echo-Path", "/up"],
      ["X-Echo-Peer", "[::1]:5000"],
      ["X-Echo-Client", "203.0.113.9:4000"],
      ["X-Echo-Tls", "TLSv1.3 alpn=http/1.1"],
    ],
  );
  const plain = rawHeaders(
    exchangeOf({ info: { ...exchangeOf().info, proxyAddr: undefined } }),
    head("GET / HTTP/1.0\r\n\r\n"),
    undefined,
  );
  assert.deepEqual(plain[0], ["Content-Type", "application/octet-stream"]);
  assert.deepEqual(plain.at(-1), ["X-Echo-Peer", "203.0.113.9:4000"]);
});

Deno.test("keep-alive: HTTP/1.1 unless Connection: close, HTTP/1.0 only when asked", () => {
  assert.equal(persistent(head("GET / HTTP/1.1\r\nHost: a\r\n\r\n")), true);
  assert.equal(
    persistent(head("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n")),
    false,
  );
  assert.equal(persistent(head("GET / HTTP/1.0\r\n\r\n")), false);
  assert.equal(persistent(head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")), true);
});

Deno.test("a reset uses the transport's reset() where it has one, else closes", () => {
  const calls: string[] = [];
  resetConnection(
    { reset: () => calls.push("reset"), close: () => calls.push("close") } as unknown as StreamConn,
  );
  resetConnection({ close: () => calls.push("close") } as unknown as StreamConn);
  assert.deepEqual(calls, ["reset", "close"]);
});
