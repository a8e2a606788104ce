/**
 * `sockecho send --http`: in-process through `main` against the raw stub
 * and scripted servers (what is printed, what the server was sent, each
 * failure's exit code, every usage error), the probe series' spread table
 * and its JSON, and as real processes (stdin as the body, one plain line on
 * stderr).
 */
import assert from "node:assert/strict";
import { EXIT } from "../../main.ts";
import { writeAll } from "../../net/io.ts";
import { readToEnd, runMain, withFakeServer, withServer } from "../test_util.ts";
import { withHttpStub } from "../test_util_http_stub.ts";
import { canRun, MAIN, runWithInput, sockecho } from "../test_util_process.ts";

const run = (args: string[]) => runMain(args);
const GREETING = "你好啊服务器!\n\0";

/** A server that answers every request with `reply` (then waits for the client to close). */
function withReply(reply: string, body: (port: number) => Promise<void>) {
  return withFakeServer(async (conn) => {
    await conn.read(new Uint8Array(65536));
    await writeAll(conn, new TextEncoder().encode(reply));
    await readToEnd(conn);
  }, body);
}

Deno.test("send --http URL posts the greeting, verifies it and prints status, protocol, instance", async () => {
  await withHttpStub({ instance: "web-1" }, async (stub) => {
    const { code, out, err } = await run(["send", "--http", `http://127.0.0.1:${stub.port}/a?b=1`]);
    assert.deepEqual({ code, out, err }, {
      code: EXIT.ok,
      out: [
        "server message: 你好啊服务器!",
        "status: 200 OK",
        "protocol: HTTP/1.1",
        "instance: web-1",
      ],
      err: [],
    });
    const [request] = stub.requests;
    assert.deepEqual([request.method, request.target], ["POST", "/a?b=1"]);
    assert.deepEqual(request.headers, [
      ["Host", `127.0.0.1:${stub.port}`],
      ["Accept", "application/octet-stream"],
      ["Content-Length", String(new TextEncoder().encode(GREETING).length)],
    ]);
  });
});

Deno.test("send HOST --http takes -p and path /; a URL alone implies --http", async () => {
  await withHttpStub({}, async (stub) => {
    const byHost = await run(["send", "127.0.0.1", "hello", "--http", "-p", String(stub.port)]);
    assert.deepEqual([byHost.code, byHost.out[0]], [EXIT.ok, "server message: hello"]);
    const byUrl = await run(["send", `http://127.0.0.1:${stub.port}`, "hi"]);
    assert.deepEqual([byUrl.code, byUrl.out[0]], [EXIT.ok, "server message: hi"]);
    assert.deepEqual(stub.requests.map((r) => [r.target, r.headers[0][1]]), [
      ["/", `127.0.0.1:${stub.port}`],
      ["/", `127.0.0.1:${stub.port}`],
    ]);
  });
});

Deno.test("send --http --header adds request headers; --method GET sends none and shows the reply", async () => {
  await withHttpStub({}, async (stub) => {
    const url = `http://127.0.0.1:${stub.port}/`;
    const posted = await run(["send", url, "--header", "X-Echo-Delay: 0ms", "--header", "X-B:2"]);
    assert.equal(posted.code, EXIT.ok);
    assert.deepEqual(stub.requests[0].headers.slice(3), [["X-Echo-Delay", "0ms"], ["X-B", "2"]]);
    const got = await run(["send", url, "--method", "get", "-v"]);
    assert.deepEqual([got.code, got.out[0]], [EXIT.ok, "server message: "]);
    assert.match(got.err[0], /^0 bytes received by 127\.0\.0\.1:\d+ in \d+\.\d{3} ms$/);
    assert.deepEqual([stub.requests[1].method, stub.requests[1].headers.length], ["GET", 2]);
  });
  await withReply(
    "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n<html>hi</html>\n",
    async (port) => {
      const { code, out } = await run(["send", `http://127.0.0.1:${port}/`, "--method", "GET"]);
      assert.deepEqual([code, out], [EXIT.ok, [
        "server message: <html>hi</html>",
        "status: 200 OK",
        "protocol: HTTP/1.1",
        "instance: unknown (no X-Echo-Instance header)",
      ]]);
    },
  );
});

Deno.test("send --http maps each failure to its exit code and one line", async () => {
  await withHttpStub({ instance: "web-4" }, async (stub) => {
    const { code, out, err } = await run(["send", `http://127.0.0.1:${stub.port}/?status=503`]);
    assert.deepEqual({ code, out, err }, {
      code: EXIT.httpStatus,
      out: [],
      err: [`127.0.0.1:${stub.port} answered 503 Stub Status: stub answered 503 as asked`],
    });
  });
  await withReply("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelpo", async (port) => {
    const { code, err } = await run(["send", `http://127.0.0.1:${port}/`, "hello"]);
    assert.deepEqual({ code, err }, {
      code: EXIT.mismatch,
      err: ["echo differs from what was sent at byte 3: sent 0x6c, got 0x70"],
    });
  });
  await withReply("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhel", async (port) => {
    const { code, err } = await run(["send", `http://127.0.0.1:${port}/`, "hello"]);
    assert.equal(code, EXIT.closedEarly);
    assert.match(err[0], /ended the response body after echoing 3 of 5 bytes$/);
  });
  await withServer({}, async ({ addr }) => {
    const { code, err } = await run(["send", "--http", `127.0.0.1:${addr.port}`]);
    assert.equal(code, EXIT.notHttp);
    assert.match(err[0], /did not answer with HTTP\/1\.x: "POST \/ HTTP\/1\.1"/);
  });
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  closed.close();
  const refused = await run(["send", `http://127.0.0.1:${closed.addr.port}/`]);
  assert.equal(refused.code, EXIT.connect);
});

Deno.test("send --http refuses what cannot go together, each with one usage line", async () => {
  const cases: [string[], RegExp][] = [
    [["send", "http://"], /^invalid URL "http:\/\/"/],
    [["send", "ftp://h/"], /^invalid URL "ftp:\/\/h\/": ftp:\/\/ is not one of http:\/\//],
    [["send", "http://u:p@h/"], /user name or password/],
    [["send", "http://h:81/", "-p", "82"], /^the port goes in the URL: leave out -p/],
    [["send", "http://h/", "--tls"], /^--tls with http:\/\/: use https:\/\/ for TLS/],
    [["send", "--http", "ws://h/"], /^--http takes an http:\/\/ or https:\/\/ URL, not ws:\/\/h\//],
    [["send", "--ws", "http://h/"], /^--ws takes a ws:\/\/ or wss:\/\/ URL/],
    [["send", "h", "--http", "--ws"], /^--http and --ws cannot be combined/],
    [["send", "http://h/", "--udp"], /^--udp is for the TCP \(or UDP\) echo/],
    [["send", "http://h/", "--proxy-protocol", "v1"], /^--proxy-protocol is for the TCP/],
    [["send", "ws://h/", "--method", "PUT"], /^--method is for --http, not --ws/],
    [
      ["send", "http://h/", "hi", "--method", "GET"],
      /^--method GET sends no body: leave out MESSAGE "hi"/,
    ],
    [["send", "http://h/", "--method", "HEAD", "--size", "9"], /^--method HEAD sends no body/],
    [["send", "http://h/", "--method", "G T"], /^invalid --method "G T"/],
    [["send", "http://h/", "--header", "nocolon"], /^invalid --header "nocolon"/],
    [["send", "http://h/", "--header", "Host: x"], /^--header Host is sockecho's to set/],
    [["send", "http://h/", "a", "b"], /^send takes a URL or HOST and one MESSAGE, not also "b"/],
    [["send", "http://h/", "--pin", "00"], /^--pin needs --tls/],
  ];
  for (const [args, message] of cases) {
    const { code, out, err } = await run(args);
    assert.deepEqual([code, out, err.length], [EXIT.usage, [], 1], args.join(" "));
    assert.match(err[0], message, args.join(" "));
    assert.match(err[0], /\(try: sockecho send --help\)$/);
  }
});

Deno.test("send --http -c prints a line per probe with its instance, then the spread table", async () => {
  await withHttpStub({ instance: "web-1" }, async (stub) => {
    const url = `http://127.0.0.1:${stub.port}/`;
    const { code, out } = await run(["send", url, "-c", "3", "-i", "0"]);
    assert.equal(code, EXIT.ok);
    for (let seq = 1; seq <= 3; seq++) {
      assert.match(
        out[seq - 1],
        new RegExp(
          `^21 bytes from 127\\.0\\.0\\.1:${stub.port}: seq=${seq} instance=web-1 time=\\d+\\.\\d{3} ms$`,
        ),
      );
    }
    assert.equal(out[3], `--- ${url} echo statistics ---`);
    assert.equal(out[4], "3 sent, 3 echoed, 0 failed");
    const table = [
      /^spread per request: 3 replies from 1 instance$/,
      /^ {2}instance {2}replies {4}share {5}p50 ms {5}p99 ms$/,
      /^ {2}web-1 {11}3 {2}100\.0 % +\d+\.\d{3} +\d+\.\d{3}$/,
      /^spread per connection: the first reply of each of 1 connection$/,
      /^ {2}instance {2}replies {4}share {5}p50 ms {5}p99 ms$/,
      /^ {2}web-1 {11}1 {2}100\.0 % +\d+\.\d{3} +\d+\.\d{3}$/,
      /^imbalance: one instance answered all 3 replies$/,
    ];
    assert.equal(out.length, 6 + table.length);
    table.forEach((line, i) => assert.match(out[6 + i], line));
    assert.equal(stub.connections, 1, "one kept-alive connection");
  });
});

Deno.test("send --http --json: each probe's connection and instance, the summary's spread", async () => {
  await withHttpStub({ instance: "web-1", requestsPerConnection: 2 }, async (stub) => {
    const { code, out } = await run([
      "send",
      `http://127.0.0.1:${stub.port}/`,
      "-c",
      "3",
      "-i",
      "0",
      "--json",
    ]);
    assert.equal(code, EXIT.ok);
    const lines = out.map((line) => JSON.parse(line));
    assert.deepEqual(lines.slice(0, 3).map((p) => [p.connection, p.instance]), [[1, "web-1"], [
      1,
      "web-1",
    ], [2, "web-1"]]);
    const { spread } = lines[3];
    assert.deepEqual(
      [spread.perRequest.total, spread.perConnection.total, spread.perRequest.imbalance],
      [3, 2, null],
    );
    assert.deepEqual(Object.keys(spread.perRequest.instances[0]), [
      "instance",
      "count",
      "share",
      "p50Ms",
      "p99Ms",
    ]);
  });
});

Deno.test({
  name: "send --http as a process: stdin is the body, a failure is one plain line",
  ignore: !canRun,
  async fn() {
    await withHttpStub({ instance: "web-5" }, async (stub) => {
      const url = `http://127.0.0.1:${stub.port}/`;
      const piped = await runWithInput(
        Deno.execPath(),
        ["run", "-N", MAIN, "send", url],
        new TextEncoder().encode("from a pipe\n"),
      );
      assert.equal(piped.code, EXIT.ok, new TextDecoder().decode(piped.stderr));
      assert.equal(
        new TextDecoder().decode(piped.stdout),
        "server message: from a pipe\nstatus: 200 OK\nprotocol: HTTP/1.1\ninstance: web-5\n",
      );
      const failed = await sockecho("send", `${url}?status=404`);
      assert.deepEqual([failed.code, failed.stdout, failed.stderr], [
        EXIT.httpStatus,
        "",
        `sockecho: 127.0.0.1:${stub.port} answered 404 Stub Status: stub answered 404 as asked\n`,
      ]);
    });
  },
});
