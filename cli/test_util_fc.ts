/**
 * fast-check helpers shared by the property tests of the parsers: bytes a
 * valid encoder wrote, then damaged as a broken or hostile peer would.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * import { mutated } from "./test_util_fc.ts";
 *
 * const damaged = mutated(fc.constant(new TextEncoder().encode("HTTP/1.1 200 OK\r\n\r\n")));
 * fc.assert(fc.property(damaged, (bytes) => bytes.length >= 0));
 * ```
 *
 * @module
 */

import fc from "fast-check";

/**
 * `valid` bytes with up to `maxEdits` (at least `minEdits`) bytes replaced,
 * inserted, removed, or the rest cut off.
 */
export function mutated(
  valid: fc.Arbitrary<Uint8Array>,
  { minEdits = 0, maxEdits = 4 }: { minEdits?: number; maxEdits?: number } = {},
): fc.Arbitrary<Uint8Array> {
  const edit = fc.tuple(fc.constantFrom("set", "insert", "delete", "cut"), fc.nat(), fc.nat(255));
  return fc.tuple(valid, fc.array(edit, { minLength: minEdits, maxLength: maxEdits })).map(
    ([bytes, edits]) => {
      let result = [...bytes];
      for (const [kind, at, value] of edits) {
        const i = at % (result.length + 1);
        if (kind === "set") result[i] = value;
        if (kind === "insert") result.splice(i, 0, value);
        if (kind === "delete") result.splice(i, 1);
        if (kind === "cut") result = result.slice(0, i);
      }
      return new Uint8Array(result);
    },
  );
}
