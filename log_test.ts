import assert from "node:assert/strict";
import { RateLimitedLog } from "./log.ts";

Deno.test("RateLimitedLog writes at most N lines a second and reports the rest", () => {
  const written: string[] = [];
  let now = 0;
  const log = new RateLimitedLog((line) => written.push(line), 2, () => now);
  let formatted = 0;
  for (let i = 0; i < 5; i++) log.line(() => `line ${formatted = i}`);
  assert.deepEqual(written, ["line 0", "line 1"]);
  assert.equal(formatted, 1, "dropped lines are never formatted");
  now = 1000;
  log.line(() => "next second");
  assert.deepEqual(written.slice(2), [
    "… 3 log lines not shown (at most 2 a second)",
    "next second",
  ]);
});

Deno.test("RateLimitedLog flush reports dropped lines once", () => {
  const written: string[] = [];
  const log = new RateLimitedLog((line) => written.push(line), 1, () => 0);
  log.line(() => "a");
  log.line(() => "b");
  log.flush();
  log.flush();
  assert.deepEqual(written, ["a", "… 1 log lines not shown (at most 1 a second)"]);
});
