/**
 * `sendHttp` and `urlTarget`: URLs of each scheme and the ones refused; a
 * verified echo against the raw stub; `https://` against a TLS `Deno.serve`
 * (ALPN `http/1.1`, pinned certificate); a Unix socket with the URL's
 * `Host`; GET returning the reply as it came.
 */
import assert from "node:assert/strict";
import { TlsVerifyError } from "../net/errors.ts";
import { headerValue, HttpStatusError } from "../net/http/client.ts";
import { testCertificate, withSocketPath, WRONG_PIN } from "../cli/test_util.ts";
import { withHttpStub } from "../cli/test_util_http_stub.ts";
import { sendHttp, urlTarget } from "./send_http.ts";

const text = (value: string) => new TextEncoder().encode(value);
const pair = await testCertificate();

/** A `Deno.serve` echo that names itself and says what Host it was asked for. */
const denoEcho = async (req: Request) =>
  new Response(new Uint8Array(await req.arrayBuffer()), {
    headers: { "X-Echo-Instance": "deno", "X-Host": req.headers.get("host") ?? "" },
  });
const quiet = { onListen() {} };

Deno.test("urlTarget reads each scheme's host, port, Host header and path", () => {
  assert.deepEqual(urlTarget(new URL("http://example.test")), {
    hostname: "example.test",
    port: 80,
    secure: false,
    host: "example.test",
    path: "/",
  });
  assert.deepEqual(urlTarget(new URL("https://[::1]:8443/a/b?c=1&d#frag")), {
    hostname: "::1",
    port: 8443,
    secure: true,
    host: "[::1]:8443",
    path: "/a/b?c=1&d",
  });
  assert.deepEqual(
    [urlTarget(new URL("wss://h/")).port, urlTarget(new URL("ws://h:81/")).host],
    [443, "h:81"],
  );
  assert.equal(urlTarget(new URL("http://h/ä b")).path, "/%C3%A4%20b");
});

Deno.test("urlTarget refuses another scheme and credentials, saying why", () => {
  assert.throws(
    () => urlTarget(new URL("ftp://h/")),
    /ftp:\/\/ is not one of http:\/\/, https:\/\//,
  );
  assert.throws(() => urlTarget(new URL("http://user:pw@h/")), /user name or password/);
});

Deno.test("sendHttp posts the message and gets it back, with the instance and the protocol", async () => {
  await withHttpStub({ instance: "web-9" }, async (stub) => {
    const message = text("hello over HTTP");
    const result = await sendHttp({ url: `http://127.0.0.1:${stub.port}/path?q`, message });
    assert.deepEqual(
      [result.status, result.reason, result.protocol, result.instance, result.echo],
      [200, "OK", "HTTP/1.1", "web-9", message],
    );
    assert.equal(result.remoteAddr.transport, "tcp");
    assert.ok(result.roundTripMs > 0);
    assert.equal(stub.requests[0].target, "/path?q");
  });
});

Deno.test("sendHttp over https:// pins the certificate, offers http/1.1 and is refused a wrong pin", async () => {
  {
    const { cert, key } = pair;
    await using server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, cert, key, ...quiet },
      denoEcho,
    );
    const { port } = server.addr;
    {
      const url = `https://localhost:${port}/`;
      const result = await sendHttp({
        url,
        message: text("secret"),
        tls: { pin: pair.fingerprint },
        resolve: () => Promise.resolve(["127.0.0.1"]),
      });
      assert.deepEqual([result.instance, result.tls?.alpn, result.tls?.fingerprint], [
        "deno",
        "http/1.1",
        pair.fingerprint,
      ]);
      assert.equal(headerValue(result.headers, "x-host"), `localhost:${port}`);
      await assert.rejects(
        sendHttp({ url, tls: { pin: WRONG_PIN }, resolve: () => Promise.resolve(["127.0.0.1"]) }),
        TlsVerifyError,
      );
    }
  }
});

Deno.test("sendHttp over a Unix socket sends the URL's Host and path", async () => {
  await withSocketPath(async (path) => {
    {
      await using _server = Deno.serve({ path, ...quiet }, denoEcho);
      const result = await sendHttp({
        url: "http://echo.internal/",
        path,
        message: text("via unix"),
      });
      assert.deepEqual(result.echo, text("via unix"));
      assert.equal(headerValue(result.headers, "x-host"), "echo.internal");
    }
  });
});

Deno.test("sendHttp GET returns the reply as it came; an error status throws", async () => {
  await withHttpStub({}, async (stub) => {
    const get = await sendHttp({ url: `http://127.0.0.1:${stub.port}/`, method: "GET" });
    assert.deepEqual([get.status, get.echo.length], [200, 0]);
    await assert.rejects(
      sendHttp({ url: `http://127.0.0.1:${stub.port}/?status=503` }),
      (error) =>
        error instanceof HttpStatusError && error.status === 503 &&
        error.reason === "stub answered 503 as asked" && error.instance === "stub",
    );
  });
});
