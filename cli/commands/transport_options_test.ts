/**
 * The transport options (cli/commands/transport_options.ts): `serveTransport`'s
 * ephemeral certificate, and `serve` and `send` with `--tls` (the printed
 * fingerprint and send command, `--handshake-timeout` and the descriptors of
 * silent clients, `--max-connections` with handshakes pending, `--ca`, `--pin`) and
 * `--unix` as real processes, with openssl, socat and nc as their peers, and
 * the read permission each needs.
 */
import assert from "node:assert/strict";
import { send } from "../../diag/send.ts";
import { EXIT } from "../../main.ts";
import { serve } from "../../server.ts";
import { concat, readToEnd } from "../test_util.ts";
import { writeAll } from "../../net/io.ts";
import {
  canRun,
  canWrite,
  freePort,
  hasCommand,
  makeCertificates,
  needs,
  openssl,
  readBytes,
  skipped,
  sockecho,
  sockechoWith,
  spawn,
  spawnServe,
  spawnTlsServe,
  spawnUnixServe,
} from "../test_util_process.ts";
import { openDescriptors, untilDescriptors } from "../test_util_socket.ts";
import { serveTransport } from "./transport_options.ts";

const haveNc = await hasCommand("nc");
const haveSocat = await hasCommand("socat");
const haveOpenssl = canWrite && await hasCommand("openssl");
const every = Uint8Array.from({ length: 256 }, (_, i) => i);

Deno.test("tls: serve's ephemeral certificate also names the --host address", async () => {
  const { tls } = await serveTransport({ tls: true, host: "127.0.0.2" });
  const server = await serve({ hostname: "127.0.0.2", port: 0, tls });
  try {
    const target = { hostname: "127.0.0.2", port: server.addr.port, message: every };
    const { echo } = await send({ ...target, tls: { ca: [tls!.cert] } });
    assert.deepEqual(echo, every);
  } finally {
    await server.shutdown({ graceMs: 0 });
  }
});

// The real program as a process: `deno run -N main.ts serve --tls`, `send --tls`, `--unix`.

Deno.test({
  name: "cli: serve --http --tls prints an https:// send command that gets a verified echo",
  ignore: !canRun,
  async fn() {
    const server = await spawnTlsServe("--http");
    assert.equal(
      server.command,
      `send --pin ${server.fingerprint} https://127.0.0.1:${server.port}/`,
    );
    const sent = await sockecho(...server.command.split(" "));
    assert.equal(sent.code, EXIT.ok, sent.stderr);
    assert.match(sent.stdout, /^server message: 你好啊服务器!\nstatus: 200 OK\n/);
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
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

/** Opens `count` TCP connections to 127.0.0.1:`port` that never say anything. */
async function silentClients(port: number, count: number): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < count; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
  return conns;
}

Deno.test({
  name:
    "cli: 300 silent clients of serve --tls hold none of its descriptors past the timeout + 1 s",
  ignore: !canRun,
  async fn() {
    const server = await spawnTlsServe("--handshake-timeout", "0.3", "-q");
    const pid = server.child.pid;
    const baseline = await openDescriptors(pid);
    const silent = await silentClients(Number(server.port), 300);
    try {
      const connected = performance.now();
      await untilDescriptors(pid, (n) => n >= baseline + 300, 5_000, "one per client");
      // Within the timeout and a second of the last connect (Deno.listenTls held all 300).
      const left = 1300 - (performance.now() - connected);
      await untilDescriptors(pid, (n) => n <= baseline, Math.max(left, 0), "back to the baseline");
    } finally {
      silent.forEach((conn) => conn.close());
    }
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
    assert.equal(server.err.lines.at(-1), "sockecho: stopped: 300 connections, 0 bytes echoed");
  },
});

Deno.test({
  name: "cli: silent TLS clients count against --max-connections; past it, even a real one is " +
    "refused at once, and served once they time out",
  ignore: !canRun,
  async fn() {
    const server = await spawnTlsServe(
      "--max-connections",
      "50",
      "--handshake-timeout",
      "2",
      "--log-rate",
      "1000",
    );
    const port = Number(server.port);
    const silent = await silentClients(port, 100);
    try {
      const refusal = /^refused 127\.0\.0\.1:(\d+): 50 connections open \(--max-connections\)$/;
      // The 50 past the cap are closed at once: each sees the end, and the log names it.
      const ended = await Promise.all(silent.slice(50).map((conn) => readToEnd(conn, 1000)));
      assert.ok(ended.every((bytes) => bytes.length === 0));
      const real = await Deno.connect({ hostname: "127.0.0.1", port });
      const realPort = (real.localAddr as Deno.NetAddr).port;
      try {
        await writeAll(real, new TextEncoder().encode("\x16\x03\x01")); // a ClientHello's start
        assert.equal((await readToEnd(real, 1000)).length, 0);
      } finally {
        real.close();
      }
      await server.out.match(new RegExp(refusal.source.replace("(\\d+)", String(realPort))));
      assert.equal(server.out.lines.filter((line) => refusal.test(line)).length, 51);
      // The 50 within the cap time out; then a client is served.
      await server.out.matchAll(/\(TLS handshake failed: not finished within 2 s\)$/, 50);
      const served = await sockecho(
        "send",
        "--tls",
        "--insecure",
        "127.0.0.1",
        "-p",
        server.port,
        "hi",
      );
      assert.equal(served.stdout, "server message: hi\n");
    } finally {
      silent.forEach((conn) => conn.close());
    }
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
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
