/**
 * The value parsers every command uses (ports, whole numbers, durations),
 * as properties over any text (`fast-check`): each either returns a value
 * that means what was typed or fails with a UsageError, never anything else.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { parsePort, parseSeconds, parseWhole, UsageError } from "./args.ts";

/** Text that is mostly number-like: digits, signs, dots, exponents, hex and stray characters. */
const numberish = fc.oneof(
  fc.string({ unit: fc.constantFrom(..."0123456789.+-eExXbBoO _,\t"), maxLength: 24 }),
  fc.double().map(String),
  fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String),
  fc.string(),
);

/** The value `parse(text)` returns, or "usage" for a UsageError (any other error escapes). */
function outcome<T>(parse: (text: string) => T, text: string): T | "usage" {
  try {
    return parse(text);
  } catch (error) {
    if (error instanceof UsageError) return "usage";
    throw error;
  }
}

Deno.test("property: parsePort takes exactly the whole numbers from its lowest to 65535", () => {
  fc.assert(
    fc.property(numberish, fc.constantFrom(0, 1), (text, lowest) => {
      const port = outcome((t) => parsePort(t, lowest), text);
      const expected = /^\d+$/.test(text) && Number(text) >= lowest && Number(text) <= 65535;
      assert.equal(port !== "usage", expected, text);
      if (port !== "usage") assert.equal(port, Number(text));
    }),
    { numRuns: 5000 },
  );
});

Deno.test("property: parseWhole returns the number typed, exactly, or a usage error", () => {
  fc.assert(
    fc.property(numberish, fc.nat(3), (text, lowest) => {
      const value = outcome((t) => parseWhole(t, "--count", lowest), text);
      if (value === "usage") return;
      assert.ok(Number.isSafeInteger(value) && value >= lowest, `${text} → ${value}`);
      assert.equal(BigInt(value), BigInt(text), text);
    }),
    { numRuns: 5000 },
  );
  fc.assert(
    fc.property(fc.maxSafeNat(), (n) => assert.equal(parseWhole(String(n), "--size", 0), n)),
    { numRuns: 1000 },
  );
});

/** The longest timer delay: beyond it setTimeout fires at once (Deno warns, like Node). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** What a user means by a number of seconds: what Number reads, spelt without letters but e. */
const decimal = (text: string) =>
  text.trim() !== "" && Number.isFinite(Number(text)) && !/[a-df-z]/i.test(text);

Deno.test("property: parseSeconds takes decimal seconds a timer can wait, as milliseconds", () => {
  fc.assert(
    fc.property(numberish, fc.constantFrom(0, 0.001, 0.1), (text, lowest) => {
      const ms = outcome((t) => parseSeconds(t, "--timeout", lowest), text);
      if (ms === "usage") {
        assert.ok(
          !decimal(text) || Number(text) < lowest || Number(text) * 1000 > MAX_TIMER_MS,
        );
        return;
      }
      assert.ok(decimal(text), `"${text}" is not a decimal number of seconds`);
      assert.equal(ms, Number(text) * 1000);
      assert.ok(ms >= lowest * 1000 && ms <= MAX_TIMER_MS, `"${text}" → ${ms} ms`);
    }),
    { numRuns: 5000 },
  );
});

Deno.test("what the properties found: no timer that fires at once, no hex seconds, no inexact counts", () => {
  // 3,000,000 s overflowed setTimeout's 32 bits: `send -t 3000000` timed out at once.
  assert.throws(
    () => parseSeconds("3000000", "--timeout", 0.001),
    new UsageError('invalid --timeout "3000000": at most 2147483.647 seconds (about 24 days)'),
  );
  assert.equal(parseSeconds("2147483.647", "--timeout", 0.001), MAX_TIMER_MS);
  // Number("0x10") is 16: a duration of "0x10" was 16 s.
  assert.throws(
    () => parseSeconds("0x10", "--interval", 0),
    new UsageError('invalid --interval "0x10": expected a number of at least 0'),
  );
  assert.equal(parseSeconds("1.5e1", "--interval", 0), 15_000);
  // 2^53 + 1 read as 2^53.
  assert.throws(
    () => parseWhole("9007199254740993", "--count", 0),
    new UsageError('invalid --count "9007199254740993": at most 9007199254740991'),
  );
});
