import assert from "node:assert/strict";
import { RateLimitedLog } from "./log.ts";

Deno.test("RateLimitedLog writes at most N lines a window and reports the rest", () => {
  const written: string[] = [];
  const log = new RateLimitedLog((line) => written.push(line), 2);
  let formatted = 0;
  for (let i = 0; i < 5; i++) log.line(() => `line ${formatted = i}`);
  assert.deepEqual(written, ["line 0", "line 1"]);
  assert.equal(formatted, 1, "dropped lines are never formatted");
  log.flush();
  log.line(() => "next window");
  assert.deepEqual(written.slice(2), [
    "… 3 log lines not shown (at most 2 a second)",
    "next window",
  ]);
});

Deno.test("RateLimitedLog flush reports dropped lines once", () => {
  const written: string[] = [];
  const log = new RateLimitedLog((line) => written.push(line), 1);
  log.line(() => "a");
  log.line(() => "b");
  log.flush();
  log.flush();
  assert.deepEqual(written, ["a", "… 1 log lines not shown (at most 1 a second)"]);
});
