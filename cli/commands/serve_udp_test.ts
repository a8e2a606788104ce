/**
 * `sockecho serve --udp` (UDP echo, RFC 862) and `--allow`/`--deny`: in-process
 * through `main`, and as a real process with send --udp, nc -u and socat as
 * its clients.
 */
import assert from "node:assert/strict";
import { EXIT } from "../../main.ts";
import { echoFrom, echoOf, startServe, WAIT_MS, withTimeout } from "../test_util.ts";
import {
  canRun,
  hasCommand,
  needs,
  runWithInput,
  skipped,
  sockecho,
  spawnServe,
} from "../test_util_process.ts";
import { canBindUdp, Peer, udpPortWithFreeTcp } from "../test_util_udp.ts";

/** Linux routes all of 127/8 to lo, so 127.0.0.2 can be a second source address. */
const haveSecondLoopback = await canBindUdp("127.0.0.2");
const haveUdpPort19 = await canBindUdp("127.0.0.1", 19);
const haveNc = await hasCommand("nc");
const haveSocat = await hasCommand("socat");

Deno.test({
  name:
    "serve --udp --allow --log-format json: UDP events and a denied TCP client are ledger lines" +
    (haveSecondLoopback ? "" : " (skipped: needs to bind 127.0.0.2)"),
  ignore: !haveSecondLoopback,
  async fn() {
    const server = await startServe("--udp", "--log-format", "json", "--allow", "127.0.0.1");
    const port = Number(server.port);
    const allowed = await Peer.bind("127.0.0.1");
    const outsider = await Peer.bind("127.0.0.2");
    const allowedPort = allowed.port;
    try {
      await server.printed(/"event":"listening","transport":"udp"/);
      outsider.send(new TextEncoder().encode("shut out"), port);
      await server.printed(/"event":"dropped"/);
      allowed.send(new TextEncoder().encode("hi\n"), port);
      await allowed.next();
      assert.deepEqual(await echoFrom("127.0.0.2", port, new Uint8Array([1])), new Uint8Array());
      await server.printed(/"event":"denied"/);
    } finally {
      await allowed.close();
      await outsider.close();
    }
    assert.equal(await server.stopped(), 0);
    const events = server.out.map((line) => JSON.parse(line));
    const udp = events.filter((event) => event.transport === "udp")
      .map(({ time: _, ...rest }) => rest);
    assert.deepEqual(udp, [
      { event: "listening", transport: "udp", local: `127.0.0.1:${port}` },
      { event: "dropped", transport: "udp", datagrams: 1, reasons: { denied: 1 } },
      {
        event: "datagram",
        transport: "udp",
        peer: `127.0.0.1:${allowedPort}`,
        local: `127.0.0.1:${port}`,
        bytes: 3,
        data: "hi\\n",
      },
      {
        event: "stopped",
        transport: "udp",
        datagrams: 1,
        bytes: 3,
        dropped: 1,
        reasons: { denied: 1 },
      },
    ]);
    const denied = events.find((event) => event.event === "denied");
    assert.match(denied.peer, /^127\.0\.0\.2:\d+$/);
    assert.deepEqual([denied.transport, denied.reason, denied.rule], [
      "tcp",
      "denied",
      "--allow/--deny",
    ]);
    assert.ok(events.every((event) => typeof event.time === "string"));
  },
});

// The real program as a process: `deno run -N main.ts serve --udp`.

Deno.test({
  name: "cli: serve --udp echoes send --udp's datagram, logs it and counts it in the summary",
  ignore: !canRun,
  async fn() {
    const server = await spawnServe("--udp");
    const sent = await sockecho("send", "--udp", "127.0.0.1", "-p", server.port, "hello udp", "-v");
    assert.equal(sent.code, EXIT.ok);
    assert.equal(sent.stdout, "server message: hello udp\n");
    assert.match(
      sent.stderr,
      /^sockecho: 9 bytes echoed by 127\.0\.0\.1:\d+ in [\d.]+ ms \(UDP, try 1\)\n$/,
    );
    await server.out.match(/^127\.0\.0\.1:\d+ sent 9 bytes by UDP: hello udp$/);
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
    assert.equal(
      server.err.lines.at(-1),
      "sockecho: stopped: 0 connections, 0 bytes echoed; UDP: 1 datagram, 9 bytes echoed",
    );
  },
});

Deno.test({
  name: "cli: serve --allow 127.0.0.1/32 shuts out 127.0.0.2 on TCP (unread, logged) and UDP" +
    skipped(needs(haveSecondLoopback, "to bind 127.0.0.2")),
  ignore: !canRun || !haveSecondLoopback,
  async fn() {
    const server = await spawnServe("--udp", "--allow", "127.0.0.1/32");
    const port = Number(server.port);
    const hello = new TextEncoder().encode("let me in");
    assert.deepEqual(
      await withTimeout(echoFrom("127.0.0.2", port, hello), WAIT_MS, "close"),
      new Uint8Array(),
    );
    await server.out.match(/^denied 127\.0\.0\.2:\d+ \(--allow\/--deny\)$/);
    const outsider = await Peer.bind("127.0.0.2");
    try {
      outsider.send(hello, port);
      await server.out.match(/^… UDP: 1 not answered \(1 denied by --allow\/--deny\)$/);
      // 127.0.0.1 is still served, by TCP and by UDP.
      const welcome = new TextEncoder().encode("welcome");
      assert.deepEqual(await echoOf(port, welcome), welcome);
      const sent = await sockecho("send", "--udp", "127.0.0.1", "-p", server.port, "allowed");
      assert.equal(sent.stdout, "server message: allowed\n");
      assert.deepEqual(outsider.received, []);
    } finally {
      await outsider.close();
    }
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
    assert.ok(
      !server.out.lines.some((line) => line.includes("let me in")),
      "a denied byte was read",
    );
    assert.match(
      server.err.lines.at(-1)!,
      /; UDP: 1 datagram, 7 bytes echoed, 1 not answered \(1 denied by --allow\/--deny\)$/,
    );
  },
});

Deno.test({
  name: "cli: serve --udp never answers source port 19 (chargen) and reports the drop" +
    skipped(needs(haveUdpPort19, "to bind UDP port 19 (root)")),
  ignore: !canRun || !haveUdpPort19,
  async fn() {
    const server = await spawnServe("--udp");
    const chargen = await Peer.bind("127.0.0.1", 19);
    const probe = await Peer.bind();
    try {
      chargen.send(new TextEncoder().encode("!\"#$%&'()*+,-./0123456789"), Number(server.port));
      await server.out.match(/^… UDP: 1 not answered \(1 from ports 7\/13\/17\/19\/37\)$/);
      probe.send(new TextEncoder().encode("probe"), Number(server.port));
      await probe.next();
      assert.deepEqual(chargen.received, []);
    } finally {
      await chargen.close();
      await probe.close();
    }
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
  },
});

Deno.test({
  name: "cli: serve --udp-rate 5 cuts a flooding source while another still gets its echo" +
    skipped(needs(haveSecondLoopback, "to bind 127.0.0.2")),
  ignore: !canRun || !haveSecondLoopback,
  async fn() {
    const server = await spawnServe("--udp", "--udp-rate", "5", "-q");
    const flooder = await Peer.bind("127.0.0.2");
    try {
      for (let i = 0; i < 50; i++) flooder.send(new Uint8Array([i]), Number(server.port));
      await server.out.match(/^… UDP: \d+ not answered \(\d+ over --udp-rate\)$/);
      const sent = await sockecho("send", "--udp", "127.0.0.1", "-p", server.port, "me too");
      assert.deepEqual(sent, { code: EXIT.ok, stdout: "server message: me too\n", stderr: "" });
    } finally {
      await flooder.close();
    }
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
    const [, echoed, dropped] = server.err.lines.at(-1)!.match(
      /; UDP: (\d+) datagrams?, \d+ bytes echoed, (\d+) not answered \(\d+ over --udp-rate\)$/,
    )!;
    assert.equal(Number(echoed) + Number(dropped), 51);
    assert.ok(Number(dropped) >= 30, `${dropped} dropped`); // at most 5 a second get through
  },
});

Deno.test({
  name: "interop: nc -u and socat UDP get their datagram back from sockecho serve --udp" +
    skipped(needs(haveNc, "nc") ?? needs(haveSocat, "socat")),
  ignore: !haveNc || !haveSocat,
  async fn() {
    const server = await spawnServe("--udp");
    const line = new TextEncoder().encode("over udp\n");
    for (
      const [command, args] of [
        ["nc", ["-u", "-w", "1", "127.0.0.1", server.port]],
        ["socat", ["-t", "1", "-", `UDP:127.0.0.1:${server.port}`]],
      ] as const
    ) {
      const { code, stdout } = await runWithInput(command, [...args], line);
      assert.equal(code, 0, command);
      assert.deepEqual(new Uint8Array(stdout), line, command);
    }
    server.child.kill("SIGINT");
    assert.equal(await server.finish(), EXIT.ok);
    assert.match(server.err.lines.at(-1)!, /; UDP: 2 datagrams, 18 bytes echoed$/);
  },
});

Deno.test({
  name: "cli: serve --udp on a port whose UDP side is taken exits 8 with one plain line",
  ignore: !canRun,
  async fn() {
    const taken = await udpPortWithFreeTcp();
    try {
      const port = String(taken.port);
      assert.deepEqual(await sockecho("serve", "-H", "127.0.0.1", "-p", port, "--udp"), {
        code: EXIT.addressInUse,
        stdout: "",
        stderr: `sockecho: cannot listen on 127.0.0.1:${port} (UDP): address already in use\n`,
      });
    } finally {
      await taken.close();
    }
  },
});
