import assert from "node:assert/strict";
import { describeConnections, idleRow, limitRow, seenRows } from "./check_http_rows.ts";
import { EchoCorruptedError, EchoIncompleteError, IdleCutError } from "./errors.ts";
import type { SeenReply } from "./http_seen.ts";
import { ConnectError } from "../net/errors.ts";
import { WebSocketHandshakeError } from "../net/http/websocket.ts";

const local = { localAddr: { transport: "tcp" as const, hostname: "127.0.0.1", port: 50_000 } };
const sent: [string, string][] = [["Host", "echo.test"], ["Accept", "application/json"]];
const reply = (headers: [string, string][], peerPort = 50_000): SeenReply => ({
  status: 200,
  reason: "OK",
  keepAlive: true,
  headers: [],
  firstLine: "{",
  description: { headers, peer: { address: "127.0.0.1", port: peerPort }, instance: "web-1" },
});

Deno.test("seenRows: a proxy that rewrites Host, adds X-Forwarded-For and connects on its own", () => {
  const rows = seenRows(
    sent,
    reply([["host", "backend:8080"], ["accept", "application/json"], [
      "X-Forwarded-For",
      "10.1.2.3",
    ], ["Connection", "close"]], 41_000),
    local,
  );
  assert.deepEqual(rows.map((row) => [row.name, row.verdict, row.detail]), [
    ["host", "info", 'Host rewritten: sent "echo.test", the server saw "backend:8080"'],
    ["forwarded", "info", "the path added X-Forwarded-For: 10.1.2.3; also added Connection: close"],
    [
      "peer",
      "info",
      "the server's peer is 127.0.0.1:41000, not this client (127.0.0.1:50000): a proxy or NAT is in between",
    ],
  ]);
});

Deno.test("seenRows: nothing in between", () => {
  const rows = seenRows(sent, reply(sent), local);
  assert.deepEqual(rows.map((row) => row.detail), [
    'Host kept: the server saw "echo.test"',
    "no X-Forwarded-*, Forwarded or Via header was added",
    "the server's peer is this client (127.0.0.1:50000): nothing in between ends the TCP connection",
  ]);
});

Deno.test("seenRows: no reply fails host (16); another server's reply skips all three", () => {
  const failed = seenRows(sent, new Error("reset"), local);
  assert.deepEqual(failed.map((row) => row.verdict), ["fail", "skip", "skip"]);
  assert.ok(failed[0].error instanceof EchoIncompleteError);
  const other = seenRows(sent, {
    ...reply([]),
    description: undefined,
    status: 404,
    reason: "Not Found",
  }, local);
  assert.deepEqual(other.map((row) => row.verdict), ["skip", "skip", "skip"]);
  assert.equal(other[0].detail, "not checked: ?format=json was answered 404 Not Found");
});

Deno.test("describeConnections: our connections and the server's", () => {
  const on = (connection: number, id: string, keepAlive = true) => ({
    keepAlive,
    headers: [["X-Echo-Connection", id]] as [string, string][],
    connection,
  });
  assert.equal(
    describeConnections([on(1, "3"), on(1, "4"), on(1, "5")]).detail,
    "3 requests on one connection, kept alive; the server saw 3 connections (3, 4, 5): " +
      "the path opens connections of its own to the server",
  );
  assert.equal(
    describeConnections([on(1, "3", false), on(2, "4", false)]).detail,
    "2 requests needed 2 connections: the replies closed them (Connection: close); " +
      "the server saw 2 connections (3, 4)",
  );
});

Deno.test("limitRow: refused above is a pass; cut is 16, altered 15", () => {
  const refused = limitRow("large header", "a header", {
    largest: 8190,
    bound: 65_536,
    above: { size: 8191, kind: "refused", status: 431, detail: "431 Too Large" },
    requests: 17,
  });
  assert.equal(refused.verdict, "pass");
  assert.equal(refused.detail, "a header of 8,190 B passes; 8,191 B is refused: 431 Too Large");
  const cut = { size: 9000, kind: "cut" as const, detail: "reset", error: new Error("reset") };
  const broken = limitRow("large body", "a body", {
    largest: 10,
    bound: 100,
    above: cut,
    broken: cut,
    requests: 3,
  });
  assert.equal(broken.verdict, "fail");
  assert.ok(broken.error instanceof EchoIncompleteError);
  const altered = { ...cut, kind: "altered" as const, view: "sent …\ngot …" };
  const corrupt = limitRow("large body", "a body", {
    largest: 10,
    bound: 100,
    broken: altered,
    requests: 1,
  });
  assert.ok(corrupt.error instanceof EchoCorruptedError);
  assert.equal(corrupt.view, "sent …\ngot …");
});

Deno.test("idleRow: no cut passes, a cut is 19, no flow started keeps a code of its own", () => {
  const flow = (idleMs: number, cutAfterMs?: number) => ({
    idleMs,
    survived: cutAfterMs === undefined,
    ...cutAfterMs !== undefined && { death: "fin" as const, cutAfterMs },
  });
  const none = idleRow("keep-alive idle", 1000, 2, {
    status: "fulfilled",
    value: { flows: [flow(500), flow(1000)], longestSurvivedMs: 1000, interrupted: false },
  });
  assert.deepEqual([none.verdict, none.detail], [
    "pass",
    "no idle connection was cut within 1.000 s (2 flows)",
  ]);
  const cut = idleRow("keep-alive idle", 1000, 2, {
    status: "fulfilled",
    value: {
      flows: [flow(500), flow(1000, 750)],
      longestSurvivedMs: 500,
      shortestCutMs: 750,
      interrupted: false,
    },
  });
  assert.equal(cut.detail, "cut after 0.750 s idle (FIN 1, reset 0, silence 0); 0.500 s survived");
  assert.ok(cut.error instanceof IdleCutError);
  const refused = new WebSocketHandshakeError("WebSocket upgrade refused");
  assert.equal(
    idleRow("websocket idle", 1000, 2, { status: "rejected", reason: refused }).error,
    refused,
  );
  const connect = new ConnectError("refused");
  assert.equal(
    idleRow("websocket idle", 1000, 2, { status: "rejected", reason: connect }).error,
    connect,
  );
  const other = idleRow("websocket idle", 1000, 2, {
    status: "rejected",
    reason: new Error("odd"),
  });
  assert.ok(other.error instanceof EchoIncompleteError);
});
