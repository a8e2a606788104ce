import assert from "node:assert/strict";
import fc from "fast-check";
import { mutated } from "../../cli/test_util_fc.ts";
import { type StreamConn, writeAll } from "../io.ts";
import { cidrContains, formatIp, parseCidrList, parseIp, toIPv6 } from "./cidr.ts";
import {
  encodeProxyHeader,
  parseProxyHeader,
  ProxyHeaderError,
  proxyHeaderStep,
  readProxyHeader,
} from "./proxy_protocol.ts";
import type { ConnectionInfo, ConnectionSummary } from "../../server.ts";
import {
  concat,
  echoOf,
  pattern,
  readToEnd,
  withServer,
  withTimeout,
} from "../../cli/test_util.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** A v2 header: signature, then the version/command, family/transport and body bytes. */
function v2(versionCommand: number, familyTransport: number, body: number[]): Uint8Array {
  const signature = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
  return new Uint8Array([
    ...signature,
    versionCommand,
    familyTransport,
    body.length >> 8,
    body.length & 0xff,
    ...body,
  ]);
}

/** The IPv4 block of a v2 header: 192.0.2.1:51234 to 192.0.2.2:4321. */
const INET_BLOCK = [192, 0, 2, 1, 192, 0, 2, 2, 0xc8, 0x22, 0x10, 0xe1];

Deno.test("a v1 line names the client, the address it reached, and its own length", () => {
  const line = "PROXY TCP4 203.0.113.7 10.0.0.1 51234 4321\r\n";
  assert.deepEqual(parseProxyHeader(text(line + "hello")), {
    version: 1,
    source: { hostname: "203.0.113.7", port: 51234 },
    destination: { hostname: "10.0.0.1", port: 4321 },
    length: line.length,
  });
  const line6 = "PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::ffff:10.0.0.1 1 65535\r\n";
  assert.deepEqual(parseProxyHeader(text(line6)), {
    version: 1,
    source: { hostname: "2001:db8::1", port: 1 },
    destination: { hostname: "::ffff:10.0.0.1", port: 65535 },
    length: line6.length,
  });
});

Deno.test("v1 UNKNOWN, v2 LOCAL, UNSPEC and UNIX headers name no client", () => {
  assert.deepEqual(parseProxyHeader(text("PROXY UNKNOWN ff::1 whatever\r\nx")), {
    version: 1,
    length: 30,
  });
  assert.deepEqual(parseProxyHeader(text("PROXY UNKNOWN\r\n")), { version: 1, length: 15 });
  // LOCAL (a health check): the block is ignored whatever it holds.
  assert.deepEqual(parseProxyHeader(v2(0x20, 0x11, [1, 2, 3])), { version: 2, length: 19 });
  assert.deepEqual(parseProxyHeader(v2(0x21, 0x00, [])), { version: 2, length: 16 });
  assert.deepEqual(parseProxyHeader(v2(0x21, 0x31, new Array(216).fill(0x41))), {
    version: 2,
    length: 232,
  });
});

Deno.test("v2 headers carry IPv4 and IPv6 clients, and their TLVs are skipped", () => {
  const tlvs = [0x03, 0x00, 0x04, 1, 2, 3, 4, 0x04, 0x00, 0x00]; // CRC32C, then an empty NOOP
  assert.deepEqual(
    parseProxyHeader(concat([v2(0x21, 0x11, [...INET_BLOCK, ...tlvs]), text("x")])),
    {
      version: 2,
      source: { hostname: "192.0.2.1", port: 51234 },
      destination: { hostname: "192.0.2.2", port: 4321 },
      length: 16 + 12 + tlvs.length,
    },
  );
  const inet6 = [...new Array(15).fill(0), 1, 0x20, 0x01, 0x0d, 0xb8, ...new Array(12).fill(0)];
  assert.deepEqual(parseProxyHeader(v2(0x21, 0x21, [...inet6, 0, 80, 1, 187])), {
    version: 2,
    source: { hostname: "::1", port: 80 },
    destination: { hostname: "2001:db8::", port: 443 },
    length: 52,
  });
});

Deno.test("what the writer writes, the parser reads back, both versions and families", () => {
  const cases = [
    [{ hostname: "127.0.0.1", port: 40000 }, { hostname: "127.0.0.2", port: 4321 }],
    [{ hostname: "fe80::1:2", port: 0 }, { hostname: "::", port: 65535 }],
  ];
  for (const [source, destination] of cases) {
    for (const version of [1, 2] as const) {
      const bytes = encodeProxyHeader(version, source, destination);
      assert.deepEqual(parseProxyHeader(bytes), {
        version,
        source,
        destination,
        length: bytes.length,
      });
    }
  }
  assert.equal(
    new TextDecoder().decode(
      encodeProxyHeader(1, { hostname: "10.1.2.3", port: 5 }, { hostname: "::1", port: 6 }),
    ),
    "PROXY TCP6 ::ffff:10.1.2.3 ::1 5 6\r\n",
  );
  assert.throws(
    () => encodeProxyHeader(2, { hostname: "localhost", port: 1 }, { hostname: "::1", port: 1 }),
    ProxyHeaderError,
  );
});

Deno.test("every strict prefix of a header asks for more bytes instead of failing", () => {
  const headers = [
    text("PROXY TCP4 203.0.113.7 10.0.0.1 51234 4321\r\n"),
    v2(0x21, 0x11, [...INET_BLOCK, 0x04, 0x00, 0x01, 0xff]),
  ];
  for (const header of headers) {
    for (let length = 0; length < header.length; length++) {
      assert.equal(parseProxyHeader(header.subarray(0, length)), undefined, `${length} bytes`);
    }
  }
});

Deno.test("bytes that cannot be a PROXY header are refused at once with the reason", () => {
  const cases: [Uint8Array, RegExp][] = [
    [
      text("GET / HTTP/1.1\r\n"),
      /^no PROXY header: the connection began with "GET \/ HTTP\/1\.1\\r\\n"$/,
    ],
    [text("PROXX"), /^no PROXY header/],
    [text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"), /^malformed PROXY v1 line/],
    [text("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n"), /^malformed PROXY v1 line/],
    [text("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"), /^malformed PROXY v1 line/],
    [text("PROXY TCP4 ::1 5.6.7.8 1 2\r\n"), /^malformed PROXY v1 line/],
    [text("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n"), /^malformed PROXY v1 line/],
    [text("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), /^malformed PROXY v1 line/],
    [
      text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\x1b[2J\r\n"),
      /line "PROXY TCP4 1\.2\.3\.4 5\.6\.7\.8 1 2\\x1b\[2J"$/,
    ],
    [text("PROXY " + "x".repeat(101)), /^PROXY v1 line without CRLF in its first 107 bytes$/],
    [v2(0x11, 0x11, INET_BLOCK), /bad version\/command byte 0x11/],
    [v2(0x22, 0x11, INET_BLOCK), /bad version\/command byte 0x22/],
    [v2(0x21, 0x41, INET_BLOCK), /bad family\/transport byte 0x41/],
    [v2(0x21, 0x13, INET_BLOCK), /bad family\/transport byte 0x13/],
    [v2(0x21, 0x21, INET_BLOCK), /or a 12-byte address block/],
    [v2(0x21, 0x12, INET_BLOCK), /^PROXY v2 header for a datagram flow on a stream connection$/],
    [
      v2(0x21, 0x11, [...INET_BLOCK, 0x04, 0x00]),
      /^PROXY v2 header with a truncated TLV at byte 0$/,
    ],
    [v2(0x21, 0x11, [...INET_BLOCK, 0x04, 0x00, 0x02, 1]), /truncated TLV at byte 0$/],
    [
      v2(0x21, 0x11, new Array(4081).fill(0)),
      /^PROXY v2 header of 4097 bytes, over the 4096 allowed$/,
    ],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(() => parseProxyHeader(bytes), (error) => {
      assert.ok(error instanceof ProxyHeaderError);
      assert.match(error.message, message);
      return true;
    });
  }
  // The size check comes from the 16 fixed bytes alone: no waiting for a body that is too big.
  assert.throws(() => parseProxyHeader(v2(0x21, 0x11, []).fill(0xff, 14, 16)), /65551 bytes/);
});

Deno.test("readProxyHeader reads a header sent in pieces and hands back the bytes after it", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const header = encodeProxyHeader(2, { hostname: "::1", port: 7 }, { hostname: "::2", port: 8 });
  const data = pattern(1000);
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const server = await listener.accept();
  try {
    await writeAll(client, header.subarray(0, 10));
    const reading = readProxyHeader(server, { timeoutMs: 10_000 });
    await writeAll(client, concat([header.subarray(10), data]));
    const { header: parsed, rest } = await withTimeout(reading, 10_000, "header");
    assert.deepEqual(parsed.source, { hostname: "::1", port: 7 });
    const more = rest.length < data.length
      ? await (client.closeWrite(), readToEnd(server))
      : new Uint8Array();
    assert.deepEqual(concat([rest, more]), data);
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("readProxyHeader gives up on a silent peer after its timeout, and on an early close", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  for (
    const [act, message] of [
      [() => {}, /^no complete PROXY header within 0\.05 s$/],
      [
        (c: Deno.Conn) => writeAll(c, text("PROXY ")).then(() => c.closeWrite()),
        /^closed after 6 bytes, before a complete PROXY header$/,
      ],
    ] as const
  ) {
    const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const server = await listener.accept();
    try {
      await act(client);
      await assert.rejects(
        withTimeout(readProxyHeader(server, { timeoutMs: 50 }), 10_000, "give up"),
        (error) => error instanceof ProxyHeaderError && message.test(error.message),
      );
    } finally {
      client.close();
      try {
        server.close();
      } catch {
        // the timeout closed it already
      }
    }
  }
});

/** Serves with the PROXY step; records what the callbacks saw. */
async function withProxyServer(
  trusted: string,
  body: (
    port: number,
    seen: { opened: ConnectionInfo[]; closed: Promise<[ConnectionInfo, ConnectionSummary]> },
  ) => Promise<void>,
) {
  const opened: ConnectionInfo[] = [];
  const closed = Promise.withResolvers<[ConnectionInfo, ConnectionSummary]>();
  await withServer({
    prepare: proxyHeaderStep({ trusted: parseCidrList(trusted)!, timeoutMs: 10_000 }),
    onConnection: (info) => opened.push(info),
    onClose: (info, summary) => closed.resolve([info, summary]),
  }, (server) => body(server.addr.port, { opened, closed: closed.promise }));
}

Deno.test("the server echoes exactly what follows the PROXY header, and names its client", async () => {
  await withProxyServer("127.0.0.1/32", async (port, { opened, closed }) => {
    const data = pattern(300_000);
    const header = text("PROXY TCP4 198.51.100.4 10.0.0.1 61000 4321\r\n");
    // One write: the server's first read takes the header and data together.
    const echo = await withTimeout(echoOf(port, concat([header, data])), 30_000, "echo");
    assert.equal(echo.length, data.length);
    assert.deepEqual(echo, data);
    const [info, summary] = await withTimeout(closed, 10_000, "close");
    assert.deepEqual(opened, [info]);
    assert.deepEqual(info.remoteAddr, { transport: "tcp", hostname: "198.51.100.4", port: 61000 });
    assert.equal((info.proxyAddr as Deno.NetAddr).hostname, "127.0.0.1");
    assert.equal((info.localAddr as Deno.NetAddr).port, port);
    assert.equal(summary.bytes, data.length);
    assert.equal(summary.reason, "client_fin");
  });
});

Deno.test("the server closes a connection without a valid header, or from outside --proxy-from", async () => {
  for (
    const [trusted, sent, message] of [
      ["127.0.0.0/8", text("hello\n"), /^no PROXY header/],
      [
        "10.0.0.0/8",
        text("PROXY UNKNOWN\r\nhello\n"),
        /^127\.0\.0\.1:\d+ may not send a PROXY header \(not in --proxy-from\)$/,
      ],
    ] as const
  ) {
    await withProxyServer(trusted, async (port, { opened, closed }) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await writeAll(conn, sent).catch(() => {}); // the server may have closed already
        const echo = await withTimeout(
          readToEnd(conn).catch(() => new Uint8Array()),
          10_000,
          "close",
        );
        assert.equal(echo.length, 0, "nothing is echoed");
      } finally {
        conn.close();
      }
      const [info, summary] = await withTimeout(closed, 10_000, "close");
      assert.deepEqual(opened, []);
      assert.equal(info.proxyAddr, undefined);
      assert.equal(summary.reason, "handshake_failure");
      assert.match(summary.error?.message ?? "", message);
    });
  }
});

// --- Properties (fast-check): random and mutated headers, any trusted list, any peer ---

/** An IPv4 or IPv6 address (often IPv4-mapped) in its canonical text, and a port. */
const ipText = fc.oneof(
  fc.uint8Array({ minLength: 4, maxLength: 4 }),
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map(toIPv6),
).map(formatIp);
const address = fc.tuple(ipText, fc.integer({ min: 0, max: 65535 }))
  .map(([hostname, port]) => ({ hostname, port }));

/** A header as a balancer writes it: either version, the families alike or mixed. */
const header = fc.record({
  version: fc.constantFrom(1 as const, 2 as const),
  source: address,
  destination: address,
});
const headerBytes = header.map(({ version, source, destination }) =>
  encodeProxyHeader(version, source, destination)
);

/** A valid header with bytes replaced, inserted, removed, cut short or added. */
const mutatedHeader = fc.tuple(mutated(headerBytes), fc.uint8Array({ maxLength: 40 }))
  .map(([bytes, tail]) => new Uint8Array([...bytes, ...tail]));

/** Bytes that begin like a header (either signature, or a part of one) and go on at random. */
const headerLike = fc.tuple(
  fc.constantFrom(
    v2(0x21, 0x11, []).subarray(0, 12),
    text("PROXY "),
    text("PROXY TCP4 "),
    text("PROXY TCP6 "),
  ),
  fc.nat(12),
  fc.uint8Array({ maxLength: 300 }),
).map(([start, keep, rest]) => new Uint8Array([...start.subarray(0, Math.max(keep, 1)), ...rest]));

/** parseProxyHeader's result, or the error it threw (anything but a ProxyHeaderError fails). */
function parsed(bytes: Uint8Array, maxBytes?: number) {
  try {
    return parseProxyHeader(bytes, maxBytes);
  } catch (error) {
    if (error instanceof ProxyHeaderError) return error;
    throw error;
  }
}

Deno.test("property: a header written is read back exactly, whatever follows it", () => {
  fc.assert(
    fc.property(
      header,
      fc.uint8Array({ maxLength: 64 }),
      ({ version, source, destination }, after) => {
        const bytes = encodeProxyHeader(version, source, destination);
        // Mixed families are written as IPv6, an IPv4 address in its mapped form.
        const mixed = source.hostname.includes(":") !== destination.hostname.includes(":");
        const as = (a: typeof source) =>
          mixed && !a.hostname.includes(":") ? { ...a, hostname: `::ffff:${a.hostname}` } : a;
        assert.deepEqual(parseProxyHeader(new Uint8Array([...bytes, ...after])), {
          version,
          source: as(source),
          destination: as(destination),
          length: bytes.length,
        });
        for (let cut = 0; cut < bytes.length; cut++) {
          assert.equal(parseProxyHeader(bytes.subarray(0, cut)), undefined, `${cut} bytes`);
        }
      },
    ),
    { numRuns: 5000 },
  );
});

Deno.test("property: any bytes give a sound header, a wait for more, or a ProxyHeaderError, and more bytes never change that", () => {
  const anyBytes = fc.oneof(mutatedHeader, headerLike, fc.uint8Array({ maxLength: 120 }));
  fc.assert(
    fc.property(
      anyBytes,
      fc.uint8Array({ minLength: 1, maxLength: 200 }),
      fc.option(fc.integer({ min: 16, max: 300 })),
      (bytes, more, limit) => {
        const maxBytes = limit ?? undefined;
        const result = parsed(bytes, maxBytes);
        const later = parsed(new Uint8Array([...bytes, ...more]), maxBytes);
        if (result instanceof ProxyHeaderError) {
          assert.ok(later instanceof ProxyHeaderError, "a refusal is final");
          return;
        }
        if (result === undefined) return;
        assert.deepEqual(later, result, "what follows a header does not change it");
        assert.ok(
          result.length <= bytes.length &&
            result.length <= (result.version === 1 ? 107 : maxBytes ?? 4096),
        );
        assert.equal(result.source === undefined, result.destination === undefined);
        for (const end of [result.source, result.destination]) {
          if (end === undefined) continue;
          assert.equal(formatIp(parseIp(end.hostname)!), end.hostname, "a canonical IP address");
          assert.ok(Number.isInteger(end.port) && end.port >= 0 && end.port <= 65535);
        }
      },
    ),
    { numRuns: 20_000 },
  );
});

/** A connection from `remoteAddr` whose reads return `bytes` in chunks of `chunk`. */
function fakeConn(remoteAddr: Deno.Addr, bytes: Uint8Array, chunk: number) {
  let at = 0;
  return {
    remoteAddr,
    reads: 0,
    read(into: Uint8Array): Promise<number | null> {
      this.reads++;
      const n = Math.min(into.length, chunk, bytes.length - at);
      into.set(bytes.subarray(at, at + n));
      at += n;
      return Promise.resolve(n === 0 ? null : n);
    },
    close() {},
  };
}

Deno.test("property: a PROXY header names the client only when its peer is in --proxy-from", async () => {
  const network = fc.oneof(
    fc.uint8Array({ minLength: 4, maxLength: 4 }),
    fc.uint8Array({ minLength: 16, maxLength: 16 }),
  );
  const ranges = fc.array(fc.tuple(network, fc.nat(128)), { minLength: 1, maxLength: 4 });
  /** A peer: anyone, one sharing a range's first bytes (so both verdicts come up), or a socket. */
  const peerOf = (networks: Uint8Array[]) =>
    fc.oneof(
      address.map(({ hostname }) => hostname),
      fc.tuple(
        fc.constantFrom(...networks),
        fc.nat(16),
        fc.uint8Array({ minLength: 16 }),
        fc.boolean(),
      )
        .map(([bytes, keep, noise, mapped]) => {
          const near = bytes.map((byte, i) => i < keep ? byte : noise[i]);
          return formatIp(mapped && near.length === 4 ? toIPv6(near) : near);
        }),
    ).map((hostname): Deno.Addr => ({ transport: "tcp", hostname, port: 4321 }));
  const setting = ranges.chain((items) =>
    fc.tuple(
      fc.constant(
        items.map(([n, bits]) => `${formatIp(n)}/${bits % (n.length * 8 + 1)}`).join(","),
      ),
      fc.oneof(
        peerOf(items.map(([n]) => n)),
        fc.constant<Deno.Addr>({ transport: "unix", path: "/run/lb.sock" }),
      ),
    )
  );
  const verdicts = { named: 0, refused: 0 };
  await fc.assert(
    fc.asyncProperty(
      setting,
      header,
      fc.uint8Array({ maxLength: 50 }),
      fc.integer({ min: 1, max: 64 }),
      async ([list, remote], claimed, data, chunk) => {
        const trusted = parseCidrList(list)!;
        const bytes = encodeProxyHeader(claimed.version, claimed.source, claimed.destination);
        const conn = fakeConn(remote, new Uint8Array([...bytes, ...data]), chunk);
        const step = proxyHeaderStep({ trusted, timeoutMs: 1000 })(conn as unknown as StreamConn);
        if (remote.transport !== "tcp" || !cidrContains(trusted, remote.hostname)) {
          await assert.rejects(step, ProxyHeaderError);
          assert.equal(conn.reads, 0, "nothing is read from an untrusted peer");
          verdicts.refused++;
          return;
        }
        const { clientAddr, pending } = await step;
        assert.deepEqual(clientAddr, { transport: "tcp", ...parseProxyHeader(bytes)!.source });
        const read = Math.min(conn.reads * chunk, bytes.length + data.length);
        assert.deepEqual(pending, data.slice(0, read - bytes.length));
        verdicts.named++;
      },
    ),
    { numRuns: 3000 },
  );
  // Both sides of the rule were tried in earnest (here about 530 named, 2,470 refused).
  assert.ok(verdicts.named > 300 && verdicts.refused > 300, JSON.stringify(verdicts));
});
