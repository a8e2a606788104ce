import assert from "node:assert/strict";
import { ResolveError } from "./errors.ts";
import { resolveHost } from "./resolve.ts";

/** A resolver that fails like getaddrinfo does, with `code`. */
const failingWith = (code: string) => () =>
  Promise.reject(Object.assign(new Error(`getaddrinfo ${code}`), { code }));

Deno.test("resolveHost says 'no such host' for a name the resolver does not know", async () => {
  await assert.rejects(() => resolveHost("gone.test", failingWith("ENOTFOUND")), {
    name: "ResolveError",
    message: "cannot resolve gone.test: no such host",
  });
});

Deno.test("resolveHost explains an offline resolver's EAI_AGAIN in words", async () => {
  await assert.rejects(() => resolveHost("gone.test", failingWith("EAI_AGAIN")), {
    name: "ResolveError",
    message: "cannot resolve gone.test: no answer from the name server " +
      "(temporary failure; is the network up?)",
  });
});

Deno.test("resolveHost keeps the resolver's order and drops duplicates", async () => {
  const answer = [{ address: "::1" }, { address: "127.0.0.1" }, { address: "::1" }];
  assert.deepEqual(await resolveHost("dual.test", () => Promise.resolve(answer)), [
    "::1",
    "127.0.0.1",
  ]);
  await assert.rejects(() => resolveHost("empty.test", () => Promise.resolve([])), ResolveError);
});

Deno.test("resolveHost resolves address literals to themselves", async () => {
  assert.deepEqual(await resolveHost("127.0.0.1"), ["127.0.0.1"]);
  assert.deepEqual(await resolveHost("::1"), ["::1"]);
});
