import assert from "node:assert/strict";
import { compareHeaders, isForwarding, withQuery } from "./http_seen.ts";

Deno.test("compareHeaders: added, dropped and changed, by name in any case", () => {
  const sent: [string, string][] = [["Host", "a"], ["User-Agent", "x"], ["X-A", "1"]];
  const seen: [string, string][] = [
    ["host", "b"],
    ["X-A", "1"],
    ["x-forwarded-for", "10.0.0.1"],
    ["Via", "1.1 proxy"],
  ];
  assert.deepEqual(compareHeaders(sent, seen), {
    added: [["x-forwarded-for", "10.0.0.1"], ["Via", "1.1 proxy"]],
    removed: [["User-Agent", "x"]],
    changed: [["Host", "a", "b"]],
  });
});

Deno.test("compareHeaders: repeated values merged by a proxy are no change", () => {
  const sent: [string, string][] = [["X-A", "1"], ["X-A", "2"]];
  assert.deepEqual(compareHeaders(sent, [["X-A", "1, 2"]]), {
    added: [],
    removed: [],
    changed: [],
  });
  assert.deepEqual(compareHeaders(sent, [["X-A", "2"], ["X-A", "1"]]).changed, [
    ["X-A", "1, 2", "2, 1"],
  ]);
});

Deno.test("isForwarding names the headers proxies add about the client", () => {
  for (const name of ["X-Forwarded-For", "x-forwarded-proto", "Forwarded", "Via", "X-Real-IP"]) {
    assert.ok(isForwarding(name), name);
  }
  for (const name of ["Connection", "X-Forwarded", "Forwarded-For", "Via-Point"]) {
    assert.ok(!isForwarding(name), name);
  }
});

Deno.test("withQuery adds a parameter to a path with or without a query", () => {
  assert.equal(withQuery("/", "format=json"), "/?format=json");
  assert.equal(withQuery("/a?b=1", "format=json"), "/a?b=1&format=json");
});
