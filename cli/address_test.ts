import assert from "node:assert/strict";
import { parseHostArgument, parseTarget, splitHostPort } from "./address.ts";
import { UsageError } from "./args.ts";

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
