/**
 * The real program in real processes: `deno run -N main.ts` spawned with
 * pipes, signals sent to it, and interoperation with nc, socat and the seed's
 * C client. These need `--allow-run` (and read/write for temporary builds):
 * `deno task test` grants them; under plain `deno test -N` they are ignored.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../main.ts";
import { concat, withServer } from "../testing.ts";

import {
  canRun,
  canWrite,
  freePort,
  hasCommand,
  MAIN,
  makeCertificates,
  needs,
  openssl,
  readBytes,
  runDeno,
  skipped,
  sockecho,
  sockechoOnTerminal,
  sockechoWith,
  spawn,
  spawnServe,
  spawnTlsServe,
  spawnUnixServe,
} from "../testing_process.ts";

const haveNc = await hasCommand("nc");
const haveSocat = await hasCommand("socat");

const ESC = "\x1b";

Deno.test({
  name: "cli: without -N every command exits 13 with one line naming the flag",
  ignore: !canRun,
  async fn() {
    const port = String(freePort());
    const cases: [string[], string][] = [
      [["send", "127.0.0.1", "-p", port], `"127.0.0.1:${port}"`],
      [["send", "localhost", "-p", port], ""],
      [["serve", "-H", "127.0.0.1", "-p", port], `"127.0.0.1:${port}"`],
      [["bench", "127.0.0.1", "-p", port, "-d", "1"], `"127.0.0.1:${port}"`],
      [["bench", "127.0.0.1", "-p", port, "-d", "1", "-c", "2", "-w", "2"], `"127.0.0.1:${port}"`],
    ];
    for (const [args, what] of cases) {
      assert.deepEqual(await runDeno(["--no-prompt"], args), {
        code: EXIT.missingPermission,
        stdout: "",
        stderr: `sockecho: no net permission${what && ` for ${what}`}: run with -N (--allow-net)\n`,
      }, args.join(" "));
    }
  },
});

Deno.test({
  name: "cli: a bug surfacing as an unhandled rejection or an uncaught throw is one line, exit 1",
  ignore: !canRun,
  async fn() {
    const preload = new URL("../testdata/crash_on_signal.ts", import.meta.url).pathname;
    const cases: [Deno.Signal, string][] = [
      ["SIGUSR1", "sockecho: internal error: TypeError: planted rejection"],
      ["SIGUSR2", "sockecho: internal error: RangeError: planted throw"],
    ];
    for (const [signal, line] of cases) {
      const server = spawn(Deno.execPath(), [
        ...["run", "-N", "--preload", preload, MAIN],
        ...["serve", "-H", "127.0.0.1", "-p", "0"],
      ]);
      // Listening means main.ts has run its top level, handlers included.
      await server.out.match(/^Listening on /);
      server.child.kill(signal);
      assert.equal(await server.finish(), 1, signal);
      assert.deepEqual(server.err.lines, [line], signal);
    }
  },
});

Deno.test({
  name: "cli: bad --allow, --udp-rate without --udp, --retries without --udp exit 2 in one line",
  ignore: !canRun,
  async fn() {
    assert.deepEqual(await sockecho("serve", "--allow", "10.0.0.0/33"), {
      code: EXIT.usage,
      stdout: "",
      stderr: 'sockecho: invalid network "10.0.0.0/33": expected an address or a CIDR like ' +
        "10.0.0.0/8 or fd00::/8 (try: sockecho serve --help)\n",
    });
    assert.deepEqual(await sockecho("serve", "--deny", "10.0.0.1,bogus"), {
      code: EXIT.usage,
      stdout: "",
      stderr: 'sockecho: invalid network "bogus": expected an address or a CIDR like 10.0.0.0/8 ' +
        "or fd00::/8 (try: sockecho serve --help)\n",
    });
    assert.deepEqual(await sockecho("serve", "--udp-rate", "5"), {
      code: EXIT.usage,
      stdout: "",
      stderr: "sockecho: --udp-rate needs --udp (try: sockecho serve --help)\n",
    });
    assert.deepEqual(await sockecho("send", "127.0.0.1", "--retries", "1"), {
      code: EXIT.usage,
      stdout: "",
      stderr: "sockecho: --retries needs --udp (try: sockecho send --help)\n",
    });
    assert.deepEqual(await sockecho("send", "127.0.0.1", "--udp", "-c", "3"), {
      code: EXIT.usage,
      stdout: "",
      stderr: "sockecho: --udp sends one datagram: leave out the probe series options " +
        "(try: sockecho send --help)\n",
    });
    assert.deepEqual(await sockecho("bench", "127.0.0.1", "--udp", "-m", "bulk"), {
      code: EXIT.usage,
      stdout: "",
      stderr: "sockecho: --udp runs pingpong only, not --mode bulk (try: sockecho bench --help)\n",
    });
  },
});

const haveScript = await hasCommand("script");

// --- TLS and Unix domain sockets as real processes, and interop with openssl, socat and nc ---

const haveOpenssl = canWrite && await hasCommand("openssl");

Deno.test({
  name: "cli: on a terminal status lines are plain and errors keep their red prefix" +
    skipped(needs(haveScript, "script")),
  ignore: !haveScript,
  async fn() {
    await withServer({}, async ({ addr }) => {
      const report = await sockechoOnTerminal("send", `127.0.0.1:${addr.port}`, "-v");
      assert.match(report, /\r\nsockecho: 21 bytes echoed by 127\.0\.0\.1:\d+ in [\d.]+ ms\r\n/);
      assert.ok(!report.includes(ESC), JSON.stringify(report));
    });
    const error = await sockechoOnTerminal("send", "127.0.0.1", "-p", String(freePort()));
    // Red and bold on, "sockecho:", then off again before the message.
    assert.match(
      error,
      new RegExp(`^(${ESC}\\[[\\d;]*m)+sockecho:(${ESC}\\[[\\d;]*m)+ cannot connect`),
    );
  },
});

Deno.test({
  name: "cli: serve --tls prints its fingerprint and a send command that connects as printed",
  ignore: !canRun,
  async fn() {
    const server = await spawnTlsServe();
    assert.equal(
      server.command,
      `send --tls --pin ${server.fingerprint} 127.0.0.1 -p ${server.port}`,
    );
    const sent = await sockecho(...server.command.split(" "), "-v");
    assert.equal(sent.code, EXIT.ok, sent.stderr);
    assert.equal(sent.stdout, "server message: 你好啊服务器!\n");
    assert.match(
      sent.stderr,
      new RegExp(
        `^sockecho: TLS: TLSv1\\.3, TLS_\\w+, handshake [\\d.]+ ms, certificate SHA-256 ${server.fingerprint}$`,
        "m",
      ),
    );
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
  },
});

Deno.test({
  name: "cli: a plain send to serve --tls, and send --tls to a plain serve, exit 12 saying so",
  ignore: !canRun,
  async fn() {
    const tlsServer = await spawnTlsServe();
    const plainServer = await spawnServe();
    assert.deepEqual(await sockecho("send", "127.0.0.1", "-p", tlsServer.port), {
      code: EXIT.notTls,
      stdout: "",
      stderr: `sockecho: 127.0.0.1:${tlsServer.port} answered with TLS: use --tls\n`,
    });
    assert.deepEqual(
      await sockecho("send", "--tls", "--insecure", "127.0.0.1", "-p", plainServer.port),
      {
        code: EXIT.notTls,
        stdout: "",
        stderr:
          "sockecho: --insecure: the server's certificate is not verified; anyone in between " +
          `can listen\nsockecho: 127.0.0.1:${plainServer.port} does not speak TLS (drop --tls?)\n`,
      },
    );
    // One line each on the servers' side, and both still serve.
    await tlsServer.out.match(
      /closed: 0 bytes echoed in [\d.]+ s \(TLS handshake failed: the client does not speak TLS\)$/,
    );
    const again = await sockecho(...tlsServer.command.split(" "));
    assert.equal(again.code, EXIT.ok);
    for (const server of [tlsServer, plainServer]) {
      server.child.kill("SIGINT");
      assert.equal(await server.finish(), EXIT.ok);
    }
  },
});

Deno.test({
  name: "cli: serve --tls --handshake-timeout closes a client that never starts its handshake",
  ignore: !canRun,
  async fn() {
    const server = await spawnTlsServe("--handshake-timeout", "0.3");
    const silent = await Deno.connect({ hostname: "127.0.0.1", port: Number(server.port) });
    try {
      const [line] = await server.out.match(/^.* closed: .*$/);
      assert.match(
        line,
        /^127\.0\.0\.1:\d+ closed: 0 bytes echoed in [\d.]+ s \(TLS handshake failed: not finished within 0\.3 s\)$/,
      );
      assert.ok(!server.out.lines.some((l) => l.startsWith("You got a connection")));
    } finally {
      silent.close();
    }
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
    assert.equal(server.err.lines.at(-1), "sockecho: stopped: 1 connection, 0 bytes echoed");
  },
});

Deno.test({
  name: "cli: certificate files or a Unix socket without read permission: exit 13 naming the flags",
  ignore: !canRun,
  async fn() {
    assert.deepEqual(await sockecho("serve", "--tls", "--cert", "cert.pem", "--key", "key.pem"), {
      code: EXIT.missingPermission,
      stdout: "",
      stderr: "sockecho: cannot read the TLS certificate: Deno needs read permission: " +
        "add -R=cert.pem,key.pem\n",
    });
    assert.deepEqual(await sockecho("send", "--tls", "--ca", "ca.pem", "127.0.0.1"), {
      code: EXIT.missingPermission,
      stdout: "",
      stderr:
        "sockecho: cannot read the CA certificate: Deno needs read permission: add -R=ca.pem\n",
    });
    const path = "/tmp/sockecho-never.sock";
    assert.deepEqual(await sockecho("serve", "--unix", path), {
      code: EXIT.missingPermission,
      stdout: "",
      stderr: `sockecho: cannot listen on ${path}: Deno needs read and write permission for it: ` +
        `add -R=${path} -W=${path}\n`,
    });
  },
});

Deno.test({
  name:
    "interop: openssl s_client gets binary data back byte-exact from serve --tls, same fingerprint" +
    skipped(needs(haveOpenssl, "openssl")),
  ignore: !haveOpenssl,
  async fn() {
    const server = await spawnTlsServe();
    const target = `127.0.0.1:${server.port}`;
    // The certificate s_client is shown has the fingerprint serve printed.
    const shown = await openssl(["s_client", "-connect", target, "-showcerts"]);
    const pem = shown.match(/-----BEGIN CERTIFICATE-----[^]+?-----END CERTIFICATE-----\n/)![0];
    const fingerprint = await openssl(
      ["x509", "-noout", "-fingerprint", "-sha256"],
      new TextEncoder().encode(pem),
    );
    assert.equal(fingerprint.trim(), `sha256 Fingerprint=${server.fingerprint}`);
    // Every byte value, several times: -quiet passes bytes through untouched.
    const input = concat(
      Array.from({ length: 64 }, () => Uint8Array.from({ length: 256 }, (_, i) => i)),
    );
    const client = new Deno.Command("openssl", {
      args: ["s_client", "-connect", target, "-quiet", "-nocommands"],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const writer = client.stdin.getWriter();
    await writer.write(input);
    const echo = await readBytes(client.stdout, input.length);
    // -quiet ignores the end of its input: it is stopped once the echo is in.
    client.kill("SIGTERM");
    await writer.close().catch(() => {});
    await client.status;
    await client.stdout.cancel();
    assert.deepEqual(echo, input);
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
  },
});

Deno.test({
  name: "interop: send --tls verifies a socat OPENSSL-LISTEN echo server by --ca and by --pin" +
    skipped(needs(haveOpenssl, "openssl") ?? needs(haveSocat, "socat")),
  ignore: !haveOpenssl || !haveSocat,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const { ca, fingerprint } = await makeCertificates(dir);
      const port = String(freePort());
      const socat = spawn("socat", [
        "-d",
        "-d",
        `OPENSSL-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork,cert=${dir}/leaf.pem,key=${dir}/leaf.key,verify=0`,
        "PIPE",
      ]);
      await socat.err.match(/listening on/);
      try {
        const ok = { code: EXIT.ok, stdout: "server message: over TLS\n", stderr: "" };
        assert.deepEqual(
          await sockechoWith(
            [`-R=${ca}`],
            "send",
            "--tls",
            "--ca",
            ca,
            "127.0.0.1",
            "-p",
            port,
            "over TLS",
          ),
          ok,
        );
        const pin = fingerprint.replaceAll(":", "").toLowerCase(); // colons optional, any case
        assert.deepEqual(
          await sockecho("send", "--tls", "--pin", pin, "127.0.0.1", "-p", port, "over TLS"),
          ok,
        );
        const unknown = await sockecho("send", "--tls", "127.0.0.1", "-p", port);
        assert.equal(unknown.code, EXIT.tlsVerify);
        assert.match(
          unknown.stderr,
          /^sockecho: cannot verify the TLS certificate of 127\.0\.0\.1:\d+: unknown issuer/,
        );
        const misnamed = await sockechoWith(
          [`-R=${ca}`],
          ...[
            "send",
            "--tls",
            "--ca",
            ca,
            "--servername",
            "elsewhere.test",
            "127.0.0.1",
            "-p",
            port,
          ],
        );
        assert.equal(misnamed.code, EXIT.tlsVerify);
        assert.match(misnamed.stderr, /: name mismatch \(/);
      } finally {
        socat.child.kill("SIGTERM");
        await socat.finish();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "interop: nc -U and socat UNIX-CONNECT get their bytes back from serve --unix" +
    skipped(needs(haveNc, "nc") ?? needs(haveSocat, "socat")),
  ignore: !haveNc || !haveSocat,
  async fn() {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/echo.sock`;
    try {
      const server = await spawnUnixServe(path);
      const input = Uint8Array.from({ length: 256 }, (_, i) => i);
      for (
        const [command, args] of [["nc", ["-N", "-U", path]], ["socat", [
          "-t",
          "5",
          "-",
          `UNIX-CONNECT:${path}`,
        ]]] as const
      ) {
        const peer = new Deno.Command(command, { args: [...args], stdin: "piped", stdout: "piped" })
          .spawn();
        const writer = peer.stdin.getWriter();
        await writer.write(input);
        await writer.close();
        const { code, stdout } = await peer.output();
        assert.equal(code, 0, command);
        assert.deepEqual(new Uint8Array(stdout), input, command);
      }
      const sent = await sockechoWith(
        [`-R=${path}`, `-W=${path}`],
        "send",
        "--unix",
        path,
        "hello unix",
      );
      assert.deepEqual(sent, { code: EXIT.ok, stdout: "server message: hello unix\n", stderr: "" });
      await server.out.match(/^unix client #3 closed: 10 bytes echoed/);
      server.child.kill("SIGINT");
      assert.equal(await server.finish(), EXIT.ok);
      assert.equal(server.err.lines.at(-1), "sockecho: stopped: 3 connections, 522 bytes echoed");
      await assert.rejects(() => Deno.lstat(path), Deno.errors.NotFound); // removed at shutdown
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "cli: serve --unix on a live server's socket exits 8; a stale one is replaced",
  ignore: !canRun,
  async fn() {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/echo.sock`;
    try {
      const first = await spawnUnixServe(path);
      assert.deepEqual(await sockechoWith([`-R=${path}`, `-W=${path}`], "serve", "--unix", path), {
        code: EXIT.addressInUse,
        stdout: "",
        stderr: `sockecho: cannot listen on ${path}: address already in use\n`,
      });
      first.child.kill("SIGKILL"); // dies without removing its socket file
      await first.finish();
      assert.ok((await Deno.lstat(path)).isSocket);
      const second = await spawnUnixServe(path);
      const sent = await sockechoWith(
        [`-R=${path}`, `-W=${path}`],
        "send",
        "--unix",
        path,
        "again",
      );
      assert.equal(sent.code, EXIT.ok);
      second.child.kill("SIGTERM");
      assert.equal(await second.finish(), EXIT.ok);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
