import assert from "node:assert/strict";
import fc from "fast-check";
import { parseHostArgument, parseTarget, splitHostPort } from "./address.ts";
import { UsageError } from "./args.ts";
import { formatIp } from "../net/access/cidr.ts";
import { formatAddress } from "../net/format.ts";

Deno.test("splitHostPort takes an address as the server prints it, and as people type it", () => {
  assert.deepEqual(splitHostPort("example.com"), { hostname: "example.com" });
  assert.deepEqual(splitHostPort("127.0.0.1:4400"), { hostname: "127.0.0.1", port: "4400" });
  assert.deepEqual(splitHostPort("[::1]"), { hostname: "::1" });
  assert.deepEqual(splitHostPort("[::1]:33781"), { hostname: "::1", port: "33781" });
  // A bare IPv6 address: its colons are its own, so it carries no port.
  assert.deepEqual(splitHostPort("fe80::1"), { hostname: "fe80::1" });
  assert.deepEqual(splitHostPort("::1"), { hostname: "::1" });
});

Deno.test("splitHostPort rejects an address it cannot read, quoting it", () => {
  for (const text of ["", "[::1", "[::1]x", "[]", "[example.com]:80", ":4400"]) {
    assert.throws(
      () => splitHostPort(text),
      new UsageError(
        `invalid address "${text}": expected HOST, HOST:PORT, [IPv6] or [IPv6]:PORT`,
      ),
    );
  }
});

Deno.test("parseTarget takes the port from HOST:PORT or -p, and a disagreement is an error", () => {
  assert.deepEqual(parseTarget("h", undefined, 4321), {
    hostname: "h",
    port: 4321,
    portGiven: false,
  });
  assert.deepEqual(parseTarget("h:80", undefined, 4321), {
    hostname: "h",
    port: 80,
    portGiven: true,
  });
  assert.deepEqual(parseTarget("[::1]", "80", 4321), {
    hostname: "::1",
    port: 80,
    portGiven: true,
  });
  assert.deepEqual(parseTarget("h:80", "80", 4321), { hostname: "h", port: 80, portGiven: true });
  assert.throws(
    () => parseTarget("h:80", "81", 4321),
    new UsageError('two ports given: 80 in "h:80" and 81 with -p; keep one'),
  );
});

Deno.test("parseHostArgument takes HOST and what follows, or no HOST with --unix", () => {
  const options = {
    command: "send",
    fallback: 4321,
    rest: 1,
    tooMany: (extra: string) => `one too many: ${extra}`,
  };
  assert.deepEqual(parseHostArgument(["[::1]:4400", "hi"], options), {
    target: { hostname: "::1", port: 4400, portGiven: true },
    rest: ["hi"],
  });
  assert.deepEqual(parseHostArgument(["hi"], { ...options, unix: "/tmp/echo.sock" }), {
    target: { hostname: "", port: 4321, portGiven: false },
    rest: ["hi"],
  });
  assert.throws(() => parseHostArgument([], options), new UsageError("send needs a HOST"));
  // The extra argument is named before HOST is read, as the commands always did.
  assert.throws(
    () => parseHostArgument(["[bad", "hi", "extra"], options),
    new UsageError("one too many: extra"),
  );
  assert.throws(
    () => parseHostArgument(["a", "b"], { ...options, unix: "/tmp/echo.sock" }),
    new UsageError("one too many: b"),
  );
});

// --- Properties (fast-check): every address as printed, any port, any text ---

/** A host as the server or a user writes it: IPv4, IPv6 (mapped too) or a DNS name. */
const host = fc.oneof(
  fc.ipV4(),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map(formatIp),
  fc.ipV4().map((v4) => `::ffff:${v4}`),
  fc.domain(),
);
const port = fc.integer({ min: 1, max: 65535 });

Deno.test("property: an address as sockecho prints it is read back as it was", () => {
  fc.assert(
    fc.property(host, port, fc.option(port), (hostname, printed, other) => {
      const text = formatAddress({ hostname, port: printed });
      assert.deepEqual(parseTarget(text, undefined, 4321), {
        hostname,
        port: printed,
        portGiven: true,
      });
      // A bare host (an IPv6 address unbracketed too) takes -p, or the default.
      assert.deepEqual(parseTarget(hostname, other === null ? undefined : String(other), 4321), {
        hostname,
        port: other ?? 4321,
        portGiven: other !== null,
      });
      // -p beside HOST:PORT must agree with it.
      if (other !== null && other !== printed) {
        assert.throws(() => parseTarget(text, String(other), 4321), UsageError);
      }
    }),
    { numRuns: 5000 },
  );
});

Deno.test("property: any text is a target with a real port and no stray bracket, or a usage error", () => {
  const piece = fc.oneof(
    host,
    fc.string({ unit: fc.constantFrom(..."[]:.0123456789ab%"), maxLength: 6 }),
  );
  const text = fc.array(piece, { maxLength: 4 }).chain((parts) =>
    fc.array(fc.constantFrom(":", "[", "]", ""), {
      minLength: parts.length,
      maxLength: parts.length,
    })
      .map((seps) => parts.map((part, i) => seps[i] + part).join(""))
  );
  fc.assert(
    fc.property(fc.oneof(text, fc.string()), (typed) => {
      let target;
      try {
        target = parseTarget(typed, undefined, 4321);
      } catch (error) {
        if (error instanceof UsageError) return;
        throw error;
      }
      assert.ok(Number.isInteger(target.port) && target.port >= 1 && target.port <= 65535);
      assert.ok(
        target.hostname !== "" && !/[[\]]/.test(target.hostname),
        `"${typed}" → ${target.hostname}`,
      );
    }),
    { numRuns: 10_000 },
  );
});

Deno.test("what the properties found: a stray bracket is a usage error, not a name to resolve", () => {
  // "::1]:4400" (a bracket dropped) was looked up as a host name and failed as "cannot resolve".
  for (const text of ["::1]:4400", "]0.0.0.0", "a]:80", "[::1[::2]:80"]) {
    assert.throws(
      () => splitHostPort(text),
      new UsageError(`invalid address "${text}": expected HOST, HOST:PORT, [IPv6] or [IPv6]:PORT`),
    );
  }
});
