/**
 * Response shaping (net/http/shaping.ts): what each parameter asks for, from
 * the query or an `X-Echo-*` header, the one-line 400 reason of every bad
 * value, and properties (fast-check): any text gives a plan within the limits
 * or a ShapingError, and a mix drawn many times matches its percentages.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  DEFAULT_SHAPING_LIMITS,
  MAX_EXTRA_HEADERS,
  parseShaping,
  ShapingError,
  type ShapingLimits,
  type ShapingPlan,
} from "./shaping.ts";

const noHeaders = () => undefined;

/** The plan for a query string (and optional request headers) with the default limits. */
function plan(
  query: string,
  headers: Record<string, string> = {},
  random = () => 0.5,
): ShapingPlan {
  const request = new Headers(headers);
  return parseShaping(
    new URLSearchParams(query),
    (name) => request.get(name) ?? undefined,
    DEFAULT_SHAPING_LIMITS,
    random,
  );
}

/** The 400 reason for a query string (and optional request headers). */
function refusal(query: string, headers: Record<string, string> = {}): string {
  try {
    plan(query, headers);
  } catch (error) {
    assert.ok(error instanceof ShapingError, String(error));
    return error.message;
  }
  assert.fail(`no error for ${query}`);
}

Deno.test("a request that asks nothing gets status 200 now, with no extra headers", () => {
  assert.deepEqual(plan(""), { status: 200, delayMs: 0, headers: [] });
  assert.deepEqual(plan("format=raw&x=1"), { status: 200, delayMs: 0, headers: [] });
});

Deno.test("each parameter from the query becomes its part of the plan", () => {
  const unshaped = { status: 200, delayMs: 0, headers: [] };
  const cases: [string, Partial<ShapingPlan>][] = [
    ["status=503", { status: 503 }],
    ["status=100", { status: 100 }],
    ["status=599", { status: 599 }],
    ["delay=250ms", { delayMs: 250 }],
    ["delay=1.5s", { delayMs: 1500 }],
    ["delay=1.1s", { delayMs: 1100 }],
    ["delay=0.5ms", { delayMs: 0.5 }],
    ["delay=10s", { delayMs: 10_000 }],
    ["size=0", { size: 0 }],
    ["size=1024", { size: 1024 }],
    ["size=64k", { size: 65_536 }],
    ["size=64K", { size: 65_536 }],
    ["size=64KiB", { size: 65_536 }],
    ["size=16m", { size: 16 * 2 ** 20 }],
    ["size=16MiB", { size: 16 * 2 ** 20 }],
    ["close=after-headers", { close: "after-headers" }],
    ["reset=100", { resetAfter: 100 }],
    ["reset=0", { resetAfter: 0 }],
    ["size=10&delay=5ms&status=418", { status: 418, delayMs: 5, size: 10 }],
  ];
  for (const [query, asked] of cases) {
    assert.deepEqual(plan(query), { ...unshaped, ...asked }, query);
  }
});

Deno.test("header is repeatable in the query, a comma list, and a value may hold commas", () => {
  assert.deepEqual(plan("header=X-A:1&header=X-B: two ").headers, [["X-A", "1"], ["X-B", "two"]]);
  assert.deepEqual(plan("header=X-A:1,X-B:2").headers, [["X-A", "1"], ["X-B", "2"]]);
  assert.deepEqual(
    plan(`header=${encodeURIComponent("Cache-Control:no-cache, no-store, X-B:2")}`).headers,
    [["Cache-Control", "no-cache, no-store"], ["X-B", "2"]],
  );
  assert.deepEqual(plan("header=X-Time:12%3A00").headers, [["X-Time", "12:00"]]);
  assert.deepEqual(plan("header=X-Empty:").headers, [["X-Empty", ""]]);
  // A proxy joins two X-Echo-Header lines with ", ".
  assert.deepEqual(plan("", { "X-Echo-Header": "Set-Cookie:a=1, Set-Cookie:b=2" }).headers, [
    ["Set-Cookie", "a=1"],
    ["Set-Cookie", "b=2"],
  ]);
  const twenty = Array.from({ length: MAX_EXTRA_HEADERS }, (_, i) => `header=X-${i}:${i}`);
  assert.equal(plan(twenty.join("&")).headers.length, MAX_EXTRA_HEADERS);
  assert.equal(plan(`header=X-A:${"v".repeat(1024 - 4)}`).headers[0][1].length, 1020);
});

Deno.test("X-Echo-* request headers ask the same, and the query wins over them", () => {
  const headers = {
    "X-Echo-Status": "404",
    "X-Echo-Delay": "20ms",
    "X-Echo-Size": "2k",
    "X-Echo-Header": "X-A:1",
    "X-Echo-Close": "after-headers",
  };
  assert.deepEqual(plan("", headers), {
    status: 404,
    delayMs: 20,
    size: 2048,
    headers: [["X-A", "1"]],
    close: "after-headers",
  });
  assert.deepEqual(plan("status=201&header=X-B:2&size=1", headers), {
    status: 201,
    delayMs: 20,
    size: 1,
    headers: [["X-B", "2"]],
    close: "after-headers",
  });
  assert.equal(plan("", { "X-Echo-Reset": "7" }).resetAfter, 7);
  assert.equal(
    refusal("", { "X-Echo-Delay": "20s" }),
    "bad parameter delay: 20s is above --max-delay 10s",
  );
});

Deno.test("a mix gives each value its share of random()'s range, the rest the default", () => {
  const status = (random: number) => plan("status=503:10,429:5", {}, () => random).status;
  assert.deepEqual([0, 0.0999, 0.1, 0.1499, 0.15, 0.9999].map(status), [
    503,
    503,
    429,
    429,
    200,
    200,
  ]);
  const delay = (random: number) => plan("delay=50ms:90,2s:10", {}, () => random).delayMs;
  assert.deepEqual([0, 0.8999, 0.9, 0.9999].map(delay), [50, 50, 2000, 2000]);
  const partial = (random: number) => plan("delay=1s:25", {}, () => random).delayMs;
  assert.deepEqual([0.2, 0.3].map(partial), [1000, 0]);
  assert.equal(plan("status=500:100", {}, () => 0.9999).status, 500);
  assert.equal(plan("status=500:0", {}, () => 0).status, 200);
  assert.equal(plan("status=503:33.3,502:33.3,501:33.4", {}, () => 0.9999).status, 501);
});

Deno.test("every bad value gets a one-line reason that names the parameter", () => {
  const cases: [string, string][] = [
    ["status=abc", 'status: "abc" is not a status code from 100 to 599'],
    ["status=99", 'status: "99" is not a status code from 100 to 599'],
    ["status=600", 'status: "600" is not a status code from 100 to 599'],
    ["status=200.0", 'status: "200.0" is not a status code from 100 to 599'],
    ["status=", "status: empty value"],
    ["status=200&status=500", "status: given 2 times in the query; give it once"],
    ["status=503:60,429:50", "status: the percentages total 110, above 100"],
    ["status=503:10,429", 'status: mix entry "429" is not VALUE:PERCENT'],
    ["status=503:10,", 'status: mix entry "" is not VALUE:PERCENT'],
    ["status=503:1:2", 'status: mix entry "503:1:2" is not VALUE:PERCENT'],
    ["status=503:101", 'status: percentage "101" is not a number from 0 to 100'],
    ["status=503:-1", 'status: percentage "-1" is not a number from 0 to 100'],
    ["status=503:1e1", 'status: percentage "1e1" is not a number from 0 to 100'],
    ["status=503:10,503:5", "status: 503 is in the mix twice"],
    ["delay=20s", "delay: 20s is above --max-delay 10s"],
    ["delay=10001ms", "delay: 10001ms is above --max-delay 10s"],
    ["delay=250", 'delay: "250" has no unit: write 250ms or 250s'],
    ["delay=2m", 'delay: "2m" has the unit "m"; the units are ms and s'],
    ["delay=-1s", 'delay: "-1s" is not a duration such as 250ms or 1.5s'],
    ["delay=1e3ms", 'delay: "1e3ms" is not a duration such as 250ms or 1.5s'],
    ["delay=50ms:90,20s:10", "delay: 20s is above --max-delay 10s"],
    ["size=17m", "size: 17m is above --max-size 16MiB"],
    ["size=1.5k", 'size: "1.5k" is not a byte count such as 1024, 64k (64KiB) or 16m (16MiB)'],
    ["size=64kB", 'size: "64kB" is not a byte count such as 1024, 64k (64KiB) or 16m (16MiB)'],
    ["size=-1", 'size: "-1" is not a byte count such as 1024, 64k (64KiB) or 16m (16MiB)'],
    ["size=99999999999999999999999", "size: 99999999999999999999999 is above --max-size 16MiB"],
    [`size=${"9".repeat(70)}`, `size: ${"9".repeat(60)}… (+10 bytes) is above --max-size 16MiB`],
    ["reset=1g", "reset: 1g is above --max-size 16MiB"],
    ["close=now", 'close: "now" is not after-headers (the only close)'],
    [
      "close=after-headers&reset=5",
      "reset: cannot be combined with close (the connection ends once)",
    ],
    ["header=X-A", 'header: "X-A" is not Name:Value'],
    ["header=", "header: empty value"],
    [
      "header=Content-Length:5",
      "header: Content-Length may not be set: the server frames the body",
    ],
    [
      "header=transfer-encoding:chunked",
      "header: transfer-encoding may not be set: the server frames the body",
    ],
    [
      "header=Connection:close",
      "header: Connection may not be set: a hop-by-hop header, the server's own",
    ],
    ["header=Upgrade:h2c", "header: Upgrade may not be set: a hop-by-hop header, the server's own"],
    [
      "header=X-Echo-Instance:fake",
      "header: X-Echo-Instance may not be set: X-Echo-* say who answered",
    ],
    ["header=X%20A:1", 'header: name "X A" is not an HTTP token'],
    ["header=:1", 'header: name "" is not an HTTP token'],
    [
      "header=X-A:1%0D%0AX-B:2",
      'header: value of X-A "1\\r\\nX-B:2" has a control or non-ASCII character',
    ],
    ["header=X-A:%0A", 'header: value of X-A "\\n" has a control or non-ASCII character'],
    ["header=X-A:caf%C3%A9", 'header: value of X-A "café" has a control or non-ASCII character'],
    [
      `header=X-A:${"v".repeat(1021)}`,
      `header: "X-A:${"v".repeat(56)}…" (1,025 bytes) is longer than 1024 bytes`,
    ],
    [
      Array.from({ length: MAX_EXTRA_HEADERS + 1 }, (_, i) => `header=X-${i}:${i}`).join("&"),
      "header: 21 headers asked, at most 20",
    ],
  ];
  for (const [query, reason] of cases) {
    assert.equal(refusal(query), `bad parameter ${reason}`, query);
  }
});

Deno.test("the limits given are the ones enforced and named", () => {
  const limits: ShapingLimits = { maxDelayMs: 1500, maxSize: 1000 };
  const parse = (query: string) => parseShaping(new URLSearchParams(query), noHeaders, limits);
  assert.equal(parse("delay=1.5s&size=1000").delayMs, 1500);
  assert.throws(() => parse("delay=1501ms"), {
    message: "bad parameter delay: 1501ms is above --max-delay 1500ms",
  });
  assert.throws(() => parse("size=1k"), {
    message: "bad parameter size: 1k is above --max-size 1000",
  });
  assert.throws(() => parse("reset=1001"), {
    message: "bad parameter reset: 1001 is above --max-size 1000",
  });
});

// --- Properties (fast-check) ---

const PARAMS = ["status", "delay", "size", "header", "close", "reset"];

/** Text near the syntax (digits, units, separators, hostile characters) and plain noise. */
const nearSyntax = fc.string({
  unit: fc.constantFrom(..."0123456789.:,msSkKmMiBg -_xX\r\n\t\0é", "after-headers", "X-A:", "ms"),
  maxLength: 30,
});
const anyText = fc.oneof(
  nearSyntax,
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
);

/** Any limits a server could be started with. */
const anyLimits = fc.record({
  maxDelayMs: fc.integer({ min: 0, max: 100_000 }),
  maxSize: fc.integer({ min: 0, max: 2 ** 30 }),
});

/** Any shaping request: parameters by query (repeated or not) and by header. */
const anyRequest = fc.record({
  query: fc.array(fc.tuple(fc.constantFrom(...PARAMS, "format"), anyText), { maxLength: 5 }),
  headers: fc.dictionary(fc.constantFrom(...PARAMS), anyText, { maxKeys: 6 }),
  random: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
});

Deno.test("property: any text gives a plan within the limits, or a one-line ShapingError", () => {
  fc.assert(
    fc.property(anyRequest, anyLimits, ({ query, headers, random }, limits) => {
      const byName = new Map(
        Object.entries(headers).map(([param, value]) => [
          `X-Echo-${param[0].toUpperCase()}${param.slice(1)}`,
          value,
        ]),
      );
      let shaped: ShapingPlan;
      try {
        shaped = parseShaping(
          new URLSearchParams(query),
          (n) => byName.get(n),
          limits,
          () => random,
        );
      } catch (error) {
        assert.ok(error instanceof ShapingError, `not a ShapingError: ${error}`);
        assert.match(
          error.message,
          /^bad parameter (status|delay|size|header|close|reset): [^\n\r]+$/,
        );
        assert.ok(error.message.startsWith(`bad parameter ${error.parameter}: `));
        return;
      }
      assert.ok(Number.isInteger(shaped.status) && shaped.status >= 100 && shaped.status <= 599);
      assert.ok(shaped.delayMs >= 0 && shaped.delayMs <= limits.maxDelayMs, String(shaped.delayMs));
      for (const bytes of [shaped.size, shaped.resetAfter]) {
        if (bytes !== undefined) {
          assert.ok(Number.isInteger(bytes) && bytes >= 0 && bytes <= limits.maxSize);
        }
      }
      assert.ok(shaped.close === undefined || shaped.close === "after-headers");
      assert.ok(shaped.headers.length <= MAX_EXTRA_HEADERS);
      for (const [name, value] of shaped.headers) {
        assert.match(name, /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/);
        assert.match(value, /^[\t\x20-\x7e]*$/);
        assert.ok(name.length + 1 + value.length <= 1024);
        assert.ok(!/^(content-length|transfer-encoding|connection|x-echo-.*)$/i.test(name), name);
      }
    }),
    { numRuns: 10_000 },
  );
});

Deno.test("property: a valid value of each parameter is read back as written", () => {
  const request = fc.record({
    status: fc.integer({ min: 100, max: 599 }),
    delayMs: fc.integer({ min: 0, max: 10_000 }),
    size: fc.integer({ min: 0, max: 16 * 1024 }),
    unit: fc.constantFrom(["", 1], ["k", 1024], ["KiB", 1024], ["m", 2 ** 20], ["MiB", 2 ** 20]),
    headers: fc.array(
      fc.tuple(
        fc.stringMatching(/^X-[A-Za-z0-9]{1,20}$/),
        fc.stringMatching(/^[!-~]([ -~]{0,40}[!-~])?$/).filter((v) =>
          !/,[ \t]*[!#$%&'*+.^_`|~0-9A-Za-z-]+:/.test(v)
        ),
      ),
      { maxLength: MAX_EXTRA_HEADERS },
    ),
  });
  fc.assert(
    fc.property(request, ({ status, delayMs, size, unit: [unit, factor], headers }) => {
      const bytes = Math.min(size, Math.floor(DEFAULT_SHAPING_LIMITS.maxSize / factor));
      const query = new URLSearchParams([
        ["status", String(status)],
        ["delay", delayMs % 1000 === 0 ? `${delayMs / 1000}s` : `${delayMs}ms`],
        ["size", `${bytes}${unit}`],
      ]);
      if (headers.length) query.set("header", headers.map(([n, v]) => `${n}:${v}`).join(","));
      const shaped = parseShaping(query, noHeaders, DEFAULT_SHAPING_LIMITS);
      assert.deepEqual(shaped, { status, delayMs, size: bytes * factor, headers });
    }),
    { numRuns: 2_000 },
  );
});

/** mulberry32: a small seeded PRNG, so a draw of thousands is the same every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A mix of the parameter's values with percentages (tenths) that total at most 100. */
function mixOf(values: fc.Arbitrary<number>) {
  return fc.uniqueArray(values, { minLength: 1, maxLength: 4 })
    .chain((chosen) =>
      fc.tuple(
        fc.constant(chosen),
        fc.array(fc.integer({ min: 0, max: 1000 }), {
          minLength: chosen.length,
          maxLength: chosen.length,
        }),
      )
    )
    .map(([chosen, weights]) => {
      const scale = Math.min(1, 1000 / Math.max(1, weights.reduce((a, b) => a + b, 0)));
      return chosen.map((value, i) => [value, Math.floor(weights[i] * scale) / 10] as const);
    });
}

/** What a mix is for: a parameter, how a value is written and read back, the default. */
const mixes = fc.oneof(
  mixOf(fc.integer({ min: 100, max: 599 })).map((shares) => ({
    param: "status",
    shares,
    write: String,
    read: (plan: ShapingPlan) => plan.status,
    fallback: 200,
  })),
  mixOf(fc.integer({ min: 0, max: 10_000 })).map((shares) => ({
    param: "delay",
    shares,
    write: (ms: number) => `${ms}ms`,
    read: (plan: ShapingPlan) => plan.delayMs,
    fallback: 0,
  })),
);

Deno.test("property: a status or delay mix drawn 4,000 times gives each value its percentage (5 sigma)", () => {
  const draws = 4000;
  fc.assert(
    fc.property(mixes, fc.integer(), ({ param, shares, write, read, fallback }, seed) => {
      const random = seeded(seed);
      const query = new URLSearchParams({
        [param]: shares.map(([value, p]) => `${write(value)}:${p}`).join(","),
      });
      const counts = new Map<number, number>();
      for (let i = 0; i < draws; i++) {
        const value = read(parseShaping(query, noHeaders, DEFAULT_SHAPING_LIMITS, random));
        counts.set(value, (counts.get(value) ?? 0) + 1);
      }
      const expected = new Map<number, number>(shares);
      const rest = 100 - shares.reduce((sum, [, p]) => sum + p, 0);
      expected.set(fallback, (expected.get(fallback) ?? 0) + rest);
      for (const [value, percent] of expected) {
        const p = percent / 100;
        const bound = 5 * Math.sqrt(draws * p * (1 - p)) + 1;
        const seen = counts.get(value) ?? 0;
        assert.ok(
          Math.abs(seen - draws * p) <= bound,
          `${param} ${value}: ${seen} of ${draws}, expected ${percent} %`,
        );
      }
      for (const value of counts.keys()) assert.ok(expected.has(value), `unexpected ${value}`);
    }),
    { numRuns: 40, seed: 17 },
  );
});
