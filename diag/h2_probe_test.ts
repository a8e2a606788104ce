import assert from "node:assert/strict";
import { describeAlpn, probeH2c } from "./h2_probe.ts";
import { dialTcp } from "../net/dial.ts";
import { writeAll } from "../net/io.ts";
import { readExactly, withFakeServer } from "../cli/test_util.ts";

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const connect = (port: number) =>
  dialTcp({ hostname: "127.0.0.1", port }, AbortSignal.timeout(2000));

Deno.test("probeH2c: a server that answers the preface with SETTINGS speaks h2c", async () => {
  let heard: Uint8Array = new Uint8Array();
  await withFakeServer(async (conn) => {
    heard = await readExactly(conn, PREFACE.length + 9);
    await writeAll(conn, new Uint8Array([0, 0, 6, 0x04, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100]));
    await conn.read(new Uint8Array(1));
  }, async (port) => {
    assert.deepEqual(await probeH2c(await connect(port), 2000), {
      speaks: true,
      answer: "a SETTINGS frame",
    });
  });
  // The preface, then an empty SETTINGS frame.
  assert.deepEqual(heard.subarray(0, PREFACE.length), PREFACE);
  assert.deepEqual([...heard.subarray(PREFACE.length)], [0, 0, 0, 4, 0, 0, 0, 0, 0]);
});

Deno.test("probeH2c: an HTTP/1.1 answer, a close and silence are no h2c, each said", async () => {
  const answers: [(conn: Deno.Conn) => Promise<void>, string][] = [
    [
      (conn) => writeAll(conn, new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n")),
      "HTTP/1.1 400 Bad Request",
    ],
    [() => Promise.resolve(), "a close"],
    [async (conn) => void await conn.read(new Uint8Array(1024)), "nothing"],
  ];
  for (const [answer, said] of answers) {
    await withFakeServer(async (conn) => {
      await answer(conn);
      if (said === "nothing") await conn.read(new Uint8Array(1024));
    }, async (port) => {
      assert.deepEqual(await probeH2c(await connect(port), 300), { speaks: false, answer: said });
    });
  }
});

Deno.test("describeAlpn says what ALPN chose", () => {
  assert.equal(describeAlpn("h2"), "h2 offered: ALPN chose h2 from h2, http/1.1");
  assert.equal(describeAlpn("http/1.1"), "no h2: ALPN chose http/1.1 from h2, http/1.1");
  assert.equal(
    describeAlpn(undefined),
    "no h2: the TLS server chose no ALPN protocol from h2, http/1.1",
  );
});
