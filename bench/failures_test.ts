import assert from "node:assert/strict";
import { addErrors, describeErrors, noneAnswered, typedError } from "./failures.ts";
import type { LoadFailure } from "./share.ts";
import { ClosedEarlyError, ConnectError, MismatchError, TimeoutError } from "../net/errors.ts";
import { HttpResponseError, HttpStatusError } from "../net/http/client.ts";
import { WebSocketHandshakeError } from "../net/http/websocket.ts";

const named = (name: LoadFailure["name"], fields = {}) =>
  Object.assign(new Error(`a ${name}`), { name, ...fields }) as LoadFailure;

Deno.test("typedError gives each named failure its class back, with its fields", () => {
  const mismatch = typedError(named("MismatchError", { offset: 7, reply: new Uint8Array([0x41]) }));
  assert.ok(mismatch instanceof MismatchError);
  assert.deepEqual([mismatch.message, mismatch.offset], [
    'a MismatchError; received "A" (1 byte)',
    7,
  ]);
  const closed = typedError(named("ClosedEarlyError", { received: 3, expected: 64 }));
  assert.ok(closed instanceof ClosedEarlyError);
  assert.deepEqual([closed.received, closed.expected], [3, 64]);
  const classes: [LoadFailure["name"], new (...args: never[]) => Error][] = [
    ["ConnectError", ConnectError],
    ["TimeoutError", TimeoutError],
    ["HttpResponseError", HttpResponseError],
    ["WebSocketHandshakeError", WebSocketHandshakeError],
  ];
  for (const [name, kind] of classes) {
    const error = typedError(named(name));
    assert.ok(error instanceof kind, name);
    assert.equal(error.message, `a ${name}`);
  }
});

Deno.test("counted errors add up, and a run of nothing but errors fails as the most of them", () => {
  const sum = addErrors([
    { closed: 2, status: { "503": 1 } },
    { closed: 0, status: { "503": 4, "429": 1 } },
  ]);
  assert.deepEqual(sum, { count: 8, closed: 2, status: { "503": 5, "429": 1 } });
  assert.equal(describeErrors(sum), "2 cut by the server, 5 answered 503, 1 answered 429");
  const status = noneAnswered(sum, 64);
  assert.ok(status instanceof HttpStatusError);
  assert.equal(status.status, 503);
  assert.equal(
    status.message,
    "not one round trip came back with its echo: 2 cut by the server, 5 answered 503, 1 answered 429",
  );
  const cut = noneAnswered(addErrors([{ closed: 3, status: { "500": 3 } }]), 64);
  assert.ok(cut instanceof ClosedEarlyError);
});
