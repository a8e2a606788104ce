import assert from "node:assert/strict";
import { findLargest, type Trial } from "./http_limits.ts";

const refusedAbove = (limit: number) => (size: number): Promise<Trial> =>
  Promise.resolve(
    size <= limit ? { kind: "pass" } : { kind: "refused", status: 431, detail: "431 Too Large" },
  );

Deno.test("findLargest finds any limit to the byte within 18 requests", async () => {
  for (const limit of [0, 1, 8190, 16_384, 32_767, 65_535]) {
    const found = await findLargest(0, 65_536, 1, refusedAbove(limit));
    assert.equal(found.largest, limit);
    assert.equal(found.above?.size, limit + 1);
    assert.equal(found.above?.kind, "refused");
    assert.equal(found.broken, undefined);
    assert.ok(found.requests <= 18, `${found.requests} requests for ${limit}`);
  }
});

Deno.test("findLargest asks once when the bound passes", async () => {
  assert.deepEqual(await findLargest(0, 65_536, 1, refusedAbove(1e9)), {
    largest: 65_536,
    bound: 65_536,
    requests: 1,
  });
});

Deno.test("findLargest keeps to its step above its floor", async () => {
  const tried: number[] = [];
  const found = await findLargest(1 << 20, 16 << 20, 65_536, (size) => {
    tried.push(size);
    return refusedAbove(5_000_000)(size);
  });
  assert.ok(found.largest <= 5_000_000 && found.largest > 5_000_000 - 65_536);
  assert.ok(tried.every((size) => size === 16 << 20 || (size - (1 << 20)) % 65_536 === 0));
  assert.ok(found.requests <= 9, `${found.requests} requests`);
});

Deno.test("findLargest: a cut is the search's failure but not its end; an altered size ends it", async () => {
  const cut = await findLargest(0, 1000, 1, (size) =>
    Promise.resolve(
      size <= 300 ? { kind: "pass" } : { kind: "cut", detail: "reset", error: new Error("reset") },
    ));
  assert.equal(cut.largest, 300);
  assert.equal(cut.broken?.size, 1000, "the first cut is kept");
  assert.equal(cut.above?.size, 301);
  const altered = await findLargest(0, 1000, 1, (size) =>
    Promise.resolve(
      size <= 300
        ? { kind: "pass" }
        : { kind: "altered", detail: "changed", error: new Error("changed") },
    ));
  assert.equal(altered.requests, 1);
  assert.equal(altered.broken?.kind, "altered");
});
