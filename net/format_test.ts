import assert from "node:assert/strict";
import {
  escapeBytes,
  formatAddress,
  formatCount,
  formatEpochMicros,
  formatSeconds,
  plural,
  quoteBytes,
} from "./format.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("escapeBytes shows UTF-8 text as is and drops one trailing NUL", () => {
  assert.equal(escapeBytes(bytes("你好啊服务器!\n\0")), "你好啊服务器!\\n");
  assert.equal(escapeBytes(bytes("a\0\0")), "a\\0");
  assert.equal(escapeBytes(bytes("a\0"), { dropTrailingNul: false }), "a\\0");
});

Deno.test("escapeBytes escapes control bytes, backslash and terminal escapes", () => {
  assert.equal(escapeBytes(bytes("\x1b[2J\r\t\x07\x7f\\")), "\\x1b[2J\\r\\t\\x07\\x7f\\\\");
  assert.equal(escapeBytes(bytes("\u0085\u2028\u202e")), "\\u{85}\\u{2028}\\u{202e}");
});

Deno.test("escapeBytes escapes each byte of invalid UTF-8", () => {
  assert.equal(escapeBytes(new Uint8Array([0x61, 0xff, 0xc3])), "a\\xff\\xc3");
  // Overlong "/" and an encoded surrogate are not valid UTF-8.
  assert.equal(escapeBytes(new Uint8Array([0xc0, 0xaf])), "\\xc0\\xaf");
  assert.equal(escapeBytes(new Uint8Array([0xed, 0xa0, 0x80])), "\\xed\\xa0\\x80");
  assert.equal(escapeBytes(new Uint8Array([0xf0, 0x9f, 0x98, 0x80])), "😀");
});

Deno.test("escapeBytes shortens long input without splitting a character", () => {
  assert.equal(escapeBytes(bytes("abcdef"), { maxBytes: 4 }), "abcd… (+2 bytes)");
  // "好" is 3 bytes: a limit inside it stops before it.
  assert.equal(escapeBytes(bytes("a好b"), { maxBytes: 2 }), "a… (+4 bytes)");
  assert.equal(escapeBytes(bytes("a好b"), { maxBytes: 4 }), "a好… (+1 bytes)");
});

Deno.test("escapeBytes shows every one of the 256 byte values on one safe line", () => {
  const shown = escapeBytes(Uint8Array.from({ length: 256 }, (_, i) => i), {
    dropTrailingNul: false,
  });
  const controls = [...shown].filter((char) => {
    const code = char.codePointAt(0)!;
    return code < 0x20 || (code >= 0x7f && code <= 0x9f);
  });
  assert.deepEqual(controls, []);
});

Deno.test("formatAddress brackets IPv6 hosts", () => {
  assert.equal(formatAddress({ hostname: "127.0.0.1", port: 4321 }), "127.0.0.1:4321");
  assert.equal(formatAddress({ hostname: "::1", port: 80 }), "[::1]:80");
});

Deno.test("formatEpochMicros zero-pads the microseconds", () => {
  assert.equal(formatEpochMicros(1795551096000.005), "1795551096.000005");
  assert.equal(formatEpochMicros(1795551096852.369), "1795551096.852369");
  assert.equal(formatEpochMicros(1795551096999.9999), "1795551097.000000");
});

Deno.test("plural says 1 connection, 2 connections, with thousands separators", () => {
  assert.equal(plural(1, "connection"), "1 connection");
  assert.equal(plural(0, "byte"), "0 bytes");
  assert.equal(plural(2751999918, "byte"), "2,751,999,918 bytes");
  assert.equal(plural(1, "round trip"), "1 round trip");
  assert.equal(formatCount(16359), "16,359");
});

Deno.test("formatSeconds shows a duration in the seconds a user types", () => {
  assert.equal(formatSeconds(5000), "5 s");
  assert.equal(formatSeconds(0.3 * 1000), "0.3 s");
  assert.equal(formatSeconds(1), "0.001 s");
});

Deno.test("quoteBytes shows a reply escaped, shortened with … and its whole length", () => {
  const reply = new TextEncoder().encode("HTTP/1.0 400 Bad request\r\n\r\n");
  assert.equal(quoteBytes(reply, 26), '"HTTP/1.0 400 Bad request\\r\\n…" (28 bytes)');
  assert.equal(quoteBytes(reply), '"HTTP/1.0 400 Bad request\\r\\n\\r\\n" (28 bytes)');
  // Never half a character; a lone NUL is shown, not dropped as a C terminator.
  assert.equal(quoteBytes(new TextEncoder().encode("你好"), 4), '"你…" (6 bytes)');
  assert.equal(quoteBytes(new Uint8Array([0])), '"\\0" (1 byte)');
});
