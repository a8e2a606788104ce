import assert from "node:assert/strict";
import { defaultInstanceName } from "./instance.ts";

Deno.test("the instance is the host name when it may be read, else sockecho- and 6 hex digits", () => {
  assert.equal(defaultInstanceName({ hostname: () => "web-7c9d" }), "web-7c9d");
  assert.equal(
    defaultInstanceName({ hostname: () => undefined, random: (bytes) => bytes.fill(0x0a) }),
    "sockecho-0a0a0a",
  );
  const drawn = new Set(
    Array.from({ length: 20 }, () => defaultInstanceName({ hostname: () => undefined })),
  );
  assert.ok([...drawn].every((name) => /^sockecho-[0-9a-f]{6}$/.test(name)));
  assert.ok(drawn.size > 1, "drawn at random");
});

Deno.test("without the sys permission granted, the host name is not read (no prompt)", async () => {
  const granted =
    (await Deno.permissions.query({ name: "sys", kind: "hostname" })).state === "granted";
  const name = defaultInstanceName();
  if (granted) assert.equal(name, Deno.hostname());
  else assert.match(name, /^sockecho-[0-9a-f]{6}$/);
});
