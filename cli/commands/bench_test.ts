/**
 * `sockecho bench`: its table, `--json` and `--json-stream`, `--expect`,
 * progress and Ctrl+C, and each failure's exit code, in-process through
 * `main`; and as a real process, into a pipe and by `--udp`. (The load
 * itself is tested in bench/.)
 */
import assert from "node:assert/strict";
import { EXIT, main } from "../../main.ts";
import { recorder, runMain, withResettingServer, withServer } from "../test_util.ts";
import { canRun, sockecho, spawnServe, spawnSockecho } from "../test_util_process.ts";
import { withHttpServer } from "../test_util_http.ts";
import { spawnHttpServe, withHttpStub } from "../test_util_http_stub.ts";
import { decodeHistogram } from "../../bench/histogram_codec.ts";

const run = (args: string[]) => runMain(args);

const ESC = "\x1b";

Deno.test("main bench prints a summary table, or JSON with --json", async () => {
  await withServer({}, async ({ addr }) => {
    const port = String(addr.port);
    const table = await run(["bench", "127.0.0.1", "-p", port, "-n", "20", "-c", "2"]);
    assert.equal(table.code, EXIT.ok);
    assert.deepEqual(table.out.slice(0, 2), [
      "mode         pingpong",
      `target       127.0.0.1:${port}`,
    ]);
    assert.match(
      table.out[2],
      /^load {9}2 connections × 64 B, 1 worker, \d+\.\d\d s after a 1 s warm-up$/,
    );
    assert.match(table.out[3], /^round trips {2}20 \([\d,]+\/s\)$/);
    assert.match(table.out[5], /^latency ms {3}min \d+\.\d{3} {2}p50 .* max \d+\.\d{3}$/);
    const json = await run([
      "bench",
      "127.0.0.1",
      "-p",
      port,
      "-m",
      "connect",
      "-n",
      "5",
      "--json",
    ]);
    assert.equal(json.code, EXIT.ok);
    const report = JSON.parse(json.out.join("\n"));
    assert.deepEqual([report.mode, report.operations, report.bytes], ["connect", 5, 320]);
  });
});

Deno.test("main bench says so when the duration ends a counted run first", async () => {
  await withServer({}, async ({ addr }) => {
    const port = String(addr.port);
    const args = ["bench", "127.0.0.1", "-p", port, "-n", "1000000000", "-d", "0.2"];
    const { code, out, err } = await run(args);
    assert.equal(code, EXIT.ok);
    const [, done] = out[3].match(/^round trips {2}([\d,]+) /)!;
    assert.deepEqual(err, [
      `the 0.2 s duration ended the run after ${done} of --count 1,000,000,000 round trips`,
    ]);
  });
});

Deno.test("main bench exits 4 when nothing listens", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = String(listener.addr.port);
  listener.close();
  assert.deepEqual(await run(["bench", "127.0.0.1", "-p", port, "-n", "1"]), {
    code: EXIT.connect,
    out: [],
    err: [`cannot connect to 127.0.0.1:${port}: connection refused`],
  });
});

Deno.test("main bench shows a progress line once a second where there is a terminal", async () => {
  await withServer({}, async ({ addr }) => {
    const { io, out } = recorder();
    const status: string[] = [];
    // 2.5 s: a tick at 1 s (and 2 s) even if the machine stalls a moment.
    const code = await main(["bench", "127.0.0.1", "-p", String(addr.port), "-d", "2.5"], {
      ...io,
      status: (line) => status.push(line),
    });
    assert.equal(code, EXIT.ok);
    assert.match(status[0], /^1 s: [\d,]+ round trips?, \d+\.\d MB echoed$/);
    assert.equal(status.at(-1), "", "the progress line is cleared before the table");
    assert.equal(out[0], "mode         pingpong");
  });
});

Deno.test("main bench ended early by Ctrl+C prints what it measured, marked, and exits 130", async () => {
  for (const extra of [[], ["-w", "2", "--json"]]) {
    const stop = new AbortController();
    // Ctrl+C once the load is running: when the server has echoed its first bytes.
    await withServer({ onData: () => stop.abort() }, async ({ addr }) => {
      const { io, out, err } = recorder(stop.signal);
      const args = ["bench", `127.0.0.1:${addr.port}`, "-c", "2", "-d", "30", ...extra];
      const code = await main(args, io);
      assert.deepEqual({ code, err }, { code: EXIT.interrupted, err: [] });
      if (extra.includes("--json")) {
        const report = JSON.parse(out.join("\n"));
        assert.deepEqual([report.cutShort, report.workers], [true, 2]);
        assert.ok(report.elapsedMs < 30_000);
      } else {
        assert.match(
          out[2],
          /^load {9}2 connections × 64 B, 1 worker, \d+\.\d\d s \(cut short by Ctrl\+C\)$/,
        );
      }
    });
  }
});

Deno.test("main bench says on stderr that workers are capped by connections", async () => {
  await withServer({}, async ({ addr }) => {
    const { code, out, err } = await run([
      "bench",
      "127.0.0.1",
      "-p",
      String(addr.port),
      "-w",
      "4",
      "-c",
      "1",
      "-n",
      "5",
    ]);
    assert.equal(code, EXIT.ok);
    assert.deepEqual(err, [
      "running 1 worker, not 4: a worker needs a connection of its own (-c 1)",
    ]);
    assert.match(out[2], /, 1 worker, /);
  });
});

Deno.test("main bench against a server that resets exits 6 with one line, like send", async () => {
  await withResettingServer(async (port) => {
    const reset = `127.0.0.1:${port} failed (connection reset by peer) after echoing 0 of`;
    assert.deepEqual(await run(["bench", "127.0.0.1", "-p", String(port), "-n", "5"]), {
      code: 6,
      out: [],
      err: [`${reset} 64 bytes`],
    });
    assert.deepEqual(await run(["send", "127.0.0.1", "-p", String(port)]), {
      code: 6,
      out: [],
      err: [`${reset} 21 bytes`],
    });
  });
});

Deno.test("main bench --json-stream prints JSON lines only, the report last", async () => {
  await withServer({}, async ({ addr }) => {
    const args = ["bench", "127.0.0.1", "-p", String(addr.port), "-d", "2.5", "--warmup", "0"];
    const { code, out } = await run([...args, "--json-stream"]);
    assert.equal(code, EXIT.ok);
    const events = out.map((line) => JSON.parse(line));
    assert.ok(events.length >= 2, out.join("\n"));
    assert.ok(events.slice(0, -1).every((event) => event.event === "interval"));
    assert.equal(events.at(-1).event, "end");
    assert.equal(events.at(-1).data.mode, "pingpong");
  });
});

Deno.test("main bench --json-stream cut short by Ctrl+C still ends with the report, marked", async () => {
  const stop = new AbortController();
  // Ctrl+C once the load is running: when the server has echoed its first bytes.
  await withServer({ onData: () => stop.abort() }, async ({ addr }) => {
    const { io, out, err } = recorder(stop.signal);
    const args = ["bench", `127.0.0.1:${addr.port}`, "-d", "30", "--warmup", "0", "--json-stream"];
    const code = await main([...args, "--expect", "p50<0.0001us"], io);
    // Cut short exits 130 even with a threshold missed: its figures are not the whole run.
    assert.deepEqual({ code, err }, { code: EXIT.interrupted, err: [] });
    const end = JSON.parse(out.at(-1)!);
    assert.equal(end.event, "end");
    assert.equal(end.data.cutShort, true);
    assert.ok(end.data.elapsedMs < 30_000);
  });
});

Deno.test("main bench exits 14 naming the --expect threshold it missed", async () => {
  await withServer({}, async ({ addr }) => {
    const args = ["bench", "127.0.0.1", "-p", String(addr.port), "-n", "20", "--warmup", "0"];
    const missed = await run([...args, "--expect", "errors=0,p50<0.0001us"]);
    assert.equal(missed.code, EXIT.threshold);
    assert.match(
      missed.err.join("\n"),
      /^bench missed --expect p50<0\.0001us \(p50 was [\d.]+ ms\)$/,
    );
    assert.match(missed.out[0], /^mode +pingpong$/);
    const met = await run([...args, "--expect", "errors=0,rate>0"]);
    assert.deepEqual([met.code, met.err], [EXIT.ok, []]);
  });
});

Deno.test("main bench rejects bad measuring options with exit code 2", async () => {
  const cases: [string[], string][] = [
    [["--rate", "0"], 'invalid --rate "0": expected a number above 0'],
    [["-m", "bulk", "--rate", "10"], "--rate applies to pingpong and connect, not bulk"],
    [["--warmup=-1"], 'invalid --warmup "-1": expected a number of at least 0'],
    [["--json", "--json-stream"], "--json and --json-stream do not go together: pick one"],
    [["--udp", "--rate", "10"], "--rate applies to TCP, TLS and Unix sockets, not --udp"],
    [["--udp", "--warmup", "1"], "--warmup applies to TCP, TLS and Unix sockets, not --udp"],
    [
      ["--expect", "p99"],
      'invalid --expect: "p99" is not FIGURE<NUMBER (e.g. p99<5ms, rate>=1000)',
    ],
    [
      ["-m", "bulk", "--expect", "p99<1ms"],
      'invalid --expect: bulk measures no latency ("p99<1ms")',
    ],
  ];
  for (const [args, message] of cases) {
    assert.deepEqual(await run(["bench", "127.0.0.1", ...args]), {
      code: EXIT.usage,
      out: [],
      err: [`${message} (try: sockecho bench --help)`],
    });
  }
});

// The real program as a process: `deno run -N main.ts bench`.

Deno.test({
  name: "cli: bench into a pipe prints the table only, with no progress line or colour",
  ignore: !canRun,
  async fn() {
    await withServer({}, async ({ addr }) => {
      const run = await sockecho("bench", "127.0.0.1", "-p", String(addr.port), "-d", "1.2");
      assert.equal(run.code, EXIT.ok);
      assert.equal(run.stderr, "");
      assert.ok(!run.stdout.includes("\r") && !run.stdout.includes(ESC), run.stdout);
      assert.deepEqual(
        run.stdout.trimEnd().split("\n").map((line) => line.split(/ {2,}/)[0]),
        ["mode", "target", "load", "round trips", "throughput", "latency ms"],
      );
    });
  },
});

Deno.test({
  name: "cli: Ctrl+C during bench prints the summary of what was measured and exits 130",
  ignore: !canRun,
  async fn() {
    const loaded = Promise.withResolvers<void>();
    await withServer({ onData: () => loaded.resolve() }, async ({ addr }) => {
      const bench = spawnSockecho(["bench", `127.0.0.1:${addr.port}`, "-d", "30"]);
      await loaded.promise;
      bench.child.kill("SIGINT");
      assert.equal(await bench.finish(), EXIT.interrupted);
      assert.deepEqual(bench.err.lines, []);
      assert.match(bench.out.lines[2], /^load .* s \(cut short by Ctrl\+C\)$/);
      assert.match(bench.out.lines[3], /^round trips {2}[\d,]+ /);
    });
  },
});

Deno.test({
  name: "cli: bench --udp prints its table with the lost datagrams",
  ignore: !canRun,
  async fn() {
    const server = await spawnServe("--udp", "--udp-rate", "0", "-q");
    const run = await sockecho("bench", "--udp", "127.0.0.1", "-p", server.port, "-n", "200");
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
    assert.equal(run.code, EXIT.ok, run.stderr);
    const rows = Object.fromEntries(
      run.stdout.trimEnd().split("\n").map((line) => {
        const [name, value] = line.split(/ {2,}/);
        return [name, value];
      }),
    );
    assert.equal(rows["round trips"].split(" ")[0], "200");
    assert.equal(rows.lost, "0 datagrams");
  },
});

// Over HTTP and WebSocket, against serve --http's handler in-process, its stub, and as processes.

Deno.test("main bench --http URL prints requests and errors; --json has the URL, the errors and the histogram", async () => {
  await withHttpServer({}, async ({ port, served }) => {
    const url = `http://127.0.0.1:${port}/load`;
    const table = await run(["bench", url, "-n", "40", "-c", "2", "--warmup", "0"]);
    assert.equal(table.code, EXIT.ok, table.err.join("\n"));
    assert.deepEqual(table.out.slice(0, 2), [
      "mode         pingpong over HTTP/1.1",
      `target       ${url} at 127.0.0.1:${port}`,
    ]);
    assert.match(table.out[3], /^requests {5}40 \([\d,]+\/s\)$/);
    assert.equal(table.out[5], "errors       none");
    assert.equal(served.length, 40);
    const json = await run([
      "bench",
      "--ws",
      "127.0.0.1",
      "-p",
      String(port),
      "-n",
      "30",
      "--warmup",
      "0",
      "--json",
      "--expect",
      "errors=0",
    ]);
    assert.equal(json.code, EXIT.ok, json.err.join("\n"));
    const report = JSON.parse(json.out.join("\n"));
    assert.deepEqual(
      [report.protocol, report.url, report.operations, report.errors],
      ["ws", `ws://127.0.0.1:${port}/`, 30, { count: 0, closed: 0, status: {} }],
    );
    assert.equal(decodeHistogram(report.histogram).totalCount, 30);
  });
});

Deno.test("main bench --http holds counted errors to --expect, and fails when nothing came back", async () => {
  await withHttpStub({ silentCloseAfter: 3 }, async (stub) => {
    const url = `http://127.0.0.1:${stub.port}/`;
    const missed = await run(["bench", url, "-n", "20", "--warmup", "0", "--expect", "errors=0"]);
    assert.equal(missed.code, EXIT.threshold);
    assert.equal(missed.out[5], "errors       5 (5 cut by the server)");
    assert.deepEqual(missed.err, ["bench missed --expect errors=0 (errors was 5)"]);
    const none = await run(["bench", `${url}?status=503`, "-n", "5", "--warmup", "0"]);
    assert.deepEqual([none.code, none.err], [EXIT.httpStatus, [
      "not one round trip came back with its echo: 5 answered 503",
    ]]);
  });
});

Deno.test("main bench refuses --http and --ws with what they cannot do", async () => {
  const refusals: [string[], string][] = [
    [["--http", "127.0.0.1", "-m", "bulk"], "--http runs pingpong or connect, not bulk"],
    [["--ws", "127.0.0.1", "--udp"], "--udp cannot be combined with --ws"],
    [["--ws", "http://127.0.0.1/"], "--ws takes a ws:// or wss:// URL, not http://127.0.0.1/"],
    [["http://127.0.0.1:1/", "-p", "2"], "the port goes in the URL: leave out -p"],
    [
      ["ftp://127.0.0.1/"],
      'invalid URL "ftp://127.0.0.1/": ftp:// is not one of http://, https://, ws:// and wss://',
    ],
    [["http://127.0.0.1/", "extra"], 'bench takes one HOST, not also "extra"'],
  ];
  for (const [args, message] of refusals) {
    const { code, err } = await run(["bench", ...args]);
    assert.deepEqual(
      [code, err],
      [EXIT.usage, [`${message} (try: sockecho bench --help)`]],
      args.join(" "),
    );
  }
});

Deno.test({
  name: "cli: bench https:// and wss:// against serve --http --tls, pinned, in two workers",
  ignore: !canRun,
  async fn() {
    const server = await spawnHttpServe(["--tls", "-q"]);
    try {
      for (const scheme of ["https", "wss"]) {
        const url = `${scheme}://127.0.0.1:${server.port}/`;
        const args = [
          url,
          "--pin",
          server.fingerprint!,
          "-n",
          "60",
          "-c",
          "4",
          "-w",
          "2",
          "--json",
        ];
        const bench = await sockecho("bench", ...args);
        assert.equal(bench.code, EXIT.ok, bench.stderr);
        const report = JSON.parse(bench.stdout);
        assert.deepEqual([report.url, report.operations, report.workers], [url, 60, 2]);
      }
    } finally {
      assert.equal(await server.stop(), EXIT.ok);
    }
  },
});
